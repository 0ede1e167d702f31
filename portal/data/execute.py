"""Running compiled queries: fetching frames under a timeout, results with timings, estimates."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import (
    Engine,
    Select,
    func,
    select,
)

from portal.data.catalog import Catalog
from portal.data.query import compile_query, from_clause
from portal.errors import PortalError
from portal.identity.scope import Scope
from portal.infra.db import RunningQueries
from portal.specs import (
    QuerySpec,
)

if TYPE_CHECKING:
    from portal.data.rollup_store import RollupStore


# --------------------------------------------------------------------------- execution
@dataclass(frozen=True)
class QueryResult:
    """A result frame plus how it was obtained."""

    frame: pd.DataFrame
    cached: bool
    runtime_ms: float
    cache_key: str | None = None
    #: The rollup that answered (``portal.data.rollups``), None for the base table.
    rollup: str | None = None

    @property
    def row_count(self) -> int:
        """Rows in the frame."""
        return len(self.frame)


@dataclass(frozen=True)
class QueryEstimate:
    """Rough size of a query, for throttling heavy work."""

    scanned_rows: int
    result_rows: int
    cost: float
    method: str


def statement_key(stmt: Select[Any], engine: Engine) -> str:
    """Text of the statement with its parameter values: the cache identity of a compiled query."""
    compiled = stmt.compile(dialect=engine.dialect)
    params = {
        k: (sorted(map(str, v)) if isinstance(v, list | tuple) else str(v))
        for k, v in compiled.params.items()
    }
    return f"{compiled}|{sorted(params.items())}"


def fetch_frame(
    engine: Engine,
    stmt: Any,
    *,
    timeout: float | None = None,
    running: RunningQueries | None = None,
) -> pd.DataFrame:
    """Execute and return a DataFrame, with a columnar fast path on DuckDB.

    The statement runs under ``timeout`` seconds (``None``: no limit) and is
    registered in ``running`` while it runs (see :class:`portal.infra.db.RunningQueries`).
    """
    watch = (running if running is not None else RunningQueries()).watch
    if engine.dialect.name == "duckdb":
        # Compiled before the clock starts: an interrupt only stops a query the driver is running.
        compiled = stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.params  # a property that rebuilds every value on each access: read it once
        positional = [values[k] for k in (compiled.positiontup or [])]
        sql = str(compiled)
        with engine.connect() as conn, watch(conn, timeout):
            raw = conn.connection.driver_connection
            return raw.execute(sql, positional).df()  # type: ignore[union-attr]
    with engine.connect() as conn, watch(conn, timeout):
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return _numeric_decimals(frame)


def _numeric_decimals(frame: pd.DataFrame) -> pd.DataFrame:
    """PostgreSQL returns ``numeric`` aggregates as ``Decimal``: make them floats (ints when integral)."""
    for c in frame.columns:
        s = frame[c]
        if s.dtype != object:
            continue
        sample = s.dropna()
        if sample.empty or not isinstance(sample.iloc[0], Decimal):
            continue
        as_float = pd.to_numeric(s, errors="coerce").astype("float64")
        integral = bool(((as_float.dropna() % 1) == 0).all()) and s.notna().all()
        frame[c] = as_float.astype("int64") if integral else as_float
    return frame


def run_query(
    spec: QuerySpec | Mapping[str, Any],
    *,
    catalog: Catalog,
    scope: Scope,
    engine: Engine,
    cache: Any | None = None,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    max_rows: int | None = None,
    timeout: float | None = None,
    running: RunningQueries | None = None,
    rollups: RollupStore | None = None,
    engines: Callable[[str], Engine] | None = None,
) -> QueryResult:
    """Compile and run a spec; served from ``cache`` (a :class:`portal.infra.cache.QueryCache`) when possible.

    The warehouse query runs under ``timeout`` seconds (``None``: no limit), raising
    :class:`portal.errors.QueryTimeout` past it; ``running`` lets another thread
    interrupt it (:meth:`portal.infra.db.RunningQueries.interrupt_all`). With ``rollups``,
    a fresh rollup that gives exactly the base table's answer runs instead (same frame).
    """
    t0 = time.perf_counter()
    cq = compile_query(spec, catalog, scope, params=params, now=now, max_rows=max_rows)
    if cq.source.engine_key:
        # A connected database's table: its own engine; the warehouse's rollups do not apply.
        engine, rollups = _engine_of(cq.source.engine_key, engines), None
    routed = (
        None
        if rollups is None
        else rollups.route(cq, engine, params=params, now=now, max_rows=max_rows, running=running)
    )
    if rollups is not None and routed is not None:
        try:
            return _run_statement(
                routed.statement, cq.source.name, scope, engine, cache, timeout, running, t0,
                tag=routed.tag, finish=routed.finish, rollup=routed.name,
            )  # fmt: skip
        except PortalError:
            raise  # a timeout or an interruption: the base table would not do better
        except Exception as exc:
            rollups.failed(routed, exc)
    version = f"@v{cq.source.version}" if cq.source.version else ""
    return _run_statement(
        cq.statement, cq.source.name, scope, engine, cache, timeout, running, t0, tag=version
    )


def _engine_of(key: str, engines: Callable[[str], Engine] | None) -> Engine:
    if engines is None:
        raise PortalError(f"no engine for {key}: this warehouse reads no connected databases")
    return engines(key)


def _run_statement(
    stmt: Select[Any],
    source: str,
    scope: Scope,
    engine: Engine,
    cache: Any | None,
    timeout: float | None,
    running: RunningQueries | None,
    t0: float,
    *,
    tag: str = "",
    finish: Callable[[pd.DataFrame, str], pd.DataFrame] | None = None,
    rollup: str | None = None,
) -> QueryResult:
    key = None
    if cache is not None:
        # A rollup's statement differs from the base table's, and its tag names the build.
        key = cache.key(source, statement_key(stmt, engine) + tag, scope.key)
        hit = cache.get(key)
        if hit is not None:
            return QueryResult(hit, True, (time.perf_counter() - t0) * 1000, key, rollup)
    frame = fetch_frame(engine, stmt, timeout=timeout, running=running)
    if finish is not None:
        frame = finish(frame, engine.dialect.name)
    if cache is not None and key is not None:
        cache.set(key, frame)
    return QueryResult(frame, False, (time.perf_counter() - t0) * 1000, key, rollup)


def estimate_query(
    spec: QuerySpec | Mapping[str, Any],
    *,
    catalog: Catalog,
    scope: Scope,
    engine: Engine,
    params: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    timeout: float | None = None,
    running: RunningQueries | None = None,
    engines: Callable[[str], Engine] | None = None,
) -> QueryEstimate:
    """Estimate rows scanned/returned: planner estimates on PostgreSQL, an exact filtered count elsewhere.

    Runs under ``timeout`` and in ``running`` like :func:`run_query`.
    """
    cq = compile_query(spec, catalog, scope, params=params, now=now)
    if cq.source.engine_key:
        engine = _engine_of(cq.source.engine_key, engines)
    where = cq.statement.whereclause
    count_stmt = select(func.count()).select_from(from_clause(cq.source))
    if where is not None:
        count_stmt = count_stmt.where(where)
    n_metrics = max(1, len(cq.spec.metrics) + len(cq.spec.columns))
    watch = (running if running is not None else RunningQueries()).watch
    if engine.dialect.name == "postgresql":
        compiled = count_stmt.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True})
        with engine.connect() as conn, watch(conn, timeout):
            plan = conn.exec_driver_sql(
                "EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params
            ).scalar_one()
        top = plan[0]["Plan"]
        leaf = top
        while leaf.get("Plans"):
            leaf = leaf["Plans"][0]
        scanned = int(leaf.get("Plan Rows", 0))
        method = "postgresql-explain"
    else:
        with engine.connect() as conn, watch(conn, timeout):
            scanned = int(conn.execute(count_stmt).scalar_one())
        method = "count"
    limit = cq.spec.limit
    result = min(limit, scanned) if not cq.spec.group_by else min(limit, scanned, 1_000_000)
    return QueryEstimate(scanned, result, round(scanned * n_metrics / 1e6, 3), method)
