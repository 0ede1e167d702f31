"""Rollups in the warehouse: building them, knowing which are fresh, routing queries to them.

Building (:meth:`RollupStore.build`, off-peak through ``jobs.precompute.refresh``): one
``CREATE TABLE <rollup>__next AS SELECT ... GROUP BY ...`` per rollup, then, in the same
transaction, the old table is dropped, the new one renamed in and its build recorded in the
``conductor_rollup_builds`` state table. Readers see the old table until the commit and the new
one after it, never a half-built one.

Freshness: a build records the data version of its base source (the query cache's version,
which :meth:`portal.data.warehouse.Warehouse.invalidate` moves when the data changed), read
*before* the base table is. A rollup is used only while that version is still current: after
``invalidate(source)`` its rollups answer nothing until rebuilt, in every process.

Routing (:meth:`RollupStore.route`, called by :func:`portal.data.execute.run_query`): the pure
matcher :func:`portal.data.rollups.answer` picks the smallest fresh rollup that answers the
query exactly, and the rewritten query is compiled by :func:`portal.data.query.compile_query` on
the rollup as a catalog source, which applies the caller's scope with the same code as on the
base table.

Rollups are built and used on DuckDB and PostgreSQL, the dialects whose results were checked
equal; on any other warehouse queries go to the base tables.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from redis.exceptions import RedisError
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    cast,
    column,
    create_engine,
    delete,
    func,
    insert,
    select,
    table,
)
from sqlalchemy import Column as SAColumn
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import DDLElement, DropTable

from portal.data.catalog import Catalog, Source
from portal.data.query import _SQL_TYPES, CompiledQuery, compile_query
from portal.data.rollups import ROW_COUNT, Rewrite, Rollup, answer, rollup_source
from portal.data.sqlfunctions import time_bucket
from portal.data.timewindows import now_minute
from portal.errors import ConfigError, PortalError, unknown
from portal.infra.db import RunningQueries

if TYPE_CHECKING:
    from portal.data.warehouse import Warehouse
    from portal.infra.cache import QueryCache

log = logging.getLogger(__name__)

#: Warehouses whose rollup answers were checked equal to the base table's.
SUPPORTED_DIALECTS = frozenset({"duckdb", "postgresql"})
#: How long a process trusts its copy of the state table (a new build is used this much later).
STATE_TTL_SECONDS = 10.0
#: Statement timeout of the state table read on the query path.
STATE_READ_TIMEOUT = 5.0
#: Redis key of the epoch of the data versions (see :meth:`RollupStore.version`).
EPOCH_KEY = "cbi:rollup:epoch"

_STATE_META = MetaData()
#: One row per built rollup: what was built, when, from which data version, how big.
BUILDS = Table(
    "conductor_rollup_builds",
    _STATE_META,
    SAColumn("name", String(64), primary_key=True),
    SAColumn("source", String(64), nullable=False),
    SAColumn("table_name", String(80), nullable=False),
    SAColumn("build_id", String(32), nullable=False),
    SAColumn("built_at", DateTime(), nullable=False),
    SAColumn("rows", BigInteger(), nullable=False),
    SAColumn("base_rows", BigInteger(), nullable=False),
    SAColumn("seconds", Float(), nullable=False),
    SAColumn("data_version", String(64), nullable=False),
    SAColumn("time_min", DateTime(), nullable=True),
    SAColumn("time_max", DateTime(), nullable=True),
)


@dataclass(frozen=True)
class BuildRecord:
    """A built rollup as the state table records it."""

    name: str
    source: str
    table_name: str
    build_id: str
    built_at: datetime
    rows: int
    base_rows: int
    seconds: float
    data_version: str
    time_min: datetime | None = None
    time_max: datetime | None = None

    @property
    def extent(self) -> tuple[datetime, datetime] | None:
        """(min, max) of the base time column when built; None if it held no time at all."""
        if self.time_min is None or self.time_max is None:
            return None
        return self.time_min, self.time_max


@dataclass(frozen=True)
class Routed:
    """A query answered by a rollup: the statement to run and how to finish its frame."""

    statement: Select[Any]
    rewrite: Rewrite
    record: BuildRecord

    @property
    def name(self) -> str:
        """The rollup's name."""
        return self.rewrite.rollup.name

    @property
    def tag(self) -> str:
        """Part of the cache key: a rebuilt rollup never serves the previous build's cached results."""
        return f"rollup:{self.name}:{self.record.build_id}"

    def finish(self, frame: pd.DataFrame, dialect: str) -> pd.DataFrame:
        """The base query's frame from the rollup query's (:meth:`Rewrite.finish`)."""
        return self.rewrite.finish(frame, dialect)


# --------------------------------------------------------------------------- DDL constructs
class _CreateTableAs(DDLElement):
    """``CREATE TABLE <name> AS <select>``; the name comes from a rollup definition."""

    inherit_cache = False

    def __init__(self, name: str, query: Select[Any]) -> None:
        self.name = name
        self.query = query


@compiles(_CreateTableAs)
def _create_table_as(element: _CreateTableAs, compiler: Any, **kw: Any) -> str:
    body = compiler.sql_compiler.process(element.query, literal_binds=True)
    return f"CREATE TABLE {compiler.preparer.quote(element.name)} AS {body}"


class _RenameTable(DDLElement):
    """``ALTER TABLE <old> RENAME TO <new>`` (the same on DuckDB and PostgreSQL)."""

    inherit_cache = False

    def __init__(self, old: str, new: str) -> None:
        self.old = old
        self.new = new


@compiles(_RenameTable)
def _rename_table(element: _RenameTable, compiler: Any, **kw: Any) -> str:
    q = compiler.preparer.quote
    return f"ALTER TABLE {q(element.old)} RENAME TO {q(element.new)}"


def _drop(name: str) -> DropTable:
    return DropTable(Table(name, MetaData()), if_exists=True)


def build_select(rollup: Rollup, catalog: Catalog) -> Select[Any]:
    """The ``SELECT ... GROUP BY`` a rollup table is made of (ordered by tenant and time, so a
    tenant's rows sit together and DuckDB skips the row groups of the others)."""
    base = rollup.check(catalog)

    def col(name: str) -> ColumnElement[Any]:
        return column(name, _SQL_TYPES[base.column(name, field="rollup").type])

    t = time_bucket(rollup.grain, col(rollup.time_column))
    dims = [col(d) for d in rollup.dimensions]
    measures: list[ColumnElement[Any]] = [func.count().label(ROW_COUNT)]
    for m, kind, name in rollup.measure_kinds(catalog):
        e = col(m)
        if kind == "sum":
            # The query engine sums a flag as 0/1 (CAST AS INTEGER): the rollup sums it the same way.
            measures.append(
                func.sum(cast(e, Integer) if base.column(m, field="").type == "bool" else e).label(name)
            )
        elif kind == "count":
            measures.append(func.count(e).label(name))
        else:
            measures.append((func.min if kind == "min" else func.max)(e).label(name))
    tenant = base.scope.get("tenant")
    order = [col(tenant)] if tenant else []
    return (
        select(t.label(rollup.time_column), *dims, *measures)
        .select_from(table(base.table))
        .group_by(t, *dims)
        .order_by(*order, t)
    )


# --------------------------------------------------------------------------- data versions
class _MemoryVersions:
    """Data versions of one process, for a warehouse without a result cache (tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._v: dict[str, int] = {}

    def get(self, source: str) -> str:
        with self._lock:
            return f"m{self._v.get('*', 0)}.{self._v.get(source, 0)}"

    def bump(self, source: str | None) -> None:
        with self._lock:
            key = source or "*"
            self._v[key] = self._v.get(key, 0) + 1


# --------------------------------------------------------------------------- the store
class RollupStore:
    """The rollups of one warehouse: their build state, freshness, builds and query routing.

    One per :class:`portal.data.warehouse.Warehouse` (thread-safe). ``cache`` is the warehouse's
    result cache: its per-source data versions (shared by every process through Redis) decide
    freshness; without one, versions live in this process only.
    """

    def __init__(
        self,
        rollups: Iterable[Rollup],
        catalog: Catalog,
        cache: QueryCache | None = None,
        *,
        state_ttl: float = STATE_TTL_SECONDS,
    ) -> None:
        # Rollups of sources this catalog does not have are left out (a catalog of other sources);
        # a rollup that does not fit its source is a configuration error, raised now.
        self.rollups = tuple(r for r in rollups if r.source in catalog.names)
        self.catalog = catalog
        self.cache = cache
        self.state_ttl = state_ttl
        self._catalogs = {r.name: Catalog((rollup_source(r, catalog),)) for r in self.rollups}
        self._memory = _MemoryVersions()
        self._lock = threading.Lock()
        self._records: dict[str, BuildRecord] | None = None
        self._loaded_at = 0.0

    # ---------------------------------------------------------------- state
    def rollup(self, name: str) -> Rollup:
        """The rollup called ``name`` (:class:`InvalidSpec` naming the known ones otherwise)."""
        for r in self.rollups:
            if r.name == name:
                return r
        raise unknown("rollup", name, (r.name for r in self.rollups), field="rollups")

    def source(self, name: str) -> Source:
        """The rollup called ``name`` as a catalog source."""
        return self._catalogs[self.rollup(name).name].source(name)

    def version(self, source: str) -> str:
        """The current data version of ``source``; ``"x"`` when it cannot be known (never fresh).

        The result cache's version counters (``QueryCache.invalidate`` moves them for cached
        results and rollups alike), prefixed by an epoch kept next to them: counters that start
        again from 0 in an emptied Redis must not make an old build look current again.
        """
        if self.cache is None:
            return self._memory.get(source)
        redis, prefix = self.cache.redis, self.cache.prefix
        try:
            g, s, epoch = redis.mget(f"{prefix}:v:*", f"{prefix}:v:{source}", EPOCH_KEY)
            if epoch is None:
                redis.set(EPOCH_KEY, uuid.uuid4().hex[:12], nx=True)
                epoch = redis.get(EPOCH_KEY)
        except RedisError as exc:
            log.warning("rollup versions unavailable (%s): the base tables answer", exc)
            return "x"
        if epoch is None:
            return "x"
        text = epoch.decode() if isinstance(epoch, bytes) else str(epoch)
        return f"{text}:{int(g or 0)}.{int(s or 0)}"

    def invalidate(self, source: str | None = None) -> None:
        """The data of ``source`` (or of all) changed: its rollups are not used until rebuilt.

        With a result cache its version has already moved (``QueryCache.invalidate``).
        """
        if self.cache is None:
            self._memory.bump(source)

    def forget(self) -> None:
        """Read the state table again on next use (after a build, or a rollup table that failed)."""
        with self._lock:
            self._records = None

    def records(self, engine: Engine, running: RunningQueries | None = None) -> dict[str, BuildRecord]:
        """The build records, read at most every ``state_ttl`` seconds; none before the first build."""
        with self._lock:
            if self._records is not None and time.monotonic() - self._loaded_at < self.state_ttl:
                return self._records
        watch = (running or RunningQueries()).watch
        try:
            with engine.connect() as conn, watch(conn, STATE_READ_TIMEOUT):
                rows = conn.execute(select(BUILDS)).mappings().all()
            records = {str(r["name"]): BuildRecord(**dict(r)) for r in rows}
        except (SQLAlchemyError, PortalError) as exc:
            # No state table yet (nothing built), or a warehouse that is away: the base tables answer.
            log.debug("rollup state unavailable: %s", exc)
            records = {}
        with self._lock:
            self._records, self._loaded_at = records, time.monotonic()
        return records

    def fresh(self, engine: Engine, source: str, running: RunningQueries | None = None) -> list[BuildRecord]:
        """Build records of the rollups of ``source`` that may answer queries now."""
        mine = [r.name for r in self.rollups if r.source == source]
        if not mine or engine.dialect.name not in SUPPORTED_DIALECTS:
            return []
        records = self.records(engine, running)
        built = [records[n] for n in mine if n in records]
        if not built:
            return []
        version = self.version(source)
        return [b for b in built if b.data_version == version and version != "x"]

    # ---------------------------------------------------------------- routing
    def route(
        self,
        cq: CompiledQuery,
        engine: Engine,
        *,
        params: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        max_rows: int | None = None,
        running: RunningQueries | None = None,
    ) -> Routed | None:
        """The rollup query answering ``cq`` exactly, or None (the base table answers).

        ``params``, ``now`` and ``max_rows`` are those ``cq`` was compiled with; the rollup query
        is compiled for ``cq.scope``.
        """
        fresh = {b.name: b for b in self.fresh(engine, cq.source.name, running)}
        if not fresh:
            return None
        at = now_minute(now)
        try:
            rewrite = answer(
                cq.spec,
                [r for r in self.rollups if r.name in fresh],
                self.catalog,
                at,
                params,
                extents={n: b.extent for n, b in fresh.items()},
                sizes={n: b.rows for n, b in fresh.items()},
            )
        except Exception:  # a matcher bug must not break the query: the base table still answers
            log.exception("rollup matcher failed on a %s query", cq.source.name)
            return None
        if rewrite is None:
            return None
        name = rewrite.rollup.name
        try:
            rq = compile_query(
                rewrite.spec, self._catalogs[name], cq.scope, params=params, now=at, max_rows=max_rows
            )
        except PortalError as exc:  # the matcher let through what the compiler refuses: a bug, not the user's
            log.warning("rollup %s could not compile a rewrite (%s); the base table answers", name, exc)
            return None
        return Routed(rq.statement, rewrite, fresh[name])

    def failed(self, routed: Routed, exc: BaseException) -> None:
        """A rollup query failed (its table dropped by hand?): re-read the state before trusting it again."""
        log.warning("rollup %s failed (%s); the base table answers", routed.name, exc)
        self.forget()

    # ---------------------------------------------------------------- building
    def build(
        self,
        engine: Engine,
        names: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
        running: RunningQueries | None = None,
        now: datetime | None = None,
    ) -> list[BuildRecord]:
        """Build the rollups called ``names`` (default: all) on a writable ``engine``, one by one.

        Each build runs under ``timeout`` seconds (:class:`portal.errors.QueryTimeout` past it;
        the previous table stays in place).
        """
        if engine.dialect.name not in SUPPORTED_DIALECTS:
            raise ConfigError(
                f"rollups are built on DuckDB and PostgreSQL warehouses, not {engine.dialect.name}"
            )
        chosen = [self.rollup(n) for n in names] if names is not None else list(self.rollups)
        with engine.begin() as conn:
            BUILDS.create(conn, checkfirst=True)
        try:
            return [self._build_one(engine, r, timeout, running or RunningQueries(), now) for r in chosen]
        finally:
            self.forget()

    def _build_one(
        self,
        engine: Engine,
        rollup: Rollup,
        timeout: float | None,
        running: RunningQueries,
        now: datetime | None,
    ) -> BuildRecord:
        # Read before the base table is: an invalidation during the build leaves the result stale.
        version = self.version(rollup.source)
        base = self.catalog.source(rollup.source)
        t0 = time.perf_counter()
        tcol = column(rollup.time_column, DateTime())
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the table and the time extent recorded with it.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin(), running.watch(conn, timeout):
                conn.execute(_drop(rollup.staging_table))
                conn.execute(_CreateTableAs(rollup.staging_table, build_select(rollup, self.catalog)))
                tmin, tmax = conn.execute(
                    select(func.min(tcol), func.max(tcol)).select_from(table(base.table))
                ).one()
                rows, base_rows = conn.execute(
                    select(
                        func.count(), func.coalesce(func.sum(column(ROW_COUNT, BigInteger())), 0)
                    ).select_from(table(rollup.staging_table))
                ).one()
                conn.execute(_drop(rollup.table))
                conn.execute(_RenameTable(rollup.staging_table, rollup.table))
                record = BuildRecord(
                    name=rollup.name,
                    source=rollup.source,
                    table_name=rollup.table,
                    build_id=uuid.uuid4().hex[:16],
                    built_at=(now or datetime.now(UTC)).replace(tzinfo=None),
                    rows=int(rows),
                    base_rows=int(base_rows),
                    seconds=round(time.perf_counter() - t0, 3),
                    data_version=version,
                    time_min=_naive(tmin),
                    time_max=_naive(tmax),
                )
                conn.execute(delete(BUILDS).where(BUILDS.c.name == rollup.name))
                conn.execute(insert(BUILDS).values(**record.__dict__))
        log.info("rollup %s built: %s rows from %s in %.1f s", rollup.name, rows, base_rows, record.seconds)
        return record


def _naive(value: Any) -> datetime | None:
    if value is None:
        return None
    t: datetime = value if isinstance(value, datetime) else pd.Timestamp(value).to_pydatetime()
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo is not None else t


@contextmanager
def writable(engine: Engine) -> Iterator[Engine]:
    """An engine that may write to the warehouse of ``engine``, for a build.

    The portal opens DuckDB files read-only, and DuckDB refuses a read-write connection next to
    read-only ones of the same process: their pool is closed and a read-write engine made for the
    build (it fails while another process holds the file: DuckDB allows one writer process).
    Other warehouses write through ``engine`` itself (its role needs CREATE on the schema).
    """
    if engine.dialect.name != "duckdb":
        yield engine
        return
    engine.dispose()
    rw = create_engine(engine.url)
    try:
        yield rw
    finally:
        rw.dispose()


def refresh(
    warehouse: Warehouse, names: Iterable[str] | None = None, *, timeout: float | None = None
) -> list[BuildRecord]:
    """Build ``names`` (default: every rollup of ``warehouse``) in the warehouse, off-peak work."""
    store = warehouse.rollup_store
    if store is None:
        if names:
            raise unknown("rollup", next(iter(names)), [], field="rollups")
        return []
    chosen = list(names) if names is not None else None
    if chosen is not None:
        for n in chosen:
            store.rollup(n)  # unknown names fail before any build starts
    with writable(warehouse.engine) as engine:
        return store.build(engine, chosen, timeout=timeout, running=warehouse.running)


def state_frame(records: Mapping[str, BuildRecord]) -> pd.DataFrame:
    """The build records as a table (for the CLI, the job monitor and benchmarks)."""
    cols = [f for f in BuildRecord.__dataclass_fields__]
    return pd.DataFrame([r.__dict__ for r in records.values()], columns=cols)
