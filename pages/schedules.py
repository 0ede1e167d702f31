"""Schedules page: ``/schedules`` (report schedules in words with their next runs; create with a live preview)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.schedules_page import SchedulesPage
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Schedules", who, [SchedulesPage(ctx)])
