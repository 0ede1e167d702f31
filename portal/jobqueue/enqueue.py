"""Putting mirrored jobs on RQ queues: one queue per pool and priority, JSON payloads, dotted paths.

The core never imports ``jobs/``: a job is enqueued by the dotted path of its task function
(``"jobs.reports.execute"``), which only the worker process imports. Every RQ job carries the
``job_queue`` id as its single argument and uses the deterministic ``rq_job_id`` of its record,
so enqueuing the same record twice gives one RQ job (the second call returns the first).

Transactions: a record is created in the caller's transaction (:func:`submit`) and enqueued
only after that transaction committed (:meth:`Submission.enqueue`). Enqueuing first would let
a worker pick the job up before its record is visible (it would find nothing to run and the
job would be lost); a crash between commit and enqueue leaves a ``queued`` record without an
RQ job, which the start-up reconciliation (issue 9, item 11) enqueues again.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy.orm import Session

from portal.errors import Conflict, not_among
from portal.identity.principal import Principal
from portal.jobstore import create_job
from portal.models import JobRecord, utcnow
from portal.notify.webhook import retry_delay
from portal.queue.states import FINISHED, JobState
from portal.specs.jobs import JobClass, Pool, Priority

#: Priorities in the order workers take them (critical first): ``Priority`` compares by urgency.
PRIORITY_ORDER: tuple[Priority, ...] = tuple(sorted(Priority, key=lambda p: p.rank, reverse=True))
#: One serializer everywhere: a queue, a worker or a monitor using pickle could not read these jobs.
SERIALIZER = JSONSerializer
#: RQ statuses of a job still on its way: enqueuing its record again returns it unchanged.
_FINISHED_RQ = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


@dataclass(frozen=True)
class Route:
    """Where a job class runs and how long it may take (seconds)."""

    func: str
    timeout: int
    result_ttl: int = 3600
    failure_ttl: int = 7 * 86400


#: Task function and limits per class. ``trigger_evaluate``, ``dataset_precompute`` and
#: ``pdf_render`` name the functions their issues add to ``jobs/`` (the hook is here already).
ROUTES: dict[JobClass, Route] = {
    JobClass.REPORT_EXECUTE: Route("jobs.reports.execute", timeout=15 * 60),
    JobClass.REPORT_SCHEDULE: Route("jobs.reports.execute", timeout=30 * 60),
    JobClass.TRIGGER_EVALUATE: Route("jobs.triggers.evaluate", timeout=5 * 60),
    JobClass.DATASET_PRECOMPUTE: Route("jobs.precompute.refresh", timeout=2 * 3600),
    JobClass.PDF_RENDER: Route("jobs.pdf.render", timeout=10 * 60),
    JobClass.DATA_IMPORT: Route("jobs.ingest.import_file", timeout=2 * 3600),
    JobClass.SOURCE_SYNC: Route("jobs.sync.run", timeout=3600),
    JobClass.EVENTS_BUILD: Route("jobs.events.build", timeout=3600),
}


def queue_name(pool: str, priority: str) -> str:
    """``"batch:normal"``: the RQ queue of a pool and priority (unknown values are a 422)."""
    if pool not in {p.value for p in Pool}:
        raise not_among("pool", pool, [p.value for p in Pool], field="pool")
    if priority not in {p.value for p in Priority}:
        raise not_among("priority", priority, [p.value for p in Priority], field="priority")
    return f"{pool}:{priority}"


def queues_for(pool: str, connection: Redis) -> list[Queue]:
    """The pool's queues in the order a worker must listen to them: critical > high > normal > low."""
    return [
        Queue(queue_name(pool, p.value), connection=connection, serializer=SERIALIZER) for p in PRIORITY_ORDER
    ]


def backoff(
    retries: int, *, base: float = 5, cap: float = 600, rng: random.Random | None = None
) -> list[int]:
    """Waits in whole seconds before retry 1..``retries``: exponential with jitter, never zero.

    The jitter is drawn once, when the job is enqueued (RQ takes fixed intervals): jobs failing
    together (a warehouse outage) still come back spread out instead of in one burst.
    """
    draw = rng or random.Random()  # jitter, not a secret
    return [max(1, math.ceil(retry_delay(n, base=base, cap=cap, rng=draw))) for n in range(1, retries + 1)]


def _live_job(redis: Redis, rq_job_id: str) -> Job | None:
    """The RQ job with this id if it is still on its way; a finished one is deleted (a new run)."""
    try:
        job = Job.fetch(rq_job_id, connection=redis, serializer=SERIALIZER)
    except NoSuchJobError:
        return None
    if job.get_status(refresh=False) in _FINISHED_RQ:
        # A manual retry reuses the record and so its RQ id: the old run must make room.
        job.delete()
        return None
    return job


def enqueue_job(
    redis: Redis,
    record: JobRecord,
    func: str | None = None,
    *,
    args: list[Any] | None = None,
    timeout: int | None = None,
    result_ttl: int | None = None,
    retry_intervals: list[int] | None = None,
    now: datetime | None = None,
    fresh: bool = False,
) -> Job:
    """Put a committed ``record`` on its pool's queue for its priority and return the RQ job.

    ``func`` defaults to the class's route, ``args`` to ``[record.id]``. A record with a future
    ``not_before_at`` goes through ``Queue.enqueue_at`` (a worker running with the scheduler
    moves it to the queue when due). ``critical`` jobs go to the front of their queue. Retries:
    ``record.max_attempts - 1`` with ``retry_intervals`` (default: :func:`backoff`).
    Idempotent: while an RQ job with the record's id is on its way, that job is returned.
    ``fresh`` (a record just created, whose RQ id never existed) skips looking for an old
    finished job to make room for: the atomic ``unique`` enqueue still returns a live one.
    """
    state = JobState(record.status)
    if state in FINISHED or state is JobState.RUNNING:
        raise Conflict(
            f"state: job {record.id} is {state.value}; only a job on its way can be enqueued", field="state"
        )
    if not record.rq_job_id:
        raise Conflict(f"rq_job_id: job {record.id} has no RQ id", field="rq_job_id")
    route = ROUTES[JobClass(record.job_class)]
    func = func or (record.admission_json or {}).get("func") or None
    if not fresh:
        live = _live_job(redis, record.rq_job_id)
        if live is not None:
            return live
    queue = Queue(queue_name(record.pool, record.priority), connection=redis, serializer=SERIALIZER)
    retries = record.max_attempts - 1
    critical = record.priority == Priority.CRITICAL
    retry = None
    if retries > 0:
        waits = backoff(retries) if retry_intervals is None else list(retry_intervals)
        retry = Retry(max=retries, interval=waits, enqueue_at_front=critical)
    options: dict[str, Any] = {
        "args": [record.id] if args is None else list(args),
        "job_id": record.rq_job_id,
        "job_timeout": route.timeout if timeout is None else timeout,
        "result_ttl": route.result_ttl if result_ttl is None else result_ttl,
        "failure_ttl": route.failure_ttl,
        "retry": retry,
        "at_front": critical,
        "description": f"{record.job_class} #{record.id} (tenant {record.tenant_id})",
        "meta": {"job_id": record.id, "job_class": record.job_class, "tenant_id": record.tenant_id},
        # Atomic "only if no job has this id": two processes enqueuing one record give one job.
        "unique": True,
    }
    when = _aware(record.not_before_at)
    if when is not None and when.microsecond:
        # RQ keeps scheduled times in whole seconds, truncated: round up so a job never starts early.
        when = when.replace(microsecond=0) + timedelta(seconds=1)
    try:
        if when is not None and when > (now or utcnow()):
            scheduled: Job = queue.enqueue_at(when, func or route.func, **options)
            return scheduled
        return queue.enqueue(func or route.func, **options)
    except DuplicateJobError:
        return Job.fetch(record.rq_job_id, connection=redis, serializer=SERIALIZER)


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands stored times back naive; they are UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class Submission:
    """A job created in the caller's transaction, to be enqueued once that transaction committed.

    ``with transaction(sessions) as s: sub = submit(s, ...)`` then ``sub.enqueue(redis)``.
    The record stays usable after commit (the session factory does not expire on commit).
    """

    record: JobRecord

    def enqueue(self, redis: Redis, **options: Any) -> Job:
        """Enqueue the committed record (:func:`enqueue_job`)."""
        if self.record.attempts == 0 and self.record.status == JobState.QUEUED:
            # created by this submit (or an equal one on its way): no finished RQ job to clear
            options.setdefault("fresh", True)
        return enqueue_job(redis, self.record, **options)


def submit(
    session: Session,
    principal: Principal,
    job_class: str,
    payload: dict[str, Any],
    *,
    priority: str = Priority.NORMAL,
    dedup_key: str | None = None,
    not_before: datetime | None = None,
    reason: str | None = None,
    max_attempts: int = 3,
    scheduled_for: datetime | None = None,
    admission: dict[str, Any] | None = None,
    func: str | None = None,
) -> Submission:
    """Mirror a job of ``principal`` (``queued``, or ``deferred`` until a future ``not_before``).

    Nothing is enqueued here: commit, then call :meth:`Submission.enqueue`. Deferral for
    off-peak windows is the admission step's decision: it passes ``not_before`` and ``reason``.
    With a ``dedup_key`` a job still on its way is returned instead of a new one. ``func``
    (a task's dotted path, default the class's route) is kept with the job, so a re-enqueue
    (admission's next round, the start-up reconciliation) calls the same task.
    """
    deferred = not_before is not None and not_before > utcnow()
    record = create_job(
        session,
        principal,
        job_class=job_class,
        payload=payload,
        priority=priority,
        dedup_key=dedup_key,
        not_before=not_before,
        state=JobState.DEFERRED if deferred else JobState.QUEUED,
        reason=(reason or "waiting for its start time") if deferred else None,
        max_attempts=max_attempts,
        scheduled_for=scheduled_for,
        admission={**(admission or {}), **({"func": func} if func else {})},
    )
    return Submission(record)
