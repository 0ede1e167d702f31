"""Pre-aggregations (rollups): their definitions and the pure matcher that answers a query from one.

A :class:`Rollup` is a table of the warehouse holding one row per (time truncated to its grain,
dimension values) of a catalog source, with additive measures: the row count and, per numeric
column, its sum, non-null count, min and max. :mod:`portal.data.rollup_store` builds them off-peak
and routes queries to them; this module decides *whether* a rollup gives exactly the answer the
base table would, and rewrites the query when it does:

* every filter and group-by column is a dimension of the rollup, or its time column grouped by a
  bucket at least as coarse as the grain, filtered by bounds that fall on grain boundaries once
  ``{{now-...}}`` and ``{{params.x}}`` are resolved (or that no row of the built data can fail);
* every metric re-aggregates: ``count`` -> sum of counts, ``sum`` -> sum of sums, ``min``/``max``
  -> min/max, ``avg`` -> sum of sums / sum of counts (finished in pandas, see
  :meth:`Rewrite.finish`), ``count_distinct``/``min``/``max`` of a dimension as they are.
  Medians, percentiles and distinct counts of other columns are not answerable.

Anything else is ``None``: the base table answers. The rewritten query names a source built by
:func:`rollup_source` with the base source's scope columns, so :func:`portal.data.query.compile_query`
applies the caller's scope to the rollup with the same code as to the base table.

Pure: no I/O. Every function takes ``now`` and the parameters explicitly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd

from portal.data.catalog import Catalog, Column, ColumnType, Source
from portal.data.query import _coerce, resolve_value
from portal.data.timewindows import PLACEHOLDER_RE, now_minute
from portal.errors import PortalError
from portal.specs import Filter, Metric, QuerySpec, parse_spec

Grain = Literal["hour", "day", "month"]
#: Result buckets a time column truncated to a grain still gives exactly (a day has one weekday,
#: a week is whole days; an hour of day needs hours, a week does not fit in months).
ANSWERABLE_BUCKETS: dict[str, frozenset[str]] = {
    "hour": frozenset(
        {"hour", "day", "week", "month", "quarter", "year", "hour_of_day", "day_of_week", "month_of_year"}
    ),
    "day": frozenset({"day", "week", "month", "quarter", "year", "day_of_week", "month_of_year"}),
    "month": frozenset({"month", "quarter", "year", "month_of_year"}),
}
#: Name of the row-count measure column of every rollup table.
ROW_COUNT = "row_count"
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_MICROSECOND = timedelta(microseconds=1)
#: Measure kinds per column type: a flag is summed as 0/1 (how the engine sums it) and has no
#: min/max on every warehouse (PostgreSQL has no min(boolean)).
_MEASURE_KINDS: dict[str, tuple[str, ...]] = {
    "int": ("sum", "count", "min", "max"),
    "float": ("sum", "count", "min", "max"),
    "bool": ("sum", "count"),
}


# --------------------------------------------------------------------------- definitions
@dataclass(frozen=True)
class Rollup:
    """A pre-aggregation of ``source``: ``time_column`` truncated to ``grain`` x ``dimensions``.

    ``measures`` are numeric or flag columns of the source; each gets a sum and a non-null
    count (and a min and max unless it is a flag). Every scope column of the source must be a
    dimension, so that any caller's scope can still be applied.
    """

    name: str
    source: str
    time_column: str
    dimensions: tuple[str, ...]
    measures: tuple[str, ...] = ()
    grain: Grain = "day"
    description: str = ""

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ValueError(f"rollup name {self.name!r}: use lower-case letters, digits and _")
        if self.grain not in ANSWERABLE_BUCKETS:
            raise ValueError(f"rollup {self.name!r}: grain must be one of {sorted(ANSWERABLE_BUCKETS)}")
        names = [self.time_column, *self.dimensions, *self.measures]
        if len(set(names)) != len(names):
            raise ValueError(f"rollup {self.name!r}: a column is listed twice")

    @property
    def table(self) -> str:
        """The warehouse table holding the built rollup (a name from this definition, never user text)."""
        return f"rollup_{self.name}"

    @property
    def staging_table(self) -> str:
        """Where a build writes before it is swapped in."""
        return f"rollup_{self.name}__next"

    def check(self, catalog: Catalog) -> Source:
        """The base source, after checking this definition against it (``ValueError`` if it does not fit)."""
        if self.source not in catalog.names:
            raise ValueError(f"rollup {self.name!r}: no source {self.source!r} in the catalog")
        base = catalog.source(self.source)
        time_col = base.find_column(self.time_column)
        if time_col is None or time_col.type != "datetime":
            raise ValueError(f"rollup {self.name!r}: {self.time_column!r} is not a datetime column")
        for d in self.dimensions:
            if base.find_column(d) is None:
                raise ValueError(f"rollup {self.name!r}: no column {d!r} in {self.source!r}")
        for m in self.measures:
            col = base.find_column(m)
            if col is None or col.type not in _MEASURE_KINDS:
                raise ValueError(f"rollup {self.name!r}: measure {m!r} must be a numeric or flag column")
        missing = sorted(set(base.scope.values()) - set(self.dimensions))
        if missing:
            # Without them a restricted scope could not be applied: fail when defined, not when queried.
            raise ValueError(f"rollup {self.name!r}: the scope columns {missing} must be dimensions")
        return base

    def measure_kinds(self, catalog: Catalog) -> list[tuple[str, str, str]]:
        """(base column, kind, rollup column) of each measure; kind is sum, count, min or max."""
        base = catalog.source(self.source)
        out = []
        for m in self.measures:
            col = base.column(m, field="measures")
            out += [(m, kind, measure_column(m, kind)) for kind in _MEASURE_KINDS[col.type]]
        return out


def measure_column(column: str, kind: str) -> str:
    """Name of the rollup column holding ``kind`` (sum, count, min, max) of base ``column``."""
    return f"{column}__{kind}"


def rollup_source(rollup: Rollup, catalog: Catalog) -> Source:
    """The rollup as a catalog source: same dimension columns (types, labels, known values) and
    scope columns as its base, the truncated time column, and the measure columns."""
    base = rollup.check(catalog)
    cols: list[Column] = [base.column(rollup.time_column, field="time_column")]
    cols += [base.column(d, field="dimensions") for d in rollup.dimensions]
    cols.append(Column(ROW_COUNT, "int", "Rows"))
    for m, kind, name in rollup.measure_kinds(catalog):
        mtype: ColumnType = base.column(m, field="measures").type
        if kind == "count" or (kind == "sum" and mtype == "bool"):
            mtype = "int"
        cols.append(Column(name, mtype, name))
    return Source(
        name=rollup.name,
        table=rollup.table,
        label=f"{base.label} ({rollup.grain} rollup)",
        columns=tuple(cols),
        scope=dict(base.scope),
        time_column=rollup.time_column,
        description=rollup.description,
    )


_CUSTOMER_DIMS = (
    "tenant_key",
    "customer_id",
    "customer_name",
    "customer_segment",
    "location_id",
    "location_name",
    "city",
    "state",
    "region",
    "contract_id",
    "contract_name",
)
_TICKET_MEASURES = (
    "first_response_minutes",
    "resolution_hours",
    "sla_target_hours",
    "sla_breached",
    "reopened",
)

#: The demo warehouse's rollups. The customer, location and contract columns are in every one
#: (the scope columns, plus their names, which depend on them and so add no rows).
DEMO_ROLLUPS: tuple[Rollup, ...] = (
    Rollup(
        "tickets_daily",
        "tickets",
        "opened_at",
        (*_CUSTOMER_DIMS, "team_id", "team_name", "priority"),
        _TICKET_MEASURES,
        description="Tickets per day x team x customer x priority (Operations & SLA: by team, weekly).",
    ),
    Rollup(
        "tickets_daily_customer",
        "tickets",
        "opened_at",
        _CUSTOMER_DIMS,
        _TICKET_MEASURES,
        description="Tickets per day x customer/location/contract: the KPIs and time series, small.",
    ),
    Rollup(
        "tickets_hourly",
        "tickets",
        "opened_at",
        _CUSTOMER_DIMS,
        _TICKET_MEASURES,
        grain="hour",
        description="Tickets per hour x customer/location/contract: the weekday x hour heatmap.",
    ),
    Rollup(
        "tickets_monthly",
        "tickets",
        "opened_at",
        (*_CUSTOMER_DIMS, "team_id", "team_name", "priority"),
        _TICKET_MEASURES,
        grain="month",
        description="Tickets per month x team x customer x priority: all-time and whole-month views.",
    ),
    Rollup(
        "conversations_daily",
        "conversations",
        "started_at",
        (*_CUSTOMER_DIMS, "team_id", "team_name", "channel"),
        ("message_count", "first_response_seconds", "handle_minutes", "csat_score", "resolved"),
        description="Conversations per day x team x channel x customer (Customer service KPIs).",
    ),
)


# --------------------------------------------------------------------------- the rewrite
OutputKind = Literal["value", "count", "avg"]


@dataclass(frozen=True)
class Output:
    """How one result column of the base query is made from the rollup query's result.

    ``value``: taken as it is; ``count``: a sum of counts (0, not null, over no rows; whole
    numbers); ``avg``: ``sum_name / count_name``.
    """

    name: str
    kind: OutputKind = "value"
    sum_name: str = ""
    count_name: str = ""
    #: Type of the averaged base column: PostgreSQL averages whole numbers as ``numeric``.
    base_type: str = ""


@dataclass(frozen=True)
class Rewrite:
    """A query answered by ``rollup``: run ``spec`` (on :func:`rollup_source`), then :meth:`finish`."""

    rollup: Rollup
    spec: QuerySpec
    outputs: tuple[Output, ...] = field(default_factory=tuple)

    def finish(self, frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
        """The base query's frame from the rollup query's ``frame``: same columns, order and dtypes.

        ``dialect`` says how the warehouse hands results back: DuckDB as typed columns, the
        others (PostgreSQL) as Python rows that pandas types, with ``numeric`` results made
        floats or whole numbers (:func:`portal.data.execute.fetch_frame`). Each branch below
        reproduces what the base query's frame would hold.
        """
        typed = dialect == "duckdb"
        if not typed and frame.empty:
            # Rows of Python objects: an empty result has untyped (object) columns whatever the query.
            return pd.DataFrame({o.name: pd.Series([], dtype=object) for o in self.outputs})
        cols: dict[str, pd.Series] = {}
        for o in self.outputs:
            if o.kind == "value":
                cols[o.name] = frame[o.name]
            elif o.kind == "count":
                # count() over no rows is 0 while sum() is NULL; counts are whole numbers.
                cols[o.name] = _numbers(frame[o.name]).fillna(0).astype("int64")
            else:
                s, c = _numbers(frame[o.sum_name]), _numbers(frame[o.count_name])
                avg = s / c.where(c > 0)
                cols[o.name] = avg if typed else _like_rows(avg, whole=o.base_type in ("int", "bool"))
        return pd.DataFrame(cols, index=frame.index)


def _numbers(s: pd.Series) -> pd.Series:
    # Sums come back as floats (DuckDB's HUGEINT), Decimals or ints (PostgreSQL): one float type.
    return pd.to_numeric(s, errors="coerce").astype("float64")


def _like_rows(values: pd.Series, *, whole: bool) -> pd.Series:
    """An average as a row-based driver's frame holds it: all nulls stay untyped (``None``);
    a ``numeric`` average (of whole numbers) that is integral everywhere becomes int64."""
    if values.isna().all():
        return pd.Series([None] * len(values), index=values.index, dtype=object)
    if whole and values.notna().all() and bool(((values % 1) == 0).all()):
        return values.astype("int64")
    return values


def answer(
    spec: QuerySpec | Mapping[str, Any],
    rollups: Iterable[Rollup],
    catalog: Catalog,
    now: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    extents: Mapping[str, tuple[datetime, datetime] | None] | None = None,
    sizes: Mapping[str, int] | None = None,
) -> Rewrite | None:
    """The rewrite of ``spec`` onto the smallest of ``rollups`` that answers it exactly, else None.

    ``rollups`` are those that may be used (built and fresh); ``sizes`` their row counts (the
    smallest that answers wins; unknown sizes come last, in the given order); ``extents`` the
    (min, max) of the time column in the data each was built from: a bound no row can fail
    (``<= {{now}}`` past the last ticket) is answerable even off a grain boundary. ``now`` and
    ``params`` are what :func:`portal.data.query.compile_query` gets for the same call.
    """
    try:
        qs = parse_spec(QuerySpec, spec) if not isinstance(spec, QuerySpec) else spec
    except PortalError:
        return None
    at = now_minute(now)
    merged = {**qs.params, **(params or {})}
    candidates = [r for r in rollups if r.source == qs.source]
    order = {r.name: i for i, r in enumerate(candidates)}
    candidates.sort(key=lambda r: ((sizes or {}).get(r.name, math.inf), order[r.name]))
    for r in candidates:
        rewrite = _rewrite(qs, r, catalog, at, merged, (extents or {}).get(r.name))
        if rewrite is not None:
            return rewrite
    return None


def _rewrite(
    qs: QuerySpec,
    r: Rollup,
    catalog: Catalog,
    now: datetime,
    params: Mapping[str, Any],
    extent: tuple[datetime, datetime] | None,
) -> Rewrite | None:
    if qs.columns:
        return None  # raw rows are not in a rollup
    try:
        base = r.check(catalog)
    except ValueError:
        return None
    dims = set(r.dimensions)
    measures = set(r.measures)
    for g in qs.group_by:
        if g.column == r.time_column:
            if g.bucket is None or g.bucket not in ANSWERABLE_BUCKETS[r.grain]:
                return None
        elif g.column not in dims or g.bucket is not None:
            return None
    filters: list[Filter] = []
    for i, f in enumerate(qs.filters):
        if f.column in dims:
            filters.append(f)  # one value per rollup row: the same rows pass as in the base table
        elif f.column == r.time_column:
            time_filters = _time_filters(f, i, base, r.grain, now, params, extent)
            if time_filters is None:
                return None
            filters += time_filters
        else:
            return None
    metrics: list[Metric] = []
    outputs: list[Output] = [Output(g.name) for g in qs.group_by]
    taken = set(qs.output_names)
    avg_names: set[str] = set()
    for i, m in enumerate(qs.metrics):
        col = base.find_column(m.column) if m.column else None
        if m.agg == "count" and m.column is None:
            metrics.append(Metric(agg="sum", column=ROW_COUNT, alias=m.name))
            outputs.append(Output(m.name, "count"))
        elif m.column in dims and m.agg in ("count_distinct", "min", "max"):
            metrics.append(Metric(agg=m.agg, column=m.column, alias=m.name))
            outputs.append(Output(m.name))
        elif m.column not in measures or col is None:
            return None
        elif m.agg == "count":
            metrics.append(Metric(agg="sum", column=measure_column(col.name, "count"), alias=m.name))
            outputs.append(Output(m.name, "count"))
        elif m.agg == "sum":
            metrics.append(Metric(agg="sum", column=measure_column(col.name, "sum"), alias=m.name))
            outputs.append(Output(m.name))
        elif m.agg in ("min", "max") and col.type != "bool":
            metrics.append(Metric(agg=m.agg, column=measure_column(col.name, m.agg), alias=m.name))
            outputs.append(Output(m.name))
        elif m.agg == "avg":
            s_name, c_name = f"_rollup_sum_{i}", f"_rollup_count_{i}"
            if s_name in taken or c_name in taken:
                return None
            metrics.append(Metric(agg="sum", column=measure_column(col.name, "sum"), alias=s_name))
            metrics.append(Metric(agg="sum", column=measure_column(col.name, "count"), alias=c_name))
            outputs.append(Output(m.name, "avg", s_name, c_name, col.type))
            avg_names.add(m.name)
        else:
            return None  # median, percentile, distinct counts of measures, min/max of flags
    if any(s.by in avg_names or s.by not in taken for s in qs.sort):
        return None  # the SQL order would have to follow a value computed after the query
    data = qs.model_dump(by_alias=True, warnings=False)
    data.update(
        source=r.name,
        metrics=[m.model_dump(by_alias=True, exclude_none=True) for m in metrics],
        filters=[f.model_dump(by_alias=True) for f in filters],
    )
    try:
        rewritten = parse_spec(QuerySpec, data)
    except PortalError:
        return None  # e.g. averages split into more metrics than a query may hold
    return Rewrite(r, rewritten, tuple(outputs))


def _time_filters(
    f: Filter,
    i: int,
    base: Source,
    grain: str,
    now: datetime,
    params: Mapping[str, Any],
    extent: tuple[datetime, datetime] | None,
) -> list[Filter] | None:
    """The filters on the rollup's truncated time column equivalent to ``f``, or None.

    A bound on a grain boundary selects whole buckets, so the same bound on the truncated
    column selects the same rows (``>= B``, ``< B``, ``> B - 1µs``, ``<= B - 1µs``). A bound
    every non-null time of the built data passes becomes ``is_not_null`` (a comparison with
    NULL is never true); any other bound cuts a bucket in two: not answerable.
    """
    if f.op in ("is_null", "is_not_null"):
        return [f]  # the truncated time is null exactly when the time is
    if f.op not in (">", ">=", "<", "<=", "between"):
        return None
    col = base.column(f.column, field=f"filters[{i}].column")
    raw = f.value
    if (
        f.op == "between"
        and isinstance(raw, str)
        and ".." in raw
        and not PLACEHOLDER_RE.fullmatch(raw.strip())
    ):
        raw = raw.split("..", 1)  # as compile_query reads 'low..high'
    try:
        value = resolve_value(raw, params, now, field=f"filters[{i}].value")
        if f.op == "between":
            if not isinstance(value, list) or len(value) != 2:
                return None
            bounds = [(">=", _coerce(col, value[0], field="")), ("<=", _coerce(col, value[1], field=""))]
            if bounds[0][1] > bounds[1][1]:
                return None  # the base query reports this range as an error
        else:
            bounds = [(f.op, _coerce(col, value, field=""))]
    except PortalError:
        return None  # the base query reports the bad value
    out: list[Filter] = []
    for op, v in bounds:
        if not isinstance(v, datetime):
            return None
        if _on_boundary(op, v, grain):
            out.append(Filter(column=f.column, op=op, value=v))
        elif extent is not None and _passes_all(op, v, extent):
            out.append(Filter(column=f.column, op="is_not_null"))
        else:
            return None
    if len(out) == len(bounds) and all(x.op == b[0] for x, b in zip(out, bounds, strict=True)):
        return [f]  # every bound kept: keep the filter as written (params and all)
    return out


def floor_time(t: datetime, grain: str) -> datetime:
    """``t`` truncated to ``grain`` (what the warehouse's ``date_trunc`` gives)."""
    t = t.replace(minute=0, second=0, microsecond=0)
    if grain == "hour":
        return t
    t = t.replace(hour=0)
    return t if grain == "day" else t.replace(day=1)


def _on_boundary(op: str, v: datetime, grain: str) -> bool:
    """Whether the bound ``time <op> v`` selects whole ``grain`` buckets."""
    if op in (">", "<="):
        try:
            v = v + _MICROSECOND  # time > v  is  time >= v + 1µs (the warehouses keep microseconds)
        except OverflowError:
            return False
    return floor_time(v, grain) == v


def _passes_all(op: str, v: datetime, extent: tuple[datetime, datetime]) -> bool:
    """Whether every non-null time within ``extent`` (min, max) satisfies ``time <op> v``."""
    lo, hi = extent
    return {">=": v <= lo, ">": v < lo, "<=": v >= hi, "<": v > hi}[op]
