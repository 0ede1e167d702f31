"""The analyst client: ``import portal; conn = portal.connect(...)`` in a notebook or a script.

From a laptop, over HTTP with an API token::

    conn = portal.connect("https://portal.example.com", token="cbi_...")

On the server (scripts, jobs), in-process with the portal's own settings::

    conn = portal.connect(token="cbi_...")            # or email=..., password=...

Both connections offer the same methods (:class:`BaseConnection`) and raise the
same :mod:`portal.errors` exceptions; ``portal.Query`` builds the specs for both.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from portal.client.base import BaseConnection, ExecutionFailed
from portal.client.http import DEFAULT_TIMEOUT, HttpConnection, PortalUnavailable, ServerError
from portal.client.query import Query
from portal.config import Settings

if TYPE_CHECKING:
    from portal.client.local import Connection

__all__ = [
    "BaseConnection",
    "Connection",
    "ExecutionFailed",
    "HttpConnection",
    "PortalUnavailable",
    "Query",
    "ServerError",
    "connect",
]


def __getattr__(name: str) -> Any:
    # Lazy: the in-process connection pulls in SQLAlchemy, the services and Redis,
    # which an analyst's laptop talking HTTP never needs to import.
    if name == "Connection":
        from portal.client.local import Connection

        return Connection
    raise AttributeError(f"module 'portal.client' has no attribute {name!r}")


def connect(
    url: str | None = None,
    *,
    token: str | None = None,
    email: str | None = None,
    password: str | None = None,
    settings: Settings | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    verify: bool | str = True,
) -> BaseConnection:
    """Connect as a portal user.

    With a ``url`` (or ``CONDUCTOR_URL``): over HTTP to that portal with an API token
    (``token`` or ``CONDUCTOR_TOKEN``); ``timeout`` (seconds, or ``(connect, read)``)
    and ``verify`` (TLS) apply to it. Without one: in-process, with an API token or
    e-mail and password, and the settings from the environment (``DATABASE_URL``,
    ``WAREHOUSE_URL``, ``REDIS_URL``, ``CONDUCTOR_HOME``) exactly as the portal reads
    them. Get a token with ``conductor create-token --email you@example.com`` or
    ``POST /api/tokens``.
    """
    if url is None and settings is None and not (email or password):
        url = os.environ.get("CONDUCTOR_URL") or None
    token = token or os.environ.get("CONDUCTOR_TOKEN") or None
    if url is not None:
        if email or password or settings is not None:
            from portal.errors import BadRequest

            raise BadRequest(
                "connect(url, token=...): over HTTP only an API token signs in "
                "(e-mail/password and settings are for in-process connections on the server)",
                field="email" if (email or password) else "settings",
            )
        return HttpConnection(url, token, timeout=timeout, verify=verify)
    from portal.client.local import connect_in_process

    return connect_in_process(token=token, email=email, password=password, settings=settings)
