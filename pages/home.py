"""Home page: the signed-in user's dashboards (mine / team / public / favorites)."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate

from components.dashboard_list import DashboardList
from components.session import header_links, user_session
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return pn.template.FastListTemplate(
        title="Conductor BI",
        header=[header_links("Dashboards", who)],
        main=[DashboardList(ctx)],
        accent="#0b5cad",
    )
