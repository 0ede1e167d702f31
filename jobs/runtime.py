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
from collections.abc import Callable
from typing import Any

from rq import get_current_job
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.context import AppContext, build_context
from portal.infra.db import transaction
from portal.jobqueue import lifecycle
from portal.jobqueue.lifecycle import Failure
from portal.models import JobRecord
from portal.queue.states import JobState

log = logging.getLogger(__name__)

#: A task's work: (context, session, running record) -> small result summary, or a kept Failure.
Work = Callable[[AppContext, Session, JobRecord], dict[str, Any] | Failure]

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

    An exception is recorded (``retrying`` or ``failed`` with ``last_error``) and re-raised so
    RQ's ``Retry`` applies; a :class:`Failure` keeps the work's writes and raises
    :class:`JobFailed` after recording. A job canceled while it ran ends quietly.
    """
    ctx = context()
    with transaction(ctx.sessions) as session:
        record = lifecycle.start(session, job_id, worker=_worker_name())
    if record is None:
        return None
    message = ""
    try:
        with transaction(ctx.sessions) as session:
            outcome = work(ctx, session, record)
            if not isinstance(outcome, Failure):
                lifecycle.finish(session, job_id, outcome)
                return outcome
            message = outcome.error
            state = lifecycle.fail(
                session,
                job_id,
                outcome.error,
                permanent=outcome.permanent,
                will_retry=_rq_will_retry(),
                result=outcome.result,
            )
    except Exception as exc:
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


def fail(job_id: int, message: str = "failing on purpose") -> dict[str, Any] | None:
    """Always fail with a transient error, tracked (tests of the retry path)."""

    def work(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
        raise RuntimeError(message)

    return run_tracked(job_id, work)
