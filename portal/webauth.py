"""Browser sign-in for the Panel pages: a Bokeh auth provider on our users with a signed session cookie.

The REST API authenticates with bearer tokens instead (see :mod:`portal.api`).
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import urlparse

from bokeh.server.auth_provider import AuthProvider
from tornado.web import RequestHandler

from portal import auth
from portal.context import AppContext
from portal.db import transaction
from portal.errors import AuthenticationFailed, QuotaExceeded
from portal.models import User
from portal.ratelimit import hit

log = logging.getLogger(__name__)

COOKIE = "user"  # Panel decodes this signed cookie into pn.state.user
SESSION_DAYS = 1
LOGIN_LIMIT_PER_MINUTE = 10

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
<input type="hidden" name="next" value="{next}">
<label for="email">E-mail</label><input id="email" name="email" type="email" required value="{email}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button></form></body></html>"""


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirects)."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


class _Base(RequestHandler):
    ctx: AppContext

    def initialize(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")


class LoginHandler(_Base):
    """GET shows the form; POST checks the password (rate-limited per address) and sets the cookie."""

    def _render(self, *, error: str = "", email: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header(
            "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
        )
        err = f'<div class="err" role="alert">{html.escape(error)}</div>' if error else ""
        self.finish(
            _PAGE.format(
                error=err,
                email=html.escape(email),
                next=html.escape(safe_next(self.get_argument("next", "/"))),
            )
        )

    def get(self) -> None:
        self._render()

    def post(self) -> None:
        email = self.get_body_argument("email", "").strip()
        password = self.get_body_argument("password", "")
        try:
            hit(
                self.ctx.redis,
                f"weblogin:{self.request.remote_ip}",
                limit=LOGIN_LIMIT_PER_MINUTE,
                window_seconds=60,
            )
            with transaction(self.ctx.sessions) as session:
                user = auth.authenticate(session, email, password)
                uid = user.id
        except QuotaExceeded as exc:
            self._render(error=exc.message, email=email, status=429)
            return
        except AuthenticationFailed as exc:
            self._render(error=exc.message, email=email, status=401)
            return
        self.set_secure_cookie(COOKIE, str(uid), expires_days=SESSION_DAYS, httponly=True, samesite="Lax")
        self.redirect(safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(_Base):
    def get(self) -> None:
        self.clear_cookie(COOKIE)
        self.redirect("/login")


class PortalAuthProvider(AuthProvider):
    """Bokeh/Panel auth hooks backed by the metadata database."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        super().__init__()

    @property
    def get_user(self) -> Any:
        def get_user(handler: RequestHandler) -> str | None:
            raw = handler.get_secure_cookie(COOKIE, max_age_days=SESSION_DAYS)
            if not raw:
                return None
            try:
                uid = int(raw)
            except ValueError:
                return None
            with self.ctx.sessions() as session:
                user = session.get(User, uid)
                return str(uid) if user is not None and user.is_active else None

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
