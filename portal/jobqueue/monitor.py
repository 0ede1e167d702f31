"""The job monitor's services: a job as the monitor shows it, cancel and retry, the workers, the last hour.

Everything a caller sees is their tenant's (:func:`portal.jobstore.visible_jobs`): another
tenant's job answers like a missing one (404), and a worker busy with another tenant's job is
shown as "busy (another tenant)" without its details.

Cancel and retry change the ``job_queue`` record through :func:`portal.jobstore.move` (the one
writer of a job's state) in the caller's transaction; the RQ side follows after the commit
(:func:`withdraw`, :func:`requeue`). The record decides: a job canceled in the database and
still on a queue because Redis was away is found canceled by its worker and not run, and a
retried job whose enqueue failed stays ``queued`` for the start-up reconciliation.

Services: they take a session and a principal and never commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.worker import BaseWorker
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal.errors import PermissionDenied
from portal.identity.principal import Principal
from portal.jobqueue.enqueue import PRIORITY_ORDER, SERIALIZER, enqueue_job, queue_name
from portal.jobstore import get_job, move, visible_jobs
from portal.jobstore.settings import effective_limits, tenant_limits
from portal.models import JobRecord, Tenant, utcnow
from portal.queue.states import TRANSITIONS, JobState
from portal.specs.jobs import Pool

log = logging.getLogger(__name__)

#: What the monitor shows of a worker whose current job belongs to another tenant.
OTHER_TENANT = "busy (another tenant)"
#: The activity charts' window and step.
WINDOW = timedelta(hours=1)
STEP = timedelta(minutes=1)
#: States in which a job waits for a worker (its wait counts as queue lag).
_WAITING_FOR_WORKER = (JobState.QUEUED.value, JobState.WAITING.value)


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands stored times back naive; they are UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime | None) -> str | None:
    at = aware(moment)
    return at.isoformat() if at else None


def may_act(principal: Principal, job: JobRecord) -> bool:
    """True if ``principal`` may cancel or retry ``job``: its owner, or an admin of its tenant."""
    if job.tenant_id != principal.tenant_id:
        return False
    return principal.is_admin or (principal.user_id is not None and job.owner_id == principal.user_id)


def job_to_dict(job: JobRecord, principal: Principal, *, detail: bool = False) -> dict[str, Any]:
    """JSON view of a job for ``principal`` (a job of its tenant, see :func:`portal.jobstore.get_job`).

    Payload and result summary (which may quote parameters) only to the job's owner and admins,
    and only with ``detail``; ``can_cancel``/``can_retry`` say which buttons apply.
    """
    state = JobState(job.status)
    allowed = may_act(principal, job)
    out: dict[str, Any] = {
        "id": job.id,
        "job_class": job.job_class,
        "pool": job.pool,
        "priority": job.priority,
        "state": state.value,
        "reason": job.status_reason,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "worker": job.worker_id,
        "owner_id": job.owner_id,
        "created_at": _iso(job.created_at),
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "not_before": _iso(job.not_before_at),
        "scheduled_for": _iso(job.scheduled_for),
        "last_error": job.last_error,
        "can_cancel": allowed and JobState.CANCELED in TRANSITIONS[state],
        "can_retry": allowed and state in (JobState.FAILED, JobState.CANCELED),
    }
    if detail:
        mine = allowed
        out["payload"] = dict(job.payload_json or {}) if mine else None
        out["result"] = dict(job.result_json or {}) if mine and job.result_json else None
        out["rq_job_id"] = job.rq_job_id
    return out


def tenant_filter(session: Session, principal: Principal, value: str | None) -> int | None:
    """The ``tenant`` filter of ``GET /api/jobs`` as a tenant id: the caller's own id or slug.

    It narrows, never widens: any other value (another tenant's id or slug, or nonsense) gives
    ``-1``, which matches no job — the same empty answer whether that tenant exists or not.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return principal.tenant_id if int(text) == principal.tenant_id else -1
    slug = session.scalar(select(Tenant.slug).where(Tenant.id == principal.tenant_id))
    return principal.tenant_id if slug is not None and slug == text else -1


# --------------------------------------------------------------------------- cancel and retry
def _acting(session: Session, principal: Principal, job_id: int, what: str) -> JobRecord:
    job = get_job(session, principal, job_id)  # 404 for another tenant's or a missing job
    if not may_act(principal, job):
        raise PermissionDenied(f"only the job's owner or an administrator of the tenant can {what} it")
    return job


def cancel_job(session: Session, principal: Principal, job_id: int) -> JobRecord:
    """Cancel a job on its way (owner or tenant admin): 409 naming ``state`` for a finished one.

    Only the record moves here; call :func:`withdraw` after the commit.
    """
    job = _acting(session, principal, job_id, "cancel")
    return move(session, job, JobState.CANCELED, reason=f"canceled by {principal.label or 'a user'}")


def retry_job(session: Session, principal: Principal, job_id: int) -> JobRecord:
    """Queue a failed or canceled job again, same id and payload (owner or tenant admin).

    Any other state is a 409 naming ``state``. Only the record moves here; call
    :func:`requeue` after the commit.
    """
    job = _acting(session, principal, job_id, "retry")
    # Due now: a retried job that was deferred to a later time must not wait for it on RQ while
    # its record says queued; admission decides again when a worker takes it (and may defer it).
    # Whole seconds: enqueue_job rounds a fraction up, which would put the job a second ahead.
    return move(session, job, JobState.QUEUED, not_before=utcnow().replace(microsecond=0))


@dataclass(frozen=True)
class Withdrawal:
    """What happened on the RQ side of a cancel."""

    action: str  # "removed" | "stop-sent" | "absent" | "unreachable"
    detail: str = ""


def withdraw(redis: Redis, record: JobRecord) -> Withdrawal:
    """Take a canceled job off RQ: out of its queue or the scheduled registry, or stop its run.

    Best effort after the commit: the record already says canceled, and a worker never runs
    a canceled record (:func:`portal.jobqueue.lifecycle.start`).
    """
    if not record.rq_job_id:
        return Withdrawal("absent")
    try:
        job = Job.fetch(record.rq_job_id, connection=redis, serializer=SERIALIZER)
    except NoSuchJobError:
        return Withdrawal("absent")
    except RedisError as exc:
        log.warning("job %s: canceled, but Redis is unreachable: %s", record.id, exc)
        return Withdrawal("unreachable", str(exc))
    try:
        status = job.get_status(refresh=False)
        if status == JobStatus.STARTED:
            # A forking worker kills the work horse; the record is canceled either way, so a
            # run that goes on cannot record "done" (canceled -> done is refused).
            send_stop_job_command(redis, job.id, serializer=SERIALIZER)
            return Withdrawal("stop-sent")
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return Withdrawal("absent")
        job.cancel()
        return Withdrawal("removed")
    except InvalidJobOperation as exc:
        return Withdrawal("absent", str(exc))
    except RedisError as exc:
        log.warning("job %s: canceled, but Redis is unreachable: %s", record.id, exc)
        return Withdrawal("unreachable", str(exc))


def requeue(redis: Redis, record: JobRecord) -> bool:
    """Put a retried (committed, ``queued``) record back on its queue; False if Redis was away."""
    try:
        enqueue_job(redis, record)
    except RedisError:
        log.exception("job %s: retried, but not enqueued (reconciliation will)", record.id)
        return False
    return True


# --------------------------------------------------------------------------- workers
def _pool_of(worker: BaseWorker) -> str:
    """A worker's pool: from the queues it listens to ("batch:high"), else its name ("batch-host-…")."""
    for q in worker.queue_names():
        head = q.split(":", 1)[0]
        if head in {p.value for p in Pool}:
            return head
    for p in Pool:
        if worker.name.startswith(f"{p.value}-") or f"-{p.value}-" in worker.name:
            return p.value
    return "other"


def workers_overview(session: Session, principal: Principal, redis: Redis) -> dict[str, Any]:
    """Pools with their queues (lengths), workers (state, heartbeat, counts, current job) and limits.

    A worker's current job is shown in full when it is the caller's tenant's; another tenant's
    current job is only "busy (another tenant)". Redis being away gives ``redis_error`` and no
    workers, not a failure: the limits still show.
    """
    pools: dict[str, dict[str, Any]] = {p.value: {"pool": p.value, "queues": [], "workers": []} for p in Pool}
    error: str | None = None
    try:
        for p in Pool:
            for prio in PRIORITY_ORDER:
                q = Queue(queue_name(p.value, prio.value), connection=redis, serializer=SERIALIZER)
                pools[p.value]["queues"].append({"name": q.name, "length": q.count})
        workers = Worker.all(connection=redis, serializer=SERIALIZER)
        current = {w.name: w.get_current_job_id() for w in workers}
    except RedisError as exc:
        error = f"Redis is unreachable: {exc}"
        workers, current = [], {}
    ids = [j for j in current.values() if j]
    records = _records_by_rq_id(session, ids)
    for w in sorted(workers, key=lambda w: w.name):
        job_id = current.get(w.name)
        shown: dict[str, Any] | str | None = None
        if job_id:
            rec = records.get(job_id)
            if rec is not None and rec.tenant_id == principal.tenant_id:
                shown = job_to_dict(rec, principal)
            else:
                shown = OTHER_TENANT
        pool = _pool_of(w)
        entry = {
            "name": w.name,
            "pool": pool,
            "state": str(w.get_state()),
            "queues": w.queue_names(),
            "last_heartbeat": _iso(w.last_heartbeat),
            "birth": _iso(w.birth_date),
            "successful_jobs": w.successful_job_count,
            "failed_jobs": w.failed_job_count,
            "current_job": shown,
        }
        pools.setdefault(pool, {"pool": pool, "queues": [], "workers": []})["workers"].append(entry)
    return {
        "pools": list(pools.values()),
        "limits": {
            "effective": effective_limits(session, principal.tenant_id).model_dump(mode="json"),
            "tenant": tenant_limits(session, principal.tenant_id).model_dump(mode="json"),
        },
        "redis_error": error,
    }


def _records_by_rq_id(session: Session, rq_ids: Iterable[str]) -> dict[str, JobRecord]:
    ids = sorted(set(rq_ids))
    if not ids:
        return {}
    rows = session.scalars(select(JobRecord).where(JobRecord.rq_job_id.in_(ids)))
    return {r.rq_job_id: r for r in rows if r.rq_job_id}


# --------------------------------------------------------------------------- the last hour
def recent_activity(session: Session, principal: Principal, now: datetime | None = None) -> dict[str, Any]:
    """Queue lag per pool and jobs finished per minute over the last hour, of the caller's tenant.

    ``minutes``: the end of each minute (aware UTC); ``lag[pool][i]``: the longest wait of a job
    waiting for a worker at that moment (from ``enqueued_at`` until it started, or until now
    while it is still queued or held by a limit), in seconds; ``done[i]``/``failed[i]``: jobs
    that finished so in minute ``i``. Derived from the ``job_queue`` rows (one query): a job's
    wait before a retry is replaced by its latest one, which is good enough for a chart.
    """
    end = aware(now) or utcnow()
    end = end.replace(second=0, microsecond=0) + STEP
    start = end - WINDOW
    steps = int(WINDOW / STEP)
    minutes = [start + STEP * (i + 1) for i in range(steps)]
    rows = session.execute(
        select(
            JobRecord.pool,
            JobRecord.status,
            JobRecord.enqueued_at,
            JobRecord.started_at,
            JobRecord.finished_at,
        ).where(
            visible_jobs(principal),
            or_(
                JobRecord.finished_at >= start,
                JobRecord.started_at >= start,
                JobRecord.status.in_(_WAITING_FOR_WORKER),
                and_(JobRecord.enqueued_at >= start, JobRecord.started_at.is_(None)),
            ),
        )
    ).all()
    lag: dict[str, list[float]] = {p.value: [0.0] * steps for p in Pool}
    done = [0] * steps
    failed = [0] * steps
    clock = aware(now) or utcnow()
    for pool, status, enqueued, started, finished in rows:
        fin = aware(finished)
        if fin is not None and start <= fin < end and status in (JobState.DONE.value, JobState.FAILED.value):
            i = int((fin - start) / STEP)
            (done if status == JobState.DONE.value else failed)[i] += 1
        since = aware(enqueued)
        began = aware(started)
        if since is None:
            continue
        if began is not None and began >= since:
            until = began
        elif status in _WAITING_FOR_WORKER:
            until = clock
        else:
            continue  # deferred, canceled before it started...: not waiting for a worker
        series = lag.setdefault(str(pool), [0.0] * steps)
        for i, t in enumerate(minutes):
            moment = min(t, clock)
            if since <= moment <= until:
                series[i] = max(series[i], (moment - since).total_seconds())
    return {
        "minutes": [m.isoformat() for m in minutes],
        "lag": lag,
        "done": done,
        "failed": failed,
    }
