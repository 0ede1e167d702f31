"""Demo analytics events: a support desk's tickets, messages, CSAT answers and SLA breaches.

:func:`generate` is deterministic for a seed and a first day. :func:`seed_demo_events` sends
the events through the same ingest path as ``POST /api/events`` (validation, PII rules,
dedup, raw log), records the agents' org units with a mid-period move (validity periods),
and builds the snapshots, so the demo tenant's ``events_daily`` & co. are queryable at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal import dashboards
from portal.data.catalog import Catalog
from portal.data.warehouse import Warehouse
from portal.events.builds import run_action
from portal.events.dimensions import upsert_member
from portal.events.service import ingest, tenant_policy
from portal.events.store import tenant_dir
from portal.identity.principal import principal_for_user
from portal.infra.db import transaction
from portal.models import Tenant, User

CHANNELS = (("whatsapp", 0.45), ("email", 0.25), ("chat", 0.2), ("phone", 0.1))
UNITS = ("support", "billing", "onboarding")
TAGS = ("billing", "bug", "outage", "how-to", "cancel", "vip", "feature")
AGENTS = tuple(f"agent-{i:02d}" for i in range(1, 10))
#: Share of a day's tickets opened in each hour (business hours, a lunch dip).
HOURS = [1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 13, 10, 7, 9, 12, 12, 10, 8, 6, 4, 3, 2, 2, 1]


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(seed: int, tenant: str, first_day: date, days: int, per_day: int) -> Iterator[dict[str, Any]]:
    """The events of ``per_day`` tickets a day (about 6 events a ticket), schema version 2."""
    rng = random.Random(f"{seed}:{tenant}")
    n = 0
    for d in range(days):
        day = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) + timedelta(days=d)
        weekend = day.weekday() >= 5
        for t in range(per_day // 3 if weekend else per_day):
            n += 1
            ticket = f"{tenant}-T{n:06d}"
            opened = day + timedelta(hours=rng.choices(range(24), HOURS)[0], minutes=rng.randrange(60))
            channel, agent = _pick(rng, CHANNELS), rng.choice(AGENTS)
            tags = sorted(set(rng.sample(TAGS, rng.choice((0, 1, 1, 2)))))
            customer = f"cust-{rng.randrange(1, 400):04d}"
            base = {
                "channel": channel,
                "agent": agent,
                "tags": tags,
                "ticket_id": ticket,
                "customer": customer,
            }
            yield {
                "event_id": f"{ticket}-open", "type": "ticket_opened", "occurred_at": _iso(opened),
                "schema_version": 2, "dimensions": {**base, "agent": None},
                "properties": {"email": f"{customer}@example.com", "subject": f"Ticket {t}"},
            }  # fmt: skip
            first = rng.expovariate(1 / (300 if channel in ("whatsapp", "chat") else 3600))
            at = opened + timedelta(seconds=first)
            yield {"event_id": f"{ticket}-assign", "type": "ticket_assigned", "occurred_at": _iso(at),
                   "schema_version": 2, "dimensions": base}  # fmt: skip
            for m in range(rng.randint(1, 4)):
                at += timedelta(seconds=rng.expovariate(1 / 240))
                yield {"event_id": f"{ticket}-msg{m}", "type": "message_sent", "occurred_at": _iso(at),
                       "schema_version": 2, "dimensions": base}  # fmt: skip
            handle = (at - opened).total_seconds() + rng.expovariate(1 / 600)
            closed = opened + timedelta(seconds=handle)
            if rng.random() < 0.9:
                yield {
                    "event_id": f"{ticket}-close", "type": "ticket_closed", "occurred_at": _iso(closed),
                    "schema_version": 2, "dimensions": base,
                    "measures": {"handle_sec": round(handle, 1), "first_response_sec": round(first, 1)},
                }  # fmt: skip
                if rng.random() < 0.4:
                    score = rng.choices([1, 2, 3, 4, 5], [3, 4, 10, 35, 48])[0]
                    at_csat = closed + timedelta(minutes=rng.randrange(1, 120))
                    yield {"event_id": f"{ticket}-csat", "type": "csat_given", "occurred_at": _iso(at_csat),
                           "schema_version": 2, "dimensions": base, "measures": {"csat": score}}  # fmt: skip
            if first > 3 * 3600 or rng.random() < 0.03:
                due = _iso(opened + timedelta(hours=4))
                yield {"event_id": f"{ticket}-sla", "type": "sla_breached", "occurred_at": due,
                       "schema_version": 2, "dimensions": base}  # fmt: skip


def seed_demo_events(
    *,
    sessions: sessionmaker[Session],
    home: Path,
    redis: Redis,
    warehouse: Warehouse,
    secret_key: str,
    tenant: str = "acme",
    days: int = 7,
    per_day: int = 120,
    seed: int = 7,
    today: date | None = None,
) -> dict[str, Any]:
    """Post ``days`` days of demo events for ``tenant`` (once) and build its snapshots."""
    today = today or datetime.now(UTC).date()
    first_day = today - timedelta(days=days)
    with transaction(sessions) as session:
        found = session.scalar(select(Tenant).where(Tenant.slug == tenant))
        if found is None:
            return {"skipped": f"no tenant {tenant!r}"}
        tenant_id = found.id
        if tenant_dir(home, tenant_id).exists():
            return {"skipped": "events already seeded"}
        policy = tenant_policy(session, secret_key, tenant_id)
        # Org units of the agents, with one move in the middle of the period (validity periods).
        since = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) - timedelta(days=30)
        for i, agent in enumerate(AGENTS):
            upsert_member(session, tenant_id, "agent", agent, {"org_unit": UNITS[i % 3]}, since)
        moved = since + timedelta(days=30 + days // 2)
        upsert_member(session, tenant_id, "agent", AGENTS[0], {"org_unit": UNITS[1]}, moved)
    accepted = 0
    batch: list[dict[str, Any]] = []
    for event in generate(seed, tenant, first_day, days, per_day):
        batch.append(event)
        if len(batch) == 1000:
            accepted += ingest(
                home=home, redis=redis, tenant_id=tenant_id, policy=policy, items=batch
            ).accepted
            batch = []
    if batch:
        accepted += ingest(home=home, redis=redis, tenant_id=tenant_id, policy=policy, items=batch).accepted
    built = run_action(
        sessions=sessions, home=home, redis=redis, warehouse=warehouse, tenant_id=tenant_id, action="snapshot"
    )
    catalog = warehouse.catalog_for(tenant)
    with transaction(sessions) as session:
        board = _seed_dashboard(session, tenant_id, tenant, catalog)
    return {"tenant": tenant, "events": accepted, "snapshot": built, "dashboard_id": board}


def _seed_dashboard(session: Session, tenant_id: int, slug: str, catalog: Catalog) -> int | None:
    """A public "Support desk events" dashboard charting the snapshots, owned by the tenant admin."""
    owner = session.scalar(select(User).where(User.email == f"admin@{slug}.example.com"))
    if owner is None or owner.tenant_id != tenant_id:
        return None
    principal = principal_for_user(session, owner)
    day = {"column": "bucket", "bucket": "day", "as": "day"}
    opened = {"column": "event_type", "op": "=", "value": "ticket_opened"}

    def total(alias: str) -> dict[str, str]:
        return {"agg": "sum", "column": "events", "as": alias}

    board = dashboards.create_dashboard(
        session,
        principal,
        {
            "name": "Support desk events",
            "description": "Analytics events (POST /api/events): volume per day, channel and org unit.",
            "visibility": "public",
            "filters": {"time_range": "{{now-30d}}..{{now}}"},
            "queries": {
                "per_day": {"source": "events_daily", "metrics": [total("events")],
                            "group_by": [day, "event_type"], "limit": 5000},
                "by_channel": {"source": "events_daily", "metrics": [total("tickets")],
                               "group_by": ["channel"], "filters": [opened]},
                "by_unit": {"source": "events_daily", "metrics": [total("tickets")],
                            "group_by": ["org_unit"], "filters": [opened]},
            },
        },
        catalog=catalog,
    )  # fmt: skip
    widgets = [
        ({"type": "chart", "title": "Events per day by type", "query_name": "per_day",
          "chart": {"viz": "column", "x": "day", "y": ["events"], "series": "event_type", "stacked": True}},
         {"x": 0, "y": 0, "w": 8, "h": 4}),
        ({"type": "chart", "title": "Tickets opened by channel", "query_name": "by_channel",
          "chart": {"viz": "donut", "x": "channel", "y": ["tickets"]}}, {"x": 8, "y": 0, "w": 4, "h": 4}),
        ({"type": "chart", "title": "Tickets opened by org unit", "query_name": "by_unit",
          "chart": {"viz": "bar", "x": "org_unit", "y": ["tickets"]}}, {"x": 0, "y": 4, "w": 6, "h": 4}),
    ]  # fmt: skip
    for spec, position in widgets:
        dashboards.add_widget(session, principal, board.id, spec, position, catalog=catalog)
    return board.id
