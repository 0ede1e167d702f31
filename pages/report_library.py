"""Report library page: ``/reports/library`` (reports I may see, their runs, the trash)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.report_library import ReportLibrary
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Reports", who, [ReportLibrary(ctx)])
