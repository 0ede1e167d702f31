"""Trigger task functions: thin, by id, acting as the trigger's author.

Enqueued by dotted path (``"jobs.triggers.evaluate"``) for ``trigger_evaluate`` jobs made by
:func:`portal.alerts.submit_evaluations`; the payload holds ``trigger_id`` and ``execution_id``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from jobs.runtime import run_tracked
from portal.alerts import Runtime, run_evaluation
from portal.context import AppContext
from portal.jobqueue.lifecycle import Failure
from portal.models import JobRecord


def _run(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any] | Failure:
    # The evaluation commits its decision and each delivery in transactions of its own (a message
    # that went out stays recorded whatever happens next); ``session`` only records the outcome.
    return run_evaluation(Runtime(ctx.sessions, ctx.settings, ctx.warehouse, ctx.redis), record)


def evaluate(job_id: int) -> dict[str, Any] | None:
    """Evaluate the trigger of job ``job_id`` on its execution and act on it; None if already finished."""
    return run_tracked(job_id, _run)
