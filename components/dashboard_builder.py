"""Dashboard viewer and builder: GridStack layout, global filters, drill-down, widget editor.

The page arrives as a shell first — header, filters and every tile with a skeleton — built
from one metadata transaction (:func:`portal.dashboards.plan_dashboard`). The tiles' queries
then run concurrently on a shared pool and each tile fills in as its data arrives. A filter
change or a drill step plans the dashboard again and re-runs only the tiles whose query
changed, in place; a widget's periodic refresh re-runs that widget alone.
"""

from __future__ import annotations

import collections
import dataclasses
import html
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import panel as pn
import param
from panel.layout.gridstack import GridStack
from sqlalchemy.orm import Session

from components.dashboard_page import (
    FILTER_KINDS,
    TIME_PRESETS,
    address_query,
    filter_options,
    plan_changed,
    planned_scope,
)
from components.live_tiles import (
    EARLY_MESSAGES,
    LiveDashboard,
    columns_of,
    live_display,
    merge,
    newer,
    patch_bars,
    rows_of,
    stream_line,
)
from components.session import alert, escaped_options, is_shared_view, notify_error, run
from components.sharing_link import ShareLink
from components.sharing_people import SharePeople
from components.tile_frame import mark_updating, skeleton, tile_frame
from components.tile_loader import TileLoader
from components.tile_patch import patch_in_place
from components.widget_editor import WidgetEditor
from components.widget_view import ChartPane, render_result
from portal import dashboards
from portal.context import AppContext
from portal.dashboards import DashboardPlan, DashboardView, WidgetPlan, WidgetResult
from portal.data.catalog import Catalog
from portal.data.timewindows import describe_window, now_minute
from portal.errors import PortalError
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.realtime import bus
from portal.realtime.bus import Event
from portal.realtime.channels import may_subscribe
from portal.specs import DashboardFilters, WidgetSpec

log = logging.getLogger(__name__)
ROW_HEIGHT = 90
EDIT_SPARE_ROWS = 4
#: A tile's result and, when already made, the Panel object that shows it.
Loaded = tuple[WidgetResult, pn.viewable.Viewable | None]


class DashboardBuilder(pn.viewable.Viewer):
    """One dashboard for the signed-in user; editing only with edit rights."""

    edit_mode = param.Boolean(default=False, doc="Drag, resize, add and remove widgets")
    time_range = param.Selector(default="All time", objects=list(TIME_PRESETS), doc="Global time filter")
    customer = param.ListSelector(default=[], objects=[], doc="Global customer filter")
    location = param.ListSelector(default=[], objects=[], doc="Global location filter")
    team = param.ListSelector(default=[], objects=[], doc="Global team filter")
    drill_path = param.List(default=[], doc="Drill steps: (widget id, column, value)")

    def __init__(
        self,
        ctx: AppContext,
        dashboard_id: int,
        *,
        can_drill: bool = True,
        single_widget: bool = False,
        **params: Any,
    ) -> None:
        self.ctx, self.dashboard_id = ctx, dashboard_id
        #: A share link without the ``drilldown`` permission shows the widgets as they are.
        self.can_drill = can_drill
        #: A widget's share link: the one widget its plan holds, across the page.
        self.single_widget = single_widget
        super().__init__(**params)
        self.grid_area = pn.Column(sizing_mode="stretch_width")
        self.editor_area = pn.Column(sizing_mode="stretch_width")
        self.breadcrumb = pn.Row(sizing_mode="stretch_width")
        self.header = pn.pane.HTML("", sizing_mode="stretch_width")
        self._ids: dict[str, int] = {}
        self._periodic: list[Any] = []
        self._moved: dict[int, dict[str, int]] = {}
        self._bodies: dict[int, pn.Column] = {}
        self._tiles: dict[int, pn.Column] = {}
        self._results: dict[int, WidgetResult] = {}
        self._doc = pn.state.curdoc
        self._loader = TileLoader(self._doc if self._live() else None, self._arrived)
        self._connected = False
        if self._live():
            pn.state.on_session_destroyed(lambda _context: self._session_ended())
        # Real-time widgets (components.live_tiles): the session's listener, made when a planned
        # widget has a channel; the last message id each tile holds; messages that came first.
        self._live_tiles: LiveDashboard | None = None
        self._live_after: dict[int, str | None] = {}
        self._early: dict[int, collections.deque[Event]] = {}
        self.plan: DashboardPlan | None = None
        self.can_edit = False
        self.presets = dict(TIME_PRESETS)
        if self._open():
            self._read_url()
            self.param.watch(lambda *_: self._refilter(), ["time_range", "location", "team", "drill_path"])
            self.param.watch(self._customer_changed, "customer")
            self.param.watch(lambda *_: self._render(), "edit_mode")
            self._render()
            self._sync_url()

    def refresh(self) -> None:
        """Fetch every tile again with the current filters (a kiosk's timer)."""
        self._refilter()

    def _live(self) -> bool:
        """Whether this builder belongs to a browser session (not a test or a script)."""
        return self._doc is not None and getattr(self._doc, "session_context", None) is not None

    # -- state -------------------------------------------------------------------
    @property
    def view(self) -> DashboardView | None:
        """The dashboard with the results loaded so far (every widget once the page has filled in)."""
        if self.plan is None:
            return None
        done = [self._results[w.widget.id] for w in self.plan.widgets if w.widget.id in self._results]
        p = self.plan
        return DashboardView(p.dashboard, p.filters, p.as_of, p.favorite, p.can_edit, done)

    def filters(self) -> DashboardFilters:
        """The global filters as currently selected."""
        return DashboardFilters(
            time_range=self.presets.get(self.time_range) or None,
            customer=list(self.customer),
            location=list(self.location),
            team=list(self.team),
        )

    def _drill_paths(self) -> dict[int, list[tuple[str, Any]]]:
        paths: dict[int, list[tuple[str, Any]]] = {}
        for wid, col, value in self.drill_path:
            paths.setdefault(wid, []).append((col, value))
        return paths

    def _catalog(self, s: Session, p: Principal) -> Catalog:
        """What the viewer's tenant may query: the warehouse's sources and the tenant's own."""
        return self.ctx.warehouse.catalog_for(p.scope.tenant_key, s)

    def _widget_path(self, widget_id: int) -> list[tuple[str, Any]]:
        return [(c, v) for w, c, v in self.drill_path if w == widget_id]

    # -- loading -----------------------------------------------------------------
    def _open(self) -> bool:
        """First load: the dashboard and its saved filters, planned in one transaction, and the
        filter choices; the tiles' data follows (:meth:`_fetch`)."""

        def load(s: Any, p: Principal) -> tuple[DashboardPlan, dict[str, list[str]]]:
            plan = dashboards.plan_dashboard(s, p, self._catalog(s, p), self.dashboard_id)
            saved = plan.filters
            return plan, self._filter_options(p.scope, saved.customer)

        out = run(self.ctx, load)
        if out is None:
            self.grid_area.objects = [alert(f"Dashboard {self.dashboard_id} was not found.", "danger")]
            return False
        plan, options = out
        saved = plan.filters
        # Per session: a saved window that is no preset becomes an extra choice of this session only.
        preset = next((k for k, v in self.presets.items() if v == (saved.time_range or "")), None)
        if preset is None and saved.time_range:
            preset = f"Saved: {describe_window(saved.time_range)}"
            self.presets[preset] = saved.time_range
            self.param.time_range.objects = list(self.presets)
        self.time_range = preset or "All time"
        for kind, values in options.items():
            # Labels are escaped: the multi-choice shows them as HTML (values may be any text).
            self.param[kind].objects = escaped_options(values)
        self._select(saved)
        self._adopt(plan)
        return True

    def _select(self, chosen: DashboardFilters) -> None:
        """Select customer / location / team values (the saved defaults, or a permalink's)."""
        for kind in FILTER_KINDS:
            values = [str(v) for v in getattr(chosen, kind)]
            if not values:
                continue
            known = list(self.param[kind].objects.values())
            # A value no longer in the data (or out of the user's scope) stays selectable.
            self.param[kind].objects = escaped_options([*known, *(v for v in values if v not in known)])
            setattr(self, kind, values)

    def _filter_options(self, scope: Scope, customers: list[str]) -> dict[str, list[str]]:
        return filter_options(self.ctx.warehouse, scope, customers)

    def _adopt(self, plan: DashboardPlan) -> list[int]:
        """Take a new plan; the ids of the widgets whose data must be fetched (again)."""
        old = {w.widget.id: w for w in self.plan.widgets} if self.plan is not None else {}
        self.plan, self.can_edit = plan, plan.can_edit
        d = plan.dashboard
        self.header.object = (
            f'<h2 style="margin:0">{html.escape(d.name)}</h2>'
            f'<div style="color:#64748b">{html.escape(d.description or "")}</div>'
        )
        stale: list[int] = []
        for w in plan.widgets:
            wid = w.widget.id
            if isinstance(w, WidgetResult):  # could not be planned: show its error now
                self._results[wid] = w
            elif plan_changed(old.get(wid), w) or wid not in self._results:
                self._results.pop(wid, None)
                stale.append(wid)
        live = {w.widget.id for w in plan.widgets}
        for wid in [k for k in self._results if k not in live]:
            self._results.pop(wid)
        self._watch_live()
        return stale

    def _layout_key(self) -> list[tuple[int, tuple[tuple[str, Any], ...]]]:
        return [(w.widget.id, tuple(sorted((w.widget.position or {}).items()))) for w in self._planned()]

    def _planned(self) -> list[WidgetPlan | WidgetResult]:
        return list(self.plan.widgets) if self.plan is not None else []

    def _replan(self, *, rebuild: bool = False) -> None:
        """Plan again (filters, drill step, widget added or removed) and re-fetch what changed."""
        before = self._layout_key()
        plan = run(
            self.ctx,
            lambda s, p: dashboards.plan_dashboard(
                s,
                p,
                self._catalog(s, p),
                self.dashboard_id,
                filters=self.filters(),
                drill_paths=self._drill_paths(),
                record_view=False,
            ),
        )
        if plan is None:
            return
        self._moved = {}
        stale = self._adopt(plan)
        if rebuild or self._layout_key() != before:
            self._render()  # the grid changed: tiles come back from the results kept, the rest fetch
            return
        self._render_breadcrumb()
        for wid in stale:
            # What is on screen stays until the new data replaces it (in place when it can).
            self._mark_updating(wid, True)
        self._fetch(stale)

    def _refilter(self) -> None:
        self._replan()
        self._sync_url()

    def _customer_changed(self, *_: Any) -> None:
        """Locations narrow to the chosen customers (a selected location outside them is dropped)."""
        scope = run(self.ctx, lambda s, p: p.scope)
        if scope is not None:
            options = self._filter_options(scope, list(self.customer))["location"]
            self.param.location.objects = escaped_options(options)
            kept = [v for v in self.location if v in options]
            if kept != list(self.location):
                with param.parameterized.discard_events(self):
                    self.location = kept
        self._refilter()

    # -- fetching tiles -------------------------------------------------------------
    def _fetch(self, widget_ids: list[int], *, fresh_scope: Scope | None = None) -> None:
        """Run the planned widgets; each tile fills in as its result arrives.

        In a browser session the tiles load concurrently (:class:`TileLoader`) and the page is
        updated from the session's event loop; without one (tests, scripts) they load here.
        """
        plan = self.plan
        if plan is None:
            return
        scope = fresh_scope or plan.scope
        now = plan.as_of if fresh_scope is None else now_minute(None)
        by_id = {w.widget.id: w for w in plan.widgets}
        for wid in widget_ids:
            w = by_id.get(wid)
            if not isinstance(w, WidgetPlan):
                continue
            self._loader.submit(wid, partial(self._load, w, scope, now, plan.dashboard.tenant_id))

    def _load(self, w: WidgetPlan, scope: Scope, now: Any, tenant_id: int | None = None) -> Loaded:
        """A tile's data, on a pool thread in a browser session.

        The Panel objects that show it are made on the session's event loop (:meth:`_show`):
        made on pool threads, they left a tile empty now and then in the browser tests.
        """
        result = dashboards.guarded(
            w.widget, partial(dashboards.run_plan, w, self.ctx.warehouse, scope, now=now)
        )
        if w.stored.realtime is not None and tenant_id is not None and isinstance(result, WidgetResult):
            result = self._with_history(result, tenant_id)
        return result, None

    def _arrived(self, widget_id: int, loaded: Loaded) -> None:
        self._results[widget_id] = loaded[0]
        self._show(widget_id, loaded[1])
        self._mark_updating(widget_id, False)
        early = self._early.pop(widget_id, None)
        if early:
            self._live_update(widget_id, list(early))

    def _show(self, widget_id: int, content: pn.viewable.Viewable | None = None) -> None:
        """Put the tile's current state (its result, or a skeleton while loading) in place.

        A chart or card like the one shown is updated in place (new data, same models): the
        browser redraws that chart alone instead of building a new one and laying out the page.
        """
        body = self._bodies.get(widget_id)
        if body is None:
            return
        new = content if content is not None else self._body(widget_id)
        if len(body.objects) == 1 and patch_in_place(body.objects[0], new):
            return
        body.objects = [new]

    def _mark_updating(self, widget_id: int, updating: bool) -> None:
        tile = self._tiles.get(widget_id)
        if tile is not None:
            mark_updating(tile, updating)

    def _body(self, widget_id: int) -> pn.viewable.Viewable:
        r = self._results.get(widget_id)
        planned = next((w for w in self._planned() if w.widget.id == widget_id), None)
        if r is None:
            if isinstance(planned, WidgetPlan) and planned.query is None:  # text: nothing to fetch
                r = dashboards.run_plan(
                    planned, self.ctx.warehouse, planned_scope(self.plan), now=now_minute(None)
                )
                self._results[widget_id] = r
            else:
                return skeleton(planned.widget.viz if planned is not None else "")
        return self._content(widget_id, r)

    def _content(self, widget_id: int, r: WidgetResult) -> pn.viewable.Viewable:
        """What shows a widget's result (no session state is changed: pool threads call it)."""
        stored = r.stored
        if stored is None:  # the widget failed to load: its saved spec may still say what it was
            try:
                stored = dashboards.widget_spec(r.widget)
            except PortalError as exc:
                r = dataclasses.replace(r, error=exc.message)
        shown = r.spec or stored
        if shown is None:
            return alert(r.error or "This widget cannot be shown.", "danger")
        on_tap: Callable[[Any], None] | None = None
        if stored is not None and stored.drilldown is not None and self.can_drill:
            on_tap = partial(self._tapped, widget_id, shown)
        return render_result(shown, r, on_tap=on_tap)

    # -- real-time widgets ----------------------------------------------------------
    def _watch_live(self) -> None:
        """Listen to the channels of the planned real-time widgets the viewer may subscribe to."""
        if not self._live() or self.plan is None:
            return
        wanted = {
            w.widget.id: w.stored.realtime.channel
            for w in self.plan.widgets
            if w.stored is not None and w.stored.realtime is not None
        }
        if not wanted and self._live_tiles is None:
            return

        def allowed(s: Any, p: Principal) -> tuple[int, dict[int, str]]:
            ok: dict[int, str] = {}
            for wid, channel in wanted.items():
                try:
                    may_subscribe(s, p, channel)  # the same rule as WS /realtime
                except PortalError as exc:
                    log.info("widget %s: not following channel %s (%s)", wid, channel, exc.message)
                    continue
                ok[wid] = channel
            return p.tenant_id, ok

        out = run(self.ctx, allowed)
        if out is None:
            return
        tenant_id, channels = out
        if self._live_tiles is None:
            self._live_tiles = LiveDashboard(self.ctx.subscriber(), tenant_id, self._doc, self._live_update)
        self._live_tiles.watch(channels)

    def _with_history(self, result: WidgetResult, tenant_id: int) -> WidgetResult:
        """A real-time tile's result from its channel's kept messages, when there are any (pool thread).

        The query's rows give way to them: a live chart shows the recent stream, not the warehouse.
        """
        stored, spec = result.stored, result.spec
        rt = stored.realtime if stored is not None else None
        if rt is None or spec is None or result.frame is None or (result.drill and result.drill.path):
            return result
        try:
            events = bus.history(
                self.ctx.redis, tenant_id, rt.channel, limit=rt.keep if rt.mode == "append" else 200
            )
        except Exception:
            log.warning(
                "widget %s: the history of channel %s could not be read",
                result.widget.id,
                rt.channel,
                exc_info=True,
            )
            return result
        rows = [row for e in events for row in rows_of(e.data, rt, columns_of(spec))]
        self._live_after[result.widget.id] = events[-1].id if events else None
        if not rows:
            return result
        frame = merge(None, rows, spec, rt)
        return dataclasses.replace(result, frame=frame, kpi=None, display=live_display(result.display))

    def _live_update(self, widget_id: int, events: list[Event]) -> None:
        """New messages of a real-time tile's channel (session event loop): update the tile in place."""
        r = self._results.get(widget_id)
        if r is None or r.frame is None:
            # Not loaded yet: kept (bounded) until its first data arrives, then applied.
            self._early.setdefault(widget_id, collections.deque(maxlen=EARLY_MESSAGES)).extend(events)
            return
        rt = r.stored.realtime if r.stored is not None else None
        spec = r.spec
        if rt is None or spec is None or (r.drill and r.drill.path):
            return  # a drilled tile shows another level: the channel's rows are not its rows
        events = newer(events, self._live_after.get(widget_id))
        if not events:
            return
        self._live_after[widget_id] = events[-1].id
        columns = columns_of(spec)
        rows = [row for e in events for row in rows_of(e.data, rt, columns)]
        if not rows:
            return
        frame = merge(r.frame, rows, spec, rt)
        self._results[widget_id] = dataclasses.replace(
            r, frame=frame, kpi=None, display=live_display(r.display)
        )
        body = self._bodies.get(widget_id)
        shown = body.objects[0] if body is not None and len(body.objects) == 1 else None
        if isinstance(shown, ChartPane) and spec.chart is not None and shown.object is not None:
            fresh = pd.DataFrame(rows, columns=columns)
            if spec.chart.viz == "line":
                done = stream_line(shown.object, spec, r.display, fresh, frame, rt.keep)
            else:
                done = patch_bars(shown.object, spec, fresh, frame)
            if done:
                shown.tap_state["df"] = frame  # a click reads the rows on screen
                return
        self._show(widget_id)  # a KPI card (its HTML replaced in place), or a chart's first data

    def _session_ended(self) -> None:
        self._loader.close()
        if self._live_tiles is not None:
            self._live_tiles.close()

    # -- rendering -----------------------------------------------------------------
    def _position(self, w: WidgetPlan | WidgetResult) -> dict[str, int]:
        if self.single_widget:
            # A widget's share link shows that one widget across the page (charts get some height).
            h = int((w.widget.position or {}).get("h", 4) or 4)
            return {"x": 0, "y": 0, "w": 12, "h": h if w.widget.viz == "kpi" else max(h, 8)}
        return self._moved.get(w.widget.id) or dict(w.widget.position or {})

    def _tile(self, w: WidgetPlan | WidgetResult) -> pn.viewable.Viewable:
        wid = w.widget.id
        stored = w.stored
        title = w.widget.title or (stored.title if stored else "") or ""
        body = pn.Column(self._body(wid), sizing_mode="stretch_both", margin=0)
        self._bodies[wid] = body
        on_remove = partial(self._remove, wid) if self.edit_mode else None
        alert = self.plan.alerts.get(wid) if self.plan is not None else None
        live = stored is not None and stored.realtime is not None
        self._tiles[wid] = tile = tile_frame(title, w.widget.viz, body, on_remove, alert, live=live)
        return tile

    def _render(self) -> None:
        """Build the grid from the plan: tiles with a result show it, the others a skeleton and fetch."""
        if self.plan is None:
            return
        widgets = sorted(
            self._planned(), key=lambda w: (self._position(w).get("y", 0), self._position(w).get("x", 0))
        )
        rows = max([self._position(w).get("y", 0) + self._position(w).get("h", 3) for w in widgets] or [4])
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
        self._ids, self._bodies, self._tiles = {}, {}, {}
        for w in widgets:
            p = self._position(w)
            tile = self._tile(w)
            grid[p["y"] : p["y"] + p["h"], p["x"] : p["x"] + p["w"]] = tile
            self._ids[str(id(tile))] = w.widget.id
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
        missing = [w.widget.id for w in widgets if w.widget.id not in self._results]
        if not self._connected and self._live():
            # The first fill waits until the browser holds the page: tiles changed between the page
            # build and the websocket's first pull could be lost to it (seen on fast, cached reloads).
            self._connected = True
            pn.state.onload(partial(self._fetch, missing))
        else:
            self._fetch(missing)

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

    def _schedule_refreshes(self, widgets: list[WidgetPlan | WidgetResult]) -> None:
        for cb in self._periodic:
            cb.stop()
        self._periodic = []
        if pn.state.curdoc is None:
            return
        for w in widgets:
            sec = w.widget.refresh_interval_sec
            if sec:
                cb = partial(self._refresh, w.widget.id)
                self._periodic.append(pn.state.add_periodic_callback(cb, period=int(sec) * 1000))

    def _refresh(self, widget_id: int) -> None:
        """A widget's periodic refresh: that widget alone, with the session and scope checked again."""
        scope = run(self.ctx, lambda s, p: p.scope)
        if scope is not None:
            self._fetch([widget_id], fresh_scope=scope)

    # -- permalinks ------------------------------------------------------------------
    def _read_url(self) -> None:
        """Filters from the address (a shared link, a reload) override the saved ones."""
        args = pn.state.session_args if pn.state.curdoc is not None else {}
        try:
            chosen = dashboards.filters_from_args({k: [v.decode() for v in vs] for k, vs in args.items()})
        except (PortalError, UnicodeDecodeError) as exc:
            notify_error(f"The address holds filters that cannot be read: {exc}")
            return
        if chosen is None:
            return
        if "time_range" in chosen.model_fields_set:
            window = chosen.time_range or ""
            label = next((k for k, v in self.presets.items() if v == window), None)
            if label is None:
                label = f"Link: {describe_window(window)}"
                self.presets[label] = window
                self.param.time_range.objects = list(self.presets)
            self.time_range = label
        self._select(chosen)
        if chosen.customer:
            scope = self.plan.scope if self.plan is not None else None
            if scope is not None:
                self.param.location.objects = escaped_options(
                    sorted({*self._filter_options(scope, chosen.customer)["location"], *self.location})
                )
        plan = run(
            self.ctx,
            lambda s, p: dashboards.plan_dashboard(
                s, p, self._catalog(s, p), self.dashboard_id, filters=self.filters(), record_view=False
            ),
        )
        if plan is not None:
            self._adopt(plan)

    def _sync_url(self) -> None:
        """Keep the current filters in the address, so a reload or a shared link shows the same view.

        Every filter is written (an empty one as ``customer=``): a link means exactly what was on
        screen, whatever the dashboard's saved defaults are by the time it is opened.
        """
        loc = pn.state.location if pn.state.curdoc is not None else None
        if loc is None or is_shared_view():
            return  # a share link's address is the link itself
        loc.search = address_query(self.dashboard_id, self.filters())

    # -- interaction (thin callbacks) ------------------------------------------------
    def _tapped(self, widget_id: int, spec: WidgetSpec, value: Any) -> None:
        drill = spec.drilldown
        stored = next((w.stored for w in self._planned() if w.widget.id == widget_id and w.stored), None)
        drill = stored.drilldown if stored is not None else drill
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
        # delete_widget returns None: say "done" explicitly, run() returns None on failure.
        def remove(s: Any, p: Principal) -> bool:
            dashboards.delete_widget(s, p, widget_id)
            return True

        if run(self.ctx, remove, success="Widget removed"):
            self._replan(rebuild=True)

    def _open_editor(self, *_: Any) -> None:
        sc = run(self.ctx, lambda s, p: p.scope)
        if sc is None or self.plan is None:
            return
        named = dashboards.named_queries(self.plan.dashboard)
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
            self._replan(rebuild=True)

    def _save_filters(self, *_: Any) -> None:
        f = self.filters().model_dump(mode="json")
        run(
            self.ctx,
            lambda s, p: dashboards.update_dashboard(s, p, self.dashboard_id, {"filters": f}),
            success="Filters saved as the dashboard's default",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        if self.plan is None:
            return self.grid_area
        bar: list[Any] = [
            pn.widgets.Select.from_param(self.param.time_range, name="Time", width=200),
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
        # Owners and admins share it with people (the component hides itself for anyone else).
        sharing: list[Any] = []
        if not is_shared_view():
            people = SharePeople(self.ctx, object_type="dashboard", object_id=self.dashboard_id)
            link = ShareLink(self.ctx, object_type="dashboard", object_id=self.dashboard_id)
            people.buttons.append(link.button)
            sharing = [people, link]
        return pn.Column(
            pn.Row(self.header, *tools),
            *sharing,
            pn.Row(*bar, css_classes=["global-filters"]),
            self.breadcrumb,
            self.editor_area,
            self.grid_area,
            sizing_mode="stretch_width",
        )
