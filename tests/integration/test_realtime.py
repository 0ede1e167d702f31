"""The real-time bus end to end: ``POST /api/events`` → Redis → the process's subscriber →
``WS /realtime`` and ``GET /sse/dashboards/{id}`` clients, with their refusals.

One API server (with the portal's cookie secret, so the session cookie works as in production)
and one seeded database per module: every test uses its own channel names or dashboards.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select
from tornado.httpserver import HTTPServer
from tornado.web import Application, create_signed_value
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from portal.identity import auth
from portal.infra.db import transaction
from portal.models import Dashboard, Tenant, User, Widget
from portal.realtime import bus
from portal.web.api import routes
from portal.web.server import cookie_secret
from portal.web.webauth import COOKIE
from tests.support.http import ApiServer

pytestmark = pytest.mark.parametrize("module_metadata_url", ["sqlite"], indirect=True)
PASSWORD = "conductor-demo"


class CookieApiServer(ApiServer):
    """The API routes served with the portal's cookie secret (the session cookie is honoured)."""

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = Application(routes(self.ctx), cookie_secret=cookie_secret(self.ctx.settings))
        self._server = HTTPServer(app)
        self._server.listen(self.port, "127.0.0.1")
        self._ready.set()
        self._loop.run_forever()


@pytest.fixture(scope="module")
def server(module_ctx: Any, module_demo: Any) -> Iterator[CookieApiServer]:
    srv = CookieApiServer(module_ctx, workers=False).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tokens(server: CookieApiServer) -> dict[str, str]:
    server.ctx.redis.flushdb()  # sign-in counts of earlier modules
    return {
        role: server.token(f"{role}@{tenant}.example.com", PASSWORD)
        for role, tenant in (("analyst", "acme"), ("viewer", "acme"), ("admin", "globex"))
    }


@pytest.fixture(scope="module")
def ids(server: CookieApiServer) -> dict[str, int]:
    """Tenant and dashboard ids of the seeded demo."""
    with server.ctx.sessions() as s:
        tenants = {t.slug: t.id for t in s.scalars(select(Tenant))}
        acme_dash = s.scalars(select(Dashboard.id).where(Dashboard.tenant_id == tenants["acme"])).first()
        globex_dash = s.scalars(select(Dashboard.id).where(Dashboard.tenant_id == tenants["globex"])).first()
    assert acme_dash and globex_dash
    return {
        "acme": tenants["acme"],
        "globex": tenants["globex"],
        "acme_dash": acme_dash,
        "globex_dash": globex_dash,
    }


def ws_url(server: ApiServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/realtime{query}"


@contextlib.contextmanager
def open_ws(server: ApiServer, token: str) -> Iterator[ClientConnection]:
    """A connection authenticated by bearer token, past its welcome message."""
    headers = {"Authorization": f"Bearer {token}"}
    with connect(ws_url(server), additional_headers=headers, open_timeout=10) as ws:
        assert recv(ws) == {"type": "welcome", "heartbeat_s": 25}
        yield ws


def recv(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    msg: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return msg


def subscribe(ws: ClientConnection, channel: str) -> dict[str, Any]:
    ws.send(json.dumps({"type": "subscribe", "channel": channel}))
    return recv(ws)


def channel_name() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- WebSocket
def test_published_event_reaches_subscribed_client(server: CookieApiServer, tokens: dict[str, str]) -> None:
    channel = channel_name()
    with open_ws(server, tokens["viewer"]) as ws:
        assert subscribe(ws, channel) == {"type": "subscribed", "channel": channel}
        t0 = time.time()
        r = requests.post(
            f"{server.base}/api/events/{channel}",
            json=[{"open": 5}, {"open": 6}],
            headers={"Authorization": f"Bearer {tokens['analyst']}"},
            timeout=10,
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["published"] == 2 and len(body["ids"]) == 2
        got = [recv(ws), recv(ws)]
        assert [m["data"] for m in got] == [{"open": 5}, {"open": 6}]
        assert [m["id"] for m in got] == body["ids"]
        assert all(m["type"] == "event" and m["channel"] == channel and m["ts"] >= t0 - 1 for m in got)
        ws.send(json.dumps({"type": "unsubscribe", "channel": channel}))
        assert recv(ws) == {"type": "unsubscribed", "channel": channel}
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws) == {"type": "pong"}  # nothing of the channel any more, only the answer


def test_access_token_in_query_and_missing_credentials(
    server: CookieApiServer, tokens: dict[str, str]
) -> None:
    with connect(ws_url(server, f"?access_token={tokens['viewer']}"), open_timeout=10) as ws:
        assert recv(ws)["type"] == "welcome"
    for headers in ({}, {"Authorization": "Bearer cbi_not_a_token"}):
        with pytest.raises(InvalidStatus) as err:
            connect(ws_url(server), additional_headers=headers, open_timeout=10)
        assert err.value.response.status_code == 401
        assert json.loads(err.value.response.body)["error"] == "AuthenticationFailed"


def test_other_tenants_dashboard_channel_is_refused(
    server: CookieApiServer, tokens: dict[str, str], ids: dict[str, int]
) -> None:
    with open_ws(server, tokens["viewer"]) as ws:
        assert subscribe(ws, f"dashboard.{ids['acme_dash']}")["type"] == "subscribed"
        foreign = subscribe(ws, f"dashboard.{ids['globex_dash']}")
        missing = subscribe(ws, "dashboard.999999999")
        assert foreign["type"] == missing["type"] == "error"
        assert foreign["field"] == missing["field"] == "channel"
        # Another tenant's dashboard and one that does not exist read the same.
        assert foreign["message"].replace(str(ids["globex_dash"]), "N") == missing["message"].replace(
            "999999999", "N"
        )
        # Messages of another tenant never arrive, even on a channel of the same name.
        channel = channel_name()
        assert subscribe(ws, channel)["type"] == "subscribed"
        bus.publish(server.ctx.redis, ids["globex"], channel, {"secret": 1})
        bus.publish(server.ctx.redis, ids["acme"], channel, {"mine": 1})
        assert recv(ws)["data"] == {"mine": 1}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", "message"),
        ("[1, 2]", "message"),
        ('{"type": "shout"}', "type"),
        ('{"type": "subscribe"}', "channel"),
        ('{"type": "subscribe", "channel": "Ops Tickets"}', "channel"),
        ('{"type": "subscribe", "channel": "' + "x" * 17000 + '"}', "message"),
    ],
)
def test_bad_messages_get_an_error_naming_the_field(
    server: CookieApiServer, tokens: dict[str, str], message: str, field: str
) -> None:
    with open_ws(server, tokens["viewer"]) as ws:
        ws.send(message)
        err = recv(ws)
        assert err["type"] == "error" and err["field"] == field, err
        ws.send(json.dumps({"type": "ping"}))
        assert recv(ws) == {"type": "pong"}  # still open


def test_more_than_100_messages_a_minute_closes_with_1008(
    server: CookieApiServer, tokens: dict[str, str]
) -> None:
    with open_ws(server, tokens["viewer"]) as ws:
        for _ in range(101):
            ws.send(json.dumps({"type": "ping"}))
        answers = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                answers.append(recv(ws))
        assert answers[:100] == [{"type": "pong"}] * 100
        assert answers[100]["type"] == "error" and answers[100]["field"] == "message"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_at_most_50_subscriptions_a_connection(server: CookieApiServer, tokens: dict[str, str]) -> None:
    with open_ws(server, tokens["viewer"]) as ws:
        for i in range(50):
            assert subscribe(ws, f"many.{i}")["type"] == "subscribed"
        assert subscribe(ws, "many.0")["type"] == "subscribed"  # again: no new subscription
        err = subscribe(ws, "many.50")
        assert err["type"] == "error" and err["field"] == "channel" and "50" in err["message"]


def test_session_cookie_works_only_from_the_portals_own_origin(server: CookieApiServer) -> None:
    ctx = server.ctx
    with transaction(ctx.sessions) as s:
        user = s.scalars(select(User).where(User.email == "viewer@acme.example.com")).one()
        _, plain = auth.start_web_session(s, user, hours=1)
    signed = create_signed_value(cookie_secret(ctx.settings), COOKIE, plain).decode()
    cookie = {"Cookie": f"{COOKIE}={signed}"}
    own = f"http://127.0.0.1:{server.port}"
    with connect(ws_url(server), additional_headers=cookie, origin=own, open_timeout=10) as ws:  # type: ignore[arg-type]
        assert recv(ws)["type"] == "welcome"
        assert subscribe(ws, "ops.tickets")["type"] == "subscribed"
    with pytest.raises(InvalidStatus) as err:
        connect(ws_url(server), additional_headers=cookie, origin="https://evil.example", open_timeout=10)  # type: ignore[arg-type]
    assert err.value.response.status_code == 403
    assert json.loads(err.value.response.body)["field"] == "Origin"


# --------------------------------------------------------------------------- POST /api/events
@pytest.mark.parametrize(
    ("channel", "body", "status", "field"),
    [
        ("Bad Channel", {"a": 1}, 400, "channel"),
        ("ops.x", [{"a": 1}, {"a": 2}, {"a": 3}, "four"], 400, "body.3"),
        ("ops.x", [], 400, "body"),
        ("ops.x", 42, 400, "body"),
        ("ops.x", [{"a": i} for i in range(501)], 400, "body"),
        ("ops.x", {"blob": "x" * 300_000}, 413, "body"),
    ],
)
def test_events_api_refusals_name_the_field(
    server: CookieApiServer, tokens: dict[str, str], channel: str, body: Any, status: int, field: str
) -> None:
    r = requests.post(
        f"{server.base}/api/events/{channel}",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {tokens['analyst']}"},
        timeout=10,
    )
    assert r.status_code == status, r.text
    assert r.json()["field"] == field


def test_publishing_on_a_dashboard_channel_needs_edit(
    server: CookieApiServer, tokens: dict[str, str], ids: dict[str, int]
) -> None:
    def post(role: str, channel: str) -> requests.Response:
        return requests.post(
            f"{server.base}/api/events/{channel}",
            json={"x": 1},
            headers={"Authorization": f"Bearer {tokens[role]}"},
            timeout=10,
        )

    assert post("analyst", f"dashboard.{ids['acme_dash']}").status_code == 202  # the demo dashboards' owner
    refused = post("viewer", f"dashboard.{ids['acme_dash']}")  # may view, not edit
    assert refused.status_code == 403 and refused.json()["field"] == "channel"
    foreign = post("admin", f"dashboard.{ids['acme_dash']}")  # another tenant's admin
    assert foreign.status_code == 404 and foreign.json()["field"] == "channel"
    assert requests.post(f"{server.base}/api/events/ops.x", json={}, timeout=10).status_code == 401


# --------------------------------------------------------------------------- SSE
class SseReader:
    """Reads the ``id:``/``data:`` records of a server-sent event stream on a thread."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.retry: str | None = None
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self._conn.request("GET", path, headers=headers)
        self._response = self._conn.getresponse()
        assert self._response.status == 200, self._response.read()
        assert self._response.getheader("Content-Type", "").startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        current: dict[str, str] = {}
        try:
            while line := self._response.readline():
                text = line.decode().rstrip("\r\n")
                if text.startswith("retry:"):
                    self.retry = text[6:].strip()
                elif text.startswith("id: "):
                    current["id"] = text[4:]
                elif text.startswith("data: "):
                    current["data"] = text[6:]
                elif text == "" and "data" in current:
                    self.events.append((current["id"], json.loads(current["data"])))
                    current = {}
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass  # closed by the test (http.client may fail either way mid-read)

    def wait_for(self, n: int, timeout: float = 10) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while len(self.events) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.events)

    def close(self) -> None:
        # Shut the socket down: the reading thread returns at once instead of at the next keep-alive.
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        self._thread.join(5)


def test_sse_resumes_from_last_event_id_with_exactly_the_missed_events(
    server: CookieApiServer, tokens: dict[str, str], ids: dict[str, int]
) -> None:
    ctx, tenant, dash = server.ctx, ids["acme"], ids["acme_dash"]
    with ctx.sessions() as s:
        wid = s.scalars(select(Widget.id).where(Widget.dashboard_id == dash)).first()
    first = bus.publish(ctx.redis, tenant, f"dashboard.{dash}", {"n": 1})
    bus.publish(ctx.redis, tenant, f"widget.{wid}", {"n": 2})
    bus.publish(ctx.redis, tenant, f"dashboard.{dash}", {"n": 3})
    bus.publish(ctx.redis, tenant, "ops.elsewhere", {"n": "not this dashboard's"})
    headers = {"Authorization": f"Bearer {tokens['viewer']}", "Last-Event-ID": first["id"]}
    reader = SseReader(server.port, f"/sse/dashboards/{dash}", headers)
    try:
        missed = reader.wait_for(2)
        assert [e[1]["data"] for e in missed] == [{"n": 2}, {"n": 3}]
        assert [e[1]["channel"] for e in missed] == [f"widget.{wid}", f"dashboard.{dash}"]
        assert reader.retry == "3000"
        time.sleep(0.3)  # the stream is live now: a new event follows, and nothing twice
        bus.publish(ctx.redis, tenant, f"widget.{wid}", {"n": 4})
        events = reader.wait_for(3)
        assert [e[1]["data"] for e in events] == [{"n": 2}, {"n": 3}, {"n": 4}]
        assert [e[0] for e in events] == [e[1]["id"] for e in events]
    finally:
        reader.close()
    # ?last_event_id= works too; a malformed one is a 400 naming it; no credentials: 401.
    r = requests.get(
        f"{server.base}/sse/dashboards/{dash}?last_event_id=nope",
        headers={"Authorization": f"Bearer {tokens['viewer']}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["field"] == "last_event_id"
    assert requests.get(f"{server.base}/sse/dashboards/{dash}", timeout=10).status_code == 401
    foreign = requests.get(
        f"{server.base}/sse/dashboards/{ids['globex_dash']}",
        headers={"Authorization": f"Bearer {tokens['viewer']}"},
        timeout=10,
    )
    assert foreign.status_code == 404


def test_stream_ids_are_ordered_across_a_tenants_channels(
    server: CookieApiServer, ids: dict[str, int]
) -> None:
    redis, tenant = server.ctx.redis, ids["acme"]
    got = [bus.publish(redis, tenant, f"order.{i % 3}", {"i": i})["id"] for i in range(30)]
    assert got == sorted(got, key=bus.id_key) and len(set(got)) == 30
    kept = bus.history(redis, tenant, "order.1", after_id=got[0])
    assert [e.data["i"] for e in kept] == list(range(1, 30, 3))
    assert [e.data["i"] for e in bus.history(redis, tenant, "order.2", limit=2)] == [26, 29]


# --------------------------------------------------------------------------- subscriber and simulator
def test_subscriber_reconnects_after_redis_drops_it(server: CookieApiServer, ids: dict[str, int]) -> None:
    redis = server.ctx.redis
    subscriber = bus.Subscriber(server.ctx.redis_url, min_backoff=0.05, max_backoff=0.2)
    got: list[bus.Event] = []
    channel = channel_name()
    subscriber.add(ids["acme"], channel, got.append)
    try:
        assert subscriber.wait_connected(10)
        bus.publish(redis, ids["acme"], channel, {"n": 1})
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
        redis.client_kill_filter(_type="pubsub")  # what a Redis restart or a proxy timeout does
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # published until the new subscription hears one
            bus.publish(redis, ids["acme"], channel, {"n": 2})
            if any(e.data == {"n": 2} for e in got):
                break
            time.sleep(0.05)
        data = [e.data for e in got]
        assert data[0] == {"n": 1} and {"n": 2} in data
        assert subscriber.reconnects >= 1
    finally:
        subscriber.stop()


def test_simulator_publishes_tickets_and_queues_for_demo_tenants(
    server: CookieApiServer, ids: dict[str, int]
) -> None:
    from portal.demo.simulator import QUEUES, Simulator, live_tenant_ids

    with server.ctx.sessions() as s:
        tenants = live_tenant_ids(s)
    assert tenants == sorted([ids["acme"], ids["globex"]])  # both demo tenants have "Live operations"
    sim = Simulator(server.ctx.redis, tenants[:1], seed=7)
    for second in range(5):
        sim.step(now=1_800_000_000.0 + second)
    tickets = bus.history(server.ctx.redis, tenants[0], "ops.tickets", limit=5)
    queues = bus.history(server.ctx.redis, tenants[0], "ops.queues", limit=1)
    assert len(tickets) == 5
    last = tickets[-1].data
    assert set(last) == {"ts", "opened", "closed", "opened_per_min", "closed_per_min", "open"}
    assert last["opened_per_min"] == sum(e.data["opened"] for e in tickets)
    sizes = {r["queue"]: r["size"] for r in queues[-1].data["rows"]}
    assert list(sizes) == list(QUEUES) and sum(sizes.values()) == last["open"]


def test_a_share_link_hears_only_the_channels_of_what_it_shows(
    server: CookieApiServer, tokens: dict[str, str], ids: dict[str, int]
) -> None:
    from portal.models import Widget

    with server.ctx.sessions() as s:
        live = s.scalars(
            select(Dashboard.id).where(
                Dashboard.tenant_id == ids["acme"], Dashboard.name == "Live operations"
            )
        ).one()
        followed = s.scalars(
            select(Widget.realtime_channel).where(
                Widget.dashboard_id == live, Widget.realtime_channel.is_not(None)
            )
        ).first()
    assert followed
    analyst = {"Authorization": f"Bearer {tokens['analyst']}"}
    made = requests.post(
        f"{server.base}/api/share",
        json={"object_type": "dashboard", "object_id": live},
        headers=analyst,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    link = made.json()
    # An embedding page of another site connects with the link itself (never with a cookie).
    foreign = "https://intranet.example.com"
    with connect(
        ws_url(server, f"?share={link['token']}"),
        origin=foreign,  # type: ignore[arg-type]
        open_timeout=10,
    ) as ws:
        assert recv(ws)["type"] == "welcome"
        assert subscribe(ws, followed) == {"type": "subscribed", "channel": followed}
        assert subscribe(ws, f"dashboard.{live}")["type"] == "subscribed"
        for other in (channel_name(), f"dashboard.{ids['acme_dash']}", f"dashboard.{ids['globex_dash']}"):
            refused = subscribe(ws, other)
            assert refused["type"] == "error" and refused["field"] == "channel", refused
    requests.delete(f"{server.base}/api/share/{link['id']}", headers=analyst, timeout=30)
    with pytest.raises(InvalidStatus) as err:
        connect(ws_url(server, f"?share={link['token']}"), open_timeout=10)
    assert err.value.response.status_code == 401
