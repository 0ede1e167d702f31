"""Dashboard service on real metadata (SQLite, PostgreSQL), the tiny demo DuckDB warehouse and Redis."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from portal import dashboards, reports
from portal.errors import InvalidSpec, NotFound, PermissionDenied
from portal.identity.permissions import grant
from portal.infra.db import transaction
from portal.models import AuditLog, Dashboard, Widget
from portal.specs import VIZ_TYPES, DashboardFilters, Filter, GroupBy, Position, WidgetSpec
from tests.support.principals import as_principal

# The tiny warehouse ends on 2026-11-01: anchoring relative windows there keeps the data in range.
NOW = datetime(2026, 11, 1, 12, 0)

Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}], "group_by": ["team_name"]}
CHART = {
    "type": "chart",
    "title": "By team",
    "query": Q,
    "chart": {"viz": "bar", "x": "team_name", "y": ["tickets"]},
}
NAMED = {
    "type": "chart",
    "title": "By team (named)",
    "query_name": "by_team",
    "chart": {"viz": "column", "x": "team_name", "y": ["tickets"]},
    "drilldown": {"hierarchy": ["team_name", "agent_name"]},
}


def u(s, user):
    return as_principal(s, user)


def make(s, user, name="Test dash", **kw):
    data = {"name": name, "queries": {"by_team": Q}, **kw}
    return dashboards.create_dashboard(s, u(s, user), data)


def demo_dashboard(s, user, name):
    (d,) = [x for x in dashboards.list_dashboards(s, u(s, user), group="public") if x.name == name]
    return d


def widget_titled(s, d, title):
    (w,) = [
        w for w in s.scalars(select(Widget).where(Widget.dashboard_id == d.id)) if w.title.startswith(title)
    ]
    return w


# --------------------------------------------------------------------------- CRUD
def test_create_get_update_delete_with_audit(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = make(s, analyst, description="ops", filters={"time_range": "{{now-30d}}..{{now}}", "team": ["X"]})
        got = dashboards.get_dashboard(s, a, d.id)
        assert got.owner_id == a.user_id and got.visibility == "private"
        assert got.layout_json["queries"]["by_team"]["source"] == "tickets"
        assert got.filters_json == {"time_range": "{{now-30d}}..{{now}}", "team": ["X"]}
        dashboards.update_dashboard(s, a, d.id, {"name": "Renamed", "realtime_enabled": True})
        assert (got.name, got.realtime_enabled, got.description) == ("Renamed", True, "ops")
        dashboards.update_dashboard(s, a, d.id, {"filters": {"time_range": "{{now-7d}}..{{now}}"}})
        assert got.filters_json == {"time_range": "{{now-7d}}..{{now}}"}
        doc = dashboards.dashboard_to_dict(got, [], favorite=False)
        assert doc["queries"]["by_team"]["group_by"] == [{"column": "team_name"}] and doc["widgets"] == []
        w = dashboards.add_widget(s, a, d.id, NAMED)
        dashboards.toggle_favorite(s, a, d.id)
        dashboards.delete_dashboard(s, a, d.id)
        with pytest.raises(NotFound):
            dashboards.get_dashboard(s, a, d.id)
        # In the trash: gone for every path, its widgets and favorites kept for a restore (test_trash.py).
        assert s.get(Dashboard, d.id).deleted_by == a.user_id and s.get(Widget, w.id) is not None
        assert d.id not in [x.id for x in dashboards.list_dashboards(s, a, group="favorites")]
        actions = [
            x.action
            for x in s.scalars(
                select(AuditLog).where(AuditLog.object_type == "dashboards", AuditLog.object_id == d.id)
            )
        ]
        assert actions == ["create", "edit", "edit", "delete"]


def test_duplicate_copies_widgets_for_the_caller(ctx, demo):
    viewer = demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        v = u(s, viewer)
        src = demo_dashboard(s, viewer, "Operations & SLA")
        src_widgets = dashboards.list_widgets(s, v, src.id)
        copy = dashboards.duplicate_dashboard(s, v, src.id)
        assert (
            copy.name == "Copy of Operations & SLA"
            and copy.owner_id == v.user_id
            and copy.visibility == "private"
        )
        copied = dashboards.list_widgets(s, v, copy.id)
        assert [(w.title, w.position, w.config_json) for w in copied] == [
            (w.title, w.position, w.config_json) for w in src_widgets
        ]
        assert {w.id for w in copied}.isdisjoint(w.id for w in src_widgets)
        assert copy.layout_json == src.layout_json and copy.filters_json == src.filters_json
        # the copy is the viewer's own: they may edit it, but still not the original
        dashboards.update_dashboard(s, v, copy.id, {"name": "Mine now"})
        with pytest.raises(PermissionDenied):
            dashboards.update_dashboard(s, v, src.id, {"name": "x"})
        named = dashboards.duplicate_dashboard(s, v, src.id, name="Ops v2")
        assert named.name == "Ops v2"


# --------------------------------------------------------------------------- listing
def test_groups_favorites_and_search(ctx, demo):
    analyst, viewer, admin = demo[("acme", "analyst")], demo[("acme", "viewer")], demo[("acme", "admin")]
    with transaction(ctx.sessions) as s:
        a, v, adm = u(s, analyst), u(s, viewer), u(s, admin)
        priv = make(s, analyst, "A private")
        grp = make(s, analyst, "A group", visibility="group")
        pub = make(s, analyst, "A public", visibility="public", description="weekly numbers")
        granted = make(s, admin, "Admin granted")
        hidden = make(s, admin, "Admin hidden")
        grant(s, granted, "user", v.user_id, "viewer")
        demo_ids = {d.id for d in dashboards.list_dashboards(s, v, group="public")} - {pub.id}
        assert len(demo_ids) == 4  # three warehouse dashboards and "Live operations"

        def ids(user, **kw):
            return {d.id for d in dashboards.list_dashboards(s, user, **kw)}

        assert ids(v) == {grp.id, pub.id, granted.id} | demo_ids
        assert ids(v, group="mine") == set()
        assert ids(v, group="team") == {grp.id, granted.id}
        assert ids(v, group="public") == {pub.id} | demo_ids
        assert ids(a, group="mine") == {priv.id, grp.id, pub.id} | demo_ids  # the analyst owns the demo ones
        assert ids(a, group="team") == set()
        assert ids(adm) >= {priv.id, hidden.id}  # tenant admins see everything
        assert ids(adm, group="team") == set()
        assert ids(v, search="WEEKLY") == {pub.id}  # description, case-insensitive
        assert ids(v, search="a gr") == {grp.id}
        assert ids(v, search="100%") == set()  # LIKE wildcards are literal
        assert ids(v, group="favorites") == set()
        assert dashboards.toggle_favorite(s, v, pub.id) is True
        assert dashboards.toggle_favorite(s, v, granted.id) is True
        assert dashboards.is_favorite(s, v, pub.id) and not dashboards.is_favorite(s, a, pub.id)
        assert ids(v, group="favorites") == {pub.id, granted.id}
        assert dashboards.toggle_favorite(s, v, pub.id) is False
        assert ids(v, group="favorites") == {granted.id}
        with pytest.raises(NotFound):
            dashboards.toggle_favorite(s, v, hidden.id)
        with pytest.raises(InvalidSpec) as e:
            dashboards.list_dashboards(s, v, group="everyone")
        assert e.value.field == "group"
        # another tenant sees none of it
        g = u(s, demo[("globex", "admin")])
        assert ids(g).isdisjoint({priv.id, grp.id, pub.id, granted.id} | demo_ids)


# --------------------------------------------------------------------------- widgets
@pytest.mark.parametrize(
    ("spec", "position", "field"),
    [
        ({**CHART, "query": {**Q, "group_by": ["teamname"]}}, None, "spec.query.group_by[0].column"),
        ({**CHART, "query": {**Q, "source": "tikets"}}, None, "spec.query.source"),
        ({**NAMED, "query_name": "nope"}, None, "spec.query_name"),
        ({**CHART, "chart": {"viz": "bar", "x": "agent_name", "y": ["tickets"]}}, None, "spec.chart.x"),
        ({**CHART, "chart": {"viz": "bar", "x": "team_name", "y": ["n"]}}, None, "spec.chart.y[0]"),
        (
            {**CHART, "chart": {"viz": "sparkline", "x": "team_name", "y": ["tickets"]}},
            None,
            "spec.chart.viz",
        ),
        ({"type": "chart", "title": "T", "query": Q}, None, "spec"),
        ({**CHART, "colour": "red"}, None, "spec.colour"),
        (
            {**NAMED, "drilldown": {"hierarchy": ["team_name", "agnt_name"]}},
            None,
            "spec.drilldown.hierarchy[1]",
        ),
        (
            {**NAMED, "drilldown": {"hierarchy": ["agent_name", "team_name"]}},
            None,
            "spec.drilldown.hierarchy[0]",
        ),
        ({"type": "kpi", "title": "T", "query": Q, "kpi": {"value": "count"}}, None, "spec.kpi.value"),
        (
            {"type": "table", "title": "T", "query": Q, "table": {"subtotals_by": "region"}},
            None,
            "spec.table.subtotals_by",
        ),
        ({"type": "text"}, None, "spec"),
        (CHART, {"x": 10, "w": 6}, "position"),
        (CHART, {"x": 0, "y": 0, "w": 0, "h": 2}, "position.w"),
    ],
)
def test_widget_validation_names_the_field(ctx, demo, spec, position, field):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        d = make(s, analyst)
        with pytest.raises(InvalidSpec) as e:
            dashboards.add_widget(s, u(s, analyst), d.id, spec, position)
        assert e.value.field == field, e.value.message
        assert e.value.message.startswith(field), e.value.message


def test_report_widgets_and_foreign_reports(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = make(s, analyst)
        mine = reports.list_reports(s, a, search="SLA breach rate")[0]
        w = dashboards.add_widget(
            s,
            a,
            d.id,
            {
                "type": "table",
                "title": "SLA",
                "report_id": mine.id,
                "table": {"sort_by": "breach_rate", "sort_desc": True},
            },
        )
        data = dashboards.widget_data(s, a, ctx.warehouse, d.id, w.id, now=NOW)
        assert data["columns"] == ["team_name", "tickets", "breach_rate"] and data["rows"]
        other = reports.list_reports(s, u(s, demo[("globex", "admin")]))[0]
        with pytest.raises(NotFound) as e:
            dashboards.add_widget(s, a, d.id, {**CHART, "query": None, "report_id": other.id})
        assert e.value.field == "spec.report_id"
        with pytest.raises(InvalidSpec) as e2:  # the report exists but lacks the chart's column
            dashboards.add_widget(
                s,
                a,
                d.id,
                {**CHART, "query": None, "report_id": mine.id, "chart": {**CHART["chart"], "x": "x"}},
            )
        assert e2.value.field == "spec.chart.x"


def test_auto_placement_update_and_delete_widget(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = make(s, analyst)
        kpi = {
            "type": "kpi",
            "title": "Count",
            "query": {"source": "tickets", "metrics": [{"agg": "count"}]},
            "kpi": {"value": "count"},
        }
        w1 = dashboards.add_widget(s, a, d.id, CHART)
        w2 = dashboards.add_widget(s, a, d.id, NAMED)
        w3 = dashboards.add_widget(s, a, d.id, kpi)
        w4 = dashboards.add_widget(s, a, d.id, kpi, {"x": 3, "y": 4, "w": 3, "h": 2})
        w5 = dashboards.add_widget(s, a, d.id, kpi)
        assert [w.position for w in (w1, w2, w3, w5)] == [
            {"x": 0, "y": 0, "w": 6, "h": 4},
            {"x": 6, "y": 0, "w": 6, "h": 4},
            {"x": 0, "y": 4, "w": 3, "h": 2},
            {"x": 6, "y": 4, "w": 3, "h": 2},
        ]
        assert w4.position == {"x": 3, "y": 4, "w": 3, "h": 2}
        assert (w1.type, w1.viz, w1.title) == ("chart", "bar", "By team") and w3.viz == "kpi"
        dashboards.update_widget(
            s, a, w1.id, spec={**CHART, "title": "Pie", "chart": {**CHART["chart"], "viz": "pie"}}
        )
        assert (w1.viz, w1.title, w1.config_json["chart"]["viz"]) == ("pie", "Pie", "pie")
        dashboards.update_widget(s, a, w1.id, position=Position(x=0, y=6, w=12, h=3))
        assert w1.position == {"x": 0, "y": 6, "w": 12, "h": 3}
        with pytest.raises(InvalidSpec) as e:
            dashboards.update_widget(s, a, w1.id, spec={**CHART, "chart": {**CHART["chart"], "x": "nope"}})
        assert e.value.field == "spec.chart.x" and w1.viz == "pie"
        order = [w.id for w in dashboards.list_widgets(s, a, d.id)]
        assert order == [w2.id, w3.id, w4.id, w5.id, w1.id]  # reading order: top to bottom, left to right
        dashboards.delete_widget(s, a, w2.id)
        assert w2.id not in {w.id for w in dashboards.list_widgets(s, a, d.id)}
        with pytest.raises(NotFound):
            dashboards.delete_widget(s, a, w2.id)


def test_save_layout_persists_and_rejects_foreign_widgets(ctx, demo):
    analyst, viewer = demo[("acme", "analyst")], demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = make(s, analyst, visibility="public")
        other = make(s, analyst, "Other")
        w1 = dashboards.add_widget(s, a, d.id, CHART)
        w2 = dashboards.add_widget(s, a, d.id, NAMED)
        foreign = dashboards.add_widget(s, a, other.id, CHART)
        ids = (d.id, w1.id, w2.id, foreign.id)
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        did, id1, id2, fid = ids
        out = dashboards.save_layout(
            s, a, did, {id1: {"x": 6, "y": 0, "w": 6, "h": 4}, str(id2): Position(x=0, y=0, w=6, h=5)}
        )
        assert [w.id for w in out] == [id2, id1]  # reading order follows the new layout
        with pytest.raises(InvalidSpec) as e:
            dashboards.save_layout(s, a, did, {id1: {"x": 0, "y": 9, "w": 3, "h": 2}, fid: {"x": 0, "y": 0}})
        assert e.value.field == f"positions.{fid}"
        with pytest.raises(InvalidSpec) as e:
            dashboards.save_layout(s, a, did, {id1: {"x": 11, "y": 0, "w": 3, "h": 2}})
        assert e.value.field == f"positions.{id1}"
        with pytest.raises(InvalidSpec) as e:
            dashboards.save_layout(s, a, did, {"abc": {"x": 0}})
        assert e.value.field == "positions"
        with pytest.raises(PermissionDenied):
            dashboards.save_layout(s, u(s, viewer), did, {id1: {"x": 0, "y": 0, "w": 6, "h": 4}})
    with ctx.sessions() as s:
        assert s.get(Widget, id1).position == {
            "x": 6,
            "y": 0,
            "w": 6,
            "h": 4,
        }  # the rejected saves changed nothing
        assert s.get(Widget, id2).position == {"x": 0, "y": 0, "w": 6, "h": 5}
        assert s.get(Widget, fid).position == {"x": 0, "y": 0, "w": 6, "h": 4}


def test_named_queries_in_use_are_protected(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = make(s, analyst)
        dashboards.add_widget(s, a, d.id, NAMED)
        with pytest.raises(InvalidSpec) as e:
            dashboards.update_dashboard(s, a, d.id, {"name": "Changed", "queries": {}})
        assert e.value.field == "queries" and d.name == "Test dash"  # a rejected patch changes nothing
        with pytest.raises(InvalidSpec) as e:
            dashboards.update_dashboard(s, a, d.id, {"name": "Changed", "positions": {999999: {"x": 0}}})
        assert e.value.field == "positions.999999" and d.name == "Test dash"
        changed = {"by_team": {**Q, "metrics": [{"agg": "count", "as": "n"}]}}
        with pytest.raises(InvalidSpec) as e:
            dashboards.update_dashboard(s, a, d.id, {"queries": changed})
        assert e.value.field == "queries.by_team" and "chart.y[0]" in e.value.message
        with pytest.raises(InvalidSpec) as e:
            dashboards.update_dashboard(s, a, d.id, {"queries": {"by_team": {**Q, "group_by": ["tem"]}}})
        assert e.value.field == "queries.by_team.group_by[0].column"
        extra = {"by_team": Q, "by_prio": {**Q, "group_by": ["priority"]}}
        dashboards.update_dashboard(s, a, d.id, {"queries": extra})
        assert set(d.layout_json["queries"]) == {"by_team", "by_prio"}


# --------------------------------------------------------------------------- data
def test_widget_query_filters_and_drill(ctx, demo):
    viewer = demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        v = u(s, viewer)
        d = demo_dashboard(s, viewer, "Operations & SLA")
        w = widget_titled(s, d, "Tickets by team")
        spec, shown = dashboards.widget_query(s, v, d, w)
        assert spec.filters == [Filter(column="opened_at", op="between", value="{{now-90d}}..{{now}}")]
        assert spec.group_by == [GroupBy(column="team_name")] and shown.chart.x == "team_name"
        sel = DashboardFilters(team=["Climatização"], customer=["ACME"], time_range="2026-01-01..2026-02-01")
        spec, _ = dashboards.widget_query(s, v, d, w, filters=sel)
        assert spec.filters == [
            Filter(column="opened_at", op="between", value="2026-01-01..2026-02-01"),
            Filter(column="customer_name", op="in", value=["ACME"]),
            Filter(column="team_name", op="in", value=["Climatização"]),
        ]
        # only the fields the user set override the saved ones
        spec, _ = dashboards.widget_query(s, v, d, w, filters=DashboardFilters(team=["X"]))
        assert [f.column for f in spec.filters] == ["opened_at", "team_name"]
        spec, _ = dashboards.widget_query(s, v, d, w, filters=DashboardFilters(time_range=None))
        assert spec.filters == []
        spec, shown = dashboards.widget_query(s, v, d, w, drill_path=[("team_name", "Climatização")])
        assert spec.group_by == [GroupBy(column="agent_name")]
        assert spec.filters[-1] == Filter(column="team_name", op="=", value="Climatização")
        assert shown.chart.x == "agent_name" and shown.title.endswith("/ Climatização")
        assert shown.drilldown == WidgetSpec.model_validate(w.config_json).drilldown
        table = widget_titled(s, d, "SLA by team")
        _, shown_table = dashboards.widget_query(s, v, d, table, drill_path=[("team_name", "X")])
        assert shown_table.table.columns[0] == "agent_name"
        for bad in ([("agent_name", "x")], [("team_name", "x"), ("agent_name", "y")]):
            with pytest.raises(InvalidSpec) as e:
                dashboards.widget_query(s, v, d, w, drill_path=bad)
            assert e.value.field == "drill"
        heat = widget_titled(s, d, "When tickets arrive")
        with pytest.raises(InvalidSpec) as e:
            dashboards.widget_query(s, v, d, heat, drill_path=[("team_name", "x")])
        assert e.value.field == "drill"
        with pytest.raises(NotFound):  # a widget of another dashboard
            dashboards.widget_query(s, v, demo_dashboard(s, viewer, "Maintenance & Expenses"), w)


def test_widget_data_rows_and_drill_down(ctx, demo):
    viewer = demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        v = u(s, viewer)
        d = demo_dashboard(s, viewer, "Operations & SLA")
        w = widget_titled(s, d, "Tickets by team")
        top = dashboards.widget_data(s, v, ctx.warehouse, d.id, w.id, now=NOW)
        assert top["columns"][:2] == ["team_name", "tickets"] and top["rows"]
        assert top["drill"] == {"path": [], "level": "team_name", "next": "agent_name"}
        assert top["cached"] is False
        assert dashboards.widget_data(s, v, ctx.warehouse, d.id, w.id, now=NOW)["cached"] is True
        team, n = top["rows"][0][0], top["rows"][0][1]
        down = dashboards.widget_data(
            s, v, ctx.warehouse, None, w.id, drill_path=[["team_name", team]], now=NOW
        )
        assert down["columns"][0] == "agent_name" and down["widget"]["spec"]["chart"]["x"] == "agent_name"
        assert sum(r[1] for r in down["rows"]) == n
        assert down["drill"] == {"path": [["team_name", team]], "level": "agent_name", "next": None}
        only = dashboards.widget_data(
            s, v, ctx.warehouse, d.id, w.id, filters=DashboardFilters(team=[team]), now=NOW
        )
        assert [r[0] for r in only["rows"]] == [team]
        text = widget_titled(s, d, "About this dashboard")
        t = dashboards.widget_data(s, v, ctx.warehouse, d.id, text.id, now=NOW)
        assert "<strong>Operations &amp; SLA</strong>" in t["html"] and t["rows"] == []
        with pytest.raises(NotFound):  # the widget is not on that dashboard
            dashboards.widget_data(s, v, ctx.warehouse, d.id + 1000, w.id, now=NOW)
        with pytest.raises(InvalidSpec) as e:
            dashboards.widget_data(
                s, v, ctx.warehouse, d.id, w.id, filters=DashboardFilters(time_range="last week"), now=NOW
            )
        assert e.value.field == "time_range"


def test_kpi_previous_period(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        d = dashboards.create_dashboard(
            s,
            a,
            {
                "name": "KPI",
                "filters": {"time_range": "2026-09-01..2026-10-01"},
                "queries": {"k": {"source": "tickets", "metrics": [{"agg": "count", "as": "tickets"}]}},
            },
        )
        kpi = {
            "type": "kpi",
            "title": "Tickets",
            "query_name": "k",
            "kpi": {"value": "tickets", "target": 100, "warn_at": 0.5},
        }
        w = dashboards.add_widget(s, a, d.id, kpi)
        w_no = dashboards.add_widget(
            s, a, d.id, {**kpi, "kpi": {"value": "tickets", "compare_previous": False}}
        )
        data = dashboards.widget_data(s, a, ctx.warehouse, d.id, w.id, now=NOW)
        scope = a.scope

        def count(lo, hi):
            q = {
                "source": "tickets",
                "metrics": [{"agg": "count", "as": "n"}],
                "filters": [{"column": "opened_at", "op": "between", "value": [lo, hi]}],
            }
            return int(ctx.warehouse.run(q, scope).frame["n"][0])

        value = count("2026-09-01", "2026-10-01")
        previous = count("2026-08-02", "2026-08-31T23:59:59.999999")  # 30 days, ending just before Sep 1
        assert value > 0 and previous > 0
        assert data["rows"] == [[value]] and data["previous"] == previous
        k = data["kpi"]
        assert (k["value"], k["previous"], k["delta"], k["target"]) == (
            value,
            previous,
            value - previous,
            100,
        )
        assert k["change"] == pytest.approx((value - previous) / previous)
        assert k["status"] == ("good" if value >= 100 else "warn" if value >= 50 else "bad")
        no = dashboards.widget_data(s, a, ctx.warehouse, d.id, w_no.id, now=NOW)
        assert no["previous"] is None and no["kpi"]["change"] is None and no["kpi"]["status"] == "none"
        # without a time window there is no previous period
        cleared = dashboards.widget_data(
            s, a, ctx.warehouse, d.id, w.id, filters=DashboardFilters(time_range=None), now=NOW
        )
        assert cleared["previous"] is None and cleared["kpi"]["value"] > value


def test_demo_dashboards_render_every_widget(ctx, demo):
    seen_viz, named_use = set(), {}
    stacked_columns, features = set(), set()
    for tenant in ("acme", "globex"):
        viewer = demo[(tenant, "viewer")]
        with transaction(ctx.sessions) as s:
            v = u(s, viewer)
            for name in ("Operations & SLA", "Maintenance & Expenses", "Customer Service & CSAT"):
                d = demo_dashboard(s, viewer, name)
                assert d.filters_json["time_range"].endswith("..{{now}}")
                view = dashboards.view_dashboard(s, v, ctx.warehouse, d.id, now=NOW)
                assert view["name"] == name and view["visibility"] == "public" and len(view["widgets"]) >= 8
                positions = []
                for w in view["widgets"]:
                    assert "error" not in w, (name, w["title"], w.get("error"))
                    spec = WidgetSpec.model_validate(w["spec"])
                    p = Position.model_validate(w["position"])
                    assert all(not dashboards.overlap(p, o) for o in positions), (name, w["title"])
                    positions.append(p)
                    if spec.type == "text":
                        assert w["data"]["html"]
                        features.add("text")
                        continue
                    assert w["data"]["rows"], (tenant, name, w["title"])
                    seen_viz.add(spec.viz)
                    if spec.chart and spec.chart.viz == "column" and spec.chart.series:
                        stacked_columns.add(spec.chart.stacked)
                    if spec.query_name:
                        named_use[(name, spec.query_name)] = named_use.get((name, spec.query_name), 0) + 1
                    if spec.table and spec.table.subtotals_by:
                        features.add("subtotals")
                    if spec.kpi:
                        assert p.w == 3 and p.h == 2 and p.y == 0  # the KPI row on top
                        assert w["data"]["kpi"]["value"] is not None
                        if spec.kpi.target and spec.kpi.good_at and spec.kpi.compare_previous:
                            features.add("kpi")
                            assert w["data"]["kpi"]["status"] in ("good", "warn", "bad")
                    if spec.drilldown and spec.drilldown.hierarchy == ["team_name", "agent_name"]:
                        features.add("drill")
                assert max(p.x + p.w for p in positions) == 12
    assert seen_viz >= {*VIZ_TYPES, "table", "kpi"}
    assert stacked_columns == {True, False}
    assert features == {"text", "subtotals", "kpi", "drill"}
    assert {n for (_, _), n in named_use.items()} and max(named_use.values()) >= 2
    assert all(any(n >= 2 for (dn, _), n in named_use.items() if dn == name) for name, _ in named_use)


def test_one_broken_widget_does_not_fail_the_view(ctx, demo):
    analyst = demo[("acme", "analyst")]
    with transaction(ctx.sessions) as s:
        a = u(s, analyst)
        rid = reports.create_report(s, a, {"name": "tmp", "query": Q}, ctx.warehouse).id
        d = make(s, analyst)
        good = dashboards.add_widget(s, a, d.id, CHART)
        broken = dashboards.add_widget(s, a, d.id, {**CHART, "query": None, "report_id": rid})
        reports.delete_report(s, a, rid)
        view = dashboards.view_dashboard(s, a, ctx.warehouse, d.id, now=NOW)
        by_id = {w["id"]: w for w in view["widgets"]}
        assert by_id[good.id]["data"]["rows"] and "error" not in by_id[good.id]
        assert f"report {rid} not found" in by_id[broken.id]["error"] and "data" not in by_id[broken.id]
        assert by_id[broken.id]["error_field"] == "report_id"
        assert view["filters_applied"] == {} and view["favorite"] is False
        views = s.scalars(select(AuditLog).where(AuditLog.action == "view", AuditLog.object_id == d.id)).all()
        assert len(views) == 1


# --------------------------------------------------------------------------- permissions
def test_other_tenant_gets_not_found(ctx, demo):
    analyst, stranger = demo[("acme", "analyst")], demo[("globex", "admin")]
    with transaction(ctx.sessions) as s:
        a, g = u(s, analyst), u(s, stranger)
        d = make(s, analyst, visibility="public")
        w = dashboards.add_widget(s, a, d.id, CHART)
        for call in (
            lambda: dashboards.get_dashboard(s, g, d.id),
            lambda: dashboards.list_widgets(s, g, d.id),
            lambda: dashboards.update_dashboard(s, g, d.id, {"name": "x"}),
            lambda: dashboards.delete_dashboard(s, g, d.id),
            lambda: dashboards.duplicate_dashboard(s, g, d.id),
            lambda: dashboards.toggle_favorite(s, g, d.id),
            lambda: dashboards.add_widget(s, g, d.id, CHART),
            lambda: dashboards.update_widget(s, g, w.id, position={"x": 0, "y": 0}),
            lambda: dashboards.delete_widget(s, g, w.id),
            lambda: dashboards.save_layout(s, g, d.id, {w.id: {"x": 0, "y": 0}}),
            lambda: dashboards.widget_data(s, g, ctx.warehouse, None, w.id, now=NOW),
            lambda: dashboards.view_dashboard(s, g, ctx.warehouse, d.id, now=NOW),
        ):
            with pytest.raises(NotFound):
                call()
        # a globex dashboard cannot use an acme named query or report either
        gd = dashboards.create_dashboard(s, g, {"name": "G"})
        with pytest.raises(InvalidSpec):
            dashboards.add_widget(s, g, gd.id, NAMED)


def test_viewer_cannot_edit_and_editor_cannot_share(ctx, demo):
    analyst, viewer = demo[("acme", "analyst")], demo[("acme", "viewer")]
    with transaction(ctx.sessions) as s:
        a, v = u(s, analyst), u(s, viewer)
        d = make(s, analyst, visibility="public")
        w = dashboards.add_widget(s, a, d.id, CHART)
        for call in (
            lambda: dashboards.update_dashboard(s, v, d.id, {"name": "x"}),
            lambda: dashboards.delete_dashboard(s, v, d.id),
            lambda: dashboards.add_widget(s, v, d.id, CHART),
            lambda: dashboards.update_widget(s, v, w.id, position={"x": 0, "y": 0}),
            lambda: dashboards.delete_widget(s, v, w.id),
            lambda: dashboards.save_layout(s, v, d.id, {w.id: {"x": 0, "y": 0}}),
        ):
            with pytest.raises(PermissionDenied):
                call()
        assert dashboards.view_dashboard(s, v, ctx.warehouse, d.id, now=NOW)["widgets"][0]["data"]["rows"]
        grant(s, d, "user", v.user_id, "editor")
        dashboards.update_dashboard(s, v, d.id, {"name": "Edited by an editor"})
        dashboards.add_widget(s, v, d.id, NAMED)
        with pytest.raises(PermissionDenied):
            dashboards.update_dashboard(s, v, d.id, {"visibility": "private"})
        with pytest.raises(PermissionDenied):
            dashboards.delete_dashboard(s, v, d.id)
        assert s.get(Dashboard, d.id).visibility == "public"
