"""Widgets: add, change, remove and move them on a dashboard."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from portal.dashboards.access import dashboard_widgets, get_dashboard, get_widget
from portal.dashboards.layout import auto_position, positions_of
from portal.dashboards.sources import check_columns, source_query
from portal.dashboards.specs import DEFAULT_SIZE, MAX_WIDGETS, dump_widget, parse_at, within
from portal.data.catalog import DEMO_CATALOG, Catalog
from portal.data.query import compile_query
from portal.errors import InvalidSpec, PortalError
from portal.identity import audit
from portal.identity.principal import Principal
from portal.models import Dashboard, Widget, utcnow
from portal.specs import Position, WidgetSpec


def _validate_widget(
    session: Session, principal: Principal, d: Dashboard, ws: WidgetSpec, catalog: Catalog
) -> None:
    if ws.type == "text":
        return
    try:
        q = source_query(session, principal, d, ws)
        if ws.query is not None:
            # Named queries were compiled when saved, reports when created.
            try:
                compile_query(q, catalog, principal.scope)
            except PortalError as exc:
                raise within("query", exc) from None
        check_columns(ws, q, catalog)
    except PortalError as exc:
        raise within("spec", exc) from None


def add_widget(
    session: Session,
    principal: Principal,
    dashboard_id: int,
    spec: WidgetSpec | dict[str, Any],
    position: Position | dict[str, Any] | None = None,
    *,
    catalog: Catalog = DEMO_CATALOG,
) -> Widget:
    """Add a validated widget; without a position it takes the first free slot of the grid.

    Errors name the field under ``spec.`` or ``position.``; a report the principal
    cannot see is NotFound.
    """
    d = get_dashboard(session, principal, dashboard_id, "edit")
    ws = parse_at(WidgetSpec, spec, "spec")
    pos = parse_at(Position, position, "position") if position is not None else None
    existing = dashboard_widgets(session, d)
    if len(existing) >= MAX_WIDGETS:
        raise InvalidSpec(
            f"dashboard_id: a dashboard holds at most {MAX_WIDGETS} widgets", field="dashboard_id"
        )
    _validate_widget(session, principal, d, ws, catalog)
    if pos is None:
        w_, h_ = DEFAULT_SIZE[ws.type]
        pos = auto_position(positions_of(existing), w_, h_)
    w = Widget(
        dashboard_id=d.id,
        type=ws.type,
        viz=ws.viz,
        title=ws.title,
        config_json=dump_widget(ws),
        position=pos.model_dump(),
        refresh_interval_sec=ws.refresh_interval_sec,
        realtime_channel=ws.realtime.channel if ws.realtime is not None else None,
    )
    session.add(w)
    d.updated_at = utcnow()
    session.flush()
    audit.record(
        session, principal, "create", w, details={"dashboard_id": d.id, "type": ws.type, "viz": ws.viz}
    )
    return w


def update_widget(
    session: Session,
    principal: Principal,
    widget_id: int,
    *,
    spec: WidgetSpec | dict[str, Any] | None = None,
    position: Position | dict[str, Any] | None = None,
    catalog: Catalog = DEMO_CATALOG,
) -> Widget:
    """Replace a widget's spec and/or move it (edit rights on its dashboard)."""
    w, d = get_widget(session, principal, widget_id, "edit")
    if spec is None and position is None:
        raise InvalidSpec("spec: give spec and/or position", field="spec")
    changed = []
    before = _audited_widget(w)
    if spec is not None:
        ws = parse_at(WidgetSpec, spec, "spec")
        _validate_widget(session, principal, d, ws, catalog)
        w.type, w.viz, w.title = ws.type, ws.viz, ws.title
        w.config_json = dump_widget(ws)
        w.refresh_interval_sec = ws.refresh_interval_sec
        w.realtime_channel = ws.realtime.channel if ws.realtime is not None else None
        changed.append("spec")
    if position is not None:
        w.position = parse_at(Position, position, "position").model_dump()
        changed.append("position")
    d.updated_at = utcnow()
    session.flush()
    after = _audited_widget(w)
    keys = [k for k in after if after[k] != before[k]]
    audit.record(
        session,
        principal,
        "edit",
        w,
        details={
            "dashboard_id": d.id,
            "fields": changed,
            "before": {k: before[k] for k in keys},
            "after": {k: after[k] for k in keys},
        },
    )
    return w


def _audited_widget(w: Widget) -> dict[str, Any]:
    """A widget's fields as the audit trail keeps them before and after an edit."""
    return {
        "type": w.type,
        "viz": w.viz,
        "title": w.title,
        "config": dict(w.config_json or {}),
        "position": dict(w.position or {}),
        "refresh_interval_sec": w.refresh_interval_sec,
    }


def delete_widget(session: Session, principal: Principal, widget_id: int) -> None:
    """Remove a widget (edit rights on its dashboard)."""
    w, d = get_widget(session, principal, widget_id, "edit")
    audit.record(session, principal, "delete", w, details={"dashboard_id": d.id, "title": w.title})
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


def parse_positions(
    session: Session, d: Dashboard, positions: Mapping[Any, Any]
) -> dict[int, tuple[Widget, Position]]:
    """Validated moves (widget id → widget, new position); every widget must be on ``d``."""
    by_id = {w.id: w for w in dashboard_widgets(session, d)}
    out: dict[int, tuple[Widget, Position]] = {}
    for key, pos in positions.items():
        wid = _widget_key(key)
        if wid not in by_id:
            raise InvalidSpec(
                f"positions.{wid}: widget {wid} is not on dashboard {d.id}", field=f"positions.{wid}"
            )
        out[wid] = (by_id[wid], parse_at(Position, pos, f"positions.{wid}"))
    return out


def save_layout(
    session: Session,
    principal: Principal,
    dashboard_id: int,
    positions: Mapping[Any, Position | dict[str, Any]],
) -> list[Widget]:
    """Set the positions of several widgets at once (what the drag-and-drop grid sends on every change).

    Keys are widget ids (ints or digit strings from JSON); every one must belong to the dashboard.
    """
    d = get_dashboard(session, principal, dashboard_id, "edit")
    if not isinstance(positions, Mapping):
        raise InvalidSpec("positions: must map widget ids to {x, y, w, h}", field="positions")
    # Validate every entry before moving anything: a bad one leaves the layout as it was.
    for w, pos in parse_positions(session, d, positions).values():
        w.position = pos.model_dump()
    d.updated_at = utcnow()
    session.flush()
    audit.record(session, principal, "edit", d, details={"layout": len(positions)})
    return dashboard_widgets(session, d)
