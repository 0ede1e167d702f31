"""Changing the query builder's source keeps what still applies (before: everything was wiped)."""

from __future__ import annotations

from components.query_builder import QueryBuilder
from portal.data.catalog import DEMO_CATALOG
from portal.identity.scope import Scope


def test_switching_source_keeps_metrics_groups_and_filters_that_still_apply() -> None:
    qb = QueryBuilder(
        DEMO_CATALOG,
        Scope.of("acme"),
        initial={
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "n"},
                {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
                {"agg": "avg", "column": "resolution_hours", "as": "res_h"},
            ],
            "group_by": [{"column": "team_name"}, {"column": "channel"}],
            "filters": [
                {"column": "customer_name", "op": "=", "value": "Acme Co"},
                {"column": "channel", "op": "=", "value": "phone"},
            ],
        },
    )
    qb.source = (
        "maintenance_orders"  # has team_name, customer_name, sla_breached; no channel or resolution_hours
    )
    spec = qb.current()
    assert spec["source"] == "maintenance_orders"
    assert spec["metrics"] == [
        {"agg": "count", "as": "n"},
        {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
    ]
    assert spec["group_by"] == [{"column": "team_name"}]
    assert spec["filters"] == [{"column": "customer_name", "op": "=", "value": "Acme Co"}]
    assert qb.spec is not None and qb.error == ""


def test_nothing_left_falls_back_to_a_count() -> None:
    qb = QueryBuilder(
        DEMO_CATALOG,
        Scope.of("acme"),
        initial={"source": "tickets", "metrics": [{"agg": "sum", "column": "reopened", "as": "r"}]},
    )
    qb.source = "expenses"
    assert qb.current()["metrics"] == [{"agg": "count", "as": "count"}]
