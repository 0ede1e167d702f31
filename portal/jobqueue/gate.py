"""Admission at run time: read the snapshot, let :func:`portal.queue.admission.decide` decide,
and hold the slots of an admitted job in Redis while it runs.

Concurrency slots are Redis sorted sets (``cbi:slots:class:<class>``, ``cbi:slots:tenant:<id>``,
``cbi:slots:critical:<id>``) whose members are job ids scored by the end of their lease. A
running job renews its lease (:class:`Lease`, a heartbeat thread); a worker killed with -9 stops
renewing, and its slots count no more once the lease ran out (:data:`LEASE_S`). Taking the
slots is one Lua script that drops expired members, checks every limit and adds the job to
all sets, so two workers admitting at the same moment cannot both take the last slot.

The heartbeat also measures what the job costs: CPU-seconds of the worker thread
(``getrusage(RUSAGE_THREAD)``, the whole job runs in the worker's main thread) and the peak
RSS growth of the worker process while the job runs. A job whose growth passes its tenant's
``memory_mb`` is stopped (its warehouse queries are interrupted and :class:`MemoryLimitExceeded`
is raised in the job's thread).
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import PortalError
from portal.jobqueue import breakers
from portal.jobstore.settings import effective_limits, effective_offpeak
from portal.models import JobRecord, Tenant, utcnow
from portal.queue.admission import Decision, Limits, Quota, Snapshot, Usage, decide
from portal.specs.jobs import JobClass, OffpeakConfigSpec, Priority, QueueLimitsSpec, UserWindowPreference

log = logging.getLogger(__name__)

#: Seconds a slot stays taken without a heartbeat (a dead worker's slots free up after this,
#: and the reconciliation sees its job as lost). ``CONDUCTOR_JOB_LEASE_SECONDS`` overrides it.
LEASE_S = max(2.0, float(os.environ.get("CONDUCTOR_JOB_LEASE_SECONDS", "30")))
#: Seconds between heartbeats (lease renewal, RSS sample).
HEARTBEAT_S = 0.5
RENEW_EVERY = max(1, int(LEASE_S / 6 / HEARTBEAT_S))  # heartbeats between renewals (5 s by default)
PREFIX = "cbi:slots:"


class MemoryLimitExceeded(PortalError):
    """A job grew the worker past its tenant's memory limit and was stopped (a 507-like failure)."""

    status = 413

    def __init__(self, message: str = "", *, field: str | None = "memory_mb") -> None:
        # Raised by class from the heartbeat thread (no arguments can travel with it).
        super().__init__(
            message or "the job grew its worker past the tenant's memory limit (memory_mb)", field=field
        )


def slot_key(kind: str, name: str | int) -> str:
    """``cbi:slots:tenant:7``: the sorted set of jobs holding a ``kind`` slot of ``name``."""
    return f"{PREFIX}{kind}:{name}"


# KEYS: slot sets; ARGV: now_ms, lease_end_ms, member, then one limit per key (-1 = none).
# Returns 0 when taken, else the 1-based index of the first full set.
_ACQUIRE = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local limit = tonumber(ARGV[3 + i])
  if limit >= 0 and redis.call('ZSCORE', key, ARGV[3]) == false then
    if redis.call('ZCARD', key) >= limit then return i end
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('PEXPIRE', key, math.max(1, tonumber(ARGV[2]) - now) * 4)
end
return 0
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def running(redis: Redis, keys: list[str], now: datetime) -> dict[str, int]:
    """Live members of each slot set at ``now`` (expired leases not counted)."""
    with redis.pipeline(transaction=False) as pipe:
        for k in keys:
            pipe.zcount(k, f"({_ms(now)}", "+inf")
        counts = pipe.execute()
    return {k: int(c) for k, c in zip(keys, counts, strict=True)}


def _limits(spec: QueueLimitsSpec, tenant: str) -> Limits:
    quota = Quota(jobs_per_hour=spec.jobs_per_hour, cpu_seconds_per_day=spec.cpu_seconds_per_day)
    return Limits(
        per_class={str(k): v for k, v in spec.per_class.items()},
        per_tenant=spec.max_running,
        critical_cap=spec.critical_cap if spec.critical_cap is not None else 1,
        quota=quota,
        tenant_quotas={tenant: quota},
    )


def _starts_key(tenant_id: int | None) -> str:
    return f"cbi:starts:{tenant_id or 0}"


def _cpu_key(tenant_id: int | None, now: datetime) -> str:
    return f"cbi:cpu:{tenant_id or 0}:{now.astimezone(UTC):%Y%m%d}"


def usage(redis: Redis, tenant_id: int | None, now: datetime) -> Usage:
    """Jobs the tenant started in the hour before ``now`` and its CPU-seconds this UTC day.

    Counted in Redis (a sorted set of starts, a float per day) by :func:`count_start` and
    :func:`count_cpu`: admission reads them in one round trip. ``job_queue`` keeps each job's own
    CPU-seconds for the monitor; a Redis that lost its data forgets the counts, not the jobs.
    """
    key = _starts_key(tenant_id)
    hour_ago = _ms(now - timedelta(hours=1))
    with redis.pipeline(transaction=False) as pipe:
        pipe.zremrangebyscore(key, "-inf", hour_ago)
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.get(_cpu_key(tenant_id, now))
        _, count, oldest, cpu = pipe.execute()
    first = datetime.fromtimestamp(oldest[0][1] / 1000, UTC) if oldest else None
    return Usage(jobs_last_hour=int(count), oldest_start_in_hour=first, cpu_seconds_today=float(cpu or 0))


def count_start(redis: Redis, record: JobRecord, now: datetime) -> None:
    """Count a start of ``record`` against its tenant's hourly quota."""
    key = _starts_key(record.tenant_id)
    with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(key, {f"{record.id}:{record.attempts}:{_ms(now)}": _ms(now)})
        pipe.expire(key, 7200)
        pipe.execute()


def count_cpu(redis: Redis, tenant_id: int | None, seconds: float, now: datetime | None = None) -> None:
    """Add a run's CPU-seconds to its tenant's count for the UTC day."""
    if seconds <= 0:
        return
    key = _cpu_key(tenant_id, now or utcnow())
    with redis.pipeline(transaction=False) as pipe:
        pipe.incrbyfloat(key, round(seconds, 4))
        pipe.expire(key, 2 * 86400)
        pipe.execute()


#: Seconds a process keeps a tenant's limits, windows and name before reading them again:
#: admission runs for every job, and these change a few times a year.
SETTINGS_TTL_S = 5.0
_settings_cache: dict[tuple[str, int | None], tuple[float, Any]] = {}
_settings_lock = threading.Lock()


def _cached(kind: str, tenant_id: int | None, load: Callable[[], Any]) -> Any:
    now = time.monotonic()
    with _settings_lock:
        hit = _settings_cache.get((kind, tenant_id))
        if hit is not None and now - hit[0] < SETTINGS_TTL_S:
            return hit[1]
    value = load()
    with _settings_lock:
        _settings_cache[(kind, tenant_id)] = (now, value)
    return value


def forget_settings() -> None:
    """Read limits and windows from the database again on the next admission (after a change)."""
    with _settings_lock:
        _settings_cache.clear()


def preference_of(record: JobRecord) -> UserWindowPreference | None:
    """The flexible window a job was submitted with (``admission_json["window"]``), if any."""
    raw = (record.admission_json or {}).get("window")
    return UserWindowPreference.model_validate(raw) if raw else None


def snapshot(
    session: Session,
    redis: Redis,
    record: JobRecord,
    now: datetime,
    *,
    limits: QueueLimitsSpec | None = None,
    offpeak: OffpeakConfigSpec | None = None,
) -> Snapshot:
    """Everything :func:`~portal.queue.admission.decide` needs about ``record`` at ``now``."""
    adm: Mapping[str, Any] = record.admission_json or {}
    tenant = _cached("tenant", record.tenant_id, lambda: _tenant_label(session, record.tenant_id))
    spec = limits or _cached("limits", record.tenant_id, lambda: effective_limits(session, record.tenant_id))
    config = offpeak or _cached(
        "offpeak", record.tenant_id, lambda: effective_offpeak(session, record.tenant_id)
    )
    cls = JobClass(record.job_class)
    keys = [slot_key("class", cls.value), slot_key("tenant", record.tenant_id or 0)]
    crit = slot_key("critical", record.tenant_id or 0)
    counts = running(redis, [*keys, crit], now)
    resources = tuple(str(r) for r in adm.get("resources", ()))
    zone = config.windows[0].timezone if config.windows else "UTC"
    return Snapshot(
        job_class=cls,
        tenant=tenant,
        priority=Priority(record.priority),
        now=now,
        heavy=bool(adm.get("heavy")),
        offpeak_only=bool(adm.get("offpeak_only")),
        override=bool(adm.get("override")),
        running_by_class={cls.value: counts[keys[0]]},
        running_by_tenant={tenant: counts[keys[1]]},
        critical_running_by_tenant={tenant: counts[crit]},
        limits=_limits(spec, tenant),
        usage=usage(redis, record.tenant_id, now),
        breakers=breakers.load_many(redis, resources),
        resources=resources,
        windows=tuple(config.windows),
        maintenance=tuple(d for cal in config.maintenance for d in cal.days),
        preference=preference_of(record),
        display_timezone=zone,
    )


def _tenant_label(session: Session, tenant_id: int | None) -> str:
    if tenant_id is None:
        return "system"
    slug = session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    return str(slug or tenant_id)


def expired(record: JobRecord, spec: QueueLimitsSpec, now: datetime) -> str | None:
    """Why ``record`` may no longer start (it waited past the job TTL), or None."""
    if spec.job_ttl_hours is None:
        return None
    created = record.created_at if record.created_at.tzinfo else record.created_at.replace(tzinfo=UTC)
    # A deferred job's wait was planned: the TTL counts from the time it was allowed to start.
    since = record.not_before_at or created
    since = since if since.tzinfo else since.replace(tzinfo=UTC)
    if now - max(created, since) > timedelta(hours=spec.job_ttl_hours):
        return f"expired: waited more than {spec.job_ttl_hours} h to start (job TTL)"
    return None


@dataclass
class Admission:
    """The outcome of :func:`admit`: a decision, and the slots taken when it is ``run``."""

    decision: Decision
    keys: list[str] = field(default_factory=list)
    member: str = ""
    memory_mb: int | None = None
    expired: str | None = None


def admit(session: Session, redis: Redis, record: JobRecord, now: datetime | None = None) -> Admission:
    """Decide for ``record`` and, when it may run, take its slots (atomically, with a lease).

    A job admitted beyond the limits as ``critical`` takes a critical slot as well, so at most
    ``critical_cap`` critical jobs of a tenant run beyond them. If another worker took the last
    slot between the read and the script, the answer is ``wait`` with the limit's reason.
    """
    when = now or utcnow()
    spec = _cached("limits", record.tenant_id, lambda: effective_limits(session, record.tenant_id))
    stale = expired(record, spec, when)
    if stale is not None:
        return Admission(Decision("wait", stale), expired=stale)
    snap = snapshot(session, redis, record, when, limits=spec)
    decision = decide(snap)
    if decision.action != "run":
        return Admission(decision)
    cls_key = slot_key("class", record.job_class)
    ten_key = slot_key("tenant", record.tenant_id or 0)
    crit_key = slot_key("critical", record.tenant_id or 0)
    class_limit = snap.limits.per_class.get(record.job_class)
    tenant_limit = snap.limits.tenant_limit(snap.tenant)
    if decision.over_limit:
        keys, limits = [cls_key, ten_key, crit_key], [-1, -1, snap.limits.critical_cap]
    else:
        keys = [cls_key, ten_key]
        limits = [-1 if class_limit is None else class_limit, -1 if tenant_limit is None else tenant_limit]
    member = str(record.id)
    lease_end = when + timedelta(seconds=LEASE_S)
    full = int(redis.eval(_ACQUIRE, len(keys), *keys, _ms(when), _ms(lease_end), member, *limits))
    if full:
        # Lost the race for the last slot: decide again with the counts as they are now.
        again = decide(snapshot(session, redis, record, utcnow(), limits=spec))
        reason = again.reason if again.action != "run" else "a slot was taken a moment ago; trying again"
        return Admission(Decision("wait", reason))
    for probe in decision.probes:
        breakers.begin_probe(redis, probe, when)
    count_start(redis, record, when)
    return Admission(decision, keys=keys, member=member, memory_mb=spec.memory_mb)


def alive(redis: Redis, record: JobRecord, now: datetime | None = None) -> bool:
    """True while a worker holds ``record``'s lease (it runs the job and renews its slots)."""
    score = redis.zscore(slot_key("class", record.job_class), str(record.id))
    return score is not None and float(score) > _ms(now or utcnow())


def release(redis: Redis, admission: Admission) -> None:
    """Give the admitted job's slots back (at the end of its run, whatever the outcome)."""
    if not admission.keys:
        return
    with redis.pipeline(transaction=False) as pipe:
        for k in admission.keys:
            pipe.zrem(k, admission.member)
        pipe.execute()


def renew(redis: Redis, admission: Admission, now: datetime | None = None) -> None:
    """Push the lease of the admitted job's slots forward by :data:`LEASE_S`."""
    if not admission.keys:
        return
    end = _ms((now or utcnow()) + timedelta(seconds=LEASE_S))
    with redis.pipeline(transaction=False) as pipe:
        for k in admission.keys:
            pipe.zadd(k, {admission.member: end}, xx=True)
        pipe.execute()


def _raise_in(thread_id: int, exc: type[BaseException]) -> None:
    # Raised at the thread's next bytecode: stops Python work; a query in C is interrupted apart.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc))


class _Monitor:
    """One heartbeat thread per process for every running lease (a thread per job cost a start
    and a join per job, ~2 ms)."""

    def __init__(self) -> None:
        self._leases: set[Lease] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases.add(lease)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, lease: Lease) -> None:
        with self._lock:
            self._leases.discard(lease)

    def _run(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self._lock:
                leases = list(self._leases)
            for lease in leases:
                lease.beat()


_MONITOR = _Monitor()


class Lease:
    """While a job runs: renew its slots, sample RSS, measure CPU, enforce the memory limit.

    ``with Lease(redis, admission, on_limit) as lease: ...`` then ``lease.cpu_seconds`` and
    ``lease.peak_rss_mb`` (growth over the RSS at start). ``on_limit`` runs in the heartbeat
    thread when the limit is passed (e.g. interrupt the warehouse's queries).
    """

    def __init__(
        self, redis: Redis, admission: Admission, on_limit: Callable[[], object] | None = None
    ) -> None:
        self.redis = redis
        self.admission = admission
        self.on_limit = on_limit
        self.cpu_seconds = 0.0
        self.peak_rss_mb = 0.0
        self.stopped_for_memory = False
        #: Whether the caller stored the usage with the job's outcome already.
        self.recorded = False
        self._lock = threading.Lock()
        self._done = False
        self._beats = 0
        self._proc = psutil.Process()
        self._thread_id = threading.get_ident()
        self._base_rss = 0
        self._cpu0 = 0.0

    def _cpu(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime + usage.ru_stime

    def cpu_now(self) -> float:
        """CPU-seconds of the job so far (call it from the job's own thread)."""
        return max(0.0, self._cpu() - self._cpu0)

    def __enter__(self) -> Lease:
        self._base_rss = self._proc.memory_info().rss
        self._cpu0 = self._cpu()
        _MONITOR.add(self)
        return self

    def beat(self) -> None:
        """One heartbeat (the monitor thread): RSS sample, memory limit, lease renewal."""
        with self._lock:
            if self._done:
                return
            self._beats += 1
            limit = self.admission.memory_mb
            try:
                grown = max(0, self._proc.memory_info().rss - self._base_rss) / 2**20
                self.peak_rss_mb = max(self.peak_rss_mb, grown)
                if limit is not None and grown > limit and not self.stopped_for_memory:
                    self.stopped_for_memory = True
                    log.warning(
                        "job %s grew the worker by %.0f MB (limit %d): stopping it",
                        self.admission.member,
                        grown,
                        limit,
                    )
                    if self.on_limit is not None:
                        self.on_limit()
                    _raise_in(self._thread_id, MemoryLimitExceeded)
                if self._beats % RENEW_EVERY == 0:
                    renew(self.redis, self.admission)
            except Exception:  # Redis away for a moment: the lease is long enough to try again
                log.exception("job heartbeat failed")

    def __exit__(self, *exc: object) -> None:
        _MONITOR.discard(self)
        with self._lock:  # a beat in progress ends first; none starts after this
            self._done = True
        self.cpu_seconds = max(0.0, self._cpu() - self._cpu0)
        try:
            grown = max(0, self._proc.memory_info().rss - self._base_rss) / 2**20
            self.peak_rss_mb = max(self.peak_rss_mb, grown)
        except psutil.Error:
            pass
