"""The catalog (what may be queried), ad-hoc queries and their cost estimates.

``POST /api/query`` answers JSON rows, or an Arrow stream when ``Accept`` asks for one
(:mod:`portal.web.api.frames`): the same checks, scope and service call either way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.errors import BadRequest
from portal.identity.principal import Principal
from portal.web.api.base import BaseHandler, frame_payload
from portal.web.api.frames import ArrowAnswer, arrow_answer, send_answer, wants_arrow


class CatalogHandler(BaseHandler):
    async def get(self) -> None:
        principal = await self.call(lambda s, p: p)
        # The warehouse's sources plus the ones the caller's tenant added (imports, databases...).
        self.send({"sources": self.ctx.warehouse.catalog_for(principal.scope.tenant_key).to_dict()})


class QueryHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body(("query", "params"))
        if "query" not in data:
            raise BadRequest("query: required (a QuerySpec object)", field="query")
        params = data.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("params: must be an object", field="params")

        arrow = wants_arrow(self.request.headers.get("Accept", ""))

        def run(session: Session, principal: Principal) -> dict[str, Any] | ArrowAnswer:
            res = self.ctx.warehouse.run(data["query"], principal.scope, params=params)
            meta = {"row_count": res.row_count, "cached": res.cached, "runtime_ms": round(res.runtime_ms, 2)}
            if arrow:
                return arrow_answer(res.frame, **meta)
            return {**frame_payload(res.frame), **meta}

        send_answer(self, await self.call(run))


class EstimateHandler(BaseHandler):
    async def post(self) -> None:
        data = self.body(("query", "params"))
        if "query" not in data:
            raise BadRequest("query: required (a QuerySpec object)", field="query")

        def est(session: Session, principal: Principal) -> dict[str, Any]:
            e = self.ctx.warehouse.estimate(data["query"], principal.scope, params=data.get("params") or {})
            return {
                "scanned_rows": e.scanned_rows,
                "result_rows": e.result_rows,
                "cost": e.cost,
                "method": e.method,
            }

        self.send(await self.call(est))
