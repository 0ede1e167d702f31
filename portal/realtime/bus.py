"""Publish on the bus, read a channel's recent history, and the per-process :class:`Subscriber`.

A message is one JSON object, the same on every transport::

    {"type": "event", "channel": "ops.tickets", "id": "1764748800123-0", "ts": 1764748800.123456,
     "data": {...}}

``id`` is the message's Redis stream id, ``ts`` the publisher's clock (Unix seconds) for
latency. Publishing is one Lua script, atomic and one round trip: it takes the next id of the
tenant's sequence (ids grow across all channels of a tenant, so one ``Last-Event-ID`` resumes
several channels exactly), appends the message to the channel's capped stream (``MAXLEN ~
1000``, approximate trimming: cheap) and PUBLISHes it for live delivery.

Every web process runs one :class:`Subscriber`: one Redis connection pattern-subscribed to
``conductor:rt:*`` on a daemon thread, handing each message to the local listeners of its
(tenant, channel). Listeners must not block (they put into a bounded
:class:`~portal.realtime.mailbox.CoalescingQueue` and wake their consumer), so one slow browser
never delays the others; the thread reconnects with backoff when Redis goes away.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
from redis import Redis
from redis.commands.core import Script

from portal.errors import BadRequest, PayloadTooLarge, PortalError
from portal.realtime.channels import (
    PUBSUB_PREFIX,
    check_channel,
    parse_pubsub_channel,
    pubsub_channel,
    sequence_key,
    stream_key,
)
from portal.realtime.metrics import PUBLISHED, RECONNECTS

log = logging.getLogger(__name__)

#: Messages kept per channel for clients that resume (approximate: Redis trims whole nodes).
STREAM_MAXLEN = 1000
#: Largest ``data`` of one message, as JSON.
MAX_DATA_BYTES = 64 * 1024
#: Most messages :func:`history` returns at once.
MAX_HISTORY = 1000
_ID_RE = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")

# KEYS: stream, tenant sequence. ARGV: message prefix, suffix, data, ts, maxlen, pub/sub channel.
# The id is the Redis clock in ms, never below the tenant's last id (+1 in the same ms): ids are
# ordered across the tenant's channels. Should the sequence key be lost while a stream lives on
# (eviction), XADD refuses a smaller id; the stream's own next id is used and the sequence reset.
_PUBLISH_LUA = b"""
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[2])
if last then
  local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
  lms = tonumber(lms)
  if lms and lms >= ms then
    ms = lms
    seq = tonumber(lseq) + 1
  end
end
local id = string.format('%d-%d', ms, seq)
local ok = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], id, 'd', ARGV[3], 'ts', ARGV[4])
if type(ok) == 'table' and ok.err then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'd', ARGV[3], 'ts', ARGV[4])
end
redis.call('SET', KEYS[2], id)
redis.call('PUBLISH', ARGV[6], ARGV[1] .. id .. ARGV[2])
return id
"""
_SCRIPT = Script(None, _PUBLISH_LUA)  # type: ignore[arg-type]  # bytes: no client needed to hash it


class BusUnavailable(PortalError):
    """The process's subscription to the bus is not live (Redis away, reconnecting): try again."""

    status = 503


@dataclass(frozen=True)
class Event:
    """One message of the bus as a process received it.

    ``raw`` is the JSON text as published: transports send it unchanged (no second encoding).
    """

    tenant_id: int
    channel: str
    id: str
    ts: float
    data: Any
    raw: str

    def message(self) -> dict[str, Any]:
        """The message as a JSON-ready dict."""
        return {"type": "event", "channel": self.channel, "id": self.id, "ts": self.ts, "data": self.data}


def id_key(event_id: str) -> tuple[int, int]:
    """A stream id as a sortable pair (``"17-3"`` → ``(17, 3)``)."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def check_event_id(value: str, field: str) -> str:
    """A stream id as clients send it back (``Last-Event-ID``); BadRequest naming ``field`` otherwise."""
    if not _ID_RE.match(value):
        raise BadRequest(f"{field}: {value[:40]!r} is not an event id (e.g. '1764748800123-0')", field=field)
    return value


def encode_data(data: Any, field: str = "data") -> str:
    """``data`` as compact JSON, refused (naming ``field``) when not JSON or larger than allowed."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{field}: not JSON-serialisable ({exc})", field=field) from None
    if len(text.encode()) > MAX_DATA_BYTES:
        raise PayloadTooLarge(f"{field}: larger than {MAX_DATA_BYTES // 1024} KB", field=field)
    return text


def _script_args(tenant_id: int, channel: str, data_json: str, ts: float) -> tuple[list[str], list[Any]]:
    prefix = '{"type":"event","channel":' + json.dumps(channel) + ',"id":"'
    suffix = f'","ts":{ts:.6f},"data":{data_json}}}'
    keys = [stream_key(tenant_id, channel), sequence_key(tenant_id)]
    args = [prefix, suffix, data_json, f"{ts:.6f}", STREAM_MAXLEN, pubsub_channel(tenant_id, channel)]
    return keys, args


def publish(redis: Redis, tenant_id: int, channel: str, data: Any) -> dict[str, Any]:
    """Publish one message on a tenant's channel; returns it (with its id and timestamp)."""
    return publish_many(redis, tenant_id, channel, [data], fields=["data"])[0]


def publish_many(
    redis: Redis,
    tenant_id: int,
    channel: str,
    items: Sequence[Any],
    *,
    fields: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Publish several messages on one channel in one round trip, in order; returns them.

    ``fields`` names each item in errors (``body.3``: too large); default ``data.{i}``.
    """
    check_channel(channel)
    names = list(fields) if fields is not None else [f"data.{i}" for i in range(len(items))]
    encoded = [encode_data(d, names[i]) for i, d in enumerate(items)]
    stamps: list[float] = []
    pipe = redis.pipeline(transaction=False)
    for text in encoded:
        ts = round(time.time(), 6)
        stamps.append(ts)
        keys, args = _script_args(tenant_id, channel, text, ts)
        _SCRIPT(keys=keys, args=args, client=pipe)
    ids = pipe.execute()
    PUBLISHED.inc(len(items))
    return [
        {"type": "event", "channel": channel, "id": _text(i), "ts": ts, "data": d}
        for i, ts, d in zip(ids, stamps, items, strict=True)
    ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def history(
    redis: Redis, tenant_id: int, channel: str, after_id: str | None = None, limit: int = 100
) -> list[Event]:
    """A channel's kept messages, oldest first: those after ``after_id`` (exclusive), else the last
    ``limit``."""
    check_channel(channel)
    limit = max(1, min(int(limit), MAX_HISTORY))
    key = stream_key(tenant_id, channel)
    rows: list[Any]
    if after_id is None:
        rows = list(reversed(redis.xrevrange(key, "+", "-", count=limit) or []))
    else:
        rows = list(
            redis.xrange(key, f"({check_event_id(after_id, 'last_event_id')}", "+", count=limit) or []
        )
    out: list[Event] = []
    for rid, stored in rows:
        fields: dict[bytes, bytes] = stored or {}
        event_id = _text(rid)
        data_json = _text(fields.get(b"d", b"null"))
        ts = float(_text(fields.get(b"ts", b"0")))
        raw = (
            '{"type":"event","channel":'
            + json.dumps(channel)
            + f',"id":"{event_id}","ts":{ts:.6f},"data":{data_json}}}'
        )
        out.append(Event(tenant_id, channel, event_id, ts, json.loads(data_json), raw))
    return out


def decode_event(tenant_id: int, channel: str, raw: str) -> Event | None:
    """An event from the text a publisher sent; None (logged) when it is not one of ours."""
    try:
        msg = json.loads(raw)
        return Event(tenant_id, channel, str(msg["id"]), float(msg["ts"]), msg.get("data"), raw)
    except (ValueError, KeyError, TypeError):
        log.warning("ignored a malformed message on real-time channel %s:%s", tenant_id, channel)
        return None


# --------------------------------------------------------------------------- subscriber
#: Called on the subscriber's thread for every message of its channel: must return at once.
Listener = Callable[[Event], None]


class Subscriber:
    """One Redis pub/sub connection per process, fanned out to local listeners per (tenant, channel).

    The thread starts with the first listener (never at import time) and reconnects with
    exponential backoff (``min_backoff`` to ``max_backoff`` seconds, with jitter) when the
    connection fails; messages published while it was away are not replayed to listeners (SSE
    clients resume from the streams).
    """

    def __init__(
        self,
        redis_url: str,
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        connect: Callable[[str], Redis] | None = None,
    ) -> None:
        self.redis_url = redis_url
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self._connect = connect or (
            lambda url: Redis.from_url(url, health_check_interval=30, socket_keepalive=True)
        )
        # Replaced, never mutated: the Redis thread reads it without taking the lock.
        self._listeners: dict[tuple[int, str], tuple[Listener, ...]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0
        #: State of the transports built on this subscriber, kept as long as it lives (the web
        #: server's fan-out hub per event loop).
        self.attached: dict[Any, Any] = {}

    # -- listeners -----------------------------------------------------------------
    def add(self, tenant_id: int, channel: str, listener: Listener) -> None:
        """Call ``listener`` with every message of the tenant's channel (from the subscriber's thread)."""
        key = (int(tenant_id), check_channel(channel))
        with self._lock:
            current = self._listeners.get(key, ())
            if listener not in current:
                self._listeners = {**self._listeners, key: (*current, listener)}
        self.start()

    def remove(self, tenant_id: int, channel: str, listener: Listener) -> None:
        """Stop calling ``listener`` for that channel (nothing happens if it was not added)."""
        key = (int(tenant_id), channel)
        with self._lock:
            current = self._listeners.get(key, ())
            rest = tuple(x for x in current if x != listener)
            if len(rest) == len(current):
                return
            listeners = dict(self._listeners)
            if rest:
                listeners[key] = rest
            else:
                listeners.pop(key, None)
            self._listeners = listeners

    def listener_count(self) -> int:
        """How many (channel, listener) registrations there are."""
        return sum(len(v) for v in self._listeners.values())

    # -- thread ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread (idempotent)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="realtime-subscriber", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close its connection."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        self._connected.clear()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Whether the subscription is live (waits up to ``timeout`` seconds).

        Callers that confirm a subscription to a client wait for it first: a message published
        right after the confirmation must not be lost to a subscription still being set up.
        """
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        """Whether the subscription is live now."""
        return self._connected.is_set()

    def _run(self) -> None:
        backoff = self.min_backoff
        while not self._stop.is_set():
            client: Redis | None = None
            pubsub: Any = None
            try:
                client = self._connect(self.redis_url)
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.psubscribe(PUBSUB_PREFIX + "*")
                # The subscription is confirmed by the first read; only then are we live.
                pubsub.get_message(timeout=1.0)
                self._connected.set()
                backoff = self.min_backoff
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is not None and msg.get("type") == "pmessage":
                        self._dispatch(msg["channel"], msg["data"])
            except (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError) as exc:
                self._lost(f"{type(exc).__name__}: {exc}", backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except Exception:
                log.exception("real-time subscriber failed; reconnecting")
                self._lost("unexpected error", backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except Exception:  # noqa: S110 - the connection is already broken
                        pass

    def _lost(self, why: str, backoff: float) -> None:
        self._connected.clear()
        if self._stop.is_set():
            return
        self.reconnects += 1
        RECONNECTS.inc()
        wait = backoff * random.uniform(0.5, 1.0)  # jitter: processes do not reconnect in step
        log.warning("real-time subscriber lost Redis (%s); reconnecting in %.2f s", why, wait)
        self._stop.wait(wait)

    def _dispatch(self, raw_channel: bytes | str, raw: bytes | str) -> None:
        name = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        parsed = parse_pubsub_channel(name)
        if parsed is None:
            return
        listeners = self._listeners.get(parsed, ())
        if not listeners:
            return  # nobody here listens: not even decoded
        event = decode_event(parsed[0], parsed[1], raw.decode() if isinstance(raw, bytes) else raw)
        if event is None:
            return
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                # One broken listener (a page that went away badly) must not stop the others.
                log.exception("real-time listener failed on %s", parsed[1])
