"""Versioned, validated JSON specs shared by the API, the UI, jobs and notebooks.

Every spec is a frozen pydantic v2 model that forbids unknown keys, so a typo
in a field name is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from portal.errors import InvalidSpec

#: Names users give to result columns: letters, digits and underscores only,
#: so they are safe as labels on every warehouse dialect.
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_LIMIT = 100_000

# Size limits of a QuerySpec (and of the run-time params given with it). They keep
# a single request from building a statement the warehouse needs minutes to plan;
# the statement timeout (Settings.query_timeout_seconds) stops the rest.
MAX_FILTERS = 50  #: filters per query
MAX_METRICS = 50  #: metrics per query
MAX_GROUP_BY = 10  #: group-by dimensions per query
MAX_COLUMNS = 50  #: raw columns per query
MAX_SORT = 10  #: sort entries per query
MAX_LIST_VALUES = 1000  #: values in one ``in`` / ``not_in`` list (and in any list value)
MAX_FILTER_VALUES = 5000  #: values across all filters of one query
MAX_TEXT_CHARS = 1000  #: characters in any text of a query: values, params, names
MAX_PARAMS = 100  #: entries in ``params`` (the spec's and the run-time ones, each)
MAX_PARAM_LIST = 1000  #: items in one list param

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


# --------------------------------------------------------------------------- text checks
def _texts(value: Any) -> Iterator[tuple[str, str, bool]]:
    """``(path, text, is_key)`` for every string in ``value``, in order, walking lists, tuples and dicts."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, str):
            yield path, v, False
        elif isinstance(v, list | tuple):
            stack.extend((_join(path, i), x) for i, x in reversed(list(enumerate(v))))
        elif isinstance(v, Mapping):
            yield from ((path, k, True) for k in v if isinstance(k, str))
            stack.extend((_join(path, k), x) for k, x in reversed(list(v.items())))


def _join(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


def _text_problem(value: Any, max_chars: int | None = None) -> tuple[str, str] | None:
    """``(path, reason)`` of the first string in ``value`` not valid UTF-8 or over ``max_chars`` long."""
    for path, text, is_key in _texts(value):
        m = _SURROGATE_RE.search(text)
        if m:
            what = f"the key {_SURROGATE_RE.sub('?', text)[:60]!r} is" if is_key else "text is"
            where = f"surrogate U+{ord(m.group()):04X} at character {m.start()}"
            return path, f"{what} not valid UTF-8 ({where})"
        if max_chars is not None and len(text) > max_chars:
            what = "a key" if is_key else "text"
            return path, f"{what} takes at most {max_chars} characters, got {len(text)}"
    return None


def _params_problem(params: Mapping[str, Any]) -> tuple[str, str] | None:
    if len(params) > MAX_PARAMS:
        return "", f"at most {MAX_PARAMS} params, got {len(params)}"
    for k, v in params.items():
        if isinstance(v, list | tuple) and len(v) > MAX_PARAM_LIST:
            return str(k), f"a list param takes at most {MAX_PARAM_LIST} items, got {len(v)}"
    return _text_problem(params, MAX_TEXT_CHARS)


def check_params(params: Mapping[str, Any], field: str = "params") -> None:
    """Raise :class:`InvalidSpec` naming ``field`` if run-time ``params`` break the limits of a
    spec's own params: at most MAX_PARAMS entries, MAX_PARAM_LIST items per list,
    MAX_TEXT_CHARS characters per text, valid UTF-8 everywhere."""
    _raise_at(field, _params_problem(params))


def _raise_at(field: str, problem: tuple[str, str] | None) -> None:
    if problem is not None:
        where = _join(field, problem[0]) if problem[0] else field
        raise InvalidSpec(f"{where}: {problem[1]}", field=where)


def _value_error(problem: tuple[str, str] | None) -> None:
    # Inside validators: pydantic turns the ValueError into an error at the field's loc.
    if problem is not None:
        raise ValueError(f"at {problem[0]}: {problem[1]}" if problem[0] else problem[1])


def _name_ok(value: str) -> str:
    _value_error(_text_problem(value, MAX_TEXT_CHARS))
    return value


#: A column or source name: valid UTF-8 text of at most MAX_TEXT_CHARS characters
#: (the catalog decides whether it exists).
Name = Annotated[str, AfterValidator(_name_ok)]

Agg = Literal["count", "count_distinct", "sum", "avg", "min", "max", "percentile", "median"]
Bucket = Literal[
    "hour", "day", "week", "month", "quarter", "year", "hour_of_day", "day_of_week", "month_of_year"
]
Op = Literal["=", "!=", ">", ">=", "<", "<=", "in", "not_in", "between", "like", "is_null", "is_not_null"]
Scalar = str | int | float | bool | date | datetime | None


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_alias(value: str | None) -> str | None:
    if value is not None and not ALIAS_RE.match(value):
        raise ValueError("must start with a letter or _ and hold only letters, digits and _ (max 63)")
    return value


class Metric(_Spec):
    """One aggregate: ``{"agg": "sum", "column": "amount", "as": "total"}``."""

    agg: Agg
    column: Name | None = Field(default=None, description="Column to aggregate; omit for count(*)")
    alias: str | None = Field(default=None, alias="as")
    p: float | None = Field(default=None, gt=0, lt=1, description="Percentile in (0, 1) for agg=percentile")

    _alias = field_validator("alias")(_check_alias)

    @model_validator(mode="after")
    def _needs(self) -> Metric:
        if self.agg != "count" and not self.column:
            raise ValueError(f"agg {self.agg!r} needs a column")
        if self.agg == "percentile" and self.p is None:
            raise ValueError("agg 'percentile' needs p, e.g. 0.9")
        return self

    @property
    def name(self) -> str:
        """The result column name."""
        if self.alias:
            return self.alias
        if self.agg == "count" and not self.column:
            return "count"
        if self.agg == "percentile":
            return f"p{round((self.p or 0) * 100):d}_{self.column}"
        return f"{self.agg}_{self.column}"


class GroupBy(_Spec):
    """A dimension, optionally bucketed in time: ``{"column": "opened_at", "bucket": "day"}``."""

    column: Name
    bucket: Bucket | None = None
    alias: str | None = Field(default=None, alias="as")

    _alias = field_validator("alias")(_check_alias)

    @property
    def name(self) -> str:
        """The result column name."""
        if self.alias:
            return self.alias
        return f"{self.column}_{self.bucket}" if self.bucket else self.column


class Filter(_Spec):
    """A row filter. Values may hold placeholders: ``{{now-7d}}``, ``{{params.customer}}``."""

    column: Name
    op: Op = "="
    value: Any = None

    @field_validator("value")
    @classmethod
    def _value_size(cls, v: Any) -> Any:
        if isinstance(v, list | tuple) and len(v) > MAX_LIST_VALUES:
            raise ValueError(f"a list takes at most {MAX_LIST_VALUES} values, got {len(v)}")
        _value_error(_text_problem(v, MAX_TEXT_CHARS))
        return v

    @model_validator(mode="after")
    def _shape(self) -> Filter:
        v = self.value
        if self.op in ("in", "not_in"):
            placeholder = isinstance(v, str) and v.startswith("{{")
            if not placeholder and (not isinstance(v, list | tuple) or not v):
                raise ValueError(f"op {self.op!r} needs a non-empty list value")
        elif self.op == "between":
            ok = isinstance(v, list | tuple) and len(v) == 2
            ok = ok or (isinstance(v, str) and ".." in v)
            if not ok:
                raise ValueError("op 'between' needs [low, high] or 'low..high'")
        elif self.op in ("is_null", "is_not_null"):
            if v not in (None, True):
                raise ValueError(f"op {self.op!r} takes no value")
        elif v is None:
            raise ValueError(f"op {self.op!r} needs a value (use is_null for NULL)")
        elif isinstance(v, dict | list | tuple):
            raise ValueError(f"op {self.op!r} needs a single value")
        return self


class Sort(_Spec):
    """Order by a result column (a group-by or metric name)."""

    by: Name
    desc: bool = False


class QuerySpec(_Spec):
    """The ``query_json`` of a report or widget. Compiled by :func:`portal.query.compile_query`."""

    version: Literal[1] = 1
    source: Name
    metrics: list[Metric] = Field(default_factory=list, max_length=MAX_METRICS)
    group_by: list[GroupBy] = Field(default_factory=list, max_length=MAX_GROUP_BY)
    columns: list[Name] = Field(
        default_factory=list, max_length=MAX_COLUMNS, description="Raw columns when there are no metrics"
    )
    filters: list[Filter] = Field(default_factory=list, max_length=MAX_FILTERS)
    params: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    sort: list[Sort] = Field(default_factory=list, max_length=MAX_SORT)
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 1000
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0

    @field_validator("group_by", mode="before")
    @classmethod
    def _plain_group_by(cls, v: Any) -> Any:
        # "team_name" is shorthand for {"column": "team_name"}.
        if isinstance(v, list):
            return [{"column": g} if isinstance(g, str) else g for g in v]
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for k in v:
            if not ALIAS_RE.match(k):
                raise ValueError(
                    f"param name {_SURROGATE_RE.sub('?', k)!r} must hold only letters, digits and _"
                )
        _value_error(_params_problem(v))
        return v

    @field_validator("filters")
    @classmethod
    def _filter_values(cls, v: list[Filter]) -> list[Filter]:
        n = sum(filter_value_count(f.value) for f in v)
        if n > MAX_FILTER_VALUES:
            raise ValueError(f"at most {MAX_FILTER_VALUES} values across all filters, got {n}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> QuerySpec:
        if not self.metrics and not self.group_by and not self.columns:
            raise ValueError("give at least one of metrics, group_by or columns")
        if self.columns and (self.metrics or self.group_by):
            raise ValueError("columns (raw rows) cannot be combined with metrics or group_by")
        names = [*(g.name for g in self.group_by), *(m.name for m in self.metrics), *self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate result column name(s) {dupes}; give each an 'as' alias")
        return self

    @property
    def output_names(self) -> list[str]:
        """Result column names, in order."""
        return [*(g.name for g in self.group_by), *(m.name for m in self.metrics), *self.columns]


def filter_value_count(value: Any) -> int:
    """How many values a filter value holds (a list counts its items), for :data:`MAX_FILTER_VALUES`."""
    if value is None:
        return 0
    return len(value) if isinstance(value, list | tuple) else 1


T = TypeVar("T", bound=BaseModel)


def parse_spec(model: type[T], data: Any) -> T:
    """Validate ``data`` as ``model``; raise :class:`InvalidSpec` naming the first bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc, model.__name__) from None


def invalid_from_validation(exc: ValidationError, what: str) -> InvalidSpec:
    """Turn a pydantic error into an ``InvalidSpec`` whose message names the field path."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or what
    msg = first.get("msg", "invalid value")
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return InvalidSpec(f"{loc}: {msg}{more}", field=loc)


# --------------------------------------------------------------------------- charts and widgets
Viz = Literal["bar", "column", "line", "area", "pie", "donut", "treemap", "heatmap"]
VIZ_TYPES: tuple[str, ...] = ("bar", "column", "line", "area", "pie", "donut", "treemap", "heatmap")


class ChartSpec(_Spec):
    """One chart of a query result, rendered on the web (bokeh) and in PDFs (plotly).

    ``x``: category/time column; ``y``: value column(s); ``series``: column that
    splits values into stacked or grouped series. Pie/donut/treemap use ``x`` as
    labels and ``y[0]`` as size (treemap: ``series`` as the parent level).
    Heatmap: ``x`` columns × ``series`` rows, coloured by ``y[0]``.
    """

    viz: Viz
    x: str
    y: list[str] = Field(min_length=1, max_length=8)
    series: str | None = None
    stacked: bool = False
    title: str = Field(default="", max_length=200)
    x_label: str | None = Field(default=None, max_length=100)
    y_label: str | None = Field(default=None, max_length=100)
    colors: list[str] | None = Field(default=None, max_length=20)
    height: int = Field(default=320, ge=120, le=2000)

    @field_validator("colors")
    @classmethod
    def _hex(cls, v: list[str] | None) -> list[str] | None:
        for c in v or []:
            if not re.fullmatch(r"#[0-9a-fA-F]{6}", c):
                raise ValueError(f"color {c!r} must be #rrggbb")
        return v

    @model_validator(mode="after")
    def _shape(self) -> ChartSpec:
        if self.viz == "heatmap" and not self.series:
            raise ValueError("heatmap needs series (the row dimension)")
        if self.series is not None and self.series == self.x:
            raise ValueError(f"series must differ from x (both are {self.x!r})")
        if self.x in self.y or (self.series is not None and self.series in self.y):
            raise ValueError("y columns must differ from x and series")
        if self.viz in ("pie", "donut", "heatmap", "treemap") and len(self.y) != 1:
            raise ValueError(f"{self.viz} takes exactly one y column")
        return self

    @property
    def columns(self) -> list[str]:
        """Result columns the chart reads."""
        return [self.x, *self.y, *([self.series] if self.series else [])]


class TableSpec(_Spec):
    """A table widget: sort, pagination, subtotals by group and a grand total."""

    columns: list[str] | None = None
    subtotals_by: str | None = None
    totals: bool = True
    page_size: int = Field(default=15, ge=5, le=500)
    sort_by: str | None = None
    sort_desc: bool = False


class KpiSpec(_Spec):
    """A KPI card: value, target, variation against the previous period, traffic light."""

    value: str = Field(description="metric column of the query result")
    label: str = ""
    target: float | None = None
    compare_previous: bool = True
    higher_is_better: bool = True
    # Traffic light by ratio value/target (or by the value itself without a target).
    good_at: float | None = None
    warn_at: float | None = None
    format: Literal["number", "percent", "currency", "duration_h"] = "number"
    decimals: int = Field(default=0, ge=0, le=6)


class DrillSpec(_Spec):
    """Drill-down: a hierarchy to walk (``["team_name", "agent_name"]``) or a dashboard filter to set."""

    hierarchy: list[str] = Field(default_factory=list, max_length=6)
    filter: Literal["customer", "location", "team"] | None = None


WidgetType = Literal["chart", "table", "kpi", "text"]


class WidgetSpec(_Spec):
    """``config_json`` of a widget.

    Non-text widgets take exactly one data source: an inline ``query``, a
    dashboard query by ``query_name`` (one query, many views) or a saved ``report_id``.
    """

    type: WidgetType
    title: str = Field(default="", max_length=200)
    query: QuerySpec | None = None
    query_name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    report_id: int | None = Field(default=None, ge=1)
    chart: ChartSpec | None = None
    table: TableSpec | None = None
    kpi: KpiSpec | None = None
    text: str | None = Field(default=None, max_length=20_000)
    drilldown: DrillSpec | None = None
    refresh_interval_sec: int | None = Field(default=None, ge=5, le=86_400)

    @model_validator(mode="after")
    def _consistent(self) -> WidgetSpec:
        sources = [x for x in (self.query, self.query_name, self.report_id) if x is not None]
        if self.type == "text":
            if self.text is None:
                raise ValueError("text widgets need text (Markdown)")
            if sources:
                raise ValueError("text widgets take no query")
            return self
        if len(sources) != 1:
            raise ValueError("give exactly one of query, query_name or report_id")
        if self.type == "chart" and self.chart is None:
            raise ValueError("chart widgets need chart")
        if self.type == "kpi" and self.kpi is None:
            raise ValueError("kpi widgets need kpi")
        return self

    @property
    def viz(self) -> str:
        """The ``widgets.viz`` column value."""
        if self.type == "chart" and self.chart is not None:
            return self.chart.viz
        return self.type


class Position(_Spec):
    """Grid position in a 12-column layout."""

    x: int = Field(default=0, ge=0, le=11)
    y: int = Field(default=0, ge=0, le=1000)
    w: int = Field(default=4, ge=1, le=12)
    h: int = Field(default=3, ge=1, le=40)

    @model_validator(mode="after")
    def _fits(self) -> Position:
        if self.x + self.w > 12:
            raise ValueError(f"x + w must be at most 12 (got {self.x} + {self.w})")
        return self


class ObjectScope(_Spec):
    """Who a ``customer``-visible report or dashboard is for: ``{"customer_id": 7}``."""

    customer_id: int | None = Field(default=None, ge=1, le=2**62)

    def stored(self) -> dict[str, Any]:
        """The ``scope_json`` column value."""
        return self.model_dump(exclude_none=True)


#: One value of a global filter (a customer, location or team name).
FilterText = Annotated[str, Field(max_length=200)]


class DashboardFilters(_Spec):
    """Global filters applied to every widget whose source has the matching column."""

    time_range: str | None = Field(default=None, max_length=200, description="e.g. '{{now-30d}}..{{now}}'")
    customer: list[FilterText] = Field(default_factory=list, max_length=200)
    location: list[FilterText] = Field(default_factory=list, max_length=200)
    team: list[FilterText] = Field(default_factory=list, max_length=200)


#: Which column each global filter uses.
GLOBAL_FILTER_COLUMNS = {"customer": "customer_name", "location": "location_name", "team": "team_name"}
