"""What reads a tenant source: saved reports, dashboards (their named queries and widgets) and PDF
templates whose queries name it. Removing a source they use is refused unless forced, like
Superset and Metabase warn before a dataset with charts goes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import Conflict
from portal.models import Dashboard, PdfTemplate, Report, Widget

#: Names listed in a refusal's message (the rest are counted).
_LISTED = 5


def mentions(value: Any, name: str) -> bool:
    """True when a stored spec holds a query on ``name`` (any ``{"source": name, ...}`` in it)."""
    if isinstance(value, dict):
        if value.get("source") == name:
            return True
        return any(mentions(v, name) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, name) for v in value)
    return False


def source_users(session: Session, tenant_id: int, names: Iterable[str]) -> list[dict[str, Any]]:
    """The tenant's reports, dashboards and PDF templates that query any of ``names``
    (``{"type", "id", "name", "source", "trashed"}``), trashed ones included: a restore would
    bring them back broken."""
    wanted = list(dict.fromkeys(names))
    out: list[dict[str, Any]] = []

    def add(kind: str, row: Report | Dashboard | PdfTemplate, spec: Any) -> None:
        for name in wanted:
            if mentions(spec, name):
                trashed = getattr(row, "deleted_at", None) is not None
                out.append({"type": kind, "id": row.id, "name": row.name, "source": name, "trashed": trashed})
                return

    for report in session.scalars(select(Report).where(Report.tenant_id == tenant_id).order_by(Report.id)):
        add("report", report, report.query_json)
    boards = session.scalars(select(Dashboard).where(Dashboard.tenant_id == tenant_id).order_by(Dashboard.id))
    widgets: dict[int, list[Any]] = {}
    for dashboard_id, config in session.execute(
        select(Widget.dashboard_id, Widget.config_json)
        .join(Dashboard, Dashboard.id == Widget.dashboard_id)
        .where(Dashboard.tenant_id == tenant_id)
    ):
        widgets.setdefault(dashboard_id, []).append(config)
    for board in boards:
        add("dashboard", board, [(board.layout_json or {}).get("queries"), widgets.get(board.id, [])])
    for template in session.scalars(
        select(PdfTemplate).where(PdfTemplate.tenant_id == tenant_id).order_by(PdfTemplate.id)
    ):
        add("pdf_template", template, template.schema_json)
    return out


def refuse_if_used(session: Session, tenant_id: int, names: Iterable[str], *, what: str) -> None:
    """A :class:`~portal.errors.Conflict` (409 naming ``force``) listing what still reads ``names``."""
    users = source_users(session, tenant_id, names)
    if not users:
        return
    listed = ", ".join(
        f"{u['type'].replace('_', ' ')} {u['name']!r}{' (in the trash)' if u['trashed'] else ''}"
        for u in users[:_LISTED]
    )
    more = f" and {len(users) - _LISTED} more" if len(users) > _LISTED else ""
    raise Conflict(
        f"force: {what} is used by {len(users)} saved object(s): {listed}{more}. Change or delete "
        "them first, or send force=true to remove it anyway (they will then show an unknown-source error)",
        field="force",
    )
