"""Share links through the REST API and the public file viewers, on SQLite and PostgreSQL: tokens
shown once and stored hashed, bad requests as 4xx naming the field, max uses counted atomically,
revocation at once, IP allowlists, one 404 for every kind of bad link, the access log, the
link's principal reaching only what was shared in the link's scope, snapshots frozen, and a
shared template rendered (as a job) in the link's scope.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select, update

from portal.demo.accounts import DEV_PASSWORD
from portal.errors import NotFound, PermissionDenied
from portal.identity.permissions import authorize
from portal.infra.db import transaction
from portal.models import Dashboard, PdfRender, Report, ShareToken, Widget
from portal.sharing import tokens
from portal.sharing.snapshots import thaw
from portal.web.pub import NOT_FOUND_HTML, REFUSAL_FLOOR_S
from tests.support.pdf import render, template_id

SLA = "Relatório mensal de SLA"


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def analyst(api: Any) -> Any:
    return api.login("analyst@acme.example.com", DEV_PASSWORD)


def share(s: requests.Session, api: Any, status: int = 201, **body: Any) -> dict[str, Any]:
    r = s.post(f"{api.base}/api/share", json=body)
    assert r.status_code == status, r.text
    return dict(r.json())


def ids(api: Any, model: Any, **where: Any) -> list[int]:
    with api.ctx.sessions() as session:
        q = select(model.id)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list(session.scalars(q.order_by(model.id)))


@pytest.fixture(scope="module")
def done_render(module_api: Any) -> int:
    s = module_api.login("analyst@acme.example.com", DEV_PASSWORD)
    answer = render(s, module_api, template_id(s, module_api, SLA))
    return int(answer["render_id"])


def test_a_link_is_shown_once_and_stored_hashed(api: Any, analyst: Any) -> None:
    report = (
        ids(api, Report, name="Tickets by status")[0] if ids(api, Report, name="Tickets by status") else None
    )
    rid = report or ids(api, Report)[0]
    out = share(analyst, api, object_type="report", object_id=rid, label="For the board")
    assert len(out["token"]) >= 43 and out["url"].endswith(f"/pub/report/{out['token']}")
    assert out["state"] == "active" and out["permissions"] == ["viewer"] and out["mode"] == "no_login"
    with api.ctx.sessions() as session:
        row = session.get(ShareToken, out["id"])
        assert row is not None and row.token_hash == hashlib.sha256(out["token"].encode()).hexdigest()
        assert out["token"] not in str([getattr(row, c.key) for c in ShareToken.__table__.columns])
    listed = analyst.get(f"{api.base}/api/share", params={"object_type": "report", "object_id": rid}).json()
    assert out["id"] in [x["id"] for x in listed["shares"]]
    assert all("token" not in x for x in listed["shares"])
    one = analyst.get(f"{api.base}/api/share/{out['id']}").json()
    assert one["label"] == "For the board" and "token" not in one
    # Another user of the tenant neither sees nor revokes it.
    viewer = api.login("viewer@acme.example.com", DEV_PASSWORD)
    assert viewer.get(f"{api.base}/api/share/{out['id']}").status_code == 404
    assert viewer.delete(f"{api.base}/api/share/{out['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"object_type": "spreadsheet", "object_id": 1}, 422, "object_type"),
        ({"object_type": "report", "object_id": 0}, 422, "object_id"),
        ({"object_type": "report", "object_id": 1, "ip_allowlist": ["10.0.0.300/8"]}, 422, "ip_allowlist"),
        (
            {"object_type": "report", "object_id": 1, "frame_origins": ["https://x.com/path"]},
            422,
            "frame_origins",
        ),
        ({"object_type": "report", "object_id": 1, "permissions": ["admin"]}, 422, "permissions"),
        ({"object_type": "report", "object_id": 1, "expires_at": "2020-01-01T00:00:00Z"}, 422, "expires_at"),
        ({"object_type": "report", "object_id": 1, "max_uses": 0}, 422, "max_uses"),
        ({"object_type": "report", "object_id": 1, "scope": {"groups": [1]}}, 422, "scope.groups"),
        ({"object_type": "report", "object_id": 1, "colour": "red"}, 400, "colour"),
    ],
)
def test_bad_requests_name_the_field(
    api: Any, analyst: Any, body: dict[str, Any], status: int, field: str
) -> None:
    r = analyst.post(f"{api.base}/api/share", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"].startswith(field), r.json()


def test_only_what_one_may_share_is_shareable(api: Any, analyst: Any) -> None:
    other = api.login("analyst@globex.example.com", DEV_PASSWORD)
    mine = ids(api, Dashboard)[0]
    r = other.post(f"{api.base}/api/share", json={"object_type": "dashboard", "object_id": mine})
    assert r.status_code == 404  # another tenant's: not even its existence
    viewer = api.login("viewer@acme.example.com", DEV_PASSWORD)
    public_report = ids(api, Report)[0]
    r = viewer.post(f"{api.base}/api/share", json={"object_type": "report", "object_id": public_report})
    assert r.status_code == 403 and "share" in r.json()["message"]


def test_max_uses_are_counted_atomically_and_logged(api: Any, analyst: Any, done_render: int) -> None:
    out = share(analyst, api, object_type="pdf_render", object_id=done_render, max_uses=3)
    url = f"{api.base}/pub/pdf_render/{out['token']}"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.get(url, timeout=60), range(8)))
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) == 3, [a.status_code for a in answers]
    assert all(a.headers["Content-Type"] == "application/pdf" and a.content[:5] == b"%PDF-" for a in ok)
    assert all(a.status_code == 404 and a.text == NOT_FOUND_HTML for a in answers if a.status_code != 200)
    log = analyst.get(f"{api.base}/api/share/{out['id']}/audit").json()["entries"]
    results = sorted(e["result"] for e in log)
    assert results == ["ok"] * 3 + ["used_up"] * 5
    assert all(e["ip"] == "127.0.0.1" and out["token"] not in (e["path"] or "") for e in log)
    assert analyst.get(f"{api.base}/api/share/{out['id']}").json()["state"] == "used_up"


def test_revoked_expired_unknown_and_foreign_ip_links_look_the_same(
    api: Any, analyst: Any, done_render: int
) -> None:
    revoked = share(analyst, api, object_type="pdf_render", object_id=done_render)
    assert requests.get(f"{api.base}/pub/pdf_render/{revoked['token']}", timeout=60).status_code == 200
    gone = analyst.delete(f"{api.base}/api/share/{revoked['id']}")
    assert gone.status_code == 200 and gone.json()["state"] == "revoked"
    expired = share(analyst, api, object_type="pdf_render", object_id=done_render)
    with transaction(api.ctx.sessions) as session:
        session.execute(
            update(ShareToken)
            .where(ShareToken.id == expired["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    walled = share(analyst, api, object_type="pdf_render", object_id=done_render, ip_allowlist=["10.0.0.0/8"])
    bodies, times = [], []
    for plain in (
        revoked["token"],
        expired["token"],
        walled["token"],
        "x" * 43,
        revoked["token"][:-1] + ("A" if revoked["token"][-1] != "A" else "B"),
    ):
        t0 = time.perf_counter()
        r = requests.get(f"{api.base}/pub/pdf_render/{plain}", timeout=60)
        times.append(time.perf_counter() - t0)
        assert r.status_code == 404, (plain == walled["token"], r.status_code, r.text[:200])
        bodies.append(r.text)
    assert len(set(bodies)) == 1 and bodies[0] == NOT_FOUND_HTML
    assert min(times) >= REFUSAL_FLOOR_S, times
    # A token of another kind at this address is unknown here too.
    assert requests.get(f"{api.base}/pub/pdf_template/{walled['token']}", timeout=60).text == NOT_FOUND_HTML
    results = {
        name: [e["result"] for e in analyst.get(f"{api.base}/api/share/{x['id']}/audit").json()["entries"]]
        for name, x in (("revoked", revoked), ("expired", expired), ("walled", walled))
    }
    assert results == {"revoked": ["revoked", "ok"], "expired": ["expired"], "walled": ["ip_denied"]}, results


def test_downloads_need_the_export_permission_and_framing_follows_the_token(
    api: Any, analyst: Any, done_render: int
) -> None:
    view_only = share(analyst, api, object_type="pdf_render", object_id=done_render)
    r = requests.get(f"{api.base}/pub/pdf_render/{view_only['token']}?download=1", timeout=60)
    assert r.status_code == 403
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    framed = share(
        analyst,
        api,
        object_type="pdf_render",
        object_id=done_render,
        permissions=["viewer", "export"],
        frame_origins=["https://intranet.example.com"],
    )
    r = requests.get(f"{api.base}/pub/pdf_render/{framed['token']}?download=1", timeout=60)
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    assert r.headers["Content-Security-Policy"] == "frame-ancestors https://intranet.example.com"
    assert "Set-Cookie" not in r.headers


def test_the_links_principal_reaches_only_what_was_shared_in_the_links_scope(api: Any, analyst: Any) -> None:
    with api.ctx.sessions() as session:
        dash = session.scalars(select(Dashboard).order_by(Dashboard.id)).first()
        assert dash is not None
        others = [d for d in session.scalars(select(Dashboard).where(Dashboard.tenant_id == dash.tenant_id))]
        other = next(d for d in others if d.id != dash.id)
        widget = session.scalars(select(Widget).where(Widget.dashboard_id == dash.id)).first()
        assert widget is not None
        dashboard_id, widget_id, other_id = dash.id, widget.id, other.id
    out = share(analyst, api, object_type="dashboard", object_id=dashboard_id, scope={"location_ids": [1, 2]})
    with transaction(api.ctx.sessions) as session:
        opened = tokens.open_link(session, out["token"], object_type="dashboard", ip="127.0.0.1")
        assert opened.result == "ok" and opened.principal is not None
        p = opened.principal
        assert p.kind == "share" and p.user_id is None and p.scope.location_ids == frozenset({1, 2})
        d = session.get(Dashboard, dashboard_id)
        assert authorize(session, p, "view", d) == "viewer"
        assert p.share is not None and p.share.allows("widgets", widget_id)
        with pytest.raises(PermissionDenied):
            authorize(session, p, "export", d)  # the link has no export permission
        with pytest.raises(PermissionDenied):
            authorize(session, p, "edit", d)
        with pytest.raises(NotFound):
            authorize(session, p, "view", session.get(Dashboard, other_id))
        # Opening a dashboard link through the other kind's address finds nothing.
        assert (
            tokens.open_link(session, out["token"], object_type="report", ip="127.0.0.1").result == "unknown"
        )


def test_a_snapshot_freezes_the_dashboards_data(api: Any, analyst: Any) -> None:
    dashboard_id = ids(api, Dashboard)[0]
    out = share(analyst, api, object_type="snapshot", object_id=dashboard_id)
    with api.ctx.sessions() as session:
        row = session.get(ShareToken, out["id"])
        assert row is not None and row.snapshot_json is not None
        doc = dict(row.snapshot_json)
    results = thaw(doc)
    assert results and any(r.frame is not None and len(r.frame) > 0 for r in results)
    assert {r.widget.id for r in results} == set(ids(api, Widget, dashboard_id=dashboard_id))


def test_a_shared_template_renders_in_the_links_scope(api: Any, analyst: Any) -> None:
    tid = template_id(analyst, api, SLA)
    out = share(analyst, api, object_type="pdf_template", object_id=tid, scope={"location_ids": [1]})
    url = f"{api.base}/pub/pdf_template/{out['token']}"
    first = requests.get(url, timeout=60)
    assert first.status_code == 200 and "Preparing the PDF" in first.text and "?g=" in first.text
    again = first.text.split("url=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
    deadline = time.monotonic() + 120
    answer = first
    while time.monotonic() < deadline:
        answer = requests.get(f"{api.base}{again}", timeout=60)
        if answer.headers.get("Content-Type") == "application/pdf":
            break
        time.sleep(1)
    assert answer.headers.get("Content-Type") == "application/pdf", answer.text[:300]
    # One use: the waiting page's refreshes carry the grant, not the token.
    assert analyst.get(f"{api.base}/api/share/{out['id']}").json()["used_count"] == 1
    with api.ctx.sessions() as session:
        render_row = session.scalars(
            select(PdfRender).where(PdfRender.template_id == tid).order_by(PdfRender.id.desc())
        ).first()
        assert render_row is not None
        token = session.get(ShareToken, out["id"])
        assert token is not None
        expected = tokens.share_principal(session, token).scope.key
    assert render_row.scope_json["key"] == expected


def test_the_rest_api_takes_a_share_link_with_the_same_gate(api: Any, analyst: Any) -> None:
    dashboard_id, other_id = ids(api, Dashboard)[:2]
    link = share(analyst, api, object_type="dashboard", object_id=dashboard_id, scope={"location_ids": [1]})
    s = requests.Session()
    s.headers["Authorization"] = f"Share {link['token']}"
    view = s.get(f"{api.base}/api/dashboards/{dashboard_id}/view", timeout=60)
    assert view.status_code == 200, view.text
    assert s.get(f"{api.base}/api/dashboards/{other_id}/view", timeout=60).status_code == 404
    assert s.put(f"{api.base}/api/dashboards/{dashboard_id}", json={"name": "x"}, timeout=60).status_code in (
        403,
        404,
    )
    made = s.post(f"{api.base}/api/share", json={"object_type": "dashboard", "object_id": dashboard_id})
    assert made.status_code == 403  # a viewer cannot share further
    # The rows are the link's: only location 1 (the demo's location ids start at 1).
    q = s.post(
        f"{api.base}/api/query",
        json={
            "query": {
                "source": "tickets",
                "group_by": ["location_id"],
                "metrics": [{"agg": "count", "as": "n"}],
            }
        },
        timeout=60,
    )
    if q.status_code == 200:
        cols = q.json()["columns"]
        assert {row[cols.index("location_id")] for row in q.json()["rows"]} <= {1}
    else:
        assert q.status_code in (403, 404)
    analyst.delete(f"{api.base}/api/share/{link['id']}")
    assert s.get(f"{api.base}/api/dashboards/{dashboard_id}/view", timeout=60).status_code == 401
    results = [e["result"] for e in analyst.get(f"{api.base}/api/share/{link['id']}/audit").json()["entries"]]
    assert results[0] == "revoked" and "ok" in results
