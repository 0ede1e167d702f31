"""Engines and sessions. Built once per process by an entry point; the caller owns transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite gets foreign keys and WAL, PostgreSQL pre-ping."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
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
