"""The JSON form of dashboard results, for the REST edge (``web.api``) and nothing else.

The UI consumes :class:`~portal.dashboards.data.WidgetResult` directly; only a
response body turns frames into rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from portal.dashboards.data import DashboardView, WidgetResult, load_dashboard, widget_result
from portal.dashboards.specs import dashboard_to_dict, dump_filters, widget_to_dict
from portal.data.warehouse import Warehouse
from portal.identity.principal import Principal
from portal.specs import DashboardFilters
from portal.viz.cards import kpi_summary


def frame_rows(frame: pd.DataFrame) -> dict[str, Any]:
    """``{"columns", "rows"}`` of a frame with JSON-safe values (ISO dates, null for NaN)."""
    doc: dict[str, Any] = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return {"columns": [str(c) for c in doc["columns"]], "rows": doc["data"]}


def widget_payload(r: WidgetResult) -> dict[str, Any]:
    """``{"widget", "columns", "rows", "cached", "row_count", "runtime_ms", "display"}`` plus
    ``"drill"`` for drillable widgets, ``"previous"`` and ``"kpi"`` for KPI cards (the value of the
    ungrouped query, as the card shows it), ``"totals"`` / ``"subtotals"`` (``{"columns", "rows"}``,
    re-aggregated by the warehouse) for tables with a grand total / subtotals, ``"html"`` for text.
    ``"display"`` holds the columns' labels and formats, the time buckets and the data window."""
    if r.html is not None:
        return {
            "widget": widget_to_dict(r.widget),
            "columns": [],
            "rows": [],
            "cached": False,
            "html": r.html,
        }
    out: dict[str, Any] = {
        "widget": widget_to_dict(r.widget, spec=r.spec),
        **frame_rows(r.frame if r.frame is not None else pd.DataFrame()),
        "cached": r.cached,
        "row_count": r.row_count,
        "runtime_ms": r.runtime_ms,
    }
    if r.drill is not None:
        out["drill"] = {
            "path": [[c, v] for c, v in r.drill.path],
            "level": r.drill.level,
            "next": r.drill.next,
        }
    if r.kpi is not None and r.spec is not None and r.spec.kpi is not None:
        out["previous"] = r.kpi.previous
        out["kpi"] = {**kpi_summary(r.spec.kpi, r.kpi.value, r.kpi.previous), "text": r.kpi.shown.text}
    if r.totals is not None:
        out["totals"] = frame_rows(r.totals)
    if r.subtotals is not None:
        out["subtotals"] = frame_rows(r.subtotals)
    if r.display is not None:
        out["display"] = r.display.to_dict()
    return out


def view_payload(view: DashboardView) -> dict[str, Any]:
    """The dashboard with each widget's ``"data"`` (as :func:`widget_payload`, without ``"widget"``)
    or ``"error"`` (a message, and ``"error_field"`` when one is named)."""
    entries: list[dict[str, Any]] = []
    for r in view.widgets:
        entry = widget_to_dict(r.widget)
        if r.error is not None:
            entry["error"] = r.error
            if r.error_field:
                entry["error_field"] = r.error_field
        else:
            data = widget_payload(r)
            data.pop("widget")
            entry["data"] = data
        entries.append(entry)
    return {
        **dashboard_to_dict(view.dashboard),
        "favorite": view.favorite,
        "filters_applied": dump_filters(view.filters),
        "as_of": view.as_of.isoformat(),
        "widgets": entries,
    }


def widget_data(
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
) -> dict[str, Any]:
    """:func:`~portal.dashboards.data.widget_result` as a response body."""
    return widget_payload(
        widget_result(
            session,
            principal,
            warehouse,
            dashboard_id,
            widget_id,
            filters=filters,
            drill_path=drill_path,
            now=now,
            use_cache=use_cache,
        )
    )


def view_dashboard(
    session: Session,
    principal: Principal,
    warehouse: Warehouse,
    dashboard_id: int,
    *,
    filters: DashboardFilters | None = None,
    now: datetime | None = None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """:func:`~portal.dashboards.data.load_dashboard` as a response body."""
    return view_payload(
        load_dashboard(
            session, principal, warehouse, dashboard_id, filters=filters, now=now, use_cache=use_cache
        )
    )
