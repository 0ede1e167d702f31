"""Admission at run time, with the session's real Redis and a migrated database per backend.

Each case runs a job through an in-process burst ``SimpleWorker`` and reads the ``job_queue``
mirror: held by the tenant's concurrency limit with the reason in words and put back on the
queue for its next round; admitted once the slot frees or the holder's lease ran out (a dead
worker); a critical job beyond the limit up to the cap; an hourly quota; an open breaker; an
off-peak-only job deferred to its window; a job past its TTL failed; CPU and memory measured
and the memory limit enforced.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, update

import jobs.runtime
from portal.infra.db import transaction
from portal.jobqueue import breakers, submit
from portal.jobqueue.enqueue import SERIALIZER
from portal.jobqueue.gate import LEASE_S, _ms, forget_settings, slot_key, usage
from portal.jobstore.settings import save_offpeak
from portal.models import JobRecord, OffpeakWindow, QueueLimits
from portal.specs.jobs import OffpeakConfigSpec
from tests.integration.test_jobqueue import record, run_worker
from tests.support.principals import as_principal


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)
    with transaction(module_ctx.sessions) as s:  # limits and windows are per test
        s.execute(delete(QueueLimits))
        s.execute(delete(OffpeakWindow))
    forget_settings()


@pytest.fixture
def analyst(module_demo: Any) -> Any:
    return module_demo[("acme", "analyst")]


def set_limits(ctx: Any, user: Any, **limits: Any) -> None:
    with transaction(ctx.sessions) as s:
        tenant_id = as_principal(s, user).tenant_id
        s.execute(delete(QueueLimits).where(QueueLimits.tenant_id == tenant_id))
        s.add(QueueLimits(tenant_id=tenant_id, limits_json=limits))
    forget_settings()


def job(
    ctx: Any, user: Any, func: str = "jobs.runtime.noop", *, args: list[Any] | None = None, **options: Any
) -> int:
    with transaction(ctx.sessions) as s:
        sub = submit(s, as_principal(s, user), "report_execute", {}, **options)
    sub.enqueue(ctx.redis, func=func, **({"args": [sub.record.id, *args]} if args else {}))
    return sub.record.id


def hold_slot(ctx: Any, key: str, member: str = "other-job", lease_s: float = LEASE_S) -> None:
    """Another job holding a slot of ``key`` until its lease ends (``lease_s`` may be past)."""
    end = datetime.now(UTC) + timedelta(seconds=lease_s)
    ctx.redis.zadd(key, {member: _ms(end)})


def tenant_id_of(ctx: Any, user: Any) -> int:
    with ctx.sessions() as s:
        return as_principal(s, user).tenant_id


def drain(ctx: Any, job_id: int, until: str = "done", seconds: float = 10) -> JobRecord:
    """Run burst workers (with the scheduler) until the job reaches ``until`` or time is up."""
    deadline = time.monotonic() + seconds
    while record(ctx, job_id).status != until and time.monotonic() < deadline:
        run_worker(ctx, "realtime", with_scheduler=True)
        time.sleep(0.2)
    return record(ctx, job_id)


# --------------------------------------------------------------------------- concurrency
def test_a_full_tenant_waits_with_its_reason_then_runs_when_the_slot_frees(ctx: Any, analyst: Any) -> None:
    set_limits(ctx, analyst, max_running=1)
    hold_slot(ctx, slot_key("tenant", tenant_id_of(ctx, analyst)))
    job_id = job(ctx, analyst)
    first_rq = record(ctx, job_id).rq_job_id
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "waiting"
    assert rec.status_reason == "tenant acme runs 1 of 1 allowed"
    assert rec.rq_job_id == f"{first_rq}_1" and rec.attempts == 0
    registry = ScheduledJobRegistry("realtime:normal", connection=ctx.redis, serializer=SERIALIZER)
    assert rec.rq_job_id in registry.get_job_ids()  # back on the queue for its next round

    ctx.redis.delete(slot_key("tenant", tenant_id_of(ctx, analyst)))  # the other job ended
    rec = drain(ctx, job_id)
    assert rec.status == "done" and rec.attempts == 1 and rec.status_reason is None
    # Its own slots were given back.
    assert ctx.redis.zcard(slot_key("tenant", tenant_id_of(ctx, analyst))) == 0


def test_a_dead_workers_slot_frees_when_its_lease_ends(ctx: Any, analyst: Any) -> None:
    set_limits(ctx, analyst, max_running=1)
    hold_slot(ctx, slot_key("tenant", tenant_id_of(ctx, analyst)), lease_s=-1)  # stopped renewing
    job_id = job(ctx, analyst)
    run_worker(ctx, "realtime")
    assert record(ctx, job_id).status == "done"


def test_critical_runs_beyond_the_limit_up_to_its_cap(ctx: Any, analyst: Any) -> None:
    set_limits(ctx, analyst, max_running=1, critical_cap=1)
    tenant = tenant_id_of(ctx, analyst)
    hold_slot(ctx, slot_key("tenant", tenant))
    first = job(ctx, analyst, priority="critical")
    run_worker(ctx, "realtime")
    assert record(ctx, first).status == "done"

    hold_slot(ctx, slot_key("critical", tenant), member="another-critical")
    second = job(ctx, analyst, priority="critical")
    run_worker(ctx, "realtime")
    rec = record(ctx, second)
    assert rec.status == "waiting" and rec.status_reason == "tenant acme runs 1 of 1 allowed"


# --------------------------------------------------------------------------- quotas, breakers, TTL
def test_the_hourly_quota_holds_the_next_job_until_a_slot_of_the_hour_frees(ctx: Any, analyst: Any) -> None:
    # Redis is emptied before each test: only this test's starts count.
    started = usage(ctx.redis, tenant_id_of(ctx, analyst), datetime.now(UTC)).jobs_last_hour
    set_limits(ctx, analyst, jobs_per_hour=started + 1)
    done = job(ctx, analyst)
    run_worker(ctx, "realtime")
    assert record(ctx, done).status == "done"
    held = job(ctx, analyst)
    run_worker(ctx, "realtime")
    rec = record(ctx, held)
    assert rec.status == "waiting"
    n = started + 1
    assert rec.status_reason == f"tenant acme started {n} of {n} jobs allowed per hour"
    assert rec.not_before_at is not None  # when the oldest start of the hour leaves the window


def test_an_open_breaker_holds_jobs_using_its_source(ctx: Any, analyst: Any) -> None:
    for _ in range(breakers.THRESHOLD):
        breakers.record(ctx.redis, "source:warehouse", ok=False)
    job_id = job(ctx, analyst, admission={"resources": ["source:warehouse"]})
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "waiting"
    assert rec.status_reason.startswith("breaker open for source warehouse until ")
    # A job not using the source runs.
    other = job(ctx, analyst)
    run_worker(ctx, "realtime")
    assert record(ctx, other).status == "done"


def test_a_probe_through_a_half_open_breaker_closes_it_on_success(ctx: Any, analyst: Any) -> None:
    past = datetime.now(UTC) - breakers.COOLDOWN - timedelta(seconds=5)
    for _ in range(breakers.THRESHOLD):
        breakers.record(ctx.redis, "source:warehouse", ok=False, now=past)
    job_id = job(ctx, analyst, admission={"resources": ["source:warehouse"]})
    run_worker(ctx, "realtime")
    assert record(ctx, job_id).status == "done"
    assert breakers.load(ctx.redis, "source:warehouse").state == "closed"


def test_a_failing_job_counts_against_its_sources_breaker(ctx: Any, analyst: Any) -> None:
    job_id = job(
        ctx, analyst, "jobs.runtime.fail", admission={"resources": ["source:warehouse"]}, max_attempts=1
    )
    run_worker(ctx, "realtime")
    assert record(ctx, job_id).status == "failed"
    assert breakers.load(ctx.redis, "source:warehouse").failures == 1


def test_a_job_past_its_ttl_fails_instead_of_starting(ctx: Any, analyst: Any) -> None:
    set_limits(ctx, analyst, job_ttl_hours=1)
    job_id = job(ctx, analyst)
    with transaction(ctx.sessions) as s:
        old = datetime.now(UTC) - timedelta(hours=2)
        s.execute(update(JobRecord).where(JobRecord.id == job_id).values(created_at=old))
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "failed" and rec.attempts == 0
    assert rec.status_reason == "expired: waited more than 1 h to start (job TTL)"


# --------------------------------------------------------------------------- off-peak
def test_an_offpeak_only_job_is_deferred_to_its_window(ctx: Any, analyst: Any) -> None:
    now = datetime.now(UTC)
    opens = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    window = {"timezone": "UTC", "start": f"{opens:%H:%M}", "end": f"{closes:%H:%M}"}
    with transaction(ctx.sessions) as s:
        save_offpeak(
            s, as_principal(s, analyst).tenant_id, OffpeakConfigSpec.model_validate({"windows": [window]})
        )
    job_id = job(ctx, analyst, admission={"offpeak_only": True})
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "deferred"
    assert rec.status_reason == f"off-peak window opens {opens:%H:%M} UTC"
    at = rec.not_before_at if rec.not_before_at.tzinfo else rec.not_before_at.replace(tzinfo=UTC)
    assert at == opens
    # An admin's override runs it now.
    forced = job(ctx, analyst, admission={"offpeak_only": True, "override": True})
    run_worker(ctx, "realtime")
    assert record(ctx, forced).status == "done"


# --------------------------------------------------------------------------- measured
def test_cpu_seconds_and_memory_growth_are_recorded(ctx: Any, analyst: Any) -> None:
    job_id = job(ctx, analyst, "jobs.runtime.allocate", args=[80, 1.2])
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "done"
    assert rec.cpu_seconds is not None and rec.cpu_seconds > 0
    assert rec.peak_rss_mb is not None and rec.peak_rss_mb >= 60


def test_a_job_growing_past_the_memory_limit_is_stopped(ctx: Any, analyst: Any) -> None:
    set_limits(ctx, analyst, memory_mb=256)
    job_id = job(ctx, analyst, "jobs.runtime.allocate", args=[400, 5], max_attempts=1)
    started = time.monotonic()
    run_worker(ctx, "realtime")
    rec = record(ctx, job_id)
    assert rec.status == "failed"
    assert rec.last_error is not None and rec.last_error.startswith("MemoryLimitExceeded")
    assert time.monotonic() - started < 4.5  # stopped, not run to its end
