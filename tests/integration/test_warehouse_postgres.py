"""The same demo data in DuckDB and in PostgreSQL (bulk-loaded with COPY) gives the same answers."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from portal.data.catalog import DEMO_CATALOG
from portal.data.execute import estimate_query, run_query
from portal.demo.schema import DemoSize
from portal.demo.showcase import DEMO_REPORTS
from portal.demo.warehouse import load_warehouse
from portal.identity.scope import Scope
from portal.infra.db import make_engine, make_warehouse_engine

NOW = datetime(2026, 11, 1, 12, 0)
EXTRA = [
    {
        "source": "tickets",
        "metrics": [
            {"agg": "percentile", "column": "resolution_hours", "p": 0.9, "as": "p90"},
            {"agg": "count_distinct", "column": "customer_id", "as": "customers"},
        ],
        "group_by": [
            {"column": "opened_at", "bucket": "day_of_week", "as": "dow"},
            {"column": "opened_at", "bucket": "hour_of_day", "as": "hour"},
        ],
    },
    {
        "source": "expenses",
        "metrics": [{"agg": "sum", "column": "amount", "as": "spent"}],
        "group_by": [{"column": "incurred_at", "bucket": "quarter", "as": "q"}, "category"],
    },
    {
        "source": "revenue",
        "metrics": [{"agg": "sum", "column": "mrr", "as": "mrr"}],
        "group_by": [{"column": "month", "bucket": "year", "as": "y"}],
        "filters": [{"column": "plan", "op": "not_in", "value": ["none"]}],
    },
    {
        "source": "messages",
        "metrics": [{"agg": "avg", "column": "response_seconds", "as": "resp"}],
        "group_by": ["direction"],
        "filters": [{"column": "customer_name", "op": "like", "value": "%a%"}],
    },
    {
        "source": "maintenance_orders",
        "columns": ["order_id", "kind", "total_cost"],
        "filters": [{"column": "completed_at", "op": "is_not_null"}],
        "sort": [{"by": "order_id"}],
        "limit": 50,
    },
]


@pytest.fixture(scope="module")
def pg_warehouse(pg_server):
    url = pg_server.create_database()
    counts = load_warehouse(url, DemoSize.scaled(0.004), end=date(2026, 11, 1))
    return url, counts


def _norm(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = pd.to_datetime(out[c]).dt.tz_localize(None) if getattr(out[c].dt, "tz", None) else out[c]
            out[c] = out[c].astype("datetime64[us]")
        elif out[c].dtype == object and len(out) and isinstance(out[c].dropna().iloc[0], date):
            out[c] = pd.to_datetime(out[c]).astype("datetime64[us]")
        elif pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype(float).round(6)
    return out.reset_index(drop=True)


@pytest.mark.postgres
@pytest.mark.parametrize("spec", [r["query"] for r in DEMO_REPORTS] + EXTRA, ids=lambda s: s["source"])
def test_same_answers_on_duckdb_and_postgresql(spec, pg_warehouse, warehouse_url):
    pg_url, _ = pg_warehouse
    duck, pg = make_warehouse_engine(warehouse_url), make_engine(pg_url)
    scope = Scope.of("acme")
    try:
        a = run_query(spec, catalog=DEMO_CATALOG, scope=scope, engine=duck, now=NOW).frame
        b = run_query(spec, catalog=DEMO_CATALOG, scope=scope, engine=pg, now=NOW).frame
    finally:
        duck.dispose()
        pg.dispose()
    assert len(a) > 0
    pd.testing.assert_frame_equal(_norm(a), _norm(b), check_dtype=False, check_exact=False, rtol=1e-6)


@pytest.mark.postgres
def test_postgres_counts_and_estimate(pg_warehouse, warehouse_url):
    pg_url, counts = pg_warehouse
    duck = make_warehouse_engine(warehouse_url)
    duck_counts = {t: int(pd.read_sql(f"SELECT count(*) AS n FROM {t}", duck)["n"][0]) for t in counts}
    duck.dispose()
    assert counts == duck_counts  # the generator is deterministic; COPY lost nothing
    pg = make_engine(pg_url)
    est = estimate_query(
        {"source": "tickets", "metrics": [{"agg": "count"}]},
        catalog=DEMO_CATALOG,
        scope=Scope.of("acme"),
        engine=pg,
    )
    pg.dispose()
    assert est.method == "postgresql-explain" and est.scanned_rows > 0
