"""Widgets an alert highlights: what a dashboard shows on a tile while its alert is open or acknowledged.

No query per tile: :func:`widgets_with_alerts` loads a dashboard's widgets and their alerts in
one statement (the dashboard planner's), :func:`widget_alerts` the alerts of given widgets in one.
Kept free of the alert services' imports: the dashboard planner uses it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from portal.models import Alert, Widget

_SEVERITY_RANK = {"crit": 3, "warn": 2, "info": 1}
_STATUS_RANK = {"open": 2, "acked": 1}


@dataclass(frozen=True)
class WidgetAlert:
    """The alert a tile shows: the most urgent open (else acknowledged) alert on its widget."""

    widget_id: int
    alert_id: int
    name: str
    severity: str  # info | warn | crit
    status: str  # open | acked


def widget_alerts(session: Session, tenant_id: int, widget_ids: Iterable[int]) -> dict[int, WidgetAlert]:
    """``{widget id: WidgetAlert}`` for the widgets among ``widget_ids`` that an unclosed alert of
    the tenant highlights (one query; the most severe, open before acknowledged, newest first)."""
    ids = sorted({int(w) for w in widget_ids})
    if not ids:
        return {}
    rows = session.execute(
        select(Alert.id, Alert.widget_id, Alert.name, Alert.severity, Alert.status).where(
            Alert.tenant_id == tenant_id,
            Alert.widget_id.in_(ids),
            Alert.status.in_(tuple(_STATUS_RANK)),
        )
    ).all()
    return _best((int(wid), aid, name, severity, status) for aid, wid, name, severity, status in rows if wid)


def _rank(a: WidgetAlert) -> tuple[int, int, int]:
    return (_STATUS_RANK.get(a.status, 0), _SEVERITY_RANK.get(a.severity, 0), a.alert_id)


def _best(rows: Iterable[tuple[int, Any, Any, Any, Any]]) -> dict[int, WidgetAlert]:
    """The alert each widget shows: the most severe, open before acknowledged, newest first."""
    best: dict[int, WidgetAlert] = {}
    for wid, aid, name, severity, status in rows:
        if aid is None:
            continue
        found = WidgetAlert(wid, int(aid), str(name), str(severity), str(status))
        current = best.get(wid)
        if current is None or _rank(found) > _rank(current):
            best[wid] = found
    return best


def widgets_with_alerts(
    session: Session, dashboard_id: int, tenant_id: int
) -> tuple[list[Widget], dict[int, WidgetAlert]]:
    """A dashboard's widgets in reading order (top to bottom, left to right, as
    :func:`portal.dashboards.access.dashboard_widgets`) and the alerts they show, in one query."""
    rows = session.execute(
        select(Widget, Alert.id, Alert.name, Alert.severity, Alert.status)
        .outerjoin(
            Alert,
            and_(
                Alert.widget_id == Widget.id,
                Alert.tenant_id == tenant_id,
                Alert.status.in_(tuple(_STATUS_RANK)),
            ),
        )
        .where(Widget.dashboard_id == dashboard_id)
    ).all()
    widgets = {w.id: w for w, *_ in rows}

    def key(w: Widget) -> tuple[int, int, int]:
        p = w.position or {}
        return (int(p.get("y", 0)), int(p.get("x", 0)), w.id)

    shown = _best((w.id, aid, name, severity, status) for w, aid, name, severity, status in rows)
    return sorted(widgets.values(), key=key), shown
