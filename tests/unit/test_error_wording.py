"""One user-facing wording for errors: ``<field>: <what is wrong>``, never pydantic's developer text;
reversed ranges and unknown values of low-cardinality columns are errors naming the filter."""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.data.catalog import DEMO_CATALOG
from portal.data.query import compile_query
from portal.errors import InvalidSpec, closest, not_among
from portal.identity.scope import Scope
from portal.reports import ReportIn
from portal.specs import ChartSpec, QuerySpec, parse_spec

ACME = Scope("acme")
NOW = datetime(2026, 11, 18, 12, 0)
Q = {"source": "tickets", "metrics": [{"agg": "count", "as": "n"}]}
DEVELOPER_WORDS = ("Value error", "Input should", "QuerySpec", "ChartSpec", "ReportIn", "Field required")


def message(model, data) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as e:
        parse_spec(model, data)
    for words in DEVELOPER_WORDS:
        assert words not in e.value.message, e.value.message
    assert e.value.message.startswith(f"{e.value.field}: "), e.value.message
    return e.value


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({**Q, "limit": 0}, "limit", "limit: must be at least 1 (got 0)"),
        ({**Q, "limit": -5}, "limit", "limit: must be at least 1 (got -5)"),
        ({**Q, "limit": 100_001}, "limit", "limit: must be at most 100000 (got 100001)"),
        ({**Q, "limit": "many"}, "limit", "limit: must be a whole number"),
        ({"source": "tickets"}, "query", "query: give at least one of metrics, group_by or columns"),
        ({**Q, "metrics": [{"agg": "sum"}]}, "metrics.0", "metrics.0: agg 'sum' needs a column"),
        ({"metrics": [{"agg": "count"}]}, "source", "source: is required"),
        ({**Q, "colour": "red"}, "colour", "colour: unknown field"),
        ([], "query", "query: must be an object"),
    ],
)
def test_query_spec_errors_read_field_colon_problem(data, field, text):
    e = message(QuerySpec, data)
    assert (e.field, e.message) == (field, text)


def test_choices_name_the_closest_valid_one():
    e = message(QuerySpec, {**Q, "metrics": [{"agg": "Count"}]})
    assert e.field == "metrics.0.agg"
    assert e.message.endswith(
        "is not one of count, count_distinct, sum, avg, min, max, percentile, median; did you mean 'count'?"
    )
    e = message(ChartSpec, {"viz": "bars", "x": "a", "y": ["b"]})
    assert e.field == "viz" and "did you mean 'bar'?" in e.message


def test_union_values_say_what_is_accepted_once():
    e = message(QuerySpec, {**Q, "params": {"team": {"nested": 1}}})
    assert e.field == "params.team"
    assert e.message.startswith("params.team: must be text, a whole number, a number, true or false")
    assert "(and" not in e.message  # the union's members are not counted as separate problems


def test_nested_models_name_the_path():
    e = message(ReportIn, {"name": "", "query": Q})
    assert e.message == "name: must not be empty"
    e = message(ReportIn, {"name": "x", "query": {**Q, "limit": 0}})
    assert e.field == "query.limit" and e.message.startswith("query.limit: must be at least 1")


def test_closest_prefers_the_same_word_in_another_case_or_accent():
    assert closest("High", ["low", "normal", "high", "urgent"]) == "high"
    assert closest("sao paulo", ["Rio", "São Paulo"]) == "São Paulo"
    assert closest("zzz", ["low", "high"]) is None
    e = not_among("priority", "HIGH", ["low", "high"], field="filters[0].value")
    assert (
        e.message
        == "filters[0].value: 'HIGH' is not a known priority (known: low, high); did you mean 'high'?"
    )


def test_reversed_range_is_an_error_naming_the_filter():
    for value in ("{{now}}..{{now-30d}}", ["2026-02-01", "2026-01-01"]):
        spec = {**Q, "filters": [{"column": "opened_at", "op": "between", "value": value}]}
        with pytest.raises(InvalidSpec) as e:
            compile_query(spec, DEMO_CATALOG, ACME, now=NOW)
        assert e.value.field == "filters[0].value"
        assert "'opened_at' starts after it ends" in e.value.message
    spec = {**Q, "filters": [{"column": "resolution_hours", "op": "between", "value": [10, 2]}]}
    with pytest.raises(InvalidSpec, match="starts after it ends"):
        compile_query(spec, DEMO_CATALOG, ACME, now=NOW)
    fine = {**Q, "filters": [{"column": "opened_at", "op": "between", "value": "{{now-30d}}..{{now}}"}]}
    compile_query(fine, DEMO_CATALOG, ACME, now=NOW)


@pytest.mark.parametrize(
    ("flt", "field", "hint"),
    [
        ({"column": "priority", "op": "=", "value": "High"}, "filters[0].value", "high"),
        ({"column": "priority", "op": "!=", "value": "URGENT"}, "filters[0].value", "urgent"),
        (
            {"column": "channel", "op": "in", "value": ["email", "WhatsApp"]},
            "filters[0].value[1]",
            "whatsapp",
        ),
        ({"column": "status", "op": "not_in", "value": ["Closed"]}, "filters[0].value[0]", "closed"),
        ({"column": "priority", "op": "in", "value": "{{params.p}}"}, "filters[0].value[0]", "high"),
    ],
)
def test_unknown_values_of_known_columns_name_the_valid_one(flt, field, hint):
    with pytest.raises(InvalidSpec) as e:
        compile_query({**Q, "filters": [flt], "params": {"p": ["Hi gh"]}}, DEMO_CATALOG, ACME, now=NOW)
    assert e.value.field == field
    assert e.value.message.endswith(f"did you mean {hint!r}?"), e.value.message


def test_known_values_and_free_text_columns_still_compile():
    ok = [
        {"column": "priority", "op": "in", "value": ["high", "urgent"]},
        {"column": "status", "op": "!=", "value": "closed"},
        {"column": "priority", "op": "like", "value": "h%"},  # like: a pattern, not a value
        {"column": "team_name", "op": "=", "value": "Anything at all"},  # no known values listed
    ]
    compile_query({**Q, "filters": ok}, DEMO_CATALOG, ACME, now=NOW)
