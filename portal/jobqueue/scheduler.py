"""The schedule tick: every active schedule whose fire is due gets one job, however many schedulers run.

Per schedule and tick: :func:`~portal.queue.schedules.due_fire` says which fire is owed (one
catch-up after downtime, not a burst); :func:`~portal.jobstore.claim_fire` claims it — the
UNIQUE (schedule, fire time) lets exactly one scheduler win, the others skip it; the winner
creates the ``report_schedule`` job (deduplicated by the fire's key as a second guard), links
it to the fire, stores ``next_run_at`` and commits; only then is the job enqueued.

Each schedule has its own transaction: one broken schedule (its owner disabled, an expression
that no longer parses) is logged and skipped, the others still fire.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from portal.errors import PortalError
from portal.identity.principal import Principal, principal_for_user_id
from portal.infra.db import transaction
from portal.jobqueue import breakers
from portal.jobqueue.enqueue import enqueue_job
from portal.jobqueue.reconcile import reconcile
from portal.jobstore import claim_fire, create_job, link_fire
from portal.models import JobRecord, PdfSchedule, ReportSchedule, utcnow
from portal.queue.schedules import due_fire, fire_key, next_fire_times
from portal.queue.states import JobState
from portal.specs.jobs import JobClass, ScheduleSpec

log = logging.getLogger(__name__)

#: How often ``conductor scheduler`` ticks: fires are whole minutes, so a fire starts <= 10 s late.
TICK_SECONDS = 10.0
#: Seconds between reconciliations of ``job_queue`` with Redis in the scheduler loop.
RECONCILE_SECONDS = 60.0
#: Schedules fired per transaction (one commit per batch: a burst of 10,000 due schedules).
FIRE_BATCH = 100
#: Attempts of a schedule's fire (nobody watches it: transient failures are retried).
SCHEDULE_ATTEMPTS = 4


class QueueContext(Protocol):
    """What a tick needs of the application context (``portal.context.AppContext`` has it)."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def redis(self) -> Redis: ...


@dataclass
class TickResult:
    """What one tick did: the jobs it created (ids) and the schedules it skipped, with why."""

    fired: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands stored times back naive; they are UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


#: The schedule tables a tick visits: report schedules and PDF template schedules.
KINDS: dict[str, Any] = {"report": ReportSchedule, "pdf": PdfSchedule}


def _job(kind: str, row: Any, schedule_id: int, fire: datetime) -> tuple[str, dict[str, Any], list[str]]:
    """The job class, payload and breaker resources of one fire."""
    if kind == "pdf":
        payload = {
            "template_id": row.template_id,
            "schedule_id": schedule_id,
            "fire_time": fire.isoformat(),
            "params": dict(row.params_json or {}),
        }
        return JobClass.PDF_RENDER, payload, [breakers.WAREHOUSE]
    payload = {
        "report_id": row.report_id,
        "schedule_id": schedule_id,
        "fire_time": fire.isoformat(),
        "params": {},
    }
    return JobClass.REPORT_SCHEDULE, payload, [breakers.WAREHOUSE]


def _spec(row: ReportSchedule | PdfSchedule) -> ScheduleSpec:
    return ScheduleSpec(
        schedule_expr=row.schedule_expr,
        timezone=row.timezone,
        offpeak_only=row.offpeak_only,
        priority=row.priority,
    )


def tick(ctx: QueueContext, now: datetime | None = None) -> TickResult:
    """Fire every active schedule (report and PDF) that is due at ``now`` (aware; default: the clock) once.

    ``skipped`` keys are schedule ids; a PDF schedule's key is ``-id`` (ids of two tables).
    """
    at = _utc(now) or utcnow()
    out = TickResult()
    for kind in KINDS:
        _tick_kind(ctx, kind, at, out)
    return out


def _tick_kind(ctx: QueueContext, kind: str, at: datetime, out: TickResult) -> None:
    model = KINDS[kind]
    with ctx.sessions() as session:
        # Only schedules owing a fire: next_run_at is kept by every visit (None: never computed).
        due = or_(model.next_run_at.is_(None), model.next_run_at <= at, model.last_fire_at.is_(None))
        ids = list(session.scalars(select(model.id).where(model.is_active.is_(True), due)))
    # Each scheduler goes through them in its own order: two schedulers split a burst of due
    # schedules between them instead of racing for the same one (the claim still decides).
    random.shuffle(ids)
    # The accounts the fires act as, loaded once per tick (a burst of schedules shares owners).
    owners: dict[int, Principal] = {}
    sign = -1 if kind == "pdf" else 1
    for first in range(0, len(ids), FIRE_BATCH):
        # Ascending within a batch: two schedulers lock rows in the same order (no deadlock).
        batch = sorted(ids[first : first + FIRE_BATCH])
        fired: list[tuple[int, JobRecord]] = []
        try:
            with transaction(ctx.sessions) as session:
                # One SELECT for the batch: each visit's session.get finds its row loaded.
                session.scalars(select(model).where(model.id.in_(batch))).all()
                for schedule_id in batch:
                    try:
                        record = _fire_in(session, schedule_id, at, owners, kind=kind)
                    except (PortalError, ValidationError, ValueError) as exc:
                        # Raised before the schedule wrote anything: the rest of the batch goes on.
                        log.warning("%s schedule %s: not fired: %s", kind, schedule_id, exc)
                        out.skipped[sign * schedule_id] = str(exc).splitlines()[0][:200]
                        continue
                    if record is not None:
                        fired.append((schedule_id, record))
        except SQLAlchemyError as exc:
            # The batch rolled back (nothing claimed): the next tick fires these schedules.
            log.warning("scheduler: a batch of %d schedules was not fired this tick: %s", len(batch), exc)
            for schedule_id in batch:
                out.skipped.setdefault(sign * schedule_id, "database busy; retried next tick")
            continue
        for schedule_id, record in fired:
            out.fired.append(record.id)
            try:
                # After the commit (a worker must find the record), never before.
                enqueue_job(ctx.redis, record, now=at, fresh=record.attempts == 0)
            except RedisError:
                # The fire is claimed and its job stays queued: reconciliation enqueues it again.
                log.exception("%s schedule %s: job %s created but not enqueued", kind, schedule_id, record.id)


def _fire_in(
    session: Session,
    schedule_id: int,
    now: datetime,
    owners: dict[int, Principal] | None = None,
    *,
    kind: str = "report",
) -> JobRecord | None:
    """Claim and create the due fire of one schedule in ``session``; None if nothing to fire.

    Every refusal (a malformed expression, an owner who may not run it) is raised before the
    first write, so a batch of schedules in one transaction can skip it and go on.
    """
    row = session.get(KINDS[kind], schedule_id)
    if row is None or not row.is_active:
        return None
    spec = _spec(row)
    upcoming = next_fire_times(spec, now, 1)
    next_run = upcoming[0] if upcoming else None
    last = _utc(row.last_fire_at)
    if last is None:
        # No baseline yet (a schedule written without one): it owes nothing before now.
        _set_baseline(session, KINDS[kind], schedule_id, now, next_run)
        return None
    fire = due_fire(spec, last, now)
    if fire is None:
        if _utc(row.next_run_at) != next_run:
            row.next_run_at = next_run
        return None
    if row.created_by is None:
        raise PortalError(f"schedule {schedule_id} has no owner to run as")
    # Who the job acts as is checked before the claim: a refused owner leaves the fire unclaimed.
    cache = owners if owners is not None else {}
    principal = cache.get(row.created_by)
    if principal is None:
        principal = cache[row.created_by] = principal_for_user_id(session, row.created_by, kind="job")
    if not claim_fire(session, schedule_id, fire, kind=kind):
        return None  # another scheduler fired it
    job_class, payload, resources = _job(kind, row, schedule_id, fire)
    record = create_job(
        session,
        principal,
        job_class=job_class,
        payload=payload,
        priority=spec.priority,
        dedup_key=fire_key(schedule_id if kind == "report" else f"pdf{schedule_id}", fire),
        scheduled_for=fire,
        max_attempts=SCHEDULE_ATTEMPTS,
        admission={"offpeak_only": bool(row.offpeak_only), "resources": resources},
        first_of_key=True,  # the claim above is unique per (schedule, fire time)
    )
    link_fire(session, schedule_id, fire, record.id, kind=kind)
    row.next_run_at = next_run
    if record.status != JobState.QUEUED:  # an older job of this key (should not happen): leave it
        return None
    return record


def _set_baseline(
    session: Session, model: Any, schedule_id: int, now: datetime, next_run: datetime | None
) -> None:
    session.execute(
        update(model)
        .where(model.id == schedule_id, model.last_fire_at.is_(None))
        .values(last_fire_at=now, next_run_at=next_run)
        .execution_options(synchronize_session=False)
    )


def run_scheduler(
    ctx: QueueContext,
    *,
    interval: float = TICK_SECONDS,
    stop: threading.Event | None = None,
    reconcile_every: float = RECONCILE_SECONDS,
    also: Sequence[Callable[[Any, datetime], object]] = (),
) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set; a failing tick is logged, not fatal.

    ``also``: more per-tick work of upper layers, called with ``(ctx, now)`` (e.g. the scheduled
    source syncs, :func:`portal.ingest.sync.fire_due_syncs`); a failing one is logged.

    Every ``reconcile_every`` seconds (and at start) ``job_queue`` is reconciled with Redis:
    jobs Redis lost are enqueued again, running jobs whose worker died are run again.
    """
    done = stop or threading.Event()
    last_reconcile = -float("inf")
    while not done.is_set():
        started = utcnow()
        if time.monotonic() - last_reconcile >= reconcile_every:
            try:
                reconcile(ctx.sessions, ctx.redis)
            except Exception:
                log.exception("scheduler: reconciliation failed")
            last_reconcile = time.monotonic()
        try:
            result = tick(ctx, started)
            if result.fired:
                log.info("scheduler: fired %d schedule(s): jobs %s", len(result.fired), result.fired)
        except Exception:  # the database or Redis is away: try again next tick
            log.exception("scheduler: tick failed")
        for extra in also:
            try:
                extra(ctx, started)
            except Exception:
                log.exception("scheduler: %s failed", getattr(extra, "__name__", extra))
        elapsed = (utcnow() - started).total_seconds()
        done.wait(max(0.0, interval - elapsed))
