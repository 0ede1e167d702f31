"""Reading and validating a file, streaming: XLSX to CSV, transcoding to UTF-8, DuckDB staging.

Nothing here holds the file in memory: an XLSX sheet is read row by row (openpyxl
``read_only``) into a UTF-8 CSV, a CSV in another encoding is transcoded in 1 MB chunks, and
DuckDB's CSV reader (128 MB memory limit, spilling to the import's work directory) stages the
rows in an on-disk database with explicit column types. Rows DuckDB cannot read (a missing
column, a value of the wrong type) land in its rejects table; SQL checks add the rows that break
the target schema (required, range, allowed values, duplicate keys). :class:`Staging` holds the
result; :mod:`portal.ingest.publish` writes the good rows to the warehouse.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from portal.errors import InvalidSpec
from portal.ingest.schema import ImportOptions
from portal.ingest.sniff import ColumnGuess, Sniffed, sniff_file
from portal.ingest.xlsx import Cancelled, ImportCanceled, Progress, is_xlsx_name, never, quiet, xlsx_to_csv

CHUNK = 1024 * 1024
DUCKDB_MEMORY_MB = 128
_READ_TYPES = {"int": "BIGINT", "float": "DOUBLE", "string": "VARCHAR", "bool": "BOOLEAN"}
_FORMULA = "^[=+\\-@\t\r]"


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    """The single row of ``sql`` (fetched to the end: DuckDB wants a result finished before the next)."""
    rows = con.execute(sql, params or []).fetchall()
    return tuple(rows[0]) if rows else ()


def q(name: str) -> str:
    """A column identifier, quoted (names were validated as ``[a-z_][a-z0-9_]*`` already)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal (paths and fixed texts only; user values are bound parameters)."""
    return "'" + text.replace("'", "''") + "'"


# --------------------------------------------------------------------------- CSV
def transcode(
    path: Path,
    out: Path,
    encoding: str,
    bom: int,
    *,
    progress: Progress = quiet,
    cancelled: Cancelled = never,
    avg_row_bytes: float = 0.0,
) -> None:
    """Re-encode ``path`` to UTF-8 (without BOM) in 1 MB chunks; a bad byte is a 422 naming it."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    total, done, last = path.stat().st_size, 0, time.monotonic()
    with path.open("rb") as src, out.open("wb") as dst:
        src.seek(bom)
        done = bom
        while chunk := src.read(CHUNK):
            try:
                dst.write(decoder.decode(chunk).encode("utf-8"))
            except UnicodeError as exc:
                where = done + exc.start if isinstance(exc, UnicodeDecodeError) else done
                raise InvalidSpec(
                    f"encoding: byte {where} is not valid {encoding}; choose the file's encoding",
                    field="encoding",
                ) from None
            done += len(chunk)
            if time.monotonic() - last > 0.4:
                if cancelled():
                    raise ImportCanceled("the import was canceled")
                progress(int(done / avg_row_bytes) if avg_row_bytes else 0, done // 2, total)
                last = time.monotonic()
        dst.write(decoder.decode(b"", final=True).encode("utf-8"))


def prepare(
    path: Path,
    filename: str,
    options: ImportOptions,
    work: Path,
    *,
    progress: Progress = quiet,
    cancelled: Cancelled = never,
) -> tuple[Path, Sniffed]:
    """The file as a UTF-8 CSV DuckDB can read, and what it looks like."""
    if is_xlsx_name(filename):
        out = work / "sheet.csv"
        xlsx_to_csv(path, filename, out, sheet=options.sheet, progress=progress, cancelled=cancelled)
        opts = options.model_copy(update={"encoding": "utf-8", "delimiter": ","})
        return out, sniff_file(out, opts)
    if path.stat().st_size == 0:
        raise InvalidSpec("file: the file is empty (0 bytes)", field="file")
    sniffed = sniff_file(path, options)
    if sniffed.encoding == "utf-8" and not sniffed.bom:
        return path, sniffed
    out = work / "utf8.csv"
    bom = len(codecs.BOM_UTF8) if sniffed.bom and sniffed.encoding == "utf-8" else (2 if sniffed.bom else 0)
    enc = "utf-16" if sniffed.encoding == "utf-16" else sniffed.encoding
    if enc == "utf-16":
        bom = 0  # the utf-16 codec reads the BOM to learn the byte order
    transcode(
        path, out, enc, bom, progress=progress, cancelled=cancelled, avg_row_bytes=sniffed.avg_row_bytes
    )
    return out, sniffed


# --------------------------------------------------------------------------- staging
def read_type(c: ColumnGuess) -> str:
    """The type DuckDB's reader gives a column (VARCHAR where SQL converts it afterwards)."""
    if c.decimal_comma or c.date_format:
        return "VARCHAR"
    if c.type == "date":
        return "DATE"
    if c.type == "datetime":
        return "TIMESTAMP"
    return _READ_TYPES[c.type]


def typed_expr(c: ColumnGuess) -> str:
    """The SQL giving a column its type from the staged value."""
    col = q(c.name)
    if c.decimal_comma:
        return f"TRY_CAST(replace(replace(trim({col}), '.', ''), ',', '.') AS DOUBLE)"
    if c.date_format:
        parsed = f"try_strptime(trim({col}), {lit(c.date_format)})"
        return f"CAST({parsed} AS DATE)" if c.type == "date" else parsed
    return col


def _conversion_reason(c: ColumnGuess) -> str:
    if c.decimal_comma:
        return "type: not a number with a decimal comma (like 1.234,56)"
    return f"type: not a {c.type} in the format {c.date_format}"


@dataclass
class Staging:
    """The staged rows of one import in an on-disk DuckDB database, with what failed."""

    con: duckdb.DuckDBPyConnection
    columns: tuple[ColumnGuess, ...]
    #: Every row DuckDB could read, typed, in file order (``file_row_number`` numbers them).
    stage_file: Path | None = None
    rows_read: int = 0
    rows_rejected: int = 0
    warnings: int = 0
    seconds: float = 0.0

    def clean_sql(self, *, dedup_keys: list[str] | None = None) -> str:
        """The good rows with their types, in file order (``dedup_keys``: last row per key)."""
        cols = ", ".join(f"{typed_expr(c)} AS {q(c.name)}" for c in self.columns)
        base = (
            f"SELECT file_row_number + 1 AS __r, {cols} FROM staged WHERE file_row_number + 1 NOT IN "
            "(SELECT rank FROM bad WHERE severity = 'error' AND rank IS NOT NULL)"
        )
        names = ", ".join(q(c.name) for c in self.columns)
        if dedup_keys:
            keys = ", ".join(q(k) for k in dedup_keys)
            last = f"row_number() OVER (PARTITION BY {keys} ORDER BY __r DESC) = 1"
            return f"SELECT {names} FROM ({base}) QUALIFY {last}"
        # File order without a sort: DuckDB keeps insertion order (preserve_insertion_order).
        return f"SELECT {names} FROM ({base})"

    def stage_is_clean(self) -> bool:
        """Whether the staged file is the table as is: no row to drop, no column to convert."""
        return (
            self.stage_file is not None
            and self.rows_rejected == 0
            and all(read_type(c) != "VARCHAR" or c.type == "string" for c in self.columns)
        )

    def close(self) -> None:
        """Close the staging database (its file goes with the work directory)."""
        self.con.close()


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(work / "stage.duckdb"))
    (work / "tmp").mkdir(exist_ok=True)
    # 128 MB of buffers keeps a whole import (process included) under ~300 MB of RSS; DuckDB
    # spills to the work directory beyond it (measured: 3M rows, 223 MB, peak RSS +130 MB).
    con.execute(f"SET memory_limit='{DUCKDB_MEMORY_MB}MB'")
    con.execute("SET threads=2")
    con.execute(f"SET temp_directory={lit(str(work / 'tmp'))}")
    con.execute("SET preserve_insertion_order=true")
    con.execute("SET enable_progress_bar=true")
    con.execute("SET enable_progress_bar_print=false")
    return con


def _run_watched(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: list[Any],
    tick: Callable[[float], None],
    cancelled: Cancelled,
) -> None:
    """Run ``sql`` on a thread, reporting DuckDB's progress and interrupting on cancel."""
    error: list[BaseException] = []

    def work() -> None:
        try:
            con.execute(sql, params)
        except BaseException as exc:  # re-raised on the caller's thread
            error.append(exc)

    t = threading.Thread(target=work, name="import-read", daemon=True)
    t.start()
    while t.is_alive():
        t.join(0.25)
        if cancelled():
            con.interrupt()
            t.join()
            raise ImportCanceled("the import was canceled")
        pct = con.query_progress()
        if pct >= 0:
            tick(min(pct, 100.0) / 100.0)
    if error:
        raise error[0]


def stage(
    csv_path: Path,
    sniffed: Sniffed,
    options: ImportOptions,
    work: Path,
    *,
    bytes_total: int,
    progress: Progress = quiet,
    cancelled: Cancelled = never,
    transcoded: bool = False,
    compression: Literal["zstd", "snappy"] = "zstd",
) -> Staging:
    """Read the CSV into ``staged`` and record every failing row in ``bad``.

    ``compression``: ``zstd`` if the staged file may become the version file, else ``snappy``.
    """
    started = time.perf_counter()
    columns = sniffed.columns
    options.check_columns({c.name for c in columns})
    con = _connect(work)
    st = Staging(con, columns)
    try:
        spec = ", ".join(f"{lit(c.name)}: {lit(read_type(c))}" for c in columns)
        # Staged as Parquet, typed, in file order: the checks scan it by column, and a clean
        # file of a new table becomes its first version without being written again.
        st.stage_file = work / "stage.parquet"
        header = "true" if sniffed.header else "false"
        sql = (
            f"COPY (SELECT * FROM read_csv({lit(str(csv_path))}, header={header}, "
            f"delim={lit(sniffed.delimiter)}, quote='\"', escape='\"', "
            f"columns={{{spec}}}, auto_detect=false, ignore_errors=true, store_rejects=true, "
            "rejects_table='rej', rejects_scan='rej_scan', max_line_size=2097152, buffer_size=16777216, "
            "parallel=true)) "
            f"TO {lit(str(st.stage_file))} (FORMAT parquet, COMPRESSION {compression})"
        )
        avg = sniffed.avg_row_bytes or 100.0
        base = 0.5 if transcoded else 0.0

        def tick(frac: float) -> None:
            done = int(bytes_total * (base + (1 - base) * frac))
            progress(int(done / avg), done, bytes_total)

        try:
            _run_watched(con, sql, [], tick, cancelled)
        except duckdb.Error as exc:
            raise InvalidSpec(
                f"file: the CSV cannot be read: {str(exc).splitlines()[0][:300]}", field="file"
            ) from None
        con.execute(
            f"CREATE TEMP VIEW staged AS SELECT * FROM read_parquet({lit(str(st.stage_file))}, "
            "file_row_number = true)"
        )
        _checks(st, options, header=sniffed.header)
        rows = one(con, "SELECT count(*) FROM staged")
        rejected_lines = one(con, "SELECT count(DISTINCT line) FROM rej")
        st.rows_read = int(rows[0]) + int(rejected_lines[0])
        counts = one(
            con,
            "SELECT count(DISTINCT r) FILTER (WHERE severity = 'error'), "
            "count(*) FILTER (WHERE severity = 'warning') FROM bad",
        )
        st.rows_rejected, st.warnings = int(counts[0]), int(counts[1])
        st.seconds = time.perf_counter() - started
        progress(st.rows_read, bytes_total, bytes_total)
        return st
    except BaseException:
        con.close()
        raise


def _checks(st: Staging, options: ImportOptions, *, header: bool) -> None:
    """Fill ``bad``: DuckDB's rejects, failed conversions, then the schema's checks."""
    con = st.con
    h = 1 if header else 0
    con.execute(
        "CREATE TABLE bad (r BIGINT, rank BIGINT, col VARCHAR, reason VARCHAR, value VARCHAR, "
        "severity VARCHAR)"
    )
    con.execute(
        "INSERT INTO bad SELECT line - ?, NULL, column_name, lower(CAST(error_type AS VARCHAR)) || ': ' || "
        "error_message, left(csv_line, 1000), 'error' FROM rej",
        [h],
    )
    cols = ", ".join(
        f"{typed_expr(c)} AS {q(c.name)}"
        + (f", {q(c.name)} AS {q('__raw_' + c.name)}" if read_type(c) == "VARCHAR" else "")
        for c in st.columns
    )
    con.execute(f"CREATE TEMP VIEW typed AS SELECT file_row_number + 1 AS __r, {cols} FROM staged")
    add = "INSERT INTO bad SELECT NULL, __r, ?, ?, {value}, ? FROM typed WHERE {cond}"
    for c in st.columns:
        col, raw = q(c.name), q("__raw_" + c.name)
        if c.decimal_comma or c.date_format:
            cond = f"{raw} IS NOT NULL AND trim({raw}) <> '' AND {col} IS NULL"
            con.execute(add.format(value=raw, cond=cond), [c.name, _conversion_reason(c), "error"])
        over = options.column_override(c.name)
        is_key = c.name in options.key_columns
        if (over is not None and over.required) or is_key:
            empty = f"{col} IS NULL" + (
                f" AND ({raw} IS NULL OR trim({raw}) = '')" if read_type(c) == "VARCHAR" else ""
            )
            reason = "key: the key column is empty" if is_key else "required: the value is empty"
            con.execute(add.format(value="NULL", cond=empty), [c.name, reason, "error"])
        if over is not None and over.min is not None:
            con.execute(
                add.format(value=f"CAST({col} AS VARCHAR)", cond=f"{col} < ?"),
                [c.name, f"min: below {over.min:g}", "error", over.min],
            )
        if over is not None and over.max is not None:
            con.execute(
                add.format(value=f"CAST({col} AS VARCHAR)", cond=f"{col} > ?"),
                [c.name, f"max: above {over.max:g}", "error", over.max],
            )
        if over is not None and over.allowed is not None:
            con.execute(
                add.format(
                    value=f"CAST({col} AS VARCHAR)",
                    cond=f"{col} IS NOT NULL AND NOT list_contains(?::VARCHAR[], CAST({col} AS VARCHAR))",
                ),
                [c.name, "allowed: not one of the allowed values", "error", list(over.allowed)],
            )
        if c.type == "string":
            # Kept as text, but flagged: the report (and exports) neutralise it.
            con.execute(
                add.format(
                    value=col, cond=f"left({col}, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) LIMIT 1000"
                ),
                [
                    c.name,
                    "formula: text that a spreadsheet would run as a formula; kept as text",
                    "warning",
                ],
            )
    if options.key_columns and options.mode != "upsert":
        keys = ", ".join(q(k) for k in options.key_columns)
        con.execute(
            "INSERT INTO bad SELECT NULL, __r, ?, 'key: duplicate key (the row ' || first || ' has it too)', "
            "NULL, 'error' FROM (SELECT __r, first_value(__r) OVER w AS first, row_number() OVER w AS n "
            "FROM typed "
            f"WHERE {' AND '.join(q(k) + ' IS NOT NULL' for k in options.key_columns)} "
            f"WINDOW w AS (PARTITION BY {keys} ORDER BY __r)) WHERE n > 1",
            [",".join(options.key_columns)],
        )
    # The row numbers of checked rows count the rows DuckDB rejected before them too.
    con.execute(
        "CREATE TEMP TABLE rej_rows AS SELECT d, row_number() OVER (ORDER BY d) AS i "
        "FROM (SELECT DISTINCT r AS d FROM bad WHERE rank IS NULL)"
    )
    con.execute(
        "UPDATE bad SET r = rank + (SELECT count(*) FROM rej_rows WHERE d - i < bad.rank) "
        "WHERE rank IS NOT NULL"
    )


def write_report(st: Staging, path: Path) -> int:
    """Write the bad-row report CSV (row, column, reason, value); the entries written.

    A value a spreadsheet would run as a formula is prefixed with ``'`` so opening the report
    cannot execute it.
    """
    safe = f"CASE WHEN regexp_matches(value, {lit(_FORMULA)}) THEN '''' || value ELSE value END"
    tmp = path.with_suffix(".tmp")
    st.con.execute(
        f"COPY (SELECT r AS row, col AS column, reason, {safe} AS value, severity FROM bad "
        "ORDER BY r, col) TO " + lit(str(tmp)) + " (HEADER true, DELIMITER ',')"
    )
    tmp.replace(path)
    return int(one(st.con, "SELECT count(*) FROM bad")[0])
