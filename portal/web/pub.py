"""Public viewers of share links: ``/pub/{object_type}/{token}``.

Dashboards, widgets, snapshots and reports are Panel pages (the ``/pub/view`` application,
served at the link's own address by :class:`PubDocHandler` and its websocket by
:class:`PubWSHandler`); PDF renders and templates are files (:class:`PubPdfHandler`).

Before anything is shown the link is opened once (:func:`portal.sharing.tokens.open_link`:
state, IP allowlist, sign-in for ``with_login`` links, one use counted, the access logged);
the page then carries a signed grant of that check, and re-checks the token itself on every
data request. Every refusal but "sign in first" is the same 404 page, answered no sooner than
:data:`REFUSAL_FLOOR_S` after the request arrived, so neither the body nor the timing tells an
unknown token from an expired, revoked or used-up one. ``/pub`` is rate limited per address.
The viewers may be framed only by the origins named on the token (CSP ``frame-ancestors``);
no cookie is ever set on a share viewer's answer.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from panel.io.server import DocHandler, WSHandler
from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop
from tornado.web import RequestHandler

from portal.context import AppContext
from portal.errors import NotFound, PortalError, QuotaExceeded
from portal.identity import auth
from portal.infra import ratelimit
from portal.infra.db import transaction
from portal.models import User
from portal.pdf.renders import read_render_file
from portal.sharing import tokens
from portal.sharing.pdf import template_pdf
from portal.web.httpsecurity import PAGE_CSP

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The Panel application that draws shared dashboards, widgets, snapshots and reports.
VIEW_APP = "/pub/view"
PAGE_TYPES = "dashboard|widget|snapshot|report"
FILE_TYPES = "pdf_render|pdf_template"
TOKEN_RE = r"[A-Za-z0-9_-]{20,100}"  # noqa: S105 - the shape of a token, not one
#: Requests per address per minute on /pub (pages, their websockets and files together).
PUB_PER_MINUTE = 120
#: Refusals are answered no sooner than this after the request arrived (same timing for all).
REFUSAL_FLOOR_S = 0.25
REQUEST_GRANT = "share_grant"

NOT_FOUND_HTML = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Link not available</title>"
    '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
    '<body style="font-family:system-ui,sans-serif;margin:4rem auto;max-width:36rem;color:#1e293b">'
    '<h1 style="font-size:1.4rem">This link is not available</h1>'
    "<p>It may have been mistyped, have expired or been revoked, or have been used the allowed "
    "number of times. Ask the person who shared it for a new link.</p></body></html>"
)


def client_ip(request: Any, trusted_proxy: bool) -> str:
    """The viewer's address. Tornado's ``xheaders`` (on only behind a trusted proxy) already put
    the X-Forwarded-For client in ``remote_ip``; without it the header is ignored, so a viewer
    cannot pick the address an allowlist sees."""
    ip = str(getattr(request, "remote_ip", "") or "")
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return ip[:64] or "?"


def frame_csp(origins: list[str]) -> str:
    """The page CSP with ``frame-ancestors`` opened to the token's origins (none: no framing)."""
    allowed = " ".join(origins) if origins else "'none'"
    return PAGE_CSP.replace("frame-ancestors 'none'", f"frame-ancestors {allowed}")


class _PubMixin:
    """What the page, websocket and file handlers of ``/pub`` share."""

    ctx: AppContext
    request: Any
    _started: float

    def _ip(self) -> str:
        return client_ip(self.request, self.ctx.settings.trusted_proxy)

    async def _limited(self) -> bool:
        """Count this request against the address's /pub budget; True when it was refused (429)."""
        try:
            ratelimit.hit(self.ctx.redis, f"pub:{self._ip()}", limit=PUB_PER_MINUTE, window_seconds=60)
        except QuotaExceeded as exc:
            await self._refuse(429, f"<!doctype html><p>{html.escape(exc.message)}</p>")
            return True
        return False

    def _viewer_id(self) -> int | None:
        """The signed-in user (for ``with_login`` links), read from the portal's cookie."""
        from portal.web.webauth import COOKIE, cookie_days

        if not self.application.settings.get("cookie_secret"):  # type: ignore[attr-defined]
            return None  # a bare API app (tests): no portal sessions
        raw = self.get_secure_cookie(COOKIE, max_age_days=cookie_days(self.ctx))  # type: ignore[attr-defined]
        if not raw:
            return None
        with transaction(self.ctx.sessions) as session:
            live = auth.web_session_user(session, raw.decode(errors="replace"))
            return live[0].id if live is not None else None

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await IOLoop.current().run_in_executor(None, fn)

    async def _open(self, object_type: str, plain: str, *, count: bool = True) -> tokens.Opened:
        viewer_id = await self._off_loop(self._viewer_id)
        ip, agent, path = self._ip(), self.request.headers.get("User-Agent", ""), self.request.path

        def work() -> tokens.Opened:
            with transaction(self.ctx.sessions) as session:
                viewer = session.get(User, viewer_id) if viewer_id is not None else None
                return tokens.open_link(
                    session,
                    plain,
                    object_type=object_type,
                    ip=ip,
                    user_agent=agent,
                    path=path.replace(plain, "…"),  # never the token itself
                    viewer=viewer,
                    count=count,
                )

        return await self._off_loop(work)

    async def _refuse(self, status: int = 404, body: str = NOT_FOUND_HTML) -> None:
        wait = REFUSAL_FLOOR_S - (time.perf_counter() - self._started)
        if wait > 0:
            await asyncio.sleep(wait)
        handler: Any = self
        handler.clear()
        handler.set_status(status)
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        handler.set_header("Cache-Control", "no-store")
        handler.set_header("Referrer-Policy", "no-referrer")
        handler.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Never a traceback or Tornado's page: the same neutral answer (the log has the details).
        handler: Any = self
        handler.set_header("Content-Type", "text/html; charset=utf-8")
        failed = "<!doctype html><p>Something went wrong.</p>"
        handler.finish(NOT_FOUND_HTML if status_code == 404 else failed)

    def _to_login(self) -> None:
        handler: Any = self
        handler.redirect(f"/login?next={quote(self.request.path, safe='/')}")


class PubDocHandler(_PubMixin, DocHandler):
    """A link to a dashboard, widget, snapshot or report: the ``/pub/view`` page, at the link's address."""

    def __init__(self, tornado_app: Any, *args: Any, **kw: Any) -> None:
        self.ctx = kw.pop("ctx")
        self._started = time.perf_counter()
        kw.update(
            application_context=tornado_app._applications[VIEW_APP], bokeh_websocket_path=f"{VIEW_APP}/ws"
        )
        super().__init__(tornado_app, *args, **kw)

    async def get(self, object_type: str, plain: str) -> None:
        if await self._limited():
            return
        opened = await self._open(object_type, plain)
        if opened.result == "login_required":
            self._to_login()
            return
        if opened.result != "ok" or opened.token is None:
            await self._refuse()
            return
        token = opened.token
        principal = opened.principal
        viewer = principal.user_id if principal is not None else None
        grant = tokens.sign_grant(self.ctx.settings.secret_key, token.id, viewer)
        # The page reads the grant from its arguments (also when Bokeh re-creates the session
        # from the signed session token): whatever the address carried under that name is replaced.
        self.request.arguments[REQUEST_GRANT] = [grant.encode()]
        self.set_header("Content-Security-Policy", frame_csp(list(token.frame_origins_json or [])))
        self.set_header("Referrer-Policy", "no-referrer")
        done = super().get()
        if done is not None:
            await done


class PubWSHandler(WSHandler):
    """The websocket of a ``/pub`` page: Bokeh computes it as the page's address + ``/ws``."""

    def __init__(self, tornado_app: Any, *args: Any, **kw: Any) -> None:
        app_context = tornado_app._applications[VIEW_APP]
        kw.update(application_context=app_context, bokeh_websocket_path=f"{VIEW_APP}/ws")
        kw.pop("ctx", None)
        super().__init__(tornado_app, *args, **kw)

    def open(self, *_: Any) -> None:
        # The route's groups (type, token) are not Bokeh's business: the session token decides.
        super().open()  # type: ignore[no-untyped-call]


class PubPdfHandler(_PubMixin, RequestHandler):
    """A link to a finished PDF render, or to a template rendered for the link's scope."""

    def initialize(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._started = time.perf_counter()

    async def get(self, object_type: str, plain: str) -> None:
        if await self._limited():
            return
        # A "still rendering" page refreshes with the grant it was given: no second use counted.
        checked = tokens.check_grant(self.ctx.settings.secret_key, self.get_query_argument("g", ""))
        opened: tokens.Opened | None = None
        if checked is None:
            opened = await self._open(object_type, plain)
            if opened.result == "login_required":
                self._to_login()
                return
            if opened.result != "ok" or opened.token is None:
                await self._refuse()
                return
            token_id, viewer = opened.token.id, opened.principal.user_id if opened.principal else None
        else:
            token_id, viewer = checked
        download = self.get_query_argument("download", "") == "1"

        def work() -> tuple[str, Any, list[str]]:
            with transaction(self.ctx.sessions) as session:
                principal = tokens.identify(token_id, viewer)(session)
                share = principal.share
                if share is None or share.object_type != object_type:
                    raise NotFound("link not found")
                origins = _origins(session, token_id)
                if download and "export" not in share.permissions:
                    return ("denied", None, origins)
                if object_type == "pdf_render":
                    render = tokens.pdf_render_of(session, principal, share.object_id)
                    return ("file", read_render_file(session, render, self.ctx.settings.results_dir), origins)
            state = template_pdf(self.ctx, principal, token_id)
            if state.file is not None:
                return ("file", state.file, origins)
            return ("wait", state, origins)

        try:
            kind, value, origins = await self._off_loop(work)
        except NotFound:
            await self._refuse()
            return
        except PortalError as exc:
            log.info("share link %s: %s", token_id, exc)
            await self._refuse()
            return
        # A browser's PDF viewer needs no more than the framing rule.
        ancestors = " ".join(origins) if origins else "'none'"
        self.set_header("Content-Security-Policy", f"frame-ancestors {ancestors}")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        if kind == "denied":
            self.set_status(403)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish("<!doctype html><p>This link lets you view the PDF, not download it.</p>")
            return
        if kind == "file":
            name, data = value
            self.set_header("Content-Type", "application/pdf")
            disposition = "attachment" if download else "inline"
            self.set_header("Content-Disposition", f'{disposition}; filename="{quote(name)}"')
            self.finish(data)
            return
        grant = tokens.sign_grant(self.ctx.settings.secret_key, token_id, viewer)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(value.waiting_html(f"{self.request.path}?g={quote(grant)}"))


def _origins(session: Session, token_id: int) -> list[str]:
    from portal.models import ShareToken

    token = session.get(ShareToken, token_id)
    return list(token.frame_origins_json or []) if token is not None else []


class PubNotFoundHandler(_PubMixin, RequestHandler):
    """Any other ``/pub`` address: the same 404 as a bad token."""

    def initialize(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._started = time.perf_counter()

    async def get(self, *_: Any) -> None:
        if await self._limited():
            return
        await self._refuse()


def pub_routes(ctx: AppContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """URL patterns of the viewers (the Panel application ``/pub/view`` must be served too)."""
    page = rf"/pub/({PAGE_TYPES})/({TOKEN_RE})"
    return [
        (rf"{page}/ws", PubWSHandler, {}),
        (rf"{page}/?", PubDocHandler, {"ctx": ctx}),
        (rf"/pub/({FILE_TYPES})/({TOKEN_RE})/?", PubPdfHandler, {"ctx": ctx}),
        (r"/pub/(?!view(?:/|$)).*", PubNotFoundHandler, {"ctx": ctx}),
    ]
