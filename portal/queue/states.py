"""The one job state machine: which state may follow which.

The ``job_queue`` writer calls :func:`transition` before every state write, so an
impossible history (a finished job running again by itself, a canceled job reported done)
is refused instead of stored.
"""

from __future__ import annotations

from enum import StrEnum

from portal.errors import Conflict, not_among


class JobState(StrEnum):
    """Where a job is. ``waiting`` = held by a limit, quota or breaker; ``deferred`` = held until a time."""

    QUEUED = "queued"
    DEFERRED = "deferred"
    WAITING = "waiting"
    RUNNING = "running"
    RETRYING = "retrying"
    FAILED = "failed"
    DONE = "done"
    CANCELED = "canceled"


Q, DEF, W, R, RT, F, D, C = (
    JobState.QUEUED,
    JobState.DEFERRED,
    JobState.WAITING,
    JobState.RUNNING,
    JobState.RETRYING,
    JobState.FAILED,
    JobState.DONE,
    JobState.CANCELED,
)

#: Legal transitions. Why each edge exists:
#:
#: - queued -> running (admitted), waiting (limit, quota or breaker), deferred (off-peak,
#:   maintenance), canceled, failed (job TTL passed in the queue, or its report is gone).
#: - waiting -> queued (capacity freed, enqueued again), running (admitted directly),
#:   deferred (the window closed while it waited), canceled, failed (TTL); waiting -> waiting
#:   rewrites the reason ("tenant acme runs 2 of 2" becomes "breaker open ...").
#: - deferred -> queued (its time came: ``enqueue_at`` fired, or an admin's "run now"),
#:   running (a worker took it before the mirror saw it queued), waiting (the window opened
#:   but a limit holds it), canceled, failed (TTL); deferred -> deferred moves ``not_before``.
#: - running -> done, failed (attempts exhausted), retrying (error or lost worker, attempts
#:   left), canceled (stopped by a user).
#: - retrying -> queued / running / waiting / deferred (as queued: the backoff elapsed and
#:   admission decides again), failed (gave up), canceled.
#: - failed -> queued and canceled -> queued: the manual retry of the job monitor (same job
#:   id and payload, so idempotency keys still hold: no second e-mail for a recipient served).
#: - done is terminal: running a finished job again is a new job (a new execution row and
#:   new idempotency keys), not a retry.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    Q: frozenset({R, W, DEF, C, F}),
    W: frozenset({Q, R, DEF, W, C, F}),
    DEF: frozenset({Q, R, W, DEF, C, F}),
    R: frozenset({D, F, RT, C}),
    RT: frozenset({Q, R, W, DEF, F, C}),
    F: frozenset({Q}),
    C: frozenset({Q}),
    D: frozenset(),
}

#: States with no way out.
TERMINAL: frozenset[JobState] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
#: States in which no worker holds the job and no queue will start it (``finished_at`` is set);
#: of these only ``failed`` and ``canceled`` may be retried by hand.
FINISHED: frozenset[JobState] = frozenset({D, F, C})
#: States of a job still on its way: counted as pending in queue metrics.
ACTIVE: frozenset[JobState] = frozenset(JobState) - FINISHED


class IllegalTransition(Conflict):
    """A state change the job state machine does not allow (HTTP 409)."""


def _state(value: str, field: str) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        raise not_among("job state", value, [s.value for s in JobState], field=field) from None


def can_transition(current: str, target: str) -> bool:
    """True if a job in ``current`` may move to ``target``."""
    return JobState(target) in TRANSITIONS[JobState(current)]


def transition(current: str, target: str) -> JobState:
    """Check the move ``current -> target`` and return ``target``.

    Raises :class:`IllegalTransition` (naming the field ``state`` and the states reachable
    from ``current``) for an illegal move, :class:`~portal.errors.InvalidSpec` for an unknown state.
    """
    now, nxt = _state(current, "state"), _state(target, "state")
    if nxt in TRANSITIONS[now]:
        return nxt
    allowed = ", ".join(sorted(TRANSITIONS[now])) or "none, it is final"
    raise IllegalTransition(
        f"state: a {now.value} job cannot become {nxt.value} (allowed from {now.value}: {allowed})",
        field="state",
    )
