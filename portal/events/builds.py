"""Snapshot, retention and backfill runs of a tenant's events: what the ``events_build`` job,
the CLI (``conductor events ...``) and the daily schedule call.

Order of a snapshot run (crash-safe at every step): build the files (under the tenant's lock),
register them as catalog sources and commit, tell every process the catalog changed, and only
then archive the folded raw segments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.data.tenant_sources import catalog_changed, register_source
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound
from portal.events import dimensions, snapshots
from portal.events.service import DEFAULT_RAW_DAYS, DEFAULT_SNAPSHOT_DAYS, settings_row, update_settings
from portal.events.store import archive
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.jobqueue.enqueue import Submission, submit
from portal.models import Tenant, User
from portal.specs.jobs import JobClass

ACTIONS = ("snapshot", "retention", "backfill")
MAX_BACKFILL_DAYS = 3660
LABELS = {
    "events_hourly": "Events per hour",
    "events_daily": "Events per day",
    "events_weekly": "Events per week",
    "events_tags_daily": "Events per tag and day",
}


def _day(value: Any, field: str) -> date:
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidSpec(f"{field}: a date like 2026-12-01", field=field) from None


def parse_action(body: dict[str, Any]) -> tuple[str, date | None, date | None]:
    """``{"action", "from"?, "to"?}`` checked; a backfill needs both dates (at most 10 years)."""
    action = body.get("action", "snapshot")
    if action not in ACTIONS:
        raise InvalidSpec(f"action: one of {', '.join(ACTIONS)}", field="action")
    if action != "backfill":
        for key in ("from", "to"):
            if body.get(key) is not None:
                raise InvalidSpec(f"{key}: only a backfill takes a date range", field=key)
        return action, None, None
    first, last = _day(body.get("from"), "from"), _day(body.get("to"), "to")
    if last < first:
        raise InvalidSpec("to: on or after from", field="to")
    if (last - first).days > MAX_BACKFILL_DAYS:
        raise InvalidSpec(f"to: a backfill covers at most {MAX_BACKFILL_DAYS} days", field="to")
    return action, first, last


def submit_build(session: Session, principal: Principal, body: dict[str, Any]) -> Submission:
    """An ``events_build`` job for the principal's tenant (commit, then ``.enqueue(redis)``)."""
    action, first, last = parse_action(body)
    payload: dict[str, Any] = {"action": action}
    if first is not None and last is not None:
        payload.update({"from": first.isoformat(), "to": last.isoformat()})
    # No dedup key: a build already running may have listed the raw segments before the newest
    # events arrived; builds of a tenant are serialised by a file lock and cheap when idle.
    return submit(session, principal, JobClass.EVENTS_BUILD, payload)


def tenant_by_slug(session: Session, slug: str) -> Tenant:
    """The tenant called ``slug``; NotFound otherwise."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"tenant {slug!r} not found", field="tenant")
    return tenant


def _register(
    sessions: sessionmaker[Session], tenant_id: int, result: snapshots.BuildResult, action: str
) -> None:
    with transaction(sessions) as session:
        for name, path in result.files.items():
            register_source(
                session,
                tenant_id,
                name=name,
                origin="events",
                columns=snapshots.snapshot_columns(name),
                label=LABELS[name],
                description="Analytics events snapshot (UTC buckets), built from the raw event log.",
                time_column="bucket",
                parquet_path=path,
                row_count=result.rows.get(name),
            )
        row = settings_row(session, tenant_id) or update_settings(session, tenant_id, {})
        row.last_build_at = datetime.now(UTC)
        row.build_json = {"action": action, **result.summary()}


def run_action(
    *,
    sessions: sessionmaker[Session],
    home: Path,
    redis: Redis,
    warehouse: Warehouse,
    tenant_id: int,
    action: str,
    first: date | None = None,
    last: date | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Run one action for a tenant; a summary for the job result or the CLI."""
    with transaction(sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound(f"tenant {tenant_id} not found", field="tenant")
        slug = tenant.slug
        agents = dimensions.members(session, tenant_id, "agent")
        row = settings_row(session, tenant_id)
        raw_days = row.raw_retention_days if row else DEFAULT_RAW_DAYS
        snap_days = row.snapshot_retention_days if row else DEFAULT_SNAPSHOT_DAYS
    layout = snapshots.Layout(home, tenant_id)
    with snapshots.locked(layout):
        if action == "retention":
            today = today or datetime.now(UTC).date()
            out = snapshots.apply_retention(
                home,
                tenant_id,
                raw_cutoff=today - timedelta(days=raw_days),
                snapshot_cutoff=today - timedelta(days=snap_days),
            )
            result = snapshots.BuildResult(files=out["files"], rows=out["rows"])
            summary = {k: v for k, v in out.items() if k != "files"}
        else:
            backfill = (first, last) if action == "backfill" and first and last else None
            result = snapshots.build(home, tenant_id, agents, backfill=backfill)
            summary = result.summary()
        if result.files:
            _register(sessions, tenant_id, result, action)
            catalog_changed(redis, slug)
            for name in result.files:
                warehouse.invalidate(name)
        # Only once the snapshots are committed: a crash before this re-folds the segments.
        archive(home, tenant_id, result.segments)
    return {"action": action, "tenant": slug, **summary}


def tenants_with_events(home: Path) -> list[int]:
    """Ids of the tenants whose raw event log exists under ``home``."""
    root = home / "events"
    return sorted(int(p.name[1:]) for p in root.glob("t*") if p.name[1:].isdigit()) if root.is_dir() else []


#: The scheduler submits the daily builds once per UTC day (a Redis flag shared by schedulers).
DAILY_FLAG = "cbi:events:daily:{day}"


def fire_daily_builds(ctx: Any, now: datetime | None = None) -> list[int]:
    """Once per UTC day (for the scheduler's tick): a snapshot and a retention ``events_build`` job
    for every tenant with events, owned by one of its active admins; the job ids."""
    now = now or datetime.now(UTC)
    if not ctx.redis.set(DAILY_FLAG.format(day=now.date().isoformat()), "1", nx=True, ex=2 * 86_400):
        return []
    subs: list[Submission] = []
    with transaction(ctx.sessions) as session:
        for tenant_id in tenants_with_events(ctx.settings.home):
            admin_id = session.scalar(
                select(User.id)
                .where(User.tenant_id == tenant_id, User.is_admin.is_(True), User.is_active.is_(True))
                .order_by(User.id)
                .limit(1)
            )
            if admin_id is None:
                continue
            owner = principal_for_user_id(session, admin_id, kind="job")
            for action in ("snapshot", "retention"):
                key = f"events-daily:{tenant_id}:{action}:{now.date().isoformat()}"
                subs.append(submit(session, owner, JobClass.EVENTS_BUILD, {"action": action}, dedup_key=key))
    for sub in subs:
        sub.enqueue(ctx.redis)
    return [sub.record.id for sub in subs]


def run_daily(
    *,
    sessions: sessionmaker[Session],
    home: Path,
    redis: Redis,
    warehouse: Warehouse,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """The daily schedule: snapshot then retention for every tenant that has events (for the
    scheduler's tick or ``conductor events daily``). One tenant's failure does not stop the others."""
    ids = tenants_with_events(home)
    out: list[dict[str, Any]] = []
    for tenant_id in ids:
        for action in ("snapshot", "retention"):
            try:
                out.append(
                    run_action(
                        sessions=sessions, home=home, redis=redis, warehouse=warehouse,
                        tenant_id=tenant_id, action=action, today=today,
                    )
                )  # fmt: skip
            except Exception as exc:  # reported per tenant: the others still run
                out.append(
                    {"action": action, "tenant_id": tenant_id, "error": f"{type(exc).__name__}: {exc}"[:500]}
                )
    return out
