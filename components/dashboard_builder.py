"""Dashboard viewer and builder: GridStack layout, global filters, drill-down, widget editor."""

from __future__ import annotations

import html
import logging
from typing import Any

import panel as pn
import param
from panel.layout.gridstack import GridStack

from components.session import alert, escaped_options, notify_error, run
from components.widget_editor import WidgetEditor
from components.widget_view import render_widget
from portal import dashboards
from portal.context import AppContext
from portal.identity import auth
from portal.identity.permissions import can
from portal.specs import DashboardFilters, WidgetSpec, parse_spec

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
        self.layout: dict[str, Any] | None = None
        self.can_edit = False
        if self._load_layout():
            self._load_filter_options()
            self._apply_saved_filters()
            self.param.watch(
                lambda *_: self._render(), ["time_range", "customer", "location", "team", "drill_path"]
            )
            self.param.watch(lambda *_: self._render(), "edit_mode")
            self._render()

    # -- loading -----------------------------------------------------------------
    def _load_layout(self) -> bool:
        def load(s: Any, u: Any) -> tuple[dict[str, Any], bool]:
            d = dashboards.get_dashboard(s, u, self.dashboard_id)
            return dashboards.dashboard_to_dict(d, widgets=dashboards.list_widgets(s, u, d.id)), can(
                s, u, "edit", d
            )

        out = run(self.ctx, load)
        if out is None:
            self.grid_area.objects = [alert(f"Dashboard {self.dashboard_id} was not found.", "danger")]
            return False
        self.layout, self.can_edit = out
        f = DashboardFilters.model_validate(self.layout.get("filters") or {})
        # Per session: a saved window that is no preset becomes an extra choice of this session only.
        self.presets = dict(TIME_PRESETS)
        preset = next((k for k, v in self.presets.items() if v == (f.time_range or "")), None)
        if preset is None and f.time_range:
            self.presets[f"Saved: {f.time_range}"] = f.time_range
            self.param.time_range.objects = list(self.presets)
            preset = f"Saved: {f.time_range}"
        self.time_range = preset or "All time"
        self.header.object = (
            f'<h2 style="margin:0">{html.escape(self.layout["name"])}</h2>'
            f'<div style="color:#64748b">{html.escape(self.layout.get("description") or "")}</div>'
        )
        return True

    def _load_filter_options(self) -> None:
        def options(s: Any, u: Any) -> dict[str, list[str]]:
            scope = auth.user_scope(s, u)
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
                out[kind] = [str(v) for v in self.ctx.warehouse.run(spec, scope).frame[col].dropna()]
            return out

        for kind, values in (run(self.ctx, options) or {}).items():
            # Labels are escaped: the multi-choice shows them as HTML (values may be any text).
            self.param[kind].objects = escaped_options(values)

    def _apply_saved_filters(self) -> None:
        """Select the dashboard's saved customer / location / team filters (its defaults)."""
        saved = DashboardFilters.model_validate((self.layout or {}).get("filters") or {})
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

    def _tile(self, w: dict[str, Any]) -> pn.viewable.Viewable:
        spec = parse_spec(WidgetSpec, w["spec"])
        wid = int(w["id"])

        def load(s: Any, u: Any) -> dict[str, Any]:
            return dashboards.widget_data(
                s,
                u,
                self.ctx.warehouse,
                self.dashboard_id,
                wid,
                filters=self.filters(),
                drill_path=self._widget_path(wid) or None,
            )

        data = None if spec.type == "text" else (run(self.ctx, load) or {"error": "could not load data"})
        shown = parse_spec(WidgetSpec, data["widget"]["spec"]) if data and data.get("widget") else spec
        on_tap = (lambda value, w=wid, s=shown: self._tapped(w, s, value)) if spec.drilldown else None
        body = render_widget(shown, data, on_tap=on_tap)
        title = html.escape(w.get("title") or spec.title or "")
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
            css_classes=["cbi-widget", f"cbi-widget-{spec.viz}"],
            styles={
                "background": "white",
                "border-radius": "8px",
                "box-shadow": "0 1px 3px rgba(15,23,42,.15)",
                "overflow": "hidden",
            },
        )

    def _render(self) -> None:
        if self.layout is None:
            return
        widgets = sorted(
            self.layout.get("widgets", []),
            key=lambda w: (w["position"].get("y", 0), w["position"].get("x", 0)),
        )
        rows = max([w["position"].get("y", 0) + w["position"].get("h", 3) for w in widgets] or [4])
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
        for w in widgets:
            p = w["position"]
            tile = self._tile(w)
            grid[p["y"] : p["y"] + p["h"], p["x"] : p["x"] + p["w"]] = tile
            self._ids[str(id(tile))] = int(w["id"])
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

    def _schedule_refreshes(self, widgets: list[dict[str, Any]]) -> None:
        for cb in self._periodic:
            cb.stop()
        self._periodic = []
        if pn.state.curdoc is None:
            return
        for w in widgets:
            sec = w["spec"].get("refresh_interval_sec")
            if sec:
                self._periodic.append(pn.state.add_periodic_callback(self._render, period=int(sec) * 1000))

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
            and run(self.ctx, lambda s, u: dashboards.save_layout(s, u, self.dashboard_id, positions))
            is not None
        ):
            for w in (self.layout or {}).get("widgets", []):
                if int(w["id"]) in positions:
                    w["position"] = positions[int(w["id"])]

    def _remove(self, widget_id: int) -> None:
        if (
            run(self.ctx, lambda s, u: dashboards.delete_widget(s, u, widget_id), success="Widget removed")
            is not None
        ):
            self._load_layout()
            self._render()

    def _open_editor(self, *_: Any) -> None:
        def scope(s: Any, u: Any) -> Any:
            return auth.user_scope(s, u)

        sc = run(self.ctx, scope)
        if sc is None:
            return
        named = (self.layout or {}).get("queries") or {}
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
            lambda s, u: dashboards.add_widget(s, u, self.dashboard_id, spec, None),
            success="Widget added",
        )
        if added is not None:
            self.editor_area.objects = []
            self._load_layout()
            self._render()

    def _save_filters(self, *_: Any) -> None:
        f = self.filters().model_dump(mode="json")
        run(
            self.ctx,
            lambda s, u: dashboards.update_dashboard(s, u, self.dashboard_id, {"filters": f}),
            success="Filters saved as the dashboard's default",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if self.layout is None:
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
