import pytest

from portal.errors import InvalidSpec
from portal.specs import QuerySpec, parse_spec


def spec(**kw):
    return parse_spec(QuerySpec, {"source": "tickets", **kw})


def test_minimal_and_names():
    s = spec(
        metrics=[
            {"agg": "count"},
            {"agg": "percentile", "column": "x", "p": 0.9},
            {"agg": "sum", "column": "y"},
        ],
        group_by=["team_name", {"column": "opened_at", "bucket": "day"}],
    )
    assert s.output_names == ["team_name", "opened_at_day", "count", "p90_x", "sum_y"]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({}, "source"),
        ({"metrics": [{"agg": "sum"}]}, "metrics.0"),
        ({"metrics": [{"agg": "percentile", "column": "x"}]}, "metrics.0"),
        ({"metrics": [{"agg": "percentile", "column": "x", "p": 1.5}]}, "metrics.0.p"),
        ({"metrics": [{"agg": "explode", "column": "x"}]}, "metrics.0.agg"),
        ({"metrics": [{"agg": "count", "as": "a b"}]}, "metrics.0.as"),
        ({"metrics": [{"agg": "count"}], "limit": 10**9}, "limit"),
        ({"metrics": [{"agg": "count"}], "limit": 0}, "limit"),
        ({"metrics": [{"agg": "count"}], "filters": [{"column": "a", "op": "in", "value": []}]}, "filters.0"),
        (
            {"metrics": [{"agg": "count"}], "filters": [{"column": "a", "op": "between", "value": [1]}]},
            "filters.0",
        ),
        (
            {"metrics": [{"agg": "count"}], "filters": [{"column": "a", "op": "=", "value": None}]},
            "filters.0",
        ),
        ({"metrics": [{"agg": "count"}], "filters": [{"column": "a", "op": "~"}]}, "filters.0.op"),
        ({"metrics": [{"agg": "count"}], "colour": "red"}, "colour"),
        ({"metrics": [{"agg": "count"}, {"agg": "count"}]}, "QuerySpec"),
        ({"columns": ["a"], "metrics": [{"agg": "count"}]}, "QuerySpec"),
        ({"metrics": [{"agg": "count"}], "params": {"bad name": 1}}, "params"),
    ],
)
def test_invalid_specs_name_the_field(kw, field):
    data = {"source": "tickets", **kw} if kw else {"metrics": [{"agg": "count"}]}
    with pytest.raises(InvalidSpec) as e:
        parse_spec(QuerySpec, data)
    assert e.value.field is not None
    assert e.value.field.startswith(field) or field == "QuerySpec"
    assert e.value.message


def test_frozen():
    s = spec(metrics=[{"agg": "count"}])
    with pytest.raises(Exception):
        s.limit = 5  # type: ignore[misc]
