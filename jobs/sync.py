"""Source sync task (``source_sync`` jobs): load a REST source's new rows into the warehouse.

Enqueued by dotted path (``"jobs.sync.run"``) with ``{"data_source_id": 7, "trigger": "manual"}``.
The job acts as its owner, who must be an admin of the source's tenant. The sync keeps its own
history row (``source_syncs``) and commits its load itself, so the catalog is told about the new
version only after the data is there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.errors import BadRequest, PermissionDenied
from portal.ingest.sync import run_sync
from portal.jobstore import record_progress
from portal.models import JobRecord


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
    if record.owner_id is None:
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    payload = record.payload_json or {}
    ds_id = payload.get("data_source_id")
    if not isinstance(ds_id, int) or isinstance(ds_id, bool):
        raise BadRequest("data_source_id: the job names no data source", field="data_source_id")
    trigger = "schedule" if payload.get("trigger") == "schedule" else "manual"
    outcomes = run_sync(
        ctx, ds_id, record.owner_id, trigger=trigger, job_id=record.id, scheduled_for=record.scheduled_for
    )
    result = {
        "syncs": [
            {"sync_id": o.sync_id, "target": o.target, "changed": o.changed, **o.counts} for o in outcomes
        ]
    }
    record_progress(session, record.id, result)
    return result


def run(job_id: int) -> dict[str, Any] | None:
    """Sync the data source of job ``job_id``'s payload; None if the job was already finished."""
    return run_tracked(job_id, _run)
