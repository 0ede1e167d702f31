"""PDF designer page: ``/designer?id=N`` (edit a PDF template; without an id or with ``?new=1``, a new one)."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate

from components.pdf_designer.designer import Designer
from components.session import user_session
from components.template import page
from portal.context import AppContext


def template_id_arg(args: dict[str, list[bytes]]) -> int | None:
    """The template id of the address (``?id=N``); None for a new template (no id, or ``?new=1``);
    0 for an id that is not a number."""
    if (args.get("new") or [b""])[0] == b"1":
        return None
    if "id" not in args:
        return None
    raw = (args.get("id") or [b""])[0].decode("utf-8", "replace").strip()
    # Not a number: 0, which no template has (the page says it cannot be opened).
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    body = Designer(ctx, template_id_arg(pn.state.session_args))
    with user_session(ctx) as (_, principal):
        who = principal.label
    return page("PDF", who, [body])
