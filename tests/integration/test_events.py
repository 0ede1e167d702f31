"""Analytics events end to end, on SQLite and PostgreSQL metadata: ``POST /api/events`` over HTTP
(duplicates within and across batches counted once, out-of-order events, unknown schema
versions, oversized and malformed batches, PII scrubbed before the raw log, tenants apart),
snapshots built into catalog sources and queried through the warehouse with the right counts,
re-running a build changes nothing, SCD attribution, backfill from the raw log and retention.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from portal.demo.accounts import DEV_PASSWORD
from portal.events.builds import run_action
from portal.events.snapshots import Layout
from portal.events.store import incoming_dir, log_dir
from portal.identity.principal import principal_for_user
from portal.infra.db import transaction


@pytest.fixture
def api(module_api: Any) -> Any:
    # Redis is not emptied per test (the dedup window is part of what is tested); event ids are
    # unique per test instead.
    return module_api


@pytest.fixture(scope="module")
def tokens(module_api: Any) -> dict[str, str]:
    return {
        who: module_api.token(f"{who.split('@')[0]}@{who.split('@')[1]}.example.com", DEV_PASSWORD)
        for who in ("admin@acme", "viewer@acme", "restricted@acme", "admin@globex")
    }


def client(api: Any, tokens: dict[str, str], who: str = "admin@acme") -> requests.Session:
    return api.session(tokens[who])


def ev(eid: str, day: str, hour: int = 10, **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "event_id": eid,
        "type": "ticket_opened",
        "occurred_at": f"{day}T{hour:02d}:15:00Z",
        "schema_version": 2,
        "dimensions": {"channel": "email", "agent": "ana", "tags": ["billing"], "ticket_id": eid},
        "measures": {"first_response_sec": 30},
        "properties": {"email": "someone@example.com"},
    }
    out.update(over)
    return out


def post(s: requests.Session, api: Any, body: Any, status: int = 200, **kw: Any) -> dict[str, Any]:
    r = (
        s.post(f"{api.base}/api/events", json=body, **kw)
        if not isinstance(body, bytes)
        else s.post(f"{api.base}/api/events", data=body, **kw)
    )
    assert r.status_code == status, r.text
    return dict(r.json())


def tenant_id(api: Any, slug: str) -> int:
    from sqlalchemy import select

    from portal.models import Tenant

    with api.ctx.sessions() as session:
        return int(session.scalar(select(Tenant.id).where(Tenant.slug == slug)))


def build(api: Any, slug: str = "acme", action: str = "snapshot", **kw: Any) -> dict[str, Any]:
    ctx = api.ctx
    return run_action(
        sessions=ctx.sessions,
        home=ctx.settings.home,
        redis=ctx.redis,
        warehouse=ctx.warehouse,
        tenant_id=tenant_id(api, slug),
        action=action,
        **kw,
    )


def daily(
    api: Any, module_demo: Any, day: str, group: str = "event_type", who: tuple[str, str] = ("acme", "admin")
) -> dict[str, int]:
    with transaction(api.ctx.sessions) as session:
        scope = principal_for_user(session, module_demo[who]).scope
    res = api.ctx.warehouse.run(
        {
            "source": "events_daily",
            "metrics": [{"agg": "sum", "column": "events", "as": "n"}],
            "group_by": [group],
            "filters": [{"column": "bucket", "op": "between", "value": [day, day]}],
        },
        scope,
    )
    return {str(k): int(v) for k, v in zip(res.frame[group], res.frame["n"], strict=True)}


# --------------------------------------------------------------------------- ingest
def test_duplicates_within_and_across_batches_count_once(api: Any, tokens: dict[str, str]) -> None:
    s = client(api, tokens)
    p = uuid.uuid4().hex[:8]
    batch = [ev(f"{p}-{i}", "2026-11-02") for i in range(5)] + [ev(f"{p}-0", "2026-11-02")]
    assert post(s, api, batch) == {"accepted": 5, "duplicates": 1, "rejected": []}
    assert post(s, api, batch) == {"accepted": 0, "duplicates": 6, "rejected": []}
    # JSON lines: one new event, one seen before.
    lines = b"\n".join(json.dumps(e).encode() for e in [ev(f"{p}-9", "2026-11-02"), batch[1]]) + b"\n"
    got = post(s, api, lines, headers={"Content-Type": "application/x-ndjson"})
    assert got == {"accepted": 1, "duplicates": 1, "rejected": []}


def test_concurrent_posts_of_the_same_batch_accept_each_event_once(api: Any, tokens: dict[str, str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    p = uuid.uuid4().hex[:8]
    batch = [ev(f"{p}-{i}", "2026-11-03") for i in range(300)]

    def send(_: int) -> dict[str, Any]:
        return post(client(api, tokens), api, batch)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert sum(a["accepted"] for a in answers) == 300
    assert sum(a["duplicates"] for a in answers) == 5 * 300


def test_bad_events_are_reported_and_never_fail_the_others(api: Any, tokens: dict[str, str]) -> None:
    s = client(api, tokens)
    p = uuid.uuid4().hex[:8]
    batch = [
        ev(f"{p}-a", "2026-11-02"),
        ev(f"{p}-b", "2026-11-02", schema_version=7),
        "nope",
        ev(f"{p}-c", "2026-11-02"),
    ]
    got = post(s, api, batch, 207)
    assert got["accepted"] == 2
    assert got["rejected"][0] == {
        "index": 1,
        "event_id": f"{p}-b",
        "field": "schema_version",
        "reason": "version 7 of 'ticket_opened' is unknown (latest is 2)",
    }
    assert got["rejected"][1]["index"] == 2 and got["rejected"][1]["field"] == "event"
    big = post(
        s, api, [ev(f"{p}-big", "2026-11-02", properties={"x": "y" * 9000}), ev(f"{p}-e", "2026-11-02")], 207
    )
    assert big["accepted"] == 1 and big["rejected"][0]["field"] == "properties"
    odd = post(
        s,
        api,
        b'[{"event_id": "\\ud800", "type": "ticket_opened", "occurred_at": "2026-11-02T10:00:00Z", '
        b'"schema_version": 2}, {"event_id": "nan", "measures": {"x": NaN}}]',
        400,
    )
    assert odd["field"] == "body"
    lone = post(
        s,
        api,
        b'[{"event_id": "\\ud800", "type": "ticket_opened", "occurred_at": "2026-11-02T10:00:00Z", '
        b'"schema_version": 2, "properties": {"p": "\\udfff"}}]',
        422,  # nothing accepted: an error naming the first bad event, with the per-event list
    )
    assert lone["field"] == "events[0].event_id" and "no event" in lone["message"]
    assert lone["rejected"][0]["field"] == "event_id"
    lines = json.dumps(ev(f"{p}-d", "2026-11-02")).encode() + b"\n{not json\n"
    got = post(s, api, lines, 207, headers={"Content-Type": "application/x-ndjson"})
    assert got["accepted"] == 1 and got["rejected"][0]["index"] == 1


def test_oversized_malformed_and_empty_batches(api: Any, tokens: dict[str, str]) -> None:
    s = client(api, tokens)
    tiny = {
        "event_id": "x",
        "type": "ticket_opened",
        "occurred_at": "2026-11-02T10:00:00Z",
        "schema_version": 2,
    }
    r = s.post(f"{api.base}/api/events", json=[tiny] * 10_001)
    assert r.status_code == 413 and "10,000 events" in r.json()["message"]
    r = s.post(f"{api.base}/api/events", data=b"[" + b" " * (5 * 1024 * 1024) + b"]")
    assert r.status_code == 413 and "5 MB" in r.json()["message"]
    for body in (b"[{", b"", b"[]", b"42"):
        r = s.post(f"{api.base}/api/events", data=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == "body"


def test_who_may_post(api: Any, tokens: dict[str, str]) -> None:
    one = [ev(uuid.uuid4().hex, "2026-11-02")]
    assert requests.post(f"{api.base}/api/events", json=one, timeout=10).status_code == 401
    assert client(api, tokens, "restricted@acme").post(f"{api.base}/api/events", json=one).status_code == 403
    # The tenant is the token's: a body cannot name another one.
    got = post(client(api, tokens), api, [{**one[0], "tenant": "globex"}], 422)
    assert got["rejected"][0]["field"] == "tenant"
    # The real-time route next door still answers as before.
    r = client(api, tokens).post(f"{api.base}/api/events/ops", json={"x": 1})
    assert r.status_code in (202, 403, 404, 422), r.text


def test_pii_is_scrubbed_before_the_raw_log(api: Any, tokens: dict[str, str]) -> None:
    s = client(api, tokens)
    r = s.put(f"{api.base}/api/event-settings", json={"pii": {"fields": {"notes": "drop"}}})
    assert r.status_code == 200, r.text
    eid = uuid.uuid4().hex
    post(
        s,
        api,
        [
            ev(
                eid,
                "2026-11-02",
                properties={"email": "ana@example.com", "notes": "secret", "phone": "11999998888"},
            )
        ],
    )
    home = api.ctx.settings.home
    tid = tenant_id(api, "acme")
    text = "".join(
        p.read_text()
        for p in [*incoming_dir(home, tid).glob("*.jsonl"), *log_dir(home, tid).glob("*/*.jsonl")]
    )
    line = next(json.loads(x) for x in text.splitlines() if eid in x)
    assert "ana@example.com" not in text and "secret" not in text
    assert line["properties"]["email"].startswith("h:") and "notes" not in line["properties"]
    assert line["properties"]["phone"] == "*******8888"
    assert (
        client(api, tokens, "viewer@acme").put(f"{api.base}/api/event-settings", json={}).status_code == 403
    )
    bad = s.put(f"{api.base}/api/event-settings", json={"pii": {"fields": {"email": "encrypt"}}})
    assert bad.status_code == 422 and bad.json()["field"] == "pii.fields.email"


# --------------------------------------------------------------------------- snapshots
def test_snapshot_counts_idempotent_and_out_of_order(
    api: Any, tokens: dict[str, str], module_demo: Any
) -> None:
    s = client(api, tokens)
    p, day = uuid.uuid4().hex[:8], "2026-10-05"
    batch = [ev(f"{p}-{i}", day, hour=i % 24) for i in range(30)]
    batch += [ev(f"{p}-c{i}", day, type="csat_given", measures={"csat": 5}) for i in range(4)]
    post(s, api, batch)
    post(s, api, batch[:10])  # duplicates: counted once
    build(api)
    assert daily(api, module_demo, day) == {"ticket_opened": 30, "csat_given": 4}
    assert build(api)["segments"] == 0  # nothing new: nothing changes
    assert daily(api, module_demo, day) == {"ticket_opened": 30, "csat_given": 4}
    # A late (out-of-order) event lands in its own day; a duplicate posted after the Redis
    # window (simulated by deleting the dedup sets) is still counted once by the snapshot's dedup.
    for key in api.ctx.redis.scan_iter("cbi:ev:seen:*"):
        api.ctx.redis.delete(key)
    post(s, api, [ev(f"{p}-late", "2026-10-04"), batch[0]])
    build(api)
    assert daily(api, module_demo, day) == {"ticket_opened": 30, "csat_given": 4}
    assert daily(api, module_demo, "2026-10-04").get("ticket_opened") == 1
    # Another tenant sees neither the events nor the source's rows.
    with pytest.raises(Exception, match="events_daily"):
        daily(api, module_demo, day, who=("globex", "admin"))


def test_dimension_versions_attribute_events(api: Any, tokens: dict[str, str], module_demo: Any) -> None:
    s = client(api, tokens)
    agent = "agent-" + uuid.uuid4().hex[:6]
    for since, unit in (("2026-09-01T00:00:00Z", "support"), ("2026-09-10T12:00:00Z", "sales")):
        r = s.put(
            f"{api.base}/api/event-dimensions/agent",
            json={"key": agent, "attrs": {"org_unit": unit}, "valid_from": since},
        )
        assert r.status_code == 200, r.text
    listed = s.get(f"{api.base}/api/event-dimensions/agent").json()["members"]
    mine = [m for m in listed if m["key"] == agent]
    assert [m["valid_to"] is None for m in mine] == [False, True]
    assert s.put(f"{api.base}/api/event-dimensions/planet", json={"key": "x"}).status_code == 422
    p = uuid.uuid4().hex[:8]
    dims = {"channel": "chat", "agent": agent}
    post(
        s,
        api,
        [
            ev(f"{p}-1", "2026-09-10", hour=11, dimensions=dims),
            ev(f"{p}-2", "2026-09-10", hour=13, dimensions=dims),
        ],
    )
    build(api)
    by_unit = daily(api, module_demo, "2026-09-10", group="org_unit")
    assert by_unit.get("support") == 1 and by_unit.get("sales") == 1


def test_backfill_and_retention(api: Any, tokens: dict[str, str], module_demo: Any) -> None:
    s = client(api, tokens)
    p, day = uuid.uuid4().hex[:8], "2026-08-03"
    post(s, api, [ev(f"{p}-{i}", day) for i in range(7)])
    build(api)
    assert daily(api, module_demo, day) == {"ticket_opened": 7}
    layout = Layout(api.ctx.settings.home, tenant_id(api, "acme"))
    layout.clean_file(date(2026, 8, 3)).unlink()  # lose the derived day: the raw log rebuilds it
    out = build(api, action="backfill", first=date(2026, 8, 1), last=date(2026, 8, 5))
    assert out["days_count"] >= 1
    assert daily(api, module_demo, day) == {"ticket_opened": 7}
    far = date(2026, 8, 3) + timedelta(days=5 * 366 + 30)
    out = build(api, action="retention", today=far)
    assert out["segments_deleted"] > 0 and out["days_deleted"] > 0
    assert daily(api, module_demo, day) == {}
    assert not any(Path(layout.root / "raw" / "log").glob("*/*.jsonl"))


def test_build_as_a_job_through_the_api(api: Any, tokens: dict[str, str], module_demo: Any) -> None:
    s = client(api, tokens)
    p, day = uuid.uuid4().hex[:8], "2026-07-06"
    post(s, api, [ev(f"{p}-{i}", day) for i in range(3)])
    assert client(api, tokens, "viewer@acme").post(f"{api.base}/api/event-builds", json={}).status_code == 403
    assert s.post(f"{api.base}/api/event-builds", json={"action": "nope"}).json()["field"] == "action"
    r = s.post(f"{api.base}/api/event-builds", json={"action": "snapshot"})
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = s.get(f"{api.base}/api/jobs/{job}").json()["state"]
        if status in ("done", "failed", "canceled"):
            break
        time.sleep(0.2)
    assert status == "done"
    assert daily(api, module_demo, day) == {"ticket_opened": 3}
    catalog = s.get(f"{api.base}/api/catalog").json()["sources"]
    assert {"events_daily", "events_hourly", "events_weekly", "events_tags_daily"} <= {
        c["name"] for c in catalog
    }


def test_the_scheduler_submits_the_daily_builds_once_a_day(api: Any, tokens: dict[str, str]) -> None:
    from datetime import UTC, datetime

    from portal.events.builds import fire_daily_builds
    from portal.models import JobRecord

    ctx = api.ctx
    post(client(api, tokens), api, [ev(f"{uuid.uuid4().hex[:8]}-d", "2026-07-07")])
    day = datetime(2031, 1, 2, 3, 0, tzinfo=UTC)  # a day no other test fires
    ids = fire_daily_builds(ctx, day)
    assert ids and fire_daily_builds(ctx, day) == []  # the second tick of the day submits nothing
    with ctx.sessions() as session:
        jobs = [session.get(JobRecord, i) for i in ids]
        assert {(j.job_class, j.payload_json["action"]) for j in jobs if j is not None} >= {
            ("events_build", "snapshot"),
            ("events_build", "retention"),
        }
        assert tenant_id(api, "acme") in {j.tenant_id for j in jobs if j is not None}
    # The builds run (on the server's workers) and fold the event in: later tests start clean.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with ctx.sessions() as session:
            states = {session.get(JobRecord, i).status for i in ids}  # type: ignore[union-attr]
        if states <= {"done", "failed", "canceled"}:
            break
        time.sleep(0.2)
    assert states == {"done"}, states


# --------------------------------------------------------------------------- demo and CLI
def test_demo_generator_is_deterministic_and_seeds_snapshots(api: Any, module_demo: Any) -> None:
    from portal.demo.events import generate, seed_demo_events

    first = list(generate(7, "globex", date(2026, 11, 1), 2, 20))
    assert first == list(generate(7, "globex", date(2026, 11, 1), 2, 20))
    assert first != list(generate(8, "globex", date(2026, 11, 1), 2, 20))
    ctx = api.ctx
    t0 = time.perf_counter()
    out = seed_demo_events(
        sessions=ctx.sessions, home=ctx.settings.home, redis=ctx.redis, warehouse=ctx.warehouse,
        secret_key=ctx.settings.secret_key, tenant="globex", days=7, per_day=120, today=date(2026, 11, 8),
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    assert out["events"] > 3000 and seconds < 5, (out, seconds)
    totals = daily(api, module_demo, "2026-11-03", who=("globex", "admin"))
    assert totals["ticket_opened"] == 120 and totals["ticket_closed"] > 90
    # The demo dashboard charts the snapshots through the same widget data path as the portal.
    http = api.login("admin@globex.example.com", DEV_PASSWORD)
    board = http.get(f"{api.base}/api/dashboards/{out['dashboard_id']}").json()
    assert len(board["widgets"]) == 3
    for w in board["widgets"]:
        r = http.get(f"{api.base}/api/widgets/{w['id']}/data")
        assert r.status_code == 200, r.text
    again = seed_demo_events(
        sessions=ctx.sessions, home=ctx.settings.home, redis=ctx.redis, warehouse=ctx.warehouse,
        secret_key=ctx.settings.secret_key, tenant="globex",
    )  # fmt: skip
    assert "skipped" in again


def test_cli_events_commands(
    api: Any, tokens: dict[str, str], module_demo: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from portal.cli import main

    settings = api.ctx.settings
    monkeypatch.setenv("CONDUCTOR_HOME", str(settings.home))
    monkeypatch.setenv("DATABASE_URL", settings.metadata_url)
    monkeypatch.setenv("WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    monkeypatch.setenv("CONDUCTOR_SECRET_KEY", settings.secret_key)
    p, day = uuid.uuid4().hex[:8], "2026-06-01"
    post(client(api, tokens), api, [ev(f"{p}-{i}", day) for i in range(4)])
    assert main(["events", "snapshot", "--tenant", "acme"]) == 0
    assert '"events_read": 4' in capsys.readouterr().out
    assert daily(api, module_demo, day) == {"ticket_opened": 4}
    assert main(["events", "backfill", "--tenant", "acme", "--from", "2026-06-01", "--to", "2026-06-01"]) == 0
    assert daily(api, module_demo, day) == {"ticket_opened": 4}
    assert main(["events", "backfill", "--tenant", "acme", "--from", "2026-06-02", "--to", "2026-06-01"]) == 2
    assert main(["events", "snapshot", "--tenant", "nope"]) == 2
    assert main(["events", "snapshot"]) == 2  # --tenant is needed but for "daily"
    assert main(["events", "daily"]) == 0
    assert '"action": "retention"' in capsys.readouterr().out
    assert daily(api, module_demo, day) == {"ticket_opened": 4}
