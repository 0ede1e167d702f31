"""Connected databases and REST/JSON sources through the REST API: a real PostgreSQL database
queried live with row scope, a REST source on a local HTTP server synced incrementally by a
real worker, the SSRF guard, quality checks that notify, and credentials never in an answer."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from portal.demo.accounts import DEV_PASSWORD
from portal.errors import InvalidSpec
from portal.ingest import rest
from portal.models import Notification, QualityResult, User

PG_PASSWORD_MARK = "never-shown-pw"  # the throwaway server trusts local users: any password works
AUTH_VALUE = "Bearer tok-never-shown-123"


# --------------------------------------------------------------------------- the local REST API
class FakeApi:
    """A paginated JSON API on 127.0.0.1: ``/items?page=&per_page=&since=``, bearer-protected."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                api.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **q})
                if self.headers.get("Authorization") != AUTH_VALUE:
                    self.send_response(401)
                    self.end_headers()
                    return
                rows = [i for i in api.items if "since" not in q or str(i.get("updated_at")) > q["since"]]
                page, size = int(q.get("page", 1)), int(q.get("per_page", 100))
                body = json.dumps({"data": rows[(page - 1) * size : page * size], "page": page}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/items"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    yield api
    api.server.shutdown()


@pytest.fixture(scope="module")
def srv(module_settings):
    """A portal whose SSRF guard lets REST sources call 127.0.0.1 (and only that)."""
    from portal.context import build_context
    from tests.conftest import seed_demo_accounts
    from tests.support.http import ApiServer

    settings = dataclasses.replace(module_settings, webhook_allowed_hosts=("127.0.0.1",))
    ctx = build_context(settings)
    ctx.redis.flushdb()
    seed_demo_accounts(ctx)
    server = ApiServer(ctx).start()
    yield server
    server.stop()
    ctx.close()


def login(srv: Any, who: str) -> requests.Session:
    return srv.login(f"{who}.example.com" if "@" in who else who, DEV_PASSWORD)


def u(srv: Any, path: str) -> str:
    return srv.base + path


def query(s: requests.Session, srv: Any, spec: dict[str, Any]) -> requests.Response:
    return s.post(u(srv, "/api/query"), json={"query": spec}, timeout=60)


def wait_job(s: requests.Session, srv: Any, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = s.get(u(srv, f"/api/jobs/{job_id}"), timeout=30).json()
        if job.get("state") in ("done", "failed", "canceled"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


# --------------------------------------------------------------------------- connected PostgreSQL
def test_sql_source_scope_and_admin_api(srv, pg_server):
    url = pg_server.create_database()
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE SCHEMA erp"))
        c.execute(
            text("CREATE TABLE erp.visits (id int PRIMARY KEY, site int, amount numeric(10,2), at timestamp)")
        )
        c.execute(
            text(
                "INSERT INTO erp.visits VALUES (1,1,10,'2026-01-01'),(2,2,20,'2026-01-02'),"
                "(3,3,30,'2026-01-03'),(4,1,40,'2026-01-04')"
            )
        )
        c.execute(text("CREATE TABLE notes (id int PRIMARY KEY, body text, raw bytea)"))
        c.execute(text("INSERT INTO notes VALUES (1, 'hello', NULL)"))
    engine.dispose()
    admin = login(srv, "admin@acme")
    answers: list[str] = []

    r = admin.post(
        u(srv, "/api/sources"),
        json={
            "name": "ERP",
            "kind": "sql",
            "config": {"url": url.replace("postgres@", "")},
            "credentials": {"username": "postgres", "password": PG_PASSWORD_MARK},
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    answers.append(r.text)
    ds_id = r.json()["id"]
    assert r.json()["credentials_set"] is True
    r = admin.post(u(srv, f"/api/sources/{ds_id}/test"), timeout=30)
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
    r = admin.get(u(srv, f"/api/sources/{ds_id}/tables"), timeout=30)
    assert r.status_code == 200, r.text
    tables = {t["qualified"]: t for t in r.json()["tables"]}
    assert {"erp.visits", "public.notes"} <= set(tables)
    assert {c["name"]: c["type"] for c in tables["erp.visits"]["columns"]} == {
        "id": "int",
        "site": "int",
        "amount": "float",
        "at": "datetime",
    }
    assert tables["erp.visits"]["primary_key"] == ["id"] and tables["public.notes"]["skipped"] == ["raw"]
    assert admin.get(u(srv, f"/api/sources/{ds_id}/tables"), timeout=30).json()["cached"] is True

    bad = admin.post(
        u(srv, f"/api/sources/{ds_id}/expose"),
        json={"tables": [{"table": "erp.visits", "name": "visits", "columns": [{"name": "nope"}]}]},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "tables[0].columns[0].name", bad.text
    r = admin.post(
        u(srv, f"/api/sources/{ds_id}/expose"),
        json={
            "tables": [
                {
                    "table": "erp.visits",
                    "name": "visits",
                    "label": "Visits",
                    "columns": [
                        {"name": "id"},
                        {"name": "site", "label": "Site"},
                        {"name": "amount", "type": "float"},
                        {"name": "at"},
                    ],
                    "scope": {"location": "site"},
                    "time_column": "at",
                },
                {"table": "notes", "name": "erp_notes"},
            ]
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    answers.append(r.text)

    # The restricted demo user sees the rows of locations 1 and 2 only; the unscoped table is refused.
    restricted = login(srv, "restricted@acme")
    r = query(restricted, srv, {"source": "visits", "columns": ["id", "site"], "sort": [{"by": "id"}]})
    assert r.status_code == 200, r.text
    assert [row[0] for row in r.json()["rows"]] == [1, 2, 4]
    assert query(restricted, srv, {"source": "erp_notes", "columns": ["id"]}).status_code == 403
    r = query(admin, srv, {"source": "visits", "metrics": [{"agg": "sum", "column": "amount", "as": "t"}]})
    assert r.status_code == 200 and r.json()["rows"] == [[100.0]], r.text
    assert query(admin, srv, {"source": "erp_notes", "columns": ["body"]}).json()["rows"] == [["hello"]]
    # Another tenant neither queries nor sees it; a non-admin may not manage sources.
    globex = login(srv, "admin@globex")
    assert query(globex, srv, {"source": "visits", "columns": ["id"]}).status_code in (404, 422)
    assert globex.get(u(srv, f"/api/sources/{ds_id}"), timeout=30).status_code == 404
    assert globex.get(u(srv, f"/api/sources/{ds_id}/tables"), timeout=30).status_code == 404
    viewer = login(srv, "viewer@acme")
    assert viewer.get(u(srv, "/api/sources"), timeout=30).status_code == 403
    assert viewer.get(u(srv, "/api/catalog/sources"), timeout=30).status_code == 403

    for path in (
        "/api/sources",
        f"/api/sources/{ds_id}",
        "/api/catalog/sources",
        f"/api/sources/{ds_id}/syncs",
    ):
        r = admin.get(u(srv, path), timeout=30)
        assert r.status_code == 200, (path, r.text)
        answers.append(r.text)
    listed = {s["name"]: s for s in admin.get(u(srv, "/api/catalog/sources"), timeout=30).json()["sources"]}
    assert listed["visits"]["origin"] == "sql" and listed["visits"]["scope"] == {"location": "site"}
    assert listed["visits"]["table"] == "erp.visits" and listed["visits"]["data_version"] >= 1
    r = admin.patch(u(srv, f"/api/sources/{ds_id}"), json={"name": "ERP prod"}, timeout=30)
    assert r.status_code == 200 and r.json()["name"] == "ERP prod"
    answers.append(r.text)
    assert all(PG_PASSWORD_MARK not in a for a in answers)

    # Removing a catalog source: queries on it answer 404 at once; deleting the data source drops the rest.
    assert admin.delete(u(srv, "/api/catalog/sources/erp_notes"), timeout=30).status_code == 200
    assert query(admin, srv, {"source": "erp_notes", "columns": ["id"]}).status_code in (404, 422)
    # ...but not while a saved report reads it: 409 naming force and the report, unless force=true.
    q = {"source": "visits", "metrics": [{"agg": "sum", "column": "amount", "as": "total"}]}
    r = admin.post(u(srv, "/api/reports"), json={"name": "Visit <b>totals</b>", "query": q}, timeout=30)
    assert r.status_code == 201, r.text
    used = admin.get(u(srv, "/api/catalog/sources/visits"), timeout=30).json()["used_by"]
    assert [(x["type"], x["name"], x["trashed"]) for x in used] == [("report", "Visit <b>totals</b>", False)]
    for path in (f"/api/sources/{ds_id}", "/api/catalog/sources/visits"):
        r = admin.delete(u(srv, path), timeout=30)
        assert r.status_code == 409 and r.json()["field"] == "force", r.text
        assert "report 'Visit <b>totals</b>'" in r.json()["message"] and "force=true" in r.json()["message"]
        r = admin.delete(u(srv, path), params={"force": "maybe"}, timeout=30)
        assert r.status_code == 400 and r.json()["field"] == "force", r.text
    assert query(admin, srv, {"source": "visits", "columns": ["id"]}).status_code == 200  # still there
    r = admin.delete(u(srv, f"/api/sources/{ds_id}"), params={"force": "true"}, timeout=30)
    assert r.status_code == 200 and r.json()["catalog_sources"] == ["visits"]
    assert query(admin, srv, {"source": "visits", "columns": ["id"]}).status_code in (404, 422)


# --------------------------------------------------------------------------- REST source, synced
def rest_config(url: str, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "url": url,
        "pagination": {"kind": "page", "page_param": "page", "size_param": "per_page", "size": 2},
        "records_path": "$.data",
        "fields": [
            {"path": "id", "name": "id", "type": "int"},
            {"path": "site.id", "name": "site", "type": "int"},
            {"path": "amount", "name": "amount", "type": "float"},
            {"path": "note", "name": "note", "type": "string"},
            {"path": "updated_at", "name": "updated_at", "type": "datetime"},
        ],
        "target": "rest_orders",
        "label": "Orders (API)",
        "key_columns": ["id"],
        "watermark_column": "updated_at",
        "watermark_param": "since",
        "scope": {"location": "site"},
        "time_column": "updated_at",
    }
    return {**cfg, **over}


def item(i: int, site: int, amount: Any, at: str, note: str | None = "x") -> dict[str, Any]:
    return {"id": i, "site": {"id": site}, "amount": amount, "note": note, "updated_at": at}


def test_rest_source_incremental_sync(srv, fake_api):
    fake_api.items[:] = [
        item(1, 1, 10, "2026-01-01T00:00:00"),
        item(2, 2, 20, "2026-01-02T00:00:00", note=None),
        item(3, 3, 30, "2026-01-03T00:00:00"),
        item(4, 1, "lots", "2026-01-04T00:00:00"),  # not a number: rejected, the others load
        item(5, 2, 50, "2026-01-05T00:00:00"),
    ]
    admin = login(srv, "admin@acme")
    r = admin.post(
        u(srv, "/api/sources"),
        json={
            "name": "Shop API",
            "kind": "rest",
            "config": rest_config(fake_api.url),
            "credentials": {"auth_value": AUTH_VALUE},
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    answers = [r.text]

    def sync() -> dict[str, Any]:
        r = admin.post(u(srv, f"/api/sources/{ds_id}/sync"), timeout=30)
        assert r.status_code == 202, r.text
        job = wait_job(admin, srv, r.json()["job_id"])
        assert job["state"] == "done", job
        syncs = admin.get(u(srv, f"/api/sources/{ds_id}/syncs"), timeout=30)
        answers.append(syncs.text)
        return syncs.json()["syncs"][0]  # type: ignore[no-any-return]

    fake_api.requests.clear()
    first = sync()
    assert first["status"] == "ok", first
    assert (first["rows_read"], first["rows_inserted"], first["rows_updated"], first["rows_rejected"]) == (
        5,
        4,
        0,
        1,
    )
    assert first["rejected_examples"][0]["column"] == "amount" and first["rejected_examples"][0]["row"] == 4
    assert first["watermark"] == "2026-01-05T00:00:00"
    # Pages of 2: pages 1, 2 and the short page 3; the auth header on every request; no watermark yet.
    assert [q.get("page") for q in fake_api.requests] == ["1", "2", "3"]
    assert all(q["auth"] == AUTH_VALUE for q in fake_api.requests)
    assert all("since" not in q for q in fake_api.requests)

    restricted = login(srv, "restricted@acme")
    r = query(restricted, srv, {"source": "rest_orders", "columns": ["id"], "sort": [{"by": "id"}]})
    assert r.status_code == 200 and [x[0] for x in r.json()["rows"]] == [1, 2, 5], r.text
    version = {s["name"]: s for s in admin.get(u(srv, "/api/catalog/sources"), timeout=30).json()["sources"]}
    v1 = version["rest_orders"]["data_version"]

    # Twice: nothing new past the watermark, nothing changes (no new version either).
    fake_api.requests.clear()
    second = sync()
    assert (second["rows_inserted"], second["rows_updated"], second["rows_rejected"]) == (0, 0, 0)
    assert fake_api.requests[0]["since"] == "2026-01-05T00:00:00"
    cat = {s["name"]: s for s in admin.get(u(srv, "/api/catalog/sources"), timeout=30).json()["sources"]}
    assert cat["rest_orders"]["data_version"] == v1 and cat["rest_orders"]["row_count"] == 4

    # A changed row and a new one: one update, one insert, and the query sees them at once.
    fake_api.items.append(item(2, 2, 25, "2026-01-06T00:00:00", note=None))
    fake_api.items.append(item(6, 1, 60, "2026-01-07T00:00:00"))
    third = sync()
    assert (third["rows_read"], third["rows_inserted"], third["rows_updated"]) == (2, 1, 1)
    r = query(
        admin, srv, {"source": "rest_orders", "metrics": [{"agg": "sum", "column": "amount", "as": "t"}]}
    )
    assert r.json()["rows"] == [[10 + 25 + 30 + 50 + 60]], r.text

    # A failing quality check notifies the tenant's admins.
    r = admin.put(
        u(srv, "/api/catalog/sources/rest_orders/checks"),
        json={
            "checks": [
                {"kind": "null_rate", "column": "note", "threshold": 0.0, "email": True},
                {"kind": "duplicate_keys"},
            ]
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    bad = admin.put(
        u(srv, "/api/catalog/sources/rest_orders/checks"),
        json={"checks": [{"kind": "null_rate", "column": "zz"}]},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "checks[0].column"
    r = admin.post(u(srv, "/api/catalog/sources/rest_orders/checks/run"), timeout=30)
    assert r.status_code == 200, r.text
    results = {x["kind"]: x for x in r.json()["results"]}
    assert results["duplicate_keys"]["ok"] is True
    assert results["null_rate"]["ok"] is False and "note" in results["null_rate"]["message"]
    with srv.ctx.sessions() as s:
        admins = s.scalars(
            select(User.id)
            .join(Notification, Notification.user_id == User.id)
            .where(Notification.title.like("Data quality:%"))
        ).all()
        assert admins and all(s.get(User, a).is_admin for a in admins)
    # The failing check asked for mail too: it is in the outbox (no SMTP server configured).
    mails = [p.read_text(errors="replace") for p in srv.ctx.settings.outbox_dir.glob("*.eml")]
    assert any("Data quality" in m and "admin@acme.example.com" in m for m in mails), len(mails)
    cat = {s["name"]: s for s in admin.get(u(srv, "/api/catalog/sources"), timeout=30).json()["sources"]}
    assert cat["rest_orders"]["quality"]["status"] == "failing"

    answers.append(admin.get(u(srv, f"/api/sources/{ds_id}"), timeout=30).text)
    answers.append(admin.get(u(srv, "/api/sources"), timeout=30).text)
    assert all("tok-never-shown" not in a for a in answers)

    # Every sync runs the source's checks too; old versions are pruned (the current one and one more).
    def results() -> int:
        with srv.ctx.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(QualityResult)) or 0)

    before = results()
    sync()
    assert results() == before + 2
    files = list((srv.ctx.settings.home / "warehouse").rglob("rest_orders/*.parquet"))
    assert 1 <= len(files) <= 2
    # Removed from the catalog: its files go, queries on it are refused.
    assert admin.delete(u(srv, "/api/catalog/sources/rest_orders"), timeout=30).status_code == 200
    assert not any(f.exists() for f in files)
    assert query(admin, srv, {"source": "rest_orders", "columns": ["id"]}).status_code in (404, 422)


def test_ssrf_guard_refuses_private_addresses(srv, fake_api):
    admin = login(srv, "admin@acme")
    for url in ("http://169.254.169.254/latest/meta-data", "http://10.0.0.1/items", "http://[::1]:8080/x"):
        r = admin.post(
            u(srv, "/api/sources"),
            json={"name": f"bad {url}", "kind": "rest", "config": rest_config(url)},
            timeout=30,
        )
        assert r.status_code == 422 and r.json()["field"] == "config.url", r.text
    # Without the allowance, 127.0.0.1 is refused too (the guard runs on every fetch).
    cfg = rest.parse_rest_config(rest_config(fake_api.url))
    with pytest.raises(InvalidSpec) as e:
        next(rest.fetch_pages(cfg, AUTH_VALUE))
    assert e.value.field == "config.url" and "loopback" in e.value.message
    bad = admin.post(
        u(srv, "/api/sources"),
        json={"name": "x", "kind": "rest", "config": {"url": fake_api.url}},
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"].startswith("config"), bad.text


def test_scheduled_sync_fires_once_per_cron_fire(srv, fake_api):
    from datetime import UTC, datetime, timedelta

    from portal.ingest.sync_jobs import due_syncs, fire_due_syncs

    fake_api.items[:] = [item(1, 1, 10, "2026-01-01T00:00:00")]
    admin = login(srv, "admin@acme")
    cfg = rest_config(fake_api.url, target="rest_hourly", schedule="0 * * * *")
    r = admin.post(
        u(srv, "/api/sources"),
        json={"name": "Hourly", "kind": "rest", "config": cfg, "credentials": {"auth_value": AUTH_VALUE}},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    now = datetime.now(UTC)
    with srv.ctx.sessions() as s:
        assert ds_id not in [d.id for d, _ in due_syncs(s, now - timedelta(hours=2))]
        due = {d.id: fire for d, fire in due_syncs(s, now + timedelta(hours=1))}
    assert ds_id in due and due[ds_id].minute == 0
    later = now + timedelta(hours=1)
    jobs = fire_due_syncs(srv.ctx, later)
    assert len(jobs) == 1
    assert fire_due_syncs(srv.ctx, later) == jobs  # same fire, same job (on its way)
    job = wait_job(admin, srv, jobs[0])
    assert job["state"] == "done", job
    syncs = admin.get(u(srv, f"/api/sources/{ds_id}/syncs"), timeout=30).json()["syncs"]
    assert syncs[0]["trigger"] == "schedule" and syncs[0]["rows_inserted"] == 1
    with srv.ctx.sessions() as s:
        assert ds_id not in [d.id for d, _ in due_syncs(s, later)]  # that fire is done


def test_rest_sync_into_a_postgresql_warehouse(module_settings, pg_server, fake_api, redis_url):
    """With a PostgreSQL warehouse the rows go to a table swapped in by rename (no staging left)."""
    from portal.context import build_context
    from portal.infra.db import transaction
    from portal.ingest import connected
    from portal.ingest.sync import run_sync
    from tests.conftest import seed_demo_accounts
    from tests.support.principals import as_principal

    wh_url = pg_server.create_database()
    home = module_settings.home.parent / f"pgwh-{id(fake_api)}"
    settings = dataclasses.replace(
        module_settings, home=home, warehouse_url=wh_url, webhook_allowed_hosts=("127.0.0.1",)
    )
    ctx = build_context(settings)
    try:
        users = seed_demo_accounts(ctx)
        fake_api.items[:] = [item(1, 1, 10, "2026-01-01T00:00:00"), item(2, 2, 20, "2026-01-02T00:00:00")]
        with transaction(ctx.sessions) as s:
            admin = as_principal(s, users[("acme", "admin")])
            ds = connected.create_source(
                s,
                admin,
                {
                    "name": "PG wh",
                    "kind": "rest",
                    "config": rest_config(fake_api.url, target="rest_pg"),
                    "credentials": {"auth_value": AUTH_VALUE},
                },
                ctx.settings.secret_key,
                allowed_hosts=("127.0.0.1",),
            )
            ds_id, uid, scope = ds.id, admin.require_user("sync"), admin.scope
        (first,) = run_sync(ctx, ds_id, uid)
        assert first.changed and first.counts["rows_inserted"] == 2
        fake_api.items.append(item(2, 2, 22, "2026-01-03T00:00:00"))
        (second,) = run_sync(ctx, ds_id, uid)
        assert (second.counts["rows_inserted"], second.counts["rows_updated"]) == (0, 1)
        assert not run_sync(ctx, ds_id, uid)[0].changed  # twice: nothing changes
        res = ctx.warehouse.run(
            {"source": "rest_pg", "metrics": [{"agg": "sum", "column": "amount", "as": "t"}]}, scope
        )
        assert res.frame["t"].iloc[0] == 32
        engine = create_engine(wh_url)
        with engine.connect() as c:
            names = [
                r[0] for r in c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            ]
        engine.dispose()
        assert [n for n in names if "rest_pg" in n] == [f"t{admin.tenant_id}_rest_pg"]
    finally:
        ctx.close()


def test_sql_table_copied_into_the_warehouse_incrementally(srv, pg_server):
    url = pg_server.create_database()
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE stock (id int PRIMARY KEY, site int, qty int, updated_at timestamp)"))
        c.execute(
            text("INSERT INTO stock VALUES (1,1,5,'2026-01-01'),(2,2,6,'2026-01-02'),(3,3,7,'2026-01-03')")
        )
    admin = login(srv, "admin@acme")
    copy = {
        "table": "stock",
        "target": "stock_copy",
        "key_columns": ["id"],
        "watermark_column": "updated_at",
        "scope": {"location": "site"},
    }
    bad = admin.post(
        u(srv, "/api/sources"),
        json={
            "name": "Stock bad",
            "kind": "sql",
            "config": {"url": url, "materialize": [{**copy, "target": "Bad"}]},
        },
        timeout=30,
    )
    assert bad.status_code == 422 and bad.json()["field"].startswith("config.materialize"), bad.text
    r = admin.post(
        u(srv, "/api/sources"),
        json={"name": "Stock", "kind": "sql", "config": {"url": url, "materialize": [copy]}},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]

    def sync() -> dict[str, Any]:
        r = admin.post(u(srv, f"/api/sources/{ds_id}/sync"), timeout=30)
        assert r.status_code == 202, r.text
        job = wait_job(admin, srv, r.json()["job_id"])
        assert job["state"] == "done", job
        return admin.get(u(srv, f"/api/sources/{ds_id}/syncs"), timeout=30).json()["syncs"][0]  # type: ignore[no-any-return]

    first = sync()
    assert (first["rows_read"], first["rows_inserted"], first["watermark"]) == (3, 3, "2026-01-03T00:00:00")
    with engine.begin() as c:
        c.execute(text("UPDATE stock SET qty = 60, updated_at = '2026-01-05' WHERE id = 2"))
        c.execute(text("INSERT INTO stock VALUES (4,1,8,'2026-01-06')"))
    second = sync()
    assert (second["rows_read"], second["rows_inserted"], second["rows_updated"]) == (2, 1, 1)
    third = sync()
    assert (third["rows_read"], third["rows_inserted"], third["rows_updated"]) == (0, 0, 0)
    # It is a copy: the warehouse answers without the database's table.
    with engine.begin() as c:
        c.execute(text("DROP TABLE stock"))
    engine.dispose()
    restricted = login(srv, "restricted@acme")
    r = query(restricted, srv, {"source": "stock_copy", "columns": ["id", "qty"], "sort": [{"by": "id"}]})
    assert r.status_code == 200 and r.json()["rows"] == [[1, 5], [2, 60], [4, 8]], r.text
    cat = {s["name"]: s for s in admin.get(u(srv, "/api/catalog/sources"), timeout=30).json()["sources"]}
    assert cat["stock_copy"]["origin"] == "sql" and cat["stock_copy"]["row_count"] == 4
