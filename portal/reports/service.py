"""Report service: CRUD, on-demand execution with history, stored results.

Functions take the session first and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.data.query import compile_query
from portal.data.warehouse import Warehouse
from portal.errors import InvalidSpec, NotFound, PortalError
from portal.identity import audit
from portal.identity.permissions import authorize, can, visible_clause
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.infra.metrics import REPORT_EXECUTIONS
from portal.models import Report, ReportExecution
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
    compile_query(data.query, warehouse.catalog, principal.scope, params=data.params)
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
    audit.record(session, principal, "edit", r, details={"before": before["query"], "name": r.name})
    return r


def delete_report(session: Session, principal: Principal, report_id: int) -> None:
    """Delete a report and its history (owner or admin)."""
    r = get_report(session, principal, report_id, "delete")
    audit.record(session, principal, "delete", r, details={"name": r.name})
    session.delete(r)
    session.flush()


def list_reports(
    session: Session,
    principal: Principal,
    *,
    search: str | None = None,
    published: bool | None = None,
    limit: int = 200,
) -> list[Report]:
    """Reports visible to the principal, newest first."""
    stmt = select(Report).where(visible_clause(session, principal, Report))
    if search:
        like = f"%{search.strip()[:100]}%"
        stmt = stmt.where(or_(Report.name.ilike(like), Report.description.ilike(like)))
    if published is not None:
        stmt = stmt.where(Report.published.is_(published))
    rows = session.scalars(stmt.order_by(Report.updated_at.desc(), Report.id.desc()).limit(limit))
    return [r for r in rows if r.visibility != "customer" or can(session, principal, "view", r)]


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
    compile_query(spec, warehouse.catalog, scope, params=merged)  # bad params → InvalidSpec before recording
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
