"""Widget data, the one way through: typed results for the UI, JSON only at the REST edge.

A whole dashboard loads in one transaction with one authorization and one
scope (:func:`load_dashboard`); one widget (a drill step, a refresh) goes
through :func:`widget_result`. Both return :class:`WidgetResult`: the frame,
the effective spec, the KPI and the drill state.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.orm import Session

from portal.alerts.highlight import WidgetAlert, widgets_with_alerts
from portal.dashboards.access import get_widget, widget_spec
from portal.dashboards.drill import apply_filters, drill, drilled_widget, effective_filters, normalise_path
from portal.dashboards.service import is_favorite
from portal.dashboards.sources import source_query
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.timewindows import naive_utc, now_minute, parse_time_expr, parse_time_range, previous_window
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError
from portal.identity import audit
from portal.identity.permissions import ACTIONS_BY_ROLE, authorize
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.models import Dashboard, Widget
from portal.specs import DashboardFilters, KpiSpec, QuerySpec, TableSpec, WidgetSpec
from portal.viz.cards import KpiValue, kpi_values
from portal.viz.formats import Display
from portal.viz.markdown import render_markdown
from portal.viz.periods import PERIOD_BUCKETS
from portal.viz.prepare import CATEGORY_PALETTE

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DrillState:
    """Where a drillable widget is: the steps taken, the level shown and the next one."""

    path: tuple[tuple[str, Any], ...]
    level: str
    next: str | None


@dataclass(frozen=True)
class KpiResult:
    """A KPI card's numbers: the value (first row of the result), the previous period's, and
    what the card shows (:func:`portal.viz.cards.kpi_values`, the one KPI rule)."""

    value: float | None
    previous: float | None
    shown: KpiValue


@dataclass(frozen=True)
class WidgetResult:
    """One widget as a viewer sees it now.

    ``spec`` is the effective spec (drilled one level down when ``drill`` has steps),
    ``query`` the query that ran (global filters, drill and scope applied; for a KPI without
    its grouping, :func:`kpi_query`); ``frame`` is None for text widgets (``html``) and failed
    widgets (``error``). A table's ``totals`` (one row) and ``subtotals`` (one row per group)
    are the same query re-run by the warehouse with less grouping (:func:`summary_queries`), so
    every metric is re-aggregated by its own rule. ``display`` names and formats the columns.
    """

    widget: Widget
    spec: WidgetSpec | None
    stored: WidgetSpec | None = None  # the widget's saved spec, parsed once (None if it failed)
    query: QuerySpec | None = None
    frame: pd.DataFrame | None = None
    cached: bool = False
    row_count: int = 0
    runtime_ms: float = 0.0
    drill: DrillState | None = None
    kpi: KpiResult | None = None
    html: str | None = None
    error: str | None = None
    error_field: str | None = None
    totals: pd.DataFrame | None = None
    subtotals: pd.DataFrame | None = None
    display: Display | None = None


@dataclass(frozen=True)
class DashboardView:
    """A dashboard with every widget's result, loaded in one transaction."""

    dashboard: Dashboard
    filters: DashboardFilters  # the filters applied (saved ones overridden by the viewer's)
    as_of: datetime  # the minute relative windows were anchored to
    favorite: bool
    can_edit: bool
    widgets: list[WidgetResult] = field(default_factory=list)


def _resolve(
    session: Session,
    principal: Principal,
    d: Dashboard,
    ws: WidgetSpec,
    filters: DashboardFilters,
    path: list[tuple[str, Any]],
    catalog: Catalog,
) -> tuple[QuerySpec, WidgetSpec]:
    spec = apply_filters(source_query(session, principal, d, ws), filters, catalog)
    if not path:
        return spec, ws
    if ws.drilldown is None or not ws.drilldown.hierarchy:
        raise InvalidSpec("drill: this widget has no drill-down hierarchy", field="drill")
    try:
        spec = drill(spec, ws.drilldown, path)
    except InvalidSpec as exc:
        raise InvalidSpec(exc.message.replace("drilldown:", "drill:", 1), field="drill") from None
    return spec, drilled_widget(ws, ws.drilldown.hierarchy, path)


def widget_query(
    session: Session,
    principal: Principal,
    dashboard: Dashboard,
    widget: Widget,
    *,
    filters: DashboardFilters | None = None,
    drill_path: Sequence[tuple[str, Any]] | None = None,
    catalog: Catalog = DEMO_CATALOG,
) -> tuple[QuerySpec, WidgetSpec]:
    """The query a widget runs and the widget as shown.

    Resolves the source (inline / named / report), adds the dashboard's global
    filters (fields set in ``filters``, the user's current selection, override
    the saved ones), then drills down ``drill_path`` (``[("team_name", "X")]``):
    the query groups by the next level and the returned WidgetSpec shows it.
    """
    if widget.dashboard_id != dashboard.id:
        raise NotFound(f"widget {widget.id} not found")
    authorize(session, principal, "view", dashboard)
    ws = widget_spec(widget)
    if ws.type == "text":
        raise InvalidSpec("type: text widgets have no query", field="type")
    return _resolve(
        session,
        principal,
        dashboard,
        ws,
        effective_filters(dashboard, filters),
        normalise_path(drill_path),
        catalog,
    )


def _check_override(filters: DashboardFilters | None, now: datetime) -> None:
    if filters is not None and filters.time_range is not None:
        parse_time_range(filters.time_range, now, field="time_range")


def kpi_query(spec: QuerySpec) -> QuerySpec:
    """The query of a KPI card: ``spec`` without group-by, sort and offset, so the warehouse
    aggregates every row into one (a KPI on "tickets by priority" is all tickets, not the
    first priority's). Raw-row queries (no metrics) are left as they are."""
    if not spec.metrics or not (spec.group_by or spec.sort or spec.offset):
        return spec
    return spec.model_copy(update={"group_by": [], "sort": [], "offset": 0, "limit": 1})


def summary_queries(spec: QuerySpec, table: TableSpec | None) -> tuple[QuerySpec | None, QuerySpec | None]:
    """The (totals, subtotals) queries of a table widget over an aggregated ``spec``.

    The same query (filters, scope, params) with no group-by for the grand total and
    grouped by the ``subtotals_by`` column only for the subtotals: the warehouse
    re-aggregates each metric by its own rule (averages, rates, distinct counts,
    percentiles and medians are exact, never sums of the shown values). None where the
    table shows no such row or the query has nothing to re-aggregate (raw rows).
    """
    if table is None or not spec.metrics or not spec.group_by:
        return None, None
    totals = (
        spec.model_copy(update={"group_by": [], "sort": [], "offset": 0, "limit": 1})
        if table.totals
        else None
    )
    subtotals = None
    keep = [g for g in spec.group_by if g.name == table.subtotals_by]
    if table.subtotals_by and keep:
        subtotals = spec.model_copy(update={"group_by": keep, "sort": [], "offset": 0})
    return totals, subtotals


def _window(spec: QuerySpec, time_column: str | None, now: datetime) -> tuple[datetime | None, datetime]:
    """The time window a query's filters give its source's time column, never ending after ``now``."""
    start: datetime | None = None
    end = now
    if time_column is None:
        return None, end

    def instant(value: Any) -> datetime | None:
        text = str(value).strip()
        if text.startswith("{{") and text.endswith("}}"):
            return parse_time_expr(text[2:-2], now)
        try:
            return naive_utc(datetime.fromisoformat(text))
        except ValueError:
            return None

    for f in spec.filters:
        if f.column != time_column:
            continue
        try:
            lo = hi = None
            if f.op == "between":
                value = f.value if isinstance(f.value, str) else "..".join(str(v) for v in f.value)
                lo, hi = parse_time_range(value, now)
            elif f.op in (">", ">="):
                lo = instant(f.value)
            elif f.op in ("<", "<="):
                hi = instant(f.value)
        except (PortalError, TypeError, ValueError):
            continue  # a parameter or a value the window cannot read: it does not cut
        if lo is not None:
            start = lo if start is None else max(start, lo)
        if hi is not None:
            end = min(end, hi)
    return start, end


def result_display(spec: QuerySpec, catalog: Catalog, now: datetime) -> Display:
    """How the result of ``spec`` is shown: the catalog's labels and formats of its columns, the
    time buckets of its source's time column with the window the filters give it (to mark partial
    periods), and fixed colours for the known values of low-cardinality columns."""
    source = catalog.source(spec.source)
    described = source.describe(spec)
    buckets = {
        name: c.bucket
        for name, c in described.items()
        if c.bucket in PERIOD_BUCKETS and c.column == source.time_column
    }
    colors: dict[str, str] = {}
    for c in described.values():
        known = getattr(source.find_column(c.column), "values", ()) if c.column and not c.bucket else ()
        for i, value in enumerate(known or ()):
            colors.setdefault(str(value), CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)])
    return Display(
        labels={name: c.label for name, c in described.items()},
        formats={name: c.format for name, c in described.items()},
        buckets={k: v for k, v in buckets.items() if v is not None},
        window=_window(spec, source.time_column, now) if buckets else (None, None),
        colors=colors,
    )


def kpi_result(kpi: KpiSpec, frame: pd.DataFrame, previous: pd.DataFrame | None = None) -> KpiResult:
    """The one KPI rule: the value is the first row's ``kpi.value`` of an ungrouped result
    (:func:`kpi_query` drops the grouping before the warehouse runs it), compared with the
    previous period's result when there is one."""
    value = first_value(frame, kpi.value)
    before = first_value(previous, kpi.value) if previous is not None else None
    return KpiResult(value, before, kpi_values(value, before, kpi))


def first_value(frame: pd.DataFrame, column: str) -> float | None:
    """The KPI value of a result: the first row's ``column`` as a number (None if absent or null)."""
    if column not in frame.columns or frame.empty:
        return None
    v = frame[column].iloc[0]
    if v is None or (not isinstance(v, str) and bool(pd.isna(v))):
        return None
    if isinstance(v, numbers.Number):
        return float(v)  # type: ignore[arg-type]
    return None


@dataclass(frozen=True)
class WidgetPlan:
    """What a widget will run, decided in the metadata transaction: its saved and shown specs,
    the query (global filters and drill applied) and, for a KPI, the previous period's query.

    :func:`run_plan` executes it against the warehouse with no metadata session at all, so a
    page can fetch its tiles concurrently and re-run one tile (a refresh) on its own.
    """

    widget: Widget
    stored: WidgetSpec
    spec: WidgetSpec
    query: QuerySpec | None = None  # None for text widgets
    previous: QuerySpec | None = None
    drill: DrillState | None = None
    totals: QuerySpec | None = None  # a table's grand total (:func:`summary_queries`)
    subtotals: QuerySpec | None = None  # a table's subtotals
    display: Display | None = None


def _plan_widget(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    d: Dashboard,
    w: Widget,
    filters: DashboardFilters,
    drill_path: Sequence[Any] | None,
    now: datetime,
) -> WidgetPlan:
    path = normalise_path(drill_path)  # a bad drill path is this widget's error, not the view's
    ws = widget_spec(w)
    if ws.type == "text":
        return WidgetPlan(widget=w, stored=ws, spec=ws)
    spec, shown = _resolve(session, principal, d, ws, filters, path, catalog)
    state = None
    if ws.drilldown is not None and ws.drilldown.hierarchy:
        levels = ws.drilldown.hierarchy
        state = DrillState(
            path=tuple(path),
            level=levels[len(path)],
            next=levels[len(path) + 1] if len(path) + 1 < len(levels) else None,
        )
    previous = None
    compare = ws.kpi is not None and ws.kpi.compare_previous and filters.time_range
    if compare and filters.time_range and catalog.source(spec.source).time_column:
        prev_filters = filters.model_copy(update={"time_range": previous_window(filters.time_range, now)})
        previous, _ = _resolve(session, principal, d, ws, prev_filters, path, catalog)
    if ws.type == "kpi":
        spec = kpi_query(spec)
        previous = kpi_query(previous) if previous is not None else None
    totals, subtotals = (
        summary_queries(spec, shown.table or TableSpec()) if ws.type == "table" else (None, None)
    )
    return WidgetPlan(
        widget=w,
        stored=ws,
        spec=shown,
        query=spec,
        previous=previous,
        drill=state,
        totals=totals,
        subtotals=subtotals,
        display=result_display(spec, catalog, now),
    )


def run_plan(
    plan: WidgetPlan, warehouse: Warehouse, scope: Scope, *, now: datetime, use_cache: bool = True
) -> WidgetResult:
    """Run a planned widget in ``scope`` (the principal's, read when the plan was made or just
    re-checked); warehouse only, safe to call from worker threads."""
    ws = plan.stored
    if plan.query is None:
        return WidgetResult(widget=plan.widget, spec=ws, stored=ws, html=render_markdown(ws.text or ""))
    res = warehouse.run(plan.query, scope, now=now, use_cache=use_cache)
    kpi = None
    if ws.kpi is not None:
        previous = None
        if plan.previous is not None:
            previous = warehouse.run(plan.previous, scope, now=now, use_cache=use_cache).frame
        kpi = kpi_result(ws.kpi, res.frame, previous)
    totals = subtotals = None
    if plan.totals is not None:
        totals = warehouse.run(plan.totals, scope, now=now, use_cache=use_cache).frame
    if plan.subtotals is not None:
        subtotals = warehouse.run(plan.subtotals, scope, now=now, use_cache=use_cache).frame
    return WidgetResult(
        widget=plan.widget,
        spec=plan.spec,
        stored=ws,
        query=plan.query,
        frame=res.frame,
        cached=res.cached,
        row_count=res.row_count,
        runtime_ms=round(res.runtime_ms, 2),
        drill=plan.drill,
        kpi=kpi,
        totals=totals,
        subtotals=subtotals,
        display=plan.display,
    )


def _widget_result(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    d: Dashboard,
    w: Widget,
    filters: DashboardFilters,
    path: list[tuple[str, Any]],
    now: datetime,
    use_cache: bool,
) -> WidgetResult:
    catalog = warehouse.catalog_for(principal.scope.tenant_key, session)
    plan = _plan_widget(session, principal, catalog, d, w, filters, path, now)
    return run_plan(plan, warehouse, principal.scope, now=now, use_cache=use_cache)


def guarded(widget: Widget, load: Callable[[], T]) -> T | WidgetResult:
    """``load()``, or the widget with its error: one failing widget never fails the view."""
    try:
        return load()
    except PortalError as exc:
        return WidgetResult(widget=widget, spec=None, error=exc.message, error_field=exc.field)
    except Exception as exc:
        # A broken widget (warehouse down, bad stored spec) must not take the dashboard down.
        log.exception("dashboard %s widget %s failed", widget.dashboard_id, widget.id)
        return WidgetResult(
            widget=widget, spec=None, error=f"could not load this widget ({type(exc).__name__})"
        )


def widget_result(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    dashboard_id: int | None,
    widget_id: int,
    *,
    filters: DashboardFilters | None = None,
    drill_path: Sequence[Any] | None = None,
    now: datetime | None = None,
    use_cache: bool = True,
) -> WidgetResult:
    """Run one widget's query in the principal's scope (a drill step, a refresh, the REST widget data).

    ``dashboard_id`` may be None (the widget's own dashboard); ``now`` anchors relative
    windows (default: the current minute, UTC). Bad input raises; see :func:`load_dashboard`
    for the view where a failing widget carries its error instead.
    """
    w, d = get_widget(session, principal, widget_id, "view")
    if dashboard_id is not None and d.id != dashboard_id:
        raise NotFound(f"widget {widget_id} not found")
    at = now_minute(now)
    _check_override(filters, at)
    return _widget_result(
        session,
        principal,
        warehouse,
        d,
        w,
        effective_filters(d, filters),
        normalise_path(drill_path),
        at,
        use_cache,
    )


@dataclass(frozen=True)
class DashboardPlan:
    """A dashboard with what each widget will run (or why it cannot), decided in one transaction."""

    dashboard: Dashboard
    filters: DashboardFilters
    as_of: datetime
    favorite: bool
    can_edit: bool
    scope: Scope
    widgets: list[WidgetPlan | WidgetResult] = field(default_factory=list)  # a WidgetResult: an error
    #: Widgets an open or acknowledged alert highlights (one query for the whole dashboard).
    alerts: dict[int, WidgetAlert] = field(default_factory=dict)


def plan_dashboard(
    session: Session,
    principal: Principal,
    catalog: Catalog,
    dashboard_id: int,
    *,
    filters: DashboardFilters | None = None,
    drill_paths: Mapping[int, Sequence[Any]] | None = None,
    now: datetime | None = None,
    record_view: bool = True,
) -> DashboardPlan:
    """Everything a dashboard needs from the metadata database: one authorization, one scope, one
    transaction, a fixed number of statements whatever the widget count.

    ``drill_paths`` (widget id → steps) plans those widgets drilled down. A widget that cannot
    be planned carries its error; bad filters raise (they concern the whole view).
    """
    d = session.get(Dashboard, dashboard_id)
    if d is None:
        raise NotFound(f"dashboard {dashboard_id} not found")
    role = authorize(session, principal, "view", d)
    at = now_minute(now)
    _check_override(filters, at)
    effective = effective_filters(d, filters)
    widgets, highlighted = widgets_with_alerts(session, d.id, d.tenant_id)  # one query for both
    if principal.share is not None and principal.share.widget_ids is not None:
        widgets = [w for w in widgets if w.id in principal.share.widget_ids]  # a widget's link
    paths = drill_paths or {}
    plans = [
        guarded(w, partial(_plan_widget, session, principal, catalog, d, w, effective, paths.get(w.id), at))
        for w in widgets
    ]
    if record_view:
        audit.record(session, principal, "view", d, details={"widgets": len(widgets)})
    return DashboardPlan(
        dashboard=d,
        filters=effective,
        as_of=at,
        favorite=principal.user_id is not None and is_favorite(session, principal, d.id),
        can_edit="edit" in ACTIONS_BY_ROLE[role],
        scope=principal.scope,
        widgets=plans,
        alerts=highlighted,
    )


def run_dashboard(plan: DashboardPlan, warehouse: Warehouse, *, use_cache: bool = True) -> DashboardView:
    """Every planned widget run in the plan's scope, one after the other (the REST view)."""
    results: list[WidgetResult] = []
    for p in plan.widgets:
        if isinstance(p, WidgetResult):
            results.append(p)
        else:
            out = guarded(
                p.widget, partial(run_plan, p, warehouse, plan.scope, now=plan.as_of, use_cache=use_cache)
            )
            results.append(out)
    return DashboardView(
        dashboard=plan.dashboard,
        filters=plan.filters,
        as_of=plan.as_of,
        favorite=plan.favorite,
        can_edit=plan.can_edit,
        widgets=results,
    )


def load_dashboard(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    dashboard_id: int,
    *,
    filters: DashboardFilters | None = None,
    drill_paths: Mapping[int, Sequence[Any]] | None = None,
    now: datetime | None = None,
    use_cache: bool = True,
    record_view: bool = True,
) -> DashboardView:
    """The dashboard with every widget's result (:func:`plan_dashboard`, then :func:`run_dashboard`)."""
    plan = plan_dashboard(
        session,
        principal,
        warehouse.catalog_for(principal.scope.tenant_key, session),
        dashboard_id,
        filters=filters,
        drill_paths=drill_paths,
        now=now,
        record_view=record_view,
    )
    return run_dashboard(plan, warehouse, use_cache=use_cache)
