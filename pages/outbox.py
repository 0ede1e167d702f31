"""Outbox page: ``/outbox`` (mail written as ``.eml`` files when no SMTP server is configured)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.outbox_page import OutboxPage
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Outbox", who, [OutboxPage(ctx)])
