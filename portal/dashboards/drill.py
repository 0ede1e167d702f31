"""Pure functions that derive a widget's effective query: dashboard filters and drill-down."""

from __future__ import annotations

from typing import Any

from portal.data.catalog import Catalog
from portal.errors import InvalidSpec
from portal.specs import GLOBAL_FILTER_COLUMNS, DashboardFilters, DrillSpec, Filter, GroupBy, QuerySpec


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
