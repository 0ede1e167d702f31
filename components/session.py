"""Per-session helpers: who is signed in, notifications, running service calls safely."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import panel as pn
from sqlalchemy.orm import Session

from portal.context import AppContext
from portal.db import transaction
from portal.errors import AuthenticationFailed, PortalError
from portal.models import User

T = TypeVar("T")


def current_user_id() -> int:
    """Id of the signed-in user of this Panel session (set by the auth provider's cookie)."""
    raw = pn.state.user
    if not raw:
        raise AuthenticationFailed("not signed in")
    return int(raw)


@contextmanager
def user_session(ctx: AppContext) -> Iterator[tuple[Session, User]]:
    """A transaction and the signed-in user, loaded in it."""
    with transaction(ctx.sessions) as session:
        user = session.get(User, current_user_id())
        if user is None or not user.is_active:
            raise AuthenticationFailed("your account is no longer active")
        yield session, user


def run(ctx: AppContext, fn: Callable[[Session, User], T], *, success: str | None = None) -> T | None:
    """Run a service call for the signed-in user; errors become a visible notification, never a traceback."""
    try:
        with user_session(ctx) as (session, user):
            out = fn(session, user)
    except PortalError as exc:
        notify_error(exc.message)
        return None
    if success:
        notify(success)
    return out


def notify(message: str) -> None:
    """A short success toast (ignored outside a live session)."""
    if pn.state.notifications is not None:
        pn.state.notifications.success(message, duration=3000)


def notify_error(message: str) -> None:
    """An error toast that stays until read (ignored outside a live session)."""
    if pn.state.notifications is not None:
        pn.state.notifications.error(message, duration=0)


def header_links(active: str, who: str = "") -> Any:
    """The navigation shown in the header of every page."""
    items = [("Dashboards", "/"), ("Report builder", "/reports")]
    style = "color:white;text-decoration:none;margin-right:14px"
    links = "".join(
        f'<a href="{u}" style="{style};{"font-weight:700;border-bottom:2px solid white" if n == active else ""}">{n}</a>'
        for n, u in items
    )
    who_html = f'<span style="color:#dbeafe;margin-right:14px">{html.escape(who)}</span>' if who else ""
    return pn.pane.HTML(
        f'<div style="font-size:15px;display:flex;align-items:center">{links}<span style="flex:1"></span>{who_html}'
        f'<a href="/logout" style="{style}" class="sign-out">Sign out</a></div>',
        sizing_mode="stretch_width",
    )
