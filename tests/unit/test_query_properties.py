"""Property tests: hostile QuerySpecs give a result or InvalidSpec, never another error,
and never SQL text built from input (values are bound, names come from the catalog)."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from portal.data.catalog import DEMO_CATALOG
from portal.data.execute import fetch_frame
from portal.data.query import compile_query
from portal.errors import InvalidSpec
from portal.identity.scope import Scope

DUCK_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "date": "DATE",
}
HOSTILE = [
    "'; DROP TABLE tickets; --",
    'x" OR 1=1 --',
    "1); DELETE FROM tickets; --",
    "team_name; SELECT 1",
    "{{now-7d}}'||'",
    "\\' OR '1'='1",
    "opened_at) UNION SELECT * FROM pg_user --",
    "%' AND 1=1 --",
    "ñandú 'quoted'",
]
EXECUTED: list[int] = []
COLS = sorted({c.name for s in DEMO_CATALOG.sources for c in s.columns})
names = st.sampled_from(COLS) | st.sampled_from(HOSTILE) | st.text(min_size=1, max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(HOSTILE)
    | st.sampled_from(
        [
            "2025-01-01",
            "2025-13-45",
            "{{now-30d}}",
            "{{start_of_month}}",
            "{{params.p}}",
            "{{now-30d}}..{{now}}",
            "1..5",
            "true",
            "NaN",
        ]
    )
    | st.text(max_size=20)
)
values = scalars | st.lists(scalars, max_size=4) | st.dictionaries(st.text(max_size=3), scalars, max_size=2)
metric = st.fixed_dictionaries(
    {
        "agg": st.sampled_from(
            ["count", "count_distinct", "sum", "avg", "min", "max", "percentile", "median", "x"]
        )
    },
    optional={
        "column": names,
        "as": names | st.sampled_from(["total", "n"]),
        "p": st.floats(-1, 2) | scalars,
    },
)
group = names | st.fixed_dictionaries(
    {"column": names},
    optional={
        "bucket": st.sampled_from(["day", "hour_of_day", "day_of_week", "month", "fortnight"]),
        "as": names,
    },
)
filt = st.fixed_dictionaries(
    {"column": names},
    optional={
        "op": st.sampled_from(
            [
                "=",
                "!=",
                ">",
                ">=",
                "<",
                "<=",
                "in",
                "not_in",
                "between",
                "like",
                "is_null",
                "is_not_null",
                "~",
                "; DROP",
            ]
        ),
        "value": values,
    },
)
spec = st.fixed_dictionaries(
    {"source": st.sampled_from(DEMO_CATALOG.names) | names},
    optional={
        "metrics": st.lists(metric, max_size=3),
        "group_by": st.lists(group, max_size=3),
        "columns": st.lists(names, max_size=3),
        "filters": st.lists(filt, max_size=4),
        "params": st.dictionaries(st.sampled_from(["p", "q", "bad name"]), scalars, max_size=2),
        "sort": st.lists(st.fixed_dictionaries({"by": names}, optional={"desc": st.booleans()}), max_size=2),
        "limit": st.integers(min_value=-5, max_value=10**12),
        "offset": st.integers(min_value=-5, max_value=10**9),
        "version": st.integers(0, 3),
    },
)

# Specs close to valid ones, with hostile values and aliases mixed in, so that many
# reach the warehouse (the property is about those as much as about rejections).
T = DEMO_CATALOG.source("tickets")
tcols = st.sampled_from(T.column_names)
tnum = st.sampled_from([c.name for c in T.columns if c.is_numeric])
ttime = st.sampled_from([c.name for c in T.columns if c.is_time])
plausible = st.fixed_dictionaries(
    {
        "source": st.just("tickets"),
        "metrics": st.lists(
            st.one_of(
                st.just({"agg": "count"}),
                st.builds(
                    lambda a, c: {"agg": a, "column": c},
                    st.sampled_from(["sum", "avg", "min", "max", "median"]),
                    tnum,
                ),
                st.builds(
                    lambda c, p: {"agg": "percentile", "column": c, "p": p}, tnum, st.floats(0.01, 0.99)
                ),
                st.builds(lambda c: {"agg": "count_distinct", "column": c}, tcols),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda m: (m["agg"], m.get("column")),
        ),
        "group_by": st.lists(
            st.one_of(
                tcols,
                st.builds(
                    lambda c, b: {"column": c, "bucket": b},
                    ttime,
                    st.sampled_from(["hour", "day", "week", "month", "day_of_week", "hour_of_day"]),
                ),
            ),
            max_size=2,
            unique_by=lambda g: str(g),
        ),
        "filters": st.lists(
            st.builds(
                lambda c, op, v: {"column": c, "op": op, "value": v},
                tcols,
                st.sampled_from(["=", "!=", ">", "<", "in", "between", "like", "is_null"]),
                values,
            ),
            max_size=3,
        ),
    },
    optional={
        "params": st.dictionaries(st.sampled_from(["p", "q"]), scalars, max_size=2),
        "limit": st.integers(min_value=1, max_value=10**6),
    },
)
spec = spec | plausible


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = tmp_path_factory.mktemp("duck") / "props.duckdb"
    con = duckdb.connect(str(path))
    for s in DEMO_CATALOG.sources:
        cols = ", ".join(f'"{c.name}" {DUCK_TYPES[c.type]}' for c in s.columns)
        con.execute(f"CREATE TABLE {s.table} ({cols})")
    con.execute(
        "INSERT INTO tickets (tenant_key, ticket_id, team_name, opened_at, resolution_hours, sla_breached) "
        "VALUES ('acme', 1, 'Field A', TIMESTAMP '2026-11-20 10:00:00', 3.5, true)"
    )
    con.close()
    eng = create_engine(f"duckdb:///{path}")
    yield eng
    eng.dispose()


def _literals(spec: dict) -> list[str]:
    """Every hostile string in the spec (the ones that must never reach SQL text)."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, str) and v in HOSTILE:
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(spec)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec)
def test_hostile_specs(engine, data):
    scope = Scope.of("acme", locations=[1, 2])
    try:
        cq = compile_query(data, DEMO_CATALOG, scope)
    except InvalidSpec as exc:
        assert exc.field, "InvalidSpec must name a field"
        return
    sql = str(cq.statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True}))
    for lit in _literals(data):
        assert lit not in sql, f"input text {lit!r} reached the SQL"
    frame = fetch_frame(engine, cq.statement)  # must execute: types were checked at compile time
    assert list(frame.columns) == (cq.spec.columns or cq.spec.output_names)
    EXECUTED.append(1)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(HOSTILE), st.sampled_from(["=", "!=", "like", "in", ">"]))
def test_hostile_values_are_bound_on_valid_columns(engine, value, op):
    v = [value] if op == "in" else value
    cq = compile_query(
        {
            "source": "tickets",
            "metrics": [{"agg": "count"}],
            "filters": [{"column": "team_name", "op": op, "value": v}],
        },
        DEMO_CATALOG,
        Scope.of("acme"),
    )
    sql = str(cq.statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True}))
    assert value not in sql
    frame = fetch_frame(engine, cq.statement)
    assert len(frame) == 1


def test_enough_hostile_specs_executed():
    # Guards the generator: if nearly every spec were rejected, the property above would prove little.
    assert len(EXECUTED) >= 20, len(EXECUTED)


def test_scope_isolates_tenants(engine):
    spec = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]}
    acme = fetch_frame(engine, compile_query(spec, DEMO_CATALOG, Scope.of("acme")).statement)
    other = fetch_frame(engine, compile_query(spec, DEMO_CATALOG, Scope.of("globex")).statement)
    assert int(acme["n"][0]) == 1 and int(other["n"][0]) == 0
