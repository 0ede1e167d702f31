"""Data page: ``/data`` (import a CSV/XLSX file with a progress bar; the tenant's own sources)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.data_import import DataImport
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Data", who, [DataImport(ctx)])
