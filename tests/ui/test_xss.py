"""Stored XSS: a payload in every user-editable text field must show as text, never run.

Everything is planted first (REST API; a hostile report ``viz`` row also straight into the metadata
database, as data stored before ``viz`` entries were validated; the new-dashboard toast and two
editor messages through the UI, their only path), then every page is opened once. On each page:
no dialog opened, ``window.__xss`` (set by every payload) is undefined, and the payload is
visible as literal text where a user expects it, so the test cannot pass because nothing rendered.
Screenshots go to tests/ui/artifacts/.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Locator, Page, expect

from tests.ui.conftest import login
from tests.ui.test_portal import plot_geometry

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
    # bokeh's ColumnDataSource(DataFrame) on pandas 3 (test_hostile_data_values serves it in-process)
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated"),
]

PASSWORD = "conductor-demo"
ANALYST = "analyst@acme.example.com"
GLOBEX_ANALYST = "analyst@globex.example.com"
TIMEOUT = 20_000
expect.set_options(timeout=TIMEOUT)

# Every payload counts itself in window.__xss and opens a dialog.
# Attributes are quoted: that makes them raw HTML for Markdown (CommonMark) too, not only for innerHTML.
JS = "window.__xss=(window.__xss||0)+1;alert(document.domain)"
IMG = f'<img src=x onerror="{JS}">'
SVG = f'<svg onload="{JS}">'
SCRIPT = f"<script>{JS}</script>"
IFRAME = f'<iframe src="javascript:{JS}"></iframe>'


def p(tag: str, vector: str = IMG) -> str:
    """A payload that names its field (``tag``), so each one can be found on the page."""
    return f"{tag} {vector}"


# Dashboard, widgets and report fields.
DASH_NAME, DASH_DESC = p("DN"), p("DD", SVG)
CHART_TITLE, CHART_HEAD, X_LABEL, Y_LABEL = p("WC"), p("CT", SVG), p("XL"), p("YL")
KPI_TITLE, KPI_LABEL = p("WK", SVG), p("KL")
TABLE_TITLE, TEXT_TITLE = p("WT"), p("WX", IFRAME)
FILTER_VALUE = p("FV")
MARKDOWN = "\n\n".join(
    [
        "## Markdown payloads",
        p("MI"),
        p("MS", SCRIPT),
        p("MV", SVG),
        f"[MJ click](javascript:{JS})",
        f'<a href="javascript:{JS}">MA raw link</a>',
        f"![MG](javascript:{JS})",
    ]
)
UI_NAME = p("UN")  # created through the home page: the toast
SEARCH = p("SR")  # typed in the home page search: "No dashboards … matching …"
GLOBAL_CUSTOMER, GLOBAL_TEAM = p("GC"), p("GT", SVG)
REPORT_NAME, REPORT_DESC, REPORT_FILTER = p("RN"), p("RD", SVG), p("RF")
VIZ_KIND, VIZ_X, VIZ_TITLE = p("VK"), p("VX", SVG), p("VT")
# Typed into a numeric filter of the widget editor; error messages quote only the first 60 characters.
EDITOR_VALUE = p("QB", '<img src=x onerror="__xss=1;alert(1)">')


# --------------------------------------------------------------------------- helpers
def api_session(base: str, email: str) -> requests.Session:
    r = requests.post(f"{base}/api/tokens", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


def ok(r: requests.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, f"{r.request.method} {r.url}: {r.status_code} {r.text}"
    return r.json() if r.content else {}


def count_query(group_by: str, filters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "source": "tickets",
        "metrics": [{"agg": "count", "as": "n"}],
        "group_by": [group_by],
        "filters": filters or [],
    }


class Watch:
    """Collects what went wrong on the pages (all of it, then one assertion at the end).

    Dialogs are dismissed so the page goes on; ``clean`` checks that no payload ran on the current
    page; ``see`` that a payload is shown as text.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.problems: list[str] = []
        page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}({dialog.message})")
        dialog.dismiss()

    def clean(self, where: str) -> None:
        self.page.wait_for_timeout(400)  # onerror / onload handlers run asynchronously
        ran = self.page.evaluate("() => { const n = window.__xss; delete window.__xss; return n; }")
        if self.dialogs or ran is not None:
            self.problems.append(f"{where}: script ran (dialogs {self.dialogs}, __xss={ran})")
        self.dialogs = []

    def see(self, locator: Locator, what: str, timeout: float = TIMEOUT) -> None:
        try:
            expect(locator).to_be_visible(timeout=timeout)
        except AssertionError:
            self.problems.append(f"{what}: not shown as text")


def text(page: Page | Locator, literal: str) -> Locator:
    return page.get_by_text(literal, exact=False).first


# Every text of the bokeh models of the page: titles, axis labels (canvas text, not in the DOM).
BOKEH_TEXTS_JS = """() => {
  const out = [];
  for (const doc of Bokeh.documents) {
    for (const m of doc.all_models) {
      if (m.type === "Title" && m.text) out.push(m.text);
      if ("axis_label" in m && m.axis_label) out.push(String(m.axis_label));
    }
  }
  return out;
}"""


def bokeh_texts(page: Page) -> list[str]:
    return page.evaluate(BOKEH_TEXTS_JS)


def tile(page: Page, title: str) -> Locator:
    return page.locator(".cbi-widget").filter(has=page.locator(".widget-title", has_text=title))


# --------------------------------------------------------------------------- planting
def plant_dashboard(base: str, s: requests.Session) -> int:
    d = ok(s.post(f"{base}/api/dashboards", json={"name": DASH_NAME, "description": DASH_DESC}), 201)
    widgets = [
        (
            {
                "type": "chart",
                "title": CHART_TITLE,
                "query": count_query(
                    "team_name", [{"column": "customer_name", "op": "!=", "value": FILTER_VALUE}]
                ),
                "chart": {
                    "viz": "bar",
                    "x": "team_name",
                    "y": ["n"],
                    "title": CHART_HEAD,
                    "x_label": X_LABEL,
                    "y_label": Y_LABEL,
                },
                "drilldown": {"hierarchy": ["team_name", "agent_name"]},
            },
            {"x": 0, "y": 0, "w": 6, "h": 4},
        ),
        (
            {
                "type": "kpi",
                "title": KPI_TITLE,
                "query": {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]},
                "kpi": {"value": "n", "label": KPI_LABEL},
            },
            {"x": 6, "y": 0, "w": 3, "h": 2},
        ),
        (
            {"type": "table", "title": TABLE_TITLE, "query": count_query("priority")},
            {"x": 6, "y": 2, "w": 6, "h": 4},
        ),
        ({"type": "text", "title": TEXT_TITLE, "text": MARKDOWN}, {"x": 0, "y": 4, "w": 6, "h": 4}),
    ]
    for spec, position in widgets:
        ok(
            s.post(f"{base}/api/widgets", json={"dashboard_id": d["id"], "spec": spec, "position": position}),
            201,
        )
    return int(d["id"])


def plant_report(base: str, s: requests.Session, home: Path) -> int:
    query = count_query("priority", [{"column": "customer_name", "op": "!=", "value": REPORT_FILTER}])
    good = {"viz": "column", "x": "priority", "y": ["n"], "title": VIZ_TITLE}
    body = {"name": REPORT_NAME, "description": REPORT_DESC, "query": query, "viz": [good]}
    rid = int(ok(s.post(f"{base}/api/reports", json=body), 201)["id"])
    # Hostile viz entries through the API: rejected (422) once viz entries are validated as ChartSpec.
    hostile = [
        {"viz": VIZ_KIND, "x": "priority", "y": ["n"]},
        {"foo": 1},
        {"viz": "bar", "x": VIZ_X, "y": ["n"]},
    ]
    r = s.post(f"{base}/api/reports", json={**body, "name": "hostile viz", "viz": hostile})
    assert r.status_code in (201, 422), r.text
    r = s.put(f"{base}/api/reports/{rid}", json={**body, "viz": [good, *hostile]})
    assert r.status_code in (200, 422), r.text
    # As stored before the validation existed: straight into the metadata database.
    with sqlite3.connect(home / "conductor.sqlite3") as db:
        db.execute("UPDATE reports SET viz_json = ? WHERE id = ?", (json.dumps([good, *hostile]), rid))
    assert ok(s.get(f"{base}/api/reports/{rid}"))["viz"][1]["viz"] == VIZ_KIND
    return rid


def check_report(
    page: Page, watch: Watch, shot: Callable[..., Path], s: requests.Session, base: str, rid: int
) -> None:
    """The payload report: fields as text, one box per broken viz, the rest rendered; remove and save."""
    page.goto(f"{base}/reports?id={rid}")
    vizzes = page.locator(".report-viz")
    try:
        expect(page.get_by_placeholder("Report name")).to_have_value(REPORT_NAME)
    except AssertionError:
        shot(page, "report-broken")
        watch.problems.append("report with hostile viz rows: the page did not render")
        watch.clean("report with hostile viz rows")
        return
    expect(page.locator("textarea")).to_have_value(REPORT_DESC)
    expect(page.locator(".qb-filter input").first).to_have_value(REPORT_FILTER)
    expect(vizzes).to_have_count(4)
    expect(vizzes.nth(0).locator("canvas").first).to_be_visible()
    expect(vizzes.nth(0).locator(".alert")).to_have_count(0)
    for i in (1, 2, 3):
        expect(vizzes.nth(i).locator(".alert")).to_be_visible()
    watch.see(text(vizzes.nth(1), VIZ_KIND), "report viz: unknown kind")
    watch.see(text(vizzes.nth(3), VIZ_X), "report viz: unknown x column")
    expect(page.get_by_text(re.compile("Traceback|KeyError"))).to_have_count(0)
    if not any(VIZ_TITLE in t for t in bokeh_texts(page)):
        watch.problems.append("report viz title: not in the chart")
    vizzes.nth(1).scroll_into_view_if_needed()
    shot(page, "report")
    watch.clean("report with hostile viz rows")
    # Remove the broken ones and save: the toast names the report.
    for left in (3, 2, 1):
        vizzes.nth(1).get_by_role("button", name="Remove").click()
        expect(vizzes).to_have_count(left)
    page.get_by_role("button", name="Save report").click()
    watch.see(page.locator(".notyf__message", has_text=REPORT_NAME), "toast: report saved")
    watch.clean("report saved")
    shot(page, "report-saved")
    assert len(ok(s.get(f"{base}/api/reports/{rid}"))["viz"]) == 1


# --------------------------------------------------------------------------- the test
def test_no_stored_xss(page: Page, portal_url: str, portal_home: Path, shot: Callable[..., Path]) -> None:
    started = time.monotonic()
    base = portal_url
    s = api_session(base, ANALYST)
    did = plant_dashboard(base, s)
    rid = plant_report(base, s, portal_home)
    other_rid = ok(api_session(base, GLOBEX_ANALYST).get(f"{base}/api/reports"))["reports"][0]["id"]

    watch = Watch(page)
    login(page, base, ANALYST)
    expect(page).to_have_url(f"{base}/")

    # -- home: create a dashboard named with a payload (the toast), search for a payload
    cards = page.locator(".dashboard-card")
    expect(cards.first).to_be_visible()
    before = cards.count()
    page.get_by_placeholder("New dashboard name").fill(UI_NAME)
    page.get_by_role("button", name="Create dashboard").click()
    expect(cards).to_have_count(before + 1)
    watch.see(page.locator(".notyf__message", has_text=f"Created {UI_NAME}"), "toast: new dashboard name")
    watch.see(page.locator(".dashboard-card a", has_text=UI_NAME), "home card: name")
    watch.see(page.locator(".dashboard-card a", has_text=DASH_NAME), "home card: name")
    watch.see(text(page, DASH_DESC), "home card: description")
    watch.clean("home, after creating a dashboard")
    shot(page, "home-created")  # after the toast's entry animation
    search = page.get_by_placeholder("Search dashboards…")
    search.fill(SEARCH)
    search.press("Enter")
    expect(text(page, "No dashboards in")).to_be_visible()
    watch.see(text(page, SEARCH), "home: search text in 'No dashboards … matching'")
    shot(page, "home-search")
    watch.clean("home, search")
    ui_id = next(
        d["id"]
        for d in ok(s.get(f"{base}/api/dashboards", params={"group": "mine"}))["dashboards"]
        if d["name"] == UI_NAME
    )
    filters = {"customer": [GLOBAL_CUSTOMER], "team": [GLOBAL_TEAM]}
    ok(s.put(f"{base}/api/dashboards/{ui_id}", json={"filters": filters}))

    # -- the payload dashboard, view mode
    page.goto(f"{base}/dashboard?id={did}")
    expect(page.locator(".cbi-widget")).to_have_count(4)
    expect(page.locator(".cbi-widget canvas").first).to_be_visible()
    for literal, what in (
        (DASH_NAME, "dashboard name"),
        (DASH_DESC, "dashboard description"),
        (CHART_TITLE, "chart widget title"),
        (KPI_TITLE, "kpi widget title"),
        (TABLE_TITLE, "table widget title"),
        (TEXT_TITLE, "text widget title"),
        (KPI_LABEL, "kpi label"),
    ):
        watch.see(text(page, literal), what)
    notes = tile(page, "WX ")
    for tag in ("MI", "MS", "MV"):
        watch.see(notes.get_by_text(re.compile(rf"{tag} <")), f"text widget Markdown {tag}")
    expect(page.locator("a[href^='javascript' i], iframe")).to_have_count(0)
    expect(tile(page, "WT ").locator(".tabulator-row").first).to_be_visible()
    texts = bokeh_texts(page)
    for literal, what in ((CHART_HEAD, "chart title"), (X_LABEL, "x_label"), (Y_LABEL, "y_label")):
        if not any(literal in t for t in texts):
            watch.problems.append(f"{what}: not in the chart ({texts})")
    shot(page, "dashboard")
    watch.clean("dashboard")

    # hover (tooltip labels are the axis labels) and drill into the top bar
    chart = tile(page, "WC ")
    page.wait_for_function("() => window.Bokeh && Bokeh.index && Bokeh.index.roots.length > 0")
    geo = None
    deadline = time.time() + 15
    while not (geo and geo["factors"]) and time.time() < deadline:
        page.wait_for_timeout(200)
        geo = plot_geometry(page, chart)
    assert geo and geo["factors"], "no bars in the payload chart"
    page.mouse.move(geo["left"] + 12, geo["ys"][-1])
    watch.see(page.locator(".bk-tooltip-row-label", has_text=X_LABEL).first, "chart tooltip: x_label")
    shot(page, "tooltip")
    page.mouse.click(geo["left"] + 12, geo["ys"][-1])
    expect(page.locator(".breadcrumb")).to_contain_text(f"team_name = {geo['factors'][-1]}")
    watch.see(text(page, CHART_TITLE), "chart widget title, drilled")
    shot(page, "drilled")
    watch.clean("dashboard, drilled")

    # -- edit mode and the widget editor (a payload in a numeric filter: two error messages)
    page.locator(".edit-toggle button").click()
    expect(page.locator(".add-widget button")).to_be_visible()
    watch.see(text(page, KPI_TITLE), "kpi widget title, edit mode")
    page.locator(".add-widget button").click()
    ed = page.locator(".widget-editor")
    expect(ed).to_be_visible()
    ed.get_by_placeholder("Title").fill(p("ET"))
    ed.get_by_role("button", name="+ filter").click()
    row = ed.locator(".qb-filter")
    row.locator("select").first.select_option("ticket_id")
    value = row.get_by_placeholder(re.compile("value"))
    value.fill(EDITOR_VALUE)
    value.press("Enter")
    expect(ed.locator(".alert-danger:visible")).to_have_count(2)
    for i, what in enumerate(("query builder message", "widget editor message")):
        watch.see(ed.locator(".alert-danger:visible").nth(i).get_by_text(EDITOR_VALUE), what, 3000)
    ed.locator(".alert-danger:visible").last.scroll_into_view_if_needed()
    shot(page, "editor")
    watch.clean("widget editor")
    ed.get_by_role("button", name="Cancel").click()

    # -- the dashboard with payload global filters (the one created through the UI)
    page.goto(f"{base}/dashboard?id={ui_id}")
    expect(page.locator(".global-filters")).to_be_visible()
    watch.see(text(page, UI_NAME), "dashboard name (created in the UI)")
    bar = page.locator(".global-filters")
    watch.see(text(bar, GLOBAL_CUSTOMER), "global filter: customer")
    watch.see(text(bar, GLOBAL_TEAM), "global filter: team")
    shot(page, "global-filters")
    watch.clean("dashboard with global filters")

    # -- report builder: new, the payload report, missing and other tenant's reports
    page.goto(f"{base}/reports")
    expect(page.get_by_role("button", name="Save report")).to_be_visible()
    watch.clean("new report")

    check_report(page, watch, shot, s, base, rid)

    for missing in (999_999, other_rid, 10**22):
        page.goto(f"{base}/reports?id={missing}")
        watch.see(
            page.get_by_text(f"Report {missing} was not found."), f"report {missing}: not-found message"
        )
        if page.get_by_role("button", name="Save report").count():
            watch.problems.append(f"report {missing}: an empty report builder instead of the message")
        watch.clean(f"missing report {missing}")
    shot(page, "report-missing")
    print(f"test_xss: {time.monotonic() - started:.1f} s")
    assert not watch.problems, "\n".join(watch.problems)


# --------------------------------------------------------------------------- values from the data
def test_hostile_data_values(page: Page, shot: Callable[..., Path]) -> None:
    """Text from the warehouse (customer names...) is shown as text too: table cells, chart
    categories and their tooltips, the options of the global filters. The tiny portal's warehouse
    cannot hold such values (the server owns its file), so the same components are served alone."""
    import pandas as pd
    import panel as pn
    import param

    from components.session import escaped_options
    from components.widget_view import render_widget
    from portal.infra.redis_server import free_port
    from portal.specs import WidgetSpec

    values = [p("D1"), p("D2", SVG), p("D3", SCRIPT), "Smith & Sons <Ltd>"]
    data = pd.DataFrame([[v, 10 * (i + 1)] for i, v in enumerate(values)], columns=["customer_name", "n"])
    query = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}], "group_by": ["customer_name"]}
    table = WidgetSpec.model_validate({"type": "table", "title": "Customers", "query": query})
    chart = WidgetSpec.model_validate(
        {
            "type": "chart",
            "title": "Customers",
            "query": query,
            "chart": {"viz": "bar", "x": "customer_name", "y": ["n"]},
        }
    )

    class Filters(param.Parameterized):
        customer = param.ListSelector(default=[], objects=[])

    def app() -> Any:
        f = Filters()
        f.param.customer.objects = escaped_options(values)
        f.customer = values[:2]
        return pn.Column(
            pn.widgets.MultiChoice.from_param(f.param.customer, name="Customer", width=500),
            pn.Column(render_widget(table, data), height=260, width=700, css_classes=["t"]),
            pn.Column(render_widget(chart, data), height=320, width=700, css_classes=["c"]),
        )

    port = free_port()
    server = pn.serve(
        {"app": app},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}"],
        threaded=True,
        show=False,
        verbose=False,
    )
    try:
        deadline = time.time() + 30
        while True:  # the server thread starts listening a moment later
            try:
                if requests.get(f"http://127.0.0.1:{port}/app", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "the Panel test server did not start"
            time.sleep(0.2)
        watch = Watch(page)
        page.goto(f"http://127.0.0.1:{port}/app")
        cells = page.locator(".t .tabulator-cell")
        expect(page.locator(".t .tabulator-row").first).to_be_visible()
        for v in values:
            watch.see(cells.filter(has_text=v).first, f"table cell {v[:3]}")
        choices = page.locator(".choices__item--selectable")
        for v in values[:2]:
            watch.see(choices.filter(has_text=v).first, f"filter choice {v[:3]}")
        page.locator(".choices").first.click()  # opens the list: every option as text
        for v in values[2:]:
            watch.see(page.locator(".choices__item--choice", has_text=v).first, f"filter option {v[:3]}")
        page.keyboard.press("Escape")
        chart_box = page.locator(".c")
        page.wait_for_function("() => window.Bokeh && Bokeh.index && Bokeh.index.roots.length > 0")
        geo = None
        deadline = time.time() + 15
        while not (geo and geo["factors"]) and time.time() < deadline:
            page.wait_for_timeout(200)
            geo = plot_geometry(page, chart_box)
        assert geo and set(geo["factors"]) == set(values), geo
        top = geo["factors"][-1]
        page.mouse.move(geo["left"] + 8, geo["ys"][-1])
        watch.see(page.locator(".bk-tooltip-row-value", has_text=top).first, "chart tooltip value")
        shot(page, "data-values")
        watch.clean("hostile data values")
        assert not watch.problems, "\n".join(watch.problems)
    finally:
        server.stop()
