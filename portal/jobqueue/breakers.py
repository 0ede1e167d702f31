"""Circuit breakers kept in Redis: one per data source (``source:warehouse``) or delivery
destination (``destination:smtp``, ``destination:webhook:hooks.example.com``).

The value and its rules are :class:`portal.queue.breaker.Breaker` (pure); this module only
loads and stores it. Changes go through ``WATCH``/``MULTI`` so two workers reporting at once
both count. A breaker left alone expires after a day (a closed one with no failures is not
stored at all).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import WatchError

from portal.models import utcnow
from portal.queue.breaker import Breaker, BreakerState

PREFIX = "cbi:breaker:"
#: The breaker of the portal's warehouse (every report run and schedule fire uses it).
WAREHOUSE = "source:warehouse"
KEEP_S = 86_400
#: Consecutive failures that open a breaker, and how long it stays open before a probe.
THRESHOLD = 5
COOLDOWN = timedelta(minutes=1)


def _key(name: str) -> str:
    return PREFIX + name


def _decode(raw: bytes | str | None) -> Breaker:
    if not raw:
        return Breaker(threshold=THRESHOLD, cooldown=COOLDOWN)
    data = json.loads(raw)
    since = datetime.fromisoformat(data["since"]) if data.get("since") else None
    return Breaker(
        threshold=int(data.get("threshold", THRESHOLD)),
        cooldown=timedelta(seconds=float(data.get("cooldown_s", COOLDOWN.total_seconds()))),
        state=BreakerState(data.get("state", "closed")),
        failures=int(data.get("failures", 0)),
        since=since,
    )


def _encode(b: Breaker) -> str:
    return json.dumps(
        {
            "threshold": b.threshold,
            "cooldown_s": b.cooldown.total_seconds(),
            "state": b.state.value,
            "failures": b.failures,
            "since": b.since.isoformat() if b.since else None,
        }
    )


def load(redis: Redis, name: str) -> Breaker:
    """The breaker ``name`` (a fresh closed one if none is stored)."""
    return _decode(redis.get(_key(name)))


def load_many(redis: Redis, names: Iterable[str]) -> dict[str, Breaker]:
    """The breakers of ``names`` in one round trip."""
    keys = list(dict.fromkeys(names))
    if not keys:
        return {}
    raws = redis.mget([_key(k) for k in keys])
    return {k: _decode(raw) for k, raw in zip(keys, raws, strict=True)}


def _update(redis: Redis, name: str, change: object) -> Breaker:
    key = _key(name)
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)  # type: ignore[no-untyped-call]
                current = _decode(pipe.get(key))
                new: Breaker = change(current)  # type: ignore[operator]
                pipe.multi()
                if new.state is BreakerState.CLOSED and new.failures == 0:
                    pipe.delete(key)
                else:
                    pipe.set(key, _encode(new), ex=KEEP_S)
                pipe.execute()
                return new
            except WatchError:
                continue


def record(redis: Redis, name: str, ok: bool, now: datetime | None = None) -> Breaker:
    """Report the outcome of work on ``name``: a success closes the breaker, a failure counts."""
    when = now or utcnow()
    return _update(redis, name, lambda b: b.record_success() if ok else b.record_failure(when))


def begin_probe(redis: Redis, name: str, now: datetime | None = None) -> Breaker:
    """Mark a probe in flight (admission let one run through an open breaker)."""
    when = now or utcnow()
    return _update(redis, name, lambda b: b.begin_probe(when))


def allow(redis: Redis, name: str, now: datetime | None = None) -> bool:
    """True if work on ``name`` may run now (closed, or open with the cooldown passed)."""
    return load(redis, name).allow(now or utcnow())


def reset(redis: Redis, name: str) -> None:
    """Forget ``name``'s breaker (an admin closing it by hand; tests)."""
    redis.delete(_key(name))
