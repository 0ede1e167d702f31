"""PDF signing administration page: ``/admin/signing`` (the tenant's PKCS#12 signing certificate,
timestamp server, reason and location; admins only)."""

from __future__ import annotations

from panel.template.base import BaseTemplate

from components.admin_signing import SigningAdmin
from components.session import user_session
from components.template import page
from portal.context import AppContext


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session (non-admins see an "admins only" note and nothing else)."""
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("Admin", who, [SigningAdmin(ctx)])
