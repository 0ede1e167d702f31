"""A share link's page: served at ``/pub/{type}/{token}`` (see ``portal.web.pub``), never by itself."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate

from components.session import alert, run, use_share
from components.share_viewer import ShareViewer, title_bar
from components.template import shared_page
from portal.context import AppContext
from portal.sharing import views
from portal.sharing.tokens import check_grant

UNAVAILABLE = "This link is not available: it may have expired or been revoked. Ask for a new link."


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the shared view for one browser session (the link was checked by the web layer,
    which handed the page a signed grant; without a valid one nothing is shown)."""
    args = pn.state.session_args
    raw = (args.get("share_grant") or [b""])[0].decode(errors="replace")
    kiosk = (args.get("kiosk") or [b""])[0] == b"1"
    checked = check_grant(ctx.settings.secret_key, raw)
    header = None
    if checked is not None:
        use_share(*checked)
        header = run(ctx, views.shared_header)
    if header is None:
        return shared_page("Shared view", [alert(UNAVAILABLE, "warning")], kiosk=kiosk)
    body = ShareViewer(ctx, header, kiosk=kiosk)
    parts = [body] if kiosk else [title_bar(header), body]
    return shared_page(header.name or "Shared view", parts, kiosk=kiosk)
