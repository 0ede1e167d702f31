"""The RQ backbone end to end, with the session's real Redis and a migrated database per backend:
jobs enqueued by dotted path with the JSON serializer run in an in-process ``SimpleWorker`` (burst,
no fork), and the ``job_queue`` mirror follows every step — done with times and worker, failed
with ``last_error`` after its retries, critical before normal before low, a due schedule fired
once by two ticks, a deferred job run once its time came.

One database per backend for the module; each test makes its own jobs (and, for schedules, its
own schedule row), and Redis is emptied before each test.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

import jobs.reports
import jobs.runtime
from portal.infra.db import transaction
from portal.jobqueue import PRIORITY_ORDER, enqueue_job, queue_name, queues_for, submit
from portal.jobqueue.enqueue import SERIALIZER, backoff
from portal.jobqueue.scheduler import tick
from portal.jobqueue.workers import make_worker
from portal.models import JobRecord, Report, ReportExecution, ReportSchedule, ScheduleFire
from portal.queue.schedules import fire_key
from tests.support.principals import as_principal


def utc(moment: datetime | None) -> datetime | None:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    """The module's context, installed as the workers' context (task functions run in this process)."""
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)


@pytest.fixture
def analyst(module_demo: Any) -> Any:
    return module_demo[("acme", "analyst")]


def a_report_of(ctx: Any, user: Any) -> int:
    """Id of a demo report the user may run (one of its own)."""
    with ctx.sessions() as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
    assert rid is not None, "the demo seeds reports for the analyst"
    return int(rid)


def new_job(
    ctx: Any,
    user: Any,
    job_class: str = "report_execute",
    payload: dict[str, Any] | None = None,
    *,
    func: str | None = None,
    priority: str = "normal",
    not_before: datetime | None = None,
    max_attempts: int = 3,
    retry_intervals: list[int] | None = None,
) -> tuple[int, Job]:
    """Create a job (committed), then enqueue it: the order the backbone prescribes."""
    with transaction(ctx.sessions) as s:
        sub = submit(
            s,
            as_principal(s, user),
            job_class,
            payload or {},
            priority=priority,
            not_before=not_before,
            max_attempts=max_attempts,
        )
    kwargs: dict[str, Any] = {}
    if func is not None:
        kwargs["func"] = func
    if retry_intervals is not None:
        kwargs["retry_intervals"] = retry_intervals
    return sub.record.id, sub.enqueue(ctx.redis, **kwargs)


def record(ctx: Any, job_id: int) -> JobRecord:
    with ctx.sessions() as s:
        rec = s.get(JobRecord, job_id)
        assert rec is not None
        return rec


def run_worker(ctx: Any, pool: str, *, with_scheduler: bool = False) -> Any:
    """A burst SimpleWorker (no fork) on ``pool``, configured like ``conductor worker``.

    ``work()`` installs SIGINT/SIGTERM handlers: pytest's are put back afterwards.
    """
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker = make_worker(pool, ctx.redis, name=f"test-{pool}-{uuid.uuid4().hex[:8]}")
    try:
        worker.work(burst=True, with_scheduler=with_scheduler, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return worker


# --------------------------------------------------------------------------- queues
def test_queues_are_named_by_pool_and_priority_in_listening_order(ctx: Any) -> None:
    names = [q.name for q in queues_for("batch", ctx.redis)]
    assert names == ["batch:critical", "batch:high", "batch:normal", "batch:low"]
    assert [p.value for p in PRIORITY_ORDER] == ["critical", "high", "normal", "low"]
    assert all(q.serializer is SERIALIZER for q in queues_for("realtime", ctx.redis))
    with pytest.raises(Exception, match="pool"):
        queue_name("nightly", "normal")


def test_backoff_grows_with_jitter_and_never_waits_zero() -> None:
    import random

    waits = backoff(6, base=2, cap=60, rng=random.Random(7))
    assert len(waits) == 6 and all(w >= 1 for w in waits)
    assert waits[-1] > waits[0]
    assert max(waits) <= 60
    assert backoff(6, base=2, cap=60, rng=random.Random(8)) != waits  # jitter


def test_a_job_is_enqueued_once_by_path_with_json_and_its_record_id(ctx: Any, analyst: Any) -> None:
    job_id, job = new_job(ctx, analyst, func="jobs.runtime.noop")
    rec = record(ctx, job_id)
    assert job.id == rec.rq_job_id
    assert job.origin == "realtime:normal"  # report_execute runs in the realtime pool
    # Stored as JSON (readable by any client), by dotted path, with the record id as only argument.
    data = json.loads(zlib.decompress(ctx.redis.hget(job.key, "data")))
    assert data[0] == "jobs.runtime.noop" and data[2] == [job_id]
    assert job.retries_left == rec.max_attempts - 1
    # Enqueuing the same record again gives the same job, not a second one.
    again = enqueue_job(ctx.redis, rec, "jobs.runtime.noop")
    assert again.id == job.id
    assert queues_for("realtime", ctx.redis)[2].count == 1


# --------------------------------------------------------------------------- running
def test_noop_and_report_jobs_run_and_the_mirror_ends_done(ctx: Any, analyst: Any) -> None:
    report_id = a_report_of(ctx, analyst)
    noop_id, noop_job = new_job(ctx, analyst, func="jobs.runtime.noop")
    report_job_id, report_job = new_job(ctx, analyst, payload={"report_id": report_id, "params": {}})
    assert record(ctx, noop_id).status == "queued"
    assert record(ctx, report_job_id).status == "queued"

    worker = run_worker(ctx, "realtime")

    for job_id, job in ((noop_id, noop_job), (report_job_id, report_job)):
        rec = record(ctx, job_id)
        assert rec.status == "done", rec.last_error
        assert rec.attempts == 1  # it went through running exactly once
        assert rec.worker_id == worker.name
        started, finished = utc(rec.started_at), utc(rec.finished_at)
        assert started is not None and finished is not None
        assert utc(rec.enqueued_at) <= started <= finished
        assert rec.last_error is None and rec.status_reason is None
        assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert record(ctx, noop_id).result_json == {"noop": True}

    summary = record(ctx, report_job_id).result_json
    assert summary is not None and summary["status"] == "done"
    with ctx.sessions() as s:
        ex = s.get(ReportExecution, summary["execution_id"])
        assert ex is not None
        assert (ex.report_id, ex.status, ex.executed_by) == (report_id, "done", analyst.id)
        assert ex.row_count == summary["rows"]

    # A second delivery of a finished job does nothing: no second run, no second execution.
    def executions() -> int:
        with ctx.sessions() as s:
            q = (
                select(func.count())
                .select_from(ReportExecution)
                .where(ReportExecution.report_id == report_id)
            )
            return int(s.scalar(q) or 0)

    before = executions()
    assert jobs.runtime.noop(noop_id) is None
    assert jobs.reports.execute(report_job_id) is None
    assert executions() == before
    assert record(ctx, report_job_id).attempts == 1


def test_a_transient_failure_is_retried_then_fails_with_its_last_error(ctx: Any, analyst: Any) -> None:
    job_id, job = new_job(ctx, analyst, func="jobs.runtime.fail", max_attempts=3, retry_intervals=[0, 0])

    run_worker(ctx, "realtime")

    rec = record(ctx, job_id)
    assert rec.status == "failed"
    assert rec.attempts == 3  # RQ's Retry delivered it three times, each tracked
    assert rec.last_error == "RuntimeError: failing on purpose"
    assert rec.status_reason == "failed after 3 attempt(s)"
    assert utc(rec.finished_at) is not None
    assert job.get_status(refresh=True) == JobStatus.FAILED


def test_a_missing_report_fails_at_once_without_useless_retries(ctx: Any, analyst: Any) -> None:
    job_id, job = new_job(
        ctx, analyst, payload={"report_id": 987654321}, max_attempts=3, retry_intervals=[0, 0]
    )

    run_worker(ctx, "realtime")

    rec = record(ctx, job_id)
    assert rec.status == "failed"
    assert rec.attempts == 1  # a retry cannot bring the report back: RQ's retries were cancelled
    assert rec.last_error is not None and "NotFound" in rec.last_error and "987654321" in rec.last_error
    # Had RQ retried, the next delivery would find the record failed and end as "finished".
    assert job.get_status(refresh=True) == JobStatus.FAILED


def test_workers_take_critical_before_normal_before_low(ctx: Any, analyst: Any) -> None:
    # Enqueued in the worst order; "low" < "normal" alphabetically, so a name-sorted listen
    # order would fail this too.
    order = ["low", "normal", "low", "critical", "normal"]
    ids = [new_job(ctx, analyst, func="jobs.runtime.noop", priority=p)[0] for p in order]

    run_worker(ctx, "realtime")

    recs = [record(ctx, i) for i in ids]
    assert all(r.status == "done" for r in recs)
    ran = [r.priority for r in sorted(recs, key=lambda r: utc(r.started_at))]
    assert ran == ["critical", "normal", "normal", "low", "low"]


# --------------------------------------------------------------------------- schedules
def test_two_ticks_fire_a_due_schedule_once(ctx: Any, analyst: Any) -> None:
    report_id = a_report_of(ctx, analyst)
    now = datetime.now(UTC).replace(microsecond=0)
    with transaction(ctx.sessions) as s:
        row = ReportSchedule(
            report_id=report_id,
            schedule_expr="* * * * *",
            timezone="America/Sao_Paulo",
            created_by=analyst.id,
            last_fire_at=now - timedelta(minutes=5),
        )
        s.add(row)
        s.flush()
        schedule_id = row.id

    first = tick(ctx, now)  # scheduler A
    # Scheduler B read the schedule before A committed: it sees the old baseline, finds the
    # same fire due and tries to claim it. The claim (UNIQUE schedule, fire time) refuses.
    with transaction(ctx.sessions) as s:
        s.execute(
            update(ReportSchedule)
            .where(ReportSchedule.id == schedule_id)
            .values(last_fire_at=now - timedelta(minutes=5))
        )
    second = tick(ctx, now)  # scheduler B

    fire = now.replace(second=0)
    with ctx.sessions() as s:
        jobs_of = s.scalars(select(JobRecord).where(JobRecord.dedup_key == fire_key(schedule_id, fire))).all()
        fires = s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)).all()
        sched = s.get(ReportSchedule, schedule_id)
    assert len(jobs_of) == 1
    job = jobs_of[0]
    assert job.id in first.fired and job.id not in second.fired
    assert second.fired == []
    assert (job.job_class, job.pool, job.owner_id) == ("report_schedule", "batch", analyst.id)
    assert utc(job.scheduled_for) == fire
    assert [(utc(f.fire_time), f.job_id) for f in fires] == [(fire, job.id)]
    assert sched is not None and utc(sched.last_fire_at) == now - timedelta(minutes=5)  # B moved nothing
    assert utc(sched.next_run_at) == fire + timedelta(minutes=1)
    assert queues_for("batch", ctx.redis)[2].count == 1  # batch:normal holds the one job

    run_worker(ctx, "batch")

    done = record(ctx, job.id)
    assert done.status == "done", done.last_error
    with ctx.sessions() as s:
        ex = s.get(ReportExecution, done.result_json["execution_id"])
    assert ex is not None and ex.report_id == report_id and ex.status == "done"


def test_a_schedule_without_baseline_owes_nothing_until_its_next_time(ctx: Any, analyst: Any) -> None:
    report_id = a_report_of(ctx, analyst)
    now = datetime.now(UTC)
    with transaction(ctx.sessions) as s:
        row = ReportSchedule(
            report_id=report_id, schedule_expr="* * * * *", timezone="UTC", created_by=analyst.id
        )
        s.add(row)
        s.flush()
        schedule_id = row.id
    tick(ctx, now)  # other tests' schedules of this module may be due: only this one's fires count
    with ctx.sessions() as s:
        sched = s.get(ReportSchedule, schedule_id)
        assert s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)).all() == []
    assert sched is not None and utc(sched.last_fire_at) == now
    assert utc(sched.next_run_at) == now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    later = tick(ctx, now + timedelta(minutes=1, seconds=1))
    with ctx.sessions() as s:
        fires = s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)).all()
    assert len(fires) == 1 and fires[0].job_id in later.fired


# --------------------------------------------------------------------------- deferred
def test_a_deferred_job_runs_once_its_time_came(ctx: Any, analyst: Any) -> None:
    not_before = datetime.now(UTC) + timedelta(seconds=1.5)
    job_id, job = new_job(ctx, analyst, func="jobs.runtime.noop", not_before=not_before)
    rec = record(ctx, job_id)
    assert rec.status == "deferred" and rec.status_reason
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    registry = ScheduledJobRegistry("realtime:normal", connection=ctx.redis, serializer=SERIALIZER)
    assert job.id in registry.get_job_ids()

    run_worker(ctx, "realtime", with_scheduler=True)  # not due yet: nothing runs
    assert record(ctx, job_id).status == "deferred"

    deadline = time.monotonic() + 8
    while record(ctx, job_id).status == "deferred" and time.monotonic() < deadline:
        time.sleep(0.3)
        run_worker(ctx, "realtime", with_scheduler=True)
    rec = record(ctx, job_id)
    assert rec.status == "done"
    assert rec.attempts == 1
    started = utc(rec.started_at)
    assert started is not None and started >= not_before


# --------------------------------------------------------------------------- the CLI processes
def _cli_env(ctx: Any) -> dict[str, str]:
    import os

    st = ctx.settings
    return {
        **os.environ,
        "CONDUCTOR_HOME": str(st.home),
        "DATABASE_URL": st.database_url,
        "WAREHOUSE_URL": st.warehouse_url,
        "REDIS_URL": st.redis_url,
        "CONDUCTOR_LOG_LEVEL": "WARNING",
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_conductor_worker_burst_runs_the_queued_jobs_in_its_own_processes(
    ctx: Any, analyst: Any, workers: int
) -> None:
    import subprocess
    import sys

    ids = [
        new_job(ctx, analyst, func="jobs.runtime.noop", priority=p)[0] for p in ("low", "critical", "normal")
    ]
    batch_id, _ = new_job(ctx, analyst, "dataset_precompute", func="jobs.runtime.noop")  # another pool

    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "worker", "--pool", "realtime", "-n", str(workers), "--burst"],
        env=_cli_env(ctx),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    recs = [record(ctx, i) for i in ids]
    assert [r.status for r in recs] == ["done"] * 3, [r.last_error for r in recs]
    # Another process ran them: its worker name, not this test's.
    assert all(r.worker_id and r.worker_id.startswith("realtime-") for r in recs)
    assert record(ctx, batch_id).status == "queued"  # the batch pool's worker was not started


def test_conductor_scheduler_once_fires_a_due_schedule(ctx: Any, analyst: Any) -> None:
    import subprocess
    import sys

    report_id = a_report_of(ctx, analyst)
    with transaction(ctx.sessions) as s:
        row = ReportSchedule(
            report_id=report_id,
            schedule_expr="*/5 * * * *",
            timezone="Europe/Lisbon",
            created_by=analyst.id,
            last_fire_at=datetime.now(UTC) - timedelta(hours=1),
        )
        s.add(row)
        s.flush()
        schedule_id = row.id

    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "scheduler", "--once"],
        env=_cli_env(ctx),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("fired ")

    with ctx.sessions() as s:
        fires = s.scalars(select(ScheduleFire).where(ScheduleFire.schedule_id == schedule_id)).all()
    assert len(fires) == 1 and fires[0].job_id is not None
    job = record(ctx, fires[0].job_id)
    assert job.status == "queued"
    assert Job.fetch(job.rq_job_id, connection=ctx.redis, serializer=SERIALIZER).origin == "batch:normal"
