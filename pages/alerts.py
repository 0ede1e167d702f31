"""Alerts center page: ``/alerts`` (``?alert=<id>`` opens on an alert, ``?tab=notifications`` on my
notifications, ``?tab=tickets`` on the alert tickets)."""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.template.base import BaseTemplate

from components.alerts_center import TABS, AlertsCenter
from components.session import user_session
from components.template import page
from portal.context import AppContext


def _arg(name: str) -> str | None:
    """A query argument of the page's address (None when absent or outside a browser session)."""
    values = (pn.state.session_args or {}).get(name) or []
    if not values:
        return None
    raw = values[0]
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    options: dict[str, Any] = {}
    tab = _arg("tab")
    if tab in TABS:
        options["tab"] = tab
    focus = _arg("alert")
    if focus is not None and focus.isdigit() and 0 < int(focus) < 2**62:
        options["focus"] = int(focus)
        options["status"] = "all"
    return page("Alerts", who, [AlertsCenter(ctx, **options)])
