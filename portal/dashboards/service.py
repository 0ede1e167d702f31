"""Dashboards: create, change, copy, delete (to the trash), restore, list and favorite.

Services take a Principal and a session; the caller owns the transaction.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, or_, select, true
from sqlalchemy.orm import Session

from portal.dashboards.access import dashboard_widgets, get_dashboard, widget_spec
from portal.dashboards.sources import check_columns
from portal.dashboards.specs import (
    FAVORITE_TYPE,
    LIST_GROUPS,
    DashboardIn,
    DashboardPatch,
    dump_filters,
    dump_query,
    within,
)
from portal.dashboards.widgets import parse_positions
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.query import compile_query
from portal.data.timewindows import now_minute, parse_time_range
from portal.errors import InvalidSpec, PortalError
from portal.identity import audit
from portal.identity.permissions import authorize, can, granted_ids, visible_clause
from portal.identity.principal import Principal
from portal.models import Dashboard, Favorite, Membership, Permission, Widget, utcnow
from portal.reports import TrashItem, purge_reports, search_pattern
from portal.reports.trash import move_to_trash, purge_cutoff, take_out_of_trash, trash_items, trashed
from portal.specs import DashboardFilters, QuerySpec, parse_spec


def _validate_queries(
    session: Session, principal: Principal, queries: Mapping[str, QuerySpec], catalog: Catalog
) -> None:
    scope = principal.scope
    for name, q in queries.items():
        try:
            compile_query(q, catalog, scope)
        except PortalError as exc:
            raise within(f"queries.{name}", exc) from None


def _validate_filters(f: DashboardFilters, field: str) -> None:
    if f.time_range is not None:
        parse_time_range(f.time_range, now_minute(None), field=f"{field}.time_range")


def create_dashboard(
    session: Session,
    principal: Principal,
    data: DashboardIn | dict[str, Any],
    *,
    catalog: Catalog = DEMO_CATALOG,
) -> Dashboard:
    """Create a dashboard owned by ``principal`` (named queries are compiled against ``catalog`` first)."""
    d_in = parse_spec(DashboardIn, data)
    _validate_filters(d_in.filters, "filters")
    _validate_queries(session, principal, d_in.queries, catalog)
    d = Dashboard(
        tenant_id=principal.tenant_id,
        owner_id=principal.require_user("own objects"),
        name=d_in.name.strip(),
        description=d_in.description,
        visibility=d_in.visibility,
        filters_json=dump_filters(d_in.filters),
        layout_json={"queries": {k: dump_query(q) for k, q in d_in.queries.items()}},
        realtime_enabled=d_in.realtime_enabled,
        scope_json=d_in.scope.stored(),
    )
    session.add(d)
    session.flush()
    audit.record(session, principal, "create", d, details={"name": d.name})
    return d


def update_dashboard(
    session: Session,
    principal: Principal,
    dashboard_id: int,
    data: DashboardPatch | dict[str, Any],
    *,
    catalog: Catalog = DEMO_CATALOG,
) -> Dashboard:
    """Change the fields given (edit rights; changing visibility or scope needs share rights, i.e. owner)."""
    patch = parse_spec(DashboardPatch, data)
    d = get_dashboard(session, principal, dashboard_id, "edit")
    given = {k for k in patch.model_fields_set if getattr(patch, k) is not None}
    if given & {"visibility", "scope"}:
        # Widening who sees a dashboard is sharing it, not editing it.
        authorize(session, principal, "share", d)
    # Validate everything before changing anything: a rejected patch leaves the dashboard as it was.
    if patch.filters is not None:
        _validate_filters(patch.filters, "filters")
    if patch.queries is not None:
        _validate_queries(session, principal, patch.queries, catalog)
        _check_query_users(session, d, patch.queries, catalog)
    moves = parse_positions(session, d, patch.positions) if patch.positions is not None else {}
    before = _audited(d)
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
        d.filters_json = dump_filters(patch.filters)
    if patch.queries is not None:
        d.layout_json = {
            **(d.layout_json or {}),
            "queries": {k: dump_query(q) for k, q in patch.queries.items()},
        }
    for w, pos in moves.values():
        w.position = pos.model_dump()
    d.updated_at = utcnow()
    session.flush()
    after = _audited(d)
    changed = [k for k in after if after[k] != before[k]]
    audit.record(
        session,
        principal,
        "edit",
        d,
        details={
            "fields": sorted(given),
            "before": {k: before[k] for k in changed},
            "after": {k: after[k] for k in changed},
        },
    )
    return d


def _audited(d: Dashboard) -> dict[str, Any]:
    """The dashboard's own fields as the audit trail keeps them before and after an edit."""
    return {
        "name": d.name,
        "description": d.description,
        "visibility": d.visibility,
        "scope": dict(d.scope_json or {}),
        "realtime_enabled": bool(d.realtime_enabled),
        "filters": dict(d.filters_json or {}),
        "queries": dict((d.layout_json or {}).get("queries") or {}),
    }


def _check_query_users(
    session: Session, d: Dashboard, queries: Mapping[str, QuerySpec], catalog: Catalog
) -> None:
    """Widgets reading a named query must still find it, with the columns they show."""
    for w in dashboard_widgets(session, d):
        ws = widget_spec(w)
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
            check_columns(ws, q, catalog)
        except PortalError as exc:
            raise InvalidSpec(
                f"queries.{ws.query_name}: widget {w.id} ({w.title or w.viz}) needs it: {exc.message}",
                field=f"queries.{ws.query_name}",
            ) from None


def delete_dashboard(session: Session, principal: Principal, dashboard_id: int) -> None:
    """Move a dashboard to the trash (owner or admin); :func:`restore_dashboard` brings it back,
    widgets, favorites and grants included, for 30 days."""
    d = get_dashboard(session, principal, dashboard_id, "delete")
    move_to_trash(principal, d)
    session.flush()
    audit.record(session, principal, "delete", d, details={"name": d.name, "trash": True})


def restore_dashboard(session: Session, principal: Principal, dashboard_id: int) -> Dashboard:
    """Take a dashboard out of the trash (its owner, whoever deleted it, or an admin)."""
    d = trashed(session, principal, Dashboard, dashboard_id, "dashboard")
    take_out_of_trash(d)
    session.flush()
    audit.record(session, principal, "edit", d, details={"name": d.name, "restored": True})
    return d


def list_dashboard_trash(session: Session, principal: Principal, *, limit: int = 200) -> list[TrashItem]:
    """Dashboards in the principal's trash, most recently deleted first."""
    return trash_items(session, principal, Dashboard, "dashboard", limit=limit)


def purge_dashboards(session: Session, *, now: datetime | None = None, tenant_id: int | None = None) -> int:
    """Remove for good the dashboards deleted more than 30 days ago, with their widgets, favorites
    and grants; returns how many. Acts for no one: a maintenance step."""
    stmt = select(Dashboard).where(
        Dashboard.deleted_at.is_not(None), Dashboard.deleted_at < purge_cutoff(now)
    )
    if tenant_id is not None:
        stmt = stmt.where(Dashboard.tenant_id == tenant_id)
    doomed = list(session.scalars(stmt))
    if not doomed:
        return 0
    ids = [d.id for d in doomed]
    # Favorites and grants point at the dashboard by id without a foreign key.
    session.execute(
        delete(Favorite).where(Favorite.object_type == FAVORITE_TYPE, Favorite.object_id.in_(ids))
    )
    grants = Permission.object_type == Dashboard.__tablename__
    session.execute(delete(Permission).where(grants, Permission.object_id.in_(ids)))
    session.execute(delete(Widget).where(Widget.dashboard_id.in_(ids)))
    for d in doomed:
        audit.record(session, None, "delete", d, details={"name": d.name, "purged": True})
        session.delete(d)
    session.flush()
    return len(doomed)


def purge_trash(
    session: Session,
    *,
    now: datetime | None = None,
    tenant_id: int | None = None,
    results_dir: Path | None = None,
) -> dict[str, int]:
    """Empty the trash of everything deleted more than 30 days ago (dashboards and reports).

    The function the job runner schedules; listings of the trash call it for their tenant too.
    """
    return {
        "dashboards": purge_dashboards(session, now=now, tenant_id=tenant_id),
        "reports": purge_reports(session, now=now, tenant_id=tenant_id, results_dir=results_dir),
    }


def duplicate_dashboard(
    session: Session, principal: Principal, dashboard_id: int, *, name: str | None = None
) -> Dashboard:
    """A private copy, owned by ``principal``, of a dashboard they can view, widgets included."""
    src = get_dashboard(session, principal, dashboard_id, "view")
    if name is not None and len(name) > 200:
        raise InvalidSpec("name: at most 200 characters", field="name")
    new_name = (name or f"Copy of {src.name}").strip()[:200]
    if not new_name:
        raise InvalidSpec("name: must not be empty", field="name")
    d = Dashboard(
        tenant_id=principal.tenant_id,
        owner_id=principal.require_user("own objects"),
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
    for w in dashboard_widgets(session, src):
        session.add(
            Widget(
                dashboard_id=d.id,
                type=w.type,
                viz=w.viz,
                title=w.title,
                config_json=copy.deepcopy(w.config_json),
                position=dict(w.position or {}),
                refresh_interval_sec=w.refresh_interval_sec,
                realtime_channel=w.realtime_channel,
            )
        )
    session.flush()
    audit.record(session, principal, "create", d, details={"name": d.name, "duplicate_of": src.id})
    return d


def _team_clause(session: Session, principal: Principal) -> ColumnElement[bool]:
    """Others' dashboards reaching the principal through a shared group or an explicit grant."""
    mine = principal.group_ids
    granted = granted_ids(principal, Dashboard.__tablename__)
    peers = select(Membership.user_id).where(Membership.group_id.in_(mine))
    by_group = and_(Dashboard.visibility == "group", Dashboard.owner_id.in_(peers)) if mine else false()
    not_mine = (
        or_(Dashboard.owner_id.is_(None), Dashboard.owner_id != principal.user_id)
        if principal.user_id is not None
        else true()
    )
    return and_(not_mine, or_(by_group, Dashboard.id.in_(granted)))


def list_dashboards(
    session: Session,
    principal: Principal,
    *,
    group: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> list[Dashboard]:
    """Dashboards the principal may view, most recently changed first.

    ``group``: ``mine`` (owned), ``team`` (others' dashboards shared with the
    user's groups or granted to the principal), ``public``, ``favorites``; ``None`` = all.
    ``search`` ignores accents and case. Dashboards in the trash are not listed.
    """
    if group is not None and group not in LIST_GROUPS:
        raise InvalidSpec(f"group: must be one of {', '.join(LIST_GROUPS)} (got {group!r})", field="group")
    stmt = select(Dashboard).where(visible_clause(session, principal, Dashboard))
    if group == "mine":
        stmt = stmt.where(Dashboard.owner_id == principal.user_id)
    elif group == "public":
        stmt = stmt.where(Dashboard.visibility == "public")
    elif group == "team":
        stmt = stmt.where(_team_clause(session, principal))
    elif group == "favorites":
        stmt = stmt.where(Dashboard.id.in_(_favorite_ids_stmt(principal)))
    if search and search.strip():
        # Accents and case ignored ("relatorio" finds "Relatório"): one LIKE on the folded column.
        stmt = stmt.where(Dashboard.search_text.like(search_pattern(search), escape="\\"))
    rows = session.scalars(stmt.order_by(Dashboard.updated_at.desc(), Dashboard.id.desc()).limit(limit))
    return [d for d in rows if d.visibility != "customer" or can(session, principal, "view", d)]


def _favorite_ids_stmt(principal: Principal) -> Any:
    return select(Favorite.object_id).where(
        Favorite.user_id == principal.user_id, Favorite.object_type == FAVORITE_TYPE
    )


def favorite_ids(session: Session, principal: Principal) -> set[int]:
    """Ids of the user's favorite dashboards."""
    return {int(i) for i in session.scalars(_favorite_ids_stmt(principal))}


def is_favorite(session: Session, principal: Principal, dashboard_id: int) -> bool:
    """Whether the principal marked the dashboard as a favorite."""
    return dashboard_id in favorite_ids(session, principal)


def toggle_favorite(session: Session, principal: Principal, dashboard_id: int) -> bool:
    """Mark or unmark a dashboard the principal can view as a favorite; returns the new state."""
    d = get_dashboard(session, principal, dashboard_id, "view")
    fav = session.scalar(
        select(Favorite).where(
            Favorite.user_id == principal.user_id,
            Favorite.object_type == FAVORITE_TYPE,
            Favorite.object_id == d.id,
        )
    )
    if fav is not None:
        session.delete(fav)
        session.flush()
        return False
    session.add(Favorite(user_id=principal.user_id, object_type=FAVORITE_TYPE, object_id=d.id))
    session.flush()
    return True
