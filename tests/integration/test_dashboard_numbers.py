"""Numbers a business user trusts, on the demo data through ``load_dashboard`` / ``widget_payload``:
table totals and subtotals re-aggregated by each metric's own rule (issue 8: "SLA by team" showed a
total breach rate of 1.136 and "Agents by team" a subtotal CSAT of 39.25), KPIs computed without the
query's grouping (a KPI on "tickets by priority" showed the first priority's count), display labels
and formats in the payload, and a widget title required.

One metadata database (SQLite) and demo seed for the module; each test makes its own objects.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from portal import dashboards
from portal.errors import InvalidSpec
from portal.infra.db import transaction
from portal.viz.cards import table_with_subtotals
from tests.support.principals import as_principal

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)

# The tiny warehouse ends on 2026-11-01: anchoring relative windows there keeps the data in range.
NOW = datetime(2026, 11, 1, 12, 0)


@pytest.fixture
def ctx(module_ctx, redis_client):
    return module_ctx


@pytest.fixture
def demo(module_demo):
    return module_demo


def _view(ctx, demo, name: str, role: str = "viewer"):
    user = demo[("acme", role)]
    with transaction(ctx.sessions) as s:
        p = as_principal(s, user)
        (d,) = [x for x in dashboards.list_dashboards(s, p, group="public") if x.name == name]
        view = dashboards.load_dashboard(s, p, ctx.warehouse, d.id, now=NOW)
        return view, p.scope


def _widget(view, title: str):
    (r,) = [r for r in view.widgets if r.widget.title == title]
    assert r.error is None, r.error
    return r


def _window_filter(view, source: str) -> dict:
    column = {"tickets": "opened_at", "conversations": "started_at"}[source]
    return {"column": column, "op": "between", "value": view.filters.time_range}


def test_sla_by_team_total_is_the_rate_over_all_tickets(ctx, demo):
    view, scope = _view(ctx, demo, "Operations & SLA")
    r = _widget(view, "SLA by team")
    raw = ctx.warehouse.run(
        {
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "n"},
                {"agg": "sum", "column": "sla_breached", "as": "breached"},
                {"agg": "sum", "column": "resolution_hours", "as": "hours"},
                {"agg": "count", "column": "resolution_hours", "as": "resolved"},
            ],
            "filters": [_window_filter(view, "tickets")],
        },
        scope,
        now=NOW,
    ).frame.iloc[0]
    rate = raw["breached"] / raw["n"]
    assert r.totals is not None and len(r.totals) == 1
    total = r.totals.iloc[0]
    assert total["breach_rate"] == pytest.approx(rate) and 0 <= total["breach_rate"] <= 1
    assert total["tickets"] == raw["n"] == r.frame["tickets"].sum()
    assert total["avg_resolution_h"] == pytest.approx(raw["hours"] / raw["resolved"])
    # The sum of the shown rates (what the table showed) is not it.
    assert r.frame["breach_rate"].sum() > 1 >= total["breach_rate"]

    table = table_with_subtotals(r.frame, r.spec.table, totals=r.totals, subtotals=r.subtotals)
    shown = table[table["_row_kind"] == "total"].iloc[0]
    assert shown["breach_rate"] == pytest.approx(rate) and shown["tickets"] == raw["n"]

    payload = dashboards.widget_payload(r)
    cols = payload["totals"]["columns"]
    row = dict(zip(cols, payload["totals"]["rows"][0], strict=True))
    assert row["breach_rate"] == pytest.approx(rate) and row["tickets"] == raw["n"]


def test_agents_by_team_subtotals_are_each_teams_own_average(ctx, demo):
    view, scope = _view(ctx, demo, "Customer Service & CSAT")
    r = _widget(view, "Agents by team")
    exact = ctx.warehouse.run(
        {
            "source": "conversations",
            "metrics": [
                {"agg": "avg", "column": "csat_score", "as": "csat"},
                {"agg": "count", "as": "conversations"},
                {"agg": "avg", "column": "resolved", "as": "resolution_rate"},
            ],
            "group_by": ["team_name"],
            "filters": [_window_filter(view, "conversations")],
        },
        scope,
        now=NOW,
    ).frame.set_index("team_name")
    assert r.subtotals is not None and set(r.subtotals["team_name"]) == set(exact.index)
    table = table_with_subtotals(r.frame, r.spec.table, totals=r.totals, subtotals=r.subtotals)
    subs = table[table["_row_kind"] == "subtotal"]
    assert len(subs) == len(exact)
    for _, row in subs.iterrows():
        team = row["team_name"].removeprefix("Subtotal ")
        assert row["csat"] == pytest.approx(exact.loc[team, "csat"])
        assert 1 <= row["csat"] <= 5  # an average of 1-5 scores, never their sum
        assert row["conversations"] == exact.loc[team, "conversations"]
        assert 0 <= row["resolution_rate"] <= 1
    total = table[table["_row_kind"] == "total"].iloc[0]
    assert 1 <= total["csat"] <= 5 and total["conversations"] == r.frame["conversations"].sum()

    payload = dashboards.widget_payload(r)
    assert len(payload["subtotals"]["rows"]) == len(exact)


def test_kpi_over_a_grouped_query_counts_every_row(ctx, demo):
    analyst = demo[("acme", "analyst")]
    grouped = {
        "source": "tickets",
        "metrics": [{"agg": "count", "as": "tickets"}],
        "group_by": ["priority"],
        "sort": [{"by": "tickets", "desc": False}],
    }
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        d = dashboards.create_dashboard(
            s, a, {"name": "KPI grouped", "filters": {"time_range": "2026-09-01..2026-10-01"}}
        )
        w = dashboards.add_widget(
            s,
            a,
            d.id,
            {"type": "kpi", "title": "Tickets", "query": grouped, "kpi": {"value": "tickets"}},
        )
        r = dashboards.widget_result(s, a, ctx.warehouse, d.id, w.id, now=NOW)
        payload = dashboards.widget_payload(r)
        by_priority = ctx.warehouse.run(
            {
                **grouped,
                "filters": [{"column": "opened_at", "op": "between", "value": "2026-09-01..2026-10-01"}],
            },
            a.scope,
            now=NOW,
        ).frame
    total = int(by_priority["tickets"].sum())
    assert len(by_priority) > 1 and total > int(by_priority["tickets"].iloc[0])
    assert r.kpi is not None and r.kpi.value == total
    assert r.query is not None and r.query.group_by == [] and r.query.sort == []
    assert payload["kpi"]["value"] == total and payload["rows"] == [[total]]
    assert payload["kpi"]["text"] == r.kpi.shown.text == f"{total:,}"  # the card and the API agree


def test_payload_names_and_formats_columns(ctx, demo):
    view, _ = _view(ctx, demo, "Operations & SLA")
    r = _widget(view, "SLA by team")
    display = dashboards.widget_payload(r)["display"]
    assert display["labels"]["team_name"] == "Team"
    assert display["labels"]["breach_rate"] == "Breach rate"
    assert display["labels"]["avg_resolution_h"] == "Avg resolution (h)"
    assert display["formats"] == {
        "team_name": "text",
        "tickets": "integer",
        "breach_rate": "percent",
        "avg_resolution_h": "duration_h",
        "reopened": "integer",
    }
    weekly = _widget(view, "Tickets per week by priority")
    assert weekly.display is not None and weekly.display.buckets == {"week": "week"}
    start, end = weekly.display.window
    assert end == NOW and start is not None and start.date() == pd.Timestamp("2026-08-03").date()


def test_empty_title_is_refused_naming_the_field(ctx, demo):
    analyst = demo[("acme", "analyst")]
    chart = {
        "type": "chart",
        "title": "  ",
        "query": {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["team_name"]},
        "chart": {"viz": "bar", "x": "team_name", "y": ["n"]},
    }
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        d = dashboards.create_dashboard(s, a, {"name": "Titles"})
        with pytest.raises(InvalidSpec) as err:
            dashboards.add_widget(s, a, d.id, chart)
        assert err.value.field == "spec.title" and "title" in err.value.message
        untitled = {k: v for k, v in chart.items() if k != "title"}
        with pytest.raises(InvalidSpec) as err:
            dashboards.add_widget(s, a, d.id, untitled)
        assert err.value.field == "spec.title"
        # Text widgets may go without one.
        dashboards.add_widget(s, a, d.id, {"type": "text", "text": "Notes"})


def test_rest_api_refuses_an_untitled_widget_with_422(module_api, redis_client):
    from portal.demo.accounts import DEV_PASSWORD

    s = module_api.login("analyst@acme.example.com", DEV_PASSWORD)
    base = module_api.base
    d = s.post(f"{base}/api/dashboards", json={"name": "Untitled widgets"})
    assert d.status_code == 201, d.text
    spec = {
        "type": "kpi",
        "title": "",
        "query": {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]},
        "kpi": {"value": "n"},
    }
    r = s.post(f"{base}/api/widgets", json={"dashboard_id": d.json()["id"], "spec": spec})
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "spec.title" and "title" in r.json()["message"]
    ok = s.post(f"{base}/api/widgets", json={"dashboard_id": d.json()["id"], "spec": {**spec, "title": "N"}})
    assert ok.status_code == 201, ok.text


# --------------------------------------------------------------------------- the widget editor
def _editor(ctx, demo, saved: list):
    from components.widget_editor import WidgetEditor

    with transaction(ctx.sessions) as s:
        scope = as_principal(s, demo[("acme", "analyst")]).scope
    return WidgetEditor(ctx.warehouse, scope, on_save=saved.append)


def _find(viewable, kind, **match):
    """The Panel widgets of type ``kind`` in a rendered layout whose params match."""
    found = []
    for obj in viewable.select(kind):
        if all(getattr(obj, k, None) == v for k, v in match.items()):
            found.append(obj)
    return found


def test_editor_kpi_drops_the_default_group_by_and_says_when_one_is_added(ctx, demo):
    import panel as pn

    saved: list = []
    ed = _editor(ctx, demo, saved)
    assert ed.builder.spec["group_by"]  # the default query groups by priority
    ed.wtype = "kpi"
    assert ed.builder.spec["group_by"] == [] and not ed.note.visible
    card = ed.preview.objects[0]
    total = int(
        ctx.warehouse.run({"source": "tickets", "metrics": [{"agg": "count"}]}, ed.scope).frame.iloc[0, 0]
    )
    assert f"{total:,}" in card.object
    # A group-by added to a KPI is ignored, and the editor says so; the preview stays the total.
    ed.builder.load({**ed.builder.spec, "group_by": ["priority"]})
    assert ed.note.visible and "group" in ed.note.object and "priority" in ed.note.object
    assert f"{total:,}" in ed.preview.objects[0].object
    ed.title = "All tickets"
    ed._save()
    assert saved and saved[0]["type"] == "kpi"
    assert isinstance(ed.__panel__(), pn.Column)


def test_editor_refuses_an_empty_title_and_labels_the_refresh_field(ctx, demo):
    import panel as pn

    saved: list = []
    ed = _editor(ctx, demo, saved)
    ed.wtype = "table"
    assert ed.preview.objects and not ed.message.visible  # the preview does not wait for a title
    ed._save()
    assert saved == [] and ed.message.visible and "title" in ed.message.object
    layout = ed.__panel__()
    (refresh,) = _find(layout, pn.widgets.IntInput, css_classes=["refresh-interval"])
    assert "refresh" in refresh.name.lower()
    (title,) = [w for w in _find(layout, pn.widgets.TextInput) if w.placeholder.startswith("Title")]
    assert title.name == "Title"
    ed.title = "Tickets by priority"
    ed._save()
    assert len(saved) == 1 and saved[0]["title"] == "Tickets by priority" and not ed.message.visible


def test_a_table_without_options_gets_its_total_from_the_warehouse(ctx, demo):
    analyst = demo[("acme", "analyst")]
    q = {
        "source": "tickets",
        "metrics": [{"agg": "avg", "column": "sla_breached", "as": "rate"}],
        "group_by": ["priority"],
    }
    with transaction(ctx.sessions) as s:
        a = as_principal(s, analyst)
        d = dashboards.create_dashboard(s, a, {"name": "Plain table"})
        w = dashboards.add_widget(s, a, d.id, {"type": "table", "title": "Rates", "query": q})
        payload = dashboards.widget_data(s, a, ctx.warehouse, d.id, w.id, now=NOW)
        overall = ctx.warehouse.run({**q, "group_by": []}, a.scope, now=NOW).frame["rate"].iloc[0]
    assert payload["totals"]["columns"] == ["rate"]
    assert payload["totals"]["rows"][0][0] == pytest.approx(overall)
    assert "subtotals" not in payload
