"""Fixed-window rate limits on Redis (login, public endpoints)."""

from __future__ import annotations

import hashlib
import math
import secrets
import time

from redis import Redis

from portal.errors import QuotaExceeded


def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> int:
    """Count one hit on ``key``; raise :class:`QuotaExceeded` when over ``limit`` in the last window.

    A sliding window (a sorted set of hit times): unlike fixed per-minute buckets, it
    allows no burst of twice the limit around a bucket boundary. Refused hits count too,
    so hammering does not shorten the wait. Returns the count in the window.
    """
    now = time.time()
    k = f"cbi:rl:{key}"
    pipe = redis.pipeline()
    pipe.zremrangebyscore(k, 0, now - window_seconds)
    pipe.zadd(k, {f"{now:.6f}:{secrets.token_hex(4)}": now})
    pipe.zcard(k)
    pipe.zrange(k, 0, 0, withscores=True)
    pipe.expire(k, window_seconds + 1)
    _, _, count, oldest, _ = pipe.execute()
    if int(count) > limit:
        first = float(oldest[0][1]) if oldest else now
        retry = max(1, math.ceil(first + window_seconds - now))
        raise QuotaExceeded(f"too many requests; try again in {retry} s")
    return int(count)


# --------------------------------------------------------------------------- sign-in guard
#: Attempts per address per minute, counted across the API (POST /api/tokens) and the web form.
LOGIN_ATTEMPTS_PER_IP_MINUTE = 10
#: Failed attempts on one account before it must wait; each further failure doubles the wait.
LOGIN_FREE_FAILURES = 5
LOGIN_MAX_BACKOFF_SECONDS = 900


def _account_key(email: str) -> str:
    # Hashed: Redis keys do not list who tried to sign in.
    return "cbi:lf:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def login_backoff_seconds(failures: int) -> int:
    """How long an account waits after ``failures`` consecutive failed sign-ins (0 = no wait).

    Bounded, so an attacker can slow the real owner down but never lock them out for good.
    """
    if failures < LOGIN_FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - LOGIN_FREE_FAILURES + 1), LOGIN_MAX_BACKOFF_SECONDS))


def check_login(
    redis: Redis,
    ip: str,
    email: str,
    *,
    per_minute: int = LOGIN_ATTEMPTS_PER_IP_MINUTE,
    now: float | None = None,
) -> None:
    """Raise :class:`QuotaExceeded` when this address or this account must wait before trying again.

    Unknown e-mails are counted exactly like real ones, so the answer reveals nothing.
    """
    hit(redis, f"login:{ip}", limit=per_minute, window_seconds=60)
    raw = redis.hgetall(_account_key(email))
    if not raw:
        return
    failures = int(raw.get(b"n", 0))
    last = float(raw.get(b"t", 0))
    wait = last + login_backoff_seconds(failures) - (time.time() if now is None else now)
    if wait > 0:
        raise QuotaExceeded(f"too many failed sign-ins for this account; try again in {math.ceil(wait)} s")


def login_failed(redis: Redis, email: str) -> None:
    """Count a failed sign-in of ``email`` (forgotten after a day without failures)."""
    key = _account_key(email)
    pipe = redis.pipeline()
    pipe.hincrby(key, "n", 1)
    pipe.hset(key, "t", str(time.time()))
    pipe.expire(key, 86_400)
    pipe.execute()


def login_succeeded(redis: Redis, email: str) -> None:
    """A successful sign-in clears the account's failures."""
    redis.delete(_account_key(email))
