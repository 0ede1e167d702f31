"""Evaluating triggers after a report execution: one ``trigger_evaluate`` job per active trigger.

:func:`submit_evaluations` (called after each successful execution) creates the jobs;
:func:`run_evaluation` is the job's work, in three steps:

1. *Read* (no lock held): the trigger, and the execution's result as the trigger's author may
   see it (the stored result when they ran it, else the report run again under their scope).
2. *Decide* (one short transaction that first touches the trigger row, so evaluations of one
   trigger take turns on SQLite and PostgreSQL alike): :func:`portal.queue.triggers.evaluate`
   with the remembered matches, then cooldown and re-arm. When it notifies, the alert, its
   in-app notifications, its tickets and the report runs are written together, and the trigger
   remembers ``(execution, job, alert)``.
3. *Send* (:mod:`portal.alerts.delivery`): e-mail and webhooks, each recorded as it goes.

A job that runs again (RQ's retry after a transient failure) finds its execution already
decided and only resumes step 3: no second alert, no second message. An execution older than
the last one decided is ignored (it arrived late and must not count in a streak).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.alerts.center import history_step
from portal.alerts.delivery import Fired, Runtime, deliver
from portal.alerts.notifications import alert_audience, notify_users
from portal.alerts.triggers import MIN_HISTORY, condition_text
from portal.errors import AuthenticationFailed, BadRequest, NotFound, PermissionDenied
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.jobqueue.enqueue import Submission, enqueue_job, submit
from portal.jobqueue.lifecycle import Failure
from portal.jobstore import delivery_key, record_delivery
from portal.models import Alert, AlertTicket, JobRecord, Report, ReportTrigger, utcnow
from portal.queue.states import FINISHED, JobState
from portal.queue.triggers import TriggerOutcome, evaluate, rearm, should_notify
from portal.reports.service import get_report, load_execution_result
from portal.specs import TriggerSpec, parse_spec
from portal.specs.jobs import JobClass, Priority
from portal.specs.triggers import HighlightWidgetAction, InAppAction, OpenTicketAction, RunReportAction

log = logging.getLogger(__name__)

#: Attempts of an evaluation job: its webhooks retry with backoff (5 s, 10 s, 20 s, 40 s...).
MAX_ATTEMPTS = 5


def evaluation_key(trigger_id: int, execution_id: int) -> str:
    """The dedup key of the evaluation of one trigger on one execution."""
    return f"trigger:{trigger_id}:execution:{execution_id}"


def _acting(session: Session, caller: Principal, t: ReportTrigger) -> Principal | None:
    """Who the trigger acts as: its author (None when they are gone or disabled)."""
    if t.created_by is None:
        return None
    if caller.user_id == t.created_by:
        return caller
    try:
        return principal_for_user_id(session, t.created_by, kind="job")
    except AuthenticationFailed:
        return None


def submit_evaluations(
    session: Session, principal: Principal, report_id: int, execution_id: int
) -> list[Submission]:
    """One ``trigger_evaluate`` job per active trigger of the report (deduplicated per trigger and
    execution); enqueue them after the caller's commit (``sub.enqueue(redis)``).

    Each job acts as its trigger's author: the condition is judged on what the author may see,
    and the actions run with the author's rights. A trigger whose author is gone is skipped.
    Only the principal's tenant is looked at.
    """
    triggers = session.scalars(
        select(ReportTrigger)
        .join(Report, Report.id == ReportTrigger.report_id)
        .where(
            ReportTrigger.report_id == report_id,
            ReportTrigger.is_active.is_(True),
            Report.tenant_id == principal.tenant_id,
        )
        .order_by(ReportTrigger.id)
    )
    subs: list[Submission] = []
    for t in triggers:
        owner = _acting(session, principal, t)
        if owner is None:
            log.warning("trigger %s: its author %s is gone or disabled; not evaluated", t.id, t.created_by)
            continue
        subs.append(
            submit(
                session,
                owner,
                JobClass.TRIGGER_EVALUATE,
                {"trigger_id": t.id, "report_id": report_id, "execution_id": execution_id},
                priority=Priority.HIGH,
                dedup_key=evaluation_key(t.id, execution_id),
                max_attempts=MAX_ATTEMPTS,
            )
        )
    return subs


# --------------------------------------------------------------------------- the job's work
def json_value(value: Any) -> Any:
    """``value`` as plain JSON (numbers, text, true/false, ISO dates; NaN → null)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return json_value(float(value))
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):
        return json_value(value.item())
    return str(value)


@dataclass
class Decision:
    """What step 2 decided (or found decided by an earlier attempt of the same job)."""

    skipped: str | None = None
    matched: bool | None = None
    fired: bool | None = None
    notified: bool = False
    alert_id: int | None = None
    jobs: list[int] = field(default_factory=list)
    resumed: bool = False
    reason: str = ""


def _payload(record: JobRecord) -> tuple[int, int]:
    p = record.payload_json or {}
    try:
        return int(p["trigger_id"]), int(p["execution_id"])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(
            "payload: an evaluation job names trigger_id and execution_id", field="payload"
        ) from None


def _last(t: ReportTrigger) -> dict[str, Any]:
    last = (t.state_json or {}).get("last")
    return last if isinstance(last, dict) else {}


def _already(t: ReportTrigger, execution_id: int, job_id: int) -> Decision | None:
    """The decision an earlier attempt took on this execution, or why there is nothing to do."""
    last = _last(t)
    seen = last.get("execution_id")
    if seen == execution_id:
        if last.get("job_id") != job_id:
            # Another job decided it and owns its deliveries (its own retries resume them).
            return Decision(skipped=f"execution {execution_id} was evaluated by job {last.get('job_id')}")
        return Decision(
            notified=bool(last.get("notified")),
            alert_id=last.get("alert_id"),
            jobs=[int(j) for j in last.get("jobs", [])],
            resumed=True,
        )
    if isinstance(seen, int) and execution_id < seen:
        return Decision(skipped=f"a later execution ({seen}) was evaluated already")
    if not t.is_active:
        return Decision(skipped="the trigger is disabled")
    return None


def _read(
    rt: Runtime, record: JobRecord, trigger_id: int, execution_id: int
) -> tuple[Principal, pd.DataFrame | None, Decision | None]:
    """Step 1: who acts, and the result to judge (None when there is nothing to decide)."""
    if record.owner_id is None:
        raise PermissionDenied(f"job {record.id} has no owner to act as")
    with rt.sessions() as s:
        principal = principal_for_user_id(s, record.owner_id, kind="job")
        t = s.get(ReportTrigger, trigger_id)
        if t is None:
            return principal, None, Decision(skipped=f"trigger {trigger_id} was deleted")
        get_report(s, principal, t.report_id, "view")  # the author still sees the report, same tenant
        found = _already(t, execution_id, record.id)
        if found is not None:
            return principal, None, found
        ex, _, frame = load_execution_result(
            s, principal, execution_id, rt.settings.results_dir, warehouse=rt.warehouse
        )
        if ex.report_id != t.report_id:
            raise BadRequest(
                f"execution_id: execution {execution_id} is not a run of report {t.report_id}",
                field="execution_id",
            )
        return principal, frame, None


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _decide(
    rt: Runtime,
    record: JobRecord,
    principal: Principal,
    trigger_id: int,
    execution_id: int,
    frame: pd.DataFrame,
) -> Decision:
    """Step 2, in one transaction whose first statement locks the trigger row."""
    with transaction(rt.sessions) as s:
        touched = s.execute(
            update(ReportTrigger)
            .where(ReportTrigger.id == trigger_id)
            .values(is_active=ReportTrigger.is_active)
            .execution_options(synchronize_session=False)
        )
        if touched.rowcount != 1:  # type: ignore[attr-defined]
            return Decision(skipped=f"trigger {trigger_id} was deleted")
        t = s.get(ReportTrigger, trigger_id, populate_existing=True)
        assert t is not None
        found = _already(t, execution_id, record.id)  # another job may have decided meanwhile
        if found is not None:
            return found
        report = get_report(s, principal, t.report_id, "view")
        spec = parse_spec(TriggerSpec, t.rule_json)
        state = dict(t.state_json or {})
        history = [bool(x) for x in state.get("history", [])]
        outcome = evaluate(spec, frame, history)
        now = utcnow()
        armed = bool(state.get("armed", True))
        cooldown = timedelta(minutes=spec.cooldown_minutes)
        notified = outcome.fired and should_notify(_aware(t.last_fired_at), now, cooldown, armed)
        decision = Decision(
            matched=outcome.matched, fired=outcome.fired, notified=notified, reason=outcome.reason
        )
        if notified:
            alert = _raise_alert(s, principal, record, t, report, spec, outcome, execution_id)
            decision.alert_id = alert.id
            decision.jobs = _run_reports(s, principal, t, alert, spec)
            t.last_fired_at = now
        state["history"] = [*history, outcome.matched][-max(spec.for_consecutive, MIN_HISTORY) :]
        state["armed"] = rearm(armed, outcome.matched, notified)
        state["last"] = {
            "execution_id": execution_id,
            "job_id": record.id,
            "alert_id": decision.alert_id,
            "notified": notified,
            "jobs": decision.jobs,
            "at": now.isoformat(),
        }
        t.state_json = state
        t.last_evaluated_at = now
        s.flush()
        return decision


def _raise_alert(
    s: Session,
    principal: Principal,
    record: JobRecord,
    t: ReportTrigger,
    report: Report,
    spec: TriggerSpec,
    outcome: TriggerOutcome,
    execution_id: int,
) -> Alert:
    """The alert, its in-app notifications and its tickets (flushed with the decision)."""
    now = utcnow()
    widget = next((a.widget_id for a in spec.actions if isinstance(a, HighlightWidgetAction)), None)
    name = t.name or f"{report.name}: {condition_text(spec)}"
    alert = Alert(
        tenant_id=report.tenant_id,
        name=name[:200],
        source_type="trigger",
        object_id=report.id,
        severity=spec.severity,
        status="open",
        payload_json={
            "report_id": report.id,
            "report_name": report.name,
            "trigger_id": t.id,
            "execution_id": execution_id,
            "value": json_value(outcome.value),
            "condition": condition_text(spec),
            "reason": outcome.reason,
            "job_id": record.id,
        },
        history_json=[history_step(None, "opened", outcome.reason, now)],
        created_at=now,
        updated_at=now,
        trigger_id=t.id,
        widget_id=widget,
    )
    s.add(alert)
    s.flush()
    if any(isinstance(a, InAppAction) for a in spec.actions):
        users = alert_audience(s, report.tenant_id, [t.created_by, report.owner_id])
        notify_users(
            s,
            report.tenant_id,
            users,
            title=alert.name,
            body=f"{report.name}: {outcome.reason}",
            link=f"/alerts?alert={alert.id}",
            severity=spec.severity,
            alert_id=alert.id,
        )
        for uid in users:
            who = f"user:{uid}"
            record_delivery(s, record.id, "in_app", who, delivery_key(record.id, "in_app", who), "sent")
    tickets: dict[str, int] = {}
    for i, a in enumerate(spec.actions):
        if isinstance(a, OpenTicketAction):
            ticket = AlertTicket(
                tenant_id=report.tenant_id,
                alert_id=alert.id,
                title=(a.title or alert.name)[:300],
                body=f"{report.name}: {outcome.reason}",
                status="open",
                external_status="pending" if a.url else None,
                created_at=now,
            )
            s.add(ticket)
            s.flush()
            tickets[str(i)] = ticket.id
    if tickets:
        alert.payload_json = {**alert.payload_json, "tickets": tickets}
    return alert


def _run_reports(
    s: Session, principal: Principal, t: ReportTrigger, alert: Alert, spec: TriggerSpec
) -> list[int]:
    """Report runs the alert asks for, as jobs of the trigger's author (enqueued after commit)."""
    ids: list[int] = []
    for a in spec.actions:
        if isinstance(a, RunReportAction):
            sub = submit(
                s,
                principal,
                JobClass.REPORT_EXECUTE,
                {"report_id": a.report_id, "trigger_id": t.id, "alert_id": alert.id},
                dedup_key=f"alert:{alert.id}:run:{a.report_id}",
            )
            ids.append(sub.record.id)
    return ids


def _enqueue(rt: Runtime, job_ids: list[int]) -> None:
    """Put the report runs on their queue (again, after a retry: enqueuing is idempotent)."""
    if not job_ids:
        return
    with rt.sessions() as s:
        records = list(s.scalars(select(JobRecord).where(JobRecord.id.in_(job_ids))))
    for rec in records:
        if JobState(rec.status) in FINISHED or rec.status == JobState.RUNNING:
            continue
        enqueue_job(rt.redis, rec)


def _fired(rt: Runtime, alert_id: int) -> Fired:
    """The stored alert as its messages describe it."""
    with rt.sessions() as s:
        a = s.get(Alert, alert_id)
        if a is None:
            raise NotFound(f"alert {alert_id} not found", field="alert_id")
        p = a.payload_json or {}
        created = _aware(a.created_at)
        return Fired(
            alert_id=a.id,
            tenant_id=a.tenant_id,
            name=a.name,
            severity=a.severity,
            created_at=created.isoformat() if created else "",
            report_id=int(p.get("report_id") or a.object_id or 0),
            report_name=str(p.get("report_name") or ""),
            trigger_id=int(p.get("trigger_id") or a.trigger_id or 0),
            execution_id=int(p.get("execution_id") or 0),
            value=p.get("value"),
            condition=str(p.get("condition") or ""),
            reason=str(p.get("reason") or ""),
            tickets={int(k): int(v) for k, v in (p.get("tickets") or {}).items()},
        )


def _actions(rt: Runtime, trigger_id: int) -> list[Any]:
    with rt.sessions() as s:
        t = s.get(ReportTrigger, trigger_id)
        return [] if t is None else list(parse_spec(TriggerSpec, t.rule_json).actions)


def run_evaluation(rt: Runtime, record: JobRecord) -> dict[str, Any] | Failure:
    """The work of a ``trigger_evaluate`` job: decide once, then send what is not sent yet.

    Returns the job's summary; a :class:`Failure` when a delivery failed (transient: the job is
    retried and resumes the deliveries; permanent: it ends failed, the alert stays).
    """
    trigger_id, execution_id = _payload(record)
    principal, frame, decision = _read(rt, record, trigger_id, execution_id)
    if decision is None:
        assert frame is not None
        decision = _decide(rt, record, principal, trigger_id, execution_id, frame)
    summary: dict[str, Any] = {"trigger_id": trigger_id, "execution_id": execution_id}
    if decision.skipped is not None:
        return {**summary, "skipped": decision.skipped}
    summary |= {
        "matched": decision.matched,
        "fired": decision.fired,
        "notified": decision.notified,
        "alert_id": decision.alert_id,
        "resumed": decision.resumed,
    }
    if not decision.notified or decision.alert_id is None:
        return summary
    _enqueue(rt, decision.jobs)
    out = deliver(rt, record.id, _fired(rt, decision.alert_id), _actions(rt, trigger_id))
    summary |= {
        "sent": out.sent,
        "already_sent": out.skipped,
        "failed": len(out.failures),
        "jobs": decision.jobs,
    }
    if out.failures:
        error = "; ".join(out.failures)[:2000]
        return Failure(error=error, result=summary, permanent=not out.transient)
    return summary
