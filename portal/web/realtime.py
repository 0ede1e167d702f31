"""Real-time endpoints: ``WS /realtime``, ``GET /sse/dashboards/{id}`` and ``POST /api/events/{channel}``.

WebSocket protocol (one JSON object per text frame)
---------------------------------------------------
Authenticate with the portal session cookie (same-origin pages), ``Authorization: Bearer
<api token>`` or ``?access_token=<api token>``. A browser's ``Origin`` must be the portal's own
host (no cross-site WebSocket hijacking with the cookie); clients that send none are allowed.

Client → server::

    {"type": "subscribe", "channel": "ops.tickets"}
    {"type": "unsubscribe", "channel": "ops.tickets"}
    {"type": "ping"}

Server → client::

    {"type": "welcome", "heartbeat_s": 25}
    {"type": "subscribed", "channel": "ops.tickets"}      (and "unsubscribed")
    {"type": "event", "channel": "...", "id": "1764748800123-0", "ts": 1764748800.12, "data": {...}}
    {"type": "error", "message": "channel: ...", "field": "channel"}
    {"type": "pong"}
    {"type": "heartbeat", "ts": ...}                      (every 25 s, with a protocol ping)

A connection that answers no ping (and sends nothing) for 75 s is closed (1001). Per connection:
at most 100 client messages a minute (then an error and close code 1008), 50 subscriptions,
16 KB a message, and a bounded outgoing queue: a client that reads slower than messages
arrive gets the latest message of each channel (coalesced), never a growing backlog.
A subscription is checked once, when asked (``portal.realtime.channels.may_subscribe``); an
unknown channel and a forbidden one get the same error.

Server-sent events
------------------
``GET /sse/dashboards/{id}``: the messages of ``dashboard.{id}`` and of ``widget.{wid}`` for
its widgets, as ``id:``/``data:`` records (data is the event message above), a ``retry:`` hint
and a comment line every 15 s. ``Last-Event-ID`` (or ``?last_event_id=``) resumes: every kept
message after that id, exactly once, then the live ones.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import struct
import time
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

from portal.context import AppContext
from portal.errors import (
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    PortalError,
)
from portal.identity import auth
from portal.identity.principal import Identify, Principal, principal_for_user, principal_transaction
from portal.models import Widget
from portal.realtime import bus
from portal.realtime.bus import Event, id_key
from portal.realtime.channels import check_channel, may_publish, may_subscribe
from portal.realtime.mailbox import CoalescingQueue
from portal.realtime.metrics import CONNECTIONS, DELIVERED, PUSH_SECONDS
from portal.sharing import tokens as share_tokens
from portal.web.api.base import BaseHandler, path_id
from portal.web.jsonsafe import parse_json
from portal.web.webauth import COOKIE, cookie_days

log = logging.getLogger(__name__)

HEARTBEAT_S = 25
IDLE_S = 75
MESSAGES_PER_MINUTE = 100
MAX_SUBSCRIPTIONS = 50
MAX_MESSAGE_BYTES = 16 * 1024
#: Pending outgoing messages per connection before same-channel messages coalesce.
OUTGOING_QUEUE = 256
SSE_HEARTBEAT_S = 15
#: How long a subscription waits for the process's Redis subscription to be live.
SUBSCRIBE_WAIT_S = 5
SSE_RETRY_MS = 3000
#: ``POST /api/events``: events per request and bytes per body.
MAX_EVENTS = 500
MAX_EVENTS_BYTES = 256 * 1024


# --------------------------------------------------------------------------- authentication
def identify_realtime(handler: RequestHandler, ctx: AppContext, *, cookie: bool = True) -> Identify | None:
    """How the caller of a real-time endpoint is identified; None when it brought no credentials.

    Tried in order, inside the transaction of the caller's choice: the portal session cookie,
    ``Authorization: Bearer <api token>``, ``?access_token=<api token>``, ``?share=<share token>``;
    the first that is valid wins (a stale cookie next to a valid token does not lock a script out).
    """
    candidates: list[Identify] = []
    try:
        raw = handler.get_secure_cookie(COOKIE, max_age_days=cookie_days(ctx)) if cookie else None
    except Exception:  # an application without a cookie secret (the bare API server of tests)
        raw = None
    if raw:
        plain_cookie = raw.decode(errors="replace")
        candidates.append(lambda session: _cookie_principal(session, plain_cookie))
    header = handler.request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and header[7:].strip():
        bearer = header[7:].strip()
        candidates.append(lambda session: principal_for_user(session, auth.user_for_token(session, bearer)))
    query_token = handler.get_query_argument("access_token", "").strip()
    if query_token:
        candidates.append(
            lambda session: principal_for_user(session, auth.user_for_token(session, query_token))
        )
    share = handler.get_query_argument("share", "").strip()
    if share:
        # A share link's viewer outside the portal (an embedding page's script): the link's
        # principal, which may_subscribe() limits to the channels of what was shared.
        agent = handler.request.headers.get("User-Agent", "")
        ip, path = str(handler.request.remote_ip or "?"), handler.request.path
        candidates.append(share_tokens.link_identity(share, ip=ip, user_agent=agent, path=path))
    if not candidates:
        return None

    def identify(session: Session) -> Principal:
        for candidate in candidates:
            try:
                return candidate(session)
            except AuthenticationFailed:
                continue
        raise AuthenticationFailed(
            "sign in, or send a valid API token (Authorization: Bearer or ?access_token=)"
        )

    return identify


def _cookie_principal(session: Session, plain: str) -> Principal:
    live = auth.web_session_user(session, plain)
    if live is None:
        raise AuthenticationFailed("your session has ended; sign in again")
    return principal_for_user(session, live[0])


def origin_allowed(handler: RequestHandler, ctx: AppContext) -> bool:
    """Whether the request's ``Origin`` (sent by browsers) is the portal itself, or absent.

    A page of another site could otherwise open a WebSocket that carries the user's cookie.
    """
    origin = handler.request.headers.get("Origin")
    if origin is None:
        return True
    host = urlparse(origin).netloc.lower()
    allowed = {handler.request.host.lower()}
    if ctx.settings.public_url:
        allowed.add(urlparse(ctx.settings.public_url).netloc.lower())
    return bool(host) and host in allowed


async def _principal(ctx: AppContext, identify: Identify) -> Principal:
    def work() -> Principal:
        with principal_transaction(ctx.sessions, identify) as (_, principal):
            return principal

    return await IOLoop.current().run_in_executor(None, work)


def _as_channel_error(exc: PortalError, channel: str) -> PortalError:
    # Not found and not allowed read the same: a client cannot probe which dashboards exist.
    return (
        type(exc)(f"channel: {channel!r} does not exist or you may not use it", field="channel")
        if isinstance(exc, NotFound | PermissionDenied)
        else exc
    )


# --------------------------------------------------------------------------- POST /api/events
class _JsonErrors(RequestHandler):
    """What the WebSocket and SSE endpoints share: no caching, refusals as the API's JSON errors."""

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = (
            exc.to_dict() if isinstance(exc, PortalError) else {"error": "HTTPError", "message": self._reason}
        )
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PortalError) and not self._finished:
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class EventsHandler(BaseHandler):
    """``POST /api/events/{channel}``: publish one event (a JSON object) or several (an array)."""

    async def post(self, raw_channel: str) -> None:
        channel = check_channel(raw_channel)
        if len(self.request.body) > MAX_EVENTS_BYTES:
            raise PayloadTooLarge(f"body: larger than {MAX_EVENTS_BYTES // 1024} KB", field="body")
        if not self.request.body:
            raise BadRequest("body: send a JSON object (one event) or an array of objects", field="body")
        data = parse_json(self.request.body, "body")
        if isinstance(data, dict):
            items: list[Any] = [data]
            fields = ["body"]
        elif isinstance(data, list):
            if not data:
                raise BadRequest("body: the array is empty", field="body")
            if len(data) > MAX_EVENTS:
                raise BadRequest(
                    f"body: at most {MAX_EVENTS} events a request (got {len(data)})", field="body"
                )
            for i, item in enumerate(data):
                if not isinstance(item, dict):
                    raise BadRequest(f"body.{i}: each event must be a JSON object", field=f"body.{i}")
            items, fields = data, [f"body.{i}" for i in range(len(data))]
        else:
            raise BadRequest("body: send a JSON object (one event) or an array of objects", field="body")

        def work(session: Session, principal: Principal) -> list[dict[str, Any]]:
            try:
                may_publish(session, principal, channel)
            except PortalError as exc:
                raise _as_channel_error(exc, channel) from None
            return bus.publish_many(self.ctx.redis, principal.tenant_id, channel, items, fields=fields)

        published = await self.call(work)
        self.send({"published": len(published), "ids": [m["id"] for m in published]}, 202)


# --------------------------------------------------------------------------- fan-out on the event loop
def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed WebSocket text frame (RFC 6455 §5.2): what a server sends.

    The same bytes go to every client of a channel, so the frame is built once per message.
    """
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


_DELIVERED_WS = DELIVERED.labels("ws")
_PUSH_WS = PUSH_SECONDS.labels("ws")
#: Messages the hub of a loop holds between two of its turns before same-channel ones coalesce.
HUB_QUEUE = 10_000


class LoopHub:
    """The WebSocket clients of one event loop, registered once per channel with the subscriber.

    The subscriber's thread hands each message to the hub once (one queue put, one wake-up of
    the loop), not once per client: with 500 clients on a channel the Redis thread does the work
    of one. On the loop the hub frames a channel's pending messages once and gives the same
    bytes to each client: written at once when its socket takes them, else kept in the client's
    bounded, coalescing queue until its previous write has drained (see ``RealtimeSocket.deliver``).
    Measured with ``tests/benchmarks/bench_realtime.py`` (500 clients on one channel, 10k
    events/min): a task and a write per message and client delivered 13k messages/s and
    coalesced most of the rest; this delivers all 83k/s.
    """

    def __init__(self, subscriber: bus.Subscriber, loop: IOLoop) -> None:
        self.subscriber, self.loop = subscriber, loop
        self._clients: dict[tuple[int, str], set[RealtimeSocket]] = {}
        self._queue: CoalescingQueue[Event] = CoalescingQueue(HUB_QUEUE)
        # One heartbeat timer for every connection of the loop, not a timer each.
        self._connected: set[RealtimeSocket] = set()
        self._beat: PeriodicCallback | None = None

    def join(self, client: RealtimeSocket) -> None:
        """A connection opened: it gets the heartbeat."""
        self._connected.add(client)
        if self._beat is None:
            self._beat = PeriodicCallback(self._heartbeat, HEARTBEAT_S * 1000)
            self._beat.start()

    def leave(self, client: RealtimeSocket) -> None:
        """A connection closed."""
        self._connected.discard(client)

    def _heartbeat(self) -> None:
        for client in list(self._connected):
            client.heartbeat()

    @classmethod
    def of(cls, subscriber: bus.Subscriber) -> LoopHub:
        """The hub of the current event loop for this subscriber (made on first use)."""
        loop = IOLoop.current()
        hub = subscriber.attached.get((cls, loop))
        if hub is None:
            hub = subscriber.attached[(cls, loop)] = LoopHub(subscriber, loop)
        assert isinstance(hub, LoopHub)
        return hub

    def add(self, tenant_id: int, channel: str, client: RealtimeSocket) -> None:
        key = (tenant_id, channel)
        clients = self._clients.setdefault(key, set())
        if not clients:
            self.subscriber.add(tenant_id, channel, self._offer)
        clients.add(client)

    def remove(self, tenant_id: int, channel: str, client: RealtimeSocket) -> None:
        key = (tenant_id, channel)
        clients = self._clients.get(key)
        if clients is None:
            return
        clients.discard(client)
        if not clients:
            del self._clients[key]
            self.subscriber.remove(tenant_id, channel, self._offer)

    def _offer(self, event: Event) -> None:
        # Subscriber thread: the (tenant, channel) pair is the coalescing key.
        if self._queue.put(f"{event.tenant_id}:{event.channel}", event):
            self.loop.add_callback(self._flush)

    def _flush(self) -> None:
        # Everything that arrived since the last turn, by channel in arrival order: a channel's
        # messages are encoded and framed once, into one block of bytes every client of the
        # channel gets in one write. The busier the loop, the more a turn carries.
        by_channel: dict[tuple[int, str], list[Event]] = {}
        for _, event in self._queue.drain():
            by_channel.setdefault((event.tenant_id, event.channel), []).append(event)
        now = time.time()
        for key, events in by_channel.items():
            clients = self._clients.get(key)
            if not clients:
                continue
            payloads = [e.raw.encode() for e in events]
            block = b"".join(text_frame(p) for p in payloads)
            for e in events:
                _PUSH_WS.observe(max(0.0, now - e.ts))
            _DELIVERED_WS.inc(len(events) * len(clients))
            for client in list(clients):
                client.deliver(key[1], block, payloads)


# --------------------------------------------------------------------------- WS /realtime
class RealtimeSocket(_JsonErrors, WebSocketHandler):
    """One client of ``/realtime`` (see the module docstring for the protocol)."""

    ctx: AppContext

    def initialize(self, ctx: AppContext, route: str = "?") -> None:
        self.ctx = ctx
        self.principal: Principal | None = None
        self.channels: set[str] = set()
        # Blocks waiting while a write to a slow client is in flight (bounded, coalescing).
        self._queue: CoalescingQueue[tuple[bytes, list[bytes]]] = CoalescingQueue(OUTGOING_QUEUE)
        self._inflight: asyncio.Future[None] | None = None
        self._hub: LoopHub | None = None
        self._received: collections.deque[float] = collections.deque()
        self._seen = time.monotonic()
        self._closed = False
        self._counted = False

    # -- handshake -------------------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        return True  # decided in prepare(): the portal's own pages, or an explicit credential

    async def prepare(self) -> None:
        # Before the upgrade: a refused client gets an HTTP status and a JSON reason. A page of
        # another site (an embedding intranet) may connect with a credential it names itself (a
        # share link, an API token), never with the portal's cookie.
        same_site = origin_allowed(self, self.ctx)
        explicit = any(self.get_query_argument(k, "") for k in ("share", "access_token")) or bool(
            self.request.headers.get("Authorization")
        )
        if not same_site and not explicit:
            raise PermissionDenied(
                "Origin: a page of another site may not open this connection", field="Origin"
            )
        identify = identify_realtime(self, self.ctx, cookie=same_site)
        if identify is None:
            raise AuthenticationFailed(
                "sign in, or send an API token (Authorization: Bearer or ?access_token=)"
            )
        self.principal = await _principal(self.ctx, identify)

    @property
    def ping_interval(self) -> float | None:
        return None  # our own heartbeat (below) pings and allows 75 s of silence

    @property
    def max_message_size(self) -> int:
        # Tornado closes (1009) above this; between 16 KB and this the client gets an error first.
        return 4 * MAX_MESSAGE_BYTES

    def open(self, *args: str, **kwargs: str) -> None:
        self._hub = LoopHub.of(self.ctx.subscriber())
        CONNECTIONS.labels("ws").inc()
        self._counted = True
        self._send({"type": "welcome", "heartbeat_s": HEARTBEAT_S})
        self._hub.join(self)

    # -- client messages -------------------------------------------------------------
    async def on_message(self, message: str | bytes) -> None:
        now = time.monotonic()
        self._seen = now
        self._received.append(now)
        while self._received and self._received[0] < now - 60:
            self._received.popleft()
        if len(self._received) > MESSAGES_PER_MINUTE:
            self._error(f"message: more than {MESSAGES_PER_MINUTE} messages a minute; closing", "message")
            self.close(1008, "rate limit")
            return
        if len(message) > MAX_MESSAGE_BYTES:
            self._error(f"message: larger than {MAX_MESSAGE_BYTES // 1024} KB", "message")
            return
        try:
            msg = parse_json(message, "message")
            if not isinstance(msg, dict):
                raise BadRequest("message: must be a JSON object with a type", field="message")
            kind = msg.get("type")
            if kind == "ping":
                self._send({"type": "pong"})
            elif kind == "subscribe":
                await self._subscribe(check_channel(msg.get("channel")))
            elif kind == "unsubscribe":
                self._unsubscribe(check_channel(msg.get("channel")))
            else:
                raise BadRequest(
                    f"type: {str(kind)[:40]!r} is not a message type (subscribe, unsubscribe or ping)",
                    field="type",
                )
        except PortalError as exc:
            self._error(exc.message, exc.field)

    async def _subscribe(self, channel: str) -> None:
        principal = self.principal
        assert principal is not None  # set by prepare() before the upgrade
        if channel in self.channels:
            self._send({"type": "subscribed", "channel": channel})
            return
        if len(self.channels) >= MAX_SUBSCRIPTIONS:
            raise BadRequest(
                f"channel: at most {MAX_SUBSCRIPTIONS} subscriptions a connection", field="channel"
            )

        subscriber = self.ctx.subscriber()

        def check() -> None:
            with self.ctx.sessions() as session:
                may_subscribe(session, principal, channel)
            subscriber.start()
            # "subscribed" promises the messages published after it: the process's Redis
            # subscription must be live (it is, but for the first client or during a reconnect).
            if not subscriber.wait_connected(SUBSCRIBE_WAIT_S):
                raise bus.BusUnavailable(
                    "channel: the real-time service is reconnecting; try again", field="channel"
                )

        try:
            await IOLoop.current().run_in_executor(None, check)
        except PortalError as exc:
            raise _as_channel_error(exc, channel) from None
        if self._closed:
            return
        self.channels.add(channel)
        assert self._hub is not None  # set by open()
        self._hub.add(principal.tenant_id, channel, self)
        self._send({"type": "subscribed", "channel": channel})

    def _unsubscribe(self, channel: str) -> None:
        if channel in self.channels and self.principal is not None and self._hub is not None:
            self.channels.discard(channel)
            self._hub.remove(self.principal.tenant_id, channel, self)
        self._send({"type": "unsubscribed", "channel": channel})

    def on_pong(self, data: bytes) -> None:
        self._seen = time.monotonic()

    # -- server messages -------------------------------------------------------------
    def deliver(self, channel: str, block: bytes, payloads: list[bytes]) -> None:
        """On the loop (from the hub): write a channel's messages now, or queue them if the client
        is still reading the previous write (then, when full, the latest block per channel wins)."""
        if self._closed:
            return
        if self._inflight is not None or len(self._queue):
            self._queue.put(channel, (block, payloads))
            return
        self._write(block, payloads)

    def _raw_stream(self) -> IOStream | None:
        # Tornado's write_message frames each message and wraps its write in a task of its own;
        # for ready-made frames one write of their bytes does the same work. Only on a plain
        # RFC 6455 connection (no compression negotiated, server frames unmasked).
        proto = self.ws_connection
        if isinstance(proto, WebSocketProtocol13) and proto._compressor is None and not proto.mask_outgoing:
            return proto.stream
        return None

    def _write(self, block: bytes, payloads: list[bytes]) -> None:
        try:
            stream = self._raw_stream()
            written: asyncio.Future[None] | None = None
            if stream is not None:
                if stream.closed():
                    return  # on_close follows
                if type(stream) is IOStream and not stream.writing():
                    # Nothing queued in the stream: straight into the socket (what fits), without
                    # the Future and buffer bookkeeping of IOStream.write. Plain TCP only (TLS is
                    # the proxy's); whatever does not fit goes through the stream as usual.
                    try:
                        sent = stream.socket.send(block)
                    except BlockingIOError:
                        sent = 0
                    except OSError:
                        return  # the peer is gone: on_close follows
                    if sent == len(block):
                        return
                    block = block[sent:]
                written = stream.write(block)
            else:
                for payload in payloads:
                    written = self.write_message(payload)  # bytes, sent as a text frame
        except (WebSocketClosedError, StreamClosedError):
            return  # on_close follows
        if written is None:
            return
        if written.done():
            _retrieve(written)  # all in the socket already: the usual case
            return
        # The socket is full: until this write drains, what comes waits in the bounded queue,
        # never in Tornado's unbounded write buffer.
        self._inflight = written
        written.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        self._inflight = None
        if future.cancelled() or future.exception() is not None or self._closed:
            return
        pending = self._queue.drain()
        if pending:
            self._write(b"".join(b for _, (b, _) in pending), [p for _, (_, ps) in pending for p in ps])

    def _send(self, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        try:
            sent = self.write_message(json.dumps(payload))
        except WebSocketClosedError:
            return
        # Not awaited (control messages are few): a failed write is retrieved, not logged as lost.
        sent.add_done_callback(_retrieve)

    def _error(self, message: str, field: str | None) -> None:
        self._send({"type": "error", "message": message, "field": field})

    def heartbeat(self) -> None:
        """Every 25 s (from the hub): ping, or close a connection silent for 75 s."""
        if time.monotonic() - self._seen > IDLE_S:
            self.close(1001, f"idle: no answer for {IDLE_S} s")
            return
        try:
            self.ping()
        except WebSocketClosedError:
            return
        self._send({"type": "heartbeat", "ts": round(time.time(), 3)})

    def on_close(self) -> None:
        self._closed = True
        if self._hub is not None:
            self._hub.leave(self)
        if self.principal is not None and self._hub is not None:
            for channel in self.channels:
                self._hub.remove(self.principal.tenant_id, channel, self)
        self.channels.clear()
        if self._counted:
            CONNECTIONS.labels("ws").dec()
            self._counted = False


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


# --------------------------------------------------------------------------- GET /sse/dashboards/{id}
class DashboardEventsHandler(_JsonErrors):
    """``GET /sse/dashboards/{id}``: a dashboard's channels as server-sent events."""

    ctx: AppContext

    def initialize(self, ctx: AppContext, route: str = "?") -> None:
        self.ctx = ctx
        self._queue: CoalescingQueue[Event] = CoalescingQueue(OUTGOING_QUEUE)
        self._wakeup = asyncio.Event()
        self._closed = False
        self._loop: IOLoop | None = None


    def on_connection_close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def _offer(self, event: Event) -> None:
        if self._queue.put(event.channel, event) and self._loop is not None:
            self._loop.add_callback(self._wakeup.set)

    async def get(self, raw_id: str) -> None:
        dashboard_id = path_id(raw_id)
        if not origin_allowed(self, self.ctx):
            raise PermissionDenied("Origin: a page of another site may not read this stream", field="Origin")
        identify = identify_realtime(self, self.ctx)
        if identify is None:
            raise AuthenticationFailed(
                "sign in, or send an API token (Authorization: Bearer or ?access_token=)"
            )
        last = self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", "")
        after = bus.check_event_id(last.strip(), "last_event_id") if last.strip() else None

        def channels_of() -> tuple[Principal, list[str]]:
            with principal_transaction(self.ctx.sessions, identify) as (session, principal):
                channel = f"dashboard.{dashboard_id}"
                may_subscribe(session, principal, channel)
                ids = session.scalars(
                    select(Widget.id).where(Widget.dashboard_id == dashboard_id).order_by(Widget.id)
                )
                return principal, [channel, *(f"widget.{w}" for w in ids)]

        principal, channels = await IOLoop.current().run_in_executor(None, channels_of)
        self._loop = IOLoop.current()
        subscriber = self.ctx.subscriber()
        for channel in channels:  # listening before reading the history: nothing falls in between
            subscriber.add(principal.tenant_id, channel, self._offer)
        await IOLoop.current().run_in_executor(None, subscriber.wait_connected, SUBSCRIBE_WAIT_S)
        CONNECTIONS.labels("sse").inc()
        try:
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("X-Accel-Buffering", "no")  # proxies must not hold events back
            self.write(f"retry: {SSE_RETRY_MS}\n\n")
            await self.flush()
            sent = id_key(after) if after else (0, 0)
            if after is not None:
                missed = await IOLoop.current().run_in_executor(
                    None, self._missed, principal.tenant_id, channels, after
                )
                sent = await self._write_events(missed, sent)
            while not self._closed:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), SSE_HEARTBEAT_S)
                except TimeoutError:
                    self.write(": keep-alive\n\n")
                    await self.flush()
                    continue
                self._wakeup.clear()
                sent = await self._write_events([e for _, e in self._queue.drain()], sent)
        except StreamClosedError:
            pass
        finally:
            for channel in channels:
                subscriber.remove(principal.tenant_id, channel, self._offer)
            CONNECTIONS.labels("sse").dec()

    def _missed(self, tenant_id: int, channels: list[str], after: str) -> list[Event]:
        events = [
            e for c in channels for e in bus.history(self.ctx.redis, tenant_id, c, after, bus.MAX_HISTORY)
        ]
        return sorted(events, key=lambda e: id_key(e.id))

    async def _write_events(self, events: list[Event], sent: tuple[int, int]) -> tuple[int, int]:
        # Ids grow across a tenant's channels: anything at or below the last one sent was sent
        # (a message both in the history and in the live queue goes out once).
        for event in events:
            key = id_key(event.id)
            if key <= sent or self._closed:
                continue
            self.write(f"id: {event.id}\ndata: {event.raw}\n\n")
            await self.flush()
            sent = key
            DELIVERED.labels("sse").inc()
            PUSH_SECONDS.labels("sse").observe(max(0.0, time.time() - event.ts))
        return sent


#: Mounted by :func:`portal.web.api.routes` (before its ``/api/.*`` catch-all).
REALTIME_ROUTES: list[tuple[str, type[RequestHandler]]] = [
    (r"/api/events/([^/]{1,200})", EventsHandler),
    (r"/realtime", RealtimeSocket),
    (r"/sse/dashboards/([0-9]{1,19})", DashboardEventsHandler),
]

__all__ = [
    "REALTIME_ROUTES",
    "DashboardEventsHandler",
    "EventsHandler",
    "RealtimeSocket",
    "identify_realtime",
    "origin_allowed",
]
