"""``/invite?token=...``: where an invited (or reset) user chooses a password, without signing in.

A plain form like the sign-in form (same look, CSRF-protected with Tornado's ``_xsrf``,
rate limited per address with the sign-in budget); everything shown is HTML-escaped. The
token travels in the form, never in a cookie; unknown, used and expired links all get
the same answer.
"""

from __future__ import annotations

import html

from portal.errors import NotFound, PortalError, QuotaExceeded
from portal.identity import people
from portal.infra import ratelimit
from portal.infra.db import transaction
from portal.web.webauth import _Base

_FORM = (
    '<form method="post" action="/invite" autocomplete="off">'
    '<h1>Conductor BI</h1><p class="sub">Choose your password{who}</p>{error}'
    '<input type="hidden" name="_xsrf" value="{xsrf}"><input type="hidden" name="token" value="{token}">'
    '<label for="password">New password</label>'
    '<input id="password" name="password" type="password" required minlength="12" autofocus '
    'autocomplete="new-password">'
    '<label for="confirm">Repeat it</label>'
    '<input id="confirm" name="confirm" type="password" required minlength="12" autocomplete="new-password">'
    '<p class="sub" style="margin-top:.8rem">At least 12 characters, not your name or e-mail; a few '
    "unrelated words make a strong password that is easy to remember.</p>"
    '<button type="submit">Set password</button></form>'
)
_GONE = (
    '<form method="get" action="/login"><h1>Conductor BI</h1><div class="err" role="alert">{message}</div>'
    '<button type="submit">Go to sign-in</button></form>'
)
_DONE = (
    '<form method="get" action="/login"><h1>Conductor BI</h1><p class="sub">Your password is set. '
    "Sign in with your e-mail address and the new password.</p>"
    '<button type="submit">Sign in</button></form>'
)


class InviteHandler(_Base):
    """GET shows the form for a valid link; POST checks CSRF, the rate limit and the policy."""

    def _form(self, token: str, *, who: str = "", error: str = "", status: int = 200) -> None:
        err = f'<div class="err" role="alert">{html.escape(error)}</div>' if error else ""
        self._page(
            "Choose a password",
            _FORM.format(
                who=f" for {html.escape(who)}" if who else "",
                error=err,
                xsrf=html.escape(self.xsrf_token.decode()),
                token=html.escape(token),
            ),
            status,
        )

    def _gone(self, message: str, status: int = 404) -> None:
        self._page("Invitation", _GONE.format(message=html.escape(message)), status)

    def _limit(self) -> None:
        ratelimit.hit(
            self.ctx.redis,
            f"invite:{self.request.remote_ip}",
            limit=self.ctx.settings.login_per_minute,
            window_seconds=60,
        )

    def get(self) -> None:
        token = self.get_query_argument("token", "")[:200]
        try:
            self._limit()
            with transaction(self.ctx.sessions) as session:
                user = people.invited_user(session, token)
                who = user.email
        except QuotaExceeded as exc:
            self._gone(exc.message, 429)
            return
        except NotFound as exc:
            self._gone(exc.message.removeprefix("token: "))
            return
        self._form(token, who=who)

    def post(self) -> None:
        token = self.get_body_argument("token", "")[:200]
        password = self.get_body_argument("password", "")[:1024]
        confirm = self.get_body_argument("confirm", "")[:1024]
        if not self._xsrf_ok():
            self._form(token, error="The form expired; please try again.", status=403)
            return
        if password != confirm:
            self._form(token, error="The two passwords differ; type the same password twice.", status=422)
            return
        try:
            self._limit()
            with transaction(self.ctx.sessions) as session:
                people.accept_invite(session, token, password)
        except QuotaExceeded as exc:
            self._form(token, error=exc.message, status=429)
            return
        except NotFound as exc:
            self._gone(exc.message.removeprefix("token: "))
            return
        except PortalError as exc:
            self._form(token, error=exc.message.removeprefix("password: "), status=exc.status)
            return
        self._page("Password set", _DONE)


def routes(ctx: object) -> list[tuple[str, type[InviteHandler], dict[str, object]]]:
    """The ``/invite`` route for the web server."""
    return [(r"/invite", InviteHandler, {"ctx": ctx})]
