"""Widget editor: a query (visual builder or a named dashboard query), the view options, a live preview.

Every widget but a text one needs a title (refused on save, naming ``title``). A KPI is computed
over all rows of its query (:func:`portal.dashboards.data.kpi_query`): choosing the KPI type drops
the builder's group-by, and a group-by added afterwards is shown as ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param

from components.query_builder import QueryBuilder
from components.session import escape_md
from components.widget_view import render_widget
from portal.dashboards.data import kpi_query, result_display, summary_queries
from portal.data.catalog import Catalog
from portal.data.timewindows import now_minute
from portal.data.warehouse import Warehouse
from portal.errors import PortalError
from portal.identity.scope import Scope
from portal.specs import VIZ_TYPES, QuerySpec, TableSpec, WidgetSpec, parse_spec

CUSTOM = "(custom query)"


class WidgetEditor(pn.viewable.Viewer):
    """Edits one WidgetSpec; calls ``on_save(spec_json)`` when the user saves a valid one."""

    wtype = param.Selector(default="chart", objects=["chart", "table", "kpi", "text"], doc="Widget type")
    title = param.String(default="", doc="Widget title")
    viz = param.Selector(default="column", objects=list(VIZ_TYPES), doc="Chart type")
    query_choice = param.Selector(default=CUSTOM, objects=[CUSTOM], doc="Custom query or a dashboard query")
    refresh = param.Integer(default=0, bounds=(0, 86_400), doc="Refresh interval in seconds (0: off)")

    def __init__(
        self,
        warehouse: Warehouse,
        scope: Scope,
        *,
        named_queries: dict[str, dict[str, Any]] | None = None,
        on_save: Callable[[dict[str, Any]], None],
        on_cancel: Callable[[], None] | None = None,
        **params: Any,
    ) -> None:
        self.warehouse, self.scope = warehouse, scope
        self.catalog: Catalog = warehouse.catalog_for(scope.tenant_key)
        self.named = named_queries or {}
        self.on_save, self.on_cancel = on_save, on_cancel
        super().__init__(**params)
        self.param.query_choice.objects = [CUSTOM, *self.named]
        self.builder = QueryBuilder(
            self.catalog,
            scope,
            initial={
                "source": "tickets",
                "metrics": [{"agg": "count", "as": "tickets"}],
                "group_by": ["priority"],
            },
        )
        self.x = pn.widgets.Select(name="X / labels", options=[], width=170)
        self.y = pn.widgets.MultiChoice(name="Y values", options=[], width=260)
        self.series = pn.widgets.Select(name="Series / rows", options=[""], width=170)
        self.stacked = pn.widgets.Checkbox(name="stacked", value=False)
        self.drill = pn.widgets.MultiChoice(name="Drill-down hierarchy", options=[], width=300)
        self.subtotals = pn.widgets.Select(name="Subtotals by", options=[""], width=170)
        self.totals = pn.widgets.Checkbox(name="grand total", value=True)
        self.page_size = pn.widgets.IntInput(name="Rows per page", value=15, start=5, end=500, width=110)
        self.kpi_value = pn.widgets.Select(name="Value", options=[], width=170)
        self.kpi_target = pn.widgets.FloatInput(name="Target (optional)", value=None, width=140)
        self.kpi_prev = pn.widgets.Checkbox(name="compare with previous period", value=True)
        self.kpi_higher = pn.widgets.Checkbox(name="higher is better", value=True)
        self.kpi_format = pn.widgets.Select(
            name="Format", options=["number", "percent", "currency", "duration_h"], width=130
        )
        self.text = pn.widgets.TextAreaInput(
            name="Markdown",
            value="## Notes\n\nWrite **Markdown** here.",
            height=180,
            sizing_mode="stretch_width",
        )
        self.preview = pn.Column(sizing_mode="stretch_width", height=340)
        self.message = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.note = pn.pane.Alert(
            "", alert_type="info", visible=False, sizing_mode="stretch_width", css_classes=["kpi-group-note"]
        )
        self.save_button = pn.widgets.Button(name="Save widget", button_type="primary", width=140)
        self.save_button.on_click(lambda _: self._save())
        for w in (
            self.x,
            self.y,
            self.series,
            self.stacked,
            self.subtotals,
            self.totals,
            self.kpi_value,
            self.kpi_target,
            self.kpi_prev,
            self.kpi_higher,
            self.kpi_format,
            self.text,
            self.page_size,
        ):
            w.param.watch(lambda *_: self._refresh_preview(), "value")
        self.builder.param.watch(lambda *_: self._columns_changed(), ["spec", "error"])
        self.param.watch(self._type_changed, "wtype")
        self.param.watch(lambda *_: self._columns_changed(), ["wtype", "viz", "query_choice", "title"])
        self._columns_changed()

    # -- state -----------------------------------------------------------------
    def _type_changed(self, event: Any) -> None:
        """A KPI is one number over all rows: the builder's group-by (the default one too) goes."""
        if event.new != "kpi" or self.query_choice != CUSTOM:
            return
        q = self.builder.spec or self.builder.current()
        if q.get("group_by"):
            self.builder.load({**q, "group_by": [], "sort": []})

    def _kpi_note(self) -> None:
        q = self._query()
        grouped = parse_spec(QuerySpec, q).group_by if q and self.wtype == "kpi" else []
        names = ", ".join(g.name for g in grouped)
        self.note.object = escape_md(
            f"group by: a KPI is computed over all rows of the query; the group-by ({names}) is ignored."
        )
        self.note.visible = bool(grouped)

    def _query(self) -> dict[str, Any] | None:
        if self.query_choice != CUSTOM:
            return self.named.get(self.query_choice)
        return self.builder.spec

    def _columns_changed(self) -> None:
        q = self._query()
        cols = parse_spec(QuerySpec, q).output_names if q else []
        numeric = [c for c in cols if c in {m.name for m in parse_spec(QuerySpec, q).metrics}] if q else []
        dims = [c for c in cols if c not in numeric]
        for w, opts in ((self.x, cols), (self.kpi_value, numeric or cols)):
            keep = (
                w.value
                if w.value in opts
                else (dims[0] if w is self.x and dims else (opts[0] if opts else None))
            )
            w.options = opts
            w.value = keep
        self.y.options = cols
        self.y.value = [v for v in self.y.value if v in cols] or numeric[:1]
        self.series.options = ["", *dims]
        self.subtotals.options = ["", *dims]
        self.drill.options = self.catalog.source(parse_spec(QuerySpec, q).source).column_names if q else []
        self._refresh_preview()

    def spec(self) -> dict[str, Any]:
        """The widget spec as edited (may be invalid)."""
        out: dict[str, Any] = {"type": self.wtype, "title": self.title}
        if self.refresh:
            out["refresh_interval_sec"] = self.refresh
        if self.wtype == "text":
            out["text"] = self.text.value
            return out
        if self.query_choice != CUSTOM:
            out["query_name"] = self.query_choice
        else:
            out["query"] = self.builder.spec or self.builder.current()
        if self.wtype == "chart":
            out["chart"] = {
                "viz": self.viz,
                "x": self.x.value,
                "y": list(self.y.value),
                "stacked": self.stacked.value,
            }
            if self.series.value:
                out["chart"]["series"] = self.series.value
            if self.drill.value:
                out["drilldown"] = {"hierarchy": list(self.drill.value)}
        elif self.wtype == "table":
            out["table"] = {
                "subtotals_by": self.subtotals.value or None,
                "totals": self.totals.value,
                "page_size": self.page_size.value,
            }
        elif self.wtype == "kpi":
            out["kpi"] = {
                "value": self.kpi_value.value,
                "label": "",
                "target": self.kpi_target.value,
                "compare_previous": self.kpi_prev.value,
                "higher_is_better": self.kpi_higher.value,
                "format": self.kpi_format.value,
            }
        return out

    def _validated(self, *, saving: bool = False) -> WidgetSpec | None:
        """The edited spec, or None with the reason shown. The preview does not wait for a
        title (it is asked for on save, like the server does)."""
        self._kpi_note()
        if self.wtype != "text" and self._query() is None:
            # An invalid query empties the column choices: name the query, not the chart options.
            self.message.object = escape_md(f"query: {self.builder.error or 'not valid'}")
            self.message.visible = True
            return None
        spec = self.spec()
        if not saving and not str(spec.get("title", "")).strip():
            spec["title"] = "(preview)"
        try:
            ws = parse_spec(WidgetSpec, spec)
        except PortalError as exc:
            self.message.object, self.message.visible = escape_md(exc.message), True
            return None
        self.message.visible = False
        return ws

    def _refresh_preview(self) -> None:
        ws = self._validated()
        if ws is None:
            self.preview.objects = []
            return
        frame, error = None, None
        totals = subtotals = display = query = None
        q = self._query()
        if ws.type != "text" and q is not None:
            # The preview runs what a dashboard runs: a KPI without its grouping, a table's
            # totals and subtotals re-aggregated by the warehouse, the catalog's labels.
            query = parse_spec(QuerySpec, q)
            if ws.type == "kpi":
                query = kpi_query(query)
            try:
                now = now_minute(None)
                frame = self.warehouse.run(query, self.scope, now=now).frame
                display = result_display(query, self.catalog, now)
                for_totals, for_subtotals = (
                    summary_queries(query, ws.table or TableSpec()) if ws.type == "table" else (None, None)
                )
                if for_totals is not None:
                    totals = self.warehouse.run(for_totals, self.scope, now=now).frame
                if for_subtotals is not None:
                    subtotals = self.warehouse.run(for_subtotals, self.scope, now=now).frame
            except PortalError as exc:
                error = exc.message
        self.preview.objects = [
            render_widget(
                ws,
                frame,
                error=error,
                totals=totals,
                subtotals=subtotals,
                display=display,
                query=query,
                height=320,
            )
        ]

    def _save(self) -> None:
        ws = self._validated(saving=True)
        if ws is None:
            return
        self.on_save(self.spec())

    def __panel__(self) -> pn.viewable.Viewable:
        opts = pn.Column(
            pn.Row(self.x, self.y, self.series, self.stacked, visible=self.param.wtype.rx() == "chart"),
            pn.Row(self.drill, visible=self.param.wtype.rx() == "chart"),
            pn.Row(self.subtotals, self.totals, self.page_size, visible=self.param.wtype.rx() == "table"),
            pn.Row(
                self.kpi_value,
                self.kpi_target,
                self.kpi_format,
                pn.Column(self.kpi_prev, self.kpi_higher),
                visible=self.param.wtype.rx() == "kpi",
            ),
            pn.Row(self.text, visible=self.param.wtype.rx() == "text", sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
        query = pn.Column(
            pn.widgets.Select.from_param(self.param.query_choice, name="Data", width=240),
            pn.Column(self.builder, visible=self.param.query_choice.rx() == CUSTOM),
            visible=self.param.wtype.rx() != "text",
            sizing_mode="stretch_width",
        )
        cancel = pn.widgets.Button(name="Cancel", width=100)
        cancel.on_click(lambda _: self.on_cancel() if self.on_cancel else None)
        head = pn.Row(
            pn.widgets.RadioButtonGroup.from_param(
                self.param.wtype, button_type="primary", button_style="outline"
            ),
            pn.widgets.TextInput.from_param(
                self.param.title, name="Title", placeholder="Title (required)", width=240
            ),
            pn.widgets.Select.from_param(
                self.param.viz, name="Chart type", width=120, visible=self.param.wtype.rx() == "chart"
            ),
            pn.widgets.IntInput.from_param(
                self.param.refresh,
                name="Refresh every (s, 0 = off)",
                width=170,
                placeholder="0",
                css_classes=["refresh-interval"],
            ),
        )
        return pn.Column(
            head,
            pn.Row(
                pn.Column(query, width=620),
                pn.Column(opts, self.note, self.preview, sizing_mode="stretch_width"),
            ),
            self.message,
            pn.Row(self.save_button, cancel),
            sizing_mode="stretch_width",
            css_classes=["widget-editor"],
        )
