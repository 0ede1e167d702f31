"""Deterministic, realistic, multi-tenant demo warehouse: generation and loading.

The fact tables are built by :mod:`portal.demo.tickets`, :mod:`portal.demo.conversations`,
:mod:`portal.demo.maintenance` and :mod:`portal.demo.revenue` from the state of
:class:`portal.demo.generator._Generator`; the dimensions by :mod:`portal.demo.dimensions`.

:func:`generate_tables` yields the tables of :data:`portal.data.catalog.DEMO_CATALOG`
plus the dimension tables that feed the UI filter pickers (``customers``,
``locations``, ``teams``, ``agents``, ``contracts``) as pandas chunks;
:func:`load_warehouse` writes them into a DuckDB file, a PostgreSQL database
(bulk ``COPY``) or any other SQLAlchemy database.

Everything is vectorised numpy driven by ``numpy.random.default_rng`` streams
derived from ``DemoSize.seed``, so the same size and end date always give the
same data, and ten million tickets build in minutes.

Time model: the data covers the calendar months ``size.months - 1`` months
before the month of ``end`` up to and including the whole ``end`` day; the
"as of" moment (what is still open, ongoing or breached) is midnight after
``end``. Timestamps are naive local times with second precision.

String columns of the yielded frames are pandas ``Categorical`` (cheap to
build); the loaders store them as plain VARCHAR/TEXT.
"""

from __future__ import annotations

import functools
import io
import queue
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from portal.data.catalog import DEMO_CATALOG, ColumnType
from portal.demo.conversations import conversation_frames
from portal.demo.dimensions import dimension_frames
from portal.demo.generator import (
    _T_CONV,
    _T_EXP,
    _T_MAINT,
    _T_TICKETS,
    _Chunk,
    _ChunkBuilder,
    _Generator,
    _Loaded,
)
from portal.demo.maintenance import expenses_frame, maintenance_frame
from portal.demo.sampling import (
    Arr,
    Progress,
)
from portal.demo.schema import (
    DIMENSION_COLUMNS,
    NULLABLE_COLUMNS,
    PRIMARY_KEYS,
    TABLE_COLUMNS,
    TENANTS,
    DemoSize,
    DemoTenant,
)
from portal.demo.tickets import tickets_frame

CHUNK_ROWS = 1_000_000
"""Largest chunk :func:`generate_tables` yields for one table."""


def _day_chunks(g: _Generator, *plans: Arr) -> list[tuple[int, int]]:
    per_day = [p.sum(axis=0) for p in plans]
    chunks: list[tuple[int, int]] = []
    start = 0
    acc = [0] * len(plans)
    for day in range(g.n_days):
        if day > start and any(a + int(p[day]) > CHUNK_ROWS for a, p in zip(acc, per_day, strict=True)):
            chunks.append((start, day))
            start, acc = day, [0] * len(plans)
        acc = [a + int(p[day]) for a, p in zip(acc, per_day, strict=True)]
    chunks.append((start, g.n_days))
    return chunks


def frames(g: _Generator) -> Iterator[tuple[str, pd.DataFrame]]:
    for name, df in [*dimension_frames(g).items(), ("revenue", g.revenue)]:
        yield from _split(name, df)
    seed = g.size.seed

    def simple(table: str, code: int, plan: Arr, build: _ChunkBuilder) -> Iterator[_Chunk]:
        next_id = 1
        for i, (d0, d1) in enumerate(_day_chunks(g, plan)):
            tenant, day = g._rows(plan, d0, d1)
            df = build(np.random.default_rng((seed, code, i)), tenant, day, next_id)
            next_id += len(df)
            yield from _split(table, df)

    yield from simple("tickets", _T_TICKETS, g.ticket_days, functools.partial(tickets_frame, g))
    conv0 = msg0 = 1
    for i, (d0, d1) in enumerate(_day_chunks(g, g.conv_days, g.msg_days)):
        tenant, day = g._rows(g.conv_days, d0, d1)
        msgs = g.msg_days[:, d0:d1].sum(axis=1)
        rng = np.random.default_rng((seed, _T_CONV, i))
        conv, msg = conversation_frames(g, rng, tenant, day, msgs, conv0, msg0)
        conv0 += len(conv)
        msg0 += len(msg)
        yield from _split("conversations", conv)
        yield from _split("messages", msg)
    yield from simple("maintenance_orders", _T_MAINT, g.maint_days, functools.partial(maintenance_frame, g))
    yield from simple("expenses", _T_EXP, g.exp_days, functools.partial(expenses_frame, g))


def _prefetched(items: Iterator[_Chunk], depth: int = 1) -> Iterator[_Chunk]:
    """Run ``items`` in a background thread, ``depth`` chunks ahead of the consumer.

    numpy, pyarrow and the database drivers release the GIL for their heavy
    work, so generating the next chunk overlaps with writing the current one.
    """
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(msg: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer
            put(("error", exc))

    thread = threading.Thread(target=work, name="demo-data-generator", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=60)


def _split(table: str, df: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    if len(df) <= CHUNK_ROWS:
        yield table, df
        return
    for i in range(0, len(df), CHUNK_ROWS):
        yield table, df.iloc[i : i + CHUNK_ROWS].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Public generation API


def generate_tables(size: DemoSize, *, end: date | None = None) -> Iterator[tuple[str, pd.DataFrame]]:
    """Yield ``(table, chunk)`` pairs of the demo warehouse.

    Dimension tables and ``revenue`` come first as one frame each; the facts
    follow in time order, in chunks of at most :data:`CHUNK_ROWS` rows (a
    ``conversations`` chunk is followed by the ``messages`` of exactly those
    conversations). Every table yields at least one (possibly empty) frame,
    with exactly the columns of :data:`TABLE_COLUMNS` in that order.
    """
    return frames(_Generator(size, end))


def planned_row_counts(size: DemoSize, *, end: date | None = None) -> dict[str, int]:
    """Rows per table that :func:`generate_tables` will yield, without generating the facts."""
    return _Generator(size, end).totals()


# ---------------------------------------------------------------------------
# Loading

_DUCKDB_TYPES: dict[ColumnType, str] = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "date": "DATE",
}

_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "tickets": (("tenant_key", "opened_at"),),
    "conversations": (("tenant_key", "started_at"),),
    "messages": (("tenant_key", "sent_at"), ("conversation_id",)),
    "maintenance_orders": (("tenant_key", "opened_at"),),
    "expenses": (("tenant_key", "incurred_at"),),
    "revenue": (("tenant_key", "month"),),
    "customers": (("tenant_key",),),
    "locations": (("tenant_key",), ("customer_id",)),
    "teams": (("tenant_key",),),
    "agents": (("tenant_key",),),
    "contracts": (("tenant_key",), ("customer_id",)),
}


def load_warehouse(
    url: str,
    size: DemoSize,
    *,
    end: date | None = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the demo warehouse to the database at SQLAlchemy ``url``; return rows per table.

    Existing demo tables are replaced. DuckDB files are written through a
    direct ``duckdb`` connection (the parent directory is created), PostgreSQL
    (``postgresql+psycopg``) with ``COPY`` in one transaction followed by
    primary keys and ``(tenant_key, time)`` indexes, anything else with
    ``DataFrame.to_sql``. ``progress(table, rows_done, rows_total)`` is called
    after every written chunk.
    """
    from sqlalchemy.engine import make_url

    gen = _Generator(size, end)
    totals = gen.totals()
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "duckdb":
        return _load_duckdb(parsed.database or ":memory:", gen, totals, progress)
    if backend == "postgresql" and driver == "psycopg":
        return _load_postgres(url, gen, totals, progress)
    return _load_sqlalchemy(url, gen, totals, progress)


class _Counter:
    def __init__(self, totals: dict[str, int], progress: Progress | None) -> None:
        self.totals = totals
        self.done = dict.fromkeys(totals, 0)
        self.progress = progress

    def add(self, table: str, rows: int) -> None:
        self.done[table] += rows
        if self.progress is not None:
            self.progress(table, self.done[table], self.totals[table])


def _load_duckdb(path: str, gen: _Generator, totals: _Loaded, progress: Progress | None) -> _Loaded:
    import duckdb
    import pyarrow as pa

    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    counter = _Counter(totals, progress)
    created: set[str] = set()
    con = duckdb.connect(path)
    try:
        con.execute("SET enable_progress_bar = false")  # progress is reported through ``progress``
        for table, df in _prefetched(frames(gen)):
            select = ", ".join(f'CAST("{c}" AS {_DUCKDB_TYPES[t]}) AS "{c}"' for c, t in TABLE_COLUMNS[table])
            # via Arrow: DuckDB scans dictionary-encoded strings ~3x faster than pandas Categoricals
            con.register("demo_chunk", pa.Table.from_pandas(df, preserve_index=False))
            try:
                if table in created:
                    con.execute(f'INSERT INTO "{table}" SELECT {select} FROM demo_chunk')
                else:
                    con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT {select} FROM demo_chunk')
                    created.add(table)
            finally:
                con.unregister("demo_chunk")
            counter.add(table, len(df))
        _cluster_duckdb(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return counter.done


def _cluster_duckdb(con: Any) -> None:
    """Rewrite each fact table ordered by tenant and time.

    DuckDB keeps min/max per row group (zone maps): with rows clustered this
    way, the tenant filter every query carries and time-window filters skip
    most row groups instead of scanning the whole table.
    """
    for source in DEMO_CATALOG.sources:
        if source.time_column is None:
            continue
        con.execute(
            f'CREATE OR REPLACE TABLE "{source.table}" AS SELECT * FROM "{source.table}" '
            f'ORDER BY tenant_key, "{source.time_column}"'
        )


def _sa_tables(metadata: Any) -> dict[str, Any]:
    from sqlalchemy import BigInteger, Boolean, Column, Date, DateTime, Double, Table, Text

    types: dict[ColumnType, Any] = {
        "int": BigInteger,
        "float": Double,
        "string": Text,
        "bool": Boolean,
        "datetime": DateTime,
        "date": Date,
    }
    out: dict[str, Any] = {}
    for table, cols in TABLE_COLUMNS.items():
        optional = NULLABLE_COLUMNS.get(table, frozenset())
        out[table] = Table(
            table,
            metadata,
            *(Column(c, types[t](), nullable=c in optional) for c, t in cols),
        )
    return out


def _arrow_csv_blocks(df: pd.DataFrame, rows: int = 50_000) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(df, preserve_index=False)
    schema = pa.schema(
        [pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    )
    table = table.cast(schema)
    options = pacsv.WriteOptions(include_header=False)
    for batch in table.to_batches(max_chunksize=rows):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, options)
        yield buf.getvalue()


def _load_postgres(url: str, gen: _Generator, totals: _Loaded, progress: Progress | None) -> _Loaded:
    from psycopg import sql
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.schema import CreateTable, DropTable

    engine = create_engine(url)
    tables = _sa_tables(MetaData())
    counter = _Counter(totals, progress)
    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        with pg.cursor() as cur:
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")  # faster index builds
            for t in tables.values():
                cur.execute(str(DropTable(t, if_exists=True).compile(dialect=engine.dialect)))
                cur.execute(str(CreateTable(t).compile(dialect=engine.dialect)))
            for table, df in _prefetched(frames(gen)):
                if len(df):
                    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, FREEZE)").format(
                        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in df.columns)
                    )
                    with cur.copy(stmt) as copy:
                        for block in _arrow_csv_blocks(df):
                            copy.write(block)
                counter.add(table, len(df))
            for table, key in PRIMARY_KEYS.items():
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in key)
                    )
                )
            for table, indexes in _INDEXES.items():
                for cols in indexes:
                    cur.execute(
                        sql.SQL("CREATE INDEX {} ON {} ({})").format(
                            sql.Identifier(f"ix_{table}_{'_'.join(cols)}"),
                            sql.Identifier(table),
                            sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                        )
                    )
            for table in tables:
                cur.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
        engine.dispose()
    return counter.done


def _load_sqlalchemy(url: str, gen: _Generator, totals: _Loaded, progress: Progress | None) -> _Loaded:
    from sqlalchemy import MetaData, create_engine

    engine = create_engine(url)
    metadata = MetaData()
    tables = _sa_tables(metadata)
    counter = _Counter(totals, progress)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn, tables=list(tables.values()))
            metadata.create_all(conn, tables=list(tables.values()))
            for table, df in _prefetched(frames(gen)):
                if len(df):
                    chunk = max(1, 2000 // len(df.columns))
                    df.to_sql(table, conn, if_exists="append", index=False, method="multi", chunksize=chunk)
                counter.add(table, len(df))
    finally:
        engine.dispose()
    return counter.done


__all__ = [
    "CHUNK_ROWS",
    "DIMENSION_COLUMNS",
    "NULLABLE_COLUMNS",
    "TABLE_COLUMNS",
    "TENANTS",
    "DemoSize",
    "DemoTenant",
    "generate_tables",
    "load_warehouse",
    "planned_row_counts",
]
