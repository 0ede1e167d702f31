"""Every warehouse query runs under a statement timeout and can be interrupted (graceful shutdown).

The slow queries are real: a DuckDB view over a cross join (several seconds of work
if nothing stops it) and a PostgreSQL view that sleeps 5 s, both catalogued for the
test and run through the normal ``Warehouse.run`` / ``Warehouse.estimate`` path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine, event

from portal.data.catalog import DEMO_CATALOG, Catalog, Column, Source
from portal.data.warehouse import Warehouse
from portal.demo.accounts import DEV_PASSWORD
from portal.errors import QueryInterrupted, QueryTimeout
from portal.identity.scope import Scope
from portal.infra.db import make_engine, make_warehouse_engine

ACME = Scope.of("acme")
TIMEOUT = 0.5
#: How long a stopped query may take to return (the timeout plus slack for a loaded machine).
PROMPT = 2.5

_COLS = (Column("tenant_key", "string"), Column("x", "int"))
_SCOPE = {"tenant": "tenant_key"}
SLOW_CATALOG = Catalog(
    sources=(
        Source("slow", "slow", "Slow", _COLS, scope=_SCOPE),  # type: ignore[arg-type]
        Source("slow_plan", "slow_plan", "Slow to plan", _COLS, scope=_SCOPE),  # type: ignore[arg-type]
        Source("fast", "fast", "Fast", _COLS, scope=_SCOPE),  # type: ignore[arg-type]
    )
)
SLOW = {
    "source": "slow",
    "metrics": [{"agg": "sum", "column": "x"}],
    "filters": [{"column": "x", "op": "!=", "value": 3}],
}
SLOW_PLAN = {**SLOW, "source": "slow_plan"}
FAST = {"source": "fast", "metrics": [{"agg": "sum", "column": "x"}]}


def _stopped_message(seconds: float) -> str:
    return (
        f"query took longer than {seconds:g} s and was stopped; narrow the filters or mark the report heavy"
    )


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[BaseException | None, float]:
    t0 = time.perf_counter()
    try:
        fn(*args, **kw)
    except BaseException as exc:
        return exc, time.perf_counter() - t0
    return None, time.perf_counter() - t0


def _run_in_thread(wh: Warehouse, spec: dict[str, Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def work() -> None:
        out["error"], out["seconds"] = _timed(wh.run, spec, ACME, use_cache=False)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t, out


def _wait_running(wh: Warehouse, n: int) -> None:
    deadline = time.monotonic() + 10
    while wh.running.count < n:
        assert time.monotonic() < deadline, "the queries never started"
        time.sleep(0.01)
    time.sleep(0.2)  # let them get into the warehouse, past the driver's first round trip


# --------------------------------------------------------------------------- DuckDB
@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = tmp_path_factory.mktemp("slow") / "slow.duckdb"
    con = duckdb.connect(str(path))
    # 2 billion rows to aggregate: several seconds on any machine if nothing stops it.
    con.execute(
        "CREATE VIEW slow AS SELECT 'acme' AS tenant_key, a.range % 7 AS x FROM range(200000000) a, range(10) b"
    )
    con.execute("CREATE VIEW slow_plan AS SELECT * FROM slow")
    con.execute("CREATE VIEW fast AS SELECT 'acme' AS tenant_key, range AS x FROM range(10)")
    con.close()
    engine = make_warehouse_engine(f"duckdb:///{path}")
    yield engine
    engine.dispose()


def test_duckdb_query_times_out_and_the_connection_is_usable_again(duck):
    wh = Warehouse(SLOW_CATALOG, duck, timeout_seconds=TIMEOUT)
    for _ in range(2):  # the second time on the connection (or its replacement) the first one left
        err, seconds = _timed(wh.run, SLOW, ACME, use_cache=False)
        assert isinstance(err, QueryTimeout), err
        assert seconds < PROMPT
        assert err.message == _stopped_message(TIMEOUT)
        assert 400 <= err.status < 500
        assert wh.run(FAST, ACME).frame.iloc[0, 0] == 45
    assert wh.running.count == 0
    assert duck.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_duckdb_estimate_times_out(duck):
    wh = Warehouse(SLOW_CATALOG, duck, timeout_seconds=TIMEOUT)
    err, seconds = _timed(wh.estimate, SLOW, ACME)
    assert isinstance(err, QueryTimeout), err
    assert seconds < PROMPT
    assert wh.estimate(FAST, ACME).scanned_rows == 10


def test_run_takes_a_longer_timeout_for_heavy_work(duck):
    wh = Warehouse(SLOW_CATALOG, duck, timeout_seconds=TIMEOUT)
    err, seconds = _timed(wh.run, SLOW, ACME, use_cache=False, timeout=2 * TIMEOUT)
    assert isinstance(err, QueryTimeout) and err.message == _stopped_message(2 * TIMEOUT)
    assert 2 * TIMEOUT <= seconds < PROMPT + TIMEOUT


def test_interrupt_all_stops_running_duckdb_queries(duck):
    wh = Warehouse(SLOW_CATALOG, duck, timeout_seconds=60)
    runs = [_run_in_thread(wh, SLOW) for _ in range(2)]
    _wait_running(wh, 2)
    t0 = time.perf_counter()
    assert wh.interrupt_all() == 2
    for t, _ in runs:
        t.join(PROMPT)
    assert time.perf_counter() - t0 < PROMPT
    for t, out in runs:
        assert not t.is_alive()
        assert isinstance(out["error"], QueryInterrupted), out
        assert out["error"].status == 503
    assert wh.running.count == 0 and wh.interrupt_all() == 0
    assert wh.run(FAST, ACME).frame.iloc[0, 0] == 45


def test_many_not_in_values_run_quickly(warehouse_url):
    # 5 x 1,000 values used to take seconds in building the parameter list (quadratic), not in DuckDB
    engine = make_warehouse_engine(warehouse_url)
    try:
        wh = Warehouse(DEMO_CATALOG, engine, timeout_seconds=10)
        spec = {
            "source": "tickets",
            "metrics": [{"agg": "count"}],
            "filters": [
                {
                    "column": "ticket_id",
                    "op": "not_in",
                    "value": list(range(10**7 * (i + 1), 10**7 * (i + 1) + 1000)),
                }
                for i in range(5)
            ],
        }
        t0 = time.perf_counter()
        n = wh.run(spec, ACME, use_cache=False).frame.iloc[0, 0]
        seconds = time.perf_counter() - t0
        assert n == wh.run({"source": "tickets", "metrics": [{"agg": "count"}]}, ACME).frame.iloc[0, 0]
        # A guard against the quadratic plan (minutes), with room for a loaded CI machine.
        assert seconds < 6
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- PostgreSQL
@pytest.fixture(scope="module")
def pg(pg_server) -> Iterator[Engine]:
    url = pg_server.create_database()
    engine = make_engine(url)
    with engine.begin() as c:
        # 20 rows x 0.25 s: 5 s unless stopped
        c.exec_driver_sql(
            "CREATE VIEW slow AS SELECT 'acme'::text AS tenant_key, g AS x "
            "FROM generate_series(1, 20) g WHERE pg_sleep(0.25) IS NOT NULL"
        )
        # an immutable function is folded at plan time: even EXPLAIN (the estimate) sleeps 5 s
        c.exec_driver_sql(
            "CREATE FUNCTION slow_const() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1 FROM pg_sleep(5)'"
        )
        c.exec_driver_sql("CREATE VIEW slow_plan AS SELECT 'acme'::text AS tenant_key, slow_const() AS x")
        c.exec_driver_sql(
            "CREATE VIEW fast AS SELECT 'acme'::text AS tenant_key, g AS x FROM generate_series(0, 9) g"
        )
    yield engine
    engine.dispose()
    pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.mark.postgres
def test_postgres_query_times_out_and_the_setting_does_not_leak(pg):
    wh = Warehouse(SLOW_CATALOG, pg, timeout_seconds=TIMEOUT)
    err, seconds = _timed(wh.run, SLOW, ACME, use_cache=False)
    assert isinstance(err, QueryTimeout), err
    assert seconds < PROMPT
    assert err.message == _stopped_message(TIMEOUT)
    assert wh.run(FAST, ACME).frame.iloc[0, 0] == 45
    with pg.connect() as c:  # SET LOCAL ended with the query's transaction
        assert c.exec_driver_sql("SHOW statement_timeout").scalar_one() == "0"


@pytest.mark.postgres
def test_postgres_estimate_runs_under_the_timeout(pg):
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    wh = Warehouse(SLOW_CATALOG, pg, timeout_seconds=TIMEOUT)
    event.listen(pg, "before_cursor_execute", record)
    try:
        err, seconds = _timed(wh.estimate, SLOW_PLAN, ACME)
    finally:
        event.remove(pg, "before_cursor_execute", record)
    assert isinstance(err, QueryTimeout), err
    assert seconds < PROMPT
    assert any(s.startswith("SET LOCAL statement_timeout") for s in statements)
    assert wh.estimate(FAST, ACME).method == "postgresql-explain"


@pytest.mark.postgres
def test_interrupt_all_cancels_running_postgres_queries(pg):
    wh = Warehouse(SLOW_CATALOG, pg, timeout_seconds=60)
    t, out = _run_in_thread(wh, SLOW)
    _wait_running(wh, 1)
    t0 = time.perf_counter()
    assert wh.interrupt_all() == 1
    t.join(PROMPT)
    assert not t.is_alive() and time.perf_counter() - t0 < PROMPT
    assert isinstance(out["error"], QueryInterrupted), out
    assert wh.run(FAST, ACME).frame.iloc[0, 0] == 45


# --------------------------------------------------------------------------- REST
@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "query": {
                    "source": "tickets",
                    "metrics": [{"agg": "count"}],
                    "filters": [{"column": "opened_at", "op": ">=", "value": "{{now-999999y}}"}],
                }
            },
            "filters[0].value",
        ),
        (
            {
                "query": {
                    "source": "tickets",
                    "metrics": [{"agg": "count"}],
                    "filters": [
                        {"column": "opened_at", "op": "between", "value": "{{now-999999y}}..{{now}}"}
                    ],
                }
            },
            "filters[0].value[0]",
        ),
        (
            {
                "query": {
                    "source": "tickets",
                    "metrics": [{"agg": "count"}],
                    "filters": [{"column": "status", "value": "\ud800"}],
                }
            },
            "filters.0.value",
        ),
        (
            {
                "query": {
                    "source": "tickets",
                    "metrics": [{"agg": "count"}],
                    "filters": [{"column": "status", "value": "{{params.s}}"}],
                },
                "params": {"s": "\ud800"},
            },
            "params.s",
        ),
        (
            {
                "query": {
                    "source": "tickets",
                    "metrics": [{"agg": "count"}],
                    "filters": [{"column": "ticket_id", "op": "not_in", "value": list(range(1000))}] * 6,
                }
            },
            "filters",
        ),
    ],
    ids=["overflow", "overflow-range", "surrogate", "surrogate-param", "too-many-values"],
)
def test_rest_api_answers_hostile_queries_with_4xx(api, body, field):
    # The query engine answers 422 naming the field; the REST layer may refuse lone
    # surrogates earlier, while parsing the body (400, field "body.query...").
    s = api.login("viewer@acme.example.com", DEV_PASSWORD)
    for path in ("/api/query", "/api/query/estimate"):
        r = s.post(f"{api.base}{path}", json=body)  # json.dumps writes the lone surrogate as \ud800
        assert r.status_code in (400, 422), r.text
        assert r.json()["field"].endswith(field), r.text
