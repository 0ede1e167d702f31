"""Report task functions: thin, by id, acting as the job's owner.

Enqueued by dotted path (``"jobs.reports.execute"``) for ``report_execute`` and
``report_schedule`` jobs; the payload holds ``report_id``, optional ``params`` and, for a
schedule's fire, ``schedule_id`` (its delivery: the result e-mailed to its recipients).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.context import AppContext
from portal.errors import BadRequest, PermissionDenied
from portal.identity.principal import Principal, principal_for_user_id
from portal.jobqueue.delivery import email_result
from portal.jobqueue.lifecycle import Failure
from portal.models import JobRecord, ReportExecution, ReportSchedule
from portal.reports.service import execute_report, load_execution_result

log = logging.getLogger(__name__)


def _deliver(
    ctx: AppContext, session: Session, principal: Principal, record: JobRecord, ex: ReportExecution
) -> int:
    """E-mail a schedule's result to its recipients (each at most once per job); how many were sent."""
    schedule_id = (record.payload_json or {}).get("schedule_id")
    if not isinstance(schedule_id, int):
        return 0
    schedule = session.get(ReportSchedule, schedule_id)
    config = (schedule.delivery_config_json if schedule is not None else None) or {}
    recipients = [str(r) for r in config.get("recipients") or []]
    if not recipients:
        return 0
    _, report, frame = load_execution_result(session, principal, ex.id, ctx.settings.results_dir)
    return email_result(
        ctx,
        record,
        recipients,
        title=report.name,
        frame=frame,
        fmt=str(config.get("format") or "csv"),
        fire_time=(record.payload_json or {}).get("fire_time"),
    )


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any] | Failure:
    if record.owner_id is None:
        # A job acts as its owner, never as "whoever": an owner deleted since cannot run it.
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    principal = principal_for_user_id(session, record.owner_id, kind="job")
    payload = record.payload_json or {}
    try:
        report_id = int(payload["report_id"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest("report_id: the job's payload names no report", field="report_id") from None
    params = payload.get("params") or None
    use_cache = payload.get("use_cache", True) is not False
    ex = execute_report(
        session,
        principal,
        report_id,
        ctx.warehouse,
        ctx.settings.results_dir,
        params=params,
        use_cache=use_cache,
    )
    summary: dict[str, Any] = {
        "execution_id": ex.id,
        "status": ex.status,
        "rows": ex.row_count,
        "runtime_ms": ex.runtime_ms,
    }
    if ex.status == "failed":
        # The warehouse failed: keep the failed execution row, let the job retry.
        error = str((ex.meta_json or {}).get("error", "the warehouse query failed"))
        return Failure(error=f"execution {ex.id} failed: {error}", result=summary)
    sent = _deliver(ctx, session, principal, record, ex)
    if sent:
        summary["emailed"] = sent
    return summary


def execute(job_id: int) -> dict[str, Any] | None:
    """Run the report of job ``job_id`` and record the execution; None if already finished."""
    return run_tracked(job_id, _run)
