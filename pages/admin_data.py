"""Data sources administration page: ``/admin/data`` (connected databases, REST sources, catalog
sources and their quality checks; admins only)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.admin_data import DataAdmin
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session (non-admins see an "admins only" note and no data)."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Admin", who, [DataAdmin(ctx)])
