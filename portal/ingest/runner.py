"""Running one import end to end: read, validate, write the report, publish, register, signal.

Used by the ``data_import`` job (:mod:`jobs.ingest`) and by ``conductor import`` (in-process).
Each step that writes the metadata database is a short transaction of its own: progress (at
most twice a second), the outcome, and the catalog registration together with ``done``. The
warehouse side is swapped in whole (:mod:`portal.ingest.publish`), so a crash or a cancel at
any point leaves the source as it was.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from redis import Redis
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from portal.config import Settings
from portal.data.tenant_sources import catalog_changed, get_source_row, register_source
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError
from portal.identity.principal import principal_for_user_id
from portal.infra.db import transaction
from portal.ingest.imports import require_importer, uploads_dir
from portal.ingest.load import Staging, prepare, stage, write_report
from portal.ingest.locks import source_lock
from portal.ingest.publish import (
    catalog_columns,
    check_target,
    parquet_dir,
    prune_versions,
    publish_parquet,
    publish_postgres,
    with_existing_types,
)
from portal.ingest.schema import ImportOptions
from portal.ingest.xlsx import ImportCanceled
from portal.models import Tenant, utcnow
from portal.models.ingest import ImportRun
from portal.specs import parse_spec

log = logging.getLogger(__name__)

#: ``hook(run_dict)``: told about progress (the job's ``record_progress``, the CLI's bar).
Hook = Callable[[dict[str, Any]], None]
PROGRESS_EVERY_S = 0.5


class ImportDeps(Protocol):
    """What an import needs of the application context (an AppContext has all of it)."""

    settings: Settings
    sessions: sessionmaker[Session]
    redis: Redis
    warehouse: Warehouse


@dataclass
class Outcome:
    """How an import ended."""

    status: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    error: str | None = None
    report: Path | None = None
    seconds: float = 0.0


def work_dir(home: Path, tenant_id: int, run_id: int) -> Path:
    """The import's directory: staging files while it runs, then its bad-row report."""
    return home / "imports" / f"t{tenant_id}" / f"run-{run_id}"


class _Tracker:
    """Throttled progress writes and a cached look at whether the run was canceled."""

    def __init__(self, deps: ImportDeps, run_id: int, hook: Hook | None) -> None:
        self.deps, self.run_id, self.hook = deps, run_id, hook
        self.last_write = 0.0
        self.last_check, self.canceled = 0.0, False
        self.started = time.monotonic()

    def progress(self, rows: int, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and done < total:
            return
        self.last_write = now
        with transaction(self.deps.sessions) as s:
            s.execute(
                update(ImportRun)
                .where(ImportRun.id == self.run_id, ImportRun.status == "running")
                .values(rows_read=rows, bytes_done=min(done, total))
                .execution_options(synchronize_session=False)
            )
        if self.hook is not None:
            elapsed = max(1e-6, now - self.started)
            eta = (total - done) / (done / elapsed) if done > 0 else None
            self.hook({"rows_read": rows, "bytes_done": done, "size_bytes": total, "eta_s": eta})

    def cancelled(self, *, fresh: bool = False) -> bool:
        if self.canceled:
            return True
        now = time.monotonic()
        if now - self.last_check < 0.25 and not fresh:
            return False
        self.last_check = now
        with self.deps.sessions() as s:
            status = s.scalar(
                ImportRun.__table__.select()
                .with_only_columns(ImportRun.status)
                .where(ImportRun.id == self.run_id)
            )
        self.canceled = status == "canceled"
        return self.canceled


def _finish(deps: ImportDeps, run_id: int, outcome: Outcome, home: Path) -> None:
    with transaction(deps.sessions) as s:
        run = s.get(ImportRun, run_id)
        if run is None:
            return
        if run.status == "canceled" and outcome.status != "done":
            outcome.status = "canceled"
        run.status = outcome.status
        run.rows_read, run.rows_loaded, run.rows_rejected = (
            outcome.rows_read,
            outcome.rows_loaded,
            outcome.rows_rejected,
        )
        run.error = outcome.error if outcome.status != "canceled" else (run.error or outcome.error)
        run.report_path = str(outcome.report.relative_to(home)) if outcome.report is not None else ""
        run.finished_at = utcnow()


def execute_import(deps: ImportDeps, run_id: int, *, hook: Hook | None = None) -> Outcome:
    """Run import ``run_id`` (a ``queued`` row) to its end and record how it ended."""
    home = deps.settings.home
    with transaction(deps.sessions) as s:
        run = s.get(ImportRun, run_id)
        if run is None:
            raise NotFound(f"import {run_id} not found")
        if run.status in ("done", "failed", "canceled"):
            return Outcome(run.status, run.rows_read, run.rows_loaded, run.rows_rejected, run.error)
        tenant = s.get(Tenant, run.tenant_id)
        try:
            if tenant is None or run.user_id is None:
                raise NotFound("user: the importing account is gone", field="user")
            # The importer may have lost the right since (disabled, restricted): checked again.
            require_importer(principal_for_user_id(s, run.user_id, kind="job"))
        except PortalError as exc:
            run.status, run.error, run.finished_at = "failed", exc.message, utcnow()
            return Outcome("failed", error=exc.message)
        assert tenant is not None and run.user_id is not None
        run.status, run.started_at = "running", utcnow()
        tenant_id, tenant_key, user_id = run.tenant_id, tenant.slug, run.user_id
        opts = parse_spec(ImportOptions, (run.options_json or {}).get("options") or {})
        with contextlib.suppress(NotFound):
            opts = with_existing_types(opts, get_source_row(s, run.tenant_id, opts.table))
        upload_id = str((run.options_json or {}).get("upload_id") or "")
        local = (run.options_json or {}).get("path")  # a CLI import reads the file where it is
        path = Path(local) if local else uploads_dir(home, tenant_id) / f"{upload_id}.bin"
        filename, size = run.filename, run.size_bytes
    work = work_dir(home, tenant_id, run_id)
    stage_dir = work / "stage"
    stage_dir.mkdir(parents=True, exist_ok=True)
    tracker = _Tracker(deps, run_id, hook)
    outcome = Outcome("failed")
    started = time.perf_counter()
    st: Staging | None = None
    try:
        if not path.is_file():
            raise NotFound("upload_id: the uploaded file is gone; upload it again", field="upload_id")
        csv_path, sniffed = prepare(
            path, filename, opts, stage_dir, progress=tracker.progress, cancelled=tracker.cancelled
        )
        st = stage(
            csv_path,
            sniffed,
            opts,
            stage_dir,
            bytes_total=size,
            progress=tracker.progress,
            cancelled=tracker.cancelled,
            transcoded=csv_path != path,
            compression="zstd" if deps.settings.warehouse.startswith("duckdb") else "snappy",
        )
        outcome.rows_read, outcome.rows_rejected = st.rows_read, st.rows_rejected
        if st.rows_rejected or st.warnings:
            outcome.report = work / "bad_rows.csv"
            write_report(st, outcome.report)
        if opts.all_or_nothing and st.rows_rejected:
            raise InvalidSpec(
                f"all_or_nothing: {st.rows_rejected} rows were rejected, so nothing was loaded "
                "(see the bad-row report)",
                field="all_or_nothing",
            )
        if st.rows_read and st.rows_rejected >= st.rows_read:
            raise InvalidSpec(
                "file: every row was rejected; nothing was loaded (see the bad-row report)", field="file"
            )
        if tracker.cancelled(fresh=True):  # the last moment a cancel leaves everything as it was
            raise ImportCanceled("the import was canceled")
        outcome.rows_loaded = _publish(deps, st, opts, tenant_id, tenant_key, user_id, stage_dir, tracker)
        outcome.status = "done"
    except ImportCanceled as exc:
        outcome.status, outcome.error = "canceled", exc.message
    except PortalError as exc:
        outcome.status, outcome.error = "failed", exc.message
    except Exception as exc:
        log.exception("import %s failed", run_id)
        outcome.status, outcome.error = (
            "failed",
            f"internal error ({type(exc).__name__}); the source is unchanged",
        )
    finally:
        if st is not None:
            st.close()
        shutil.rmtree(stage_dir, ignore_errors=True)
    outcome.seconds = time.perf_counter() - started
    _finish(deps, run_id, outcome, home)
    if outcome.status == "done" and not local:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
    return outcome


def _publish(
    deps: ImportDeps,
    st: Staging,
    opts: ImportOptions,
    tenant_id: int,
    tenant_key: str,
    user_id: int,
    work: Path,
    tracker: _Tracker,
) -> int:
    """Swap the good rows in and register the source; the rows this file added or changed.

    Under the source's write lock: another import or sync of it waits, so neither reads a
    version the other is about to replace (an append would lose the other's rows).
    """
    with source_lock(
        deps.settings.home,
        tenant_id,
        opts.table,
        cancelled=lambda: tracker.cancelled(fresh=True),
        on_cancel=lambda: ImportCanceled("the import was canceled while waiting for another load"),
    ):
        settings = deps.settings
        with deps.sessions() as s:
            try:
                row = get_source_row(s, tenant_id, opts.table)
            except NotFound:
                row = None
            check_target(row, opts, st.columns)
            previous = row.parquet_path if row is not None else ""
            exists = row is not None
        url = settings.warehouse
        if url.startswith("duckdb"):
            parquet, total, new_rows = publish_parquet(
                st, opts, home=settings.home, tenant_id=tenant_id, current=previous
            )
            table = ""
        elif url.startswith("postgresql"):
            table, total, new_rows = publish_postgres(
                st, opts, url=url, tenant_id=tenant_id, work=work, exists=exists, cancelled=tracker.cancelled
            )
            parquet = ""
        else:
            raise InvalidSpec(
                "table: this warehouse does not take imports (DuckDB or PostgreSQL only)", field="table"
            )
        with transaction(deps.sessions) as s:
            register_source(
                s,
                tenant_id,
                name=opts.table,
                origin="import",
                columns=catalog_columns(st.columns),
                label=opts.label,
                description=opts.description,
                scope={str(k): v for k, v in opts.scope.items()},
                time_column=opts.time_column,
                key_columns=opts.key_columns,
                table_name=table,
                parquet_path=parquet,
                row_count=total,
                created_by=user_id,
            )
        catalog_changed(deps.redis, tenant_key)
        deps.warehouse.invalidate(opts.table)
        if parquet:
            prune_versions(parquet_dir(settings.home, tenant_id, opts.table), parquet, previous)
        return new_rows


def local_import(
    deps: ImportDeps,
    path: Path,
    options: ImportOptions,
    *,
    user_email: str,
    tenant: str | None = None,
    hook: Hook | None = None,
) -> tuple[int, Outcome]:
    """Import a file on the server's disk in this process (``conductor import``): no worker needed.

    The run is recorded like any other import (``job_id`` None), as the user ``user_email``.
    """
    from sqlalchemy import select

    from portal.identity.principal import principal_for_user
    from portal.ingest.imports import clean_filename, preview
    from portal.models import User

    if not path.is_file():
        raise InvalidSpec(f"file: no file {str(path)!r}", field="file")
    with transaction(deps.sessions) as s:
        user = s.scalar(select(User).where(User.email == user_email.strip().lower()))
        if user is None or not user.is_active:
            raise NotFound(f"user: no active user {user_email!r}", field="user")
        principal = principal_for_user(s, user)
        if tenant is not None and s.get(Tenant, user.tenant_id).slug != tenant:  # type: ignore[union-attr]
            raise InvalidSpec(f"tenant: {user_email} is not a user of tenant {tenant!r}", field="tenant")
        require_importer(principal)
        try:
            existing = get_source_row(s, user.tenant_id, options.table)
        except NotFound:
            existing = None
        sniffed = preview(path, path.name, with_existing_types(options, existing))
        check_target(existing, options, sniffed.columns)
        options.check_columns({c.name for c in sniffed.columns})
        run = ImportRun(
            tenant_id=user.tenant_id,
            user_id=user.id,
            source_name=options.table,
            filename=clean_filename(path.name),
            size_bytes=path.stat().st_size,
            options_json={
                "path": str(path.resolve()),
                "options": options.model_dump(mode="json", exclude_none=True),
            },
            status="queued",
            rows_read=0,
            rows_loaded=0,
            rows_rejected=0,
            bytes_done=0,
            report_path="",
        )
        s.add(run)
        s.flush()
        run_id = run.id
    return run_id, execute_import(deps, run_id, hook=hook)
