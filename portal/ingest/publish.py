"""Writing an import's good rows to the warehouse, swapped in whole: never a half-written table.

* Embedded DuckDB warehouse (web processes open it read-only): a new Parquet file per load
  version under ``home/warehouse/t<tenant>/<name>/``, written under a temporary name and renamed
  when complete; the catalog row's ``parquet_path`` then moves to it in one metadata transaction.
  Append and upsert combine the current file with the new rows into the new version.
* PostgreSQL warehouse: one transaction creates a staging table, streams the rows into it with
  ``COPY ... FROM STDIN`` (1 MB blocks), then swaps it in (replace: drop and rename; append:
  ``INSERT ... SELECT``; upsert: ``INSERT ... ON CONFLICT``). A crash or a cancel before the
  commit rolls everything back: the live table is as it was and the staging table is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from portal.data.catalog import Column
from portal.errors import InvalidSpec
from portal.ingest.load import CHUNK, Staging, lit, one, q
from portal.ingest.schema import ColumnSchema, ImportOptions
from portal.ingest.sniff import ColumnGuess
from portal.ingest.xlsx import Cancelled, ImportCanceled, never
from portal.models import CatalogSource

_PG_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE PRECISION",
    "string": "TEXT",
    "bool": "BOOLEAN",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}
#: How long a statement of the load may run, and wait for the live table's lock, on PostgreSQL.
PG_STATEMENT_TIMEOUT_MS = 2 * 3600 * 1000
PG_LOCK_TIMEOUT_MS = 60 * 1000
_F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ (Python 3.10+ on Linux names it; the number is stable)


def catalog_columns(columns: Sequence[ColumnGuess]) -> tuple[Column, ...]:
    """The catalog columns of an import (the header text is the label)."""
    return tuple(Column(c.name, c.type, c.label or c.name) for c in columns)


def check_target(
    existing: CatalogSource | None, options: ImportOptions, columns: Sequence[ColumnGuess]
) -> None:
    """Refuse (422 naming the field) a load the existing source cannot take."""
    if existing is None:
        return
    name = options.table
    if existing.origin != "import":
        raise InvalidSpec(f"table: a source called {name!r} exists (from {existing.origin})", field="table")
    if options.mode == "create":
        raise InvalidSpec(
            f"table: a source called {name!r} exists; choose the mode append, replace or upsert",
            field="table",
        )
    if options.mode in ("append", "upsert"):
        have = {str(c["name"]): str(c["type"]) for c in existing.columns_json or []}
        new = {c.name: c.type for c in columns}
        problems = [f"missing {k}" for k in have if k not in new]
        problems += [f"new column {k}" for k in new if k not in have]
        problems += [
            f"{k} is {new[k]} (the table has {have[k]})" for k in new if k in have and have[k] != new[k]
        ]
        if problems:
            raise InvalidSpec(
                f"columns: the file does not fit table {name!r}: {'; '.join(problems[:10])}", field="columns"
            )


def with_existing_types(options: ImportOptions, existing: CatalogSource | None) -> ImportOptions:
    """Options whose column types default to the existing source's (append/upsert): a file whose
    ``amount`` column happens to hold whole numbers still loads into a float column."""
    if existing is None or existing.origin != "import" or options.mode not in ("append", "upsert"):
        return options
    given = {c.name for c in options.columns or ()}
    extra = [
        ColumnSchema.model_validate({"name": c["name"], "type": c["type"], "label": c.get("label") or ""})
        for c in existing.columns_json or []
        if str(c["name"]) not in given
    ]
    return options.model_copy(update={"columns": [*(options.columns or ()), *extra]})


def _version_name() -> str:
    return f"v{time.time_ns()}"


def parquet_dir(home: Path, tenant_id: int, name: str) -> Path:
    """Where the versions of an imported source live."""
    return home / "warehouse" / f"t{tenant_id}" / name


def publish_parquet(
    st: Staging, options: ImportOptions, *, home: Path, tenant_id: int, current: str = ""
) -> tuple[str, int, int]:
    """Write the new version file; ``(path, rows in the table, rows from this file)``."""
    directory = parquet_dir(home, tenant_id, options.table)
    directory.mkdir(parents=True, exist_ok=True)
    version = _version_name()
    final, tmp = directory / f"{version}.parquet", directory / f".{version}.parquet.tmp"
    names = ", ".join(q(c.name) for c in st.columns)
    upsert = options.mode == "upsert"
    clean = st.clean_sql(dedup_keys=options.key_columns if upsert else None)
    old = f"read_parquet({lit(current)})" if current and Path(current).exists() else ""
    if old and options.mode in ("append", "upsert"):
        # The new rows are needed twice (counted, and combined with the current version).
        st.con.execute(f"CREATE OR REPLACE TEMP TABLE newrows AS {clean}")
        new_rows = int(one(st.con, "SELECT count(*) FROM newrows")[0])
        if options.mode == "append":
            body = f"SELECT {names} FROM {old} UNION ALL SELECT {names} FROM newrows"
        else:
            match = " AND ".join(f"n.{q(k)} = o.{q(k)}" for k in options.key_columns)
            body = (
                f"SELECT {names} FROM {old} o WHERE NOT EXISTS (SELECT 1 FROM newrows n WHERE {match}) "
                f"UNION ALL SELECT {names} FROM newrows"
            )
    elif st.stage_is_clean() and not upsert and st.stage_file is not None:
        # Every row is good and typed already: the staged file is the new version.
        os.replace(st.stage_file, final)
        st.stage_file = None
        return str(final), st.rows_read, st.rows_read
    else:
        body, new_rows = clean, -1
    try:
        # COPY answers the rows it wrote: the table's row count.
        written = one(st.con, f"COPY ({body}) TO {lit(str(tmp))} (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    total = int(written[0])
    new_rows = total if new_rows < 0 else new_rows
    return str(final), total, new_rows


def prune_versions(directory: Path, current: str, previous: str) -> list[Path]:
    """Remove version files older than the previous one (running queries may still read it)."""
    keep = {Path(current).name, Path(previous).name if previous else ""}
    floor = Path(previous).name if previous else Path(current).name
    removed: list[Path] = []
    for f in directory.glob("v*.parquet"):
        if f.name not in keep and f.name < floor:
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


# --------------------------------------------------------------------------- PostgreSQL
def warehouse_table(tenant_id: int, name: str) -> str:
    """The live table of an imported source on a PostgreSQL warehouse (at most 63 characters)."""
    base = f"imp_t{tenant_id}_{name}"
    if len(base) <= 48:
        return base
    return f"imp_t{tenant_id}_{name[:30]}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def pg_conninfo(url: str) -> str:
    """libpq connection string of a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def publish_postgres(
    st: Staging,
    options: ImportOptions,
    *,
    url: str,
    tenant_id: int,
    work: Path,
    exists: bool,
    cancelled: Cancelled = never,
) -> tuple[str, int, int]:
    """Load the good rows into the live table in one transaction; ``(table, rows, rows from this file)``."""
    live = warehouse_table(tenant_id, options.table)
    stg = f"{live[:40]}__stg_{secrets.token_hex(4)}"
    upsert = options.mode == "upsert"
    # DuckDB writes the good rows as CSV into a pipe while PostgreSQL's COPY reads them: the two
    # run at once and nothing is written to disk in between.
    pipe = work / f"clean-{secrets.token_hex(4)}.pipe"
    os.mkfifo(pipe)
    copy_out = (
        f"COPY ({st.clean_sql(dedup_keys=options.key_columns if upsert else None)}) TO {lit(str(pipe))} "
        "(HEADER false, DELIMITER ',', QUOTE '\"', NULL '', TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S.%f')"
    )
    written: list[tuple[Any, ...]] = []
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            written.append(one(st.con, copy_out))
        except BaseException as exc:  # re-raised on the loading thread
            failed.append(exc)

    writer = threading.Thread(target=produce, name="import-pg-writer", daemon=True)
    writer.start()
    names = [c.name for c in st.columns]
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    typed = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_PG_TYPES[c.type])) for c in st.columns
    )
    options_arg = f"-c statement_timeout={PG_STATEMENT_TIMEOUT_MS} -c lock_timeout={PG_LOCK_TIMEOUT_MS}"
    try:
        with psycopg.connect(pg_conninfo(url), options=options_arg) as conn:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(stg), typed))
                copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, NULL '')").format(
                    sql.Identifier(stg), cols
                )
                with cur.copy(copy_sql) as cp, pipe.open("rb") as f:
                    with contextlib.suppress(OSError):  # Linux: a 1 MB pipe, not 64 KB slices
                        fcntl.fcntl(f.fileno(), _F_SETPIPE_SZ, CHUNK)
                    while block := f.read(CHUNK):
                        if cancelled():
                            raise ImportCanceled("the import was canceled")
                        cp.write(block)
                writer.join()
                if failed:
                    raise failed[0]
                new_rows = int(written[0][0])
                if cancelled():
                    raise ImportCanceled("the import was canceled")
                _swap(cur, live, stg, names, options, exists=exists and _table_exists(cur, live))
                replaced = options.mode in ("create", "replace") or not exists
                count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(live))
                total = new_rows if replaced else int(_scalar(cur, count))
            conn.commit()
    finally:
        if writer.is_alive():
            st.con.interrupt()
            _release_writer(pipe)
            writer.join(30)
        pipe.unlink(missing_ok=True)
    return live, total, new_rows


def _release_writer(pipe: Path) -> None:
    """Let a writer blocked opening the pipe go on (into a broken pipe: it fails and ends)."""
    with contextlib.suppress(OSError):
        fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        os.close(fd)


def _scalar(cur: psycopg.Cursor[Any], query: sql.Composed) -> Any:
    cur.execute(query)
    row = cur.fetchone()
    return row[0] if row else None


def _table_exists(cur: psycopg.Cursor[Any], name: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    row = cur.fetchone()
    return bool(row and row[0])


def _swap(
    cur: psycopg.Cursor[Any], live: str, stg: str, names: list[str], options: ImportOptions, *, exists: bool
) -> None:
    live_id, stg_id = sql.Identifier(live), sql.Identifier(stg)
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in options.key_columns)
    key_index = sql.Identifier(f"{live[:50]}_key")
    if not exists or options.mode in ("create", "replace"):
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(live_id))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(stg_id, live_id))
        if options.key_columns:
            cur.execute(sql.SQL("CREATE UNIQUE INDEX {} ON {} ({})").format(key_index, live_id, keys))
        return
    if options.mode == "append":
        cur.execute(sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(live_id, cols, cols, stg_id))
    else:
        cur.execute(
            sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})").format(key_index, live_id, keys)
        )
        others = [n for n in names if n not in options.key_columns]
        action = (
            sql.SQL("DO UPDATE SET ")
            + sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n)) for n in others
            )
            if others
            else sql.SQL("DO NOTHING")
        )
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) ").format(
                live_id, cols, cols, stg_id, keys
            )
            + action
        )
    cur.execute(sql.SQL("DROP TABLE {}").format(stg_id))
