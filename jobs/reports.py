"""Report task functions: thin, by id, acting as the job's owner.

Enqueued by dotted path (``"jobs.reports.execute"``) for ``report_execute`` and
``report_schedule`` jobs; the payload holds ``report_id``, optional ``params`` and, for a
schedule's fire, ``schedule_id`` (its delivery: the result e-mailed to its recipients).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import follow_up, run_tracked
from portal.alerts.evaluation import submit_evaluations
from portal.context import AppContext
from portal.errors import BadRequest, PermissionDenied
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.jobqueue.delivery import email_result
from portal.jobqueue.lifecycle import Failure
from portal.jobstore import record_progress
from portal.models import JobRecord, ReportExecution, ReportSchedule
from portal.reports.service import execute_report, load_execution_result

log = logging.getLogger(__name__)


def _recipients(session: Session, record: JobRecord) -> tuple[list[str], str]:
    """A schedule fire's recipients and file format (none for an on-demand run)."""
    schedule_id = (record.payload_json or {}).get("schedule_id")
    if not isinstance(schedule_id, int):
        return [], "csv"
    schedule = session.get(ReportSchedule, schedule_id)
    config = (schedule.delivery_config_json if schedule is not None else None) or {}
    return [str(r) for r in config.get("recipients") or []], str(config.get("format") or "csv")


def _summary(ex: ReportExecution) -> dict[str, Any]:
    return {"execution_id": ex.id, "status": ex.status, "rows": ex.row_count, "runtime_ms": ex.runtime_ms}


def _failure(ex: ReportExecution, summary: dict[str, Any]) -> Failure:
    # The warehouse failed: keep the failed execution row, let the job retry.
    error = str((ex.meta_json or {}).get("error", "the warehouse query failed"))
    return Failure(error=f"execution {ex.id} failed: {error}", result=summary)


def _execute_once(ctx: AppContext, record: JobRecord, report_id: int, params: Any, use_cache: bool) -> int:
    """The execution of a job that delivers: recorded and committed before anything is sent.

    An attempt after a crash finds the done execution of the attempt before (its id is kept
    in the job's progress) and sends that, instead of running the report a second time.
    """
    with transaction(ctx.sessions) as s:
        prior = (record.result_json or {}).get("execution_id")
        if isinstance(prior, int):
            ex = s.get(ReportExecution, prior)
            if ex is not None and ex.status == "done":
                return ex.id
        assert record.owner_id is not None
        principal = principal_for_user_id(s, record.owner_id, kind="job")
        ex = execute_report(
            s,
            principal,
            report_id,
            ctx.warehouse,
            ctx.settings.results_dir,
            params=params,
            use_cache=use_cache,
        )
        record_progress(s, record.id, _summary(ex))
        return ex.id


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
    recipients, fmt = _recipients(session, record)
    if not recipients:
        # Nothing leaves the portal: the execution commits together with the job's "done".
        ex = execute_report(
            session,
            principal,
            report_id,
            ctx.warehouse,
            ctx.settings.results_dir,
            params=params,
            use_cache=use_cache,
        )
        if ex.status == "failed":
            return _failure(ex, _summary(ex))
        return {**_summary(ex), "triggers": _evaluate(session, principal, report_id, ex.id)}
    found = session.get(ReportExecution, _execute_once(ctx, record, report_id, params, use_cache))
    assert found is not None
    summary = _summary(found)
    if found.status == "failed":
        return _failure(found, summary)
    _, report, frame = load_execution_result(session, principal, found.id, ctx.settings.results_dir)
    fire = payload.get("fire_time")
    summary["emailed"] = email_result(
        ctx, record, recipients, title=report.name, frame=frame, fmt=fmt, fire_time=fire
    )
    summary["triggers"] = _evaluate(session, principal, report_id, found.id)
    return summary


def _evaluate(session: Session, principal: Principal, report_id: int, execution_id: int) -> int:
    """Submit the evaluation of the report's triggers on this result (enqueued after commit)."""
    subs = submit_evaluations(session, principal, report_id, execution_id)
    for sub in subs:
        follow_up(session, sub)
    return len(subs)


def execute(job_id: int) -> dict[str, Any] | None:
    """Run the report of job ``job_id`` and record the execution; None if already finished."""
    return run_tracked(job_id, _run)
