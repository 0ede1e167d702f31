"""Dashboard page: ``/dashboard?id=N``."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate

from components.dashboard_builder import DashboardBuilder
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    raw = (pn.state.session_args.get("id") or [b""])[0].decode()
    body: pn.viewable.Viewer | pn.pane.Alert
    # isascii: "²" is a digit to isdigit() but not to int(); ids beyond 2**62 are no row of any table.
    if raw.isascii() and raw.isdigit() and int(raw) < 2**62:
        body = DashboardBuilder(ctx, int(raw))
    else:
        body = pn.pane.Alert(
            "Open a dashboard from the home page (the address needs ?id=<number>).", alert_type="warning"
        )
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("", who, [body])
