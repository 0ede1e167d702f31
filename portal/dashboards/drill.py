"""Pure functions that derive a widget's effective query: dashboard filters and drill-down."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from portal.data.catalog import Catalog
from portal.errors import InvalidSpec
from portal.models import Dashboard
from portal.specs import (
    GLOBAL_FILTER_COLUMNS,
    DashboardFilters,
    DrillSpec,
    Filter,
    GroupBy,
    QuerySpec,
    WidgetSpec,
    parse_spec,
)


def apply_filters(spec: QuerySpec, filters: DashboardFilters, catalog: Catalog) -> QuerySpec:
    """Add the dashboard's global filters to a query, for the columns its source has."""
    source = catalog.source(spec.source)
    names = set(source.column_names)
    extra: list[Filter] = []
    if filters.time_range and source.time_column:
        extra.append(Filter(column=source.time_column, op="between", value=filters.time_range))
    for kind, col in GLOBAL_FILTER_COLUMNS.items():
        values = getattr(filters, kind)
        if values and col in names:
            extra.append(Filter(column=col, op="in", value=list(values)))
    if not extra:
        return spec
    return spec.model_copy(update={"filters": [*spec.filters, *extra]})


def drill(spec: QuerySpec, drilldown: DrillSpec, path: list[tuple[str, Any]]) -> QuerySpec:
    """The query one level down a hierarchy.

    ``path`` holds the (column, value) pairs clicked so far, e.g.
    ``[("team_name", "Field A")]``: the result filters on each of them and
    groups by the next column of the hierarchy instead of the first one.
    """
    levels = drilldown.hierarchy
    if not levels or not path:
        return spec
    if len(path) >= len(levels):
        raise InvalidSpec(
            f"drilldown: the hierarchy has {len(levels)} levels; cannot go deeper", field="drilldown"
        )
    for depth, (col, _) in enumerate(path):
        if col != levels[depth]:
            raise InvalidSpec(
                f"drilldown: level {depth} is {levels[depth]!r}, not {col!r}", field="drilldown"
            )
    top, nxt = levels[0], levels[len(path)]
    group_by = [GroupBy(column=nxt) if g.column == top and g.bucket is None else g for g in spec.group_by]
    if not any(g.column == nxt for g in group_by):
        group_by = [GroupBy(column=nxt), *group_by]
    filters = [*spec.filters, *(Filter(column=c, op="=", value=v) for c, v in path)]
    return spec.model_copy(update={"group_by": group_by, "filters": filters})


def effective_filters(d: Dashboard, override: DashboardFilters | None) -> DashboardFilters:
    """The dashboard's saved filters with the fields the principal set in ``override`` replacing them."""
    base = parse_spec(DashboardFilters, d.filters_json or {})
    if override is None:
        return base
    return base.model_copy(update={k: getattr(override, k) for k in override.model_fields_set})


def drilled_widget(ws: WidgetSpec, levels: list[str], path: Sequence[tuple[str, Any]]) -> WidgetSpec:
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


def normalise_path(drill_path: Sequence[Any] | None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for i, step in enumerate(drill_path or []):
        if not isinstance(step, list | tuple) or len(step) != 2 or not isinstance(step[0], str):
            raise InvalidSpec(f"drill[{i}]: must be a [column, value] pair", field=f"drill[{i}]")
        if isinstance(step[1], dict | list | tuple):
            raise InvalidSpec(f"drill[{i}]: the value must be a single value", field=f"drill[{i}]")
        out.append((step[0], step[1]))
    return out


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
