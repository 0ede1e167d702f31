"""Loading dashboards and widgets through the one authorization gate."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.identity.permissions import authorize
from portal.identity.principal import Principal
from portal.models import Dashboard, Widget
from portal.specs import WidgetSpec
from portal.specs.widget import parse_stored_widget


def get_dashboard(
    session: Session, principal: Principal, dashboard_id: int, action: str = "view"
) -> Dashboard:
    """A dashboard the principal may ``action``; NotFound for other tenants or invisible ones."""
    d = session.get(Dashboard, dashboard_id)
    if d is None:
        raise NotFound(f"dashboard {dashboard_id} not found")
    authorize(session, principal, action, d)
    return d


def get_widget(
    session: Session, principal: Principal, widget_id: int, action: str = "view"
) -> tuple[Widget, Dashboard]:
    """A widget and its dashboard, if the principal may ``action`` the dashboard."""
    w = session.get(Widget, widget_id)
    if w is None:
        raise NotFound(f"widget {widget_id} not found")
    try:
        d = get_dashboard(session, principal, w.dashboard_id, action)
    except NotFound:
        raise NotFound(f"widget {widget_id} not found") from None
    return w, d


def dashboard_widgets(session: Session, d: Dashboard) -> list[Widget]:
    rows = list(session.scalars(select(Widget).where(Widget.dashboard_id == d.id)))

    def key(w: Widget) -> tuple[int, int, int]:
        p = w.position or {}
        return (int(p.get("y", 0)), int(p.get("x", 0)), w.id)

    return sorted(rows, key=key)


def list_widgets(session: Session, principal: Principal, dashboard_id: int) -> list[Widget]:
    """Widgets of a dashboard the principal may view, in reading order (top to bottom, left to right)."""
    return dashboard_widgets(session, get_dashboard(session, principal, dashboard_id, "view"))


def widget_spec(w: Widget) -> WidgetSpec:
    # As saved: a widget from before a newer input rule (e.g. a title) still loads.
    return parse_stored_widget(w.config_json)
