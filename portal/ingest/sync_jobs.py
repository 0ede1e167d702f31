"""Syncs as jobs: on demand (``POST /api/sources/{id}/sync``) and on a cron schedule per REST
source (``config.schedule``), fired by ``conductor scheduler`` (:func:`fire_due_syncs` runs on
each of its ticks)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.data.datasources import get_data_source
from portal.errors import InvalidSpec, PermissionDenied
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.ingest.sync import IngestContext, sync_targets
from portal.models import DataSource, SourceSync


def submit_sync(
    session: Session,
    principal: Principal,
    data_source_id: int,
    *,
    trigger: str = "manual",
    scheduled_for: datetime | None = None,
) -> Any:
    """Mirror a ``source_sync`` job (commit, then ``.enqueue(redis)`` the returned submission)."""
    from portal.jobqueue.enqueue import submit
    from portal.specs.jobs import JobClass

    ds = get_data_source(session, principal, data_source_id)
    sync_targets(ds)  # a sql source syncs only the tables it copies (config.materialize)
    return submit(
        session,
        principal,
        JobClass.SOURCE_SYNC,
        {"data_source_id": ds.id, "trigger": trigger},
        dedup_key=f"sync:{ds.id}" + (f":{scheduled_for.isoformat()}" if scheduled_for else ""),
        scheduled_for=scheduled_for,
        max_attempts=1 if trigger == "manual" else 3,
    )


_CRON_SAFE = re.compile(r"^[0-9*/,\- A-Za-z?#LW]{1,100}$")


def due_syncs(session: Session, now: datetime) -> list[tuple[DataSource, datetime]]:
    """Rest sources whose cron ``schedule`` has a fire due at ``now`` since their last scheduled
    sync (or their creation), with that fire time."""
    from croniter import croniter

    out: list[tuple[DataSource, datetime]] = []
    for ds in session.scalars(select(DataSource).where(DataSource.kind.in_(("rest", "sql")))):
        cron = (ds.config_json or {}).get("schedule")
        if not isinstance(cron, str) or not _CRON_SAFE.match(cron) or not croniter.is_valid(cron):
            continue
        # From the last fire synced (a fire on its way is deduplicated by its job's key).
        last = session.scalar(
            select(SourceSync.scheduled_for)
            .where(SourceSync.data_source_id == ds.id, SourceSync.scheduled_for.is_not(None))
            .order_by(SourceSync.scheduled_for.desc())
            .limit(1)
        )
        base = last or ds.created_at
        base = base if base.tzinfo else base.replace(tzinfo=UTC)
        fire = croniter(cron, base).get_next(datetime)
        if fire <= now:
            out.append((ds, fire))
    return out


def fire_due_syncs(ctx: IngestContext, now: datetime | None = None) -> list[int]:
    """Submit a ``source_sync`` job for every due scheduled source (as its owner); the job ids."""
    now = now or datetime.now(UTC)
    subs = []
    with transaction(ctx.sessions) as session:
        for ds, fire in due_syncs(session, now):
            if ds.owner_id is None:
                continue
            try:
                owner = principal_for_user_id(session, ds.owner_id, kind="job")
            except (PermissionDenied, InvalidSpec, LookupError):
                continue
            if owner.is_admin:
                subs.append(submit_sync(session, owner, ds.id, trigger="schedule", scheduled_for=fire))
    for sub in subs:
        sub.enqueue(ctx.redis)
    return [sub.record.id for sub in subs]
