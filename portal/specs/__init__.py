"""Versioned, validated JSON specs shared by the API, the UI, jobs and notebooks.

Every spec is a frozen pydantic v2 model that forbids unknown keys, so a typo
in a field name is reported instead of silently ignored. Import them from here.
"""

from __future__ import annotations

from portal.specs.base import (
    ALIAS_RE,
    MAX_COLUMNS,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_GROUP_BY,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_METRICS,
    MAX_PARAM_LIST,
    MAX_PARAMS,
    MAX_SORT,
    MAX_TEXT_CHARS,
    Agg,
    Bucket,
    Name,
    Op,
    Scalar,
    check_params,
    filter_value_count,
    invalid_from_validation,
    parse_spec,
)
from portal.specs.dashboard import (
    GLOBAL_FILTER_COLUMNS,
    DashboardFilters,
    FilterText,
    ObjectScope,
)
from portal.specs.query import (
    Filter,
    GroupBy,
    Metric,
    QuerySpec,
    Sort,
)
from portal.specs.widget import (
    VIZ_TYPES,
    ChartSpec,
    DrillSpec,
    KpiSpec,
    Position,
    TableSpec,
    Viz,
    WidgetSpec,
    WidgetType,
)

__all__ = [
    "ALIAS_RE",
    "GLOBAL_FILTER_COLUMNS",
    "MAX_COLUMNS",
    "MAX_FILTERS",
    "MAX_FILTER_VALUES",
    "MAX_GROUP_BY",
    "MAX_LIMIT",
    "MAX_LIST_VALUES",
    "MAX_METRICS",
    "MAX_PARAMS",
    "MAX_PARAM_LIST",
    "MAX_SORT",
    "MAX_TEXT_CHARS",
    "VIZ_TYPES",
    "Agg",
    "Bucket",
    "ChartSpec",
    "DashboardFilters",
    "DrillSpec",
    "Filter",
    "FilterText",
    "GroupBy",
    "KpiSpec",
    "Metric",
    "Name",
    "ObjectScope",
    "Op",
    "Position",
    "QuerySpec",
    "Scalar",
    "Sort",
    "TableSpec",
    "Viz",
    "WidgetSpec",
    "WidgetType",
    "check_params",
    "filter_value_count",
    "invalid_from_validation",
    "parse_spec",
]
