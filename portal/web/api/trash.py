"""The trash: reports and dashboards deleted in the last 30 days, and restoring them.

``GET /api/trash[?type=report|dashboard]`` lists what the caller may restore (their own
objects, what they deleted; everything of the tenant for admins), purging the tenant's
entries older than 30 days first; ``POST /api/trash/{type}/{id}/restore`` brings one back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal import dashboards, reports
from portal.errors import BadRequest, NotFound
from portal.identity.principal import Principal
from portal.web.api.base import BaseHandler, path_id

TYPES = ("report", "dashboard")


def _type(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in TYPES:
        raise BadRequest(f"type: must be one of {', '.join(TYPES)} (got {str(value)[:40]!r})", field="type")
    return value


class TrashHandler(BaseHandler):
    async def get(self) -> None:
        kind = _type(self.get_query_argument("type", None))

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            dashboards.purge_trash(
                session, tenant_id=principal.tenant_id, results_dir=self.ctx.settings.results_dir
            )
            items: list[reports.TrashItem] = []
            if kind in (None, "dashboard"):
                items += dashboards.list_dashboard_trash(session, principal)
            if kind in (None, "report"):
                items += reports.list_report_trash(session, principal)
            items.sort(key=lambda i: (i.deleted_at, i.id), reverse=True)
            return {"items": [i.to_dict() for i in items], "days": reports.TRASH_DAYS}

        self.send(await self.call(lst))


class TrashRestoreHandler(BaseHandler):
    async def post(self, kind: str, oid: str) -> None:
        self.body(())
        if kind not in TYPES:
            raise NotFound(f"type: no trash for {kind[:40]!r} (use report or dashboard)", field="type")

        def restore(session: Session, principal: Principal) -> dict[str, Any]:
            if kind == "report":
                return reports.report_to_dict(reports.restore_report(session, principal, path_id(oid)))
            d = dashboards.restore_dashboard(session, principal, path_id(oid))
            return dashboards.dashboard_to_dict(d)

        self.send(await self.call(restore))
