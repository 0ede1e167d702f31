"""The trash: deleting a report or a dashboard moves it there; it is gone everywhere else, its owner
(or an admin, or whoever deleted it) restores it within 30 days, and older entries are purged.

One database, demo seed and API server per backend (tests/conftest.py); each test works on its own
copies of the seeded objects.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal import dashboards, reports
from portal.demo.accounts import DEV_PASSWORD
from portal.errors import NotFound
from portal.infra.db import transaction
from portal.models import Dashboard, Favorite, Report, ReportExecution, Widget, utcnow
from tests.support.principals import as_principal
from tests.support.shared import copy_dashboard, copy_report

ANALYST = "analyst@acme.example.com"
VIEWER = "viewer@acme.example.com"
ADMIN = "admin@acme.example.com"
GLOBEX = "analyst@globex.example.com"


@pytest.fixture
def api(module_api, redis_client):
    return module_api


@pytest.fixture(scope="module")
def sessions(module_api):
    """Signed-in REST sessions per user, once per module."""
    return {e: module_api.login(e, DEV_PASSWORD) for e in (ANALYST, VIEWER, ADMIN, GLOBEX)}


@pytest.fixture(scope="module")
def seeded(module_api, sessions):
    """Ids of a seeded public dashboard (with widgets) and report of the analyst."""
    s, base = sessions[ANALYST], module_api.base
    d = s.get(f"{base}/api/dashboards", params={"group": "mine"}).json()["dashboards"][0]["id"]
    r = s.get(f"{base}/api/reports", params={"group": "mine"}).json()["reports"][0]["id"]
    return {"d": d, "r": r}


def test_deleted_dashboard_is_gone_everywhere_until_restored(api, sessions, seeded):
    s, viewer, base = sessions[ANALYST], sessions[VIEWER], api.base
    d = copy_dashboard(s, base, seeded["d"])
    did, wid = d["id"], d["widgets"][0]["id"]
    assert s.put(f"{base}/api/dashboards/{did}", json={"visibility": "public"}).status_code == 200
    assert s.post(f"{base}/api/dashboards/{did}/favorite").status_code == 200
    assert viewer.get(f"{base}/api/dashboards/{did}").status_code == 200

    assert s.delete(f"{base}/api/dashboards/{did}").status_code == 204
    for who in (s, viewer):
        for path in (f"/api/dashboards/{did}", f"/api/dashboards/{did}/view", f"/api/widgets/{wid}/data"):
            r = who.get(f"{base}{path}")
            assert r.status_code == 404, (path, r.text)
        for group in ("mine", "public", "favorites"):
            listed = who.get(f"{base}/api/dashboards", params={"group": group}).json()["dashboards"]
            assert did not in [x["id"] for x in listed]
    assert s.put(f"{base}/api/dashboards/{did}", json={"name": "x"}).status_code == 404
    assert s.post(f"{base}/api/dashboards/{did}/duplicate", json={}).status_code == 404

    trash = s.get(f"{base}/api/trash").json()
    item = next(i for i in trash["items"] if i["type"] == "dashboard" and i["id"] == did)
    assert item["name"] == d["name"] and item["deleted_by_name"] and trash["days"] == 30
    assert item["purge_at"] > item["deleted_at"]
    # Not the viewer's to see or restore (neither owner nor deleter), nor another tenant's.
    assert did not in [i["id"] for i in viewer.get(f"{base}/api/trash").json()["items"]]
    assert viewer.post(f"{base}/api/trash/dashboard/{did}/restore").status_code == 404
    assert sessions[GLOBEX].post(f"{base}/api/trash/dashboard/{did}/restore").status_code == 404

    r = s.post(f"{base}/api/trash/dashboard/{did}/restore")
    assert r.status_code == 200, r.text
    back = s.get(f"{base}/api/dashboards/{did}").json()
    assert [w["id"] for w in back["widgets"]] == [w["id"] for w in d["widgets"]]
    assert back["favorite"] is True  # favorites and grants survive the round trip
    assert viewer.get(f"{base}/api/dashboards/{did}/view").status_code == 200
    assert did not in [i["id"] for i in s.get(f"{base}/api/trash").json()["items"]]
    # Restoring twice: it is no longer in the trash.
    assert s.post(f"{base}/api/trash/dashboard/{did}/restore").status_code == 404


def test_deleted_report_is_gone_everywhere_until_restored(api, sessions, seeded):
    s, admin, base = sessions[ANALYST], sessions[ADMIN], api.base
    rid = copy_report(s, base, seeded["r"])["id"]
    assert s.post(f"{base}/api/reports/{rid}/execute", json={"wait": 60}).status_code == 201
    eid = s.get(f"{base}/api/reports/{rid}/executions").json()["executions"][0]["id"]

    assert s.delete(f"{base}/api/reports/{rid}").status_code == 204
    for method, path in [
        ("get", f"/api/reports/{rid}"),
        ("post", f"/api/reports/{rid}/execute"),
        ("get", f"/api/reports/{rid}/executions"),
        ("get", f"/api/executions/{eid}/export"),
    ]:
        r = s.request(method, f"{base}{path}", json={} if method == "post" else None)
        assert r.status_code == 404, (path, r.text)
    assert rid not in [x["id"] for x in s.get(f"{base}/api/reports").json()["reports"]]

    only_reports = s.get(f"{base}/api/trash", params={"type": "report"}).json()["items"]
    assert rid in [i["id"] for i in only_reports] and {i["type"] for i in only_reports} == {"report"}
    # A tenant admin sees everyone's trash and may restore.
    assert rid in [i["id"] for i in admin.get(f"{base}/api/trash").json()["items"]]
    r = admin.post(f"{base}/api/trash/report/{rid}/restore")
    assert r.status_code == 200 and r.json()["id"] == rid
    assert s.get(f"{base}/api/reports/{rid}/executions").json()["executions"][0]["id"] == eid


def test_trash_arguments_are_checked(api, sessions):
    s, base = sessions[ANALYST], api.base
    r = s.get(f"{base}/api/trash", params={"type": "widgets"})
    assert r.status_code == 400 and r.json()["field"] == "type"
    assert s.post(f"{base}/api/trash/widget/1/restore").status_code == 404
    r = s.post(f"{base}/api/trash/report/1/restore", json={"x": 1})
    assert r.status_code == 400 and r.json()["field"] == "x"
    assert s.post(f"{base}/api/trash/report/999999/restore").status_code == 404


def _age(ctx, model, oid, days):
    with transaction(ctx.sessions) as session:
        obj = session.get(model, oid)
        obj.deleted_at = utcnow() - timedelta(days=days)


def test_purge_removes_what_is_older_than_30_days(api, sessions, seeded, module_ctx):
    s, base = sessions[ANALYST], api.base
    old_d = copy_dashboard(s, base, seeded["d"])["id"]
    young_d = copy_dashboard(s, base, seeded["d"])["id"]
    old_r = copy_report(s, base, seeded["r"])["id"]
    assert s.post(f"{base}/api/dashboards/{old_d}/favorite").status_code == 200
    assert s.post(f"{base}/api/reports/{old_r}/execute", json={"wait": 60}).status_code == 201
    for kind, oid in (("dashboards", old_d), ("dashboards", young_d), ("reports", old_r)):
        assert s.delete(f"{base}/api/{kind}/{oid}").status_code == 204
    _age(module_ctx, Dashboard, old_d, 31)
    _age(module_ctx, Dashboard, young_d, 29)
    _age(module_ctx, Report, old_r, 30.1)
    results = module_ctx.settings.results_dir
    with module_ctx.sessions() as session:
        refs = list(
            session.scalars(select(ReportExecution.result_ref).where(ReportExecution.report_id == old_r))
        )
    assert refs and all((results / ref).exists() for ref in refs)

    # Past 30 days an entry cannot be restored, even before the purge ran.
    assert s.post(f"{base}/api/trash/dashboard/{old_d}/restore").status_code == 404

    with transaction(module_ctx.sessions) as session:
        purged = dashboards.purge_trash(session, results_dir=results)
    assert purged["dashboards"] >= 1 and purged["reports"] >= 1
    with module_ctx.sessions() as session:
        assert session.get(Dashboard, old_d) is None and session.get(Report, old_r) is None
        assert session.get(Dashboard, young_d) is not None
        assert (
            session.scalar(select(func.count()).select_from(Widget).where(Widget.dashboard_id == old_d)) == 0
        )
        assert (
            session.scalar(select(func.count()).select_from(Favorite).where(Favorite.object_id == old_d)) == 0
        )
        assert (
            session.scalar(
                select(func.count()).select_from(ReportExecution).where(ReportExecution.report_id == old_r)
            )
            == 0
        )
    assert not any((results / ref).exists() for ref in refs)
    items = s.get(f"{base}/api/trash").json()["items"]
    assert young_d in [i["id"] for i in items] and old_d not in [i["id"] for i in items]


def test_listing_the_trash_purges_the_tenant(api, sessions, seeded, module_ctx):
    s, base = sessions[ANALYST], api.base
    rid = copy_report(s, base, seeded["r"])["id"]
    assert s.delete(f"{base}/api/reports/{rid}").status_code == 204
    _age(module_ctx, Report, rid, 45)
    # By kind and id: a dashboard of an earlier test may have the same id in the trash.
    listed = [(i["type"], i["id"]) for i in s.get(f"{base}/api/trash").json()["items"]]
    assert ("report", rid) not in listed
    with module_ctx.sessions() as session:
        assert session.get(Report, rid) is None


def test_services_trash_and_restore(module_ctx, module_demo):
    """The services themselves (what pages and scripts call): delete, the one gate, restore."""
    ctx, analyst, viewer = module_ctx, module_demo[("acme", "analyst")], module_demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        d = dashboards.create_dashboard(s, a, {"name": "Trash me", "visibility": "public"})
        r = reports.create_report(
            s,
            a,
            {"name": "Trash me too", "query": {"source": "tickets", "metrics": [{"agg": "count"}]}},
            ctx.warehouse,
        )
        did, rid = d.id, r.id
        dashboards.delete_dashboard(s, a, did)
        reports.delete_report(s, a, rid)
    with transaction(ctx.sessions) as s:
        a, v = as_principal(s, analyst), as_principal(s, viewer)
        with pytest.raises(NotFound):
            dashboards.get_dashboard(s, a, did)
        with pytest.raises(NotFound):
            dashboards.load_dashboard(s, a, ctx.warehouse, did)
        with pytest.raises(NotFound):
            reports.execute_report(s, a, rid, ctx.warehouse, ctx.settings.results_dir)
        assert did not in [x.id for x in dashboards.list_dashboards(s, v)]
        with pytest.raises(NotFound):
            dashboards.restore_dashboard(s, v, did)
        assert did in [i.id for i in dashboards.list_dashboard_trash(s, a)]
        assert "Trash me too" in [i.name for i in reports.list_report_trash(s, a)]
        assert dashboards.restore_dashboard(s, a, did).deleted_at is None
        assert reports.restore_report(s, a, rid).deleted_by is None
    with transaction(ctx.sessions) as s:
        v = as_principal(s, viewer)
        assert dashboards.get_dashboard(s, v, did).name == "Trash me"
