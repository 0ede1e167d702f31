"""Faults of the job backbone, with real processes and servers:

- a worker killed with -9 in the middle of a scheduled report's delivery: the job runs again
  exactly once, one ``report_executions`` row ends done, each recipient gets one e-mail (a
  real SMTP server on loopback counts them);
- Redis restarted during a run: with its append-only file nothing is lost; without it, the
  reconciliation enqueues what ``job_queue`` holds once, and no schedule fires twice;
- PostgreSQL stopped for a moment: the job's attempt fails, RQ retries it and it finishes;
- two ``conductor scheduler`` processes at once fire each due schedule once;
- a deferred job survives a restart of Redis and of the portal (reconciled at start).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from rq.job import Job
from sqlalchemy import func, select, update

import jobs.runtime
from portal.context import build_context
from portal.infra.db import transaction
from portal.infra.redis_server import EmbeddedRedis, free_port
from portal.jobqueue import submit
from portal.jobqueue.enqueue import SERIALIZER
from portal.jobqueue.reconcile import reconcile
from portal.jobqueue.scheduler import tick
from portal.models import JobRecord, Report, ReportExecution, ReportSchedule, ScheduleFire
from tests.integration.test_jobqueue import record, run_worker
from tests.support.http import ROOT
from tests.support.principals import as_principal

LEASE_S = "3"


# --------------------------------------------------------------------------- an SMTP server that can stall
@dataclass
class StallingRecorder:
    """Counts delivered messages per recipient; holds the RCPT of ``stall`` until released."""

    stall: str = ""
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    delivered: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == self.stall and not self.release.is_set():
            self.reached.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"  # the sender died meanwhile: nothing delivered
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[str, StallingRecorder]]:
    recorder = StallingRecorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", recorder
    recorder.release.set()
    controller.stop()


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)
    with transaction(module_ctx.sessions) as s:  # a test's schedules must not fire in the next one
        s.execute(update(ReportSchedule).values(is_active=False))


@pytest.fixture
def analyst(module_demo: Any) -> Any:
    return module_demo[("acme", "analyst")]


def env_for(ctx: Any, **extra: str) -> dict[str, str]:
    st = ctx.settings
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CONDUCTOR_HOME": str(st.home),
        "DATABASE_URL": st.database_url,
        "WAREHOUSE_URL": st.warehouse_url,
        "REDIS_URL": st.redis_url,
        "CONDUCTOR_LOG_LEVEL": "WARNING",
        "CONDUCTOR_JOB_LEASE_SECONDS": LEASE_S,
        **extra,
    }


def conductor(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "portal.cli", *args], env=env, cwd=ROOT)


def a_report(ctx: Any, user: Any) -> int:
    with ctx.sessions() as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
    assert rid is not None
    return int(rid)


def daily_fire_half_an_hour_ago() -> str:
    """A daily cron whose one fire today is 30 minutes back: a second tick within the test
    never finds a new fire due (an every-minute cron does when the minute rolls over)."""
    at = datetime.now(UTC) - timedelta(minutes=30)
    return f"{at.minute} {at.hour} * * *"


def new_schedule(ctx: Any, user: Any, recipients: list[str] | None = None, expr: str = "* * * * *") -> int:
    """A schedule whose baseline is an hour ago: its fire is due now."""
    with transaction(ctx.sessions) as s:
        row = ReportSchedule(
            report_id=a_report(ctx, user),
            schedule_expr=expr,
            timezone="UTC",
            created_by=user.id,
            delivery_config_json={"recipients": recipients or [], "format": "csv"},
            last_fire_at=datetime.now(UTC) - timedelta(hours=1),
        )
        s.add(row)
        s.flush()
        return int(row.id)


def done_executions(ctx: Any, report_id: int, since: datetime) -> int:
    with ctx.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).where(
                    ReportExecution.report_id == report_id,
                    ReportExecution.status == "done",
                    ReportExecution.executed_at >= since,
                )
            )
            or 0
        )


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# --------------------------------------------------------------------------- kill -9
def test_a_worker_killed_mid_job_runs_it_again_once_with_one_email_each(
    ctx: Any, analyst: Any, smtp: tuple[str, StallingRecorder]
) -> None:
    url, server = smtp
    server.stall = "second@example.com"
    since = datetime.now(UTC) - timedelta(seconds=1)
    sid = new_schedule(ctx, analyst, ["first@example.com", "second@example.com"])
    fired = tick(ctx).fired
    assert len(fired) == 1
    job_id = fired[0]
    env = env_for(ctx, SMTP_URL=url)

    worker = conductor(env, "worker", "--pool", "batch")
    try:
        assert server.reached.wait(60), "the worker never reached the second recipient"
        assert record(ctx, job_id).status == "running"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    server.release.set()
    assert server.delivered == ["first@example.com"]
    # Until its lease runs out the job counts as running; then the reconciliation recovers it.
    time.sleep(float(LEASE_S) + 0.5)
    out = reconcile(ctx.sessions, ctx.redis)
    assert out.lost == [job_id]
    assert record(ctx, job_id).status == "retrying"
    assert reconcile(ctx.sessions, ctx.redis).enqueued == []  # a second pass finds it queued

    again = conductor(env, "worker", "--pool", "batch", "--burst")
    assert again.wait(90) == 0
    rec = record(ctx, job_id)
    assert rec.status == "done", rec.last_error
    assert rec.attempts == 2
    assert sorted(server.delivered) == ["first@example.com", "second@example.com"]  # one each
    with ctx.sessions() as s:
        report_id = s.get(ReportSchedule, sid).report_id
    assert done_executions(ctx, report_id, since) == 1


# --------------------------------------------------------------------------- Redis restarts
@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis", persistent=True)
    server.start()
    yield server
    server.stop()


def test_redis_restarted_keeps_queued_and_deferred_jobs_and_fires_nothing_twice(
    module_settings: Any, module_demo: Any, own_redis: EmbeddedRedis, analyst: Any
) -> None:
    settings = module_settings.__class__(**{**module_settings.__dict__, "redis_url": own_redis.url})
    ctx = build_context(settings)
    jobs.runtime.use_context(ctx)
    try:
        new_schedule(ctx, analyst, expr=daily_fire_half_an_hour_ago())
        fired = tick(ctx).fired
        assert len(fired) == 1
        with transaction(ctx.sessions) as s:
            later = submit(s, as_principal(s, analyst), "report_execute", {},
                           not_before=datetime.now(UTC) + timedelta(hours=6), func="jobs.runtime.noop")  # fmt: skip
        later.enqueue(ctx.redis)

        port, data = own_redis.port, own_redis.data_dir
        own_redis.stop()
        restarted = EmbeddedRedis(data, port=port, persistent=True)
        restarted.start()
        try:
            ctx.redis.connection_pool.disconnect()
            # The append-only file kept both: the fired job and the deferred one.
            for jid in (fired[0], later.record.id):
                rq_id = record(ctx, jid).rq_job_id
                assert Job.fetch(rq_id, connection=ctx.redis, serializer=SERIALIZER) is not None
            assert reconcile(ctx.sessions, ctx.redis).enqueued == []
            assert tick(ctx).fired == []  # the schedule's fire is claimed: not fired again

            # A Redis that lost everything (no file): the reconciliation enqueues each job once.
            ctx.redis.flushall()
            first = reconcile(ctx.sessions, ctx.redis)
            assert set(first.enqueued) >= {fired[0], later.record.id}
            assert reconcile(ctx.sessions, ctx.redis).enqueued == []
            assert tick(ctx).fired == []
            run_worker(ctx, "batch", with_scheduler=True)
            assert record(ctx, fired[0]).status == "done"
            assert record(ctx, later.record.id).status == "deferred"  # still waits for its time
            with ctx.sessions() as s:
                fires = s.scalar(
                    select(func.count()).select_from(ScheduleFire).where(ScheduleFire.job_id == fired[0])
                )
            assert fires == 1
        finally:
            restarted.stop()
    finally:
        jobs.runtime.use_context(None)
        ctx.close()


# --------------------------------------------------------------------------- PostgreSQL away
@pytest.mark.postgres
def test_jobs_retry_and_finish_after_postgresql_was_away(
    tmp_path: Path, warehouse_url: str, redis_url: str, redis_client: Any
) -> None:
    from portal.config import Settings
    from portal.infra import migrate
    from tests.conftest import seed_demo_accounts
    from tests.support.servers import ThrowawayPostgres

    pg = ThrowawayPostgres().start()
    try:
        url = pg.create_database()
        migrate.upgrade(url)
        settings = Settings(
            home=tmp_path / "home", database_url=url, warehouse_url=warehouse_url, redis_url=redis_url
        )
        ctx = build_context(settings)
        jobs.runtime.use_context(ctx)
        try:
            user = seed_demo_accounts(ctx)[("acme", "analyst")]
            with transaction(ctx.sessions) as s:
                sub = submit(s, as_principal(s, user), "report_execute", {"report_id": a_report(ctx, user)})
            sub.enqueue(ctx.redis, retry_intervals=[1, 1])
            pg.pause()
            run_worker(ctx, "realtime")  # the attempt cannot even start: RQ schedules its retry
            pg.resume()
            deadline = time.monotonic() + 20
            while _status(ctx, sub.record.id) != "done" and time.monotonic() < deadline:
                time.sleep(0.5)
                run_worker(ctx, "realtime", with_scheduler=True)
            rec = record(ctx, sub.record.id)
            assert rec.status == "done" and rec.result_json["rows"] is not None
        finally:
            jobs.runtime.use_context(None)
            ctx.close()
    finally:
        pg.stop()


def _status(ctx: Any, job_id: int) -> str:
    try:
        return record(ctx, job_id).status
    except Exception:
        return "?"


# --------------------------------------------------------------------------- two schedulers
def test_two_scheduler_processes_fire_each_due_schedule_once(ctx: Any, analyst: Any) -> None:
    ids = [new_schedule(ctx, analyst) for _ in range(30)]
    env = env_for(ctx)
    procs = [conductor(env, "scheduler", "--once") for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    with ctx.sessions() as s:
        fires = s.execute(
            select(ScheduleFire.schedule_id, func.count()).where(ScheduleFire.schedule_id.in_(ids))
            .group_by(ScheduleFire.schedule_id)
        ).all()  # fmt: skip
        jobs_made = s.scalar(
            select(func.count()).select_from(JobRecord).where(JobRecord.job_class == "report_schedule",
                                                             JobRecord.payload_json.is_not(None),
                                                             JobRecord.id.in_(select(ScheduleFire.job_id).where(
                                                                 ScheduleFire.schedule_id.in_(ids))))
        )  # fmt: skip
        s.execute(update(ReportSchedule).where(ReportSchedule.id.in_(ids)).values(is_active=False))
        s.commit()
    assert sorted(sid for sid, _ in fires) == sorted(ids)
    assert all(n == 1 for _, n in fires)
    assert jobs_made == len(ids)


# --------------------------------------------------------------------------- a restart of the portal
def test_a_deferred_job_survives_a_restart_of_the_portal_and_of_the_machine(
    tmp_path: Path, module_settings: Any, module_demo: Any, analyst: Any
) -> None:
    """Embedded defaults: the portal's own Redis keeps an append-only file in its home. Restarted,
    it still holds the deferred job; with its files gone (a new machine), the start-up
    reconciliation enqueues the job again from ``job_queue``, once."""
    from portal.config import Settings

    st = module_settings
    settings = Settings(home=tmp_path / "home", database_url=st.database_url, warehouse_url=st.warehouse_url)
    first = build_context(settings)
    try:
        assert first.embedded_redis is not None and first.embedded_redis.persistent
        with transaction(first.sessions) as s:
            sub = submit(s, as_principal(s, analyst), "report_execute", {},
                         not_before=datetime.now(UTC) + timedelta(hours=6), func="jobs.runtime.noop")  # fmt: skip
        sub.enqueue(first.redis)
        rq_id = sub.record.rq_job_id
    finally:
        first.close()

    second = build_context(settings)  # the portal restarted
    try:
        assert second.redis.exists(f"rq:job:{rq_id}")
        # (The module's database holds other tests' jobs too: only this one is looked at.)
        assert sub.record.id not in reconcile(second.sessions, second.redis).enqueued
    finally:
        second.close()

    for path in sorted((tmp_path / "home" / "redis").rglob("appendonly*"), reverse=True):
        if path.is_file():
            path.unlink()
    third = build_context(settings)  # a machine without the old Redis files
    try:
        assert not third.redis.exists(f"rq:job:{rq_id}")
        assert sub.record.id in reconcile(third.sessions, third.redis).enqueued
        assert third.redis.exists(f"rq:job:{rq_id}")
        assert reconcile(third.sessions, third.redis).enqueued == []  # once, not at every start
        with third.sessions() as s:
            assert s.get(JobRecord, sub.record.id).status == "deferred"
    finally:
        third.close()
