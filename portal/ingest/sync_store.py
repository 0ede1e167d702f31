"""Where synced rows live: versioned Parquet files (embedded DuckDB warehouse) or a table swapped
in by rename (PostgreSQL warehouse).

Web processes open the embedded DuckDB file read-only, so a load never writes into it: it writes
``<home>/warehouse/t<tenant>/<name>/v<version>-<random>.parquet`` (to a temporary name, then
renamed: a reader never sees half a file) and the catalog row's ``parquet_path`` is switched to
it by the caller's transaction. On PostgreSQL the rows go into a fresh staging table, which
replaces the source's table in one transaction (DROP + RENAME are transactional there).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Column as SqlColumn
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy import types as sqltypes

from portal.config import Settings
from portal.data.catalog import Column
from portal.errors import InvalidSpec
from portal.ingest.rest import coerce
from portal.models import CatalogSource

_ARROW: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "string": pa.string(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us"),
    "date": pa.date32(),
}
_SQL: dict[str, Any] = {
    "int": sqltypes.BigInteger,
    "float": sqltypes.Float,
    "string": sqltypes.Text,
    "bool": sqltypes.Boolean,
    "datetime": sqltypes.DateTime,
    "date": sqltypes.Date,
}
_TABLE_RE = re.compile(r"^t[0-9]{1,12}_[a-z][a-z0-9_]{0,48}$")


@dataclass(frozen=True)
class Where:
    """Where a version landed: a Parquet file, or a warehouse table."""

    parquet_path: str = ""
    table_name: str = ""


def is_postgres(settings: Settings) -> bool:
    """Whether loads go into PostgreSQL tables (else Parquet files for the embedded DuckDB)."""
    return settings.warehouse.startswith("postgresql")


def source_dir(settings: Settings, tenant_id: int, name: str) -> Path:
    """The folder of a source's Parquet versions."""
    return Path(os.fspath(settings.home)) / "warehouse" / f"t{int(tenant_id)}" / name


def table_name_for(tenant_id: int, name: str) -> str:
    """The warehouse table of a tenant's synced source (checked: it is written into DDL)."""
    out = f"t{int(tenant_id)}_{name}"
    if not _TABLE_RE.match(out):
        raise InvalidSpec(
            f"config.target: {name!r} is too long for a warehouse table (max 48)", field="config.target"
        )
    return out


def load_rows(
    settings: Settings,
    tenant_id: int,
    name: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    version: int,
) -> Where:
    """Write ``rows`` as a new version of source ``name``; the caller points the catalog at it."""
    if is_postgres(settings):
        return _load_postgres(settings.warehouse, table_name_for(tenant_id, name), columns, rows)
    folder = source_dir(settings, tenant_id, name)
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c.name, _ARROW[c.type]) for c in columns])
    table = pa.Table.from_pylist([{c.name: r.get(c.name) for c in columns} for r in rows], schema=schema)
    final = folder / f"v{version:08d}-{uuid.uuid4().hex[:8]}.parquet"
    tmp = final.with_suffix(".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return Where(parquet_path=str(final))


def read_rows(settings: Settings, current: CatalogSource, columns: Sequence[Column]) -> list[dict[str, Any]]:
    """The rows of the loaded version (retyped to ``columns``; a column new to it reads as None)."""
    if current.parquet_path:
        if not Path(current.parquet_path).exists():
            return []
        found: list[dict[str, Any]] = pq.read_table(current.parquet_path).to_pylist()
    elif current.table_name and is_postgres(settings):
        engine = create_engine(settings.warehouse)
        try:
            with engine.connect() as conn:
                if not inspect(conn).has_table(current.table_name):
                    return []
                tbl = Table(current.table_name, MetaData(), autoload_with=conn)
                found = [dict(r._mapping) for r in conn.execute(select(tbl))]
        finally:
            engine.dispose()
    else:
        return []
    out: list[dict[str, Any]] = []
    for r in found:
        row: dict[str, Any] = {}
        for c in columns:
            try:
                row[c.name] = coerce(r.get(c.name), c.type)
            except (ValueError, TypeError, OverflowError):
                row[c.name] = None  # a type the admin changed since: re-synced values replace it
        out.append(row)
    return out


def _load_postgres(url: str, final: str, columns: Sequence[Column], rows: Sequence[dict[str, Any]]) -> Where:
    staging = f"{final[:40]}_stg_{uuid.uuid4().hex[:8]}"
    md = MetaData()
    tbl = Table(staging, md, *[SqlColumn(c.name, _SQL[c.type]()) for c in columns])
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            tbl.create(conn)
            if rows:
                conn.execute(tbl.insert(), [{c.name: r.get(c.name) for c in columns} for r in rows])
        with engine.begin() as conn:
            prep = engine.dialect.identifier_preparer
            conn.execute(text(f"DROP TABLE IF EXISTS {prep.quote(final)}"))
            conn.execute(text(f"ALTER TABLE {prep.quote(staging)} RENAME TO {prep.quote(final)}"))
    finally:
        engine.dispose()
    return Where(table_name=final)


def prune_versions(settings: Settings, tenant_id: int, name: str, current: str) -> int:
    """Delete old Parquet versions of a source, keeping ``current`` and the newest other one
    (a query that read the catalog just before the swap may still open it). Returns how many."""
    if not current:
        return 0
    folder = source_dir(settings, tenant_id, name)
    if not folder.is_dir():
        return 0
    others = sorted(
        (p for p in folder.glob("v*.parquet") if str(p) != current),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = 0
    for p in others[1:]:
        try:
            p.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def drop_data(settings: Settings, tenant_id: int, name: str) -> None:
    """Delete a synced source's stored versions (after its catalog row is gone)."""
    import shutil

    if is_postgres(settings):
        final = table_name_for(tenant_id, name)
        engine = create_engine(settings.warehouse)
        try:
            with engine.begin() as conn:
                conn.execute(text(f"DROP TABLE IF EXISTS {engine.dialect.identifier_preparer.quote(final)}"))
        finally:
            engine.dispose()
        return
    shutil.rmtree(source_dir(settings, tenant_id, name), ignore_errors=True)
