"""Pre-aggregation task: rebuild the warehouse's rollups, off-peak (``dataset_precompute`` jobs).

Enqueued by dotted path (``"jobs.precompute.refresh"``). The payload may name the rollups to
build (``{"rollups": ["tickets_daily"]}``); without it every rollup of the warehouse is built.
Only an administrator's job may build: the tables serve every tenant of the warehouse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.data.rollup_store import refresh as refresh_rollups
from portal.errors import BadRequest, PermissionDenied
from portal.identity.principal import principal_for_user_id
from portal.models import JobRecord

#: Statement timeout of one rollup build (the job itself may run 2 h: ``portal.jobqueue.enqueue``).
BUILD_TIMEOUT_SECONDS = 45 * 60


def _names(payload: dict[str, Any]) -> list[str] | None:
    names = payload.get("rollups")
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRequest('rollups: give a list of rollup names, e.g. ["tickets_daily"]', field="rollups")
    return names


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
    if record.owner_id is None:
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    principal = principal_for_user_id(session, record.owner_id, kind="job")
    if not principal.is_admin:
        raise PermissionDenied("only administrators may rebuild pre-aggregations")
    names = _names(record.payload_json or {})
    built = refresh_rollups(ctx.warehouse, names, timeout=BUILD_TIMEOUT_SECONDS)
    return {
        "rollups": {b.name: {"rows": b.rows, "base_rows": b.base_rows, "seconds": b.seconds} for b in built}
    }


def refresh(job_id: int) -> dict[str, Any] | None:
    """Rebuild the rollups of job ``job_id``'s payload; None if the job was already finished."""
    return run_tracked(job_id, _run)
