"""Browser sign-in for the Panel pages: a Bokeh auth provider on our users with a signed session cookie.

The REST API authenticates with bearer tokens instead (see :mod:`portal.web.api`).
"""

from __future__ import annotations

import hmac
import html
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from bokeh.server.auth_provider import AuthProvider
from sqlalchemy.orm import Session
from tornado.web import HTTPError, RequestHandler

from portal.context import AppContext
from portal.errors import AuthenticationFailed, QuotaExceeded
from portal.identity import auth
from portal.identity.auth import REQUEST_LOGOUT_TOKEN, REQUEST_SESSION, REQUEST_USER
from portal.identity.principal import Identify, Principal, principal_for_user
from portal.infra import ratelimit
from portal.infra.crypto import sign
from portal.infra.db import transaction

log = logging.getLogger(__name__)

#: The session cookie. Not called "user": Panel copies a cookie of that name into the
#: session token every page embeds, where page scripts could read it.
COOKIE = "cbi_session"

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign in · Conductor BI</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f6fa;margin:0;
display:flex;align-items:center;justify-content:center;min-height:100vh;color:#1f2937}}
form{{background:#fff;padding:2.2rem 2.4rem;border-radius:12px;box-shadow:0 8px 30px rgba(15,23,42,.12);width:340px}}
h1{{margin:0 0 .2rem;font-size:1.5rem;color:#0b5cad}} p.sub{{margin:0 0 1.4rem;color:#6b7280;font-size:.9rem}}
label{{display:block;font-size:.85rem;margin:.8rem 0 .3rem;color:#374151}}
input{{width:100%;box-sizing:border-box;padding:.6rem .7rem;border:1px solid #cbd5e1;border-radius:8px;font-size:1rem}}
button{{margin-top:1.3rem;width:100%;padding:.7rem;border:0;border-radius:8px;background:#0b5cad;color:#fff;
font-size:1rem;cursor:pointer}} .err{{background:#fee2e2;color:#991b1b;padding:.6rem .8rem;border-radius:8px;
font-size:.9rem;margin-bottom:.6rem}}
</style></head><body><form method="post" action="/login" autocomplete="on">
<h1>Conductor BI</h1><p class="sub">Sign in to your dashboards</p>{error}
<input type="hidden" name="next" value="{next}"><input type="hidden" name="_xsrf" value="{xsrf}">
<label for="email">E-mail</label><input id="email" name="email" type="email" required value="{email}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form></body></html>"""


_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirects).

    Accepted: ``/`` alone, or ``/`` followed by a character that is neither ``/`` nor
    ``\\``, judged after percent-decoding (twice: proxies decode once more) and with no
    control characters or backslashes anywhere (browsers drop tabs and turn ``\\`` into ``/``).
    """
    if not target:
        return "/"
    decoded = target
    for _ in range(3):
        decoded = unquote(decoded)
    for candidate in (target, decoded):
        if _CONTROL.search(candidate) or not candidate.startswith("/"):
            return "/"
        if len(candidate) > 1 and candidate[1] in "/\\":
            return "/"
    return target


def cookie_days(ctx: AppContext) -> int:
    # Tornado checks the signature's age in whole days; the session table enforces the real expiry.
    return max(1, ctx.settings.session_hours // 24 + 1)


def cookie_session_token(handler: RequestHandler, ctx: AppContext) -> str | None:
    """The browser session token of the portal's signed cookie, or None (no cookie, or an
    application without a cookie secret, like the bare REST server of the tests)."""
    if not handler.application.settings.get("cookie_secret"):
        return None
    raw = handler.get_secure_cookie(COOKIE, max_age_days=cookie_days(ctx))
    return raw.decode(errors="replace") if raw else None


def cookie_identity(plain: str) -> Identify:
    """Identifies the user of a browser session token inside the caller's transaction."""

    def identify(session: Session) -> Principal:
        live = auth.web_session_user(session, plain)
        if live is None:
            raise AuthenticationFailed("your session has ended: sign in again")
        return principal_for_user(session, live[0])

    return identify


def logout_token(secret_key: str, session_token: str) -> str:
    """The CSRF token of the sign-out form: bound to one browser session, useless for any other."""
    return sign(secret_key, f"logout:{session_token}")


class _Base(RequestHandler):
    ctx: AppContext

    def initialize(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        )

    def secure_request(self) -> bool:
        """Whether cookies get the Secure flag (setting, or https seen directly or via a trusted proxy)."""
        return self.ctx.settings.secure_cookies or self.request.protocol == "https"

    def set_cookie(self, name: str, value: str | bytes, *args: Any, **kwargs: Any) -> None:
        if name == "_xsrf":
            # Tornado's CSRF cookie: only the form reads it (server-side), never scripts or other sites.
            kwargs.setdefault("httponly", True)
            kwargs.setdefault("samesite", "Strict")
            kwargs.setdefault("secure", self.secure_request())
        super().set_cookie(name, value, *args, **kwargs)

    def session_cookie(self) -> str | None:
        raw = self.get_secure_cookie(COOKIE, max_age_days=cookie_days(self.ctx))
        return raw.decode() if raw else None

    def _xsrf_ok(self) -> bool:
        try:
            self.check_xsrf_cookie()
        except HTTPError:
            return False
        return True

    def _page(self, title: str, content: str, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_PAGE_SHELL.format(title=html.escape(title), content=content))


_PAGE_SHELL = _PAGE[: _PAGE.index("<form")].replace("Sign in · Conductor BI", "{title} · Conductor BI") + (
    "{content}</body></html>"
)


class LoginHandler(_Base):
    """GET shows the form; POST checks CSRF, the guard and the password, then starts a session."""

    def _render(self, *, error: str = "", email: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        err = f'<div class="err" role="alert">{html.escape(error)}</div>' if error else ""
        nxt = self.get_body_argument("next", None) if self.request.method == "POST" else None
        self.finish(
            _PAGE.format(
                error=err,
                email=html.escape(email),
                next=html.escape(safe_next(nxt or self.get_argument("next", "/"))),
                xsrf=html.escape(self.xsrf_token.decode()),
            )
        )

    def get(self) -> None:
        self._render()

    def post(self) -> None:
        email = self.get_body_argument("email", "").strip()[:254]
        password = self.get_body_argument("password", "")[:1024]
        if not self._xsrf_ok():
            # Login CSRF: a form posted from another site must not sign the victim in.
            self._render(error="The sign-in form expired; please try again.", email=email, status=403)
            return
        redis = self.ctx.redis
        try:
            ratelimit.check_login(
                redis, str(self.request.remote_ip), email, per_minute=self.ctx.settings.login_per_minute
            )
            with transaction(self.ctx.sessions) as session:
                try:
                    user = auth.authenticate(session, email, password)
                except AuthenticationFailed:
                    ratelimit.login_failed(redis, email)
                    raise
                ratelimit.login_succeeded(redis, email)
                _, plain = auth.start_web_session(
                    session,
                    user,
                    hours=self.ctx.settings.session_hours,
                    ip=str(self.request.remote_ip or ""),
                    user_agent=self.request.headers.get("User-Agent", ""),
                )
        except QuotaExceeded as exc:
            self._render(error=exc.message, email=email, status=429)
            return
        except AuthenticationFailed as exc:
            self._render(error=exc.message, email=email, status=401)
            return
        self.set_secure_cookie(
            COOKIE,
            plain,
            expires=datetime.now(UTC) + timedelta(hours=self.ctx.settings.session_hours),
            httponly=True,
            samesite="Lax",
            secure=self.secure_request(),
        )
        self.redirect(safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(_Base):
    """GET asks for confirmation; POST (with the session's sign-out token) ends the session."""

    def get(self) -> None:
        plain = self.session_cookie()
        if not plain:
            self.redirect("/login")
            return
        token = logout_token(self.ctx.settings.secret_key, plain)
        self._page(
            "Sign out",
            '<form method="post" action="/logout"><h1>Conductor BI</h1><p class="sub">Sign out of this browser?</p>'
            f'<input type="hidden" name="csrf" value="{html.escape(token)}">'
            '<button type="submit">Sign out</button></form>',
        )

    def post(self) -> None:
        plain = self.session_cookie()
        sent = self.get_body_argument("csrf", "")
        if plain and not hmac.compare_digest(sent, logout_token(self.ctx.settings.secret_key, plain)):
            self._page(
                "Sign out",
                '<form method="get" action="/logout"><div class="err" role="alert">This sign-out request '
                'did not come from the portal.</div><button type="submit">Sign out</button></form>',
                status=403,
            )
            return
        if plain:
            with transaction(self.ctx.sessions) as session:
                auth.end_web_session(session, plain)
        self.clear_cookie(COOKIE)
        self.redirect("/login")


class PortalAuthProvider(AuthProvider):
    """Bokeh/Panel auth hooks backed by server-side sessions in the metadata database."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        super().__init__()

    @property
    def get_user(self) -> Any:
        ctx = self.ctx

        def get_user(handler: RequestHandler) -> str | None:
            path = handler.request.path
            if path.startswith("/pub/") and not (path == "/pub/view" or path.startswith("/pub/view/")):
                # Share-link viewers: the link was checked by portal.web.pub and the page checks
                # its signed grant; no portal cookie is read (nor ever set) for them. The viewer
                # application's own address is closed: a grant only arrives through a link.
                return "share-link"
            raw = handler.get_secure_cookie(COOKIE, max_age_days=cookie_days(ctx))
            if not raw:
                return None
            plain = raw.decode(errors="replace")
            with transaction(ctx.sessions) as session:
                live = auth.web_session_user(session, plain)
                if live is None:
                    return None
                uid, sid = live[0].id, live[1].id
            # Handed to the page through the request object, never through the page itself.
            setattr(handler.request, REQUEST_USER, uid)
            setattr(handler.request, REQUEST_SESSION, sid)
            setattr(handler.request, REQUEST_LOGOUT_TOKEN, logout_token(ctx.settings.secret_key, plain))
            return str(uid)

        return get_user

    @property
    def login_url(self) -> str:
        return "/login"

    @property
    def login_handler(self) -> Any:
        ctx = self.ctx

        class _Login(LoginHandler):
            def initialize(self) -> None:  # type: ignore[override]
                super().initialize(ctx)

        return _Login

    @property
    def logout_url(self) -> str:
        return "/logout"

    @property
    def logout_handler(self) -> Any:
        ctx = self.ctx

        class _Logout(LogoutHandler):
            def initialize(self) -> None:  # type: ignore[override]
                super().initialize(ctx)

        return _Logout
