"""A job's run as its worker sees it: start, finish, fail — each a move of the ``job_queue`` mirror.

Services in the usual sense: they take a session and never commit. The task functions in
``jobs/`` call them in three short transactions (start; the work and its finish; a failure),
so the job monitor sees ``running`` while the work runs, and the work's writes (an execution
row) commit together with ``done`` or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from portal.errors import Conflict, PortalError, QuotaExceeded
from portal.jobstore import move, next_rq_id, set_rq_id
from portal.models import JobRecord, utcnow
from portal.queue.admission import Decision
from portal.queue.states import FINISHED, JobState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """What a task returns for a failure whose writes must be kept (unlike a raised exception).

    A report execution the warehouse failed is recorded as a ``failed`` execution row; the job
    still fails (and may be retried), but that row must not roll back with it.
    """

    error: str
    result: dict[str, Any] | None = None
    permanent: bool = False


def is_permanent(exc: BaseException) -> bool:
    """True for an error a retry cannot cure: the caller's fault (a 4xx), e.g. a report that is gone.

    Not permanent: a quota (429, it frees up), a state race (409), server trouble (5xx) and
    anything that is not a :class:`PortalError` (network, database, timeouts of the driver).
    """
    if not isinstance(exc, PortalError) or isinstance(exc, QuotaExceeded | Conflict):
        return False
    return 400 <= exc.status < 500


def describe_error(exc: BaseException) -> str:
    """``"NotFound: report 7 not found"``: what ``last_error`` shows."""
    text = exc.message if isinstance(exc, PortalError) else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load(session: Session, job_id: int) -> JobRecord | None:
    return session.get(JobRecord, job_id, populate_existing=True)


def start(
    session: Session, job_id: int, *, worker: str | None, loaded: JobRecord | None = None
) -> JobRecord | None:
    """Move the job to ``running`` and return it, or None when there is nothing to run.

    Nothing to run: the record is missing or finished (done, failed, canceled) — a re-delivered
    job returns at once, so a delivery twice runs the work once. A record still ``running`` was
    left by a worker that died: it goes through ``retrying`` (the state machine's way back).
    """
    record = loaded if loaded is not None else _load(session, job_id)
    if record is None:
        log.warning("job %s: no job_queue record, nothing to run", job_id)
        return None
    state = JobState(record.status)
    if state in FINISHED:
        log.info("job %s: already %s, not run again", job_id, state.value)
        return None
    if state is JobState.RUNNING:
        lost = f"worker {record.worker_id or '?'} was lost; running again"
        move(session, record, JobState.RETRYING, reason=lost)
    return move(session, record, JobState.RUNNING, worker=worker)


#: Waits before a job held by a concurrency limit is admitted again: short first (a slot of
#: an interactive run frees within seconds), longer while it stays held.
HOLD_POLL_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)


def hold(session: Session, job_id: int, decision: Decision, now: datetime | None = None) -> JobRecord | None:
    """Record that admission held the job: ``deferred`` (a time) or ``waiting`` (a limit).

    The job gets the RQ id of its next round (:func:`portal.jobstore.next_rq_id`) and the time
    it is to be admitted again as ``not_before``; the caller enqueues it after commit. None if
    the job is no longer on its way (canceled meanwhile).
    """
    when = now or utcnow()
    record = _load(session, job_id)
    if record is None or JobState(record.status) in FINISHED or record.status == JobState.RUNNING:
        return None
    rounds = (record.rq_job_id or "").rpartition("_")[2]
    n = int(rounds) if rounds.isdigit() else 0
    if decision.action == "defer" and decision.not_before is not None:
        target, at = JobState.DEFERRED, decision.not_before
    else:
        target = JobState.WAITING
        poll = when + timedelta(seconds=HOLD_POLL_S[min(n, len(HOLD_POLL_S) - 1)])
        at = max(decision.not_before, poll) if decision.not_before is not None else poll
    if record.rq_job_id:
        set_rq_id(session, job_id, next_rq_id(record.rq_job_id))
    return move(session, record, target, reason=decision.reason, not_before=at)


def expire(session: Session, job_id: int, reason: str) -> JobRecord | None:
    """Fail a job that waited past its TTL (None if it is no longer on its way)."""
    record = _load(session, job_id)
    if record is None or JobState(record.status) in FINISHED or record.status == JobState.RUNNING:
        return None
    return move(session, record, JobState.FAILED, reason=reason, error=reason)


def finish(session: Session, job_id: int, result: dict[str, Any]) -> JobRecord:
    """Move a running job to ``done`` with its small result summary."""
    return move(session, job_id, JobState.DONE, result=result)


def fail(
    session: Session,
    job_id: int,
    error: str,
    *,
    permanent: bool,
    will_retry: bool,
    result: dict[str, Any] | None = None,
) -> JobState | None:
    """Record a failed attempt: ``retrying`` if another attempt comes, else ``failed``.

    ``will_retry`` is whether the queue will deliver the job again (RQ has retries left); the
    record's own ``attempts``/``max_attempts`` and ``permanent`` may still say no, and then the
    caller must stop the queue's retry so both agree. Returns the new state, or None when the job
    is no longer running (canceled meanwhile): then nobody retries it.
    """
    record = _load(session, job_id)
    if record is None or record.status != JobState.RUNNING:
        return None
    retry = will_retry and not permanent and record.attempts < record.max_attempts
    if retry:
        target = JobState.RETRYING
        why = f"attempt {record.attempts} of {record.max_attempts} failed; retrying"
    else:
        target = JobState.FAILED
        why = "failed: a retry cannot help" if permanent else f"failed after {record.attempts} attempt(s)"
    move(session, record, target, error=error, reason=why, result=result)
    return target
