"""Table totals and subtotals re-aggregated by each metric's own rule, and the KPI query without grouping.

Issue 8: "SLA by team" showed a total breach rate of 1.136 (the sum of the teams' rates) and
"Agents by team" a subtotal CSAT of 39.25 (the sum of the agents' averages); a KPI on a grouped
query showed the first group's count. The warehouse now re-runs the query with less grouping
(:func:`summary_queries`, :func:`kpi_query`); :func:`table_with_subtotals` places what it returns.
"""

from __future__ import annotations

import pandas as pd
import pytest

from portal.dashboards.data import kpi_query, summary_queries
from portal.specs import QuerySpec, TableSpec
from portal.viz.cards import additive_columns, table_with_subtotals

QUERY = QuerySpec.model_validate(
    {
        "source": "conversations",
        "metrics": [
            {"agg": "count", "as": "conversations"},
            {"agg": "avg", "column": "csat_score", "as": "csat"},
            {"agg": "avg", "column": "resolved", "as": "resolution_rate"},
            {"agg": "count_distinct", "column": "customer_id", "as": "customers"},
        ],
        "group_by": ["team_name", "agent_name"],
        "filters": [{"column": "started_at", "op": "between", "value": "{{now-90d}}..{{now}}"}],
        "params": {"x": 1},
        "sort": [{"by": "csat", "desc": True}],
        "limit": 2000,
        "offset": 10,
    }
)


@pytest.fixture
def agents() -> pd.DataFrame:
    # Two teams; the agents' averages would add up to 9.0 and 8.5 per team.
    return pd.DataFrame(
        {
            "team_name": ["North", "North", "South", "South"],
            "agent_name": ["Ana", "Bruno", "Caio", "Dani"],
            "conversations": [10, 2, 5, 5],
            "csat": [4.0, 5.0, 4.5, 4.0],
            "resolution_rate": [0.9, 0.5, 0.8, 0.6],
            "customers": [7, 2, 4, 4],
        }
    )


@pytest.fixture
def exact_subtotals() -> pd.DataFrame:
    # What the warehouse returns grouped by team only: weighted averages, distinct customers.
    return pd.DataFrame(
        {
            "team_name": ["South", "North"],
            "conversations": [10, 12],
            "csat": [4.25, 4.1667],
            "resolution_rate": [0.7, 0.8333],
            "customers": [6, 8],
        }
    )


@pytest.fixture
def exact_totals() -> pd.DataFrame:
    return pd.DataFrame(
        {"conversations": [22], "csat": [4.2045], "resolution_rate": [0.7727], "customers": [13]}
    )


def test_subtotals_and_total_come_from_the_warehouse_not_from_sums(agents, exact_subtotals, exact_totals):
    spec = TableSpec(subtotals_by="team_name", totals=True)
    out = table_with_subtotals(agents, spec, totals=exact_totals, subtotals=exact_subtotals)
    subs = out[out["_row_kind"] == "subtotal"].set_index("team_name")
    assert subs.loc["Subtotal North", "csat"] == pytest.approx(4.1667)  # not 4.0 + 5.0
    assert subs.loc["Subtotal South", "resolution_rate"] == pytest.approx(0.7)  # not 1.4
    assert subs.loc["Subtotal North", "customers"] == 8  # distinct customers, not 7 + 2
    assert subs.loc["Subtotal South", "conversations"] == 10
    total = out[out["_row_kind"] == "total"].iloc[0]
    assert total["team_name"] == "Total" and total["agent_name"] is None
    assert (total["conversations"], total["customers"]) == (22, 13)
    assert total["csat"] == pytest.approx(4.2045) and total["resolution_rate"] == pytest.approx(0.7727)
    assert str(out["conversations"].dtype) == "Int64"  # counts stay whole numbers


def test_groups_follow_their_exact_subtotal_of_the_sort_column(agents, exact_subtotals):
    # By csat descending: South (4.25) before North (4.17); summed, North (9.0) would come first.
    spec = TableSpec(subtotals_by="team_name", totals=False, sort_by="csat", sort_desc=True)
    out = table_with_subtotals(agents, spec, subtotals=exact_subtotals)
    assert out["team_name"].tolist() == [
        "South",
        "South",
        "Subtotal South",
        "North",
        "North",
        "Subtotal North",
    ]
    assert out["agent_name"].tolist()[:2] == ["Caio", "Dani"]


def test_a_group_the_warehouse_did_not_return_gets_empty_cells(agents, exact_subtotals):
    spec = TableSpec(subtotals_by="team_name", totals=False)
    out = table_with_subtotals(agents, spec, subtotals=exact_subtotals[exact_subtotals.team_name == "North"])
    south = out[out["team_name"] == "Subtotal South"].iloc[0]
    assert pd.isna(south["csat"]) and pd.isna(south["conversations"])


def test_without_warehouse_rows_only_additive_columns_are_summed(agents):
    numeric = additive_columns(QUERY, list(agents.columns))
    assert numeric == ["conversations"]  # counts and sums add up; averages and distinct counts do not
    out = table_with_subtotals(agents, TableSpec(subtotals_by="team_name"), numeric)
    total = out[out["_row_kind"] == "total"].iloc[0]
    assert total["conversations"] == 22 and pd.isna(total["csat"]) and pd.isna(total["customers"])
    assert additive_columns(None, ["a"]) is None
    raw = QuerySpec.model_validate({"source": "tickets", "columns": ["ticket_id", "resolution_hours"]})
    assert additive_columns(raw, ["ticket_id"]) is None  # raw rows: numeric columns are summed


def test_summary_queries_keep_filters_scope_and_params_and_reduce_the_grouping():
    totals, subtotals = summary_queries(QUERY, TableSpec(subtotals_by="team_name"))
    assert totals is not None and subtotals is not None
    for q in (totals, subtotals):
        assert q.filters == QUERY.filters and q.params == QUERY.params and q.metrics == QUERY.metrics
        assert q.sort == [] and q.offset == 0 and q.source == QUERY.source
    assert totals.group_by == []
    assert [g.name for g in subtotals.group_by] == ["team_name"]
    assert summary_queries(QUERY, TableSpec(totals=False)) == (None, None)
    only_total, none = summary_queries(QUERY, TableSpec(subtotals_by="csat"))  # not a group column
    assert only_total is not None and none is None
    bucketed = QuerySpec.model_validate(
        {
            "source": "tickets",
            "metrics": [{"agg": "avg", "column": "sla_breached", "as": "rate"}],
            "group_by": [{"column": "opened_at", "bucket": "month", "as": "month"}, "team_name"],
        }
    )
    _, by_month = summary_queries(bucketed, TableSpec(subtotals_by="month"))
    assert by_month is not None and by_month.group_by == bucketed.group_by[:1]
    raw = QuerySpec.model_validate({"source": "tickets", "columns": ["ticket_id"]})
    assert summary_queries(raw, TableSpec(subtotals_by="ticket_id")) == (None, None)
    assert summary_queries(QUERY, None) == (None, None)


def test_kpi_query_drops_what_would_pick_one_row():
    k = kpi_query(QUERY)
    assert (k.group_by, k.sort, k.offset) == ([], [], 0)
    assert k.metrics == QUERY.metrics and k.filters == QUERY.filters and k.params == QUERY.params
    ungrouped = QuerySpec.model_validate({"source": "tickets", "metrics": [{"agg": "count"}]})
    assert kpi_query(ungrouped) is ungrouped
    raw = QuerySpec.model_validate(
        {"source": "tickets", "columns": ["ticket_id"], "sort": [{"by": "ticket_id"}]}
    )
    assert kpi_query(raw) is raw
