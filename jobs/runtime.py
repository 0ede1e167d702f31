"""What every task function shares: the worker's application context and a tracked run.

A worker process builds one :class:`~portal.context.AppContext` (from ``Settings.from_env()``)
on its first job and keeps it: workers do not fork per job (``portal.jobqueue.workers``), so
engines and the warehouse are reused. Tests and entry points that already hold a context
install it with :func:`use_context`.

:func:`run_tracked` runs a task in three short transactions — start (``running``), the work
and ``done`` together, a failure — and keeps RQ's retry in step with the ``job_queue`` record:
when the record says ``failed`` (attempts used up, or an error a retry cannot cure), RQ's
remaining retries are cancelled, so neither side retries without the other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from rq import get_current_job
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.context import AppContext, build_context
from portal.infra.db import transaction
from portal.jobqueue import breakers, gate, lifecycle
from portal.jobqueue.enqueue import Submission, enqueue_job
from portal.jobqueue.lifecycle import Failure
from portal.jobstore import record_usage
from portal.models import JobRecord
from portal.queue.states import FINISHED, JobState

log = logging.getLogger(__name__)

#: A task's work: (context, session, running record) -> small result summary, or a kept Failure.
Work = Callable[[AppContext, Session, JobRecord], dict[str, Any] | Failure]

#: ``session.info`` key of the jobs a task created, enqueued after its transaction committed.
FOLLOW_UPS = "cbi_follow_ups"

_context: AppContext | None = None
_lock = threading.Lock()


class JobFailed(RuntimeError):
    """Raised to RQ for a failure whose writes were kept (a :class:`Failure`): RQ retries or fails it."""


def use_context(ctx: AppContext | None) -> None:
    """Install the context task functions use in this process (None: build one on next use)."""
    global _context
    with _lock:
        _context = ctx


def context() -> AppContext:
    """This process's context, built once from the environment on first use."""
    global _context
    with _lock:
        if _context is None:
            _context = build_context(Settings.from_env())
        return _context


def _rq_will_retry() -> bool:
    job = get_current_job()
    return job is not None and job.retries_left is not None and job.retries_left > 0


def _stop_rq_retries() -> None:
    # The worker reads retries_left from this very object after the task raised.
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def _worker_name() -> str | None:
    job = get_current_job()
    return None if job is None else job.worker_name


def run_tracked(job_id: int, work: Work) -> dict[str, Any] | None:
    """Run ``work`` for job ``job_id`` with its state tracked; None if there was nothing to run.

    Admission comes first (:func:`portal.jobqueue.gate.admit`): a job held by a limit, a quota,
    a breaker or a time window is recorded as ``waiting``/``deferred`` with its reason and put
    back on the queue for the time it may be admitted again; this RQ job then ends quietly.
    An admitted job holds its slots (with a lease) while it runs.

    An exception is recorded (``retrying`` or ``failed`` with ``last_error``) and re-raised so
    RQ's ``Retry`` applies; a :class:`Failure` keeps the work's writes and raises
    :class:`JobFailed` after recording. A job canceled while it ran ends quietly.
    """
    ctx = context()
    held: JobRecord | None = None
    with transaction(ctx.sessions) as session:
        found = session.get(JobRecord, job_id, populate_existing=True)
        if found is None or JobState(found.status) in FINISHED:
            # Nothing to run (lifecycle.start logs why); a finished job takes no slot.
            return None
        if found.status == JobState.RUNNING and gate.alive(ctx.redis, found):
            # A second delivery while its first run is alive elsewhere (RQ re-delivered it).
            log.warning("job %s is running in %s: not run twice", job_id, found.worker_id)
            return None
        admission = gate.admit(session, ctx.redis, found)
        if admission.expired is not None:
            lifecycle.expire(session, job_id, admission.expired)
            return None
        if admission.decision.action != "run":
            held = lifecycle.hold(session, job_id, admission.decision)
            record = None
        else:
            record = lifecycle.start(session, job_id, worker=_worker_name(), loaded=found)
    if held is not None:
        # Back on the queue as the same call (a diagnostic task stays that task).
        current = get_current_job()
        func = current.func_name if current is not None else None
        args = list(current.args) if current is not None else None
        enqueue_job(ctx.redis, held, func, args=args)
        log.info("job %s held: %s", job_id, admission.decision.reason)
        return None
    if record is None:
        gate.release(ctx.redis, admission)
        return None
    resources = [str(r) for r in (record.admission_json or {}).get("resources", ())]
    lease = gate.Lease(ctx.redis, admission, on_limit=ctx.warehouse.interrupt_all)
    try:
        with lease:
            return _run_admitted(ctx, job_id, record, work, resources, lease)
    finally:
        gate.release(ctx.redis, admission)
        gate.count_cpu(ctx.redis, record.tenant_id, lease.cpu_seconds)
        if not lease.recorded:
            _record_usage(ctx, job_id, lease)


def follow_up(session: Session, submission: Submission) -> None:
    """Enqueue ``submission`` (a job the work created) once the work's transaction committed."""
    session.info.setdefault(FOLLOW_UPS, []).append(submission)


def _enqueue_follow_ups(ctx: AppContext, subs: list[Submission]) -> None:
    for sub in subs:
        try:
            sub.enqueue(ctx.redis)
        except Exception:  # stays queued in job_queue: the start-up reconciliation enqueues it
            log.exception("could not enqueue follow-up job %s (it stays queued)", sub.record.id)


def _record_usage(ctx: AppContext, job_id: int, lease: gate.Lease) -> None:
    try:
        with transaction(ctx.sessions) as session:
            record_usage(session, job_id, lease.cpu_seconds, lease.peak_rss_mb)
    except Exception:  # the database is away: the run's result was recorded (or will be retried)
        log.exception("job %s: could not record its CPU and memory use", job_id)


def _outcome(ctx: AppContext, resources: list[str], ok: bool) -> None:
    # The sources and destinations the job used learn whether it worked (circuit breakers).
    for name in resources:
        try:
            breakers.record(ctx.redis, name, ok)
        except Exception:
            log.exception("breaker %s: could not record the outcome", name)


def _run_admitted(
    ctx: AppContext, job_id: int, record: JobRecord, work: Work, resources: list[str], lease: gate.Lease
) -> dict[str, Any] | None:
    message = ""
    try:
        with transaction(ctx.sessions) as session:
            outcome = work(ctx, session, record)
            if not isinstance(outcome, Failure):
                lifecycle.finish(session, job_id, outcome)
                # In the same commit as "done": one write less per job (the monitor's figures).
                record_usage(session, job_id, lease.cpu_now(), lease.peak_rss_mb)
                follow_ups: list[Submission] = session.info.pop(FOLLOW_UPS, [])
        if not isinstance(outcome, Failure):
            lease.recorded = True  # committed with "done" (a failed commit raised above)
            _outcome(ctx, resources, True)
            _enqueue_follow_ups(ctx, follow_ups)
            return outcome
        with transaction(ctx.sessions) as session:
            message = outcome.error
            state = lifecycle.fail(
                session,
                job_id,
                outcome.error,
                permanent=outcome.permanent,
                will_retry=_rq_will_retry(),
                result=outcome.result,
            )
        _outcome(ctx, resources, False)
    except Exception as exc:
        if not lifecycle.is_permanent(exc):
            _outcome(ctx, resources, False)
        state = _record_failure(ctx, job_id, exc)
        if state is JobState.FAILED:
            _stop_rq_retries()
        if state is None:
            return None  # canceled while it ran: nobody retries it
        raise
    if state is None:
        return None
    if state is JobState.FAILED:
        _stop_rq_retries()
    raise JobFailed(message)


def _record_failure(ctx: AppContext, job_id: int, exc: Exception) -> JobState | None:
    """Store a raised failure in its own transaction (the work's rolled back); None if not ours any more."""
    error = lifecycle.describe_error(exc)
    log.warning("job %s failed: %s", job_id, error)
    try:
        with transaction(ctx.sessions) as session:
            return lifecycle.fail(
                session,
                job_id,
                error,
                permanent=lifecycle.is_permanent(exc),
                will_retry=_rq_will_retry(),
            )
    except Exception:
        # The database is away too: RQ's retry still applies; the next start sees "running"
        # and goes through "retrying" itself.
        log.exception("job %s: could not record its failure", job_id)
        return JobState.RETRYING


def noop(job_id: int) -> dict[str, Any] | None:
    """Do nothing, tracked like any job (the benchmark's unit of overhead; tests)."""
    return run_tracked(job_id, lambda ctx, session, record: {"noop": True})


def sleep(job_id: int, seconds: float = 1.0) -> dict[str, Any] | None:
    """Hold a slot for ``seconds`` (at most 600), tracked: saturating a pool, fault tests."""

    def work(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
        time.sleep(min(max(0.0, float(seconds)), 600.0))
        return {"slept": seconds}

    return run_tracked(job_id, work)


def allocate(job_id: int, megabytes: int = 64, hold_seconds: float = 3.0) -> dict[str, Any] | None:
    """Grow the worker by ``megabytes`` (at most 4096) for ``hold_seconds``: the memory limit's test."""

    def work(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
        blocks = []
        for _ in range(min(int(megabytes), 4096)):
            blocks.append(bytearray(b"\x01") * 2**20)  # pages written: resident, not just reserved
        deadline = time.monotonic() + min(float(hold_seconds), 60.0)
        while time.monotonic() < deadline:
            time.sleep(0.05)  # short sleeps: the limit's exception lands between them
        return {"allocated_mb": len(blocks)}

    return run_tracked(job_id, work)


def fail(job_id: int, message: str = "failing on purpose") -> dict[str, Any] | None:
    """Always fail with a transient error, tracked (tests of the retry path)."""

    def work(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
        raise RuntimeError(message)

    return run_tracked(job_id, work)
