"""compile_query is pure: these tests need no server."""

from datetime import datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from portal.data.catalog import DEMO_CATALOG
from portal.data.query import compile_query, resolve_value
from portal.errors import InvalidSpec, PermissionDenied
from portal.identity.scope import Scope
from tests.support.sql import compiled_sql, duck_dialect

NOW = datetime(2026, 11, 25, 14, 37, 12)
ACME = Scope.of("acme")


def q(**kw):
    return {"source": "tickets", "metrics": [{"agg": "count"}], **kw}


def test_tenant_filter_always_bound():
    sql, params = compiled_sql(compile_query(q(), DEMO_CATALOG, ACME, now=NOW).statement)
    assert "tenant_key = " in sql
    assert params["scope_tenant"] == "acme"
    assert "acme" not in sql


def test_scope_restrictions_are_row_filters():
    scope = Scope.of("acme", locations=[3, 1], contracts=[7])
    sql, params = compiled_sql(compile_query(q(), DEMO_CATALOG, scope, now=NOW).statement)
    assert "location_id IN" in sql and "contract_id IN" in sql
    assert params["scope_location"] == [1, 3]
    assert params["scope_contract"] == [7]


def test_empty_scope_matches_nothing():
    sql, _ = compiled_sql(compile_query(q(), DEMO_CATALOG, Scope.of("acme", locations=[]), now=NOW).statement)
    assert "false" in sql.lower() or "0 = 1" in sql


def test_relative_window_and_params():
    cq = compile_query(
        q(
            filters=[
                {"column": "opened_at", "op": "between", "value": "{{now-7d}}..{{now}}"},
                {"column": "customer_name", "op": "=", "value": "{{params.customer}}"},
                {"column": "agent_name", "op": "like", "value": "%{{who}}%"},
            ],
            params={"customer": "Padaria X", "who": "Ana"},
        ),
        DEMO_CATALOG,
        ACME,
        now=NOW,
    )
    _, params = compiled_sql(cq.statement)
    assert params["f0lo"] == datetime(2026, 11, 18, 14, 37)  # truncated to the minute
    assert params["f0hi"] == datetime(2026, 11, 25, 14, 37)
    assert params["f1"] == "Padaria X"
    assert params["f2"] == "%Ana%"


def test_runtime_params_override_spec_params():
    cq = compile_query(
        q(filters=[{"column": "priority", "op": "=", "value": "{{p}}"}], params={"p": "low"}),
        DEMO_CATALOG,
        ACME,
        params={"p": "urgent"},
        now=NOW,
    )
    assert compiled_sql(cq.statement)[1]["f0"] == "urgent"


def test_missing_param_names_field():
    with pytest.raises(InvalidSpec) as e:
        compile_query(
            q(filters=[{"column": "priority", "op": "=", "value": "{{params.prio}}"}]), DEMO_CATALOG, ACME
        )
    assert e.value.field == "filters[0].value"
    assert "prio" in e.value.message


def test_unknown_column_suggests_closest():
    with pytest.raises(InvalidSpec) as e:
        compile_query(q(group_by=["team_nme"]), DEMO_CATALOG, ACME)
    assert e.value.field == "group_by[0].column"
    assert "team_name" in e.value.message


def test_unknown_source_suggests_closest():
    with pytest.raises(InvalidSpec) as e:
        compile_query({"source": "ticket", "metrics": [{"agg": "count"}]}, DEMO_CATALOG, ACME)
    assert e.value.field == "source" and "'tickets'" in e.value.message


@pytest.mark.parametrize(
    ("filt", "field"),
    [
        ({"column": "resolution_hours", "op": ">", "value": "fast"}, "filters[0].value"),
        ({"column": "opened_at", "op": ">", "value": "yesterday-ish"}, "filters[0].value"),
        ({"column": "ticket_id", "op": "in", "value": [1, "x"]}, "filters[0].value[1]"),
        ({"column": "sla_breached", "op": "=", "value": "maybe"}, "filters[0].value"),
        ({"column": "ticket_id", "op": "like", "value": "1%"}, "filters[0].op"),
        ({"column": "opened_at", "op": ">", "value": "{{now-7q}}"}, "filters[0].value"),
    ],
)
def test_bad_values(filt, field):
    with pytest.raises(InvalidSpec) as e:
        compile_query(q(filters=[filt]), DEMO_CATALOG, ACME, now=NOW)
    assert e.value.field == field


def test_sum_of_text_is_invalid():
    with pytest.raises(InvalidSpec) as e:
        compile_query(
            {"source": "tickets", "metrics": [{"agg": "sum", "column": "team_name"}]}, DEMO_CATALOG, ACME
        )
    assert e.value.field == "metrics[0].column"


def test_bucket_on_text_is_invalid():
    with pytest.raises(InvalidSpec) as e:
        compile_query(q(group_by=[{"column": "team_name", "bucket": "day"}]), DEMO_CATALOG, ACME)
    assert e.value.field == "group_by[0].bucket"


def test_sort_must_name_result_column():
    with pytest.raises(InvalidSpec) as e:
        compile_query(q(group_by=["team_name"], sort=[{"by": "nope"}]), DEMO_CATALOG, ACME)
    assert e.value.field == "sort[0].by"


def test_scope_on_unscopable_dimension_fails_closed():
    from dataclasses import replace

    src = DEMO_CATALOG.source("tickets")
    no_loc = replace(src, scope={"tenant": "tenant_key"})
    cat = replace(DEMO_CATALOG, sources=(no_loc,))
    with pytest.raises(PermissionDenied):
        compile_query(q(), cat, Scope.of("acme", locations=[1]))
    compile_query(q(), cat, ACME)  # unrestricted scope is fine


def test_dialects_render_buckets_and_percentiles():
    spec = q(
        metrics=[
            {"agg": "percentile", "column": "resolution_hours", "p": 0.9},
            {"agg": "median", "column": "resolution_hours"},
        ],
        group_by=[
            {"column": "opened_at", "bucket": "week"},
            {"column": "opened_at", "bucket": "hour_of_day"},
        ],
    )
    st = compile_query(spec, DEMO_CATALOG, ACME).statement
    duck = str(st.compile(dialect=duck_dialect()))
    pg = str(st.compile(dialect=postgresql.dialect()))
    lite = str(st.compile(dialect=sqlite.dialect()))
    assert "quantile_cont(resolution_hours, 0.9)" in duck and "date_trunc('week', opened_at)" in duck
    assert "percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution_hours)" in pg
    assert "percentile_cont(0.5)" in pg
    assert "strftime" in lite


def test_max_rows_caps_limit():
    st = compile_query(q(limit=50_000), DEMO_CATALOG, ACME, max_rows=100).statement
    sql, _ = compiled_sql(st)
    assert "LIMIT 100" in sql


def test_raw_columns_mode_sorts_by_any_column():
    st = compile_query(
        {
            "source": "tickets",
            "columns": ["ticket_id", "priority"],
            "sort": [{"by": "opened_at", "desc": True}],
        },
        DEMO_CATALOG,
        ACME,
    ).statement
    sql, _ = compiled_sql(st)
    assert "ORDER BY opened_at DESC" in sql


def test_resolve_value_nested_and_unknown_placeholder():
    assert resolve_value(["{{a}}", 2], {"a": 1}, NOW, field="v") == [1, 2]
    with pytest.raises(InvalidSpec) as e:
        resolve_value("{{ 1+1 }}", {}, NOW, field="v")
    assert "placeholder" in e.value.message


def test_integers_outside_bigint_are_invalid():
    with pytest.raises(InvalidSpec) as e:
        compile_query(q(filters=[{"column": "ticket_id", "op": "=", "value": 2**128}]), DEMO_CATALOG, ACME)
    assert e.value.field == "filters[0].value"
