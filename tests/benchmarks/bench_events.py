"""Analytics events ingest benchmark (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_events [--seconds 120] [--clients 4] [--batch 1000]

A real ``conductor serve`` (SQLite metadata, demo accounts, no job processes) on a Redis owned
by this script. ``--clients`` concurrent HTTP clients (threads spread over two processes, bodies
serialised before the clock starts) post batches of ``--batch`` events, ~1% of them ids already
sent (duplicates), to ``POST /api/events`` for ``--seconds``: events/min accepted (dedup on,
fsync per batch), p50/p99 request latency. Baselines in the same run, same ids and bytes: a
bare Redis SMISMEMBER + SADD pipeline (the dedup alone) and a bare file append + fsync per
batch (the raw log alone). Targets (issue 12): 1,000,000 events/min; seed 001: 10,000/min.

:func:`events_rows` returns the table rows so ``bench_ingest.py`` can print them too.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
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
from portal.models import User
from tests.support.http import PortalProcess

CHANNELS = ("whatsapp", "email", "chat", "phone")


def _template(client: int, size: int) -> bytes:
    """A batch of ``size`` events with ``#CUR#``/``#PRV#`` where the batch numbers go: ~1% of the
    ids repeat ids the previous batch sent as new (its last ones)."""
    dup = max(1, size // 100)
    events = []
    for i in range(size):
        eid = f"c{client}-b#PRV#-{size - 1 - i}" if i < dup else f"c{client}-b#CUR#-{i}"
        events.append(
            {
                "event_id": eid,
                "type": "message_sent",
                "occurred_at": f"2026-12-0{1 + i % 3}T{i % 24:02d}:{i % 60:02d}:00Z",
                "schema_version": 2,
                "dimensions": {
                    "channel": CHANNELS[i % 4],
                    "agent": f"agent-{i % 9}",
                    "ticket_id": f"T#CUR#-{i}",
                },
                "measures": {"duration_sec": i % 300},
                "properties": {"email": f"user{i}@example.com"},
            }
        )
    return json.dumps(events).encode()


def _batch(client: int, n: int, size: int, template: bytes | None = None) -> bytes:
    """Batch ``n`` of client ``client`` (two byte replacements: the clients stay cheap)."""
    body = template if template is not None else _template(client, size)
    return body.replace(b"#CUR#", str(n).encode()).replace(b"#PRV#", str(n - 1).encode())


def _client_proc(base: str, token: str, ids: list[int], size: int, seconds: float, go: Any, out: Any) -> None:
    """Threads posting pre-built bodies until the time is up; puts (accepted, dups, latencies)."""
    templates = {c: _template(c, size) for c in ids}
    results: list[tuple[int, int, list[float], dict[int, int]]] = []

    def run(c: int) -> None:
        s = requests.Session()
        s.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        acc = dup = 0
        lat: list[float] = []
        statuses: dict[int, int] = {}
        n = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = _batch(c, n, size, templates[c])
            t0 = time.perf_counter()
            r = s.post(f"{base}/api/events", data=body, timeout=60)
            lat.append(time.perf_counter() - t0)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 200:
                j = r.json()
                acc += j["accepted"]
                dup += j["duplicates"]
            n += 1
        results.append((acc, dup, lat, statuses))

    go.wait()
    threads = [threading.Thread(target=run, args=(c,)) for c in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(results)


def _bare_redis(redis: Redis, size: int, seconds: float) -> float:
    """Events/min of the dedup alone: SMISMEMBER over a 7-day window + SADD, pipelined."""
    keys = [f"bench:seen:{d}" for d in range(7)]
    n = events = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = [f"x-b{n}-{i}" for i in range(size)]
        pipe = redis.pipeline(transaction=False)
        for k in keys:
            pipe.smismember(k, ids)
        pipe.execute()
        redis.sadd(keys[0], *ids)
        events += size
        n += 1
    return events / seconds * 60


def _dedup_only(redis: Redis, size: int, seconds: float) -> float:
    """Events/min of the portal's dedup scripts alone (portal.events.store.Dedup), no HTTP."""
    from datetime import UTC, datetime

    from portal.events.store import Dedup

    dedup = Dedup(redis, 999_999, datetime.now(UTC))
    n = events = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ids = [f"y-b{n}-{i}" for i in range(size)]
        dedup.known(ids)
        dedup.add(ids)
        events += size
        n += 1
    return events / seconds * 60


def _bare_append(work: Path, size: int, seconds: float) -> float:
    """Events/min of the raw log alone: one file per batch of JSON lines, fsync (file + dir)."""
    body = b"".join(json.dumps(e).encode() + b"\n" for e in json.loads(_batch(0, 1, size)))
    d = work / "bare"
    d.mkdir()
    n = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fd = os.open(d / f"{n}.jsonl", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, body)
        os.fsync(fd)
        os.close(fd)
        dfd = os.open(d, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        n += 1
    return n * size / seconds * 60


def events_rows(seconds: int, clients: int = 4, batch: int = 1000) -> list[tuple[str, str, str]]:
    """Run the benchmark; rows of (measure, value, note)."""
    work = Path(tempfile.mkdtemp(prefix="bench-events-"))
    redis_server = EmbeddedRedis(work / "redis")
    redis_url = redis_server.start()
    portal: PortalProcess | None = None
    try:
        wh = f"duckdb:///{work / 'warehouse.duckdb'}"
        load_warehouse(wh, DemoSize.scaled(0.002), end=date(2026, 11, 1))
        db = f"sqlite:///{work / 'meta.sqlite3'}"
        migrate.upgrade(db)
        engine = make_engine(db)
        with transaction(make_sessionmaker(engine)) as s:
            seed_demo(s)
            user = s.scalars(select(User).where(User.email == "admin@acme.example.com")).one()
            _, token = auth.issue_api_token(s, user, "bench", days=1)
        engine.dispose()
        portal = PortalProcess(
            work / "home", DATABASE_URL=db, WAREHOUSE_URL=wh, REDIS_URL=redis_url, CONDUCTOR_SIMULATOR="0"
        ).start()
        ctx = mp.get_context("fork")
        go, out = ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(
                target=_client_proc,
                args=(portal.base, token, list(range(clients))[i::2], batch, seconds, go, out),
            )
            for i in range(2)
        ]
        for p in procs:
            p.start()
        time.sleep(3.0)  # bodies built before the clock starts
        t0 = time.monotonic()
        go.set()
        results = [r for _ in procs for r in out.get(timeout=seconds + 300)]
        elapsed = time.monotonic() - t0
        for p in procs:
            p.join(30)
        accepted = sum(r[0] for r in results)
        dups = sum(r[1] for r in results)
        lat = np.array([x for r in results for x in r[2]]) * 1000
        requests_n = len(lat)
        statuses: dict[int, int] = {}
        for r in results:
            for code, k in r[3].items():
                statuses[code] = statuses.get(code, 0) + k
        bare_seconds = min(20.0, float(seconds))
        redis = Redis.from_url(redis_url)
        redis_rate = _bare_redis(redis, batch, bare_seconds)
        append_rate = _bare_append(work, batch, bare_seconds)
        dedup_rate = _dedup_only(redis, batch, bare_seconds)
        rate = accepted / elapsed * 60
        return [
            ("events ingest: accepted", f"{rate:,.0f} events/min", f"{clients} clients x {batch}/batch, {elapsed:.0f} s"),
            ("events ingest: duplicates answered", f"{dups:,}", f"~1% sent twice; {requests_n:,} requests, statuses {statuses}"),
            ("events ingest: latency p50 / p99", f"{np.percentile(lat, 50):.0f} / {np.percentile(lat, 99):.0f} ms", "per request of one batch"),
            ("events ingest vs 1M/min target", f"{rate / 1_000_000:.2f}x", "seed 001 asks 10,000/min: " + f"{rate / 10_000:.0f}x"),
            ("baseline: bare Redis dedup", f"{redis_rate:,.0f} events/min", "SMISMEMBER over 7 keys + SADD"),
            ("our dedup scripts alone", f"{dedup_rate:,.0f} events/min", "Dedup.known + Dedup.add, no HTTP"),
            ("baseline: bare append + fsync", f"{append_rate:,.0f} events/min", "one file per batch"),
        ]  # fmt: skip
    finally:
        if portal is not None:
            portal.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args(argv)
    rows = events_rows(args.seconds, args.clients, args.batch)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>22}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>22}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
