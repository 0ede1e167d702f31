"""Job queue benchmark (not part of the test command; prints a table).

    .venv/bin/python -m tests.benchmarks.bench_jobs [--jobs 2000] [--workers 2] [--latency-jobs 150]
        [--schedules 10000] [--database-url URL] [--keep]

In a temp CONDUCTOR_HOME (a tiny demo warehouse, demo accounts, SQLite metadata unless
``--database-url`` names a PostgreSQL database) with a Redis owned by this script:

(a) throughput: ``--jobs`` no-op jobs through our path — ``submit`` (the ``job_queue`` row),
    ``enqueue``, then ``--workers`` ``conductor worker --pool realtime --burst`` processes whose
    task runs admission (Redis slot sets, limits, usage), moves the mirror queued → running →
    done and records CPU and memory — against bare RQ in the same run: the same number of jobs
    of a bare no-op function enqueued with ``Queue.enqueue`` and worked by the same number of
    ``SimpleWorker --burst`` processes. Jobs/s = jobs / (enqueue + drain); target ours ≥ 0.8×.
(b) start latency of ``realtime`` jobs while the ``batch`` pool is saturated: one batch worker
    busy with 0.5 s jobs (a queue of them longer than the run), one realtime worker, realtime
    no-op jobs submitted every 100 ms; latency = ``started_at - enqueued_at`` from ``job_queue``.
    Target p99 < 1 s.
(c) ``--schedules`` schedules due in the same minute, two ``conductor scheduler --once`` at the
    same time: seconds until both finished (every fire enqueued), fires claimed twice (the
    UNIQUE constraint makes that impossible; counted anyway: schedules with ≠ 1 fire) and RQ
    jobs on the queues. Targets < 60 s, 0 duplicates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, insert, select

from portal.config import Settings
from portal.context import build_context
from portal.demo.accounts import seed_demo
from portal.demo.schema import DemoSize
from portal.demo.warehouse import load_warehouse
from portal.identity.principal import principal_for_user
from portal.infra import migrate
from portal.infra.db import transaction
from portal.infra.redis_server import EmbeddedRedis
from portal.jobqueue import submit
from portal.jobqueue.enqueue import SERIALIZER, queue_name
from portal.models import JobRecord, Report, ReportSchedule, ScheduleFire, User

ROOT = Path(__file__).resolve().parents[2]


def bare_noop(n: int) -> int:
    """The bare-RQ unit of work: nothing."""
    return n


def _env(settings: Settings, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CONDUCTOR_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "WAREHOUSE_URL": settings.warehouse_url,
        "REDIS_URL": redis_url,
        "CONDUCTOR_LOG_LEVEL": "WARNING",
    }


def _procs(argvs: list[list[str]], env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, *a], env=env, cwd=ROOT) for a in argvs]


def _wait(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.wait(3600) != 0:
            raise SystemExit(f"process {p.args} exited with {p.returncode}")


BARE_WORKER = (
    "import sys; from redis import Redis; from rq import Queue, SimpleWorker; "
    "from rq.serializers import JSONSerializer as S; r = Redis.from_url(sys.argv[1]); "
    "SimpleWorker([Queue('bare', connection=r, serializer=S)], connection=r, serializer=S)"
    ".work(logging_level='WARNING')"
)


def _workers_up(redis: Redis, count: int, prefix: str = "") -> None:
    deadline = time.monotonic() + 60
    while len([w for w in Worker.all(connection=redis) if w.name.startswith(prefix)]) < count:
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start within 60 s")
        time.sleep(0.1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(60)


def throughput(ctx: Any, env: dict[str, str], n: int, workers: int, user: User) -> dict[str, float]:
    """(a): jobs/s of our path and of bare RQ, workers started before the clock starts."""
    redis = ctx.redis
    redis.flushdb()
    procs = _procs([["-c", BARE_WORKER, env["REDIS_URL"]] for _ in range(workers)], env)
    try:
        _workers_up(redis, workers)
        q = Queue("bare", connection=redis, serializer=SERIALIZER)
        done = FinishedJobRegistry("bare", connection=redis, serializer=SERIALIZER)
        t0 = time.perf_counter()
        for i in range(n):
            q.enqueue("tests.benchmarks.bench_jobs.bare_noop", i, result_ttl=600)
        bare_enq = time.perf_counter() - t0
        while done.count < n:
            time.sleep(0.01)
        bare_total = time.perf_counter() - t0
    finally:
        _stop(procs)

    redis.flushdb()
    procs = _procs([["-m", "portal.cli", "worker", "--pool", "realtime"] for _ in range(workers)], env)
    try:
        _workers_up(redis, workers, "realtime")
        ids = []
        with ctx.sessions() as s:  # one producer acting for one account (as the scheduler does)
            p = principal_for_user(s, s.get(User, user.id))
        t0 = time.perf_counter()
        for _ in range(n):
            with transaction(ctx.sessions) as s:
                sub = submit(s, p, "report_execute", {}, func="jobs.runtime.noop")
            sub.enqueue(redis)
            ids.append(sub.record.id)
        ours_enq = time.perf_counter() - t0
        deadline = time.monotonic() + 600
        while True:
            with ctx.sessions() as s:
                finished = s.scalar(
                    select(func.count()).where(JobRecord.id.in_(ids), JobRecord.status == "done")
                )
            if finished == n or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        ours_total = time.perf_counter() - t0
    finally:
        _stop(procs)
    if finished != n:
        raise SystemExit(f"only {finished} of {n} jobs ended done")
    return {
        "bare_enqueue_s": bare_enq,
        "bare_total_s": bare_total,
        "bare_jobs_s": n / bare_total,
        "ours_enqueue_s": ours_enq,
        "ours_total_s": ours_total,
        "ours_jobs_s": n / ours_total,
    }


def latency(ctx: Any, env: dict[str, str], n: int, user: User) -> dict[str, float]:
    """(b): realtime start latency with the batch pool saturated."""
    redis = ctx.redis
    redis.flushdb()
    busy = []
    for _ in range(int(n * 0.1 / 0.5) + 40):  # more 0.5 s batch jobs than the run lasts
        with transaction(ctx.sessions) as s:
            p = principal_for_user(s, s.get(User, user.id))
            sub = submit(s, p, "report_schedule", {}, func="jobs.runtime.sleep")
        sub.enqueue(redis, args=[sub.record.id, 0.5])
        busy.append(sub.record.id)
    procs = _procs(
        [
            ["-m", "portal.cli", "worker", "--pool", "batch"],
            ["-m", "portal.cli", "worker", "--pool", "realtime"],
        ],
        env,
    )
    _workers_up(redis, 2)
    # A worker builds its context (engines, warehouse) on its first job: warm the realtime one.
    with transaction(ctx.sessions) as s:
        warm = submit(
            s, principal_for_user(s, s.get(User, user.id)), "report_execute", {}, func="jobs.runtime.noop"
        )
    warm.enqueue(redis)
    while True:
        with ctx.sessions() as s:
            if s.get(JobRecord, warm.record.id).status == "done":
                break
        time.sleep(0.1)
    ids = []
    try:
        for _ in range(n):
            with transaction(ctx.sessions) as s:
                p = principal_for_user(s, s.get(User, user.id))
                sub = submit(s, p, "report_execute", {}, func="jobs.runtime.noop")
            sub.enqueue(redis)
            ids.append(sub.record.id)
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                left = s.scalar(select(func.count()).where(JobRecord.id.in_(ids), JobRecord.status != "done"))
            if not left:
                break
            time.sleep(0.2)
        with ctx.sessions() as s:
            rows = s.execute(
                select(JobRecord.enqueued_at, JobRecord.started_at).where(JobRecord.id.in_(ids))
            ).all()
            running_batch = s.scalar(
                select(func.count()).where(
                    JobRecord.id.in_(busy), JobRecord.status.in_(["running", "queued"])
                )
            )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    lat = sorted((st - en).total_seconds() for en, st in rows if st is not None)
    if len(lat) != n:
        raise SystemExit(f"only {len(lat)} of {n} realtime jobs started")
    return {
        "p50": statistics.median(lat),
        "p99": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))],
        "max": lat[-1],
        "batch_still_busy": float(running_batch or 0),
    }


def schedules(ctx: Any, env: dict[str, str], n: int, user: User) -> dict[str, float]:
    """(c): n schedules due in the same minute, two schedulers."""
    redis = ctx.redis
    redis.flushdb()
    with transaction(ctx.sessions) as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
        start = s.scalar(select(func.coalesce(func.max(ReportSchedule.id), 0)))
        baseline = datetime.now(UTC) - timedelta(hours=1)
        s.execute(
            insert(ReportSchedule),
            [
                {"report_id": rid, "schedule_expr": "* * * * *", "timezone": "UTC", "is_active": True,
                 "delivery_config_json": {}, "offpeak_only": False, "priority": "normal",
                 "created_by": user.id, "last_fire_at": baseline}
                for _ in range(n)
            ],
        )  # fmt: skip
    t0 = time.perf_counter()
    _wait(_procs([["-m", "portal.cli", "scheduler", "--once"] for _ in range(2)], env))
    elapsed = time.perf_counter() - t0
    with ctx.sessions() as s:
        per = s.execute(
            select(ScheduleFire.schedule_id, func.count())
            .where(ScheduleFire.schedule_id > start)
            .group_by(ScheduleFire.schedule_id)
        ).all()
    fired = len(per)
    twice = sum(1 for _, c in per if c != 1)
    queued = sum(Queue(queue_name("batch", p), connection=redis, serializer=SERIALIZER).count
                 for p in ("critical", "high", "normal", "low"))  # fmt: skip
    return {"seconds": elapsed, "fired": float(fired), "duplicates": float(twice), "rq_jobs": float(queued)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--latency-jobs", type=int, default=150)
    ap.add_argument("--schedules", type=int, default=10_000)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", choices=["a", "b", "c"], action="append", help="run only these parts")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    redis_server = EmbeddedRedis(work / "redis")
    url = redis_server.start()
    try:
        wh = f"duckdb:///{work / 'warehouse.duckdb'}"
        load_warehouse(wh, DemoSize.scaled(0.01), end=date(2026, 11, 1))
        db = args.database_url or f"sqlite:///{work / 'meta.sqlite3'}"
        migrate.upgrade(db)
        settings = Settings(home=work / "home", database_url=db, warehouse_url=wh, redis_url=url)
        ctx = build_context(settings)
        with transaction(ctx.sessions) as s:
            seed_demo(s)
        with ctx.sessions() as s:
            user = s.scalars(select(User).where(User.email == "analyst@acme.example.com")).one()
            s.expunge(user)
        env = _env(settings, url)
        backend = "postgresql" if db.startswith("postgresql") else "sqlite"
        print(f"metadata: {backend}; Redis: {redis_server.backend}; workers: {args.workers}", flush=True)

        parts = set(args.only or ["a", "b", "c"])
        a = throughput(ctx, env, args.jobs, args.workers, user) if "a" in parts else None
        b = latency(ctx, env, args.latency_jobs, user) if "b" in parts else None
        c = schedules(ctx, env, args.schedules, user) if "c" in parts else None
        ctx.close()
    finally:
        redis_server.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print()
    print("| measure | ours | baseline (same run) | ratio | target | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    if a is not None:
        ratio = a["ours_jobs_s"] / a["bare_jobs_s"]
        print(f"| (a) no-op jobs/s, {args.jobs} jobs, {args.workers} workers | {a['ours_jobs_s']:.0f} "
          f"(all done {a['ours_total_s']:.1f} s; enqueue {a['ours_enqueue_s']:.1f} s) | bare RQ {a['bare_jobs_s']:.0f} "
          f"(all done {a['bare_total_s']:.1f} s; enqueue {a['bare_enqueue_s']:.1f} s) | {ratio:.2f} | ≥ 0.8 | "
          f"{'yes' if ratio >= 0.8 else 'no'} |")  # fmt: skip
    if b is not None:
        print(f"| (b) realtime start latency, batch saturated ({args.latency_jobs} jobs) | p50 {b['p50'] * 1000:.0f} ms, "
          f"p99 {b['p99'] * 1000:.0f} ms, max {b['max'] * 1000:.0f} ms | – | – | p99 < 1 s | "
          f"{'yes' if b['p99'] < 1 else 'no'} |")  # fmt: skip
    if c is not None:
        print(f"| (c) {args.schedules} schedules due, 2 schedulers | {c['seconds']:.1f} s until all enqueued; "
          f"{c['fired']:.0f} fired, {c['duplicates']:.0f} duplicates, {c['rq_jobs']:.0f} RQ jobs | – | – | "
          f"< 60 s, 0 dup | {'yes' if c['seconds'] < 60 and c['duplicates'] == 0 and c['fired'] == args.schedules else 'no'} |")  # fmt: skip
    if b is not None:
        print(
            f"\n(batch jobs still queued or running when the latency run ended: {b['batch_still_busy']:.0f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
