"""Demo accounts and content in the metadata database (the warehouse side is :mod:`portal.demo_data`)."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import auth, dashboards
from portal.demo_data import TENANTS
from portal.models import Dashboard, Report, Tenant, User
from portal.reports import ReportIn
from portal.specs import QuerySpec

DEV_PASSWORD = "conductor-demo"  # noqa: S105 - dev-mode demo logins only


@dataclass(frozen=True)
class DemoAccount:
    """A demo login to print on start."""

    tenant: str
    email: str
    role: str
    password: str


DEMO_REPORTS: list[dict[str, Any]] = [
    {
        "name": "Tickets per day (last 30 days)",
        "description": "Daily ticket volume by priority.",
        "query": {
            "source": "tickets",
            "metrics": [{"agg": "count", "as": "tickets"}],
            "group_by": [{"column": "opened_at", "bucket": "day", "as": "day"}, "priority"],
            "filters": [{"column": "opened_at", "op": "between", "value": "{{now-30d}}..{{now}}"}],
            "limit": 5000,
        },
    },
    {
        "name": "SLA breach rate by team",
        "description": "Share of tickets that breached the SLA target, this year.",
        "query": {
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "tickets"},
                {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
            ],
            "group_by": ["team_name"],
            "filters": [{"column": "opened_at", "op": ">=", "value": "{{start_of_year}}"}],
            "sort": [{"by": "breach_rate", "desc": True}],
        },
    },
    {
        "name": "CSAT by channel",
        "description": "Average CSAT and conversation volume per channel, by month.",
        "query": {
            "source": "conversations",
            "metrics": [
                {"agg": "avg", "column": "csat_score", "as": "csat"},
                {"agg": "count", "as": "conversations"},
            ],
            "group_by": [{"column": "started_at", "bucket": "month", "as": "month"}, "channel"],
        },
    },
    {
        "name": "Top customers by maintenance cost",
        "description": "Customers ranked by total maintenance cost in a period (param: since).",
        "query": {
            "source": "maintenance_orders",
            "metrics": [
                {"agg": "sum", "column": "total_cost", "as": "cost"},
                {"agg": "count", "as": "orders"},
            ],
            "group_by": ["customer_name"],
            "filters": [{"column": "opened_at", "op": ">=", "value": "{{params.since}}"}],
            "params": {"since": "2025-01-01"},
            "sort": [{"by": "cost", "desc": True}],
            "limit": 20,
        },
    },
]


@functools.cache
def _dev_password_hash() -> str:
    # The demo accounts share one published password, so one argon2 hash (~0.2 s) serves them all.
    return auth.hash_password(DEV_PASSWORD)


def seed_demo(session: Session, *, dev_mode: bool = True) -> list[DemoAccount]:
    """Create demo tenants, users, groups and reports once; return the logins.

    In dev mode every demo user has the password ``conductor-demo``; otherwise
    random passwords are generated and returned (shown once).
    """
    accounts: list[DemoAccount] = []
    for dt in TENANTS:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == dt.key))
        if tenant is not None:
            continue
        tenant = auth.create_tenant(session, dt.key, dt.name)
        users: dict[str, User] = {}
        for role, is_admin in (("admin", True), ("analyst", False), ("viewer", False)):
            pw = DEV_PASSWORD if dev_mode else secrets.token_urlsafe(12)
            email = f"{role}@{dt.key}.example.com"
            users[role] = auth.create_user(
                session,
                tenant,
                email,
                f"{dt.name} {role.title()}",
                pw,
                is_admin=is_admin,
                password_hash=_dev_password_hash() if dev_mode else None,
            )
            accounts.append(DemoAccount(dt.key, email, role, pw))
        auth.create_group(session, tenant, "Operations", [users["analyst"], users["viewer"]])
        for spec in DEMO_REPORTS:
            d = ReportIn(
                name=spec["name"],
                description=spec["description"],
                query=QuerySpec.model_validate(spec["query"]),
                visibility="public",
                published=True,
            )
            session.add(
                Report(
                    tenant_id=tenant.id,
                    owner_id=users["analyst"].id,
                    name=d.name,
                    description=d.description,
                    visibility=d.visibility,
                    published=True,
                    query_json=d.query.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                )
            )
        session.flush()
        seed_demo_dashboards(session, tenant, users["analyst"])
    return accounts


# --------------------------------------------------------------------------- dashboards
def _q(
    source: str, metrics: list[dict[str, Any]], group_by: list[Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return {"source": source, "metrics": metrics, "group_by": group_by or [], **kw}


def _count(alias: str) -> dict[str, Any]:
    return {"agg": "count", "as": alias}


def _agg(agg: str, column: str, alias: str) -> dict[str, Any]:
    return {"agg": agg, "column": column, "as": alias}


def _kpi(query: str, title: str, **kpi: Any) -> dict[str, Any]:
    return {"type": "kpi", "title": title, "query_name": query, "kpi": {"label": title, **kpi}}


def _chart(title: str, source: dict[str, Any], **chart: Any) -> dict[str, Any]:
    drilldown = chart.pop("drilldown", None)
    spec: dict[str, Any] = {"type": "chart", "title": title, **source, "chart": chart}
    if drilldown:
        spec["drilldown"] = {"hierarchy": drilldown}
    return spec


def _pos(x: int, y: int, w: int, h: int) -> dict[str, int]:
    return {"x": x, "y": y, "w": w, "h": h}


_KPI_ROW = [_pos(0, 0, 3, 2), _pos(3, 0, 3, 2), _pos(6, 0, 3, 2), _pos(9, 0, 3, 2)]

#: The ready-made dashboards of every demo tenant: (dashboard fields, [(widget spec, position)]).
#: Between them they use every chart type, tables with subtotals, KPI cards with
#: targets, variation and traffic lights, Markdown text, named queries feeding
#: several widgets and a team -> agent drill-down.
DEMO_DASHBOARDS: list[tuple[dict[str, Any], list[tuple[dict[str, Any], dict[str, int]]]]] = [
    (
        {
            "name": "Operations & SLA",
            "description": "Ticket volume, SLA compliance and response times by team, priority and hour.",
            "filters": {"time_range": "{{now-90d}}..{{now}}"},
            "queries": {
                "ops_kpis": _q(
                    "tickets",
                    [
                        _count("tickets"),
                        _agg("avg", "sla_breached", "breach_rate"),
                        _agg("avg", "resolution_hours", "avg_resolution_h"),
                        _agg("avg", "first_response_minutes", "avg_first_response_min"),
                    ],
                ),
                "by_team": _q(
                    "tickets",
                    [
                        _count("tickets"),
                        _agg("avg", "sla_breached", "breach_rate"),
                        _agg("avg", "resolution_hours", "avg_resolution_h"),
                        _agg("sum", "reopened", "reopened"),
                    ],
                    ["team_name"],
                    sort=[{"by": "tickets", "desc": True}],
                ),
                "weekly": _q(
                    "tickets",
                    [_count("tickets"), _agg("avg", "resolution_hours", "avg_resolution_h")],
                    [{"column": "opened_at", "bucket": "week", "as": "week"}, "priority"],
                    limit=5000,
                ),
            },
        },
        [
            (_kpi("ops_kpis", "Tickets", value="tickets", higher_is_better=False), _KPI_ROW[0]),
            (
                _kpi(
                    "ops_kpis",
                    "SLA breach rate",
                    value="breach_rate",
                    format="percent",
                    decimals=1,
                    target=0.10,
                    higher_is_better=False,
                    good_at=1.0,
                    warn_at=1.5,
                ),
                _KPI_ROW[1],
            ),
            (
                _kpi(
                    "ops_kpis",
                    "Avg resolution time",
                    value="avg_resolution_h",
                    format="duration_h",
                    decimals=1,
                    target=12.0,
                    higher_is_better=False,
                    good_at=1.0,
                    warn_at=1.25,
                ),
                _KPI_ROW[2],
            ),
            (
                _kpi(
                    "ops_kpis",
                    "First response (min)",
                    value="avg_first_response_min",
                    decimals=0,
                    target=60.0,
                    higher_is_better=False,
                    good_at=1.0,
                    warn_at=1.5,
                ),
                _KPI_ROW[3],
            ),
            (
                _chart(
                    "Tickets per week by priority",
                    {"query_name": "weekly"},
                    viz="column",
                    x="week",
                    y=["tickets"],
                    series="priority",
                    stacked=True,
                ),
                _pos(0, 2, 6, 4),
            ),
            (
                _chart(
                    "Tickets by team (click a team for its agents)",
                    {"query_name": "by_team"},
                    viz="bar",
                    x="team_name",
                    y=["tickets"],
                    drilldown=["team_name", "agent_name"],
                ),
                _pos(6, 2, 6, 4),
            ),
            (
                _chart(
                    "Resolution time by priority (h)",
                    {"query_name": "weekly"},
                    viz="line",
                    x="week",
                    y=["avg_resolution_h"],
                    series="priority",
                ),
                _pos(0, 6, 6, 4),
            ),
            (
                _chart(
                    "When tickets arrive (weekday x hour)",
                    {
                        "query": _q(
                            "tickets",
                            [_count("tickets")],
                            [
                                {"column": "opened_at", "bucket": "day_of_week", "as": "weekday"},
                                {"column": "opened_at", "bucket": "hour_of_day", "as": "hour"},
                            ],
                        )
                    },
                    viz="heatmap",
                    x="hour",
                    y=["tickets"],
                    series="weekday",
                ),
                _pos(6, 6, 6, 4),
            ),
            (
                {
                    "type": "table",
                    "title": "SLA by team",
                    "query_name": "by_team",
                    "table": {
                        "columns": ["team_name", "tickets", "breach_rate", "avg_resolution_h", "reopened"],
                        "sort_by": "breach_rate",
                        "sort_desc": True,
                    },
                    "drilldown": {"hierarchy": ["team_name", "agent_name"]},
                },
                _pos(0, 10, 12, 6),
            ),
            (
                {
                    "type": "text",
                    "title": "About this dashboard",
                    "text": (
                        "**Operations & SLA** follows the service desk over the last 90 days.\n\n"
                        "- The KPI cards compare with the previous 90 days; colours show the SLA targets "
                        "(breach rate under 10%, resolution under 12 h, first response under 1 h).\n"
                        "- Click a team in *Tickets by team* to see its agents.\n"
                        "- Use the filters above to narrow by customer, location or team."
                    ),
                },
                _pos(0, 16, 12, 2),
            ),
        ],
    ),
    (
        {
            "name": "Maintenance & Expenses",
            "description": "Work orders, maintenance cost and operating expenses against budget.",
            "filters": {"time_range": "{{now-6M}}..{{now}}"},
            "queries": {
                "mo_kpis": _q(
                    "maintenance_orders",
                    [
                        _agg("sum", "total_cost", "total_cost"),
                        _count("orders"),
                        _agg("avg", "sla_breached", "breach_rate"),
                    ],
                ),
                "cost_by_month": _q(
                    "maintenance_orders",
                    [
                        _agg("sum", "labor_cost", "labor_cost"),
                        _agg("sum", "parts_cost", "parts_cost"),
                        _agg("sum", "total_cost", "total_cost"),
                        _count("orders"),
                    ],
                    [{"column": "opened_at", "bucket": "month", "as": "month"}],
                ),
                "expenses_by_vendor": _q(
                    "expenses",
                    [_agg("sum", "amount", "amount"), _agg("sum", "budget", "budget"), _count("expenses")],
                    ["category", "vendor"],
                    limit=2000,
                ),
            },
        },
        [
            (
                _kpi(
                    "mo_kpis",
                    "Maintenance cost",
                    value="total_cost",
                    format="currency",
                    higher_is_better=False,
                ),
                _KPI_ROW[0],
            ),
            (_kpi("mo_kpis", "Work orders", value="orders"), _KPI_ROW[1]),
            (
                _kpi(
                    "mo_kpis",
                    "Maintenance SLA breaches",
                    value="breach_rate",
                    format="percent",
                    decimals=1,
                    target=0.10,
                    higher_is_better=False,
                    good_at=1.0,
                    warn_at=1.5,
                ),
                _KPI_ROW[2],
            ),
            (
                {
                    "type": "kpi",
                    "title": "Expenses",
                    "query": _q("expenses", [_agg("sum", "amount", "amount")]),
                    "kpi": {
                        "label": "Expenses",
                        "value": "amount",
                        "format": "currency",
                        "higher_is_better": False,
                    },
                },
                _KPI_ROW[3],
            ),
            (
                _chart(
                    "Maintenance cost per month: labor and parts",
                    {"query_name": "cost_by_month"},
                    viz="area",
                    x="month",
                    y=["labor_cost", "parts_cost"],
                    stacked=True,
                ),
                _pos(0, 2, 6, 4),
            ),
            (
                _chart(
                    "Work orders by asset type and kind",
                    {
                        "query": _q(
                            "maintenance_orders",
                            [_count("orders")],
                            ["asset_type", "kind"],
                            sort=[{"by": "orders", "desc": True}],
                        )
                    },
                    viz="column",
                    x="asset_type",
                    y=["orders"],
                    series="kind",
                    stacked=False,
                ),
                _pos(6, 2, 6, 4),
            ),
            (
                _chart(
                    "Work orders per month",
                    {"query_name": "cost_by_month"},
                    viz="line",
                    x="month",
                    y=["orders"],
                ),
                _pos(0, 6, 6, 4),
            ),
            (
                _chart(
                    "Maintenance cost by kind",
                    {"query": _q("maintenance_orders", [_agg("sum", "total_cost", "cost")], ["kind"])},
                    viz="pie",
                    x="kind",
                    y=["cost"],
                ),
                _pos(6, 6, 6, 4),
            ),
            (
                _chart(
                    "Expenses by category and vendor",
                    {"query_name": "expenses_by_vendor"},
                    viz="treemap",
                    x="vendor",
                    y=["amount"],
                    series="category",
                ),
                _pos(0, 10, 6, 4),
            ),
            (
                _chart(
                    "Spend and budget by cost center",
                    {
                        "query": _q(
                            "expenses",
                            [_agg("sum", "amount", "spent"), _agg("sum", "budget", "budget")],
                            ["cost_center"],
                            sort=[{"by": "spent", "desc": True}],
                        )
                    },
                    viz="bar",
                    x="cost_center",
                    y=["spent", "budget"],
                ),
                _pos(6, 10, 6, 4),
            ),
            (
                {
                    "type": "table",
                    "title": "Expenses by category and vendor",
                    "query_name": "expenses_by_vendor",
                    "table": {
                        "columns": ["category", "vendor", "amount", "budget", "expenses"],
                        "subtotals_by": "category",
                        "totals": True,
                        "sort_by": "amount",
                        "sort_desc": True,
                    },
                },
                _pos(0, 14, 12, 6),
            ),
            (
                {
                    "type": "text",
                    "title": "Reading this dashboard",
                    "text": (
                        "**Maintenance & Expenses** covers the last 6 months.\n\n"
                        "- *Labor and parts* add up to the total maintenance cost.\n"
                        "- The treemap and the table read the same query: vendors grouped by expense "
                        "category, with subtotals per category in the table."
                    ),
                },
                _pos(0, 20, 12, 2),
            ),
        ],
    ),
    (
        {
            "name": "Customer Service & CSAT",
            "description": "Conversations, CSAT, resolution and response times by channel, team and agent.",
            "filters": {"time_range": "{{now-90d}}..{{now}}"},
            "queries": {
                "cs_kpis": _q(
                    "conversations",
                    [
                        _agg("avg", "csat_score", "csat"),
                        _count("conversations"),
                        _agg("avg", "resolved", "resolution_rate"),
                        _agg("avg", "first_response_seconds", "first_response_s"),
                    ],
                ),
                "by_channel": _q(
                    "conversations",
                    [
                        _count("conversations"),
                        _agg("avg", "csat_score", "csat"),
                        _agg("avg", "handle_minutes", "handle_min"),
                    ],
                    ["channel"],
                    sort=[{"by": "conversations", "desc": True}],
                ),
                "by_team": _q(
                    "conversations",
                    [_agg("avg", "csat_score", "csat"), _count("conversations")],
                    ["team_name"],
                    sort=[{"by": "csat", "desc": True}],
                ),
            },
        },
        [
            (
                _kpi(
                    "cs_kpis",
                    "CSAT",
                    value="csat",
                    decimals=2,
                    target=4.2,
                    good_at=1.0,
                    warn_at=0.9,
                ),
                _KPI_ROW[0],
            ),
            (_kpi("cs_kpis", "Conversations", value="conversations"), _KPI_ROW[1]),
            (
                _kpi(
                    "cs_kpis",
                    "Resolution rate",
                    value="resolution_rate",
                    format="percent",
                    decimals=1,
                    target=0.85,
                    good_at=1.0,
                    warn_at=0.9,
                ),
                _KPI_ROW[2],
            ),
            (
                _kpi(
                    "cs_kpis",
                    "First response (s)",
                    value="first_response_s",
                    target=1800.0,
                    higher_is_better=False,
                    good_at=1.0,
                    warn_at=1.5,
                ),
                _KPI_ROW[3],
            ),
            (
                _chart(
                    "Conversations by channel",
                    {"query_name": "by_channel"},
                    viz="donut",
                    x="channel",
                    y=["conversations"],
                ),
                _pos(0, 2, 6, 4),
            ),
            (
                _chart(
                    "CSAT by team (click a team for its agents)",
                    {"query_name": "by_team"},
                    viz="bar",
                    x="team_name",
                    y=["csat"],
                    drilldown=["team_name", "agent_name"],
                ),
                _pos(6, 2, 6, 4),
            ),
            (
                _chart(
                    "CSAT per week by channel",
                    {
                        "query": _q(
                            "conversations",
                            [_agg("avg", "csat_score", "csat")],
                            [{"column": "started_at", "bucket": "week", "as": "week"}, "channel"],
                        )
                    },
                    viz="line",
                    x="week",
                    y=["csat"],
                    series="channel",
                ),
                _pos(0, 6, 6, 4),
            ),
            (
                _chart(
                    "Messages per week, inbound and outbound",
                    {
                        "query": _q(
                            "messages",
                            [_count("messages")],
                            [{"column": "sent_at", "bucket": "week", "as": "week"}, "direction"],
                        )
                    },
                    viz="area",
                    x="week",
                    y=["messages"],
                    series="direction",
                    stacked=True,
                ),
                _pos(6, 6, 6, 4),
            ),
            (
                _chart(
                    "Handle time by channel (min)",
                    {"query_name": "by_channel"},
                    viz="column",
                    x="channel",
                    y=["handle_min"],
                ),
                _pos(0, 10, 12, 4),
            ),
            (
                {
                    "type": "table",
                    "title": "Agents by team",
                    "query": _q(
                        "conversations",
                        [
                            _count("conversations"),
                            _agg("avg", "csat_score", "csat"),
                            _agg("avg", "handle_minutes", "handle_min"),
                            _agg("avg", "resolved", "resolution_rate"),
                        ],
                        ["team_name", "agent_name"],
                        limit=2000,
                    ),
                    "table": {"subtotals_by": "team_name", "totals": True, "page_size": 20},
                },
                _pos(0, 14, 12, 6),
            ),
            (
                {
                    "type": "text",
                    "title": "About CSAT",
                    "text": (
                        "**CSAT** is the average 1-5 score of rated conversations; the target is **4.2**.\n\n"
                        "Click a team in *CSAT by team* to compare its agents. "
                        "The donut and the handle-time chart read the same channel query."
                    ),
                },
                _pos(0, 20, 12, 2),
            ),
        ],
    ),
]


def seed_demo_dashboards(session: Session, tenant: Tenant, owner: User) -> list[Dashboard]:
    """Create the ready-made public dashboards of :data:`DEMO_DASHBOARDS` for a tenant, owned by ``owner``.

    They go through the dashboard service, so every query and widget is
    validated against the catalog exactly as a user's would be.
    """
    if owner.tenant_id != tenant.id:
        raise ValueError("the owner must belong to the tenant")
    created: list[Dashboard] = []
    for fields, widgets in DEMO_DASHBOARDS:
        d = dashboards.create_dashboard(session, owner, {**fields, "visibility": "public"})
        for spec, position in widgets:
            dashboards.add_widget(session, owner, d.id, spec, position)
        created.append(d)
    return created
