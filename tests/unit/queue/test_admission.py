"""Admission decisions and the circuit breaker, with fixed clocks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.queue.admission import Limits, Quota, Snapshot, Usage, decide, is_heavy
from portal.queue.breaker import Breaker, BreakerState
from portal.specs.jobs import JobClass, MaintenanceDay, OffpeakWindow, Priority

SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=SP)  # Monday afternoon, outside the window
NIGHT = OffpeakWindow(timezone="America/Sao_Paulo", start="00:00", end="06:00")


def snap(**kw) -> Snapshot:
    base = Snapshot(
        job_class=JobClass.REPORT_EXECUTE, tenant="acme", priority=Priority.NORMAL, now=NOW, windows=(NIGHT,)
    )
    return replace(base, **kw)


def test_light_work_runs_now():
    d = decide(snap())
    assert (d.action, d.reason, d.not_before) == ("run", "runs now", None)


@pytest.mark.parametrize(
    "kw", [{"offpeak_only": True}, {"heavy": True}, {"job_class": JobClass.DATASET_PRECOMPUTE}]
)
def test_offpeak_bound_work_is_deferred_to_the_window(kw):
    d = decide(snap(**kw))
    assert d.action == "defer"
    assert d.reason == "off-peak window opens 00:00 America/Sao_Paulo"
    assert d.not_before == datetime(2026, 5, 5, 0, 0, tzinfo=SP)


def test_offpeak_work_runs_inside_the_window_and_an_admin_override_runs_it_now():
    assert decide(snap(offpeak_only=True, now=datetime(2026, 5, 5, 1, 0, tzinfo=SP))).action == "run"
    assert decide(snap(offpeak_only=True, override=True)).action == "run"


def test_maintenance_defers_every_job_but_an_override():
    m = (MaintenanceDay(day=date(2026, 5, 4), timezone="America/Sao_Paulo", reason="upgrade"),)
    d = decide(snap(maintenance=m))
    assert d.action == "defer" and d.not_before == datetime(2026, 5, 5, 0, 0, tzinfo=SP)
    assert d.reason.startswith("maintenance on 2026-05-04 (upgrade) ends")
    assert decide(snap(maintenance=m, override=True)).action == "run"


def test_tenant_and_class_limits_hold_with_a_reason():
    limits = Limits(per_tenant=2, per_class={JobClass.REPORT_EXECUTE: 4})
    d = decide(snap(limits=limits, running_by_tenant={"acme": 2}))
    assert (d.action, d.reason) == ("wait", "tenant acme runs 2 of 2 allowed")
    d = decide(snap(limits=limits, running_by_tenant={"acme": 1}, running_by_class={"report_execute": 4}))
    assert (d.action, d.reason) == ("wait", "report_execute runs 4 of 4 allowed")
    other = decide(snap(limits=limits, tenant="globex", running_by_tenant={"acme": 2}))
    assert other.action == "run"  # a noisy neighbour does not hold others
    over = Limits(per_tenant=2, tenant_overrides={"acme": 5})
    assert decide(snap(limits=over, running_by_tenant={"acme": 4})).action == "run"


def test_critical_jumps_the_limits_up_to_its_cap():
    limits = Limits(per_tenant=2, critical_cap=1)
    full = {"acme": 2}
    d = decide(snap(limits=limits, running_by_tenant=full, priority=Priority.CRITICAL))
    assert d.action == "run" and d.over_limit
    assert "critical" in d.reason and "1 of 1 critical" in d.reason
    d = decide(
        snap(
            limits=limits,
            running_by_tenant=full,
            priority=Priority.CRITICAL,
            critical_running_by_tenant={"acme": 1},
        )
    )
    assert (d.action, d.reason) == ("wait", "tenant acme runs 2 of 2 allowed")
    assert decide(snap(limits=limits, running_by_tenant=full, priority=Priority.HIGH)).action == "wait"


def test_quotas():
    q = Limits(quota=Quota(jobs_per_hour=100, cpu_seconds_per_day=3600))
    oldest = datetime(2026, 5, 4, 14, 20, tzinfo=SP)
    d = decide(snap(limits=q, usage=Usage(jobs_last_hour=100, oldest_start_in_hour=oldest)))
    assert (d.action, d.reason) == ("wait", "tenant acme started 100 of 100 jobs allowed per hour")
    assert d.not_before == oldest + timedelta(hours=1)
    d = decide(snap(limits=q, usage=Usage(cpu_seconds_today=3600.5)))
    assert d.action == "wait"
    assert d.reason == "tenant acme used 3600.5 of 3600 CPU-seconds allowed today (UTC)"
    assert d.not_before == datetime(2026, 5, 5, tzinfo=UTC)
    per_tenant = Limits(quota=Quota(jobs_per_hour=1), tenant_quotas={"acme": Quota()})
    assert decide(snap(limits=per_tenant, usage=Usage(jobs_last_hour=50))).action == "run"


def test_open_breaker_holds_until_its_cooldown_then_lets_a_probe_through():
    opened = datetime(2026, 5, 4, 13, 31, tzinfo=UTC)
    b = Breaker(threshold=3, cooldown=timedelta(minutes=1))
    for _ in range(3):
        b = b.record_failure(opened)
    assert b.state is BreakerState.OPEN
    s = snap(
        breakers={"source:warehouse": b},
        resources=("source:warehouse",),
        display_timezone="America/Sao_Paulo",
    )
    d = decide(replace(s, now=datetime(2026, 5, 4, 10, 31, 30, tzinfo=SP)))
    assert (d.action, d.reason) == ("wait", "breaker open for source warehouse until 10:32 America/Sao_Paulo")
    assert d.not_before == opened + timedelta(minutes=1)
    probe = decide(replace(s, now=datetime(2026, 5, 4, 10, 32, tzinfo=SP)))
    assert probe.action == "run" and probe.probes == ("source:warehouse",)
    assert "probe of source warehouse" in probe.reason
    # A breaker the job does not use does not hold it.
    assert (
        decide(replace(s, resources=("destination:smtp",), now=d.not_before - timedelta(seconds=1))).action
        == "run"
    )


def test_checks_come_in_order_time_then_breaker_then_quota_then_limits():
    b = Breaker(threshold=1).record_failure(NOW)
    everything = snap(
        offpeak_only=True,
        breakers={"source:warehouse": b},
        resources=("source:warehouse",),
        limits=Limits(per_tenant=0, quota=Quota(jobs_per_hour=0)),
    )
    assert decide(everything).action == "defer"
    assert decide(replace(everything, offpeak_only=False)).reason.startswith("breaker open")
    assert decide(replace(everything, offpeak_only=False, breakers={})).reason.startswith(
        "tenant acme started"
    )
    no_quota = replace(everything, offpeak_only=False, breakers={}, limits=Limits(per_tenant=0))
    assert decide(no_quota).reason == "tenant acme runs 0 of 0 allowed"


def test_is_heavy():
    assert is_heavy(1_000_000, 500_000) and is_heavy(500_000, 500_000)
    assert not is_heavy(10, 500_000) and not is_heavy(None, 10) and not is_heavy(10**9, None)


@given(
    st.integers(0, 5), st.integers(0, 5), st.integers(0, 3), st.integers(0, 3),
    st.sampled_from(list(Priority)), st.booleans(),
)  # fmt: skip
def test_a_run_never_exceeds_the_limits_except_critical_within_its_cap(
    limit, running, cap, crit, prio, heavy
):
    d = decide(
        snap(
            limits=Limits(per_tenant=limit, critical_cap=cap),
            running_by_tenant={"acme": running},
            critical_running_by_tenant={"acme": crit},
            priority=prio,
            heavy=heavy,
            now=datetime(2026, 5, 5, 1, 0, tzinfo=SP),  # inside the window
        )
    )
    assert d.action in ("run", "wait")
    if d.action == "run":
        assert running < limit or (prio is Priority.CRITICAL and crit < cap and d.over_limit)
    else:
        assert running >= limit and d.not_before is None


# --------------------------------------------------------------------------- breaker
T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_breaker_opens_after_n_consecutive_failures_only():
    b = Breaker(threshold=3, cooldown=timedelta(seconds=30))
    b = b.record_failure(T0).record_failure(T0)
    assert b.state is BreakerState.CLOSED and b.allow(T0)
    b = b.record_success().record_failure(T0).record_failure(T0)  # success resets the count
    assert b.state is BreakerState.CLOSED
    b = b.record_failure(T0)
    assert b.state is BreakerState.OPEN and not b.allow(T0 + timedelta(seconds=29))
    assert b.retry_at == T0 + timedelta(seconds=30)


def test_half_open_probe_closes_on_success_and_reopens_on_failure():
    b = Breaker(threshold=1, cooldown=timedelta(seconds=30)).record_failure(T0)
    later = T0 + timedelta(seconds=30)
    assert b.allow(later)
    probing = b.begin_probe(later)
    assert probing.state is BreakerState.HALF_OPEN
    assert not probing.allow(later + timedelta(seconds=1))  # one probe at a time
    assert probing.record_success().state is BreakerState.CLOSED
    again = probing.record_failure(later + timedelta(seconds=5))
    assert again.state is BreakerState.OPEN and again.retry_at == later + timedelta(seconds=35)
    # A probe that never reports (its worker died) does not hold the breaker forever.
    assert probing.allow(later + timedelta(seconds=30))


def test_breaker_is_immutable_and_checks_its_settings():
    b = Breaker()
    b.record_failure(T0)
    assert b.failures == 0
    assert b.begin_probe(T0) is b  # closed: nothing to probe
    with pytest.raises(ValueError):
        Breaker(threshold=0)
    with pytest.raises(ValueError):
        Breaker(cooldown=timedelta(0))
