"""File import task: thin, by id, acting as the importer (``data_import`` jobs).

The payload holds ``import_id`` (its ``import_runs`` row, made when the import was started).
The work is :func:`portal.ingest.runner.execute_import`; progress goes to the import row and
to the job's progress JSON (the job monitor shows it) at most twice a second, each write a
short transaction of its own so the long load never holds a lock on the metadata database.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.errors import BadRequest, PermissionDenied
from portal.infra.db import transaction
from portal.ingest.runner import execute_import
from portal.jobqueue.lifecycle import Failure
from portal.jobstore import record_progress
from portal.models import JobRecord


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any] | Failure:
    if record.owner_id is None:
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    import_id = (record.payload_json or {}).get("import_id")
    if not isinstance(import_id, int):
        raise BadRequest("import_id: the job's payload names no import", field="import_id")
    job_id, last = record.id, [0.0]

    def hook(progress: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        with transaction(ctx.sessions) as s:
            record_progress(s, job_id, {"import_id": import_id, **progress})

    outcome = execute_import(ctx, import_id, hook=hook)
    result: dict[str, Any] = {
        "import_id": import_id,
        "status": outcome.status,
        "rows_read": outcome.rows_read,
        "rows_loaded": outcome.rows_loaded,
        "rows_rejected": outcome.rows_rejected,
        "seconds": round(outcome.seconds, 2),
    }
    if outcome.status == "failed":
        # The import row keeps the reason; a retry would read the same file the same way.
        return Failure(error=outcome.error or "the import failed", result=result, permanent=True)
    return result


def import_file(job_id: int) -> dict[str, Any] | None:
    """Run the import of job ``job_id``; None if the job was already finished."""
    return run_tracked(job_id, _run)
