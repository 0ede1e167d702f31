"""Demo accounts and content in the metadata database (the warehouse side is :mod:`portal.demo_data`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import auth
from portal.demo_data import TENANTS
from portal.models import Report, Tenant, User
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
                session, tenant, email, f"{dt.name} {role.title()}", pw, is_admin=is_admin
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
    return accounts
