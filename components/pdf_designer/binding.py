"""The binding panel of a data element: a saved report or an inline query, and the result's
columns the element reads (chart x / y / series, table columns and subtotals, KPI value,
section group).

The pure half (:func:`query_columns`, :func:`rebind`) is unit-tested; :class:`BindingEditor`
shows one element at a time and hands the edited element (JSON) to ``on_change``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import panel as pn

from components.pdf_designer.edits import DATA_KINDS, DataDefault
from components.query_builder import QueryBuilder
from components.session import escape_md, escaped_options
from portal.data.catalog import Catalog
from portal.errors import PortalError
from portal.identity.scope import Scope
from portal.specs import QuerySpec, parse_spec
from portal.specs.widget import VIZ_TYPES

log = logging.getLogger(__name__)

REPORT, QUERY, SECTION_ROWS = "Saved report", "Inline query", "Section's rows"


@dataclass(frozen=True)
class ReportChoice:
    """A saved report the caller may bind to, with its result's columns."""

    id: int
    name: str
    data: DataDefault


def query_columns(query: Any) -> tuple[list[str], list[str]]:
    """``(dimensions, metrics)`` of a query's result (raw columns count as dimensions); empty when invalid."""
    try:
        q = parse_spec(QuerySpec, query)
    except PortalError:
        return [], []
    return [*(g.name for g in q.group_by), *q.columns], [m.name for m in q.metrics]


def report_choice(report_id: int, name: str, query: Any) -> ReportChoice:
    """A report as the binding panel lists it."""
    dims, mets = query_columns(query)
    return ReportChoice(report_id, name, DataDefault({"report_id": report_id}, dims, mets))


def default_data(reports: list[ReportChoice]) -> DataDefault | None:
    """What a new data element binds to: the first saved report with a dimension and a metric
    (a chart needs both), else the first report at all; None when there is none."""
    for r in reports:
        if r.data.dimensions and r.data.metrics:
            return r.data
    return reports[0].data if reports else None


def inline_default(catalog: Catalog) -> DataDefault | None:
    """An inline query for a new data element when there is no saved report: rows per the first
    text column of the first source."""
    for s in catalog.sources:
        dim = next((c.name for c in s.columns if c.type == "string"), None)
        if dim:
            q = {"source": s.name, "group_by": [dim], "metrics": [{"agg": "count", "as": "rows"}]}
            return DataDefault({"query": q}, [dim], ["rows"])
    return None


def rebind(element: dict[str, Any], data: DataDefault) -> dict[str, Any]:
    """``element`` bound to ``data``; the columns it reads that the new result lacks are replaced
    by ones it has (chart x / y / series, KPI value, section group, table columns and subtotals)."""
    out = {**element, "binding": dict(data.binding)}
    cols = data.columns
    if not cols:
        return out
    dims = data.dimensions or cols[:1]
    mets = data.metrics or [c for c in cols if c not in dims[:1]] or cols
    kind = element.get("kind")
    if kind == "chart":
        chart = dict(element.get("chart") or {})
        if chart.get("x") not in cols:
            chart["x"] = dims[0]
        ys = [y for y in chart.get("y") or [] if y in cols and y != chart["x"]]
        chart["y"] = ys or [next((m for m in mets if m != chart["x"]), mets[0])]
        if chart.get("series") not in cols or chart.get("series") in (chart["x"], *chart["y"]):
            chart["series"] = None
            if chart.get("viz") == "heatmap":
                chart["viz"] = "column"
        out["chart"] = chart
    elif kind == "kpi":
        kpi = dict(element.get("kpi") or {})
        if kpi.get("value") not in cols:
            kpi["value"] = mets[0]
        out["kpi"] = kpi
    elif kind == "section":
        if element.get("group_by") not in cols:
            out["group_by"] = dims[0]
    elif kind == "table":
        out["columns"] = [c for c in element.get("columns") or [] if c.get("name") in cols]
        if element.get("subtotals_by") not in cols:
            out["subtotals_by"] = None
    return out


def element_columns(element: dict[str, Any], reports: list[ReportChoice]) -> DataDefault | None:
    """The result columns of the element's own binding (None: a report not listed, or no binding)."""
    b = element.get("binding") or {}
    if b.get("report_id") is not None:
        return next((r.data for r in reports if r.id == b["report_id"]), None)
    if b.get("query") is not None:
        dims, mets = query_columns(b["query"])
        return DataDefault(dict(b), dims, mets)
    return None


class BindingEditor(pn.viewable.Viewer):
    """Where the selected data element's rows come from and which columns it reads."""

    def __init__(
        self,
        catalog: Catalog,
        scope: Scope | None,
        reports: list[ReportChoice],
        on_change: Callable[[dict[str, Any]], None],
    ) -> None:
        super().__init__()
        self.catalog, self.scope, self.reports = catalog, scope, reports
        self.on_change = on_change
        self.element: dict[str, Any] | None = None
        self._loading = False
        self._builder: QueryBuilder | None = None
        self._mode = pn.widgets.RadioButtonGroup(
            options=[REPORT, QUERY],
            value=REPORT,
            button_type="primary",
            button_style="outline",
            css_classes=["binding-mode"],
        )
        self._report = pn.widgets.Select(
            name="Saved report",
            options={r.name: r.id for r in reports},
            width=320,
            css_classes=["binding-report"],
        )
        #: The inline query builder: wider than the side panel, so the designer shows it under the page.
        self._builder_box = pn.Column(
            sizing_mode="stretch_width", visible=False, css_classes=["binding-query"]
        )
        self._x = pn.widgets.Select(
            name="X (category / time)", options=[], width=155, css_classes=["binding-x"]
        )
        self._y = pn.widgets.MultiChoice(name="Y (values)", options={}, width=320, css_classes=["binding-y"])
        self._series = pn.widgets.Select(
            name="Series", options=[""], width=155, css_classes=["binding-series"]
        )
        self._viz = pn.widgets.Select(
            name="Chart", options=list(VIZ_TYPES), width=155, css_classes=["binding-viz"]
        )
        self._columns = pn.widgets.MultiChoice(
            name="Table columns (none: every column)", options={}, width=320, css_classes=["binding-columns"]
        )
        self._subtotals = pn.widgets.Select(
            name="Subtotals by", options=[""], width=320, css_classes=["binding-subtotals"]
        )
        self._value = pn.widgets.Select(
            name="KPI value", options=[], width=320, css_classes=["binding-kpi-value"]
        )
        self._group = pn.widgets.Select(
            name="Section per", options=[], width=320, css_classes=["binding-group"]
        )
        self._note = pn.pane.Markdown("", css_classes=["binding-note"], margin=(0, 10))
        self._fields = pn.Column(margin=0)
        self._chart_fields = [pn.Row(self._viz, self._x, margin=0), self._y, self._series]
        self._mode.param.watch(lambda e: self._mode_changed(e.new), "value")
        self._report.param.watch(lambda e: self._report_changed(e.new), "value")
        for w in (
            self._x,
            self._y,
            self._series,
            self._viz,
            self._columns,
            self._subtotals,
            self._value,
            self._group,
        ):
            w.param.watch(lambda *_: self._fields_changed(), "value")
        self._empty = pn.pane.Markdown(
            "Select a chart, table, KPI or section on the canvas to choose its data.",
            css_classes=["binding-empty"],
        )
        self._query_hint = pn.pane.Markdown(
            "*The query is edited under the page ↓*", margin=(0, 10), css_classes=["binding-query-hint"]
        )
        self._body = pn.Column(
            self._mode, self._report, self._query_hint, self._note, self._fields, visible=False, margin=0
        )
        self._query_head = pn.pane.HTML("", margin=(5, 10))
        #: Shown by the designer under the page (full width) while an inline query is edited.
        self.query_panel = pn.Column(
            self._query_head,
            self._builder_box,
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["binding-query-panel"],
            styles={"border-top": "1px solid #e2e8f0", "margin-top": "8px"},
        )

    # -- showing an element ------------------------------------------------------
    def edit(self, element: dict[str, Any] | None, *, in_section: bool = False) -> None:
        """Edit ``element`` (its JSON), or nothing when it is None or not a data element."""
        self.element = element
        if element is None or element.get("kind") not in DATA_KINDS:
            self._body.visible, self._empty.visible = False, True
            self.query_panel.visible = False
            return
        self._body.visible, self._empty.visible = True, False
        self._loading = True
        try:
            self._mode.options = [REPORT, QUERY, SECTION_ROWS] if in_section else [REPORT, QUERY]
            b = element.get("binding") or {}
            if b.get("query") is not None:
                self._mode.value = QUERY
                self._load_builder(b["query"])
            elif b.get("report_id") is not None:
                self._mode.value = REPORT
                if b["report_id"] not in self._report.options.values():
                    self._report.options = {
                        **self._report.options,
                        f"report {b['report_id']}": b["report_id"],
                    }
                self._report.value = b["report_id"]
            else:
                self._mode.value = SECTION_ROWS
            self._show_mode()
            self._show_fields(element)
        finally:
            self._loading = False

    def _show_mode(self) -> None:
        self._report.visible = self._mode.value == REPORT
        self._query_hint.visible = self._mode.value == QUERY
        self._builder_box.visible = self._mode.value == QUERY
        self.query_panel.visible = self._body.visible and self._mode.value == QUERY
        self._query_head.object = (
            f"<b>Inline query of <code>{html.escape(str((self.element or {}).get('id', '')))}</code></b>"
        )
        if self._mode.value == REPORT and not self.reports:
            self._note.object = "*No saved report is visible to you: build an inline query instead.*"
        elif self._mode.value == SECTION_ROWS:
            self._note.object = "*Reads the section's rows (its own group only).*"
        else:
            self._note.object = ""

    def _load_builder(self, query: dict[str, Any] | None) -> None:
        if self.scope is None:
            return
        if self._builder is None:
            self._builder = QueryBuilder(self.catalog, self.scope, initial=query)
            self._builder.param.watch(lambda *_: self._query_changed(), "spec")
            self._builder_box.objects = [self._builder]
        elif query is not None:
            try:
                self._builder.load(query)
            except PortalError as exc:
                log.info("binding: cannot show the query: %s", exc.message)

    def _columns_now(self) -> DataDefault | None:
        if self.element is None:
            return None
        return element_columns(self.element, self.reports)

    def _show_fields(self, element: dict[str, Any]) -> None:
        data = self._columns_now()
        cols = data.columns if data else []
        kind = element.get("kind")

        def keep(values: list[str]) -> list[str]:
            # A column the element reads but the result lacks stays listed: nothing silently lost.
            return [*cols, *(v for v in values if v and v not in cols)]

        if kind == "chart":
            chart = element.get("chart") or {}
            self._viz.value = chart.get("viz", "column")
            self._x.options = keep([chart.get("x", "")])
            self._x.value = chart.get("x")
            ys = list(chart.get("y") or [])
            self._y.options = escaped_options(keep(ys))
            self._y.value = ys
            self._series.options = ["", *keep([chart.get("series") or ""])]
            self._series.value = chart.get("series") or ""
            self._set_fields(self._chart_fields)
        elif kind == "table":
            names = [c.get("name") for c in element.get("columns") or []]
            self._columns.options = escaped_options(keep(names))
            self._columns.value = names
            self._subtotals.options = ["", *keep([element.get("subtotals_by") or ""])]
            self._subtotals.value = element.get("subtotals_by") or ""
            self._set_fields([self._columns, self._subtotals])
        elif kind == "kpi":
            value = (element.get("kpi") or {}).get("value", "")
            self._value.options = keep([value])
            self._value.value = value
            self._set_fields([self._value])
        elif kind == "section":
            self._group.options = keep([element.get("group_by", "")])
            self._group.value = element.get("group_by")
            self._set_fields([self._group])
        if data is None and self._mode.value == REPORT:
            self._note.object = "*That report is not visible to you (or was deleted): pick another.*"

    def _set_fields(self, widgets: list[Any]) -> None:
        # Only when the kind changes: a widget redrawn on every edit would lose a click or a choice.
        if list(self._fields.objects) != widgets:
            self._fields.objects = widgets

    # -- edits -------------------------------------------------------------------
    def _emit(self, element: dict[str, Any]) -> None:
        self.element = element
        self.on_change(element)

    def _mode_changed(self, mode: str) -> None:
        if self._loading or self.element is None:
            return
        self._show_mode()
        if mode == REPORT and self.reports:
            chosen = (
                self._report.value
                if self._report.value in {r.id for r in self.reports}
                else self.reports[0].id
            )
            self._report_changed(chosen)
        elif mode == QUERY:
            b = self.element.get("binding") or {}
            self._load_builder(b.get("query"))
            self._query_changed()
        elif mode == SECTION_ROWS:
            self._emit({**self.element, "binding": None})

    def _report_changed(self, report_id: Any) -> None:
        if self._loading or self.element is None:
            return
        choice = next((r for r in self.reports if r.id == report_id), None)
        if choice is None:
            return
        new = rebind(self.element, choice.data)
        self._loading = True
        try:
            self._show_fields(new)
        finally:
            self._loading = False
        self._emit(new)

    def _query_changed(self) -> None:
        if self._loading or self.element is None or self._builder is None or self._mode.value != QUERY:
            return
        spec = self._builder.spec
        if spec is None:
            return  # the builder says what is wrong; the element keeps its last valid binding
        dims, mets = query_columns(spec)
        new = rebind(self.element, DataDefault({"query": spec}, dims, mets))
        self._loading = True
        try:
            self._show_fields(new)
        finally:
            self._loading = False
        self._emit(new)

    def _fields_changed(self) -> None:
        if self._loading or self.element is None:
            return
        el = dict(self.element)
        kind = el.get("kind")
        if kind == "chart":
            el["chart"] = {
                **(el.get("chart") or {}),
                "viz": self._viz.value,
                "x": self._x.value,
                "y": list(self._y.value),
                "series": self._series.value or None,
            }
        elif kind == "table":
            old = {c.get("name"): c for c in el.get("columns") or []}
            el["columns"] = [old.get(n, {"name": n}) for n in self._columns.value]
            el["subtotals_by"] = self._subtotals.value or None
        elif kind == "kpi":
            el["kpi"] = {**(el.get("kpi") or {}), "value": self._value.value}
        elif kind == "section":
            el["group_by"] = self._group.value
        self._emit(el)

    def message(self, text: str) -> None:
        """Say why the last edit was refused, under the fields (plain text)."""
        self._note.object = f"**Not applied:** {escape_md(text)}" if text else ""

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._empty, self._body, margin=0, sizing_mode="stretch_width", css_classes=["binding-panel"]
        )
