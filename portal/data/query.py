"""Query engine: ``QuerySpec`` → SQLAlchemy Core → DataFrame.

``compile_query`` is pure: every identifier comes from the catalog (an
allow-list), every value is a bound parameter, and the caller's scope is
always injected as row filters. :mod:`portal.data.execute` runs the result
(``run_query``, with a Redis cache keyed by the compiled statement **and** the scope).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    column,
    distinct,
    extract,
    false,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.types import TypeEngine

from portal.data.catalog import Catalog, Column, Source
from portal.data.sqlfunctions import PARTS, percentile, time_bucket
from portal.data.timewindows import ANCHORS, PLACEHOLDER_RE, now_minute, parse_time_expr
from portal.errors import InvalidSpec, NotFound, PermissionDenied, not_among, unknown
from portal.identity.scope import Scope
from portal.specs import (
    MAX_FILTER_VALUES,
    MAX_LIST_VALUES,
    Filter,
    GroupBy,
    Metric,
    QuerySpec,
    check_params,
    filter_value_count,
    parse_spec,
)

_SQL_TYPES: dict[str, TypeEngine[Any]] = {
    "int": Integer(),
    "float": Float(),
    "string": String(),
    "bool": Boolean(),
    "datetime": DateTime(),
    "date": Date(),
}


def _quoted(name: str) -> str:
    # Result names match ALIAS_RE (letters, digits, _), validated by the spec, so quoting is safe.
    return '"' + name + '"'


# --------------------------------------------------------------------------- placeholders
def resolve_value(value: Any, params: Mapping[str, Any], now: datetime, *, field: str) -> Any:
    """Replace ``{{...}}`` placeholders in a filter value (recursively for lists)."""
    if isinstance(value, list | tuple):
        return [resolve_value(v, params, now, field=f"{field}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def one(expr: str) -> Any:
        t = parse_time_expr(expr, now, field=field)
        if t is not None:
            return t
        name = expr[7:] if expr.startswith("params.") else expr
        if name in params:
            return params[name]
        if re.match(r"^[A-Za-z_]\w*$", name):
            choices = [*params, *ANCHORS]
            raise (
                unknown("param", name, choices, field=field)
                if params
                else InvalidSpec(f"{field}: missing param {name!r} (give it in params)", field=field)
            )
        raise InvalidSpec(
            f"{field}: cannot read placeholder {{{{{expr}}}}}; use e.g. {{{{now-7d}}}}, "
            "{{start_of_month}} or {{params.name}} (units m h d w M y)",
            field=field,
        )

    whole = PLACEHOLDER_RE.fullmatch(value.strip())
    if whole:
        return one(whole.group(1))

    def sub(m: re.Match[str]) -> str:
        v = one(m.group(1))
        return v.isoformat(sep=" ") if isinstance(v, datetime) else str(v)

    return PLACEHOLDER_RE.sub(sub, value)


# --------------------------------------------------------------------------- coercion
def _coerce(col: Column, value: Any, *, field: str) -> Any:
    """Coerce a JSON value to the column's type or raise ``InvalidSpec`` naming ``field``."""
    if value is None:
        raise InvalidSpec(f"{field}: null is not a value here; use op is_null", field=field)
    try:
        if col.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            n = int(value)
            if not -(2**63) <= n < 2**63:  # BIGINT range: larger values cannot match and break drivers
                raise ValueError(value)
            return n
        if col.type == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            f = float(value)
            if f != f or f in (float("inf"), float("-inf")):
                raise ValueError(value)
            return f
        if col.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError(value)
        if col.type in ("datetime", "date"):
            if isinstance(value, datetime):
                out = value
            elif isinstance(value, date):
                out = datetime(value.year, value.month, value.day)
            elif isinstance(value, str):
                out = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            else:
                raise ValueError(value)
            if out.tzinfo is not None:  # the warehouse stores naive UTC
                out = out.astimezone(UTC).replace(tzinfo=None)
            return out.date() if col.type == "date" else out
        if isinstance(value, dict | list | tuple):
            raise ValueError(value)
        s = str(value)
        if len(s) > 1000 or "\x00" in s:
            raise ValueError("text values are limited to 1000 characters without NUL")
        return s
    except (TypeError, ValueError, OverflowError):
        raise InvalidSpec(
            f"{field}: {str(value)[:60]!r} is not a valid {col.type} for column {col.name!r}", field=field
        ) from None


# --------------------------------------------------------------------------- compilation
@dataclass(frozen=True)
class CompiledQuery:
    """A compiled statement plus what it was compiled from."""

    statement: Select[Any]
    spec: QuerySpec
    source: Source
    scope: Scope


def _col(source: Source, name: str, *, field: str) -> tuple[Column, ColumnElement[Any]]:
    c = source.column(name, field=field)
    return c, column(c.name, _SQL_TYPES[c.type])


def _metric(source: Source, m: Metric, i: int) -> ColumnElement[Any]:
    field = f"metrics[{i}].column"
    if m.agg == "count" and not m.column:
        return func.count().label(m.name)
    assert m.column is not None  # guaranteed by Metric validation
    c, e = _col(source, m.column, field=field)
    if m.agg == "count":
        return func.count(e).label(m.name)
    if m.agg == "count_distinct":
        return func.count(distinct(e)).label(m.name)
    if m.agg in ("min", "max"):
        agg_fn = func.min if m.agg == "min" else func.max
        return agg_fn(e).label(m.name)
    if not c.is_numeric:
        raise InvalidSpec(
            f"{field}: {m.agg} needs a numeric column; {c.name!r} is {c.type} (use count or count_distinct)",
            field=field,
        )
    num = cast(e, Integer) if c.type == "bool" else e
    if m.agg == "sum":
        return func.sum(num).label(m.name)
    if m.agg == "avg":
        return func.avg(num).label(m.name)
    p = 0.5 if m.agg == "median" else float(m.p or 0.5)
    return percentile(p, num).label(m.name)


def _group(source: Source, g: GroupBy, i: int) -> ColumnElement[Any]:
    c, e = _col(source, g.column, field=f"group_by[{i}].column")
    if g.bucket is None:
        return e.label(g.name)
    if not c.is_time:
        raise InvalidSpec(
            f"group_by[{i}].bucket: time buckets need a datetime column; {c.name!r} is {c.type}",
            field=f"group_by[{i}].bucket",
        )
    if g.bucket in PARTS:
        return cast(extract(PARTS[g.bucket], e), Integer).label(g.name)
    return time_bucket(g.bucket, e).label(g.name)


def _filter(
    source: Source, f: Filter, i: int, params: Mapping[str, Any], now: datetime
) -> tuple[ColumnElement[bool], int]:
    """The condition of filter ``i`` and how many values it holds once placeholders are filled in."""
    field = f"filters[{i}]"
    c, e = _col(source, f.column, field=f"{field}.column")
    vfield = f"{field}.value"
    if f.op == "is_null":
        return e.is_(None), 0
    if f.op == "is_not_null":
        return e.is_not(None), 0
    raw = f.value
    if (
        f.op == "between"
        and isinstance(raw, str)
        and ".." in raw
        and not PLACEHOLDER_RE.fullmatch(raw.strip())
    ):
        raw = raw.split("..", 1)
    value = resolve_value(raw, params, now, field=vfield)
    n = filter_value_count(value)
    if f.op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise InvalidSpec(f"{vfield}: op {f.op!r} needs a non-empty list", field=vfield)
        if n > MAX_LIST_VALUES:
            raise InvalidSpec(
                f"{vfield}: op {f.op!r} takes at most {MAX_LIST_VALUES} values, got {n}", field=vfield
            )
        vals = [_coerce(c, v, field=f"{vfield}[{k}]") for k, v in enumerate(value)]
        bp = bindparam(f"f{i}", vals, expanding=True, type_=_SQL_TYPES[c.type])
        return (e.in_(bp) if f.op == "in" else e.not_in(bp)), n
    if f.op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidSpec(f"{vfield}: op 'between' needs [low, high]", field=vfield)
        lo = _coerce(c, value[0], field=f"{vfield}[0]")
        hi = _coerce(c, value[1], field=f"{vfield}[1]")
        if lo > hi:  # would match no row at all: say so
            raise InvalidSpec(
                f"{vfield}: the range of {c.name!r} starts after it ends ({lo} > {hi}); swap the two ends",
                field=vfield,
            )
        t = _SQL_TYPES[c.type]
        return e.between(bindparam(f"f{i}lo", lo, type_=t), bindparam(f"f{i}hi", hi, type_=t)), n
    if f.op == "like":
        if c.type != "string":
            raise InvalidSpec(
                f"{field}.op: like needs a text column; {c.name!r} is {c.type}", field=f"{field}.op"
            )
        return e.like(bindparam(f"f{i}", _coerce(c, value, field=vfield), type_=String())), n
    v = bindparam(f"f{i}", _coerce(c, value, field=vfield), type_=_SQL_TYPES[c.type])
    ops = {"=": e == v, "!=": e != v, ">": e > v, ">=": e >= v, "<": e < v, "<=": e <= v}
    return ops[f.op], n


def _check_known_values(source: Source, qs: QuerySpec, params: Mapping[str, Any], now: datetime) -> None:
    """A value a low-cardinality column never holds (``'High'`` for ``high``) is an error naming the
    closest known value, not a filter that silently matches no rows (or every row)."""
    for i, f in enumerate(qs.filters):
        c = source.column(f.column, field=f"filters[{i}].column")
        if not c.values or f.op not in ("=", "!=", "in", "not_in"):
            continue
        vfield = f"filters[{i}].value"
        value = resolve_value(f.value, params, now, field=vfield)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for k, v in items:
            if str(v) not in c.values:
                where = vfield if k is None else f"{vfield}[{k}]"
                raise not_among((c.label or c.name).lower(), v, c.values, field=where)


def scope_filters(source: Source, scope: Scope) -> list[ColumnElement[bool]]:
    """Row filters enforcing ``scope`` on ``source``; fails closed when a source cannot be scoped."""
    tcol = source.scope.get("tenant")
    conds: list[ColumnElement[bool]] = []
    if source.tenant_key is not None:
        if source.tenant_key != scope.tenant_key:
            raise NotFound(f"source {source.name!r} not found", field="source")
    elif not tcol:
        raise PermissionDenied(
            f"source {source.name!r} has no tenant column and cannot be queried", field="source"
        )
    if tcol:
        conds.append(column(tcol, String()) == bindparam("scope_tenant", scope.tenant_key))
    for kind, ids in sorted(scope.restrictions().items()):
        col_name = source.scope.get(kind)  # type: ignore[call-overload]
        if not col_name:
            raise PermissionDenied(
                f"source {source.name!r} cannot be restricted by {kind}, and your access is {kind}-scoped",
                field="source",
            )
        if not ids:
            conds.append(false())
        else:
            conds.append(
                column(col_name, Integer()).in_(bindparam(f"scope_{kind}", sorted(ids), expanding=True))
            )
    return conds


def from_clause(source: Source) -> Any:
    """What a query on ``source`` reads: its table, or its Parquet file(s) on DuckDB."""
    if source.parquet:
        # The path is the loader's own (``portal.ingest``), never user text; quoted as a literal.
        sql = "SELECT * FROM read_parquet(" + _sql_literal(source.parquet) + ")"
        return text(sql).columns().subquery("src")
    if source.engine_key and "." in source.table:
        # A connected database's table is "schema.table" (portal.ingest.connected): quoted apart.
        schema, _, name = source.table.partition(".")
        return table(name, schema=schema)
    return table(source.table)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def compile_query(
    spec: QuerySpec | Mapping[str, Any],
    catalog: Catalog,
    scope: Scope,
    *,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    max_rows: int | None = None,
) -> CompiledQuery:
    """Compile a spec to a parameterized ``Select``. Pure: no I/O.

    ``params`` override the spec's own ``params``; ``now`` anchors relative
    windows (default: current UTC minute); ``max_rows`` caps ``limit``.
    """
    if isinstance(spec, QuerySpec):
        # Validate again: model_copy(update=...) (how dashboards add filters) skips validators.
        spec = spec.model_dump(by_alias=True, warnings=False)
    qs = parse_spec(QuerySpec, spec)
    if params:
        check_params(params, "params")
    source = catalog.source(qs.source)
    merged = {**qs.params, **(params or {})}
    at = now_minute(now)
    where = scope_filters(source, scope)
    n_values = 0
    for i, f in enumerate(qs.filters):
        cond, n = _filter(source, f, i, merged, at)
        where.append(cond)
        n_values += n
        if n_values > MAX_FILTER_VALUES:
            raise InvalidSpec(
                f"filters: at most {MAX_FILTER_VALUES} values across all filters once params are "
                f"filled in (filters[0..{i}] already hold {n_values})",
                field="filters",
            )
    tbl = from_clause(source)
    if qs.columns:
        selected: list[ColumnElement[Any]] = [
            _col(source, name, field=f"columns[{i}]")[1] for i, name in enumerate(qs.columns)
        ]
        groups: list[ColumnElement[Any]] = []
    else:
        groups = [_group(source, g, i) for i, g in enumerate(qs.group_by)]
        selected = [*groups, *(_metric(source, m, i) for i, m in enumerate(qs.metrics))]
    stmt = select(*selected).select_from(tbl).where(*where)
    if groups:
        stmt = stmt.group_by(*(g.element for g in groups))
    names = qs.output_names if not qs.columns else qs.columns
    order: list[ColumnElement[Any]] = []
    for i, s in enumerate(qs.sort):
        if s.by in names:
            ref: ColumnElement[Any] = literal_column(_quoted(s.by))
        elif qs.columns:
            ref = _col(source, s.by, field=f"sort[{i}].by")[1]
        else:
            raise unknown("result column", s.by, names, field=f"sort[{i}].by")
        order.append(ref.desc() if s.desc else ref.asc())
    if groups:
        # Group columns break ties (or are the whole order): the same rows in the same
        # order on every warehouse, and stable cache entries.
        sorted_by = {s.by for s in qs.sort}
        order += [literal_column(_quoted(g.name)).asc() for g in qs.group_by if g.name not in sorted_by]
    if order:
        stmt = stmt.order_by(*order)
    limit = qs.limit if max_rows is None else min(qs.limit, max_rows)
    stmt = stmt.limit(bindparam("row_limit", limit, literal_execute=True))
    if qs.offset:
        stmt = stmt.offset(bindparam("row_offset", qs.offset, literal_execute=True))
    _check_known_values(source, qs, merged, at)  # last: a wrong name is reported before a wrong value
    return CompiledQuery(stmt, qs, source, scope)
