"""The rollup matcher (pure): which queries a pre-aggregation answers exactly, and which it must not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from portal.dashboards.drill import apply_filters
from portal.data.catalog import DEMO_CATALOG
from portal.data.query import compile_query
from portal.data.rollups import (
    ANSWERABLE_BUCKETS,
    DEMO_ROLLUPS,
    ROW_COUNT,
    Output,
    Rewrite,
    Rollup,
    answer,
    floor_time,
    measure_column,
    rollup_source,
)
from portal.data.timewindows import previous_window
from portal.identity.scope import Scope
from portal.specs import DashboardFilters, QuerySpec

MIDNIGHT = datetime(2026, 11, 2)  # {{now-7d}} falls on a day boundary
AFTERNOON = datetime(2026, 11, 2, 14, 37)  # it does not
#: (min, max) of opened_at in the built data: everything before AFTERNOON.
EXTENT = (datetime(2025, 6, 1, 0, 6, 54), datetime(2026, 11, 1, 23, 49, 9))
BY_NAME = {r.name: r for r in DEMO_ROLLUPS}
DAILY = BY_NAME["tickets_daily"]
DAILY_CUSTOMER = BY_NAME["tickets_daily_customer"]
HOURLY = BY_NAME["tickets_hourly"]
MONTHLY = Rollup(
    "tickets_monthly",
    "tickets",
    "opened_at",
    DAILY_CUSTOMER.dimensions,
    ("resolution_hours",),
    grain="month",
)


def q(**kw: Any) -> QuerySpec:
    return QuerySpec.model_validate({"source": "tickets", **kw})


def count(**kw: Any) -> QuerySpec:
    return q(metrics=[{"agg": "count", "as": "tickets"}], **kw)


def since(value: str, op: str = ">=") -> list[dict[str, Any]]:
    return [{"column": "opened_at", "op": op, "value": value}]


def match(spec: QuerySpec, rollups: Any = (DAILY,), now: datetime = MIDNIGHT, **kw: Any) -> Rewrite | None:
    return answer(spec, rollups, DEMO_CATALOG, now, **kw)


# --------------------------------------------------------------------------- definitions
def test_demo_rollups_fit_the_catalog_and_carry_every_scope_column() -> None:
    for r in DEMO_ROLLUPS:
        base = r.check(DEMO_CATALOG)
        src = rollup_source(r, DEMO_CATALOG)
        assert set(base.scope.values()) <= set(r.dimensions)
        assert dict(src.scope) == dict(base.scope)
        assert src.table == r.table == f"rollup_{r.name}"
        assert src.find_column(ROW_COUNT) is not None
    names = [r.name for r in DEMO_ROLLUPS]
    assert "tickets_daily" in names and len(set(names)) == len(names)


def test_rollup_source_keeps_dimension_labels_and_known_values() -> None:
    src = rollup_source(DAILY, DEMO_CATALOG)
    base = DEMO_CATALOG.source("tickets")
    assert src.column("priority", field="") == base.column("priority", field="")
    assert src.column("priority", field="").values == ("low", "normal", "high", "urgent")
    assert src.column(measure_column("sla_breached", "sum"), field="").type == "int"
    assert src.column(measure_column("resolution_hours", "sum"), field="").type == "float"
    assert src.column(measure_column("resolution_hours", "count"), field="").type == "int"
    assert src.find_column(measure_column("sla_breached", "min")) is None  # no min(boolean) on PostgreSQL


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dimensions": ("team_name",)}, "scope columns"),
        ({"time_column": "status"}, "not a datetime"),
        ({"dimensions": (*DAILY.dimensions, "nope")}, "no column 'nope'"),
        ({"measures": ("status",)}, "numeric or flag"),
        ({"source": "nowhere"}, "no source"),
    ],
)
def test_a_rollup_that_does_not_fit_its_source_is_refused(kwargs: dict[str, Any], message: str) -> None:
    fields = {
        "name": "x",
        "source": "tickets",
        "time_column": "opened_at",
        "dimensions": DAILY.dimensions,
        "measures": (),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        Rollup(**fields).check(DEMO_CATALOG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "Bad-Name"},
        {"grain": "week"},
        {"dimensions": ("tenant_key", "tenant_key")},
        {"measures": ("opened_at",)},
    ],
)
def test_malformed_definitions_fail_at_once(kwargs: dict[str, Any]) -> None:
    fields = {"name": "x", "source": "tickets", "time_column": "opened_at", "dimensions": (), **kwargs}
    with pytest.raises(ValueError):
        Rollup(**fields)


# --------------------------------------------------------------------------- what matches
@pytest.mark.parametrize(
    "spec",
    [
        count(),
        count(group_by=["team_name"]),
        count(group_by=["priority", "customer_name"], sort=[{"by": "tickets", "desc": True}], limit=10),
        count(group_by=[{"column": "opened_at", "bucket": b, "as": "t"} for b in ["week"]]),
        count(group_by=[{"column": "opened_at", "bucket": "day_of_week", "as": "dow"}, "team_name"]),
        count(filters=[{"column": "priority", "op": "in", "value": ["high", "urgent"]}]),
        count(filters=[{"column": "customer_name", "op": "like", "value": "%a%"}]),
        count(filters=[{"column": "team_name", "op": "!=", "value": "x"}]),
        count(filters=[{"column": "location_id", "op": "not_in", "value": [1, 2]}]),
        count(filters=[{"column": "region", "op": "is_null"}]),
        count(filters=since("{{now-7d}}")),
        count(filters=since("{{start_of_month}}", "<")),
        count(filters=since("{{start_of_week}}", "<")),
        count(filters=since("2026-01-01T00:00:00")),
        count(filters=since("2026-01-01", ">=")),
        count(filters=since("2025-12-31T23:59:59.999999", ">")),
        count(filters=since("2026-10-31T23:59:59.999999", "<=")),
        count(
            filters=[
                {
                    "column": "opened_at",
                    "op": "between",
                    "value": ["2026-01-01", "2026-01-31T23:59:59.999999"],
                }
            ]
        ),
        count(filters=[{"column": "opened_at", "op": "is_not_null"}]),
        count(filters=[{"column": "opened_at", "op": "is_null"}]),
        q(group_by=["customer_name"]),  # distinct values (filter pickers)
        q(metrics=[{"agg": "sum", "column": "reopened"}, {"agg": "sum", "column": "resolution_hours"}]),
        q(
            metrics=[
                {"agg": "min", "column": "resolution_hours"},
                {"agg": "max", "column": "first_response_minutes"},
            ]
        ),
        q(metrics=[{"agg": "count", "column": "resolution_hours"}], group_by=["team_name"]),
        q(metrics=[{"agg": "avg", "column": "sla_breached", "as": "rate"}], group_by=["team_name"]),
        q(
            metrics=[{"agg": "count_distinct", "column": "customer_id", "as": "customers"}],
            group_by=["team_name"],
        ),
        q(metrics=[{"agg": "min", "column": "customer_name"}, {"agg": "max", "column": "priority"}]),
        count(filters=[{"column": "priority", "op": "=", "value": "{{params.p}}"}], params={"p": "high"}),
        count(filters=since("{{params.since}}"), params={"since": "2026-03-01"}),
        count(offset=5, limit=3, group_by=["team_name"]),
    ],
    ids=lambda s: repr(s.model_dump(exclude_defaults=True, by_alias=True))[:90],
)
def test_exact_answers_match(spec: QuerySpec) -> None:
    rw = match(spec)
    assert rw is not None and rw.rollup is DAILY
    assert rw.spec.source == "tickets_daily"
    assert [o.name for o in rw.outputs] == spec.output_names
    assert (rw.spec.limit, rw.spec.offset, rw.spec.sort, rw.spec.params) == (
        spec.limit,
        spec.offset,
        spec.sort,
        spec.params,
    )
    assert rw.spec.group_by == spec.group_by
    # The rewrite compiles on the rollup source, with the scope applied like on the base table.
    src = rollup_source(DAILY, DEMO_CATALOG)
    from portal.data.catalog import Catalog

    cq = compile_query(rw.spec, Catalog((src,)), Scope.of("acme", locations=[1]), now=MIDNIGHT)
    sql = str(cq.statement)
    assert "rollup_tickets_daily" in sql and "tenant_key" in sql and "location_id" in sql


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (count(filters=[{"column": "status", "op": "=", "value": "open"}]), "filter on a non-dimension"),
        (count(filters=[{"column": "resolution_hours", "op": ">", "value": 3}]), "filter on a measure"),
        (count(filters=[{"column": "closed_at", "op": ">=", "value": "2026-01-01"}]), "another time column"),
        (count(group_by=["status"]), "group by a non-dimension"),
        (count(group_by=["agent_name"]), "group by a finer column"),
        (count(group_by=["opened_at"]), "group by the raw time"),
        (count(group_by=[{"column": "opened_at", "bucket": "hour", "as": "h"}]), "finer bucket"),
        (count(group_by=[{"column": "opened_at", "bucket": "hour_of_day", "as": "h"}]), "hour of day"),
        (count(group_by=[{"column": "closed_at", "bucket": "day", "as": "d"}]), "bucket of another time"),
        (count(filters=since("{{now-7d}}")), "mid-day bound"),  # at AFTERNOON below
        (q(metrics=[{"agg": "median", "column": "resolution_hours"}]), "median"),
        (q(metrics=[{"agg": "percentile", "column": "resolution_hours", "p": 0.9}]), "percentile"),
        (q(metrics=[{"agg": "count_distinct", "column": "agent_id"}]), "distinct of a non-dimension"),
        (q(metrics=[{"agg": "count_distinct", "column": "resolution_hours"}]), "distinct of a measure"),
        (q(metrics=[{"agg": "count_distinct", "column": "opened_at"}]), "distinct times"),
        (q(metrics=[{"agg": "min", "column": "opened_at"}]), "min of the truncated time"),
        (q(metrics=[{"agg": "min", "column": "sla_breached"}]), "min of a flag"),
        (q(metrics=[{"agg": "count", "column": "customer_name"}]), "count of a dimension"),
        (q(metrics=[{"agg": "sum", "column": "customer_id"}]), "sum of a dimension"),
        (q(metrics=[{"agg": "avg", "column": "closed_at"}]), "not a measure"),
        (q(columns=["ticket_id", "priority"]), "raw rows"),
        (
            q(
                metrics=[{"agg": "avg", "column": "resolution_hours", "as": "h"}],
                group_by=["team_name"],
                sort=[{"by": "h", "desc": True}],
                limit=5,
            ),
            "sort by an average",
        ),
        (q(source="conversations", metrics=[{"agg": "count"}]), "other source"),
        (count(filters=[{"column": "nope", "op": "=", "value": 1}]), "unknown column"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_inexact_answers_do_not_match(spec: QuerySpec, why: str) -> None:
    assert match(spec, now=AFTERNOON) is None, why


@pytest.mark.parametrize(
    ("value", "op"),
    [
        ("{{now-7d}}", ">="),  # 14:37, seven days ago
        ("2026-01-01T00:00:00", ">"),  # leaves out 00:00:00 itself, not the day
        ("2026-01-01T00:00:00", "<="),  # keeps 00:00:00 of a day it otherwise leaves out
        ("2026-01-01T12:00:00", "<"),
        ("2026-01-01", "="),
        ("2026-01-01", "!="),
        ("{{start_of_month}}..{{now}}", "between"),  # no extent known: {{now}} cuts today
        ("2026-03-01..2026-02-01", "between"),  # a reversed range is the base query's error
        ("{{params.missing}}", ">="),
        ("not a date", ">="),
    ],
)
def test_time_bounds_inside_a_bucket_do_not_match(value: str, op: str) -> None:
    assert match(count(filters=since(value, op)), now=AFTERNOON) is None


def test_time_list_filters_do_not_match() -> None:
    spec = count(filters=[{"column": "opened_at", "op": "in", "value": ["2026-01-01"]}])
    assert match(spec) is None


def test_a_bound_every_built_row_passes_becomes_not_null() -> None:
    spec = count(filters=since("{{start_of_month}}..{{now}}", "between"))
    rw = match(spec, now=AFTERNOON, extents={"tickets_daily": EXTENT})
    assert rw is not None
    assert [(f.op, f.value) for f in rw.spec.filters] == [
        (">=", datetime(2026, 11, 1)),
        ("is_not_null", None),
    ]
    # A lower bound before the first row: also vacuous (but NULL times still do not pass).
    rw = match(count(filters=since("2020-01-01T10:30:00")), now=AFTERNOON, extents={"tickets_daily": EXTENT})
    assert rw is not None and [f.op for f in rw.spec.filters] == ["is_not_null"]
    # An upper bound before the last row cuts a bucket: no.
    assert match(count(filters=since("2026-11-01T12:00:00", "<=")), extents={"tickets_daily": EXTENT}) is None
    # Strict bounds at the very edges.
    assert match(count(filters=since(EXTENT[1].isoformat(), "<")), extents={"tickets_daily": EXTENT}) is None
    lo = (EXTENT[0] - timedelta(microseconds=1)).isoformat()
    assert match(count(filters=since(lo, ">")), extents={"tickets_daily": EXTENT}) is not None
    assert match(count(filters=since(EXTENT[0].isoformat(), ">")), extents={"tickets_daily": EXTENT}) is None


def test_aligned_filters_are_kept_as_written() -> None:
    spec = count(filters=[*since("{{now-30d}}"), *since("{{params.end}}", "<")], params={"end": "2026-11-01"})
    rw = match(spec)
    assert rw is not None and rw.spec.filters == spec.filters
    # A between whose upper end is a boundary keeps the boundary's own instant: not whole days.
    assert match(count(filters=since("{{now-30d}}..{{now-1d}}", "between"))) is None


def test_the_previous_period_of_a_day_aligned_window_matches() -> None:
    # previous_window ends one microsecond before the current window starts: whole days.
    prev = previous_window("{{now-7d}}..{{now}}", MIDNIGHT)
    assert match(count(filters=since(prev, "between"))) is not None
    assert match(count(filters=since(previous_window("{{now-7d}}..{{now}}", AFTERNOON), "between"))) is None


def test_dashboard_time_range_matches_at_midnight_or_with_today_anchored_windows() -> None:
    base = count(group_by=["team_name"])
    f = DashboardFilters(time_range="{{now-90d}}..{{now}}", team=["Field A"])
    spec = apply_filters(base, f, DEMO_CATALOG)
    ext = {"tickets_daily": EXTENT}
    assert match(spec, now=MIDNIGHT, extents=ext) is not None
    assert match(spec, now=AFTERNOON, extents=ext) is None
    today = apply_filters(base, f.model_copy(update={"time_range": "{{today-90d}}..{{now}}"}), DEMO_CATALOG)
    assert match(today, now=AFTERNOON, extents=ext) is not None


@pytest.mark.parametrize(
    ("grain", "bucket", "ok"),
    [
        (g, b, b in ANSWERABLE_BUCKETS[g])
        for g in ("hour", "day", "month")
        for b in (
            "hour",
            "day",
            "week",
            "month",
            "quarter",
            "year",
            "hour_of_day",
            "day_of_week",
            "month_of_year",
        )
    ],
)
def test_buckets_at_least_as_coarse_as_the_grain(grain: str, bucket: str, ok: bool) -> None:
    r = {"hour": HOURLY, "day": DAILY_CUSTOMER, "month": MONTHLY}[grain]
    spec = count(group_by=[{"column": "opened_at", "bucket": bucket, "as": "t"}])
    assert (match(spec, (r,)) is not None) == ok
    expected = {
        "hour": True,
        "day": bucket not in ("hour", "hour_of_day"),
        "month": bucket in ("month", "quarter", "year", "month_of_year"),
    }[grain]
    assert ok == expected


def test_month_grain_needs_month_boundaries() -> None:
    assert match(count(filters=since("{{start_of_month}}")), (MONTHLY,), now=AFTERNOON) is not None
    assert match(count(filters=since("{{start_of_week}}")), (MONTHLY,), now=AFTERNOON) is None
    assert match(count(filters=since("2026-03-01T00:00:00", "<")), (MONTHLY,)) is not None
    assert match(count(filters=since("2026-03-02T00:00:00", "<")), (MONTHLY,)) is None


def test_hour_grain_takes_hour_bounds() -> None:
    assert match(count(filters=since("2026-03-01T13:00:00")), (HOURLY,)) is not None
    assert match(count(filters=since("2026-03-01T13:30:00")), (HOURLY,)) is None


# --------------------------------------------------------------------------- which rollup
def test_the_smallest_rollup_that_answers_wins() -> None:
    kpi = count()
    sizes = {"tickets_daily": 700_000, "tickets_daily_customer": 100_000, "tickets_hourly": 600_000}
    rw = match(kpi, DEMO_ROLLUPS, sizes=sizes)
    assert rw is not None and rw.rollup.name == "tickets_daily_customer"
    by_team = match(count(group_by=["team_name"]), DEMO_ROLLUPS, sizes=sizes)
    assert by_team is not None and by_team.rollup.name == "tickets_daily"
    heat = count(
        group_by=[
            {"column": "opened_at", "bucket": "day_of_week", "as": "dow"},
            {"column": "opened_at", "bucket": "hour_of_day", "as": "hour"},
        ]
    )
    rw = match(heat, DEMO_ROLLUPS, sizes=sizes)
    assert rw is not None and rw.rollup.name == "tickets_hourly"
    # Without sizes: the order given.
    rw = match(kpi, DEMO_ROLLUPS)
    assert rw is not None and rw.rollup.name == DEMO_ROLLUPS[0].name


def test_only_the_rollups_given_are_candidates() -> None:
    assert match(count(group_by=["team_name"]), (DAILY_CUSTOMER, HOURLY)) is None
    assert match(count(), ()) is None


# --------------------------------------------------------------------------- how metrics are rewritten
def test_metric_rewrites() -> None:
    spec = q(
        metrics=[
            {"agg": "count", "as": "n"},
            {"agg": "count", "column": "resolution_hours", "as": "n_resolved"},
            {"agg": "sum", "column": "reopened", "as": "reopened"},
            {"agg": "avg", "column": "resolution_hours", "as": "avg_h"},
            {"agg": "min", "column": "first_response_minutes", "as": "fastest"},
            {"agg": "count_distinct", "column": "customer_id", "as": "customers"},
        ],
        group_by=["team_name"],
        sort=[{"by": "n", "desc": True}],
    )
    rw = match(spec)
    assert rw is not None
    got = [(m.agg, m.column, m.name) for m in rw.spec.metrics]
    assert got == [
        ("sum", ROW_COUNT, "n"),
        ("sum", "resolution_hours__count", "n_resolved"),
        ("sum", "reopened__sum", "reopened"),
        ("sum", "resolution_hours__sum", "_rollup_sum_3"),
        ("sum", "resolution_hours__count", "_rollup_count_3"),
        ("min", "first_response_minutes__min", "fastest"),
        ("count_distinct", "customer_id", "customers"),
    ]
    assert [o.kind for o in rw.outputs] == ["value", "count", "count", "value", "avg", "value", "value"]


def test_hidden_names_never_shadow_the_callers() -> None:
    spec = q(
        metrics=[
            {"agg": "avg", "column": "resolution_hours", "as": "h"},
            {"agg": "count", "as": "_rollup_sum_0"},
        ]
    )
    assert match(spec) is None


def test_too_many_averages_for_one_query_fall_back() -> None:
    metrics = [{"agg": "avg", "column": "resolution_hours", "as": f"a{i}"} for i in range(30)]
    assert match(q(metrics=metrics)) is None


def test_a_mapping_spec_is_read_and_a_bad_one_is_left_to_the_base_query() -> None:
    assert match({"source": "tickets", "metrics": [{"agg": "count"}]}) is not None  # type: ignore[arg-type]
    assert match({"source": "tickets"}) is None  # type: ignore[arg-type]


# --------------------------------------------------------------------------- finishing the frame
def _rewrite(*outputs: Output) -> Rewrite:
    return Rewrite(DAILY, count(), outputs)


def test_finish_typed_frames_like_duckdb() -> None:
    rw = _rewrite(Output("team"), Output("n", "count"), Output("avg_h", "avg", "s", "c", "float"))
    frame = pd.DataFrame({"team": ["a", "b"], "n": [3.0, np.nan], "s": [6.0, np.nan], "c": [3.0, 0.0]})
    out = rw.finish(frame, "duckdb")
    assert list(out.columns) == ["team", "n", "avg_h"]
    assert out["n"].dtype == "int64" and out["n"].tolist() == [3, 0]
    assert out["avg_h"].dtype == "float64"
    assert out["avg_h"].iloc[0] == 2.0 and np.isnan(out["avg_h"].iloc[1])
    empty = rw.finish(frame.iloc[:0], "duckdb")
    assert list(empty.dtypes.astype(str))[1:] == ["int64", "float64"]


def test_finish_row_frames_like_postgresql() -> None:
    rw = _rewrite(
        Output("n", "count"), Output("rate", "avg", "s", "c", "bool"), Output("h", "avg", "s2", "c2", "float")
    )
    frame = pd.DataFrame({"n": [4], "s": [4], "c": [4], "s2": [None], "c2": [0]})
    out = rw.finish(frame, "postgresql")
    # numeric averages of whole numbers that are whole come back as int64; all-null as None.
    assert out["n"].dtype == "int64" and out["rate"].dtype == "int64" and out["rate"].iloc[0] == 1
    assert out["h"].dtype == object and out["h"].iloc[0] is None
    frame = pd.DataFrame({"n": [4, 2], "s": [1, 2], "c": [4, 2], "s2": [1.5, 3.0], "c2": [1, 2]})
    out = rw.finish(frame, "postgresql")
    assert out["rate"].dtype == "float64" and out["rate"].tolist() == [0.25, 1.0]
    assert out["h"].dtype == "float64"
    # An empty result of Python rows has untyped columns, whatever the query.
    assert list(rw.finish(frame.iloc[:0], "postgresql").dtypes.astype(str)) == ["object"] * 3


@pytest.mark.parametrize(
    ("grain", "t", "floor"),
    [
        ("hour", datetime(2026, 3, 4, 5, 6, 7, 8), datetime(2026, 3, 4, 5)),
        ("day", datetime(2026, 3, 4, 5, 6, 7, 8), datetime(2026, 3, 4)),
        ("month", datetime(2026, 3, 4, 5, 6, 7, 8), datetime(2026, 3, 1)),
    ],
)
def test_floor_time(grain: str, t: datetime, floor: datetime) -> None:
    assert floor_time(t, grain) == floor
