"""Conductor BI core. In a notebook: ``import portal; conn = portal.connect(token=...)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Connection", "Query", "QuerySpec", "connect"]

if TYPE_CHECKING:
    from portal.client import Connection, Query, connect
    from portal.specs import QuerySpec


def __getattr__(name: str) -> Any:
    # Lazy, so `import portal.config` in a worker does not pull pandas and SQLAlchemy.
    if name in ("Connection", "Query", "connect"):
        from portal import client

        return getattr(client, name)
    if name == "QuerySpec":
        from portal.specs import QuerySpec

        return QuerySpec
    raise AttributeError(f"module 'portal' has no attribute {name!r}")
