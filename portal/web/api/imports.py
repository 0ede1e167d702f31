"""File imports: ``PUT /api/imports/upload?filename=`` streams a CSV/XLSX to the server and answers
a preview, ``POST /api/imports`` starts the import job, ``GET /api/imports[/{id}]`` shows status
and progress, ``GET /api/imports/{id}/bad-rows`` downloads the bad-row report and
``POST /api/imports/{id}/cancel`` cancels.

The upload is authenticated in ``prepare()``, before a byte of the body is accepted, and the
body goes to disk as it arrives (``@stream_request_body``): never whole in memory, and cut off
with a 413 the moment it passes the size limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop
from tornado.web import stream_request_body

from portal.errors import BadRequest, PayloadTooLarge, PortalError
from portal.identity.principal import Principal
from portal.ingest import imports
from portal.ingest.schema import max_file_bytes
from portal.jobqueue.monitor import withdraw
from portal.models import JobRecord
from portal.web.api.base import BaseHandler, path_id

START_FIELDS = ("upload_id", "options")
#: Bodies up to this size are read (and dropped) before a refusal is answered, so the client
#: reads the answer and may reuse its connection; a larger one is cut off (a reset).
SMALL_REFUSED_BODY = 4 * 1024 * 1024


@stream_request_body
class ImportUploadHandler(BaseHandler):
    """The raw file as the request body, streamed to disk."""

    _file: IO[bytes] | None = None
    _path: Path | None = None
    _size = 0
    _limit = 0
    _upload_id = ""

    #: A refusal decided before the body was read, answered once a small body has arrived.
    _refused: PortalError | None = None

    async def prepare(self) -> None:
        if self.request.method != "PUT":
            return
        try:
            await self._open()
        except PortalError as exc:
            # Answering before the body is read closes a connection with unread bytes: the
            # client sees a reset, or reuses the closed connection for its next request. A body
            # of a few MB is read and dropped first; a larger one is not worth reading.
            declared = self.request.headers.get("Content-Length", "")
            if not (declared.isdigit() and int(declared) <= SMALL_REFUSED_BODY):
                raise
            self._refused = exc

    async def _open(self) -> None:
        filename = self.get_query_argument("filename", "")
        if not filename.strip():
            raise BadRequest("filename: give the file's name (?filename=data.csv)", field="filename")
        self._limit = max_file_bytes()
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._limit:
            raise PayloadTooLarge(f"file: larger than the limit of {self._limit} bytes", field="file")
        # Who is asking is settled before the body is read (a stranger's upload costs nothing).
        home = self.ctx.settings.home
        upload_id, path = await self.call(lambda s, p: imports.new_upload(home, p, filename))
        self._upload_id, self._path = upload_id, path
        self._file = path.open("wb")
        self.request.connection.set_max_body_size(self._limit + 1)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        if self._file is None:
            return
        self._size += len(chunk)
        if self._size > self._limit:
            # Stop keeping it at once; ``put`` answers the 413 (an error raised here would only
            # drop the connection).
            self._discard()
            return
        self._file.write(chunk)

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path.with_suffix(".json").unlink(missing_ok=True)
            self._path = None

    def on_connection_close(self) -> None:
        self._discard()  # the client went away mid-upload: no half file is kept

    async def put(self) -> None:
        """Upload a CSV/XLSX file (the raw body); answers its id and a preview of what was detected."""
        if self._refused is not None:
            raise self._refused
        if self._size > self._limit:
            raise PayloadTooLarge(f"file: larger than the limit of {self._limit} bytes", field="file")
        assert self._file is not None and self._path is not None
        self._file.close()
        self._file = None
        path, filename = self._path, self.get_query_argument("filename")
        try:
            sniffed = await IOLoop.current().run_in_executor(None, imports.preview, path, filename, None)
        except PortalError:
            self._discard()  # a file that cannot be imported is not kept
            raise
        self.send(
            {
                "upload_id": self._upload_id,
                "size": self._size,
                "filename": imports.clean_filename(filename),
                "preview": sniffed.to_dict(),
            }
        )

    def on_finish(self) -> None:
        super().on_finish()
        if self._file is not None:
            self._discard()


class ImportsHandler(BaseHandler):
    async def get(self) -> None:
        """My imports (an admin: the tenant's), newest first."""

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            return {"imports": [imports.import_to_dict(r) for r in imports.list_imports(session, principal)]}

        self.send(await self.call(lst))

    async def post(self) -> None:
        """Start importing an upload with options (table, mode, keys, checks...): 202 with the job."""
        body = self.body(START_FIELDS)
        if "upload_id" not in body:
            raise BadRequest("upload_id: missing (PUT /api/imports/upload gives one)", field="upload_id")
        home = self.ctx.settings.home

        def start(session: Session, principal: Principal) -> tuple[dict[str, Any], Any]:
            run, sub = imports.start_import(
                session, principal, body["upload_id"], body.get("options") or {}, home=home
            )
            return imports.import_to_dict(run), sub

        answer, sub = await self.call(start)
        await asyncio.get_running_loop().run_in_executor(None, sub.enqueue, self.ctx.redis)
        self.send(answer, 202)


class ImportHandler(BaseHandler):
    async def get(self, import_id: str) -> None:
        """One import: status and progress (rows, bytes, rate, ETA), outcome and report link."""
        iid = path_id(import_id, "import_id")
        self.send(await self.call(lambda s, p: imports.import_to_dict(imports.get_import(s, p, iid))))


class ImportBadRowsHandler(BaseHandler):
    async def get(self, import_id: str) -> None:
        """Download the bad-row report (CSV: row, column, reason, value, severity)."""
        iid = path_id(import_id, "import_id")
        home = self.ctx.settings.home
        path = await self.call(lambda s, p: imports.bad_rows_report_path(s, p, iid, home=home))
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="import-{iid}-bad-rows.csv"')
        with path.open("rb") as f:
            while chunk := f.read(256 * 1024):
                self.write(chunk)
                await self.flush()
        self.finish()


class ImportCancelHandler(BaseHandler):
    async def post(self, import_id: str) -> None:
        """Cancel an import on its way: the source stays as it was."""
        iid = path_id(import_id, "import_id")

        def cancel(session: Session, principal: Principal) -> tuple[dict[str, Any], JobRecord | None]:
            run = imports.cancel_import(session, principal, iid)
            job = session.get(JobRecord, run.job_id) if run.job_id else None
            return imports.import_to_dict(run), job

        answer, job = await self.call(cancel)
        if job is not None and job.status == "canceled":
            with contextlib.suppress(Exception):  # the record says canceled; RQ's copy is best effort
                await asyncio.get_running_loop().run_in_executor(None, withdraw, self.ctx.redis, job)
        self.send(answer)


ROUTES = [
    (r"/api/imports/upload", ImportUploadHandler),
    (r"/api/imports", ImportsHandler),
    (r"/api/imports/(\d{1,18})", ImportHandler),
    (r"/api/imports/(\d{1,18})/bad-rows", ImportBadRowsHandler),
    (r"/api/imports/(\d{1,18})/cancel", ImportCancelHandler),
]
