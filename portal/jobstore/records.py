"""Writes of the ``job_queue`` mirror: create a job, move it between states, claim fires, record deliveries.

Functions take the session first and never commit: the caller owns the transaction.
:func:`move` is the one writer of a job's state: it asks :func:`portal.queue.states.transition`
first and writes with a conditional UPDATE, so two processes racing on one job cannot both win.

Duplicates are refused by the database, not by a read-then-write: ``INSERT ... ON CONFLICT``
(SQLite and PostgreSQL alike) answers "already there" without an error, so the caller's
transaction stays usable — and no SAVEPOINT is needed (the pysqlite driver would release
an outermost SAVEPOINT as a COMMIT of the whole transaction).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.errors import BadRequest, ConfigError, Conflict, NotFound, not_among
from portal.identity.principal import Principal
from portal.models import (
    Delivery,
    JobRecord,
    PdfSchedule,
    PdfScheduleFire,
    ReportSchedule,
    ScheduleFire,
    utcnow,
)
from portal.queue.states import ACTIVE, FINISHED, JobState, transition
from portal.specs.jobs import DEFAULT_POOL, JobClass, Pool, Priority

#: States a job may be created in: admission may hold it (waiting) or defer it from the start.
INITIAL_STATES: frozenset[JobState] = frozenset({JobState.QUEUED, JobState.WAITING, JobState.DEFERRED})
#: States that must say why (the job monitor shows the reason next to the state).
NEEDS_REASON: frozenset[JobState] = frozenset({JobState.WAITING, JobState.DEFERRED})
#: Entering ``queued`` from these starts a new wait in a queue (``enqueued_at`` is reset).
_REQUEUED_FROM: frozenset[str] = frozenset(
    {JobState.FAILED, JobState.CANCELED, JobState.RETRYING, JobState.DEFERRED}
)
CHANNELS = ("email", "webhook", "in_app")
DELIVERY_STATUSES = ("sent", "failed")
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_RESULT_BYTES = 4 * 1024
MAX_ERROR_CHARS = 4000
MAX_REASON_CHARS = 500
KEY_CHARS = 128


# --------------------------------------------------------------------------- helpers
def _insert(session: Session) -> Any:
    """The dialect's INSERT construct (the one with ``on_conflict_do_*``)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise ConfigError(f"the job store needs SQLite or PostgreSQL as metadata database, not {name}")


def _aware_utc(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise BadRequest(f"{field}: must be timezone-aware (a naive time is ambiguous)", field=field)
    return moment.astimezone(UTC)


def _json_size(value: Any, limit: int, field: str) -> int:
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{field}: must be plain JSON ({exc})", field=field) from None
    if size > limit:
        raise BadRequest(f"{field}: takes at most {limit} bytes of JSON, got {size}", field=field)
    return size


def _reason(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return text[:MAX_REASON_CHARS] if text else None


def _choice(enum: Any, value: str, kind: str, field: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise not_among(kind, value, [e.value for e in enum], field=field) from None


def job_rq_id(job_class: str, tenant_id: int | None, dedup_key: str, generation: int) -> str:
    """The RQ job id of the ``generation``-th job of ``dedup_key`` (RQ allows ``[A-Za-z0-9_-]``).

    The same class, tenant and key always give the same id while a job is on its way; a new
    generation starts only once the previous one finished (a run after a finished run is a
    new job, see :mod:`portal.queue.states`).
    """
    digest = hashlib.sha256(f"{tenant_id}\x1f{dedup_key}".encode()).hexdigest()[:40]
    return f"{job_class}-{digest}-{generation}"


# --------------------------------------------------------------------------- jobs
def create_job(
    session: Session,
    principal: Principal,
    *,
    job_class: str,
    payload: Mapping[str, Any],
    priority: str = Priority.NORMAL,
    pool: str | None = None,
    dedup_key: str | None = None,
    not_before: datetime | None = None,
    state: str = JobState.QUEUED,
    reason: str | None = None,
    max_attempts: int = 3,
    scheduled_for: datetime | None = None,
    admission: Mapping[str, Any] | None = None,
    first_of_key: bool = False,
) -> JobRecord:
    """Mirror a new job of ``principal`` (its tenant; its account as owner) and return it.

    With a ``dedup_key`` (e.g. ``report_execute:<report_id>:<params hash>``) the RQ job id is
    deterministic, and while a job with the same class, tenant and key is still on its way
    (not done, failed or canceled) that job is returned instead of a second one — also when
    two processes create it at once. Keys are per tenant; a key for work whose result depends
    on the principal's row scope must include it. ``state`` may be ``queued``, ``waiting`` or
    ``deferred`` (the last two need a ``reason``; ``deferred`` needs ``not_before``).
    ``admission`` is what admission reads besides class, tenant and priority (``heavy``,
    ``offpeak_only``, ``override``, ``resources``, ``window``, ``estimated_rows``).
    ``first_of_key``: the caller knows no job of ``dedup_key`` ever existed (it holds a unique
    claim, like a schedule's fire): the lookup of earlier generations is skipped.
    """
    cls: JobClass = _choice(JobClass, job_class, "job class", "job_class")
    prio: Priority = _choice(Priority, priority, "priority", "priority")
    chosen_pool: Pool = DEFAULT_POOL[cls] if pool is None else _choice(Pool, pool, "pool", "pool")
    initial: JobState = _choice(JobState, state, "job state", "state")
    if initial not in INITIAL_STATES:
        allowed = ", ".join(sorted(INITIAL_STATES))
        raise BadRequest(f"state: a new job starts as one of {allowed}, not {initial.value}", field="state")
    why = _reason(reason)
    if initial in NEEDS_REASON and why is None:
        raise BadRequest(f"reason: a {initial.value} job must say why it waits", field="reason")
    if initial is JobState.DEFERRED and not_before is None:
        raise BadRequest("not_before: a deferred job needs the time it may start", field="not_before")
    if not 1 <= max_attempts <= 100:
        raise BadRequest(f"max_attempts: must be from 1 to 100, got {max_attempts}", field="max_attempts")
    data = dict(payload)
    _json_size(data, MAX_PAYLOAD_BYTES, "payload")

    tenant_id = principal.tenant_id
    if dedup_key is not None and (not dedup_key or len(dedup_key) > KEY_CHARS):
        raise BadRequest(f"dedup_key: must be 1 to {KEY_CHARS} characters", field="dedup_key")
    if dedup_key is not None and first_of_key:
        # The caller holds a claim no other job can have (a schedule's fire): generation 0.
        rq_id = job_rq_id(cls.value, tenant_id, dedup_key, 0)
    elif dedup_key is not None:
        same = and_(
            JobRecord.job_class == cls.value,
            JobRecord.tenant_id == tenant_id,
            JobRecord.dedup_key == dedup_key,
        )
        # One statement, one snapshot: "is one on its way?" and "which generation is next?"
        # must not see two different moments (a job committed in between would be missed).
        rows = session.execute(select(JobRecord.id, JobRecord.rq_job_id, JobRecord.status).where(same)).all()
        active = sorted(r.id for r in rows if r.status in ACTIVE)
        if active:
            existing = session.get(JobRecord, active[0])
            assert existing is not None
            return existing
        generation = 1 + max((_generation(r.rq_job_id) for r in rows), default=-1)
        rq_id = job_rq_id(cls.value, tenant_id, dedup_key, generation)
    else:
        rq_id = f"{cls.value}-{uuid.uuid4().hex}"

    now = utcnow()
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "owner_id": principal.user_id,
        "job_class": cls.value,
        "pool": chosen_pool.value,
        "rq_job_id": rq_id,
        "dedup_key": dedup_key,
        "payload_json": data,
        "priority": prio.value,
        "status": initial.value,
        "status_reason": why,
        "attempts": 0,
        "max_attempts": max_attempts,
        "not_before_at": None if not_before is None else _aware_utc(not_before, "not_before"),
        "scheduled_for": None if scheduled_for is None else _aware_utc(scheduled_for, "scheduled_for"),
        "created_at": now,
        "enqueued_at": now,
        "admission_json": dict(admission or {}),
    }
    table = JobRecord.__table__
    # ORM-enabled INSERT … RETURNING the entity: the new record without a second SELECT.
    stmt = (
        _insert(session)(JobRecord)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c.rq_job_id])
        .returning(JobRecord)
    )
    job: JobRecord | None = session.execute(stmt).scalars().one_or_none()
    if job is None:  # another process created this generation a moment ago: that is the job
        return session.scalars(
            select(JobRecord).where(JobRecord.rq_job_id == rq_id).execution_options(populate_existing=True)
        ).one()
    return job


def _generation(rq_id: str | None) -> int:
    # "<class>-<digest>-<generation>[_<admission round>]" (see :func:`next_rq_id`)
    tail = (rq_id or "").rsplit("-", 1)[-1].split("_", 1)[0]
    return int(tail) if tail.isdigit() else -1


def next_rq_id(rq_id: str) -> str:
    """The RQ id of the job's next admission round: ``…-0`` → ``…-0_1`` → ``…-0_2``.

    A job held by admission ends its RQ job and comes back as a new one (the running RQ job
    cannot enqueue itself again); the generation stays, so deduplication still sees one job.
    """
    base, sep, n = rq_id.rpartition("_")
    if sep and n.isdigit() and "-" not in n:
        return f"{base}_{int(n) + 1}"
    return f"{rq_id}_1"


def set_rq_id(session: Session, job_id: int, rq_id: str) -> None:
    """Point the record at its new RQ job (see :func:`next_rq_id`)."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(rq_job_id=rq_id)
        .execution_options(synchronize_session=False)
    )


def record_progress(session: Session, job_id: int, result: Mapping[str, Any]) -> None:
    """Keep what a running job has done so far in its ``result_json`` (e.g. the execution it
    recorded), so an attempt after a crash continues instead of starting over."""
    _json_size(dict(result), MAX_RESULT_BYTES, "result")
    session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(result_json=dict(result))
        .execution_options(synchronize_session=False)
    )


def record_usage(session: Session, job_id: int, cpu_seconds: float, peak_rss_mb: float) -> None:
    """Add a run's CPU-seconds to the job (quotas count them) and keep its peak RSS growth."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(
            cpu_seconds=func.coalesce(JobRecord.cpu_seconds, 0.0) + round(cpu_seconds, 3),
            peak_rss_mb=func.max(func.coalesce(JobRecord.peak_rss_mb, 0.0), round(peak_rss_mb, 1))
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(func.coalesce(JobRecord.peak_rss_mb, 0.0), round(peak_rss_mb, 1)),
        )
        .execution_options(synchronize_session=False)
    )


def move(
    session: Session,
    job: int | JobRecord,
    target: str,
    *,
    reason: str | None = None,
    worker: str | None = None,
    error: str | None = None,
    result: Mapping[str, Any] | None = None,
    not_before: datetime | None = None,
    now: datetime | None = None,
) -> JobRecord:
    """Move ``job`` (an id or a record) to ``target`` and return the record as stored.

    The state machine decides first (:class:`~portal.queue.states.IllegalTransition`, a 409
    naming ``state``, and nothing is written). Entering ``running`` counts an attempt and sets
    ``started_at`` and ``worker``; ``done``, ``failed`` and ``canceled`` set ``finished_at``;
    ``waiting`` and ``deferred`` need a ``reason`` (``deferred`` also ``not_before``); the
    reason is cleared on ``running`` and ``done``. ``error`` becomes ``last_error``, ``result``
    (a small dict: rows, runtime, error class) ``result_json``.

    The write is ``UPDATE ... WHERE id = :id AND status = :current``: if another process moved
    the job in between, nothing is written and :class:`~portal.errors.Conflict` (409) is raised.
    """
    job_id = job.id if isinstance(job, JobRecord) else int(job)
    current = session.scalar(select(JobRecord.status).where(JobRecord.id == job_id))
    if current is None:
        raise NotFound(f"job {job_id} does not exist", field="id")
    nxt = transition(current, target)
    when = utcnow() if now is None else _aware_utc(now, "now")
    why = _reason(reason)
    if nxt in NEEDS_REASON and why is None:
        raise BadRequest(f"reason: a {nxt.value} job must say why it waits", field="reason")
    if nxt is JobState.DEFERRED and not_before is None:
        raise BadRequest("not_before: a deferred job needs the time it may start", field="not_before")

    values: dict[str, Any] = {"status": nxt.value}
    if nxt is JobState.RUNNING:
        values |= {
            "attempts": JobRecord.attempts + 1,
            "started_at": when,
            "finished_at": None,
            "worker_id": worker,
            "status_reason": None,
        }
    elif nxt is JobState.DONE:
        values |= {"finished_at": when, "status_reason": None}
    elif nxt in FINISHED:  # failed, canceled
        values |= {"finished_at": when, "status_reason": why}
    else:  # queued, waiting, deferred, retrying: on its way again
        values |= {"finished_at": None, "status_reason": why}
        if nxt is JobState.QUEUED and current in _REQUEUED_FROM:
            values["enqueued_at"] = when
    if worker is not None:
        values["worker_id"] = worker
    if error is not None:
        values["last_error"] = error[:MAX_ERROR_CHARS]
    if result is not None:
        _json_size(dict(result), MAX_RESULT_BYTES, "result")
        values["result_json"] = dict(result)
    if not_before is not None:
        values["not_before_at"] = _aware_utc(not_before, "not_before")

    stmt = (
        update(JobRecord)
        .where(JobRecord.id == job_id, JobRecord.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if session.execute(stmt).rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"state: job {job_id} changed while it was being moved from {current} to {nxt.value}; "
            "reload it and try again",
            field="state",
        )
    moved = session.get(JobRecord, job_id, populate_existing=True)
    assert moved is not None
    return moved


# --------------------------------------------------------------------------- schedule fires
#: What a schedule kind's fires are claimed in: ``(schedule model, fire model)``.
FIRE_TABLES: dict[str, tuple[Any, Any]] = {
    "report": (ReportSchedule, ScheduleFire),
    "pdf": (PdfSchedule, PdfScheduleFire),
}


def claim_fire(
    session: Session,
    schedule_id: int,
    fire_time: datetime,
    *,
    job_id: int | None = None,
    kind: str = "report",
) -> bool:
    """Claim the fire of ``schedule_id`` at ``fire_time``: True once, False for every later claim.

    The UNIQUE (schedule_id, fire_time) decides, so two schedulers cannot both fire it. A
    refused claim raises nothing and leaves the transaction usable. A won claim moves the
    schedule's ``last_fire_at`` forward (never back), the baseline of the next ``due_fire``.
    ``kind`` is ``report`` (report schedules) or ``pdf`` (PDF template schedules).
    """
    schedule, fires = FIRE_TABLES[kind]
    at = _aware_utc(fire_time, "fire_time")
    table = fires.__table__
    stmt = (
        _insert(session)(table)
        .values(schedule_id=schedule_id, fire_time=at, job_id=job_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.schedule_id, table.c.fire_time])
        .returning(table.c.id)
    )
    if session.execute(stmt).scalar_one_or_none() is None:
        return False
    session.execute(
        update(schedule)
        .where(
            schedule.id == schedule_id,
            or_(schedule.last_fire_at.is_(None), schedule.last_fire_at < at),
        )
        .values(last_fire_at=at)
        .execution_options(synchronize_session=False)
    )
    return True


def link_fire(
    session: Session, schedule_id: int, fire_time: datetime, job_id: int, *, kind: str = "report"
) -> None:
    """Record which job a claimed fire started (claim first, then create the job, then link)."""
    fires = FIRE_TABLES[kind][1]
    at = _aware_utc(fire_time, "fire_time")
    result = session.execute(
        update(fires)
        .where(fires.schedule_id == schedule_id, fires.fire_time == at)
        .values(job_id=job_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(
            f"schedule {schedule_id} has no claimed fire at {at:%Y-%m-%dT%H:%M:%SZ}", field="fire_time"
        )


# --------------------------------------------------------------------------- deliveries
def delivery_key(job_id: int, channel: str, recipient: str) -> str:
    """The idempotency key of one message of a job to one recipient (case-insensitive address)."""
    digest = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()[:40]
    return f"job:{job_id}:{channel}:{digest}"


def record_delivery(
    session: Session,
    job_id: int,
    channel: str,
    recipient: str,
    key: str,
    status: str,
    message_id: str | None = None,
    error: str | None = None,
) -> Delivery:
    """Record a delivery attempt under its idempotency ``key`` and return the stored row.

    One row per key: a later attempt updates a ``failed`` row, never a ``sent`` one (a message
    delivered stays delivered). A key already used by another job is a :class:`Conflict`.
    """
    if channel not in CHANNELS:
        raise not_among("delivery channel", channel, CHANNELS, field="channel")
    if status not in DELIVERY_STATUSES:
        raise not_among("delivery status", status, DELIVERY_STATUSES, field="status")
    if not key or len(key) > KEY_CHARS:
        raise BadRequest(f"idempotency_key: must be 1 to {KEY_CHARS} characters", field="idempotency_key")
    if not recipient or len(recipient) > 320:
        raise BadRequest("recipient: must be 1 to 320 characters", field="recipient")
    table = Delivery.__table__
    ins = _insert(session)(table).values(
        job_id=job_id,
        channel=channel,
        recipient=recipient,
        idempotency_key=key,
        status=status,
        message_id=None if message_id is None else message_id[:255],
        attempted_at=utcnow(),
        error=None if error is None else error[:MAX_ERROR_CHARS],
    )
    stmt = ins.on_conflict_do_update(
        index_elements=[table.c.idempotency_key],
        set_={
            "status": ins.excluded.status,
            "message_id": func.coalesce(ins.excluded.message_id, table.c.message_id),
            "attempted_at": ins.excluded.attempted_at,
            "error": ins.excluded.error,
        },
        where=and_(table.c.status != "sent", table.c.job_id == ins.excluded.job_id),
    )
    session.execute(stmt)
    row = session.scalars(
        select(Delivery).where(Delivery.idempotency_key == key).execution_options(populate_existing=True)
    ).one()
    if row.job_id != job_id:
        raise Conflict(
            f"idempotency_key: {key!r} belongs to a delivery of job {row.job_id}, not {job_id}",
            field="idempotency_key",
        )
    return row


def delivered_keys(session: Session, job_id: int) -> set[str]:
    """Idempotency keys of the job's messages already delivered (status ``sent``)."""
    rows = session.scalars(
        select(Delivery.idempotency_key).where(Delivery.job_id == job_id, Delivery.status == "sent")
    )
    return set(rows)


def served_recipients(session: Session, job_id: int, channel: str = "email") -> set[str]:
    """Recipients (lower case) the job already served on ``channel``: ``deliver(skip=...)`` takes these."""
    rows = session.scalars(
        select(Delivery.recipient).where(
            Delivery.job_id == job_id, Delivery.channel == channel, Delivery.status == "sent"
        )
    )
    return {r.lower() for r in rows}
