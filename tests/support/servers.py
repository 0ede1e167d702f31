"""Real servers for integration tests: a throwaway PostgreSQL cluster (Redis: portal.infra.redis_server).

Kept out of conftest.py so fixtures stay one-liners and notebooks/benchmarks can
reuse the same helpers.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from portal.infra.redis_server import free_port

MISSING_BINARIES = (
    "PostgreSQL server binaries not found: run the test command from README "
    "(it installs postgresql via apt-get)"
)


def find_pg_bindir() -> Path:
    """Directory holding initdb/pg_ctl: Debian's highest /usr/lib/postgresql/N/bin, else PATH."""

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", Path(path).parent.parent.name))

    candidates = [p for p in glob.glob("/usr/lib/postgresql/*/bin/initdb") if os.access(p, os.X_OK)]
    if candidates:
        return Path(max(candidates, key=version)).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        # pg_config also comes with libpq-dev alone: only trust it if initdb is really there.
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(MISSING_BINARIES)


class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir, on a free loopback port, tuned for speed not safety.

    As root, PostgreSQL refuses to run, so the cluster runs as the ``postgres``
    OS user (created by the Debian package) in a directory chowned to it.
    """

    def __init__(self) -> None:
        self.bindir = find_pg_bindir()
        self.port: int | None = None
        self.root = Path(tempfile.mkdtemp(prefix="conductor-pg-"))  # short path: unix socket limit
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            self._run_as = {"user": "postgres", "group": "postgres"}
            try:
                shutil.chown(self.root, "postgres", "postgres")
            except LookupError as exc:
                shutil.rmtree(self.root, ignore_errors=True)
                raise RuntimeError(f"running as root but there is no 'postgres' OS user: {exc}") from exc

    def _pg(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        # cwd=root: the postgres user may not be allowed into the caller's cwd.
        done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, check=False, **self._run_as)
        if done.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            output = f"{done.stdout}{done.stderr}{tail}"
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{output}")

    def start(self) -> ThrowawayPostgres:
        """initdb + pg_ctl start; returns self once it accepts connections."""
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--locale=C.UTF-8", "--no-sync", "--no-instructions")  # fmt: skip
        atexit.register(self.stop)
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("include = 'conductor.conf'\n")
        for attempt in range(3):  # free_port() can race with another process: retry on a new port
            self.port = free_port()
            conf = (
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                # A throwaway cluster: durability buys nothing and costs seconds per test run.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
            (self.data / "conductor.conf").write_text(conf)
            try:
                self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")
                return self
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                    raise
        return self

    def pause(self) -> None:
        """Stop the server but keep its data (a database outage); :meth:`resume` brings it back."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the paused server again on the same port."""
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of ``dbname`` on this cluster (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)  # fmt: skip

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a database (a unique name if none) and return its SQLAlchemy URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self._admin() as conn:
            conn.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the cluster and delete its directory. Idempotent."""
        atexit.unregister(self.stop)
        if self.port is not None and (self.data / "postmaster.pid").exists():
            # immediate: nothing here is worth a clean checkpoint.
            with contextlib.suppress(RuntimeError):  # already dead: just clean up
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.port = None
        shutil.rmtree(self.root, ignore_errors=True)
