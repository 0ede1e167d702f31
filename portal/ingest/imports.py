"""File imports as a service: uploads, starting an import (a ``data_import`` job), status, reports.

An upload is stored under ``home/uploads/t<tenant>/`` by a random 128-bit id and belongs to
its uploader: the client never names a path. :func:`start_import` checks the principal, the
options and the file's head (a 0-byte file, a 10,000-column file, a ZIP renamed ``.xlsx`` are
422s now, not failed jobs later), records an ``import_runs`` row and submits the job; the
work itself is :func:`portal.ingest.runner.execute_import`. Every import is seen by its
importer and the tenant's admins only, like its bad-row report.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from portal.data.tenant_sources import get_source_row
from portal.errors import Conflict, InvalidSpec, NotFound, PermissionDenied
from portal.identity.principal import Principal
from portal.ingest.publish import check_target, with_existing_types
from portal.ingest.schema import ImportOptions, max_file_bytes
from portal.ingest.sniff import Sniffed, sniff_file
from portal.ingest.xlsx import is_xlsx_name, xlsx_to_csv
from portal.jobqueue.enqueue import Submission, submit
from portal.models import CatalogSource, JobRecord, utcnow
from portal.models.ingest import ImportRun
from portal.specs import parse_spec
from portal.specs.jobs import JobClass

IMPORT_FUNC = "jobs.ingest.import_file"
UPLOAD_ID_RE = re.compile(r"^[0-9a-f]{32}$")
STATUSES = ("queued", "running", "done", "failed", "canceled")
FINISHED = frozenset({"done", "failed", "canceled"})
UPLOAD_TTL_S = 24 * 3600  #: an upload not imported within a day is removed
_NAME_RE = re.compile(r"[^\w.()\- ]+")  # letters of any script stay: "Região.csv"


# --------------------------------------------------------------------------- who may
def require_importer(principal: Principal) -> int:
    """The importing user's id: an account of the tenant that sees all of its rows, or an admin.

    Share-link viewers, customer accounts and accounts restricted to some rows cannot add a
    source every user of the tenant would see.
    """
    if principal.kind not in ("user", "job") or principal.user_id is None:
        raise PermissionDenied(f"a {principal.kind} principal cannot import files")
    if not principal.is_admin and (principal.customer_id is not None or principal.scope.restrictions()):
        raise PermissionDenied(
            "only analysts and admins of the tenant import files (this account sees some rows only)"
        )
    return principal.user_id


# --------------------------------------------------------------------------- uploads
def clean_filename(filename: str) -> str:
    """A display name for an uploaded file (no path, no control characters)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return _NAME_RE.sub("_", base).strip()[:200] or "upload.csv"


def uploads_dir(home: Path, tenant_id: int) -> Path:
    """Where a tenant's uploads wait for their import."""
    return home / "uploads" / f"t{tenant_id}"


def new_upload(home: Path, principal: Principal, filename: str) -> tuple[str, Path]:
    """A fresh upload id and the file to stream the body into (its metadata is written now)."""
    user_id = require_importer(principal)
    upload_id = secrets.token_hex(16)
    directory = uploads_dir(home, principal.tenant_id)
    directory.mkdir(parents=True, exist_ok=True)
    sweep_uploads(directory)
    meta = {"filename": clean_filename(filename), "user_id": user_id, "created": time.time()}
    (directory / f"{upload_id}.json").write_text(json.dumps(meta))
    return upload_id, directory / f"{upload_id}.bin"


def sweep_uploads(directory: Path, max_age_s: float = UPLOAD_TTL_S) -> int:
    """Remove uploads nobody imported within ``max_age_s``; the files removed."""
    cutoff, removed = time.time() - max_age_s, 0
    for f in directory.iterdir():
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
                removed += 1
        except OSError:
            continue  # another process swept it first
    return removed


def upload_file(home: Path, principal: Principal, upload_id: Any) -> tuple[Path, str]:
    """``(path, filename)`` of the principal's own upload; 404 for anyone else's or a bad id."""
    if not isinstance(upload_id, str) or not UPLOAD_ID_RE.match(upload_id):
        raise InvalidSpec(
            "upload_id: not an upload id (PUT /api/imports/upload gives one)", field="upload_id"
        )
    directory = uploads_dir(home, principal.tenant_id)
    meta_path, data = directory / f"{upload_id}.json", directory / f"{upload_id}.bin"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise NotFound(f"upload_id: upload {upload_id} not found", field="upload_id") from None
    if meta.get("user_id") != principal.user_id or not data.exists():
        raise NotFound(f"upload_id: upload {upload_id} not found", field="upload_id")
    return data, str(meta.get("filename") or "upload.csv")


def preview(path: Path, filename: str, options: ImportOptions | None = None) -> Sniffed:
    """What the file looks like (an XLSX: its sheet's first 1,000 rows), for the user to check."""
    if path.stat().st_size == 0:
        raise InvalidSpec("file: the file is empty (0 bytes)", field="file")
    if path.stat().st_size > max_file_bytes():
        raise InvalidSpec(f"file: larger than the limit of {max_file_bytes()} bytes", field="file")
    if not is_xlsx_name(filename):
        return sniff_file(path, options)
    head = path.with_suffix(".head.csv")
    try:
        xlsx_to_csv(path, filename, head, sheet=options.sheet if options else None, max_rows=1000)
        opts = options.model_copy(update={"encoding": "utf-8", "delimiter": ","}) if options else None
        return sniff_file(head, opts)
    finally:
        head.unlink(missing_ok=True)


# --------------------------------------------------------------------------- imports
def start_import(
    session: Session,
    principal: Principal,
    upload_id: Any,
    options: Mapping[str, Any] | ImportOptions,
    *,
    home: Path,
) -> tuple[ImportRun, Submission]:
    """Check and record an import of the principal's upload and submit its job.

    Commit, then ``submission.enqueue(redis)`` (or :func:`enqueue_import`).
    """
    user_id = require_importer(principal)
    if not isinstance(options, ImportOptions) and not isinstance(options, Mapping):
        raise InvalidSpec("options: must be an object", field="options")
    opts = parse_spec(ImportOptions, options)
    path, filename = upload_file(home, principal, upload_id)
    existing = _existing(session, principal.tenant_id, opts.table)
    sniffed = preview(path, filename, with_existing_types(opts, existing))
    check_target(existing, opts, sniffed.columns)
    opts.check_columns({c.name for c in sniffed.columns})
    run = ImportRun(
        tenant_id=principal.tenant_id,
        user_id=user_id,
        source_name=opts.table,
        filename=filename,
        size_bytes=path.stat().st_size,
        options_json={"upload_id": upload_id, "options": opts.model_dump(mode="json", exclude_none=True)},
        status="queued",
        rows_read=0,
        rows_loaded=0,
        rows_rejected=0,
        bytes_done=0,
        report_path="",
    )
    session.add(run)
    session.flush()
    sub = submit(
        session, principal, JobClass.DATA_IMPORT, {"import_id": run.id}, func=IMPORT_FUNC, max_attempts=1
    )
    run.job_id = sub.record.id
    session.flush()
    return run, sub


def enqueue_import(sessions: sessionmaker[Session], redis: Redis, run: ImportRun) -> None:
    """Put a committed import's job on the queue (for callers that kept only the run)."""
    with sessions() as s:
        record = s.get(JobRecord, run.job_id) if run.job_id else None
        if record is not None:
            Submission(record).enqueue(redis)


def _existing(session: Session, tenant_id: int, name: str) -> CatalogSource | None:
    try:
        return get_source_row(session, tenant_id, name)
    except NotFound:
        return None


def get_import(session: Session, principal: Principal, import_id: int) -> ImportRun:
    """An import its importer or a tenant admin may see; 404 for anyone else (no probing)."""
    run = session.get(ImportRun, import_id) if 0 < import_id < 2**62 else None
    if run is None or run.tenant_id != principal.tenant_id:
        raise NotFound(f"import {import_id} not found")
    if not principal.is_admin and (principal.user_id is None or run.user_id != principal.user_id):
        raise NotFound(f"import {import_id} not found")
    return run


def list_imports(session: Session, principal: Principal, *, limit: int = 50) -> list[ImportRun]:
    """The imports the principal may see (their own; an admin: the tenant's), newest first."""
    q = select(ImportRun).where(ImportRun.tenant_id == principal.tenant_id)
    if not principal.is_admin:
        q = q.where(ImportRun.user_id == principal.user_id)
    return list(session.scalars(q.order_by(ImportRun.id.desc()).limit(max(1, min(limit, 500)))))


def bad_rows_report_path(session: Session, principal: Principal, import_id: int, *, home: Path) -> Path:
    """The bad-row report CSV of an import the principal may see; 404 when there is none."""
    run = get_import(session, principal, import_id)
    path = (home / run.report_path) if run.report_path else None
    if path is None or not path.is_file():
        raise NotFound(f"import {import_id} has no bad-row report (yet)")
    return path


def cancel_import(session: Session, principal: Principal, import_id: int) -> ImportRun:
    """Cancel an import on its way: nothing it did is kept. 409 naming ``status`` once finished."""
    run = get_import(session, principal, import_id)
    if run.status in FINISHED:
        raise Conflict(f"status: the import is {run.status} already", field="status")
    run.status, run.finished_at = "canceled", utcnow()
    run.error = f"canceled by {principal.label or 'a user'}"
    if run.job_id is not None:
        from portal.jobqueue.monitor import cancel_job

        job = session.get(JobRecord, run.job_id)
        if job is not None and job.status in ("queued", "deferred", "waiting", "retrying"):
            cancel_job(session, principal, run.job_id)
    session.flush()
    return run


# --------------------------------------------------------------------------- summaries
def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def summary(run: ImportRun, now: datetime | None = None) -> dict[str, Any]:
    """Rows read/loaded/rejected, MB, seconds, rate (rows/s) and ETA (s) of an import."""
    started, finished = _aware(run.started_at), _aware(run.finished_at)
    end = finished or _aware(now) or datetime.now(UTC)
    seconds = max(0.0, (end - started).total_seconds()) if started else 0.0
    rate = run.rows_read / seconds if seconds > 0 else 0.0
    eta: float | None = None
    if run.status == "running" and seconds > 0 and run.bytes_done > 0:
        eta = max(0.0, (run.size_bytes - run.bytes_done) / (run.bytes_done / seconds))
    elif run.status in FINISHED:
        eta = 0.0
    return {
        "rows_read": run.rows_read,
        "rows_loaded": run.rows_loaded,
        "rows_rejected": run.rows_rejected,
        "bytes_done": run.bytes_done,
        "size_bytes": run.size_bytes,
        "mb_done": round(run.bytes_done / 1e6, 2),
        "seconds": round(seconds, 2),
        "rate_rows_s": round(rate, 1),
        "eta_s": round(eta, 1) if eta is not None else None,
    }


def import_to_dict(run: ImportRun, now: datetime | None = None) -> dict[str, Any]:
    """JSON form of an import (GET /api/imports/{id}): status, progress, outcome, report."""
    opts = (run.options_json or {}).get("options") or {}
    return {
        "id": run.id,
        "job_id": run.job_id,
        "status": run.status,
        "source_name": run.source_name,
        "filename": run.filename,
        "mode": opts.get("mode", "create"),
        **summary(run, now),
        "error": run.error,
        "has_report": bool(run.report_path),
        "report_url": f"/api/imports/{run.id}/bad-rows" if run.report_path else None,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }


def _iso(moment: datetime | None) -> str | None:
    m = _aware(moment)
    return m.isoformat() if m is not None else None
