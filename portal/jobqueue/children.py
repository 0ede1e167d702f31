"""The job processes a portal starts for itself: one worker per pool and the scheduler.

With embedded defaults nothing else runs, so ``conductor serve`` / ``conductor demo`` start
them as child processes sharing the portal's Redis (its URL, embedded or not) and metadata
database, and stop them when the portal stops: queued and scheduled work runs with the
README's first command alone. ``--no-workers`` leaves them out (a deployment that runs
``conductor worker`` and ``conductor scheduler`` under its own supervisor).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: ``conductor`` arguments of each child.
CHILDREN: tuple[tuple[str, ...], ...] = (
    ("worker", "--pool", "realtime"),
    ("worker", "--pool", "batch"),
    ("scheduler",),
)
#: Seconds a child gets to finish after SIGTERM (a worker ends its current job) before SIGKILL.
STOP_GRACE_S = 20.0


@dataclass
class JobProcesses:
    """Running child processes; :meth:`stop` ends them (idempotent)."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """SIGTERM to every child, then wait; SIGKILL what is still running after the grace."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("job process %s did not stop in %.0f s: killed", p.pid, STOP_GRACE_S)
                p.kill()
                p.wait(5)
        self.procs = []


def child_env(
    base: Mapping[str, str], *, redis_url: str, database_url: str, warehouse_url: str
) -> dict[str, str]:
    """The children's environment: the portal's, with the Redis and databases it actually uses."""
    env = dict(base)
    env["REDIS_URL"] = redis_url
    if database_url:
        env["DATABASE_URL"] = database_url
    if warehouse_url:
        env["WAREHOUSE_URL"] = warehouse_url
    return env


def start_job_processes(
    env: Mapping[str, str], children: Sequence[tuple[str, ...]] = CHILDREN
) -> JobProcesses:
    """Start ``conductor <args>`` for each of ``children`` with ``env``; their output is the portal's."""
    started = JobProcesses()
    for args in children:
        # A fixed argv: this interpreter, our own module, arguments from CHILDREN.
        proc = subprocess.Popen([sys.executable, "-m", "portal.cli", *args], env=dict(env))  # noqa: S603
        log.info("started %s (pid %s)", " ".join(args), proc.pid)
        started.procs.append(proc)
    return started


__all__ = ["CHILDREN", "JobProcesses", "child_env", "start_job_processes"]
