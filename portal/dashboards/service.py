"""Dashboard service: CRUD, favorites, widgets, layout, and widget data with filters and drill-down.

Functions take the session first and never commit: the caller owns the transaction.
Dashboard-level named queries live in ``layout_json["queries"]``: one query,
many views (several widgets read the same result columns).
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, and_, delete, false, or_, select
from sqlalchemy.orm import Session

from portal.dashboards.drill import apply_filters, drill
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.query import compile_query
from portal.data.timewindows import PLACEHOLDER_RE, parse_time_expr
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError, unknown
from portal.identity import audit
from portal.identity.auth import group_ids, user_scope
from portal.identity.permissions import authorize, can, granted_ids, visible_clause
from portal.identity.scope import Scope
from portal.models import Dashboard, Favorite, Membership, Permission, User, Widget, utcnow
from portal.reports import get_report
from portal.specs import (
    ALIAS_RE,
    GLOBAL_FILTER_COLUMNS,
    DashboardFilters,
    KpiSpec,
    ObjectScope,
    Position,
    QuerySpec,
    WidgetSpec,
    parse_spec,
)
from portal.viz.cards import kpi_values
from portal.viz.markdown import render_markdown

log = logging.getLogger(__name__)

Visibility = Literal["private", "group", "customer", "public"]
ListGroup = Literal["mine", "team", "public", "favorites"]
LIST_GROUPS: tuple[str, ...] = ("mine", "team", "public", "favorites")
#: ``Favorite.object_type`` of dashboards (the table name, like permissions use).
FAVORITE_TYPE = "dashboards"
MAX_WIDGETS = 100
MAX_QUERIES = 50
#: Size (w, h) a widget gets when added without a position.
DEFAULT_SIZE: dict[str, tuple[int, int]] = {"kpi": (3, 2), "chart": (6, 4), "table": (12, 6), "text": (12, 2)}
GRID_COLUMNS = 12
MAX_GRID_Y = 1000

M = TypeVar("M", bound=BaseModel)


# --------------------------------------------------------------------------- input models
def _check_query_names(v: dict[str, QuerySpec] | None) -> dict[str, QuerySpec] | None:
    for name in v or {}:
        if not ALIAS_RE.match(name):
            raise ValueError(f"query name {name!r} must hold only letters, digits and _ (max 63)")
    return v


class DashboardIn(BaseModel):
    """What a client sends to create a dashboard."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    visibility: Visibility = "private"
    filters: DashboardFilters = Field(default_factory=DashboardFilters)
    queries: dict[str, QuerySpec] = Field(default_factory=dict, max_length=MAX_QUERIES)
    realtime_enabled: bool = False
    scope: ObjectScope = Field(
        default_factory=ObjectScope, description="e.g. {'customer_id': 7} for customer visibility"
    )

    _names = field_validator("queries")(_check_query_names)


class DashboardPatch(BaseModel):
    """A partial update of a dashboard: only the fields given change.

    ``positions`` (widget id → position) saves the layout in the same call.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = None
    filters: DashboardFilters | None = None
    queries: dict[str, QuerySpec] | None = Field(default=None, max_length=MAX_QUERIES)
    realtime_enabled: bool | None = None
    scope: ObjectScope | None = None
    positions: dict[int, Position] | None = None

    _names = field_validator("queries")(_check_query_names)


# --------------------------------------------------------------------------- JSON views
def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def _queries(d: Dashboard) -> dict[str, Any]:
    q = (d.layout_json or {}).get("queries") or {}
    return dict(q) if isinstance(q, dict) else {}


def widget_to_dict(w: Widget, *, spec: WidgetSpec | None = None) -> dict[str, Any]:
    """JSON view of a widget; ``spec`` replaces the stored one (e.g. the drilled view)."""
    return {
        "id": w.id,
        "dashboard_id": w.dashboard_id,
        "type": w.type,
        "viz": spec.viz if spec is not None else w.viz,
        "title": spec.title if spec is not None else w.title,
        "spec": _dump_widget(spec) if spec is not None else w.config_json,
        "position": w.position,
        "refresh_interval_sec": w.refresh_interval_sec,
        "realtime_channel": w.realtime_channel,
    }


def dashboard_to_dict(
    d: Dashboard, widgets: Sequence[Widget] | None = None, *, favorite: bool | None = None
) -> dict[str, Any]:
    """JSON view of a dashboard, with its widgets when given."""
    out: dict[str, Any] = {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "visibility": d.visibility,
        "owner_id": d.owner_id,
        "filters": d.filters_json or {},
        "queries": _queries(d),
        "realtime_enabled": d.realtime_enabled,
        "scope": d.scope_json or {},
        "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at),
    }
    if widgets is not None:
        out["widgets"] = [widget_to_dict(w) for w in widgets]
    if favorite is not None:
        out["favorite"] = favorite
    return out


def _dump_query(q: QuerySpec) -> dict[str, Any]:
    return q.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _dump_widget(ws: WidgetSpec) -> dict[str, Any]:
    return ws.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _dump_filters(f: DashboardFilters) -> dict[str, Any]:
    return f.model_dump(mode="json", exclude_defaults=True)


# --------------------------------------------------------------------------- error helpers
def _within(prefix: str, exc: PortalError) -> PortalError:
    """The same error with its field nested under ``prefix`` (``spec`` + ``chart.x`` → ``spec.chart.x``)."""
    inner = exc.field
    field = f"{prefix}.{inner}" if inner else prefix
    msg = exc.message
    if inner and msg.startswith(f"{inner}:"):
        msg = f"{field}:{msg[len(inner) + 1 :]}"
    elif not msg.startswith(f"{field}:"):
        msg = f"{field}: {msg}"
    return type(exc)(msg, field=field)


def _parse(model: type[M], data: Any, prefix: str | None = None) -> M:
    """``parse_spec`` whose error field is nested under ``prefix`` (a whole-model error names ``prefix``)."""
    try:
        return parse_spec(model, data)
    except InvalidSpec as exc:
        if prefix is None:
            raise
        if exc.field == model.__name__:
            rest = exc.message.split(":", 1)[1].strip() if ":" in exc.message else exc.message
            raise InvalidSpec(f"{prefix}: {rest}", field=prefix) from None
        raise _within(prefix, exc) from None


# --------------------------------------------------------------------------- time windows (pure)
def _naive(dt: datetime) -> datetime:
    # The warehouse and the query engine work in naive UTC.
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo is not None else dt


def _minute(now: datetime | None) -> datetime:
    # Truncated to the minute, as the query engine anchors relative windows:
    # every widget of one view sees the same window and shares cache entries.
    return _naive(now or datetime.now(UTC)).replace(second=0, microsecond=0)


def _instant(text: str, now: datetime, field: str) -> datetime:
    s = text.strip()
    m = PLACEHOLDER_RE.fullmatch(s)
    if m:
        t = parse_time_expr(m.group(1), now, field=field)
        if t is None:
            raise InvalidSpec(
                f"{field}: cannot read {s!r}; use e.g. {{{{now-30d}}}} or {{{{start_of_month}}}}", field=field
            )
        return t
    try:
        out = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(
            f"{field}: {s[:60]!r} is neither an ISO date/time nor a placeholder like {{{{now-7d}}}}",
            field=field,
        ) from None
    return _naive(out)


def parse_time_range(
    time_range: str, now: datetime, *, field: str = "time_range"
) -> tuple[datetime, datetime]:
    """The (start, end) instants of ``'start..end'`` (placeholders or ISO dates).

    Raises InvalidSpec naming ``field`` when the text cannot be read or the start is after the end.
    """
    if not isinstance(time_range, str) or ".." not in time_range:
        raise InvalidSpec(
            f"{field}: use 'start..end', e.g. '{{{{now-30d}}}}..{{{{now}}}}' or '2026-01-01..2026-02-01'",
            field=field,
        )
    now = _naive(now)
    lo_text, hi_text = time_range.split("..", 1)
    lo, hi = _instant(lo_text, now, field), _instant(hi_text, now, field)
    if lo > hi:
        raise InvalidSpec(
            f"{field}: the start {lo.isoformat()} is after the end {hi.isoformat()}", field=field
        )
    return lo, hi


def previous_window(time_range: str, now: datetime) -> str:
    """The window of the same length just before ``time_range``, as absolute ``'start..end'``.

    ``'{{now-7d}}..{{now}}'`` at 2026-11-18 12:00 gives
    ``'2026-11-04T12:00:00..2026-11-11T11:59:59.999999'``: the end stops one
    microsecond before the current window starts, because ``between`` is inclusive
    and a row must not count in both periods. ``now`` is naive UTC.
    """
    lo, hi = parse_time_range(time_range, now)
    length = hi - lo
    try:
        start = lo - length
    except OverflowError:
        raise InvalidSpec(
            "time_range: the previous period of this window would start before year 1; "
            "use a shorter window or turn off compare_previous",
            field="time_range",
        ) from None
    return f"{start.isoformat()}..{(lo - timedelta(microseconds=1)).isoformat()}"


# --------------------------------------------------------------------------- KPI (pure)
def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float) and v == v:  # NaN is no value
        return float(v)
    return None


def kpi_summary(kpi: KpiSpec, value: Any, previous: Any) -> dict[str, Any]:
    """What a KPI card shows: value, previous, absolute and relative change, target, status.

    The status and variation come from :func:`portal.viz.cards.kpi_values`, the same
    function the web card uses, so the API and the UI always agree.
    """
    v, p = _number(value), _number(previous)
    shown = kpi_values(v, p, kpi)
    return {
        "value": v,
        "previous": p,
        "delta": v - p if v is not None and p is not None else None,
        "change": shown.variation if p else None,
        "target": kpi.target,
        "status": shown.status,
    }


# --------------------------------------------------------------------------- layout (pure)
def _overlap(a: Position, b: Position) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def auto_position(existing: Iterable[Position], w: int, h: int) -> Position:
    """The first free ``w`` x ``h`` slot of the 12-column grid, scanning rows top-down, columns left-right.

    Gaps left by smaller widgets are filled first; on a full grid the widget goes below everything.
    """
    taken = list(existing)
    w = max(1, min(w, GRID_COLUMNS))
    bottom = max((p.y + p.h for p in taken), default=0)
    for y in range(bottom + 1):
        if y > MAX_GRID_Y:
            break
        for x in range(GRID_COLUMNS - w + 1):
            cand = Position(x=x, y=y, w=w, h=h)
            if not any(_overlap(cand, p) for p in taken):
                return cand
    raise InvalidSpec("position: the dashboard has no free space left", field="position")


# --------------------------------------------------------------------------- dashboards
def get_dashboard(session: Session, user: User, dashboard_id: int, action: str = "view") -> Dashboard:
    """A dashboard the user may ``action``; NotFound for other tenants or invisible ones."""
    d = session.get(Dashboard, dashboard_id)
    if d is None:
        raise NotFound(f"dashboard {dashboard_id} not found")
    authorize(session, user, action, d)
    return d


def list_widgets(session: Session, user: User, dashboard_id: int) -> list[Widget]:
    """Widgets of a dashboard the user may view, in reading order (top to bottom, left to right)."""
    return _widgets(session, get_dashboard(session, user, dashboard_id, "view"))


def _widgets(session: Session, d: Dashboard) -> list[Widget]:
    rows = list(session.scalars(select(Widget).where(Widget.dashboard_id == d.id)))

    def key(w: Widget) -> tuple[int, int, int]:
        p = w.position or {}
        return (int(p.get("y", 0)), int(p.get("x", 0)), w.id)

    return sorted(rows, key=key)


def _validate_queries(
    session: Session, user: User, queries: Mapping[str, QuerySpec], catalog: Catalog
) -> None:
    scope = user_scope(session, user)
    for name, q in queries.items():
        try:
            compile_query(q, catalog, scope)
        except PortalError as exc:
            raise _within(f"queries.{name}", exc) from None


def _validate_filters(f: DashboardFilters, field: str) -> None:
    if f.time_range is not None:
        parse_time_range(f.time_range, _minute(None), field=f"{field}.time_range")


def create_dashboard(
    session: Session, user: User, data: DashboardIn | dict[str, Any], *, catalog: Catalog = DEMO_CATALOG
) -> Dashboard:
    """Create a dashboard owned by ``user`` (named queries are compiled against ``catalog`` first)."""
    d_in = parse_spec(DashboardIn, data)
    _validate_filters(d_in.filters, "filters")
    _validate_queries(session, user, d_in.queries, catalog)
    d = Dashboard(
        tenant_id=user.tenant_id,
        owner_id=user.id,
        name=d_in.name.strip(),
        description=d_in.description,
        visibility=d_in.visibility,
        filters_json=_dump_filters(d_in.filters),
        layout_json={"queries": {k: _dump_query(q) for k, q in d_in.queries.items()}},
        realtime_enabled=d_in.realtime_enabled,
        scope_json=d_in.scope.stored(),
    )
    session.add(d)
    session.flush()
    audit.record(session, user, "create", d, details={"name": d.name})
    return d


def update_dashboard(
    session: Session,
    user: User,
    dashboard_id: int,
    data: DashboardPatch | dict[str, Any],
    *,
    catalog: Catalog = DEMO_CATALOG,
) -> Dashboard:
    """Change the fields given (edit rights; changing visibility or scope needs share rights, i.e. owner)."""
    patch = parse_spec(DashboardPatch, data)
    d = get_dashboard(session, user, dashboard_id, "edit")
    given = {k for k in patch.model_fields_set if getattr(patch, k) is not None}
    if given & {"visibility", "scope"}:
        # Widening who sees a dashboard is sharing it, not editing it.
        authorize(session, user, "share", d)
    # Validate everything before changing anything: a rejected patch leaves the dashboard as it was.
    if patch.filters is not None:
        _validate_filters(patch.filters, "filters")
    if patch.queries is not None:
        _validate_queries(session, user, patch.queries, catalog)
        _check_query_users(session, d, patch.queries, catalog)
    moves = _parse_positions(session, d, patch.positions) if patch.positions is not None else {}
    if patch.name is not None:
        d.name = patch.name.strip()
    if patch.description is not None:
        d.description = patch.description
    if patch.visibility is not None:
        d.visibility = patch.visibility
    if patch.scope is not None:
        d.scope_json = patch.scope.stored()
    if patch.realtime_enabled is not None:
        d.realtime_enabled = patch.realtime_enabled
    if patch.filters is not None:
        d.filters_json = _dump_filters(patch.filters)
    if patch.queries is not None:
        d.layout_json = {
            **(d.layout_json or {}),
            "queries": {k: _dump_query(q) for k, q in patch.queries.items()},
        }
    for w, pos in moves.values():
        w.position = pos.model_dump()
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, user, "edit", d, details={"fields": sorted(given)})
    return d


def _check_query_users(
    session: Session, d: Dashboard, queries: Mapping[str, QuerySpec], catalog: Catalog
) -> None:
    """Widgets reading a named query must still find it, with the columns they show."""
    for w in _widgets(session, d):
        ws = _widget_spec(w)
        if ws.query_name is None:
            continue
        q = queries.get(ws.query_name)
        if q is None:
            raise InvalidSpec(
                f"queries: widget {w.id} ({w.title or w.viz}) reads query {ws.query_name!r}; "
                "keep it or change the widget first",
                field="queries",
            )
        try:
            _check_columns(ws, q, catalog)
        except PortalError as exc:
            raise InvalidSpec(
                f"queries.{ws.query_name}: widget {w.id} ({w.title or w.viz}) needs it: {exc.message}",
                field=f"queries.{ws.query_name}",
            ) from None


def delete_dashboard(session: Session, user: User, dashboard_id: int) -> None:
    """Delete a dashboard with its widgets, favorites and grants (owner or admin)."""
    d = get_dashboard(session, user, dashboard_id, "delete")
    audit.record(session, user, "delete", d, details={"name": d.name})
    # Favorites and grants point at the dashboard by id without a foreign key.
    session.execute(delete(Favorite).where(Favorite.object_type == FAVORITE_TYPE, Favorite.object_id == d.id))
    session.execute(
        delete(Permission).where(
            Permission.object_type == Dashboard.__tablename__, Permission.object_id == d.id
        )
    )
    session.execute(delete(Widget).where(Widget.dashboard_id == d.id))
    session.delete(d)
    session.flush()


def duplicate_dashboard(
    session: Session, user: User, dashboard_id: int, *, name: str | None = None
) -> Dashboard:
    """A private copy, owned by ``user``, of a dashboard they can view, widgets included."""
    src = get_dashboard(session, user, dashboard_id, "view")
    if name is not None and len(name) > 200:
        raise InvalidSpec("name: at most 200 characters", field="name")
    new_name = (name or f"Copy of {src.name}").strip()[:200]
    if not new_name:
        raise InvalidSpec("name: must not be empty", field="name")
    d = Dashboard(
        tenant_id=user.tenant_id,
        owner_id=user.id,
        name=new_name,
        description=src.description,
        visibility="private",  # a copy is the caller's draft until they share it
        filters_json=copy.deepcopy(src.filters_json or {}),
        layout_json=copy.deepcopy(src.layout_json or {}),
        realtime_enabled=src.realtime_enabled,
        scope_json={},
    )
    session.add(d)
    session.flush()
    for w in _widgets(session, src):
        session.add(
            Widget(
                dashboard_id=d.id,
                type=w.type,
                viz=w.viz,
                title=w.title,
                config_json=copy.deepcopy(w.config_json),
                position=dict(w.position or {}),
                refresh_interval_sec=w.refresh_interval_sec,
            )
        )
    session.flush()
    audit.record(session, user, "create", d, details={"name": d.name, "duplicate_of": src.id})
    return d


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _team_clause(session: Session, user: User) -> ColumnElement[bool]:
    """Others' dashboards reaching the user through a shared group or an explicit grant."""
    mine = group_ids(session, user)
    granted = granted_ids(user, mine, Dashboard.__tablename__)
    peers = select(Membership.user_id).where(Membership.group_id.in_(mine))
    by_group = and_(Dashboard.visibility == "group", Dashboard.owner_id.in_(peers)) if mine else false()
    not_mine = or_(Dashboard.owner_id.is_(None), Dashboard.owner_id != user.id)
    return and_(not_mine, or_(by_group, Dashboard.id.in_(granted)))


def list_dashboards(
    session: Session,
    user: User,
    *,
    group: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> list[Dashboard]:
    """Dashboards the user may view, most recently changed first.

    ``group``: ``mine`` (owned), ``team`` (others' dashboards shared with the
    user's groups or granted to the user), ``public``, ``favorites``; ``None`` = all.
    """
    if group is not None and group not in LIST_GROUPS:
        raise InvalidSpec(f"group: must be one of {', '.join(LIST_GROUPS)} (got {group!r})", field="group")
    stmt = select(Dashboard).where(visible_clause(session, user, Dashboard))
    if group == "mine":
        stmt = stmt.where(Dashboard.owner_id == user.id)
    elif group == "public":
        stmt = stmt.where(Dashboard.visibility == "public")
    elif group == "team":
        stmt = stmt.where(_team_clause(session, user))
    elif group == "favorites":
        stmt = stmt.where(Dashboard.id.in_(_favorite_ids_stmt(user)))
    if search and search.strip():
        like = f"%{_escape_like(search.strip()[:100])}%"
        stmt = stmt.where(
            or_(Dashboard.name.ilike(like, escape="\\"), Dashboard.description.ilike(like, escape="\\"))
        )
    rows = session.scalars(stmt.order_by(Dashboard.updated_at.desc(), Dashboard.id.desc()).limit(limit))
    return [d for d in rows if d.visibility != "customer" or can(session, user, "view", d)]


# --------------------------------------------------------------------------- favorites
def _favorite_ids_stmt(user: User) -> Any:
    return select(Favorite.object_id).where(
        Favorite.user_id == user.id, Favorite.object_type == FAVORITE_TYPE
    )


def favorite_ids(session: Session, user: User) -> set[int]:
    """Ids of the user's favorite dashboards."""
    return {int(i) for i in session.scalars(_favorite_ids_stmt(user))}


def is_favorite(session: Session, user: User, dashboard_id: int) -> bool:
    """Whether the user marked the dashboard as a favorite."""
    return dashboard_id in favorite_ids(session, user)


def toggle_favorite(session: Session, user: User, dashboard_id: int) -> bool:
    """Mark or unmark a dashboard the user can view as a favorite; returns the new state."""
    d = get_dashboard(session, user, dashboard_id, "view")
    fav = session.scalar(
        select(Favorite).where(
            Favorite.user_id == user.id, Favorite.object_type == FAVORITE_TYPE, Favorite.object_id == d.id
        )
    )
    if fav is not None:
        session.delete(fav)
        session.flush()
        return False
    session.add(Favorite(user_id=user.id, object_type=FAVORITE_TYPE, object_id=d.id))
    session.flush()
    return True


# --------------------------------------------------------------------------- widgets
def _widget_spec(w: Widget) -> WidgetSpec:
    return parse_spec(WidgetSpec, w.config_json)


def _source_query(session: Session, user: User, d: Dashboard, ws: WidgetSpec) -> QuerySpec:
    """The widget's own query: inline, a dashboard query by name, or a saved report's."""
    if ws.query is not None:
        return ws.query
    if ws.query_name is not None:
        queries = _queries(d)
        if ws.query_name not in queries:
            raise unknown("dashboard query", ws.query_name, queries, field="query_name")
        return parse_spec(QuerySpec, queries[ws.query_name])
    if ws.report_id is None:
        raise InvalidSpec("text widgets have no query", field="type")
    try:
        r = get_report(session, user, ws.report_id, "view")
    except NotFound as exc:
        raise NotFound(f"report_id: {exc.message}", field="report_id") from None
    spec = parse_spec(QuerySpec, r.query_json)
    if r.params_json:
        # Report params override the query's defaults, as when the report runs.
        spec = spec.model_copy(update={"params": {**spec.params, **r.params_json}})
    return spec


def _check_columns(ws: WidgetSpec, q: QuerySpec, catalog: Catalog) -> None:
    """Every column the widget shows must be a result column of its query."""
    names = q.output_names

    def need(col: str | None, field: str) -> None:
        if col is not None and col not in names:
            raise unknown("result column", col, names, field=field)

    if ws.chart is not None:
        need(ws.chart.x, "chart.x")
        for i, y in enumerate(ws.chart.y):
            need(y, f"chart.y[{i}]")
        need(ws.chart.series, "chart.series")
    if ws.table is not None:
        for i, c in enumerate(ws.table.columns or []):
            need(c, f"table.columns[{i}]")
        need(ws.table.subtotals_by, "table.subtotals_by")
        need(ws.table.sort_by, "table.sort_by")
    if ws.kpi is not None:
        need(ws.kpi.value, "kpi.value")
    if ws.drilldown is not None:
        source = catalog.source(q.source, field="query.source")
        for i, level in enumerate(ws.drilldown.hierarchy):
            source.column(level, field=f"drilldown.hierarchy[{i}]")
        if ws.drilldown.hierarchy:
            # Drilling replaces the first level in the result, so the widget must show it.
            need(ws.drilldown.hierarchy[0], "drilldown.hierarchy[0]")
        if ws.drilldown.filter is not None:
            need(GLOBAL_FILTER_COLUMNS[ws.drilldown.filter], "drilldown.filter")


def _validate_widget(session: Session, user: User, d: Dashboard, ws: WidgetSpec, catalog: Catalog) -> None:
    if ws.type == "text":
        return
    try:
        q = _source_query(session, user, d, ws)
        if ws.query is not None:
            # Named queries were compiled when saved, reports when created.
            try:
                compile_query(q, catalog, user_scope(session, user))
            except PortalError as exc:
                raise _within("query", exc) from None
        _check_columns(ws, q, catalog)
    except PortalError as exc:
        raise _within("spec", exc) from None


def _positions(widgets: Iterable[Widget]) -> list[Position]:
    out = []
    for w in widgets:
        if w.position:
            try:
                out.append(Position.model_validate(w.position))
            except ValueError:
                continue  # a stored position that no longer validates does not block placing others
    return out


def get_widget(
    session: Session, user: User, widget_id: int, action: str = "view"
) -> tuple[Widget, Dashboard]:
    """A widget and its dashboard, if the user may ``action`` the dashboard."""
    w = session.get(Widget, widget_id)
    if w is None:
        raise NotFound(f"widget {widget_id} not found")
    try:
        d = get_dashboard(session, user, w.dashboard_id, action)
    except NotFound:
        raise NotFound(f"widget {widget_id} not found") from None
    return w, d


def add_widget(
    session: Session,
    user: User,
    dashboard_id: int,
    spec: WidgetSpec | dict[str, Any],
    position: Position | dict[str, Any] | None = None,
    *,
    catalog: Catalog = DEMO_CATALOG,
) -> Widget:
    """Add a validated widget; without a position it takes the first free slot of the grid.

    Errors name the field under ``spec.`` or ``position.``; a report the user
    cannot see is NotFound.
    """
    d = get_dashboard(session, user, dashboard_id, "edit")
    ws = _parse(WidgetSpec, spec, "spec")
    pos = _parse(Position, position, "position") if position is not None else None
    existing = _widgets(session, d)
    if len(existing) >= MAX_WIDGETS:
        raise InvalidSpec(
            f"dashboard_id: a dashboard holds at most {MAX_WIDGETS} widgets", field="dashboard_id"
        )
    _validate_widget(session, user, d, ws, catalog)
    if pos is None:
        w_, h_ = DEFAULT_SIZE[ws.type]
        pos = auto_position(_positions(existing), w_, h_)
    w = Widget(
        dashboard_id=d.id,
        type=ws.type,
        viz=ws.viz,
        title=ws.title,
        config_json=_dump_widget(ws),
        position=pos.model_dump(),
        refresh_interval_sec=ws.refresh_interval_sec,
    )
    session.add(w)
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, user, "create", w, details={"dashboard_id": d.id, "type": ws.type, "viz": ws.viz})
    return w


def update_widget(
    session: Session,
    user: User,
    widget_id: int,
    *,
    spec: WidgetSpec | dict[str, Any] | None = None,
    position: Position | dict[str, Any] | None = None,
    catalog: Catalog = DEMO_CATALOG,
) -> Widget:
    """Replace a widget's spec and/or move it (edit rights on its dashboard)."""
    w, d = get_widget(session, user, widget_id, "edit")
    if spec is None and position is None:
        raise InvalidSpec("spec: give spec and/or position", field="spec")
    changed = []
    if spec is not None:
        ws = _parse(WidgetSpec, spec, "spec")
        _validate_widget(session, user, d, ws, catalog)
        w.type, w.viz, w.title = ws.type, ws.viz, ws.title
        w.config_json = _dump_widget(ws)
        w.refresh_interval_sec = ws.refresh_interval_sec
        changed.append("spec")
    if position is not None:
        w.position = _parse(Position, position, "position").model_dump()
        changed.append("position")
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, user, "edit", w, details={"dashboard_id": d.id, "fields": changed})
    return w


def delete_widget(session: Session, user: User, widget_id: int) -> None:
    """Remove a widget (edit rights on its dashboard)."""
    w, d = get_widget(session, user, widget_id, "edit")
    audit.record(session, user, "delete", w, details={"dashboard_id": d.id, "title": w.title})
    session.delete(w)
    d.updated_at = utcnow()
    session.flush()


def _widget_key(key: Any) -> int:
    try:
        n = int(key)
    except (TypeError, ValueError):
        raise InvalidSpec(
            f"positions: widget id {str(key)[:30]!r} is not an integer", field="positions"
        ) from None
    if isinstance(key, bool) or not 0 < n < 2**62:
        raise InvalidSpec(f"positions: widget id {key!r} is out of range", field="positions")
    return n


def _parse_positions(
    session: Session, d: Dashboard, positions: Mapping[Any, Any]
) -> dict[int, tuple[Widget, Position]]:
    """Validated moves (widget id → widget, new position); every widget must be on ``d``."""
    by_id = {w.id: w for w in _widgets(session, d)}
    out: dict[int, tuple[Widget, Position]] = {}
    for key, pos in positions.items():
        wid = _widget_key(key)
        if wid not in by_id:
            raise InvalidSpec(
                f"positions.{wid}: widget {wid} is not on dashboard {d.id}", field=f"positions.{wid}"
            )
        out[wid] = (by_id[wid], _parse(Position, pos, f"positions.{wid}"))
    return out


def save_layout(
    session: Session, user: User, dashboard_id: int, positions: Mapping[Any, Position | dict[str, Any]]
) -> list[Widget]:
    """Set the positions of several widgets at once (what the drag-and-drop grid sends on every change).

    Keys are widget ids (ints or digit strings from JSON); every one must belong to the dashboard.
    """
    d = get_dashboard(session, user, dashboard_id, "edit")
    if not isinstance(positions, Mapping):
        raise InvalidSpec("positions: must map widget ids to {x, y, w, h}", field="positions")
    # Validate every entry before moving anything: a bad one leaves the layout as it was.
    for w, pos in _parse_positions(session, d, positions).values():
        w.position = pos.model_dump()
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, user, "edit", d, details={"layout": len(positions)})
    return _widgets(session, d)


# --------------------------------------------------------------------------- widget data
def _effective_filters(d: Dashboard, override: DashboardFilters | None) -> DashboardFilters:
    """The dashboard's saved filters with the fields the user set in ``override`` replacing them."""
    base = parse_spec(DashboardFilters, d.filters_json or {})
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def _drilled_widget(ws: WidgetSpec, levels: list[str], path: Sequence[tuple[str, Any]]) -> WidgetSpec:
    """The widget as shown one level down: the first level's column becomes the current level's."""
    top, current = levels[0], levels[len(path)]

    def swap(c: str | None) -> str | None:
        return current if c == top else c

    title = " / ".join([ws.title or top, *(str(v) for _, v in path)])
    update: dict[str, Any] = {"title": title[:200]}
    if ws.chart is not None:
        update["chart"] = ws.chart.model_copy(
            update={"x": swap(ws.chart.x), "series": swap(ws.chart.series), "title": ws.chart.title}
        )
    if ws.table is not None:
        update["table"] = ws.table.model_copy(
            update={
                "columns": [swap(c) for c in ws.table.columns] if ws.table.columns else ws.table.columns,
                "subtotals_by": swap(ws.table.subtotals_by),
                "sort_by": swap(ws.table.sort_by),
            }
        )
    return ws.model_copy(update=update)


def _normalise_path(drill_path: Sequence[Any] | None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for i, step in enumerate(drill_path or []):
        if not isinstance(step, list | tuple) or len(step) != 2 or not isinstance(step[0], str):
            raise InvalidSpec(f"drill[{i}]: must be a [column, value] pair", field=f"drill[{i}]")
        if isinstance(step[1], dict | list | tuple):
            raise InvalidSpec(f"drill[{i}]: the value must be a single value", field=f"drill[{i}]")
        out.append((step[0], step[1]))
    return out


def _resolve(
    session: Session,
    user: User,
    d: Dashboard,
    ws: WidgetSpec,
    filters: DashboardFilters,
    path: list[tuple[str, Any]],
    catalog: Catalog,
) -> tuple[QuerySpec, WidgetSpec]:
    spec = apply_filters(_source_query(session, user, d, ws), filters, catalog)
    if not path:
        return spec, ws
    if ws.drilldown is None or not ws.drilldown.hierarchy:
        raise InvalidSpec("drill: this widget has no drill-down hierarchy", field="drill")
    try:
        spec = drill(spec, ws.drilldown, path)
    except InvalidSpec as exc:
        raise InvalidSpec(exc.message.replace("drilldown:", "drill:", 1), field="drill") from None
    return spec, _drilled_widget(ws, ws.drilldown.hierarchy, path)


def widget_query(
    session: Session,
    user: User,
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
    authorize(session, user, "view", dashboard)
    ws = _widget_spec(widget)
    if ws.type == "text":
        raise InvalidSpec("type: text widgets have no query", field="type")
    return _resolve(
        session,
        user,
        dashboard,
        ws,
        _effective_filters(dashboard, filters),
        _normalise_path(drill_path),
        catalog,
    )


def _frame_payload(frame: pd.DataFrame) -> dict[str, Any]:
    # JSON-safe values: ISO dates, null for NaN (same shape as the REST API's query results).
    doc: dict[str, Any] = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return {"columns": [str(c) for c in doc["columns"]], "rows": doc["data"]}


def _first(payload: Mapping[str, Any], column: str) -> Any:
    cols: list[str] = payload["columns"]
    rows: list[list[Any]] = payload["rows"]
    if column not in cols or not rows:
        return None
    return rows[0][cols.index(column)]


def _widget_payload(
    session: Session,
    user: User,
    warehouse: Warehouse,
    d: Dashboard,
    w: Widget,
    scope: Scope,
    filters: DashboardFilters,
    path: list[tuple[str, Any]],
    now: datetime,
    use_cache: bool,
) -> dict[str, Any]:
    ws = _widget_spec(w)
    if ws.type == "text":
        return {
            "widget": widget_to_dict(w),
            "columns": [],
            "rows": [],
            "cached": False,
            "html": render_markdown(ws.text or ""),
        }
    spec, shown = _resolve(session, user, d, ws, filters, path, warehouse.catalog)
    res = warehouse.run(spec, scope, now=now, use_cache=use_cache)
    out: dict[str, Any] = {
        "widget": widget_to_dict(w, spec=shown),
        **_frame_payload(res.frame),
        "cached": res.cached,
        "row_count": res.row_count,
        "runtime_ms": round(res.runtime_ms, 2),
    }
    if ws.drilldown is not None and ws.drilldown.hierarchy:
        levels = ws.drilldown.hierarchy
        out["drill"] = {
            "path": [[c, v] for c, v in path],
            "level": levels[len(path)],
            "next": levels[len(path) + 1] if len(path) + 1 < len(levels) else None,
        }
    if ws.kpi is not None:
        value = _first(out, ws.kpi.value)
        previous = None
        time_column = warehouse.catalog.source(spec.source).time_column
        if ws.kpi.compare_previous and filters.time_range and time_column:
            prev_filters = filters.model_copy(update={"time_range": previous_window(filters.time_range, now)})
            prev_spec, _ = _resolve(session, user, d, ws, prev_filters, path, warehouse.catalog)
            prev = warehouse.run(prev_spec, scope, now=now, use_cache=use_cache)
            previous = _first(_frame_payload(prev.frame), ws.kpi.value)
        out["previous"] = previous
        out["kpi"] = kpi_summary(ws.kpi, value, previous)
    return out


def _check_override(filters: DashboardFilters | None, now: datetime) -> None:
    if filters is not None and filters.time_range is not None:
        parse_time_range(filters.time_range, now, field="time_range")


def widget_data(
    session: Session,
    user: User,
    warehouse: Warehouse,
    dashboard_id: int | None,
    widget_id: int,
    *,
    filters: DashboardFilters | None = None,
    drill_path: Sequence[Any] | None = None,
    now: datetime | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Run a widget's query for the user's scope.

    Returns ``{"widget", "columns", "rows", "cached", "row_count", "runtime_ms"}``,
    plus ``"drill"`` for widgets with a hierarchy, ``"previous"`` and ``"kpi"``
    (value, previous, change, status) for KPI cards, ``"html"`` for text.
    ``dashboard_id`` may be None (the widget's own dashboard); ``now`` anchors
    relative windows (default: the current minute, UTC).
    """
    w, d = get_widget(session, user, widget_id, "view")
    if dashboard_id is not None and d.id != dashboard_id:
        raise NotFound(f"widget {widget_id} not found")
    at = _minute(now)
    _check_override(filters, at)
    return _widget_payload(
        session,
        user,
        warehouse,
        d,
        w,
        user_scope(session, user),
        _effective_filters(d, filters),
        _normalise_path(drill_path),
        at,
        use_cache,
    )


def view_dashboard(
    session: Session,
    user: User,
    warehouse: Warehouse,
    dashboard_id: int,
    *,
    filters: DashboardFilters | None = None,
    now: datetime | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """The dashboard with every widget's position, spec and data, for one render.

    Each widget entry holds ``"data"`` (as :func:`widget_data`, without
    ``"widget"``) or ``"error"`` (a message): one failing widget never fails the view.
    """
    d = get_dashboard(session, user, dashboard_id, "view")
    at = _minute(now)
    _check_override(filters, at)
    effective = _effective_filters(d, filters)
    scope = user_scope(session, user)
    widgets = _widgets(session, d)
    entries: list[dict[str, Any]] = []
    for w in widgets:
        entry = widget_to_dict(w)
        try:
            payload = _widget_payload(session, user, warehouse, d, w, scope, effective, [], at, use_cache)
            payload.pop("widget")
            entry["data"] = payload
        except PortalError as exc:
            entry["error"] = exc.message
            if exc.field:
                entry["error_field"] = exc.field
        except Exception as exc:
            # A broken widget (warehouse down, bad stored spec) must not take the dashboard down.
            log.exception("dashboard %s widget %s failed", d.id, w.id)
            entry["error"] = f"could not load this widget ({type(exc).__name__})"
        entries.append(entry)
    audit.record(session, user, "view", d, details={"widgets": len(widgets)})
    return {
        **dashboard_to_dict(d),
        "favorite": is_favorite(session, user, d.id),
        "filters_applied": _dump_filters(effective),
        "as_of": at.isoformat(),
        "widgets": entries,
    }


def filters_from_args(args: Mapping[str, Sequence[str]]) -> DashboardFilters | None:
    """Dashboard filters from query-string arguments (``time_range``, repeatable ``customer``,
    ``location``, ``team``); only the arguments present are set, so the others keep the saved values.
    An empty ``time_range`` clears the saved window."""
    data: dict[str, Any] = {}
    if "time_range" in args:
        values = list(args["time_range"])
        data["time_range"] = (values[-1] or None) if values else None
    for kind in ("customer", "location", "team"):
        if kind in args:
            data[kind] = [v for v in args[kind] if v != ""]
    if not data:
        return None
    return parse_spec(DashboardFilters, data)
