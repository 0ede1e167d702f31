"""Versioned, validated JSON specs shared by the API, the UI, jobs and notebooks.

Every spec is a frozen pydantic v2 model that forbids unknown keys, so a typo
in a field name is reported instead of silently ignored.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portal.errors import InvalidSpec

#: Names users give to result columns: letters, digits and underscores only,
#: so they are safe as labels on every warehouse dialect.
ALIAS_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_LIMIT = 100_000

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
    column: str | None = Field(default=None, description="Column to aggregate; omit for count(*)")
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

    column: str
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

    column: str
    op: Op = "="
    value: Any = None

    @model_validator(mode="after")
    def _shape(self) -> Filter:
        v = self.value
        if self.op in ("in", "not_in"):
            placeholder = isinstance(v, str) and v.startswith("{{")
            if not placeholder and (not isinstance(v, list | tuple) or not v):
                raise ValueError(f"op {self.op!r} needs a non-empty list value")
            if isinstance(v, list | tuple) and len(v) > 1000:
                raise ValueError(f"op {self.op!r} takes at most 1000 values")
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

    by: str
    desc: bool = False


class QuerySpec(_Spec):
    """The ``query_json`` of a report or widget. Compiled by :func:`portal.query.compile_query`."""

    version: Literal[1] = 1
    source: str
    metrics: list[Metric] = Field(default_factory=list)
    group_by: list[GroupBy] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list, description="Raw columns when there are no metrics")
    filters: list[Filter] = Field(default_factory=list)
    params: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    sort: list[Sort] = Field(default_factory=list)
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
                raise ValueError(f"param name {k!r} must hold only letters, digits and _")
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
