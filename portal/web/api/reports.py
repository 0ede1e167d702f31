"""Saved reports: the library listing, CRUD, execution, history and exports of stored results.

``POST /api/reports/{id}/execute`` answers the execution as JSON (with a preview of
the rows), or the whole result as an Arrow stream when ``Accept`` asks for one
(:mod:`portal.web.api.frames`); a failed execution has no rows and stays JSON.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal import reports
from portal.data.exports import export_frame
from portal.errors import BadRequest
from portal.identity import audit
from portal.identity.principal import Principal
from portal.web.api.base import BaseHandler, frame_payload, path_id
from portal.web.api.frames import ArrowAnswer, arrow_answer, send_answer, wants_arrow


class ReportsHandler(BaseHandler):
    async def get(self) -> None:
        """The report library: ``?group=mine|team|public&search=`` (accents and case ignored); each
        report with ``owner_name`` and ``last_run`` (row counts only to whoever ran it)."""
        search = self.get_query_argument("search", None)
        group = self.get_query_argument("group", None) or None

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            entries = reports.report_library(session, principal, group=group, search=search)
            return {"reports": [reports.entry_to_dict(e, principal) for e in entries]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        data = self.body()

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            return reports.report_to_dict(reports.create_report(session, principal, data, self.ctx.warehouse))

        self.send(await self.call(create), 201)


class ReportHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            r = reports.get_report(session, principal, path_id(rid))
            return reports.report_to_dict(r)

        self.send(await self.call(get))

    async def put(self, rid: str) -> None:
        data = self.body()

        def put(session: Session, principal: Principal) -> dict[str, Any]:
            return reports.report_to_dict(
                reports.update_report(session, principal, path_id(rid), data, self.ctx.warehouse)
            )

        self.send(await self.call(put))

    async def delete(self, rid: str) -> None:
        await self.call(lambda s, u: reports.delete_report(s, u, path_id(rid)))
        self.set_status(204)
        self.finish()


class ExecuteHandler(BaseHandler):
    async def post(self, rid: str) -> None:
        data = self.body(("params", "use_cache"))
        params = data.get("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest("params: must be an object", field="params")
        use_cache = data.get("use_cache", True)
        if not isinstance(use_cache, bool):
            raise BadRequest("use_cache: must be true or false", field="use_cache")

        arrow = wants_arrow(self.request.headers.get("Accept", ""))

        def run(session: Session, principal: Principal) -> dict[str, Any] | ArrowAnswer:
            ex = reports.execute_report(
                session,
                principal,
                path_id(rid),
                self.ctx.warehouse,
                self.ctx.settings.results_dir,
                params=params,
                use_cache=use_cache,
            )
            out = reports.execution_to_dict(ex, principal)
            if ex.status == "done" and (arrow or self.get_query_argument("preview", "1") != "0"):
                _, _, frame = reports.load_execution_result(
                    session, principal, ex.id, self.ctx.settings.results_dir
                )
                if arrow:
                    meta = {k: out[k] for k in ("status", "row_count", "runtime_ms")}
                    return arrow_answer(frame, execution_id=ex.id, **meta)
                out["preview"] = frame_payload(frame.head(100))
            return out

        send_answer(self, await self.call(run), 201)


class ExecutionsHandler(BaseHandler):
    async def get(self, rid: str) -> None:
        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = reports.list_executions(session, principal, path_id(rid))
            return {"executions": [reports.execution_to_dict(e, principal) for e in rows]}

        self.send(await self.call(lst))


class ExecutionExportHandler(BaseHandler):
    async def get(self, eid: str) -> None:
        fmt = self.get_query_argument("format", "csv")

        def export(session: Session, principal: Principal) -> tuple[bytes, str, str]:
            ex, r, frame = reports.load_execution_result(
                session,
                principal,
                path_id(eid),
                self.ctx.settings.results_dir,
                "export",
                warehouse=self.ctx.warehouse,
            )
            out = export_frame(frame, fmt)
            audit.record(session, principal, "export", r, details={"execution_id": ex.id, "format": fmt})
            return out.data, out.content_type, out.filename(f"{r.name}-{ex.id}")

        data, ctype, fname = await self.call(export)
        self.set_header("Content-Type", ctype)
        self.set_header("Content-Disposition", f'attachment; filename="{fname}"')
        self.finish(data)
