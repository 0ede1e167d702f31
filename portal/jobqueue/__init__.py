"""The RQ side of the job queue: queues per pool and priority, enqueuing, workers, the schedule tick.

- :mod:`portal.jobqueue.enqueue`: queue names ``"{pool}:{priority}"``, :func:`queues_for` (the
  order workers listen in), :func:`submit` (mirror a job in the caller's transaction) and
  :func:`enqueue_job` (put a committed record on RQ by dotted path, JSON serializer,
  deterministic id, ``Retry`` with jittered backoff, ``enqueue_at`` for deferred jobs).
- :mod:`portal.jobqueue.lifecycle`: start / finish / fail of a run, as moves of the mirror.
- :mod:`portal.jobqueue.scheduler`: :func:`tick` fires due schedules once, however many
  schedulers run.
- :mod:`portal.jobqueue.workers`: the worker processes of ``conductor worker``.

The core never imports ``jobs/``; RQ imports the task functions by their dotted path.
"""

from __future__ import annotations

from portal.jobqueue.enqueue import (
    PRIORITY_ORDER,
    ROUTES,
    SERIALIZER,
    Route,
    Submission,
    backoff,
    enqueue_job,
    queue_name,
    queues_for,
    submit,
)
from portal.jobqueue.lifecycle import Failure, describe_error, is_permanent

__all__ = [
    "PRIORITY_ORDER",
    "ROUTES",
    "SERIALIZER",
    "Failure",
    "Route",
    "Submission",
    "backoff",
    "describe_error",
    "enqueue_job",
    "is_permanent",
    "queue_name",
    "queues_for",
    "submit",
]
