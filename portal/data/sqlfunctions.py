"""Dialect-aware SQL functions the compiler uses: time buckets and percentiles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

# Fixed vocabularies rendered into SQL text: bucket names come from the spec's
# Literal type and are mapped through these dicts, never copied from input.
_TRUNC = {
    "hour": "hour",
    "day": "day",
    "week": "week",
    "month": "month",
    "quarter": "quarter",
    "year": "year",
}
PARTS = {"hour_of_day": "hour", "day_of_week": "dow", "month_of_year": "month"}
_SQLITE_TRUNC = {
    "hour": "%Y-%m-%d %H:00:00",
    "day": "%Y-%m-%d 00:00:00",
    "month": "%Y-%m-01 00:00:00",
    "year": "%Y-01-01 00:00:00",
}


# --------------------------------------------------------------------------- SQL constructs
class time_bucket(FunctionElement[datetime]):
    """``date_trunc(<unit>, col)`` with the unit rendered per dialect."""

    inherit_cache = True
    name = "time_bucket"
    type = DateTime()

    def __init__(self, unit: str, col: ColumnElement[Any]) -> None:
        self.unit = _TRUNC[unit]
        super().__init__(col)


@compiles(time_bucket)
def _tb_default(element: time_bucket, compiler: Any, **kw: Any) -> str:
    (col,) = element.clauses
    return f"date_trunc('{element.unit}', {compiler.process(col, **kw)})"


@compiles(time_bucket, "sqlite")
def _tb_sqlite(element: time_bucket, compiler: Any, **kw: Any) -> str:
    (col,) = element.clauses
    c = compiler.process(col, **kw)
    if element.unit in _SQLITE_TRUNC:
        return f"strftime('{_SQLITE_TRUNC[element.unit]}', {c})"
    if element.unit == "week":
        return f"strftime('%Y-%m-%d 00:00:00', {c}, 'weekday 1', '-7 days')"
    months_into_quarter = f"(CAST(strftime('%m', {c}) AS INTEGER) - 1) % 3"
    return f"strftime('%Y-%m-01 00:00:00', {c}, printf('-%d months', {months_into_quarter}))"


@compiles(time_bucket, "clickhouse")
def _tb_clickhouse(element: time_bucket, compiler: Any, **kw: Any) -> str:
    (col,) = element.clauses
    fn = {
        "hour": "toStartOfHour",
        "day": "toStartOfDay",
        "week": "toMonday",
        "month": "toStartOfMonth",
        "quarter": "toStartOfQuarter",
        "year": "toStartOfYear",
    }[element.unit]
    return f"{fn}({compiler.process(col, **kw)})"


class percentile(FunctionElement[float]):
    """Continuous percentile; ``p`` is a validated float rendered as a number literal."""

    inherit_cache = True
    name = "percentile"
    type = Float()

    def __init__(self, p: float, col: ColumnElement[Any]) -> None:
        self.p = float(p)
        if not 0.0 < self.p < 1.0:
            raise ValueError("percentile p must be in (0, 1)")
        super().__init__(col)


@compiles(percentile)
def _pct_default(element: percentile, compiler: Any, **kw: Any) -> str:
    (col,) = element.clauses
    return f"percentile_cont({element.p!r}) WITHIN GROUP (ORDER BY {compiler.process(col, **kw)})"


@compiles(percentile, "duckdb")
def _pct_duckdb(element: percentile, compiler: Any, **kw: Any) -> str:
    (col,) = element.clauses
    return f"quantile_cont({compiler.process(col, **kw)}, {element.p!r})"
