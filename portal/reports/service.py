"""Report service: CRUD, the library listing, the trash, on-demand execution with history, stored results.

Functions take the session first and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, true
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.data.query import compile_query
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError
from portal.identity import audit
from portal.identity.permissions import authorize, can, granted_ids, visible_clause
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.infra.metrics import REPORT_EXECUTIONS
from portal.models import Membership, Permission, Report, ReportExecution, search_key
from portal.reports.trash import (
    TrashItem,
    move_to_trash,
    purge_cutoff,
    take_out_of_trash,
    trash_items,
    trashed,
    user_names,
)
from portal.specs import ChartSpec, ObjectScope, QuerySpec, parse_spec

log = logging.getLogger(__name__)


class ReportIn(BaseModel):
    """What a client sends to create or update a report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    query: QuerySpec
    params: dict[str, Any] = Field(default_factory=dict)
    visibility: Literal["private", "group", "customer", "public"] = "private"
    heavy: bool = False
    published: bool = False
    viz: list[ChartSpec] = Field(default_factory=list, max_length=20)
    scope: ObjectScope = Field(default_factory=ObjectScope)


def report_to_dict(r: Report) -> dict[str, Any]:
    """JSON view of a report."""
    return {
        "id": r.id,
        "name": r.name,
        "description": r.description,
        "query": r.query_json,
        "params": r.params_json,
        "visibility": r.visibility,
        "heavy": r.heavy,
        "published": r.published,
        "viz": r.viz_json,
        "owner_id": r.owner_id,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "updated_at": r.updated_at.isoformat() if r.updated_at else None,
    }


def execution_to_dict(e: ReportExecution, viewer: Principal | None = None) -> dict[str, Any]:
    """JSON view of an execution.

    Row count, parameters and errors describe the runner's view of the data: other
    viewers (``viewer`` given and not the runner) see only when and how it ran.
    """
    own = viewer is None or viewer.user_id == e.executed_by
    meta = {k: v for k, v in (e.meta_json or {}).items() if k != "scope"}
    return {
        "id": e.id,
        "report_id": e.report_id,
        "executed_by": e.executed_by,
        "executed_at": e.executed_at.isoformat() if e.executed_at else None,
        "status": e.status,
        "runtime_ms": e.runtime_ms,
        "row_count": e.row_count if own else None,
        "has_result": e.status == "done" and bool(e.result_ref),
        "meta": meta if own else {},
    }


def _validate(session: Session, principal: Principal, data: ReportIn, warehouse: Warehouse) -> None:
    # Compiling against the catalog reports unknown columns and bad params now, not at run time.
    catalog = warehouse.catalog_for(principal.scope.tenant_key, session)
    compile_query(data.query, catalog, principal.scope, params=data.params)
    names = set(data.query.output_names)
    for i, v in enumerate(data.viz):
        for col in v.columns:
            if col not in names:
                raise InvalidSpec(
                    f"viz.{i}: the query has no result column {col!r} (it has {', '.join(sorted(names))})",
                    field=f"viz.{i}",
                )


def create_report(
    session: Session, principal: Principal, data: ReportIn | dict[str, Any], warehouse: Warehouse
) -> Report:
    """Create a report owned by ``principal``."""
    d = parse_spec(ReportIn, data)
    _validate(session, principal, d, warehouse)
    r = Report(
        tenant_id=principal.tenant_id,
        owner_id=principal.require_user("own objects"),
        name=d.name.strip(),
        description=d.description,
        query_json=d.query.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        params_json=d.params,
        visibility=d.visibility,
        heavy=d.heavy,
        published=d.published,
        viz_json=[v.model_dump(mode="json", exclude_defaults=True) for v in d.viz],
        scope_json=d.scope.stored(),
    )
    session.add(r)
    session.flush()
    audit.record(session, principal, "create", r, details={"name": r.name})
    return r


def get_report(session: Session, principal: Principal, report_id: int, action: str = "view") -> Report:
    """A report the principal may ``action``; NotFound for other tenants or invisible ones."""
    r = session.get(Report, report_id)
    if r is None:
        raise NotFound(f"report {report_id} not found")
    authorize(session, principal, action, r)
    return r


def update_report(
    session: Session,
    principal: Principal,
    report_id: int,
    data: ReportIn | dict[str, Any],
    warehouse: Warehouse,
) -> Report:
    """Replace a report's definition (needs edit rights)."""
    r = get_report(session, principal, report_id, "edit")
    d = parse_spec(ReportIn, data)
    _validate(session, principal, d, warehouse)
    before = report_to_dict(r)
    r.name, r.description = d.name.strip(), d.description
    r.query_json = d.query.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    r.params_json, r.visibility, r.heavy = d.params, d.visibility, d.heavy
    r.published, r.scope_json = d.published, d.scope.stored()
    r.viz_json = [v.model_dump(mode="json", exclude_defaults=True) for v in d.viz]
    session.flush()
    after = report_to_dict(r)
    changed = [k for k in after if k not in ("updated_at", "created_at") and after[k] != before[k]]
    audit.record(
        session,
        principal,
        "edit",
        r,
        details={
            "name": r.name,
            "before": {k: before[k] for k in changed},
            "after": {k: after[k] for k in changed},
        },
    )
    return r


def delete_report(session: Session, principal: Principal, report_id: int) -> None:
    """Move a report to the trash (owner or admin); :func:`restore_report` brings it back for 30 days."""
    r = get_report(session, principal, report_id, "delete")
    move_to_trash(principal, r)
    session.flush()
    audit.record(session, principal, "delete", r, details={"name": r.name, "trash": True})


def restore_report(session: Session, principal: Principal, report_id: int) -> Report:
    """Take a report out of the trash (its owner, whoever deleted it, or an admin)."""
    r = trashed(session, principal, Report, report_id, "report")
    take_out_of_trash(r)
    session.flush()
    audit.record(session, principal, "edit", r, details={"name": r.name, "restored": True})
    return r


def list_report_trash(session: Session, principal: Principal, *, limit: int = 200) -> list[TrashItem]:
    """Reports in the principal's trash, most recently deleted first."""
    return trash_items(session, principal, Report, "report", limit=limit)


def purge_reports(
    session: Session,
    *,
    now: datetime | None = None,
    tenant_id: int | None = None,
    results_dir: Path | None = None,
) -> int:
    """Remove for good the reports deleted more than 30 days ago (with their history, grants and,
    given ``results_dir``, stored results); returns how many. Acts for no one: a maintenance step."""
    stmt = select(Report).where(Report.deleted_at.is_not(None), Report.deleted_at < purge_cutoff(now))
    if tenant_id is not None:
        stmt = stmt.where(Report.tenant_id == tenant_id)
    doomed = list(session.scalars(stmt))
    if not doomed:
        return 0
    ids = [r.id for r in doomed]
    refs = session.scalars(select(ReportExecution.result_ref).where(ReportExecution.report_id.in_(ids)))
    files = [ref for ref in refs if ref]
    grants = Permission.object_type == Report.__tablename__
    session.execute(delete(Permission).where(grants, Permission.object_id.in_(ids)))
    session.execute(delete(ReportExecution).where(ReportExecution.report_id.in_(ids)))
    for r in doomed:
        audit.record(session, None, "delete", r, details={"name": r.name, "purged": True})
        session.delete(r)
    session.flush()
    if results_dir is not None:
        _remove_results(results_dir, files)
    return len(doomed)


def _remove_results(results_dir: Path, refs: Iterable[str]) -> None:
    root = results_dir.resolve()
    for ref in refs:
        path = (root / ref).resolve()
        if path.is_relative_to(root):
            path.unlink(missing_ok=True)


#: Groups of the report library: ``mine`` (owned), ``team`` (others' reports shared with the
#: user's groups or granted to them), ``public``.
REPORT_GROUPS: tuple[str, ...] = ("mine", "team", "public")


def _team_clause(principal: Principal) -> ColumnElement[bool]:
    """Others' reports reaching the principal through a shared group or an explicit grant."""
    mine = principal.group_ids
    granted = granted_ids(principal, Report.__tablename__)
    peers = select(Membership.user_id).where(Membership.group_id.in_(mine))
    by_group = and_(Report.visibility == "group", Report.owner_id.in_(peers)) if mine else false()
    not_mine = (
        or_(Report.owner_id.is_(None), Report.owner_id != principal.user_id)
        if principal.user_id is not None
        else true()
    )
    return and_(not_mine, or_(by_group, Report.id.in_(granted)))


def search_pattern(text: str) -> str:
    """A LIKE pattern over ``search_text`` columns: folded like them (accents, case), wildcards escaped."""
    folded = search_key(text.strip()[:100])
    return "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def list_reports(
    session: Session,
    principal: Principal,
    *,
    search: str | None = None,
    published: bool | None = None,
    group: str | None = None,
    limit: int = 200,
) -> list[Report]:
    """Reports visible to the principal, most recently changed first.

    ``search`` ignores accents and case ("relatorio" finds "Relatório"); ``group`` is
    ``mine``, ``team`` or ``public`` (``None``: all).
    """
    if group is not None and group not in REPORT_GROUPS:
        raise InvalidSpec(
            f"group: must be one of {', '.join(REPORT_GROUPS)} (got {str(group)[:40]!r})", field="group"
        )
    stmt = select(Report).where(visible_clause(session, principal, Report))
    if group == "mine":
        stmt = stmt.where(Report.owner_id == principal.user_id)
    elif group == "public":
        stmt = stmt.where(Report.visibility == "public")
    elif group == "team":
        stmt = stmt.where(_team_clause(principal))
    if search and search.strip():
        stmt = stmt.where(Report.search_text.like(search_pattern(search), escape="\\"))
    if published is not None:
        stmt = stmt.where(Report.published.is_(published))
    rows = session.scalars(stmt.order_by(Report.updated_at.desc(), Report.id.desc()).limit(limit))
    return [r for r in rows if r.visibility != "customer" or can(session, principal, "view", r)]


@dataclass(frozen=True)
class ReportEntry:
    """A report as the library lists it: who owns it and how it last ran."""

    report: Report
    owner_name: str | None
    last_run: ReportExecution | None


def last_runs(session: Session, report_ids: Iterable[int]) -> dict[int, ReportExecution]:
    """The latest execution of each report (one query)."""
    ids = list(report_ids)
    if not ids:
        return {}
    latest = (
        select(func.max(ReportExecution.id))
        .where(ReportExecution.report_id.in_(ids))
        .group_by(ReportExecution.report_id)
    )
    rows = session.scalars(select(ReportExecution).where(ReportExecution.id.in_(latest)))
    return {e.report_id: e for e in rows}


def report_library(
    session: Session,
    principal: Principal,
    *,
    group: str | None = None,
    search: str | None = None,
    limit: int = 200,
) -> list[ReportEntry]:
    """:func:`list_reports` with each report's owner name and last run (three queries in all)."""
    rows = list_reports(session, principal, group=group, search=search, limit=limit)
    names = user_names(session, {r.owner_id for r in rows})
    runs = last_runs(session, (r.id for r in rows))
    return [ReportEntry(r, names.get(r.owner_id) if r.owner_id else None, runs.get(r.id)) for r in rows]


def entry_to_dict(entry: ReportEntry, viewer: Principal | None = None) -> dict[str, Any]:
    """JSON view of a library entry: the report, ``owner_name`` and ``last_run`` (seen as ``viewer``)."""
    return {
        **report_to_dict(entry.report),
        "owner_name": entry.owner_name,
        "last_run": execution_to_dict(entry.last_run, viewer) if entry.last_run is not None else None,
    }


def execute_report(
    session: Session,
    principal: Principal,
    report_id: int,
    warehouse: Warehouse,
    results_dir: Path,
    *,
    params: dict[str, Any] | None = None,
    use_cache: bool = True,
) -> ReportExecution:
    """Run a report now and record the execution (who, when, status, runtime, rows, result file).

    Bad input (params) raises; a failing warehouse is recorded as a ``failed`` execution.
    """
    r = get_report(session, principal, report_id, "run")
    if params is not None and not isinstance(params, dict):
        raise InvalidSpec("params: must be an object", field="params")
    merged = {**r.params_json, **(params or {})}
    scope = principal.scope
    spec = parse_spec(QuerySpec, r.query_json)
    compile_query(
        spec, warehouse.catalog_for(scope.tenant_key, session), scope, params=merged
    )  # bad params → InvalidSpec before recording
    # The scope is kept with the result: a stored result is handed out only to the same view.
    ex = ReportExecution(
        report_id=r.id,
        executed_by=principal.user_id,
        status="running",
        meta_json={"params": merged, "scope": scope.key},
    )
    session.add(ex)
    session.flush()
    t0 = time.perf_counter()
    try:
        res = warehouse.run(spec, scope, params=merged, use_cache=use_cache)
    except PortalError:
        raise
    except (SQLAlchemyError, OSError, RuntimeError) as exc:  # warehouse trouble, not the caller's fault
        log.exception("report %s execution %s failed", r.id, ex.id)
        ex.status = "failed"
        ex.runtime_ms = round((time.perf_counter() - t0) * 1000, 2)
        ex.meta_json = {**ex.meta_json, "error": str(exc).splitlines()[0][:500]}
        REPORT_EXECUTIONS.labels("failed").inc()
        audit.record(session, principal, "run", r, details={"execution_id": ex.id, "status": "failed"})
        return ex
    ref = Path("executions") / str(r.tenant_id) / str(r.id) / f"{ex.id}.parquet"
    path = results_dir / ref
    path.parent.mkdir(parents=True, exist_ok=True)
    res.frame.to_parquet(path, index=False)
    ex.status = "done"
    ex.runtime_ms = round((time.perf_counter() - t0) * 1000, 2)
    ex.row_count = res.row_count
    ex.result_ref = ref.as_posix()
    ex.meta_json = {**ex.meta_json, "cached": res.cached, "columns": [str(c) for c in res.frame.columns]}
    REPORT_EXECUTIONS.labels("done").inc()
    audit.record(session, principal, "run", r, details={"execution_id": ex.id, "rows": ex.row_count})
    return ex


def list_executions(
    session: Session, principal: Principal, report_id: int, *, limit: int = 100
) -> list[ReportExecution]:
    """Execution history of a report, newest first."""
    r = get_report(session, principal, report_id, "view")
    stmt = (
        select(ReportExecution)
        .where(ReportExecution.report_id == r.id)
        .order_by(ReportExecution.executed_at.desc(), ReportExecution.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def load_execution_result(
    session: Session,
    principal: Principal,
    execution_id: int,
    results_dir: Path,
    action: str = "view",
    *,
    warehouse: Warehouse | None = None,
) -> tuple[ReportExecution, Report, pd.DataFrame]:
    """The result of an execution the principal may see, as the principal may see it.

    A stored result is the runner's view of the data. It is returned as stored only
    to the runner, and only while their scope is the one it ran with; anyone else
    gets the report re-run with the same parameters under their own scope (when a
    ``warehouse`` is given), or NotFound.
    """
    missing = NotFound(f"execution {execution_id} not found", field="execution_id")
    ex = session.get(ReportExecution, execution_id)
    if ex is None:
        raise missing
    try:
        r = get_report(session, principal, ex.report_id, action)
    except NotFound:
        # Same answer as a missing execution: never reveal the report behind it.
        raise missing from None
    if ex.status != "done" or not ex.result_ref:
        raise InvalidSpec(
            f"execution {execution_id} has no result (status {ex.status})", field="execution_id"
        )
    scope = principal.scope
    runner = principal.user_id is not None and ex.executed_by == principal.user_id
    if not runner or (ex.meta_json or {}).get("scope") != scope.key:
        if warehouse is None:
            raise missing
        return ex, r, _rerun(r, ex, scope, warehouse)
    path = (results_dir / ex.result_ref).resolve()
    if not path.is_relative_to(results_dir.resolve()) or not path.exists():
        raise NotFound(f"result of execution {execution_id} is no longer stored", field="execution_id")
    return ex, r, pd.read_parquet(path)


def _rerun(r: Report, ex: ReportExecution, scope: Scope, warehouse: Warehouse) -> pd.DataFrame:
    params = (ex.meta_json or {}).get("params") or r.params_json
    spec = parse_spec(QuerySpec, r.query_json)
    return warehouse.run(spec, scope, params=params).frame
