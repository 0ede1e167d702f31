"""Portals for tests: the REST API in a background thread, or a whole ``conductor serve`` in a child process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import requests
from tornado.httpserver import HTTPServer
from tornado.web import Application

import jobs.runtime
from portal.infra.redis_server import free_port
from portal.jobqueue.workers import BackgroundWorkers
from portal.web.api import routes

#: The checkout under test: child processes import this code, not whatever is installed.
ROOT = Path(__file__).resolve().parents[2]


class ApiServer:
    """The API routes of an AppContext served by Tornado in a thread."""

    def __init__(self, ctx: Any, *, workers: bool = True) -> None:
        self.ctx = ctx
        # Jobs the API submits run in worker threads of this process, on the context's Redis.
        self._workers = BackgroundWorkers(ctx.redis_url) if workers and ctx.redis_url else None
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: HTTPServer | None = None

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        from portal.web.pub import PubDocHandler, PubWSHandler, pub_routes

        # The share links' file viewers and their 404s (the page viewers need the Panel server).
        public = [r for r in pub_routes(self.ctx) if r[1] not in (PubDocHandler, PubWSHandler)]
        app = Application([*public, *routes(self.ctx)])
        self._server = HTTPServer(app)
        self._server.listen(self.port, "127.0.0.1")
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> ApiServer:
        if self._workers is not None:
            jobs.runtime.use_context(self.ctx)
            self._workers.start()
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop and self._server:
            self._loop.call_soon_threadsafe(self._server.stop)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self._workers is not None:
            self._workers.stop()
            jobs.runtime.use_context(None)

    def login(self, email: str, password: str) -> requests.Session:
        """A session carrying a fresh API token of that user."""
        return self.session(self.token(email, password))

    def token(self, email: str, password: str) -> str:
        """A fresh API token of that user (``POST /api/tokens``)."""
        return issue_token(self.base, email, password)

    def session(self, token: str | None = None) -> requests.Session:
        s = requests.Session()
        if token:
            s.headers["Authorization"] = f"Bearer {token}"
        return s


def issue_token(base: str, email: str, password: str) -> str:
    """An API token from the portal at ``base``, signing in with e-mail and password."""
    r = requests.post(
        f"{base}/api/tokens", json={"email": email, "password": password, "name": "test"}, timeout=30
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


class PortalProcess:
    """``conductor serve`` in a child process on a free loopback port: a real, separate portal.

    Its settings are its environment, as in production: ``CONDUCTOR_HOME`` (its
    metadata database, warehouse and secret live there unless ``env`` says
    otherwise) and whatever ``env`` adds. Nothing leaks in from the test process
    (no ``DATABASE_URL`` of another test). The server log is ``home/server.log``.
    """

    def __init__(self, home: Path, *, workers: bool = False, **env: str) -> None:
        self.home = home
        # The job processes (a worker per pool, the scheduler) only when a test needs them.
        self.serve_args = ("serve",) if workers else ("serve", "--no-workers")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        inherited = ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "CONDUCTOR_URL", "CONDUCTOR_TOKEN")
        self.env = {k: v for k, v in os.environ.items() if k not in inherited}
        self.env.update(
            CONDUCTOR_HOME=str(home),
            CONDUCTOR_PORT=str(self.port),
            CONDUCTOR_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
            **env,
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run ``conductor ARGS`` with the portal's environment; its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", "portal.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"conductor {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self, timeout: float = 60) -> PortalProcess:
        """Start serving; returns once ``/healthz`` answers 200."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", *self.serve_args],
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or busy starting its job processes: ask again
            except BaseException:
                self.stop()  # never leave a portal (and its workers) running behind a failed start
                raise
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the portal did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, as a service manager would; waits for the exit. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
