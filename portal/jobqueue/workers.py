"""Worker processes of ``conductor worker``: one pool's queues, in priority order, JSON serializer.

The worker class is RQ's :class:`~rq.SimpleWorker`: it runs each job in the worker process
instead of forking a work horse per job. A fork per job would throw away what a worker builds
once — the application context (engines, warehouse) and, for PDF renders, the Kaleido process
(~1.6 s to start) — and rebuild it for every job. The price: a job that crashes the interpreter
takes its worker down (a pool with ``-n`` starts a new one; RQ re-delivers the job through its
abandoned-job handling). ``job_timeout`` still applies (SIGALRM in the worker's main thread).

Every worker runs RQ's scheduler (``with_scheduler=True``), so jobs put off with ``enqueue_at``
(deferred jobs, retries with backoff) move to their queue when due; RQ's lock makes one worker
at a time do it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from redis import Redis
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty
from rq.worker_pool import WorkerPool

from portal.errors import BadRequest
from portal.jobqueue.enqueue import SERIALIZER, queues_for
from portal.specs.jobs import Pool

log = logging.getLogger(__name__)


def worker_name(pool: str) -> str:
    """A unique, readable worker name: ``realtime-host-1234-ab12cd`` (shown in the job monitor)."""
    return f"{pool}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def make_worker(pool: str, connection: Redis, *, name: str | None = None) -> SimpleWorker:
    """A worker on ``pool``'s queues (critical > high > normal > low) with the JSON serializer."""
    return SimpleWorker(
        queues_for(Pool(pool).value, connection),
        connection=connection,
        serializer=SERIALIZER,
        name=name or worker_name(pool),
    )


class _NamedPool(WorkerPool):
    """RQ's pool, with workers named after their pool (the job monitor shows who ran a job)."""

    def __init__(self, pool: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool

    def get_worker_process(
        self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"
    ) -> Any:
        readable = f"{self.pool}-{socket.gethostname()}-{name[:8]}"
        return super().get_worker_process(readable, burst, _sleep=_sleep, logging_level=logging_level)


def run_workers(redis_url: str, pool: str, *, count: int = 1, burst: bool = False) -> int:
    """Run ``count`` workers on ``pool`` until stopped (SIGINT/SIGTERM) or, with ``burst``, idle.

    One worker runs in this process; more run as a :class:`~rq.worker_pool.WorkerPool` of
    forked processes (each builds its own context on its first job: nothing is shared across
    the fork). Returns the process exit code.
    """
    if count < 1:
        raise BadRequest(f"n: at least one worker process, got {count}", field="n")
    connection = Redis.from_url(redis_url)
    try:
        if count == 1:
            make_worker(pool, connection).work(burst=burst, with_scheduler=True)
            return 0
        workers = _NamedPool(
            pool,
            queues_for(Pool(pool).value, connection),
            connection=connection,
            num_workers=count,
            worker_class=SimpleWorker,
            serializer=SERIALIZER,
        )
        workers.start(burst=burst)
        return 0
    finally:
        connection.close()


class ThreadWorker(SimpleWorker):
    """A :class:`~rq.SimpleWorker` that can run outside the main thread.

    Signal handlers can only be installed by the main thread, and ``job_timeout`` then needs
    RQ's timer-based death penalty instead of SIGALRM. For processes whose main thread is busy
    with something else: a notebook kernel, an embedded test portal.
    """

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass  # the owner of the process handles signals; stop() ends the loop


class BackgroundWorkers:
    """One :class:`ThreadWorker` per pool in daemon threads of this process, polling in bursts.

    Each round is a burst (with RQ's scheduler step, so jobs put off with ``enqueue_at`` move
    when due) followed by ``interval`` seconds of sleep: no forked scheduler process, and
    :meth:`stop` returns within a round.
    """

    def __init__(self, redis_url: str, pools: tuple[str, ...] = ("realtime", "batch"), interval: float = 0.5):
        self.redis_url = redis_url
        self.pools = pools
        self.interval = interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, pool: str) -> None:
        connection = Redis.from_url(self.redis_url)
        worker = ThreadWorker(
            queues_for(Pool(pool).value, connection),
            connection=connection,
            serializer=SERIALIZER,
            name=f"{pool}-thread-{os.getpid()}-{uuid.uuid4().hex[:6]}",
        )
        try:
            while not self._stop.is_set():
                try:
                    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
                except Exception:  # Redis restarting: try again next round
                    log.exception("background worker %s: round failed", worker.name)
                self._stop.wait(self.interval)
        finally:
            connection.close()

    def start(self) -> BackgroundWorkers:
        """Start one thread per pool."""
        for pool in self.pools:
            t = threading.Thread(target=self._loop, args=(pool,), name=f"rq-{pool}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop after the current round (a running job finishes first)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []
