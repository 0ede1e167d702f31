"""PDF templates page: ``/pdf`` (the caller's templates with Open / Clone / Render, and recent renders)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.pdf_designer.library import TemplatesPage
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    body = TemplatesPage(ctx)
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("PDF", who, [body])
