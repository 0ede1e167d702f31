"""A circuit breaker per data source or delivery destination, as an immutable value.

``closed`` lets everything through and counts consecutive failures; ``threshold`` of them
open it. ``open`` refuses work until ``cooldown`` has passed, then lets one probe through
(``half_open``); the probe's success closes it, its failure opens it again for another
cooldown. The store (Redis) keeps the value; every change returns a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    """closed: work flows; open: work waits; half_open: one probe is in flight."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Breaker:
    """The breaker of one source or destination. Times are aware datetimes."""

    threshold: int = 5
    cooldown: timedelta = timedelta(minutes=1)
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  #: consecutive failures since the last success
    since: datetime | None = None  #: when it opened, or when its probe started

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("threshold must be at least 1")
        if self.cooldown <= timedelta(0):
            raise ValueError("cooldown must be positive")

    @property
    def retry_at(self) -> datetime | None:
        """When work may be tried again (a probe), or None while closed."""
        if self.state is BreakerState.CLOSED or self.since is None:
            return None
        # A half-open breaker whose probe never reported (its worker died) may probe again
        # after another cooldown, so a lost probe cannot hold the breaker forever.
        return self.since + self.cooldown

    def allow(self, now: datetime) -> bool:
        """True if work may run at ``now``: always when closed, else once the cooldown passed.

        When it returns True for a breaker that is not closed, the run is a probe: call
        :meth:`begin_probe` and store the result, so other work keeps waiting meanwhile.
        """
        retry = self.retry_at
        return retry is None or now >= retry

    def begin_probe(self, now: datetime) -> Breaker:
        """The breaker with a probe in flight from ``now`` (unchanged if closed or not yet allowed)."""
        if self.state is BreakerState.CLOSED or not self.allow(now):
            return self
        return replace(self, state=BreakerState.HALF_OPEN, since=now)

    def record_success(self) -> Breaker:
        """A run succeeded: closed, failure count reset."""
        return replace(self, state=BreakerState.CLOSED, failures=0, since=None)

    def record_failure(self, now: datetime) -> Breaker:
        """A run failed at ``now``: count it; open at ``threshold`` failures or if probing."""
        failures = self.failures + 1
        if self.state is not BreakerState.CLOSED or failures >= self.threshold:
            # Failing while open (work admitted before it opened) restarts the cooldown too.
            return replace(self, state=BreakerState.OPEN, failures=failures, since=now)
        return replace(self, failures=failures)
