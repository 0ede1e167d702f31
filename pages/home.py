"""Home page: the signed-in user's dashboards (mine / team / public / favorites)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.dashboard_list import DashboardList
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Dashboards", who, [DashboardList(ctx)])
