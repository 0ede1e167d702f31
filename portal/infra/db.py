"""Engines and sessions. Built once per process by an entry point; the caller owns transactions."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from portal.errors import QueryInterrupted, QueryTimeout

log = logging.getLogger(__name__)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite gets foreign keys and WAL, PostgreSQL pre-ping."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL syncs at checkpoints instead of every commit: still consistent after
            # a crash (a power cut may lose the last commits), and a commit costs no fsync.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_warehouse_engine(url: str) -> Engine:
    """An engine on the business-data warehouse.

    DuckDB files take one writer process at a time, so the portal opens them
    read-only; the demo loader opens its own read-write connection.
    """
    if url.startswith("duckdb"):
        return create_engine(url, connect_args={"read_only": True}, poolclass=_duckdb_pool())
    return make_engine(url)


def _duckdb_pool() -> Any:
    from sqlalchemy.pool import QueuePool

    return QueuePool


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


# --------------------------------------------------------------------------- running queries
#: While a stopped query has not returned, it is stopped again this often (an interrupt that
#: lands between two statements, or before the driver started the query, is forgotten).
RESTOP_SECONDS = 0.25


def timeout_message(seconds: float) -> str:
    """What a user reads when a query hit the statement timeout."""
    return (
        f"query took longer than {seconds:g} s and was stopped; narrow the filters or mark the report heavy"
    )


@dataclass(eq=False)
class _Run:
    """One query being watched; ``stop`` and ``finish`` may race from two threads."""

    stop_fn: Callable[[], object] | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    reason: str | None = None  # "timeout" or "interrupt" once stopped
    done: bool = False
    timer: threading.Timer | None = None

    def stop(self, reason: str) -> bool:
        """Stop the query (again) unless it has ended; ``True`` if it was still running."""
        with self.lock:
            if self.done or self.stop_fn is None:
                return False
            self.reason = self.reason or reason
            try:
                self.stop_fn()
            except Exception:  # a failed cancel must not kill the timer thread or the shutdown
                log.warning("could not stop a running warehouse query", exc_info=True)
            self._later(RESTOP_SECONDS, reason)
            return True

    def _later(self, seconds: float, reason: str) -> None:
        self.timer = threading.Timer(seconds, self.stop, (reason,))
        self.timer.daemon = True
        self.timer.start()

    def start_timer(self, seconds: float) -> None:
        with self.lock:
            self._later(seconds, "timeout")

    def finish(self) -> str | None:
        """Mark the query ended (no stop after this) and return why it was stopped, if it was."""
        with self.lock:
            self.done = True
            if self.timer is not None:
                self.timer.cancel()
            return self.reason


def _stop_function(raw: Any, postgres: bool) -> Callable[[], object] | None:
    """How to stop the statement running on a driver connection, from another thread."""
    if postgres:
        if hasattr(raw, "cancel_safe"):  # psycopg >= 3.2: does not block the caller on a dead server
            return functools.partial(raw.cancel_safe, timeout=5.0)
        return getattr(raw, "cancel", None)  # psycopg2, older psycopg
    return getattr(raw, "interrupt", None)  # DuckDB (through duckdb_engine's wrapper), sqlite3


def _stopped_error(exc: BaseException, reason: str | None, timeout: float | None) -> Exception | None:
    """The portal error for a driver error caused by a stop, or ``None`` if it is some other error."""
    orig = getattr(exc, "orig", None) or exc
    if reason is None:
        if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) == "57014":  # query_canceled
            reason = "timeout" if "statement timeout" in str(orig) else "interrupt"
        elif type(orig).__name__ == "InterruptException":  # DuckDB interrupted by someone else
            reason = "interrupt"
    if reason == "timeout":
        if timeout:
            return QueryTimeout(timeout_message(timeout))
        return QueryTimeout(  # a timeout set on the warehouse server itself
            "query took longer than the warehouse allows and was stopped; "
            "narrow the filters or mark the report heavy"
        )
    if reason is not None:
        return QueryInterrupted(
            "the query was stopped (the server is shutting down, or an administrator cancelled it); try again"
        )
    return None


class RunningQueries:
    """The warehouse queries running right now, each under a statement timeout. Thread-safe.

    :meth:`watch` wraps the execution of one query on a connection. On PostgreSQL
    it sets ``SET LOCAL statement_timeout`` in the query's transaction (the server
    stops the statement). On DuckDB and SQLite a timer calls the driver
    connection's ``interrupt()``. Other dialects run without a timeout (set one on
    the server). :meth:`interrupt_all` stops every watched query, for a graceful
    shutdown.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: set[_Run] = set()

    @property
    def count(self) -> int:
        """How many queries are running now."""
        with self._lock:
            return len(self._runs)

    @contextmanager
    def watch(self, conn: Connection, timeout: float | None) -> Iterator[None]:
        """Run the body (one query on ``conn``) under ``timeout`` seconds (``None``/0: no limit).

        A stopped query raises :class:`QueryTimeout` (422) or, after
        :meth:`interrupt_all`, :class:`QueryInterrupted` (503). A DuckDB or SQLite
        connection that was interrupted is discarded from the pool.
        """
        timeout = timeout if timeout and timeout > 0 else None
        postgres = conn.dialect.name == "postgresql"
        if postgres and timeout:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
        run = _Run(_stop_function(conn.connection.driver_connection, postgres))
        with self._lock:
            self._runs.add(run)
        try:
            if timeout and not postgres and run.stop_fn is not None:
                run.start_timer(timeout)
            yield
        except Exception as exc:
            reason = run.finish()
            err = _stopped_error(exc, reason, timeout)
            if err is None:
                raise
            if reason is not None and not postgres:
                conn.invalidate()  # never hand out a connection that may still carry an interrupt
            raise err from exc
        finally:
            run.finish()
            with self._lock:
                self._runs.discard(run)

    def interrupt_all(self) -> int:
        """Stop every query running now (for SIGTERM); returns how many were stopped.

        DuckDB and SQLite get ``interrupt()``, PostgreSQL a cancel request; each
        stopped query raises :class:`QueryInterrupted` in its own thread.
        """
        with self._lock:
            runs = list(self._runs)
        return sum(run.stop("interrupt") for run in runs)
