"""Real-time bus benchmark (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_realtime [--connections 500] [--rate 10000]
        [--seconds 30] [--channels 1] [--client-procs 2] [--measured 100] [--keep]

A real ``conductor serve`` (SQLite metadata, demo accounts, the simulator off) on a Redis owned
by this script. ``--connections`` WebSocket clients (a lean asyncio client, spread
over ``--client-procs`` processes) authenticate with an API token on ``/realtime`` and subscribe to
``--channels`` channels (1: every client on one channel, each event fanned out to all of them);
then ``--rate`` events a minute are published for ``--seconds`` through
:func:`portal.realtime.bus.publish`. Push latency = client receive time - the message's ``ts``
(publish time; same machine, same clock). Baseline in the same run: a bare redis-py pub/sub
subscriber on the same Redis channel, measuring the same way while the load runs — what Redis
alone costs. Server memory: the server's RSS with the clients connected and subscribed minus
its RSS before, per 100 connections. Messages not received are reported next to the server's
own count of coalesced messages (a slow client gets the latest per channel, by design).

Targets (issue 11): 500+ connections, 10k events/min, p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import struct
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import requests
from redis import Redis
from sqlalchemy import select

from portal.demo.accounts import seed_demo
from portal.demo.schema import DemoSize
from portal.demo.warehouse import load_warehouse
from portal.identity import auth
from portal.infra import migrate
from portal.infra.db import make_engine, make_sessionmaker, transaction
from portal.infra.redis_server import EmbeddedRedis
from portal.models import Tenant, User
from portal.realtime import bus
from portal.realtime.channels import pubsub_channel
from tests.support.http import PortalProcess


def _ts_of(raw: str) -> float:
    i = raw.find('"ts":')
    return float(raw[i + 5 : raw.index(",", i)])


def _masked_text(payload: bytes) -> bytes:
    """A client's text frame (clients must mask what they send)."""
    mask = os.urandom(4)
    n = len(payload)
    header = struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class _LeanClient(asyncio.Protocol):
    """A minimal WebSocket client: the load generator must be much cheaper than the server.

    The ``websockets`` library costs tens of microseconds a message in Python: 500 clients of one
    channel at 10k events/min (83k messages/s) saturated two client processes long before the
    server, and their backlog was measured as latency. This one parses frame headers only, and
    reads the ``ts`` of the messages of the clients that measure (``measure``).
    """

    def __init__(self, host: str, path: str, channel: str, measure: bool, state: dict[str, Any]) -> None:
        self.host, self.path, self.channel, self.measure, self.state = host, path, channel, measure, state
        self.buf = bytearray()
        self.upgraded = False
        self.subscribed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.subscribed.set_exception(RuntimeError(bytes(self.buf[:200]).decode(errors="replace")))
                return
            del self.buf[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(
                _masked_text(json.dumps({"type": "subscribe", "channel": self.channel}).encode())
            )
        buf, pos, n = self.buf, 0, len(self.buf)
        now = time.time()
        while n - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + length:
                break
            start = pos + head
            pos = start + length
            if opcode == 0x9 and self.transport is not None:  # ping: answer, or the server closes us
                self.transport.write(b"\x8a\x80" + os.urandom(4))
                continue
            if opcode != 0x1:
                continue
            if buf[start + 9 : start + 14] == b"event":  # '{"type":"event"...'
                self.state["received"] += 1
                if self.measure:
                    i = buf.find(b'"ts":', start, pos)
                    self.state["latencies"].append(now - float(buf[i + 5 : buf.index(b",", i, pos)]))
            elif b'"subscribed"' in buf[start : start + 30] and not self.subscribed.done():
                self.subscribed.set_result(None)
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(exc or RuntimeError("closed"))


def _client_proc(
    port: int, path: str, channels: list[str], measured: int, ready: Any, go_home: Any, out: Any
) -> None:
    """A process of clients: connect, subscribe, report ready, receive until told to stop."""
    state: dict[str, Any] = {"received": 0, "latencies": []}
    failures = 0

    async def run() -> None:
        nonlocal failures
        loop = asyncio.get_running_loop()
        clients: list[_LeanClient] = []
        for i, channel in enumerate(channels):
            try:
                _, client = await loop.create_connection(
                    lambda c=channel, m=i < measured: _LeanClient("127.0.0.1", path, c, m, state),
                    "127.0.0.1",
                    port,
                )
                await asyncio.wait_for(client.subscribed, 60)
                clients.append(client)
                with ready.get_lock():
                    ready.value += 1
            except Exception as exc:  # counted, not fatal: the table says how many failed
                failures += 1
                print(f"client failed: {type(exc).__name__}: {exc}", flush=True)
        while not go_home.is_set():
            await asyncio.sleep(0.2)
        # The last messages in flight: until nothing arrived for a second (at most 60 s).
        last, deadline = -1, time.monotonic() + 60
        while state["received"] != last and time.monotonic() < deadline:
            last = state["received"]
            await asyncio.sleep(1.0)
        for c in clients:
            if c.transport is not None:
                c.transport.close()

    asyncio.run(run())
    out.put((np.array(state["latencies"], dtype=np.float64), failures, state["received"]))


def _rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else float("nan")


def _bare_subscriber(
    redis_url: str, channel: str, stop: threading.Event, out: list[float]
) -> threading.Thread:
    """The baseline: a bare redis-py subscriber on the same pub/sub channel."""
    client = Redis.from_url(redis_url)
    ps = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    ps.subscribe(channel)
    ps.get_message(timeout=1)

    def run() -> None:
        while not stop.is_set():
            msg = ps.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                out.append(time.time() - _ts_of(msg["data"].decode()))
        ps.close()
        client.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _pct(values: np.ndarray | list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) * 1000 if len(values) else float("nan")


def _metric(base: str, name: str) -> float:
    total = 0.0
    for line in requests.get(f"{base}/metrics", timeout=30).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _server_buckets(base: str) -> dict[float, float]:
    """The server's own push-latency histogram (publish → written to the socket), cumulative."""
    out: dict[float, float] = {}
    pattern = re.compile(r'conductor_realtime_push_seconds_bucket\{le="([^"]+)",transport="ws"\} (\S+)')
    for line in requests.get(f"{base}/metrics", timeout=30).text.splitlines():
        m = pattern.match(line)
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out


def _bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> str:
    """The histogram bucket holding quantile ``q`` of what was observed between two reads."""
    counts = {le: after.get(le, 0) - before.get(le, 0) for le in sorted(after)}
    total = counts.get(float("inf"), 0)
    if not total:
        return "–"
    lower = 0.0
    for le, cumulative in counts.items():
        if cumulative >= q * total:
            return f"≤ {le * 1000:.0f} ms" if le != float("inf") else f"> {lower * 1000:.0f} ms"
        lower = le
    return "–"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--rate", type=int, default=10_000, help="events per minute")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--measured", type=int, default=100, help="clients that time every message")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-realtime-"))
    redis_server = EmbeddedRedis(work / "redis")
    redis_url = redis_server.start()
    portal: PortalProcess | None = None
    try:
        wh = f"duckdb:///{work / 'warehouse.duckdb'}"
        load_warehouse(wh, DemoSize.scaled(0.002), end=date(2026, 11, 1))  # /healthz wants a warehouse
        db = f"sqlite:///{work / 'meta.sqlite3'}"
        migrate.upgrade(db)
        engine = make_engine(db)
        with transaction(make_sessionmaker(engine)) as s:
            seed_demo(s)
            user = s.scalars(select(User).where(User.email == "analyst@acme.example.com")).one()
            _, token = auth.issue_api_token(s, user, "bench", days=1)
            tenant_id = s.scalars(select(Tenant.id).where(Tenant.id == user.tenant_id)).one()
        engine.dispose()
        portal = PortalProcess(
            work / "home",
            DATABASE_URL=db,
            WAREHOUSE_URL=wh,
            REDIS_URL=redis_url,
            CONDUCTOR_SIMULATOR="0",
            PYTHONMALLOC="malloc",
        ).start()
        assert portal.proc is not None
        pid = portal.proc.pid
        path = f"/realtime?access_token={token}"
        channels = [f"bench.c{i % args.channels}" for i in range(args.connections)]
        print(f"Redis: {redis_server.backend}; {args.connections} connections on {args.channels} channel(s); "
              f"{args.rate} events/min for {args.seconds:.0f} s; {args.client_procs} client processes", flush=True)  # fmt: skip

        requests.get(f"{portal.base}/healthz", timeout=30)
        time.sleep(1.0)
        rss_idle = _rss_mb(pid)
        ctx = mp.get_context("fork")
        ready = ctx.Value("i", 0)
        go_home = ctx.Event()
        out: Any = ctx.Queue()
        # Every client counts what it receives; the first ``--measured`` of each process read the
        # latency of every message (all clients of a channel get the same bytes in the same turn).
        measured = max(1, args.measured // args.client_procs)
        procs = [
            ctx.Process(
                target=_client_proc,
                args=(portal.port, path, channels[i :: args.client_procs], measured, ready, go_home, out),
            )
            for i in range(args.client_procs)
        ]
        t0 = time.monotonic()
        for p in procs:
            p.start()
        while ready.value < args.connections and time.monotonic() - t0 < 180:
            time.sleep(0.2)
        connect_s = time.monotonic() - t0
        connected = ready.value
        time.sleep(2.0)  # the server settles (allocations of the handshakes)
        rss_connected = _rss_mb(pid)
        coalesced_before = _metric(portal.base, "conductor_realtime_discarded_total")
        buckets_before = _server_buckets(portal.base)

        redis = Redis.from_url(redis_url)
        stop = threading.Event()
        bare: list[float] = []
        bare_thread = _bare_subscriber(redis_url, pubsub_channel(tenant_id, "bench.c0"), stop, bare)
        interval = 60.0 / args.rate
        n_events = int(args.seconds * args.rate / 60)
        per_channel = [0] * args.channels
        start = time.monotonic()
        for i in range(n_events):
            due = start + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            c = i % args.channels
            bus.publish(redis, tenant_id, f"bench.c{c}", {"i": i, "queue": "normal", "size": i % 50})
            per_channel[c] += 1
        publish_s = time.monotonic() - start
        rss_loaded = _rss_mb(pid)
        go_home.set()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(30)
        stop.set()
        bare_thread.join(5)
        coalesced = _metric(portal.base, "conductor_realtime_discarded_total") - coalesced_before
        buckets_after = _server_buckets(portal.base)
        redis.close()
    finally:
        if portal is not None:
            portal.stop()
        redis_server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    lat = np.concatenate([r[0] for r in results]) if results else np.array([])
    failures = sum(r[1] for r in results)
    received = sum(r[2] for r in results)
    expected = sum(per_channel[i % args.channels] for i in range(connected))
    per_100 = (rss_connected - rss_idle) / max(connected, 1) * 100
    ok_conn = connected >= 500
    ok_rate = n_events / publish_s * 60 >= 10_000 * 0.98
    ok_p99 = _pct(lat, 99) < 100
    print()
    print(f"events published: {n_events} in {publish_s:.1f} s ({n_events / publish_s * 60:,.0f}/min); "
          f"deliveries expected {expected:,}, received {received:,} ({expected - received:,} not received; "
          f"the server coalesced {coalesced:,.0f}); client failures {failures}")  # fmt: skip
    print()
    print(
        "| measure | ours (WS /realtime via the portal) | baseline: bare redis-py subscriber (same run) | target | met |"
    )
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| connections subscribed | {connected} (all in {connect_s:.1f} s) | 1 | ≥ 500 | {'yes' if ok_conn else 'no'} |"
    )
    print(f"| events/min published | {n_events / publish_s * 60:,.0f} ({args.channels} channel(s); "
          f"{expected / max(publish_s, 1e-9):,.0f} deliveries/s) | same stream | ≥ 10,000 | {'yes' if ok_rate else 'no'} |")  # fmt: skip
    print(
        f"| push latency p50 ({len(lat):,} timed) | {_pct(lat, 50):.1f} ms | {_pct(bare, 50):.2f} ms | – | – |"
    )
    print(f"| push latency p99 | {_pct(lat, 99):.1f} ms (max {_pct(lat, 100):.0f} ms) | {_pct(bare, 99):.2f} ms | "
          f"< 100 ms | {'yes' if ok_p99 else 'no'} |")  # fmt: skip
    print(f"| server RSS per 100 connections | {per_100:.2f} MB (idle {rss_idle:.0f} MB, connected "
          f"{rss_connected:.0f} MB, under load {rss_loaded:.0f} MB) | – | < 2 MB (issue) | {'yes' if per_100 < 2 else 'no'} |")  # fmt: skip
    print(f"| server side only (publish → written to the socket; its histogram) | p50 "
          f"{_bucket_quantile(buckets_before, buckets_after, 0.5)}, p99 {_bucket_quantile(buckets_before, buckets_after, 0.99)}"
          f" | – | – | – |")  # fmt: skip
    if len(bare):
        print(f"\n(baseline received {len(bare)} of the {per_channel[0]} events of its channel; "
              f"mean {statistics.fmean(bare) * 1000:.2f} ms)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
