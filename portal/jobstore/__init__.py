"""The ``job_queue`` mirror: the database side of the one job state machine.

Writes (:mod:`portal.jobstore.records`): :func:`create_job` (deduplicated by key),
:func:`move` (the one writer of a job's state), :func:`claim_fire` (a schedule fires once),
:func:`record_delivery` / :func:`delivered_keys` (one message per job and recipient).
Reads for the job monitor (:mod:`portal.jobstore.queries`): :func:`list_jobs`,
:func:`get_job`, :func:`counts_by_state`, all tenant-scoped.

Services: they take a session (and a principal where it decides something) and never commit.
"""

from __future__ import annotations

from portal.jobstore.queries import counts_by_state, get_job, list_jobs, visible_jobs
from portal.jobstore.records import (
    CHANNELS,
    DELIVERY_STATUSES,
    INITIAL_STATES,
    claim_fire,
    create_job,
    delivered_keys,
    delivery_key,
    job_rq_id,
    link_fire,
    move,
    next_rq_id,
    record_delivery,
    record_progress,
    record_usage,
    served_recipients,
    set_rq_id,
)

__all__ = [
    "CHANNELS",
    "DELIVERY_STATUSES",
    "INITIAL_STATES",
    "claim_fire",
    "counts_by_state",
    "create_job",
    "delivered_keys",
    "delivery_key",
    "get_job",
    "job_rq_id",
    "link_fire",
    "list_jobs",
    "move",
    "next_rq_id",
    "record_delivery",
    "record_progress",
    "record_usage",
    "served_recipients",
    "set_rq_id",
    "visible_jobs",
]
