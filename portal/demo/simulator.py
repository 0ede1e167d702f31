"""The demo's live operations: a thread publishing ticket and queue figures on the real-time bus.

Every second, for each demo tenant that has the "Live operations" dashboard, tickets open
(a Poisson number, its rate drifting slowly) and close (more of them the longer the queues
are), and two messages go out through :func:`portal.realtime.bus.publish`:

* ``ops.tickets``: ``{"ts", "opened", "closed", "opened_per_min", "closed_per_min", "open"}``
  (this second's counts, the counts of the last 60 s, the tickets open now);
* ``ops.queues``: ``{"rows": [{"queue": "urgent", "size": 4}, ...]}`` (open tickets by priority).

The web server starts it (``conductor serve`` / ``conductor demo``) when the metadata database
holds demo data, unless ``CONDUCTOR_SIMULATOR=0``. Several web processes on one Redis
simulate once: a short Redis lease decides which one publishes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.demo.schema import TENANTS
from portal.demo.showcase import LIVE_DASHBOARD
from portal.models import Dashboard, Tenant
from portal.realtime import bus

log = logging.getLogger(__name__)

#: The queues are the tickets' priorities (the "Queue sizes" chart's categories).
QUEUES = ("urgent", "high", "normal", "low")
_WEIGHTS = np.array([0.1, 0.25, 0.45, 0.2])
_START = (4, 11, 23, 9)
LEASE_KEY = "conductor:rt:simulator-lease"


@dataclass
class TenantOps:
    """One tenant's simulated operations: queue sizes and the openings/closings of the last minute."""

    tenant_id: int
    scale: float = 1.0
    queues: dict[str, int] = field(default_factory=dict)
    opened: deque[tuple[float, int]] = field(default_factory=deque)
    closed: deque[tuple[float, int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        if not self.queues:
            self.queues = {q: max(1, round(n * self.scale)) for q, n in zip(QUEUES, _START, strict=True)}


class Simulator:
    """Publishes every ``interval`` seconds until stopped (a daemon thread)."""

    def __init__(
        self, redis: Redis, tenant_ids: list[int], *, interval: float = 1.0, seed: int | None = None
    ) -> None:
        self.redis, self.interval = redis, interval
        self.rng = np.random.default_rng(seed)
        self.tenants = [TenantOps(t, scale=1.0 + 0.5 * i) for i, t in enumerate(tenant_ids)]
        self.steps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner = f"{id(self)}-{time.time_ns()}"
        self._last_error = 0.0

    def step(self, now: float | None = None) -> None:
        """One second of operations for every tenant, published."""
        now = time.time() if now is None else now
        stamp = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for ops in self.tenants:
            # The opening rate drifts over a few minutes (0.2 to 1.0 tickets a second, times scale).
            rate = ops.scale * (0.6 + 0.4 * math.sin(now / 97.0 + ops.tenant_id))
            opened = int(self.rng.poisson(max(rate, 0.05)))
            for q in self.rng.choice(QUEUES, size=opened, p=_WEIGHTS):
                ops.queues[str(q)] += 1
            total = sum(ops.queues.values())
            closed = min(total, int(self.rng.poisson(total / 80.0)))
            for _ in range(closed):
                sizes = np.array([ops.queues[q] for q in QUEUES], dtype=float)
                q = str(self.rng.choice(QUEUES, p=sizes / sizes.sum()))
                ops.queues[q] -= 1
            for window, n in ((ops.opened, opened), (ops.closed, closed)):
                window.append((now, n))
                while window and window[0][0] <= now - 60:
                    window.popleft()
            bus.publish(
                self.redis,
                ops.tenant_id,
                "ops.tickets",
                {
                    "ts": stamp,
                    "opened": opened,
                    "closed": closed,
                    "opened_per_min": sum(n for _, n in ops.opened),
                    "closed_per_min": sum(n for _, n in ops.closed),
                    "open": sum(ops.queues.values()),
                },
            )
            bus.publish(
                self.redis,
                ops.tenant_id,
                "ops.queues",
                {"rows": [{"queue": q, "size": ops.queues[q]} for q in QUEUES]},
            )
        self.steps += 1

    def _holds_lease(self) -> bool:
        # One simulating process per Redis: the lease lasts three intervals and is renewed each step.
        ms = int(self.interval * 3000)
        if self.redis.set(LEASE_KEY, self._owner, nx=True, px=ms):
            return True
        if self.redis.get(LEASE_KEY) == self._owner.encode():
            self.redis.pexpire(LEASE_KEY, ms)
            return True
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if self._holds_lease():
                    self.step()
            except Exception as exc:
                if time.monotonic() - self._last_error > 60:  # Redis away: say so once a minute
                    self._last_error = time.monotonic()
                    log.warning("demo simulator could not publish: %s", exc)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> Simulator:
        """Start publishing (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="demo-simulator", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop publishing and give the lease up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            if self.redis.get(LEASE_KEY) == self._owner.encode():
                self.redis.delete(LEASE_KEY)
        except Exception:  # noqa: S110 - Redis already gone: the lease expires by itself
            pass


def live_tenant_ids(session: Session) -> list[int]:
    """The demo tenants that have the "Live operations" dashboard (none: no demo data here)."""
    name = LIVE_DASHBOARD[0]["name"]
    stmt = (
        select(Tenant.id)
        .join(Dashboard, Dashboard.tenant_id == Tenant.id)
        .where(
            Tenant.slug.in_([t.key for t in TENANTS]), Dashboard.name == name, Dashboard.deleted_at.is_(None)
        )
        .distinct()
        .order_by(Tenant.id)
    )
    return list(session.scalars(stmt))


def start_simulator(enabled: bool, sessions: sessionmaker[Session], redis: Redis) -> Simulator | None:
    """Start the simulator when ``enabled`` and the database holds demo data; None otherwise."""
    if not enabled:
        return None
    try:
        with sessions() as session:
            tenants = live_tenant_ids(session)
    except Exception:
        log.warning("demo simulator not started: the demo tenants could not be read", exc_info=True)
        return None
    if not tenants:
        return None
    log.info("demo simulator: publishing live operations for %d tenant(s) every second", len(tenants))
    return Simulator(redis, tenants).start()
