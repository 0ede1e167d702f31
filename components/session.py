"""Per-session helpers: who is signed in, notifications, running service calls safely."""

from __future__ import annotations

import html
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import panel as pn
from sqlalchemy.orm import Session

from portal.alerts.notifications import unread_count
from portal.context import AppContext
from portal.errors import AuthenticationFailed, PortalError
from portal.identity import auth
from portal.identity.auth import REQUEST_LOGOUT_TOKEN, REQUEST_SESSION, REQUEST_USER
from portal.identity.principal import Identify, Principal, principal_for_user, principal_transaction
from portal.sharing.tokens import identify as share_identity

T = TypeVar("T")

#: Per live page (its Bokeh document): the context its services use and its header pane, so the
#: header's bell can count the unread notifications and be redrawn once they are read.
_PAGES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _request() -> Any:
    doc = pn.state.curdoc
    context = getattr(doc, "session_context", None) if doc is not None else None
    return getattr(context, "request", None)


def current_identity() -> tuple[int, int]:
    """(user id, web session id) of this Panel session.

    The auth provider put them on the HTTP request that opened the session; the
    session cookie itself never reaches the page (nor its session token).
    """
    req = _request()
    uid, sid = getattr(req, REQUEST_USER, None), getattr(req, REQUEST_SESSION, None)
    if not isinstance(uid, int) or not isinstance(sid, int):
        raise AuthenticationFailed("not signed in")
    return uid, sid


def logout_token() -> str:
    """The sign-out form's CSRF token for this browser session ('' outside a signed-in page)."""
    return str(getattr(_request(), REQUEST_LOGOUT_TOKEN, "") or "")


def _signed_in(uid: int, sid: int) -> Identify:
    def identify(session: Session) -> Principal:
        live = auth.live_web_session(session, sid)
        if live is None or live[0].id != uid:
            raise AuthenticationFailed("your session has ended; sign in again")
        return principal_for_user(session, live[0])

    return identify


@contextmanager
def user_session(ctx: AppContext) -> Iterator[tuple[Session, Principal]]:
    """A transaction and the signed-in user's principal, identified in it.

    The web session is checked on every call, so signing out (in any tab), a
    password change or disabling the account stops an open page at once.
    """
    page = _page_state()
    if page is not None:
        page["ctx"] = ctx
    shared = page.get("share") if page is not None else None
    identify = share_identity(*shared) if shared is not None else _signed_in(*current_identity())
    with principal_transaction(ctx.sessions, identify) as (session, principal):
        if page is not None:
            page["is_admin"] = principal.is_admin  # the header's Admin link
        yield session, principal


#: What an admin page shows to everyone else (and nothing more).
ADMINS_ONLY = (
    '<div class="admins-only" role="alert" style="background:#fef3c7;color:#92400e;padding:14px 18px;'
    'border-radius:8px;font-size:15px"><b>Admins only.</b> This page is for the administrators of your '
    "tenant; ask one of them if you need a change.</div>"
)


def is_signed_in_admin(ctx: AppContext) -> bool:
    """Whether this page's user administers their tenant (False when the session is gone); the
    services check again on every call."""
    try:
        with user_session(ctx) as (_, principal):
            return principal.is_admin
    except AuthenticationFailed:
        return False


def use_share(token_id: int, viewer_id: int | None) -> None:
    """Make this page a share-link viewer's: every service call of its components runs as the
    link's principal (re-checked each time, so a revoked link stops the page at once)."""
    page = _page_state()
    if page is None:
        raise AuthenticationFailed("a shared view needs a live page")
    page["share"] = (token_id, viewer_id)


def is_shared_view() -> bool:
    """Whether this page shows a share link (no header, bell or account actions)."""
    page = _page_state()
    return page is not None and "share" in page


def _page_state() -> dict[str, Any] | None:
    doc = pn.state.curdoc
    if doc is None or getattr(doc, "session_context", None) is None:
        return None
    return _PAGES.setdefault(doc, {})


def unread_notifications() -> int | None:
    """The signed-in user's unread notifications (one COUNT on its index); None outside a live page."""
    page = _page_state()
    ctx = page.get("ctx") if page is not None else None
    if ctx is None:
        return None
    try:
        uid, _ = current_identity()
    except AuthenticationFailed:
        return None
    with ctx.sessions() as session:
        return unread_count(session, uid)


def refresh_bell() -> None:
    """Count the unread notifications again and redraw the header (after some were read)."""
    page = _page_state()
    if page is not None and "header" in page:
        pane, active, who = page["header"]
        pane.object = _header_html(active, who, unread_notifications(), admin=bool(page.get("is_admin")))


_BELL_SVG = (
    '<svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 '
    '9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>'
)


def _bell(unread: int | None) -> str:
    """The bell: a link to the notifications with the unread count as a badge (none outside a page)."""
    if unread is None:
        return ""
    label = f"{unread} unread notification{'' if unread == 1 else 's'}"
    badge = (
        '<span class="cbi-bell-count" style="position:absolute;top:-6px;right:-9px;background:#dc2626;'
        "color:white;border-radius:9px;min-width:18px;height:18px;padding:0 4px;box-sizing:border-box;"
        f'font-size:11px;font-weight:700;line-height:18px;text-align:center">{min(unread, 99)}'
        f"{'+' if unread > 99 else ''}</span>"
        if unread
        else ""
    )
    return (
        f'<a class="cbi-bell" href="/alerts?tab=notifications" title="{label}" aria-label="{label}" '
        'style="position:relative;display:inline-flex;color:white;margin-right:22px">'
        f"{_BELL_SVG}{badge}</a>"
    )


def run(ctx: AppContext, fn: Callable[[Session, Principal], T], *, success: str | None = None) -> T | None:
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
    """A short success toast (ignored outside a live session); the message is plain text."""
    if pn.state.notifications is not None:
        # Notifications (Notyf) render their message as HTML: it often quotes user text.
        pn.state.notifications.success(html.escape(str(message)), duration=3000)


def notify_error(message: str) -> None:
    """An error toast that stays until read (ignored outside a live session); the message is plain text."""
    if pn.state.notifications is not None:
        pn.state.notifications.error(html.escape(str(message)), duration=0)


# Markdown punctuation (CommonMark and the markdown-it plugins Panel enables: tables, footnotes,
# task lists, definition lists, math, MyST roles). < > & " ' are left to html.escape: their
# entities are decoded back to text by the Markdown parser, and a backslash must not precede them.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$^=:])")


def escape_md(text: object) -> str:
    """User text for a Markdown source (``pn.pane.Markdown``, ``pn.pane.Alert``): shown literally.

    Panel's Markdown panes pass raw HTML through to the page, so names, values and error
    messages quoting them must be escaped as HTML and as Markdown before they go in one.
    """
    return html.escape(_MD_SPECIAL.sub(r"\\\1", str(text)), quote=True)


def alert(message: object, kind: str = "danger", **params: Any) -> pn.pane.Alert:
    """An alert box showing ``message`` as plain text (``kind``: danger, warning, info, success...)."""
    return pn.pane.Alert(escape_md(message), alert_type=kind, **params)


def escaped_options(values: Iterable[Any]) -> dict[str, Any]:
    """Options for a ``MultiChoice`` (label → value) whose labels are shown as text.

    Bokeh's MultiChoice (Choices.js) inserts option labels as HTML; the values stay as they are.
    """
    return {html.escape(str(v), quote=True): v for v in values}


def header_links(active: str, who: str = "") -> Any:
    """The navigation shown in the header of every page, with the notifications bell."""
    page = _page_state()
    admin = bool(page is not None and page.get("is_admin"))
    pane = pn.pane.HTML(_header_html(active, who, unread_notifications(), admin=admin), sizing_mode="stretch_width")
    if page is not None:
        page["header"] = (pane, active, who)
    return pane


def _header_html(active: str, who: str, unread: int | None, *, admin: bool = False) -> str:
    items = [
        ("Dashboards", "/"),
        ("Reports", "/reports/library"),
        ("Report builder", "/reports"),
        ("Data", "/data"),
        ("PDF", "/pdf"),
        ("Schedules", "/schedules"),
        ("Jobs", "/jobs"),
        ("Alerts", "/alerts"),
    ]
    if admin:  # people and the audit trail: tenant administrators only (the pages check again)
        items.append(("Admin", "/admin/users"))
    style = "color:white;text-decoration:none;margin-right:14px;white-space:nowrap"
    links = "".join(
        f'<a class="cbi-nav" href="{u}" style="{style};{"font-weight:700;border-bottom:2px solid white" if n == active else ""}">{n}</a>'
        for n, u in items
    )
    # Nine links (with Admin) plus the bell and Sign out overflowed a 1024 px window by ~50 px.
    links += (
        "<style>@media (max-width:1120px){.cbi-nav{margin-right:8px !important;font-size:14px}}</style>"
    )
    who_html = ""
    if who:
        # Narrower windows show the name only, then not even that (title keeps it): the header must
        # not push the page wider than the window (it did at 1024 px with the bell and six links).
        name, sep, rest = who.partition(" (")
        email = f'<span class="cbi-who-email"> ({html.escape(rest)}</span>' if sep else ""
        who_html = (
            f'<span class="cbi-who" title="{html.escape(who)}" style="color:#dbeafe;margin-right:14px;'
            f'white-space:nowrap">{html.escape(name)}{email}</span>'
            "<style>@media (max-width:1320px){.cbi-who-email{display:none}}"
            "@media (max-width:1120px){.cbi-who{display:none}}</style>"
        )
    # Sign-out is a POST carrying this session's token: a link from another site cannot sign anyone out.
    sign_out = (
        '<form method="post" action="/logout" style="margin:0">'
        f'<input type="hidden" name="csrf" value="{html.escape(logout_token())}">'
        '<button type="submit" class="sign-out" style="background:none;border:0;color:white;font-size:15px;'
        'cursor:pointer;padding:0;white-space:nowrap">Sign out</button></form>'
    )
    return (
        f'<div style="font-size:15px;display:flex;align-items:center">{links}<span style="flex:1"></span>'
        f"{_bell(unread)}{who_html}{sign_out}</div>"
    )
