"""Report service on real metadata (SQLite, PostgreSQL), the demo DuckDB warehouse and Redis."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from portal import reports
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PermissionDenied
from portal.infra.db import transaction
from portal.models import AuditLog, ReportExecution, User
from tests.support.principals import as_principal

SLA = {
    "source": "tickets",
    "metrics": [
        {"agg": "count", "as": "tickets"},
        {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
    ],
    "group_by": ["team_name"],
    "filters": [{"column": "priority", "op": "in", "value": "{{params.prios}}"}],
    "sort": [{"by": "tickets", "desc": True}],
}


def make(ctx, user, **kw):
    data = {"name": "SLA by team", "query": SLA, "params": {"prios": ["high", "urgent"]}, **kw}
    with transaction(ctx.sessions) as s:
        return reports.create_report(s, as_principal(s, user), data, ctx.warehouse).id


def test_create_get_update_list_delete(ctx, demo):
    analyst, viewer = demo[("acme", "analyst")], demo[("acme", "viewer")]
    rid = make(ctx, analyst)
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        r = reports.get_report(s, a, rid)
        assert r.query_json["source"] == "tickets" and r.owner_id == analyst.id
        reports.update_report(
            s,
            a,
            rid,
            {"name": "Renamed", "query": SLA, "params": {"prios": ["low"]}, "visibility": "public"},
            ctx.warehouse,
        )
        names = [x.name for x in reports.list_reports(s, as_principal(s, viewer))]
        assert "Renamed" in names
        assert [x.name for x in reports.list_reports(s, a, search="renam")] == ["Renamed"]
        with pytest.raises(PermissionDenied):
            reports.update_report(s, as_principal(s, viewer), rid, {"name": "x", "query": SLA}, ctx.warehouse)
        with pytest.raises(PermissionDenied):
            reports.delete_report(s, as_principal(s, viewer), rid)
        reports.delete_report(s, a, rid)
        with pytest.raises(NotFound):
            reports.get_report(s, a, rid)
        audit = [x.action for x in s.scalars(select(AuditLog).where(AuditLog.object_type == "reports"))]
        assert audit[-4:] == ["create", "view", "edit", "delete"] or {"create", "edit", "delete"} <= set(
            audit
        )


def test_invalid_report_input_names_field(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        for data, field in [
            ({"name": "", "query": SLA}, "name"),
            (
                {"name": "x", "query": {**SLA, "group_by": ["teamname"]}, "params": {"prios": ["a"]}},
                "group_by[0].column",
            ),
            ({"name": "x", "query": SLA}, "filters[0].value"),  # missing param
            ({"name": "x", "query": SLA, "visibility": "everyone"}, "visibility"),
            ({"name": "x", "query": SLA, "owner": 3}, "owner"),
        ]:
            with pytest.raises(InvalidSpec) as e:
                reports.create_report(s, a, data, ctx.warehouse)
            assert e.value.field == field, (data, e.value.message)


def test_other_tenant_cannot_see(ctx, demo):
    rid = make(ctx, demo[("acme", "analyst")], visibility="public")
    with transaction(ctx.sessions) as s:
        outsider = as_principal(s, demo[("globex", "admin")])
        with pytest.raises(NotFound):
            reports.get_report(s, outsider, rid)
        assert rid not in [r.id for r in reports.list_reports(s, outsider)]
        with pytest.raises(NotFound):
            reports.execute_report(s, outsider, rid, ctx.warehouse, ctx.settings.results_dir)


def test_execute_records_history_and_result(ctx, demo):
    analyst = demo[("acme", "analyst")]
    rid = make(ctx, analyst)
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        ex = reports.execute_report(s, a, rid, ctx.warehouse, ctx.settings.results_dir)
        assert ex.status == "done" and ex.row_count and ex.runtime_ms is not None
        assert ex.executed_by == a.user_id and ex.result_ref.endswith(".parquet")
        assert ex.meta_json["cached"] is False
        ex2 = reports.execute_report(
            s, a, rid, ctx.warehouse, ctx.settings.results_dir, params={"prios": ["low"]}
        )
        ex3 = reports.execute_report(s, a, rid, ctx.warehouse, ctx.settings.results_dir)
        assert ex3.meta_json["cached"] is True
        hist = reports.list_executions(s, a, rid)
        assert [h.id for h in hist] == [ex3.id, ex2.id, ex.id]
        _, _, frame = reports.load_execution_result(s, a, ex.id, ctx.settings.results_dir)
        _, _, low = reports.load_execution_result(s, a, ex2.id, ctx.settings.results_dir)
    # The stored result equals the same aggregation done by hand on the warehouse table.
    raw = pd.read_sql(
        "SELECT team_name, sla_breached, priority FROM tickets WHERE tenant_key = 'acme'",
        ctx.warehouse.engine,
    )
    want = raw[raw.priority.isin(["high", "urgent"])].groupby("team_name").size().sort_values(ascending=False)
    got = frame.set_index("team_name")["tickets"]
    assert got.to_dict() == want.to_dict()
    assert low["tickets"].sum() == (raw.priority == "low").sum()


def test_bad_params_raise_and_record_nothing(ctx, demo):
    analyst = demo[("acme", "analyst")]
    rid = make(ctx, analyst)
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        with pytest.raises(InvalidSpec):
            reports.execute_report(
                s, a, rid, ctx.warehouse, ctx.settings.results_dir, params={"prios": "urgent"}
            )
        assert s.scalar(select(func.count()).select_from(ReportExecution)) == 0


def test_warehouse_failure_is_recorded_as_failed(ctx, demo, tmp_path):
    from dataclasses import replace

    from portal.infra.db import make_engine

    analyst = demo[("acme", "analyst")]
    rid = make(ctx, analyst)
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")  # no tickets table there
    wh = replace(ctx.warehouse, engine=broken, cache=None)
    assert isinstance(wh, Warehouse)
    with transaction(ctx.sessions) as s:
        ex = reports.execute_report(s, as_principal(s, analyst), rid, wh, ctx.settings.results_dir)
        assert ex.status == "failed" and "tickets" in ex.meta_json["error"]
    with ctx.sessions() as s:
        assert s.get(ReportExecution, ex.id).status == "failed"


def test_scoped_user_sees_only_their_locations(ctx, demo):
    import portal.identity.auth as auth

    with transaction(ctx.sessions) as s:
        tenant = auth.tenant_of(s, s.get(User, demo[("acme", "admin")].id))
        locs = pd.read_sql(
            "SELECT DISTINCT location_id FROM tickets WHERE tenant_key='acme' ORDER BY 1 LIMIT 2",
            ctx.warehouse.engine,
        )["location_id"].tolist()
        scoped = auth.create_user(s, tenant, "site@acme.example.com", "Site", "password-9", locations=locs)
        spec = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["location_id"]}
        frame = ctx.warehouse.run(spec, auth.user_scope(s, scoped)).frame
    assert sorted(frame["location_id"].tolist()) == sorted(locs)
