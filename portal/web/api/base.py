"""What every REST handler shares: JSON in and out, bearer-token authentication, errors as JSON.

Handlers are thin: parse, authenticate, call a service inside one
transaction on a worker thread, serialise. Every error is JSON with a 4xx
status naming the bad field; nothing reaches the client as a traceback.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import pandas as pd
from pydantic import ValidationError
from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler

from portal.context import AppContext
from portal.data.catalog import Catalog
from portal.errors import AuthenticationFailed, BadRequest, InvalidSpec, PortalError
from portal.identity import auth
from portal.identity.principal import Identify, Principal, principal_for_user, principal_transaction
from portal.infra.db import transaction
from portal.infra.metrics import HTTP_REQUESTS
from portal.sharing import tokens as share_tokens
from portal.specs import invalid_from_validation
from portal.web.jsonsafe import parse_json

log = logging.getLogger(__name__)
T = TypeVar("T")


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, set | frozenset):
        return sorted(o)
    return str(o)


def frame_payload(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and rows of a frame as JSON-safe values (ISO dates, null for NaN)."""
    doc: dict[str, Any] = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return {"columns": doc["columns"], "rows": doc["data"]}


class BaseHandler(RequestHandler):
    """JSON in, JSON out, errors as JSON, services on a thread."""

    ctx: AppContext
    route: str = "?"

    def initialize(self, ctx: AppContext, route: str = "?") -> None:
        self.ctx = ctx
        self.route = route
        self.request_id = self.request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex[:16]

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    def on_finish(self) -> None:
        HTTP_REQUESTS.labels(self.request.method or "?", self.route, str(self.get_status())).inc()

    # -- input -----------------------------------------------------------
    def catalog(self, principal: Principal, session: Session | None = None) -> Catalog:
        """What ``principal`` may query: the warehouse's sources and their tenant's own."""
        return self.ctx.warehouse.catalog_for(principal.scope.tenant_key, session)

    def body(self, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The JSON object body; 400 naming the problem otherwise.

        With ``allowed``, any other key is a 400 naming it: a misspelt field is
        reported, never silently dropped.
        """
        if not self.request.body:
            return {}
        data = parse_json(self.request.body, "body")
        if not isinstance(data, dict):
            raise BadRequest("body: must be a JSON object", field="body")
        if allowed is not None:
            for key in data:
                if key not in allowed:
                    expected = ", ".join(allowed) if allowed else "no body"
                    raise BadRequest(f"{key}: unknown field (expected {expected})", field=key)
        return data

    def client_ip(self) -> str:
        """The peer address (the server sets xheaders only behind a trusted proxy)."""
        return str(self.request.remote_ip or "?")

    def bearer(self) -> Identify:
        """Identifies the caller by the bearer token (401 without a valid one), inside the transaction."""
        header = self.request.headers.get("Authorization", "")
        if header.startswith("Share "):
            return self._share_link(header[6:].strip())
        if not header.startswith("Bearer "):
            raise AuthenticationFailed(
                "send an API token as 'Authorization: Bearer <token>' (POST /api/tokens)"
            )
        plain = header[7:].strip()
        return lambda session: principal_for_user(session, auth.user_for_token(session, plain))

    def _share_link(self, plain: str) -> Identify:
        """``Authorization: Share <token>``: the link's principal, through the same gate as users."""
        agent = self.request.headers.get("User-Agent", "")
        return share_tokens.link_identity(
            plain, ip=self.client_ip(), user_agent=agent, path=self.request.path
        )

    # -- execution ---------------------------------------------------------
    async def call(self, fn: Callable[[Session, Principal], T], *, authenticated: bool = True) -> T:
        """Run ``fn(session, principal)`` in one transaction on a worker thread.

        The principal is the bearer token's; ``authenticated=False`` (signing in for a token)
        passes None.
        """

        def work() -> T:
            if not authenticated:
                with transaction(self.ctx.sessions) as session:
                    return fn(session, None)  # type: ignore[arg-type]
            with principal_transaction(self.ctx.sessions, self.bearer()) as (session, principal):
                return fn(session, principal)

        return await IOLoop.current().run_in_executor(None, work)

    def send(self, payload: Any, status: int = 200) -> None:
        """Write a JSON response."""
        self.set_status(status)
        self.finish(json.dumps(payload, default=_json_default))

    # -- errors ------------------------------------------------------------
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, PortalError):
            body = exc.to_dict()
        elif isinstance(exc, HTTPError):
            body = {"error": "HTTPError", "message": exc.log_message or self._reason}
        else:
            body = {"error": "InternalError", "message": f"unexpected error; request id {self.request_id}"}
        body["request_id"] = self.request_id
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, default=_json_default))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, PortalError | HTTPError):
            log.info("%s %s -> %s: %s", self.request.method, self.request.path, self.get_status(), value)
        else:
            log.error("request %s failed", self.request_id, exc_info=(typ, value, tb))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, ValidationError):
            e = invalid_from_validation(e, "body")
        if isinstance(e, PortalError):
            if self._finished:
                return
            self.log_exception(type(e), e, e.__traceback__)
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)


class NotFoundHandler(BaseHandler):
    """Every other ``/api/...`` path: a JSON 404 rather than Tornado's HTML page."""

    def prepare(self) -> None:
        raise HTTPError(404, "no such endpoint: %s %s", self.request.method, self.request.path)


def path_id(value: str, name: str = "id") -> int:
    """An object id from the URL path; 422 naming ``name`` when it is not a usable integer."""
    try:
        n = int(value)
    except ValueError:
        raise InvalidSpec(f"{name}: must be an integer", field=name) from None
    if not 0 < n < 2**62:
        raise InvalidSpec(f"{name}: out of range", field=name)
    return n
