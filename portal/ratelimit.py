"""Fixed-window rate limits on Redis (login, public endpoints)."""

from __future__ import annotations

import time

from redis import Redis

from portal.errors import QuotaExceeded


def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> int:
    """Count one hit on ``key`` in the current window; raise :class:`QuotaExceeded` over ``limit``.

    Returns the count so far in this window.
    """
    window = int(time.time() // window_seconds)
    k = f"cbi:rl:{key}:{window}"
    pipe = redis.pipeline()
    pipe.incr(k)
    pipe.expire(k, window_seconds + 1)
    count = int(pipe.execute()[0])
    if count > limit:
        retry = window_seconds - int(time.time() % window_seconds)
        raise QuotaExceeded(f"too many requests; try again in {retry} s")
    return count
