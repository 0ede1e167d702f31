"""Dashboard viewer and builder: GridStack layout, global filters, drill-down, widget editor."""

from __future__ import annotations

import dataclasses
import html
import logging
from typing import Any

import panel as pn
import param
from panel.layout.gridstack import GridStack

from components.session import alert, escaped_options, notify_error, run
from components.widget_editor import WidgetEditor
from components.widget_view import render_result
from portal import dashboards
from portal.context import AppContext
from portal.dashboards import DashboardView, WidgetResult
from portal.errors import PortalError
from portal.identity.principal import Principal
from portal.specs import DashboardFilters, WidgetSpec

log = logging.getLogger(__name__)
ROW_HEIGHT = 90
EDIT_SPARE_ROWS = 4
TIME_PRESETS = {
    "Last 7 days": "{{now-7d}}..{{now}}",
    "Last 30 days": "{{now-30d}}..{{now}}",
    "Last 90 days": "{{now-90d}}..{{now}}",
    "Last 12 months": "{{now-12M}}..{{now}}",
    "This year": "{{start_of_year}}..{{now}}",
    "All time": "",
}


class DashboardBuilder(pn.viewable.Viewer):
    """One dashboard for the signed-in user; editing only with edit rights."""

    edit_mode = param.Boolean(default=False, doc="Drag, resize, add and remove widgets")
    time_range = param.Selector(default="All time", objects=list(TIME_PRESETS), doc="Global time filter")
    customer = param.ListSelector(default=[], objects=[], doc="Global customer filter")
    location = param.ListSelector(default=[], objects=[], doc="Global location filter")
    team = param.ListSelector(default=[], objects=[], doc="Global team filter")
    drill_path = param.List(default=[], doc="Drill steps: (widget id, column, value)")

    def __init__(self, ctx: AppContext, dashboard_id: int, **params: Any) -> None:
        self.ctx, self.dashboard_id = ctx, dashboard_id
        super().__init__(**params)
        self.grid_area = pn.Column(sizing_mode="stretch_width")
        self.editor_area = pn.Column(sizing_mode="stretch_width")
        self.breadcrumb = pn.Row(sizing_mode="stretch_width")
        self.header = pn.pane.HTML("", sizing_mode="stretch_width")
        self._ids: dict[str, int] = {}
        self._periodic: list[Any] = []
        self._moved: dict[int, dict[str, int]] = {}
        self.view: DashboardView | None = None
        self.can_edit = False
        if self._open():
            self.param.watch(
                lambda *_: self._reload(), ["time_range", "customer", "location", "team", "drill_path"]
            )
            self.param.watch(lambda *_: self._render(), "edit_mode")
            self._render()

    # -- loading -----------------------------------------------------------------
    def _open(self) -> bool:
        """First load: the dashboard with its saved filters, every widget's data and the filter
        choices, in one transaction."""

        def load(s: Any, p: Principal) -> tuple[DashboardView, dict[str, list[str]]]:
            view = dashboards.load_dashboard(s, p, self.ctx.warehouse, self.dashboard_id)
            return view, self._filter_options(p)

        out = run(self.ctx, load)
        if out is None:
            self.grid_area.objects = [alert(f"Dashboard {self.dashboard_id} was not found.", "danger")]
            return False
        view, options = out
        self._show(view)
        saved = view.filters
        # Per session: a saved window that is no preset becomes an extra choice of this session only.
        self.presets = dict(TIME_PRESETS)
        preset = next((k for k, v in self.presets.items() if v == (saved.time_range or "")), None)
        if preset is None and saved.time_range:
            self.presets[f"Saved: {saved.time_range}"] = saved.time_range
            self.param.time_range.objects = list(self.presets)
            preset = f"Saved: {saved.time_range}"
        self.time_range = preset or "All time"
        for kind, values in options.items():
            # Labels are escaped: the multi-choice shows them as HTML (values may be any text).
            self.param[kind].objects = escaped_options(values)
        self._apply_saved_filters(saved)
        return True

    def _reload(self) -> None:
        """The whole dashboard again (filters, drill-down, refresh, a widget added or removed):
        one transaction, one authorization, one scope."""
        paths: dict[int, list[tuple[str, Any]]] = {}
        for wid, col, value in self.drill_path:
            paths.setdefault(wid, []).append((col, value))
        view = run(
            self.ctx,
            lambda s, p: dashboards.load_dashboard(
                s,
                p,
                self.ctx.warehouse,
                self.dashboard_id,
                filters=self.filters(),
                drill_paths=paths,
                record_view=False,
            ),
        )
        if view is not None:
            self._show(view)
            self._render()

    def _show(self, view: DashboardView) -> None:
        self.view, self.can_edit, self._moved = view, view.can_edit, {}
        d = view.dashboard
        self.header.object = (
            f'<h2 style="margin:0">{html.escape(d.name)}</h2>'
            f'<div style="color:#64748b">{html.escape(d.description or "")}</div>'
        )

    def _filter_options(self, principal: Principal) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind, col in (
            ("customer", "customer_name"),
            ("location", "location_name"),
            ("team", "team_name"),
        ):
            spec = {
                "source": "tickets",
                "group_by": [col],
                "metrics": [{"agg": "count", "as": "n"}],
                "limit": 2000,
            }
            out[kind] = [str(v) for v in self.ctx.warehouse.run(spec, principal.scope).frame[col].dropna()]
        return out

    def _apply_saved_filters(self, saved: DashboardFilters) -> None:
        """Select the dashboard's saved customer / location / team filters (its defaults)."""
        for kind in ("customer", "location", "team"):
            values = [str(v) for v in getattr(saved, kind)]
            if not values:
                continue
            known = list(self.param[kind].objects)
            # A saved value no longer in the data (or out of the user's scope) stays selectable.
            self.param[kind].objects = escaped_options([*known, *(v for v in values if v not in known)])
            setattr(self, kind, values)

    def filters(self) -> DashboardFilters:
        """The global filters as currently selected."""
        return DashboardFilters(
            time_range=self.presets.get(self.time_range) or None,
            customer=list(self.customer),
            location=list(self.location),
            team=list(self.team),
        )

    # -- rendering -----------------------------------------------------------------
    def _widget_path(self, widget_id: int) -> list[tuple[str, Any]]:
        return [(c, v) for w, c, v in self.drill_path if w == widget_id]

    def _position(self, r: WidgetResult) -> dict[str, int]:
        return self._moved.get(r.widget.id) or dict(r.widget.position or {})

    def _tile(self, r: WidgetResult) -> pn.viewable.Viewable:
        wid = r.widget.id
        stored = r.stored
        if stored is None:  # the widget failed to load: its saved spec may still say what it was
            try:
                stored = dashboards.widget_spec(r.widget)
            except PortalError as exc:
                r = dataclasses.replace(r, error=exc.message)
        shown = r.spec or stored
        if shown is None:
            body: pn.viewable.Viewable = alert(r.error or "This widget cannot be shown.", "danger")
        else:
            drillable = stored is not None and stored.drilldown is not None
            on_tap = (lambda value, w=wid, s=shown: self._tapped(w, s, value)) if drillable else None
            body = render_result(shown, r, on_tap=on_tap)
        title = html.escape(r.widget.title or (stored.title if stored else "") or "")
        head: list[Any] = [
            pn.pane.HTML(
                f'<div class="widget-title" style="font-weight:600;color:#1e293b">{title}</div>',
                sizing_mode="stretch_width",
                margin=(2, 8),
            )
        ]
        if self.edit_mode:
            rm = pn.widgets.Button(
                name="✕",
                width=32,
                height=28,
                button_type="light",
                description="Remove widget",
                css_classes=["remove-widget"],
            )
            rm.on_click(lambda _: self._remove(wid))
            head.append(rm)
        return pn.Column(
            pn.Row(*head, sizing_mode="stretch_width", height=32),
            body,
            sizing_mode="stretch_both",
            css_classes=["cbi-widget", f"cbi-widget-{r.widget.viz}"],
            styles={
                "background": "white",
                "border-radius": "8px",
                "box-shadow": "0 1px 3px rgba(15,23,42,.15)",
                "overflow": "hidden",
            },
        )

    def _render(self) -> None:
        if self.view is None:
            return
        widgets = sorted(
            self.view.widgets, key=lambda r: (self._position(r).get("y", 0), self._position(r).get("x", 0))
        )
        rows = max([self._position(r).get("y", 0) + self._position(r).get("h", 3) for r in widgets] or [4])
        if self.edit_mode:
            # GridStack's row count is also its maximum: leave room to drag and resize downwards.
            rows += EDIT_SPARE_ROWS
        # stretch_both (not stretch_width + height): only then do tiles pass their size on to charts.
        grid = GridStack(
            sizing_mode="stretch_both",
            min_height=rows * ROW_HEIGHT,
            ncols=12,
            nrows=rows,
            allow_drag=self.edit_mode,
            allow_resize=self.edit_mode,
            css_classes=["cbi-grid"],
        )
        self._ids = {}
        for r in widgets:
            p = self._position(r)
            tile = self._tile(r)
            grid[p["y"] : p["y"] + p["h"], p["x"] : p["x"] + p["w"]] = tile
            self._ids[str(id(tile))] = r.widget.id
        if self.edit_mode:
            grid.param.watch(self._layout_changed, "state")
        # The grid's own box has a fixed height: otherwise Panel turns the enclosing columns into
        # stretch_both, the page fits the window, short dashboards stretch their rows to fill it and
        # a tall widget editor is cut off at the window height (its buttons hidden under the grid).
        self.grid_area.height = rows * ROW_HEIGHT if widgets else None
        self.grid_area.objects = (
            [grid]
            if widgets
            else [
                pn.pane.Markdown(
                    "*This dashboard has no widgets yet.*"
                    + (" Switch on **Edit** and **Add widget**." if self.can_edit else "")
                )
            ]
        )
        self._render_breadcrumb()
        self._schedule_refreshes(widgets)

    def _render_breadcrumb(self) -> None:
        if not self.drill_path:
            self.breadcrumb.objects = []
            return
        steps = " › ".join(
            f"{html.escape(str(c))} = <b>{html.escape(str(v))}</b>" for _, c, v in self.drill_path
        )
        back = pn.widgets.Button(name="◀ Back", button_type="light", width=90, css_classes=["drill-back"])
        back.on_click(lambda _: setattr(self, "drill_path", self.drill_path[:-1]))
        top = pn.widgets.Button(name="Top", button_type="light", width=70)
        top.on_click(lambda _: setattr(self, "drill_path", []))
        self.breadcrumb.objects = [
            pn.pane.HTML(f'<div class="breadcrumb">Drill-down: All › {steps}</div>'),
            back,
            top,
        ]

    def _schedule_refreshes(self, widgets: list[WidgetResult]) -> None:
        for cb in self._periodic:
            cb.stop()
        self._periodic = []
        if pn.state.curdoc is None:
            return
        # One refresh for the dashboard, at the shortest interval any widget asks for.
        periods = [r.widget.refresh_interval_sec for r in widgets if r.widget.refresh_interval_sec]
        if periods:
            self._periodic.append(pn.state.add_periodic_callback(self._reload, period=min(periods) * 1000))

    # -- interaction (thin callbacks) ------------------------------------------------
    def _tapped(self, widget_id: int, spec: WidgetSpec, value: Any) -> None:
        drill = spec.drilldown
        if drill is None or spec.chart is None:
            return
        if drill.filter:
            current = list(getattr(self, drill.filter))
            if str(value) not in current:
                setattr(self, drill.filter, [*current, str(value)])
            return
        depth = len(self._widget_path(widget_id))
        if depth + 1 >= len(drill.hierarchy):
            notify_error(f"{spec.chart.x}: already at the deepest level of the drill-down")
            return
        self.drill_path = [*self.drill_path, (widget_id, drill.hierarchy[depth], value)]

    def _layout_changed(self, event: Any) -> None:
        positions = {}
        for item in event.new or []:
            wid = self._ids.get(str(item.get("id")))
            if wid is not None:
                positions[wid] = {
                    "x": item["x0"],
                    "y": item["y0"],
                    "w": item["x1"] - item["x0"],
                    "h": item["y1"] - item["y0"],
                }
        if (
            positions
            and run(self.ctx, lambda s, p: dashboards.save_layout(s, p, self.dashboard_id, positions))
            is not None
        ):
            self._moved.update(positions)

    def _remove(self, widget_id: int) -> None:
        if (
            run(self.ctx, lambda s, p: dashboards.delete_widget(s, p, widget_id), success="Widget removed")
            is not None
        ):
            self._reload()

    def _open_editor(self, *_: Any) -> None:
        sc = run(self.ctx, lambda s, p: p.scope)
        if sc is None or self.view is None:
            return
        named = dashboards.named_queries(self.view.dashboard)
        self.editor_area.objects = [
            pn.Card(
                WidgetEditor(
                    self.ctx.warehouse,
                    sc,
                    named_queries=named,
                    on_save=self._add,
                    on_cancel=lambda: setattr(self.editor_area, "objects", []),
                ),
                title="Add widget",
                sizing_mode="stretch_width",
                collapsible=False,
            )
        ]

    def _add(self, spec: dict[str, Any]) -> None:
        added = run(
            self.ctx,
            lambda s, p: dashboards.add_widget(s, p, self.dashboard_id, spec, None),
            success="Widget added",
        )
        if added is not None:
            self.editor_area.objects = []
            self._reload()

    def _save_filters(self, *_: Any) -> None:
        f = self.filters().model_dump(mode="json")
        run(
            self.ctx,
            lambda s, p: dashboards.update_dashboard(s, p, self.dashboard_id, {"filters": f}),
            success="Filters saved as the dashboard's default",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if self.view is None:
            return self.grid_area
        bar: list[Any] = [
            pn.widgets.Select.from_param(self.param.time_range, name="Time", width=160),
            pn.widgets.MultiChoice.from_param(self.param.customer, name="Customer", width=220),
            pn.widgets.MultiChoice.from_param(self.param.location, name="Location", width=220),
            pn.widgets.MultiChoice.from_param(self.param.team, name="Team", width=200),
        ]
        tools: list[Any] = []
        if self.can_edit:
            add = pn.widgets.Button(
                name="Add widget",
                button_type="primary",
                width=120,
                visible=self.param.edit_mode.rx(),
                css_classes=["add-widget"],
            )
            add.on_click(self._open_editor)
            save = pn.widgets.Button(name="Save filters", width=110, visible=self.param.edit_mode.rx())
            save.on_click(self._save_filters)
            tools = [
                pn.widgets.Toggle.from_param(
                    self.param.edit_mode, name="Edit", width=80, css_classes=["edit-toggle"]
                ),
                add,
                save,
            ]
        return pn.Column(
            pn.Row(self.header, *tools),
            pn.Row(*bar, css_classes=["global-filters"]),
            self.breadcrumb,
            self.editor_area,
            self.grid_area,
            sizing_mode="stretch_width",
        )
