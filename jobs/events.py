"""Analytics events task: snapshot, retention or backfill of the job's tenant (``events_build`` jobs).

Enqueued by dotted path (``"jobs.events.build"``) with a payload
``{"action": "snapshot" | "retention" | "backfill", "from"?: "YYYY-MM-DD", "to"?: "YYYY-MM-DD"}``.
Thin: the work is :func:`portal.events.builds.run_action`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.errors import PermissionDenied
from portal.events.builds import parse_action, run_action
from portal.models import JobRecord


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
    if record.tenant_id is None:
        raise PermissionDenied(f"job {record.id} has no tenant")
    action, first, last = parse_action(dict(record.payload_json or {}))
    # The build commits in its own transactions (the snapshots must be committed before the raw
    # segments are archived), so nothing is written through ``session`` here: on SQLite a write
    # pending in it would lock the build's transactions out.
    return run_action(
        sessions=ctx.sessions,
        home=ctx.settings.home,
        redis=ctx.redis,
        warehouse=ctx.warehouse,
        tenant_id=record.tenant_id,
        action=action,
        first=first,
        last=last,
    )


def build(job_id: int) -> dict[str, Any] | None:
    """Run the events action of job ``job_id``'s payload; None if the job was already finished."""
    return run_tracked(job_id, _run)
