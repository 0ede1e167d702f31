"""Dashboards: specs, the service (CRUD, widgets, layout, favorites) and widget data.

The public API of the package; the modules inside are an implementation detail:
``specs`` (input models, JSON views), ``access`` (loading through authorization), ``sources``
(what a widget reads), ``layout`` (the grid, pure), ``service`` (dashboards), ``widgets``,
``data`` (typed widget results, one-transaction load) and ``payloads`` (their JSON, for the REST edge).
"""

from __future__ import annotations

from portal.dashboards.access import (
    dashboard_widgets,
    get_dashboard,
    get_widget,
    list_widgets,
    widget_spec,
)
from portal.dashboards.data import (
    DashboardView,
    DrillState,
    KpiResult,
    WidgetResult,
    filters_from_args,
    first_value,
    load_dashboard,
    widget_query,
    widget_result,
)
from portal.dashboards.layout import (
    GRID_COLUMNS,
    MAX_GRID_Y,
    auto_position,
    overlap,
    positions_of,
)
from portal.dashboards.payloads import (
    frame_rows,
    view_dashboard,
    view_payload,
    widget_data,
    widget_payload,
)
from portal.dashboards.service import (
    create_dashboard,
    delete_dashboard,
    duplicate_dashboard,
    favorite_ids,
    is_favorite,
    list_dashboards,
    toggle_favorite,
    update_dashboard,
)
from portal.dashboards.specs import (
    DEFAULT_SIZE,
    FAVORITE_TYPE,
    LIST_GROUPS,
    MAX_QUERIES,
    MAX_WIDGETS,
    DashboardIn,
    DashboardPatch,
    dashboard_to_dict,
    dump_filters,
    dump_query,
    dump_widget,
    named_queries,
    parse_at,
    widget_to_dict,
    within,
)
from portal.dashboards.widgets import (
    add_widget,
    delete_widget,
    parse_positions,
    save_layout,
    update_widget,
)

__all__ = [
    "DEFAULT_SIZE",
    "FAVORITE_TYPE",
    "GRID_COLUMNS",
    "LIST_GROUPS",
    "MAX_GRID_Y",
    "MAX_QUERIES",
    "MAX_WIDGETS",
    "DashboardIn",
    "DashboardPatch",
    "DashboardView",
    "DrillState",
    "KpiResult",
    "WidgetResult",
    "add_widget",
    "auto_position",
    "create_dashboard",
    "dashboard_to_dict",
    "dashboard_widgets",
    "delete_dashboard",
    "delete_widget",
    "dump_filters",
    "dump_query",
    "dump_widget",
    "duplicate_dashboard",
    "favorite_ids",
    "filters_from_args",
    "first_value",
    "frame_rows",
    "get_dashboard",
    "get_widget",
    "is_favorite",
    "list_dashboards",
    "list_widgets",
    "load_dashboard",
    "named_queries",
    "overlap",
    "parse_at",
    "parse_positions",
    "positions_of",
    "save_layout",
    "toggle_favorite",
    "update_dashboard",
    "update_widget",
    "view_dashboard",
    "view_payload",
    "widget_data",
    "widget_payload",
    "widget_query",
    "widget_result",
    "widget_spec",
    "widget_to_dict",
    "within",
]
