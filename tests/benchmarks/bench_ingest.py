"""CSV import benchmark (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_ingest [--rows 10000000] [--pandas-rows 50000]
        [--no-postgres] [--events-seconds 0]

Generates a CSV of ``--rows`` rows and 8 columns (ids, text, a decimal, a quantity, an ISO
date, a timestamp, a flag) in a temp directory, then times, on the same file:

* ours (DuckDB warehouse): ``portal.ingest.runner.local_import`` -- the same load the
  ``data_import`` job runs (sniff, DuckDB staging with rejects, checks, Parquet version, catalog
  registration) -- in a child process, whose peak RSS (``VmHWM``) and RSS before the import
  (interpreter and imports) are read from ``/proc``;
* bare DuckDB: ``CREATE TABLE t AS SELECT * FROM read_csv('file')`` into a fresh database file;
  target ours >= 0.7x its throughput;
* pandas: ``read_csv`` + ``to_sql`` into DuckDB (duckdb_engine) on the first ``--pandas-rows``
  rows only (row-by-row inserts would take hours at 10M), scaled linearly to the full size --
  the table says so;
* ours (PostgreSQL warehouse) against a bare ``COPY t FROM STDIN (FORMAT csv)`` of the same
  file into a typed table of a throwaway PostgreSQL cluster; target >= 0.7x.

The analytics events rows come from ``tests/benchmarks/bench_events.py`` (``events_rows``) when
``--events-seconds`` > 0 (issue 12 asks for 120); otherwise the table points to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ANALYST = "analyst@acme.example.com"


def generate_csv(path: Path, rows: int) -> int:
    """Write the benchmark CSV (DuckDB writes it: generating is not what is measured); its size."""
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT range AS id,
                  'customer_' || (range % 5000) AS customer,
                  ['north', 'south', 'east', 'west'][(range % 4) + 1] AS region,
                  round((range % 100000) / 7.0, 2) AS amount,
                  (range % 50)::INTEGER AS qty,
                  DATE '2020-01-01' + (range % 2000)::INTEGER AS created,
                  TIMESTAMP '2020-01-01 00:00:00' + to_seconds(range % 100000000) AS updated,
                  range % 3 = 0 AS flag
            FROM range({int(rows)})) TO '{path}' (HEADER true)"""
    )
    con.close()
    return path.stat().st_size


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> int:
    """``--child``: one import with our loader, timed; prints a JSON line."""
    from portal.config import Settings
    from portal.context import build_context
    from portal.ingest.runner import local_import
    from portal.ingest.schema import ImportOptions

    home = Path(args.home)
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'meta.sqlite3'}",
        warehouse_url=args.warehouse,
        redis_url=args.redis,
    )
    ctx = build_context(settings)
    before = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    _, out = local_import(
        ctx, Path(args.file), ImportOptions(table=args.table, mode="replace"), user_email=ANALYST
    )
    seconds = time.perf_counter() - t0
    ctx.close()
    print(
        json.dumps(
            {
                "status": out.status,
                "error": out.error,
                "rows": out.rows_loaded,
                "seconds": seconds,
                "rss_before_mb": before,
                "peak_mb": _rss_mb("VmHWM"),
            }
        )
    )
    return 0


def _ours(home: Path, redis_url: str, warehouse: str, csv_path: Path, table: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONDUCTOR_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "tests.benchmarks.bench_ingest", "--child", "--home", str(home)]
    cmd += ["--redis", redis_url, "--warehouse", warehouse, "--file", str(csv_path), "--table", table]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != "done":
        raise RuntimeError(f"our import failed: {result['error']}")
    return result


def _bare_duckdb(work: Path, csv_path: Path) -> float:
    import duckdb

    db = work / "bare.duckdb"
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{csv_path}')")
    seconds = time.perf_counter() - t0
    con.close()
    db.unlink()
    return seconds


def _pandas(work: Path, csv_path: Path, rows: int) -> float:
    import pandas as pd
    from sqlalchemy import create_engine

    engine = create_engine(f"duckdb:///{work / 'pandas.duckdb'}")
    t0 = time.perf_counter()
    frame = pd.read_csv(csv_path, nrows=rows, parse_dates=["created", "updated"])
    frame.to_sql("t", engine, index=False, chunksize=10_000, method="multi")
    seconds = time.perf_counter() - t0
    engine.dispose()
    return seconds


def _bare_copy(url: str, csv_path: Path) -> float:
    import psycopg

    from portal.ingest.publish import pg_conninfo

    with psycopg.connect(pg_conninfo(url)) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        cur.execute(
            "CREATE TABLE bare_t (id BIGINT, customer TEXT, region TEXT, amount DOUBLE PRECISION, "
            "qty BIGINT, created DATE, updated TIMESTAMP, flag BOOLEAN)"
        )
        with cur.copy("COPY bare_t FROM STDIN (FORMAT csv, HEADER true)") as cp, csv_path.open("rb") as f:
            while block := f.read(1024 * 1024):
                cp.write(block)
        conn.commit()
        return time.perf_counter() - t0


def _prepare_home(home: Path) -> None:
    """A metadata database with the demo accounts, and an empty DuckDB warehouse file."""
    import duckdb

    from portal.demo.accounts import seed_demo
    from portal.infra import migrate
    from portal.infra.db import make_engine, make_sessionmaker, transaction

    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'meta.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with transaction(make_sessionmaker(engine)) as session:
        seed_demo(session)
    engine.dispose()
    duckdb.connect(str(home / "warehouse.duckdb")).close()


def _row(name: str, rows: int, seconds: float, mb: float, note: str = "") -> tuple[str, str, str, str, str]:
    return (name, f"{rows:,}", f"{seconds:8.2f}", f"{rows / seconds:>12,.0f}  {mb / seconds:7.1f}", note)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pandas-rows", type=int, default=50_000, help="pandas runs on at most this many rows")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument(
        "--events-seconds", type=int, default=0, help="run bench_events for this long (issue: 120)"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--home", "--redis", "--warehouse", "--file", "--table"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)

    from portal.infra.redis_server import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        csv_path = work / "data.csv"
        t0 = time.perf_counter()
        size = generate_csv(csv_path, args.rows)
        mb = size / 1e6
        print(
            f"generated {args.rows:,} rows, {mb:,.1f} MB in {time.perf_counter() - t0:.1f}s", file=sys.stderr
        )
        home = work / "home"
        _prepare_home(home)
        table: list[tuple[str, str, str, str, str]] = []
        with EmbeddedRedis(work / "redis") as redis:
            ours = _ours(home, redis.url, f"duckdb:///{home / 'warehouse.duckdb'}", csv_path, "bench")
            bare = _bare_duckdb(work, csv_path)
            table.append(
                _row(
                    "ours -> DuckDB/Parquet",
                    args.rows,
                    ours["seconds"],
                    mb,
                    f"{bare / ours['seconds']:.2f}x bare (target >= 0.7x)",
                )
            )
            table.append(_row("bare DuckDB read_csv CTAS", args.rows, bare, mb))
            n = min(args.rows, args.pandas_rows)
            pd_seconds = _pandas(work, csv_path, n) * args.rows / n
            table.append(
                _row(
                    "pandas read_csv + to_sql",
                    args.rows,
                    pd_seconds,
                    mb,
                    f"measured on {n:,} rows, scaled; ours {pd_seconds / ours['seconds']:.0f}x faster",
                )
            )
            memory = (
                f"ours: peak RSS {ours['peak_mb']:.0f} MB (of which {ours['rss_before_mb']:.0f} MB interpreter "
                f"and imports before the import started); target < 300 MB for 1 GB"
            )
            if not args.no_postgres:
                from tests.support.servers import ThrowawayPostgres

                pg = ThrowawayPostgres().start()
                try:
                    url = pg.create_database()
                    pg_ours = _ours(home, redis.url, url, csv_path, "bench_pg")
                    bare_pg = _bare_copy(url, csv_path)
                    table.append(
                        _row(
                            "ours -> PostgreSQL (COPY)",
                            args.rows,
                            pg_ours["seconds"],
                            mb,
                            f"{bare_pg / pg_ours['seconds']:.2f}x bare (target >= 0.7x); "
                            f"peak RSS {pg_ours['peak_mb']:.0f} MB",
                        )
                    )
                    table.append(_row("bare COPY FROM STDIN", args.rows, bare_pg, mb))
                finally:
                    pg.stop()
    _print(table, args.rows, mb)
    print(memory)
    # ---- analytics events (the events helper's rows) -----------------------------------------
    events = ROOT / "tests" / "benchmarks" / "bench_events.py"
    if events.exists() and args.events_seconds > 0:
        from tests.benchmarks.bench_events import events_rows

        print()
        for row in events_rows(args.events_seconds):
            print("  ".join(str(c) for c in row))
    else:
        print("events: see bench_events.py (or --events-seconds 120 here)")
    return 0


def _print(table: list[tuple[str, str, str, str, str]], rows: int, mb: float) -> None:
    print(f"\nCSV import, {rows:,} rows x 8 columns, {mb:,.1f} MB")
    head = ("path", "rows", "seconds", "rows/s        MB/s", "note")
    widths = [max(len(str(r[i])) for r in [head, *table]) for i in range(5)]
    for r in [head, *table]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
