"""Report builder page: ``/reports`` (new) or ``/reports?id=N`` (edit)."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate

from components.report_builder import ReportBuilder
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    raw = (pn.state.session_args.get("id") or [b""])[0].decode()
    source = (pn.state.session_args.get("source") or [b""])[0].decode(errors="replace")[:63] or None
    body = ReportBuilder(ctx, int(raw) if raw.isascii() and raw.isdigit() else None, source=source)
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Report builder", who, [body])
