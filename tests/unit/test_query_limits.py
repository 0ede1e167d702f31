"""Hostile query input is refused with InvalidSpec (a 4xx) naming the field, never a crash (a 500).

Found by an outside probe: relative windows overflowing datetime, lone surrogates
reaching the DuckDB driver, and specs with no size limit.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.data.catalog import DEMO_CATALOG
from portal.data.execute import run_query
from portal.data.query import compile_query
from portal.data.timewindows import parse_time_expr, parse_time_range
from portal.errors import InvalidSpec
from portal.identity.scope import Scope
from portal.infra.db import make_warehouse_engine
from portal.specs import (
    MAX_COLUMNS,
    MAX_FILTER_VALUES,
    MAX_FILTERS,
    MAX_GROUP_BY,
    MAX_LIST_VALUES,
    MAX_METRICS,
    MAX_PARAM_LIST,
    MAX_PARAMS,
    MAX_SORT,
    MAX_TEXT_CHARS,
    Filter,
    QuerySpec,
    parse_spec,
)

NOW = datetime(2026, 11, 25, 14, 37)
ACME = Scope.of("acme")


def _compile(filters=None, runtime=None, **kw):
    spec = {"source": "tickets", "metrics": [{"agg": "count"}], "filters": filters or [], **kw}
    return compile_query(spec, DEMO_CATALOG, ACME, now=NOW, params=runtime)


# --------------------------------------------------------------------------- 1. time offsets
@pytest.mark.parametrize(
    ("op", "value", "field"),
    [
        (">=", "{{now-999999y}}", "filters[0].value"),
        ("<", "{{now+999999y}}", "filters[0].value"),
        (">=", "{{start_of_year-999999M}}", "filters[0].value"),
        (">=", "{{today+999999w}}", "filters[0].value"),
        ("between", "{{now-999999y}}..{{now}}", "filters[0].value[0]"),
        ("between", "{{now}}..{{now+999999y}}", "filters[0].value[1]"),
        ("between", ["{{now-8000y}}", "{{now}}"], "filters[0].value[0]"),
    ],
)
def test_time_offset_overflow_is_an_invalid_spec_naming_the_field(op, value, field):
    with pytest.raises(InvalidSpec) as e:
        _compile([{"column": "opened_at", "op": op, "value": value}])
    assert e.value.field == field
    assert e.value.message.startswith(f"{field}: time offset out of range")
    assert "1..9999" in e.value.message


def test_time_offset_overflow_inside_text_and_params():
    with pytest.raises(InvalidSpec, match=r"filters\[0\]\.value: time offset out of range"):
        _compile([{"column": "status", "op": "=", "value": "x {{now+999999y}}"}])
    spec = {
        "source": "tickets",
        "metrics": [{"agg": "count"}],
        "filters": [{"column": "opened_at", "op": ">=", "value": "{{params.since}}"}],
        "params": {"since": "{{now-999999y}}"},
    }
    # a param holding placeholder text is used as text (not resolved again): a bad datetime, no crash
    with pytest.raises(InvalidSpec, match=r"filters\[0\]\.value"):
        compile_query(spec, DEMO_CATALOG, ACME, now=NOW)


def test_largest_offsets_within_range_still_work():
    assert parse_time_expr("now-2025y", NOW) == datetime(1, 11, 25, 14, 37)
    assert parse_time_expr("now+7973y", NOW) == datetime(9999, 11, 25, 14, 37)
    assert parse_time_expr("now-999999m", NOW) is not None  # 6 digits of minutes is under two years
    for expr in ("now-2026y", "now+7974y", "start_of_month-999999d"):
        with pytest.raises(InvalidSpec, match="time offset out of range"):
            parse_time_expr(expr, NOW, field="f")


def test_parse_time_expr_names_the_field_it_is_given():
    with pytest.raises(InvalidSpec) as e:
        parse_time_expr("now-999999y", NOW, field="time_range")
    assert e.value.field == "time_range"
    assert e.value.message.startswith("time_range: time offset out of range in {{now-999999y}}")


@pytest.mark.parametrize(
    "time_range",
    ["{{now-999999y}}..{{now}}", "{{now}}..{{now+999999y}}", "{{start_of_year-999999M}}..{{now}}"],
)
def test_dashboard_time_range_overflow_is_an_invalid_spec(time_range):
    with pytest.raises(InvalidSpec, match="time offset out of range"):
        parse_time_range(time_range, NOW)


# --------------------------------------------------------------------------- 2. text that is not UTF-8
LONE = "\ud800"  # what json.loads makes of "\ud800": a str no driver can encode


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"filters": [{"column": "status", "value": LONE}]}, "filters.0.value"),
        ({"filters": [{"column": "status", "value": "open" + LONE}]}, "filters.0.value"),
        ({"filters": [{"column": "status", "op": "in", "value": ["open", LONE]}]}, "filters.0.value"),
        ({"filters": [{"column": "status", "op": "like", "value": f"%{LONE}%"}]}, "filters.0.value"),
        ({"filters": [{"column": LONE, "value": 1}]}, "filters.0.column"),
        ({"params": {"p": LONE}}, "params"),
        ({"params": {"p": ["a", LONE]}}, "params"),
        ({"source": "tick" + LONE}, "source"),
        ({"columns": ["status", LONE], "metrics": []}, "columns.1"),
        ({"metrics": [{"agg": "sum", "column": LONE}]}, "metrics.0.column"),
        ({"group_by": [LONE]}, "group_by.0.column"),
        ({"sort": [{"by": LONE}]}, "sort.0.by"),
    ],
)
def test_text_that_is_not_utf8_is_refused_naming_the_field(kw, field):
    with pytest.raises(InvalidSpec) as e:
        _compile(**kw)
    assert e.value.field is not None and e.value.field.startswith(field), e.value.field
    assert "UTF-8" in e.value.message
    assert LONE not in e.value.message  # the message itself must be printable and loggable
    e.value.message.encode("utf-8")


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"p": LONE}, "params.p"),
        ({"p": ["ok", LONE]}, "params.p.1"),
        ({LONE: "x"}, "params"),
    ],
)
def test_runtime_params_that_are_not_utf8_are_refused(runtime, field):
    filters = [{"column": "status", "value": "{{params.p}}"}]
    with pytest.raises(InvalidSpec) as e:
        _compile(filters, runtime=runtime)
    assert e.value.field == field
    assert "UTF-8" in e.value.message


def test_request_json_walker_finds_surrogates_in_lists_and_dicts():
    # The REST edge (portal.web.jsonsafe) checks whole bodies; specs check their own fields (above).
    from portal.errors import BadRequest
    from portal.web.jsonsafe import check_value

    check_value({"a": ["b", 1, None, {"c": "déjà vu ✓"}]}, "body")  # fine: real text, any language
    with pytest.raises(BadRequest) as e:
        check_value({"a": ["b", {"c": "x" + LONE}]}, "body")
    assert e.value.field == "body.a.1.c"


def test_surrogates_never_reach_the_duckdb_driver(warehouse_url):
    engine = make_warehouse_engine(warehouse_url)
    try:
        spec = {
            "source": "tickets",
            "metrics": [{"agg": "count"}],
            "filters": [{"column": "status", "op": "in", "value": ["{{params.s}}"]}],
        }
        for params in ({"s": LONE}, {"s": "open"}):
            try:
                res = run_query(spec, catalog=DEMO_CATALOG, scope=ACME, engine=engine, params=params)
            except InvalidSpec as e:
                assert params["s"] == LONE and e.field == "params.s"
            else:
                assert params["s"] == "open" and res.row_count == 1
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 3a. size limits
COLS = [c.name for c in DEMO_CATALOG.source("tickets").columns]
LONG = "x" * (MAX_TEXT_CHARS + 1)


def _not_in(n, values=(-1,)):
    return [{"column": "ticket_id", "op": "not_in", "value": list(values)} for _ in range(n)]


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"filters": _not_in(MAX_FILTERS + 1)}, "filters", f"at most {MAX_FILTERS}"),
        (
            {"metrics": [{"agg": "count", "as": f"n{i}"} for i in range(MAX_METRICS + 1)]},
            "metrics",
            f"at most {MAX_METRICS}",
        ),
        ({"group_by": (COLS * 2)[: MAX_GROUP_BY + 1]}, "group_by", f"at most {MAX_GROUP_BY}"),
        (
            {"metrics": [], "columns": [f"c{i}" for i in range(MAX_COLUMNS + 1)]},
            "columns",
            f"at most {MAX_COLUMNS}",
        ),
        ({"sort": [{"by": "count"}] * (MAX_SORT + 1)}, "sort", f"at most {MAX_SORT}"),
        (
            {"filters": _not_in(1, range(MAX_LIST_VALUES + 1))},
            "filters.0.value",
            f"at most {MAX_LIST_VALUES}",
        ),
        (
            {"filters": _not_in(MAX_FILTER_VALUES // MAX_LIST_VALUES + 1, range(MAX_LIST_VALUES))},
            "filters",
            f"at most {MAX_FILTER_VALUES} values",
        ),
        ({"filters": [{"column": "status", "value": LONG}]}, "filters.0.value", f"at most {MAX_TEXT_CHARS}"),
        ({"filters": [{"column": "status", "op": "in", "value": ["a", LONG]}]}, "filters.0.value", "at 1"),
        ({"filters": [{"column": LONG, "value": 1}]}, "filters.0.column", f"at most {MAX_TEXT_CHARS}"),
        ({"params": {f"p{i}": i for i in range(MAX_PARAMS + 1)}}, "params", f"at most {MAX_PARAMS}"),
        ({"params": {"ids": list(range(MAX_PARAM_LIST + 1))}}, "params", f"at most {MAX_PARAM_LIST}"),
        ({"params": {"s": LONG}}, "params", f"at most {MAX_TEXT_CHARS}"),
    ],
    ids=[
        "filters",
        "metrics",
        "group_by",
        "columns",
        "sort",
        "in-list",
        "all-values",
        "text-value",
        "text-item",
        "name",
        "params",
        "param-list",
        "param-text",
    ],
)
def test_size_limits_are_invalid_specs_naming_the_field(kw, field, words):
    with pytest.raises(InvalidSpec) as e:
        parse_spec(QuerySpec, {"source": "tickets", "metrics": [{"agg": "count"}], **kw})
    assert e.value.field == field, e.value.message
    assert words in e.value.message


def test_specs_at_the_limits_are_valid():
    full = MAX_FILTER_VALUES // MAX_LIST_VALUES - 1  # lists of MAX_LIST_VALUES values
    singles = MAX_FILTERS - full - 2  # filters of one value
    rest = MAX_FILTER_VALUES - full * MAX_LIST_VALUES - singles - 1  # one more list, to reach the total
    assert 0 < rest <= MAX_LIST_VALUES
    spec = {
        "source": "tickets",
        "metrics": [{"agg": "count", "as": f"n{i}"} for i in range(MAX_METRICS)],
        "group_by": COLS[:MAX_GROUP_BY],
        "filters": [
            *_not_in(full, range(MAX_LIST_VALUES)),
            *_not_in(1, range(rest)),
            *_not_in(singles),
            {"column": "customer_name", "op": "!=", "value": "y" * MAX_TEXT_CHARS},
        ],
        "params": {f"p{i}": "z" * MAX_TEXT_CHARS for i in range(MAX_PARAMS - 1)}
        | {"ids": [1] * MAX_PARAM_LIST},
        "sort": [{"by": f"n{i}"} for i in range(MAX_SORT)],
    }
    qs = parse_spec(QuerySpec, spec)
    assert len(qs.filters) == MAX_FILTERS
    assert sum(len(f.value) if isinstance(f.value, list) else 1 for f in qs.filters) == MAX_FILTER_VALUES
    compile_query(qs, DEMO_CATALOG, ACME, now=NOW)
    raw = {"source": "tickets", "columns": [f"c{i}" for i in range(MAX_COLUMNS)]}  # the catalog checks names
    assert len(parse_spec(QuerySpec, raw).columns) == MAX_COLUMNS


def test_demo_content_is_within_the_limits():
    from portal.demo.showcase import DEMO_DASHBOARDS, DEMO_REPORTS

    for r in DEMO_REPORTS:
        compile_query(r["query"], DEMO_CATALOG, ACME, now=NOW)
    for fields, _widgets in DEMO_DASHBOARDS:
        for q in fields.get("queries", {}).values():
            compile_query(q, DEMO_CATALOG, ACME, now=NOW)


@pytest.mark.parametrize(
    ("runtime", "field", "words"),
    [
        ({f"p{i}": i for i in range(MAX_PARAMS + 1)}, "params", f"at most {MAX_PARAMS}"),
        ({"ids": list(range(MAX_PARAM_LIST + 1))}, "params.ids", f"at most {MAX_PARAM_LIST}"),
        ({"s": LONG}, "params.s", f"at most {MAX_TEXT_CHARS}"),
        ({"s": ["ok", LONG]}, "params.s.1", f"at most {MAX_TEXT_CHARS}"),
    ],
    ids=["count", "list", "text", "text-in-list"],
)
def test_runtime_params_have_the_same_limits(runtime, field, words):
    with pytest.raises(InvalidSpec) as e:
        _compile([{"column": "ticket_id", "op": "in", "value": "{{params.ids}}"}], runtime=runtime)
    assert e.value.field == field, e.value.message
    assert words in e.value.message


def test_list_params_count_towards_the_values_of_all_filters():
    # 6 filters of one placeholder each are 6 values in the spec, but 6,000 once params are filled in
    n = MAX_FILTER_VALUES // MAX_PARAM_LIST + 1
    filters = [{"column": "ticket_id", "op": "not_in", "value": "{{params.ids}}"}] * n
    _compile(filters, runtime={"ids": list(range(MAX_FILTER_VALUES // n))})
    with pytest.raises(InvalidSpec) as e:
        _compile(filters, runtime={"ids": list(range(MAX_PARAM_LIST))})
    assert e.value.field == "filters"
    assert f"at most {MAX_FILTER_VALUES} values" in e.value.message


def test_limits_hold_for_specs_changed_without_validation():
    # model_copy(update=...) skips validators (dashboards add their global filters that way)
    qs = parse_spec(QuerySpec, {"source": "tickets", "metrics": [{"agg": "count"}]})
    bloated = qs.model_copy(
        update={"filters": [Filter(column="ticket_id", op="!=", value=i) for i in range(MAX_FILTERS + 1)]}
    )
    with pytest.raises(InvalidSpec) as e:
        compile_query(bloated, DEMO_CATALOG, ACME, now=NOW)
    assert e.value.field == "filters"
    sneaky = qs.model_copy(update={"filters": [Filter.model_construct(column="status", op="=", value=LONE)]})
    with pytest.raises(InvalidSpec) as e:
        compile_query(sneaky, DEMO_CATALOG, ACME, now=NOW)
    assert e.value.field == "filters.0.value"
