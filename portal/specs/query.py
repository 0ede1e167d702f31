"""The query spec: metrics, group-by, filters, sort and limits over one catalog source."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from portal.specs.base import (
    _SURROGATE_RE,
    ALIAS_RE,
    MAX_COLUMNS,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_GROUP_BY,
    MAX_LIMIT,
    MAX_LIST_VALUES,
    MAX_METRICS,
    MAX_SORT,
    MAX_TEXT_CHARS,
    Agg,
    Bucket,
    Name,
    Op,
    Scalar,
    _check_alias,
    _params_problem,
    _Spec,
    _text_problem,
    _value_error,
    filter_value_count,
)


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
    """The ``query_json`` of a report or widget. Compiled by :func:`portal.data.query.compile_query`."""

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
