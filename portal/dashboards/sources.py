"""What a widget reads: its inline, named or report query, and the columns it must return."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.dashboards.specs import named_queries
from portal.data.catalog import Catalog
from portal.errors import InvalidSpec, NotFound, unknown
from portal.identity.principal import Principal
from portal.models import Dashboard
from portal.reports import get_report
from portal.specs import GLOBAL_FILTER_COLUMNS, QuerySpec, WidgetSpec, parse_spec


def source_query(session: Session, principal: Principal, d: Dashboard, ws: WidgetSpec) -> QuerySpec:
    """The widget's own query: inline, a dashboard query by name, or a saved report's."""
    if ws.query is not None:
        return ws.query
    if ws.query_name is not None:
        queries = named_queries(d)
        if ws.query_name not in queries:
            raise unknown("dashboard query", ws.query_name, queries, field="query_name")
        return parse_spec(QuerySpec, queries[ws.query_name])
    if ws.report_id is None:
        raise InvalidSpec("text widgets have no query", field="type")
    try:
        r = get_report(session, principal, ws.report_id, "view")
    except NotFound as exc:
        raise NotFound(f"report_id: {exc.message}", field="report_id") from None
    spec = parse_spec(QuerySpec, r.query_json)
    if r.params_json:
        # Report params override the query's defaults, as when the report runs.
        spec = spec.model_copy(update={"params": {**spec.params, **r.params_json}})
    return spec


def check_columns(ws: WidgetSpec, q: QuerySpec, catalog: Catalog) -> None:
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
