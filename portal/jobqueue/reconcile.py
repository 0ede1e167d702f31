"""Start-up reconciliation: what ``job_queue`` holds as on its way is on the queue, once.

Redis keeps the queue (with an append-only file when embedded); the database keeps the record.
After a crash, a restart of Redis without its file, or a submit that committed but died before
it enqueued, a record can be ``queued``/``deferred``/``waiting``/``retrying`` with no RQ job.
:func:`reconcile` enqueues each such record again with its deterministic RQ id (a record whose
job is still there is left alone, so running it twice enqueues nothing twice), and moves a
``running`` record whose worker is gone and whose RQ job Redis lost to ``retrying`` and back
on the queue. The portal runs it when it starts and the scheduler every few minutes.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.infra.db import transaction
from portal.jobqueue import gate
from portal.jobqueue.enqueue import SERIALIZER, enqueue_job
from portal.jobstore import move, next_rq_id, set_rq_id
from portal.models import JobRecord
from portal.queue.states import JobState

log = logging.getLogger(__name__)

#: States of a job that must have an RQ job waiting for it.
ON_ITS_WAY = (JobState.QUEUED, JobState.DEFERRED, JobState.WAITING, JobState.RETRYING)
_GONE = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


@dataclass
class Reconciled:
    """What :func:`reconcile` did: job ids enqueued again, and running jobs found lost."""

    enqueued: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    checked: int = 0


def _has_job(redis: Redis, rq_id: str | None) -> bool:
    if not rq_id:
        return False
    try:
        job = Job.fetch(rq_id, connection=redis, serializer=SERIALIZER)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) not in _GONE


def reconcile(sessions: sessionmaker[Session], redis: Redis, *, batch: int = 500) -> Reconciled:
    """Enqueue again every job on its way that Redis does not hold; recover lost running jobs.

    A ``running`` job is lost when its lease ran out (its worker stopped renewing it: killed,
    or the machine went down); its stale RQ job is deleted, so RQ's own abandoned-job handling
    cannot run it a second time, and it goes back on the queue as ``retrying``.
    """
    out = Reconciled()
    last_id = 0
    while True:
        with sessions() as s:
            rows = list(
                s.scalars(
                    select(JobRecord)
                    .where(JobRecord.status.in_([*ON_ITS_WAY, JobState.RUNNING]), JobRecord.id > last_id)
                    .order_by(JobRecord.id)
                    .limit(batch)
                )
            )
            s.expunge_all()
        if not rows:
            break
        last_id = rows[-1].id
        for record in rows:
            out.checked += 1
            try:
                if record.status == JobState.RUNNING:
                    if gate.alive(redis, record):
                        continue
                    _drop(redis, record.rq_job_id)
                    with transaction(sessions) as s:
                        set_rq_id(s, record.id, next_rq_id(record.rq_job_id or f"job-{record.id}"))
                        lost = f"worker {record.worker_id or '?'} was lost; running again"
                        record = move(s, record.id, JobState.RETRYING, reason=lost)
                    out.lost.append(record.id)
                elif _has_job(redis, record.rq_job_id):
                    continue
                enqueue_job(redis, record)
                out.enqueued.append(record.id)
            except Exception:  # one bad record must not stop the others
                log.exception("reconcile: job %s could not be enqueued again", record.id)
    if out.enqueued:
        log.warning("reconcile: %d job(s) were missing from the queue and were enqueued again: %s",
                    len(out.enqueued), out.enqueued[:20])  # fmt: skip
    return out


def _drop(redis: Redis, rq_id: str | None) -> None:
    if not rq_id:
        return
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(rq_id, connection=redis, serializer=SERIALIZER).delete()
