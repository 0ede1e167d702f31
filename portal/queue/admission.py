"""Admission: before a job runs, decide run now, wait, or defer, and say why in words.

``wait`` = held by something that frees up by itself (a concurrency limit, a quota, an
open breaker); the job is admitted again when a slot frees or at ``not_before`` if known.
``defer`` = held until a time (off-peak window, maintenance day): enqueue it at ``not_before``.
The caller reads the counts and states into a :class:`Snapshot`; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from portal.queue.breaker import Breaker, BreakerState
from portal.queue.offpeak import plan_start
from portal.specs.jobs import (
    JobClass,
    MaintenanceDay,
    OffpeakWindow,
    Priority,
    UserWindowPreference,
)


@dataclass(frozen=True)
class Quota:
    """A tenant's quotas; None = unlimited."""

    jobs_per_hour: int | None = None
    cpu_seconds_per_day: float | None = None


@dataclass(frozen=True)
class Limits:
    """Concurrency limits and quotas; a class or tenant missing from a mapping takes the default."""

    per_class: Mapping[str, int] = field(default_factory=dict)  #: running jobs per class, all tenants
    per_tenant: int | None = None  #: running jobs per tenant (default)
    tenant_overrides: Mapping[str, int] = field(default_factory=dict)
    #: critical jobs of one tenant that may run beyond the limits at once ("jump the queue")
    critical_cap: int = 1
    quota: Quota = Quota()
    tenant_quotas: Mapping[str, Quota] = field(default_factory=dict)

    def tenant_limit(self, tenant: str) -> int | None:
        """The running-jobs limit of ``tenant``."""
        return self.tenant_overrides.get(tenant, self.per_tenant)

    def quota_for(self, tenant: str) -> Quota:
        """The quotas of ``tenant``."""
        return self.tenant_quotas.get(tenant, self.quota)


@dataclass(frozen=True)
class Usage:
    """What the job's tenant used: jobs started in the last hour, CPU-seconds this UTC day."""

    jobs_last_hour: int = 0
    #: start of the oldest of those jobs: one hour later a slot frees (None = unknown)
    oldest_start_in_hour: datetime | None = None
    cpu_seconds_today: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """Everything admission looks at, read by the caller at one moment."""

    job_class: JobClass
    tenant: str
    priority: Priority
    now: datetime
    heavy: bool = False  #: the query estimate is above the heavy threshold (see :func:`is_heavy`)
    offpeak_only: bool = False
    override: bool = False  #: an admin's "run now": skips off-peak and maintenance, not limits
    running_by_class: Mapping[str, int] = field(default_factory=dict)
    running_by_tenant: Mapping[str, int] = field(default_factory=dict)
    critical_running_by_tenant: Mapping[str, int] = field(default_factory=dict)
    limits: Limits = Limits()
    usage: Usage = Usage()
    #: breakers by key ``"source:warehouse"``, ``"destination:smtp"``...
    breakers: Mapping[str, Breaker] = field(default_factory=dict)
    resources: tuple[str, ...] = ()  #: the breaker keys this job uses
    windows: tuple[OffpeakWindow, ...] = ()
    maintenance: tuple[MaintenanceDay, ...] = ()
    preference: UserWindowPreference | None = None
    display_timezone: str = "UTC"  #: zone of the times written in reasons


@dataclass(frozen=True)
class Decision:
    """What to do with the job now, and the reason shown in the job monitor."""

    action: Literal["run", "wait", "defer"]
    reason: str
    not_before: datetime | None = None
    #: breaker keys this run probes: the caller stores ``Breaker.begin_probe`` for each
    probes: tuple[str, ...] = ()
    #: a critical job running beyond a concurrency limit (counts against ``critical_cap``)
    over_limit: bool = False


def is_heavy(estimated_rows: int | None, threshold: int | None) -> bool:
    """True when a run's estimated row count reaches the heavy threshold (no estimate: light)."""
    return estimated_rows is not None and threshold is not None and estimated_rows >= threshold


def offpeak_bound(snap: Snapshot) -> bool:
    """True for work that must start inside an off-peak window: marked off-peak, heavy, or a
    pre-aggregation refresh (those exist to move load off-peak)."""
    return snap.offpeak_only or snap.heavy or snap.job_class is JobClass.DATASET_PRECOMPUTE


def decide(snap: Snapshot) -> Decision:
    """Run, wait or defer ``snap``'s job, checking in this order (the first hold is reported):

    1. time: off-peak-bound work outside its windows, or any work on a maintenance day, is
       deferred to the next allowed start (an admin override skips this);
    2. breakers of the sources and destinations it uses;
    3. the tenant's quotas (jobs per hour, CPU-seconds per UTC day);
    4. concurrency per class and per tenant; a critical job may run beyond them while fewer
       than ``critical_cap`` critical jobs of its tenant run.
    """
    now = snap.now.astimezone(UTC)
    if not snap.override:
        bound = offpeak_bound(snap)
        plan = plan_start(
            now,
            snap.windows if bound else (),
            snap.maintenance,
            snap.preference if bound else None,
        )
        if plan.at != now:
            return Decision("defer", plan.reason, plan.at)
    held = _breakers(snap, now)
    if held is not None:
        return held
    held = _quotas(snap, now)
    if held is not None:
        return held
    probes = tuple(k for k in snap.resources if _probing(snap.breakers.get(k)))
    return _concurrency(snap, probes)


def _label(key: str) -> str:
    kind, sep, name = key.partition(":")
    return f"{kind} {name}" if sep else key


def _clock(moment: datetime, zone_name: str, now: datetime) -> str:
    local = moment.astimezone(ZoneInfo(zone_name))
    day = "" if moment - now < timedelta(days=1) else f"{local:%Y-%m-%d} "
    return f"{day}{local:%H:%M} {zone_name}"


def _probing(breaker: Breaker | None) -> bool:
    return breaker is not None and breaker.state is not BreakerState.CLOSED


def _breakers(snap: Snapshot, now: datetime) -> Decision | None:
    shut = [(b.retry_at, k) for k in snap.resources if (b := snap.breakers.get(k)) and not b.allow(now)]
    if not shut:
        return None
    # Wait for the one that reopens last: running before then would hit a known-bad target.
    until, key = max((at or now, k) for at, k in shut)
    when = _clock(until, snap.display_timezone, now)
    return Decision("wait", f"breaker open for {_label(key)} until {when}", until)


def _quotas(snap: Snapshot, now: datetime) -> Decision | None:
    quota, used, tenant = snap.limits.quota_for(snap.tenant), snap.usage, snap.tenant
    if quota.jobs_per_hour is not None and used.jobs_last_hour >= quota.jobs_per_hour:
        free = used.oldest_start_in_hour + timedelta(hours=1) if used.oldest_start_in_hour else None
        n = quota.jobs_per_hour
        why = f"tenant {tenant} started {used.jobs_last_hour} of {n} jobs allowed per hour"
        return Decision("wait", why, free)
    cap = quota.cpu_seconds_per_day
    if cap is not None and used.cpu_seconds_today >= cap:
        midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
        why = f"tenant {tenant} used {used.cpu_seconds_today:g} of {cap:g} CPU-seconds allowed today (UTC)"
        return Decision("wait", why, midnight)
    return None


def _concurrency(snap: Snapshot, probes: tuple[str, ...]) -> Decision:
    limits, tenant, cls = snap.limits, snap.tenant, snap.job_class
    held: str | None = None
    class_limit = limits.per_class.get(cls)
    class_running = snap.running_by_class.get(cls, 0)
    tenant_limit = limits.tenant_limit(tenant)
    tenant_running = snap.running_by_tenant.get(tenant, 0)
    if tenant_limit is not None and tenant_running >= tenant_limit:
        held = f"tenant {tenant} runs {tenant_running} of {tenant_limit} allowed"
    elif class_limit is not None and class_running >= class_limit:
        held = f"{cls.value} runs {class_running} of {class_limit} allowed"
    probe = f" as a probe of {', '.join(map(_label, probes))}" if probes else ""
    if held is None:
        return Decision("run", f"runs now{probe}", probes=probes)
    critical = snap.critical_running_by_tenant.get(tenant, 0)
    if snap.priority is Priority.CRITICAL and critical < limits.critical_cap:
        why = f"critical: runs beyond the limit ({held}; {critical + 1} of {limits.critical_cap} critical)"
        return Decision("run", why + probe, probes=probes, over_limit=True)
    return Decision("wait", held)
