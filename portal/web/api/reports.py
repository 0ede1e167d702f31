"""Saved reports: the library listing, CRUD, execution, history and exports of stored results.

``POST /api/reports/{id}/execute`` puts a run on the job queue and, when it finishes within a
short wait, answers the execution as JSON (with a preview of the rows) or the whole result as
an Arrow stream when ``Accept`` asks for one (:mod:`portal.web.api.frames`); a failed execution
has no rows and stays JSON. A run still on its way answers 202 with its job.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy.orm import Session

from portal import reports
from portal.data.exports import export_frame
from portal.errors import BadRequest
from portal.identity import audit
from portal.identity.principal import Principal
from portal.jobqueue.enqueue import Submission
from portal.jobstore import get_job
from portal.queue.states import FINISHED
from portal.reports import runs
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


#: Seconds ``execute`` waits for its job by default, and at most (``wait`` in the body).
RUN_WAIT_S = 2.0
MAX_RUN_WAIT_S = 60.0
_POLL_S = 0.05


def _wait_seconds(value: Any) -> float:
    if value is None:
        return RUN_WAIT_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_RUN_WAIT_S:
        raise BadRequest(f"wait: seconds from 0 to {MAX_RUN_WAIT_S:g}, got {str(value)[:20]!r}", field="wait")
    return float(value)


class ExecuteHandler(BaseHandler):
    """``POST /api/reports/{id}/execute``: a ``report_execute`` job on the queue.

    Body: ``params``, ``priority`` (critical|high|normal|low), ``offpeak_only``, ``override``
    (admins: run now, outside the off-peak window), ``window`` (a flexible window
    ``{"timezone", "start", "end"}``), ``use_cache``, ``wait`` (seconds, default 2, max 60).
    A run that finishes within ``wait`` answers 201 with its execution (and ``job_id``), as
    JSON with a preview or as Arrow; otherwise 202 with ``{"job_id", "state", "reason"}``.
    """

    async def post(self, rid: str) -> None:
        data = self.body(("params", "use_cache", "priority", "offpeak_only", "override", "window", "wait"))
        wait = _wait_seconds(data.get("wait"))
        arrow = wants_arrow(self.request.headers.get("Accept", ""))
        report_id = path_id(rid)

        def submit(session: Session, principal: Principal) -> Submission:
            return runs.submit_run(
                session,
                principal,
                report_id,
                self.ctx.warehouse,
                params=data.get("params"),
                priority=data.get("priority", "normal"),
                offpeak_only=data.get("offpeak_only", False),
                override=data.get("override", False),
                window=data.get("window"),
                use_cache=data.get("use_cache", True),
            )

        sub = await self.call(submit)
        sub.enqueue(self.ctx.redis)
        deadline = time.monotonic() + wait
        record = sub.record
        while record.status not in FINISHED and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_S)
            record = await self.call(lambda s, p: get_job(s, p, sub.record.id))
        if record.status not in FINISHED or record.status == "canceled":
            self.send(runs.run_answer(record), 202)
            return

        def answer(session: Session, principal: Principal) -> dict[str, Any] | ArrowAnswer:
            job = get_job(session, principal, sub.record.id)
            ex = runs.execution_of(session, job)
            if ex is None:  # failed before the report ran (e.g. the report was deleted meanwhile)
                return {**runs.run_answer(job), "error": job.last_error}
            out = {**reports.execution_to_dict(ex, principal), **runs.run_answer(job)}
            if ex.status == "done" and (arrow or self.get_query_argument("preview", "1") != "0"):
                _, _, frame = reports.load_execution_result(
                    session, principal, ex.id, self.ctx.settings.results_dir
                )
                if arrow:
                    meta = {k: out[k] for k in ("status", "row_count", "runtime_ms")}
                    return arrow_answer(frame, execution_id=ex.id, job_id=job.id, **meta)
                out["preview"] = frame_payload(frame.head(100))
            return out

        send_answer(self, await self.call(answer), 201)


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
