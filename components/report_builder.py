"""Report builder: build a query visually, preview it, add visualizations, save, export."""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd
import panel as pn
import param

from components.query_builder import QueryBuilder
from components.session import alert, escape_md, notify_error, run
from portal import reports
from portal.context import AppContext
from portal.data.exports import export_frame
from portal.errors import PortalError
from portal.identity.principal import Principal
from portal.specs import VIZ_TYPES, ChartSpec, QuerySpec, parse_spec
from portal.viz import charts

log = logging.getLogger(__name__)


def viz_caption(v: Any) -> str:
    """Markdown caption of a stored viz entry (``**column** of n by priority``); user text escaped."""
    if not isinstance(v, dict) or "viz" not in v:
        return "**invalid visualization**"
    y = v.get("y")
    ys = ", ".join(str(c) for c in y) if isinstance(y, list) else str(y if y is not None else "?")
    return f"**{escape_md(v.get('viz', '?'))}** of {escape_md(ys)} by {escape_md(v.get('x', '?'))}"


class ReportBuilder(pn.viewable.Viewer):
    """Creates or edits one report of the signed-in user."""

    report_name = param.String(default="", doc="Report name")
    description = param.String(default="", doc="What the report answers")
    visibility = param.Selector(
        default="private", objects=["private", "group", "customer", "public"], doc="Who sees it"
    )
    heavy = param.Boolean(default=False, doc="Heavy / off-peak: scheduled runs wait for off-peak windows")
    report_id = param.Integer(default=None, allow_None=True, doc="Saved report being edited")

    def __init__(
        self, ctx: AppContext, report_id: int | None = None, *, source: str | None = None, **params: Any
    ) -> None:
        self.ctx = ctx
        super().__init__(**params)
        scope = run(ctx, lambda s, p: p.scope)
        initial = None
        if source and scope is not None and source in ctx.warehouse.catalog_for(scope.tenant_key).names:
            # "Explore" from the data page: a new report counting the rows of that source.
            initial = {"source": source, "metrics": [{"agg": "count", "as": "rows"}]}
        self.viz_specs: list[dict[str, Any]] = []
        #: Id asked for in the address that the user cannot open (missing, other tenant, not visible).
        self.missing: int | None = None
        if report_id is not None and not 0 < report_id < 2**62:
            self.missing = report_id  # no row has such an id (and the database would refuse it)
        elif report_id is not None:
            loaded = run(ctx, lambda s, p: reports.report_to_dict(reports.get_report(s, p, report_id)))
            if not loaded:
                self.missing = report_id
            else:
                initial = loaded["query"]
                self.report_name, self.description = loaded["name"], loaded["description"]
                self.visibility, self.heavy, self.report_id = (
                    loaded["visibility"],
                    loaded["heavy"],
                    loaded["id"],
                )
                viz = loaded.get("viz") or []
                self.viz_specs = list(viz) if isinstance(viz, list) else [viz]
        self.scope = scope
        self.load_error = ""
        self.builder = None
        if scope and self.missing is None:
            try:
                self.builder = QueryBuilder(
                    ctx.warehouse.catalog_for(scope.tenant_key), scope, initial=initial
                )
            except Exception as exc:  # a stored query this version cannot show: start from a new one
                log.warning("report %s: cannot load its query: %s", report_id, exc)
                self.load_error = exc.message if isinstance(exc, PortalError) else type(exc).__name__
                self.builder = QueryBuilder(ctx.warehouse.catalog_for(scope.tenant_key), scope)
        self.frame = pd.DataFrame()
        self.table = pn.widgets.Tabulator(
            self.frame,
            pagination="local",
            page_size=12,
            disabled=True,
            show_index=False,
            sizing_mode="stretch_width",
            height=380,
            css_classes=["report-preview"],
        )
        self.info = pn.pane.Markdown("", css_classes=["preview-info"])
        #: Whether ``frame`` is the result of the query on screen (exports are offered only then).
        self.current = False
        self.downloads = [
            pn.widgets.FileDownload(
                callback=lambda f=f: self._export(f),
                filename=f"report.{f}",
                label=f.upper(),
                button_type="light",
                width=80,
                disabled=True,
                css_classes=[f"export-{f}"],
            )
            for f in ("csv", "xlsx")
        ]
        self.vizzes = pn.Column(sizing_mode="stretch_width")
        self.viz_type = pn.widgets.Select(
            name="Visualization", options=list(VIZ_TYPES), value="column", width=130
        )
        self.viz_x = pn.widgets.Select(name="X", options=[], width=160)
        self.viz_y = pn.widgets.MultiChoice(name="Y", options=[], width=220)
        self.viz_series = pn.widgets.Select(name="Series", options=[""], width=160)
        if self.builder is not None:
            # "error" too: from one invalid query to another, spec stays None but the reason changes.
            self.builder.param.watch(lambda *_: self._preview(), ["spec", "error"])
            self._preview()

    # -- preview ---------------------------------------------------------------
    def _stale(self, why: str) -> None:
        """The query on screen has no result: nothing from an earlier query stays exportable."""
        self.current = False
        self.frame = pd.DataFrame()
        self.table.value = self.frame
        for d in self.downloads:
            d.disabled = True
        self.info.object = f"**No preview:** {escape_md(why)} Fix the query to preview and export it."
        self._draw_vizzes()

    def _preview(self) -> None:
        if self.builder is None or self.scope is None:
            return
        spec = self.builder.spec
        if spec is None or self.builder.error:
            self._stale(f"{self.builder.error or 'the query is not complete'}.")
            return
        try:
            res = self.ctx.warehouse.run(spec, self.scope)
        except PortalError as exc:
            notify_error(exc.message)
            self._stale(f"{exc.message}.")
            return
        self.current = True
        for d in self.downloads:
            d.disabled = False
        self.frame = res.frame
        self.table.value = res.frame
        self.info.object = (
            f"**{res.row_count:,} rows** in {res.runtime_ms:,.0f} ms{' (cached)' if res.cached else ''}"
        )
        qs = parse_spec(QuerySpec, spec)
        metrics = [m.name for m in qs.metrics]
        dims = [g.name for g in qs.group_by]
        self.viz_x.options = dims or list(res.frame.columns)
        self.viz_y.options = metrics or list(res.frame.columns)
        self.viz_y.value = [v for v in self.viz_y.value if v in self.viz_y.options] or metrics[:1]
        self.viz_series.options = ["", *dims]
        self._draw_vizzes()

    def _viz_body(self, v: Any) -> tuple[Any, ChartSpec | None]:
        """The chart of one viz entry, or an error box (stored entries may be invalid)."""
        try:
            spec = parse_spec(ChartSpec, v)
            fig = charts.render(spec, self.frame, "bokeh")
            return pn.pane.Bokeh(fig, sizing_mode="stretch_width", height=320), spec
        except PortalError as exc:
            return alert(exc.message, "warning", sizing_mode="stretch_width"), None
        except Exception:
            log.exception("report %s: cannot draw viz %r", self.report_id, v)
            return alert("This visualization cannot be drawn.", "warning", sizing_mode="stretch_width"), None

    def _draw_vizzes(self) -> None:
        items = []
        for i, v in enumerate(self.viz_specs):
            # One broken entry shows its own error box; the others are drawn.
            body, spec = self._viz_body(v)
            rm = pn.widgets.Button(name="Remove", button_type="light", width=80)
            rm.on_click(lambda _, i=i: self._remove_viz(i))
            tools: list[Any] = [rm]
            if spec is not None and self.current:
                png = pn.widgets.FileDownload(
                    callback=lambda spec=spec: self._png(spec),
                    filename=f"chart-{i + 1}.png",
                    label="PNG",
                    button_type="light",
                    width=80,
                )
                tools.insert(0, png)
            items.append(
                pn.Column(
                    pn.Row(pn.pane.Markdown(viz_caption(v)), *tools),
                    body,
                    sizing_mode="stretch_width",
                    css_classes=["report-viz"],
                )
            )
        self.vizzes.objects = items

    def _add_viz(self, *_: Any) -> None:
        v: dict[str, Any] = {"viz": self.viz_type.value, "x": self.viz_x.value, "y": list(self.viz_y.value)}
        if self.viz_series.value:
            v["series"] = self.viz_series.value
        try:
            parse_spec(ChartSpec, v)
        except PortalError as exc:
            notify_error(exc.message)
            return
        self.viz_specs.append(v)
        self._draw_vizzes()

    def _remove_viz(self, i: int) -> None:
        self.viz_specs.pop(i)
        self._draw_vizzes()

    # -- save / export ----------------------------------------------------------
    def _save(self, *_: Any) -> None:
        if self.builder is None or self.builder.spec is None:
            notify_error(f"query: {self.builder.error if self.builder else 'not ready'}")
            return
        data = {
            "name": self.report_name.strip(),
            "description": self.description,
            "query": self.builder.spec,
            "visibility": self.visibility,
            "heavy": self.heavy,
            "viz": self.viz_specs,
            "published": True,
        }

        def save(s: Any, p: Principal) -> int:
            if self.report_id is None:
                return reports.create_report(s, p, data, self.ctx.warehouse).id
            return reports.update_report(s, p, self.report_id, data, self.ctx.warehouse).id

        rid = run(self.ctx, save, success=f"Saved report “{data['name']}”")
        if rid is not None:
            self.report_id = rid
            if pn.state.location is not None:
                # The address now names the saved report: reload and bookmarks open it again.
                pn.state.location.search = f"?id={rid}"

    def _export(self, fmt: str) -> io.BytesIO:
        if not self.current:  # the button is disabled then; a stale click exports nothing
            notify_error("export: the query on screen is not valid; fix it first")
            return io.BytesIO(b"")
        return io.BytesIO(export_frame(self.frame, fmt).data)

    def _png(self, v: ChartSpec | dict[str, Any]) -> io.BytesIO:
        return io.BytesIO(charts.to_png(parse_spec(ChartSpec, v), self.frame))

    def __panel__(self) -> pn.viewable.Viewable:
        if self.missing is not None:
            return pn.Column(
                alert(f"Report {self.missing} was not found.", "danger"),
                pn.pane.HTML('<a href="/reports">Start a new report</a>'),
                css_classes=["report-missing"],
            )
        if self.builder is None:
            return alert("You are not signed in.", "danger")
        save = pn.widgets.Button(
            name="Save report", button_type="primary", width=130, css_classes=["save-report"]
        )
        save.on_click(self._save)
        add = pn.widgets.Button(name="Add visualization", width=150)
        add.on_click(self._add_viz)
        meta = pn.Column(
            pn.widgets.TextInput.from_param(
                self.param.report_name, name="Name", placeholder="Report name", width=300
            ),
            pn.widgets.TextAreaInput.from_param(self.param.description, height=70, width=300),
            pn.widgets.Select.from_param(self.param.visibility, width=300),
            pn.widgets.Checkbox.from_param(self.param.heavy, name="Heavy / run off-peak"),
            pn.Row(save),
            width=330,
        )
        problems = (
            [alert(f"The saved query cannot be shown ({self.load_error}); this is a new one.", "warning")]
            if self.load_error
            else []
        )
        return pn.Column(
            *problems,
            pn.Row(pn.Column(pn.pane.Markdown("### Query"), self.builder, width=640), meta),
            pn.pane.Markdown("### Preview"),
            pn.Row(self.info, *self.downloads),
            self.table,
            pn.pane.Markdown("### Visualizations"),
            pn.Row(self.viz_type, self.viz_x, self.viz_y, self.viz_series, add),
            self.vizzes,
            sizing_mode="stretch_width",
        )
