"""Conductor BI core. In a notebook: ``import portal; conn = portal.connect(url, token=...)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["BaseConnection", "Connection", "HttpConnection", "Query", "QuerySpec", "connect"]

if TYPE_CHECKING:
    from portal.client import BaseConnection, Connection, HttpConnection, Query, connect
    from portal.specs import QuerySpec

_CLIENT = ("BaseConnection", "Connection", "HttpConnection", "Query", "connect")


def __getattr__(name: str) -> Any:
    # Lazy, so `import portal.config` in a worker does not pull pandas and SQLAlchemy.
    if name in _CLIENT:
        from portal import client

        return getattr(client, name)
    if name == "QuerySpec":
        from portal.specs import QuerySpec

        return QuerySpec
    raise AttributeError(f"module 'portal' has no attribute {name!r}")
