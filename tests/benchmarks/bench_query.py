"""Query engine benchmark (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_query [--sizes 1000000,10000000] [--repeat 7]

On a demo DuckDB warehouse with N ticket rows, five typical dashboard queries
are timed as:
  (a) our ``run_query``, cold (no cache): compile + execute + DataFrame
  (b) the same SQL written by hand, executed on the same DuckDB connection
  (c) pandas groupby on the already-loaded tickets frame of the tenant
  (d) our ``run_query`` served from the Redis cache (p50)
  (r) our ``run_query`` answered from the pre-aggregations (``portal.data.rollups``), cold (no
      result cache); ``rollup`` names the rollup that answered ("-": none can, the base table
      did) and ``same`` says whether its frame equals (a)'s (``assert_frame_equal``)
Targets: (a)/(b) <= 1.15 at 10M rows; (a) >= 10x faster than (c); (d) p50 < 5 ms;
(r) >= 10x faster than (c) where a rollup answers, with the same frame.

The tickets rollups are built into the benchmark file once (their build times are printed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from redis import Redis
from sqlalchemy import create_engine

from portal.data.catalog import DEMO_CATALOG
from portal.data.execute import run_query
from portal.data.rollup_store import RollupStore
from portal.data.rollups import DEMO_ROLLUPS
from portal.demo.schema import DemoSize
from portal.demo.warehouse import load_warehouse
from portal.identity.scope import Scope
from portal.infra.cache import QueryCache
from portal.infra.redis_server import EmbeddedRedis

END = date(2026, 11, 1)
NOW = datetime(2026, 11, 1)
SINCE = datetime(2025, 11, 1)
TENANT = "acme"

QUERIES: dict[str, tuple[dict[str, Any], str, Callable[[pd.DataFrame], Any]]] = {
    "time series by day": (
        {
            "source": "tickets",
            "metrics": [{"agg": "count", "as": "tickets"}],
            "group_by": [{"column": "opened_at", "bucket": "day", "as": "day"}],
            "filters": [{"column": "opened_at", "op": ">=", "value": "{{now-1y}}"}],
            "limit": 10000,
        },
        "SELECT date_trunc('day', opened_at) AS day, count(*) AS tickets FROM tickets "
        "WHERE tenant_key = $1 AND opened_at >= $2 GROUP BY 1 ORDER BY 1 LIMIT 10000",
        lambda df: df[df.opened_at >= SINCE].groupby(df.opened_at.dt.floor("D")).size(),
    ),
    "top-N by customer": (
        {
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "tickets"},
                {"agg": "avg", "column": "resolution_hours", "as": "avg_h"},
            ],
            "group_by": ["customer_name"],
            "sort": [{"by": "tickets", "desc": True}],
            "limit": 10,
        },
        "SELECT customer_name, count(*) AS tickets, avg(resolution_hours) AS avg_h FROM tickets "
        "WHERE tenant_key = $1 GROUP BY 1 ORDER BY tickets DESC LIMIT 10",
        lambda df: (
            df.groupby("customer_name")
            .agg(tickets=("ticket_id", "size"), avg_h=("resolution_hours", "mean"))
            .nlargest(10, "tickets")
        ),
    ),
    "SLA breach rate by team": (
        {
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "tickets"},
                {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
            ],
            "group_by": ["team_name"],
        },
        "SELECT team_name, count(*) AS tickets, avg(CAST(sla_breached AS INTEGER)) AS breach_rate FROM tickets "
        "WHERE tenant_key = $1 GROUP BY 1 ORDER BY 1 LIMIT 1000",
        lambda df: df.groupby("team_name").agg(
            tickets=("ticket_id", "size"), breach_rate=("sla_breached", "mean")
        ),
    ),
    "p50/p90 resolution by priority": (
        {
            "source": "tickets",
            "metrics": [
                {"agg": "median", "column": "resolution_hours", "as": "p50"},
                {"agg": "percentile", "column": "resolution_hours", "p": 0.9, "as": "p90"},
            ],
            "group_by": ["priority"],
        },
        "SELECT priority, quantile_cont(resolution_hours, 0.5) AS p50, quantile_cont(resolution_hours, 0.9) AS p90 "
        "FROM tickets WHERE tenant_key = $1 GROUP BY 1 ORDER BY 1 LIMIT 1000",
        lambda df: df.groupby("priority")["resolution_hours"].quantile([0.5, 0.9]).unstack(),
    ),
    "heatmap weekday x hour": (
        {
            "source": "tickets",
            "metrics": [{"agg": "count", "as": "tickets"}],
            "group_by": [
                {"column": "opened_at", "bucket": "day_of_week", "as": "dow"},
                {"column": "opened_at", "bucket": "hour_of_day", "as": "hour"},
            ],
        },
        "SELECT CAST(EXTRACT(dow FROM opened_at) AS INTEGER) AS dow, CAST(EXTRACT(hour FROM opened_at) AS INTEGER) "
        "AS hour, count(*) AS tickets FROM tickets WHERE tenant_key = $1 GROUP BY 1, 2 ORDER BY 1, 2 LIMIT 1000",
        lambda df: df.groupby([df.opened_at.dt.day_of_week, df.opened_at.dt.hour]).size(),
    ),
}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


ROLLUPS = tuple(r for r in DEMO_ROLLUPS if r.source == "tickets")


def build_rollups(path: Path) -> None:
    """Build the tickets rollups into the benchmark file unless they are there already."""
    engine = create_engine(f"duckdb:///{path}")
    store = RollupStore(ROLLUPS, DEMO_CATALOG)
    try:
        built = store.records(engine)
        missing = [r.name for r in ROLLUPS if r.name not in built]
        for rec in store.build(engine, missing) if missing else []:
            print(
                f"  built rollup {rec.name}: {rec.rows:,} rows from {rec.base_rows:,} in {rec.seconds:.1f}s",
                file=sys.stderr,
            )
    finally:
        engine.dispose()


def bench_size(n: int, workdir: Path, redis_url: str, repeat: int) -> list[dict[str, Any]]:
    path = workdir / f"bench_{n}.duckdb"
    if not path.exists():
        t0 = time.perf_counter()
        counts = load_warehouse(f"duckdb:///{path}", DemoSize(tickets=n, messages_per_ticket=0.0), end=END)
        print(
            f"  built {path.name}: {counts['tickets']:,} tickets in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
    build_rollups(path)
    engine = create_engine(f"duckdb:///{path}", connect_args={"read_only": True})
    rollups = RollupStore(ROLLUPS, DEMO_CATALOG)
    cache = QueryCache(Redis.from_url(redis_url), ttl_seconds=600)
    scope = Scope.of(TENANT)
    raw = engine.raw_connection()
    duck = raw.driver_connection
    t0 = time.perf_counter()
    frame = duck.execute("SELECT * FROM tickets WHERE tenant_key = $1", [TENANT]).df()
    load_ms = (time.perf_counter() - t0) * 1000
    print(f"  loaded the {TENANT} frame for (c): {len(frame):,} rows in {load_ms:,.0f} ms", file=sys.stderr)
    rows = []
    for name, (spec, sql, pandas_fn) in QUERIES.items():
        params = [TENANT] if "$2" not in sql else [TENANT, SINCE]
        ours = run_query(
            spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, now=NOW
        )  # warm DuckDB itself
        hand = duck.execute(sql, params).df()
        assert len(ours.frame) == len(hand), (name, len(ours.frame), len(hand))
        a = timed(
            lambda spec=spec: run_query(spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, now=NOW),
            repeat,
        )
        b = timed(lambda sql=sql, params=params: duck.execute(sql, params).df(), repeat)
        c = timed(lambda fn=pandas_fn: fn(frame), max(3, repeat // 2))
        cache.invalidate()
        run_query(spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, cache=cache, now=NOW)
        d = timed(
            lambda spec=spec: run_query(
                spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, cache=cache, now=NOW
            ),
            max(repeat, 50),
        )
        from_rollup = run_query(
            spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, now=NOW, rollups=rollups
        )
        try:
            pd.testing.assert_frame_equal(from_rollup.frame, ours.frame)
            same = True
        except AssertionError:
            same = False
        r = timed(
            lambda spec=spec: run_query(
                spec, catalog=DEMO_CATALOG, scope=scope, engine=engine, now=NOW, rollups=rollups
            ),
            repeat,
        )
        ma, mb, mc, md, mr = (statistics.median(x) for x in (a, b, c, d, r))
        rows.append(
            {
                "rows": n,
                "query": name,
                "a_ms": ma,
                "b_ms": mb,
                "c_ms": mc,
                "d_p50_ms": md,
                "a/b": ma / mb,
                "c/a": mc / ma,
                "r_ms": mr,
                "rollup": from_rollup.rollup or "-",
                "c/r": mc / mr,
                "same": same,
            }
        )
    raw.close()
    engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1000000,10000000")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "conductor-bench")
    args = p.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedRedis(args.workdir / "redis") as redis:
        rows = []
        for n in (int(s) for s in args.sizes.split(",")):
            rows += bench_size(n, args.workdir, redis.url, args.repeat)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    big = df[df.rows == df.rows.max()]
    print(
        f"\nat {big.rows.iloc[0]:,} rows: max (a)/(b) = {big['a/b'].max():.3f} (target <= 1.15); "
        f"min (c)/(a) = {df['c/a'].min():.1f}x (target >= 10x); max cache p50 = {df.d_p50_ms.max():.2f} ms (target < 5)"
    )
    answered = big[big.rollup != "-"]
    if len(answered):
        print(
            f"from rollups ({len(answered)} of {len(big)} queries): min (c)/(r) = {answered['c/r'].min():.1f}x "
            f"(target >= 10x); median (a)/(r) = {(answered.a_ms / answered.r_ms).median():.1f}x; "
            f"all frames equal: {bool(df.same.all())}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
