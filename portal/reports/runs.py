"""On-demand report runs through the job queue: validate, estimate, decide off-peak, submit.

``POST /api/reports/{id}/execute`` and the portal's "Run" buttons call :func:`submit_run` in
the caller's transaction and enqueue after commit; a worker runs ``jobs.reports.execute`` as
the caller. Everything the caller got wrong (params, priority, the override of a non-admin, a
flexible window) is refused here, before anything is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from portal.data.query import compile_query
from portal.data.warehouse import Warehouse
from portal.errors import BadRequest, PermissionDenied, PortalError
from portal.identity.principal import Principal
from portal.jobqueue import breakers
from portal.jobqueue.enqueue import Submission, submit
from portal.jobstore.settings import effective_limits, effective_offpeak
from portal.models import JobRecord, ReportExecution, utcnow
from portal.queue.admission import is_heavy
from portal.queue.offpeak import plan_start
from portal.reports.service import get_report
from portal.specs import QuerySpec, parse_spec
from portal.specs.jobs import JobClass, Priority, UserWindowPreference

#: The breaker key of the warehouse: a failing warehouse holds runs, not the portal.
WAREHOUSE_RESOURCE = breakers.WAREHOUSE


def run_key(report_id: int, params: Mapping[str, Any], scope_key: str, use_cache: bool) -> str:
    """Dedup key of a run: the same report, parameters and row scope give one job on its way."""
    blob = json.dumps([report_id, params, scope_key, use_cache], sort_keys=True, default=str)
    return f"run:{report_id}:{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


def parse_priority(value: Any) -> Priority:
    """``value`` as a :class:`Priority`; a 400 naming ``priority`` (with the allowed values) otherwise."""
    try:
        return Priority(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise BadRequest(
            f"priority: must be one of {allowed}, got {str(value)[:20]!r}", field="priority"
        ) from None


def _window(value: Any) -> UserWindowPreference | None:
    if value is None:
        return None
    try:
        return UserWindowPreference.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("window", *first["loc"]))
        raise BadRequest(f"{where}: {first['msg']}", field=where) from None


def submit_run(
    session: Session,
    principal: Principal,
    report_id: int,
    warehouse: Warehouse,
    *,
    params: Mapping[str, Any] | None = None,
    priority: Any = Priority.NORMAL,
    offpeak_only: bool = False,
    override: bool = False,
    window: Any = None,
    use_cache: bool = True,
    now: datetime | None = None,
) -> Submission:
    """Validate a run of ``report_id`` for ``principal`` and mirror its job (commit, then enqueue).

    - ``params`` are checked by compiling the report's query (a 400 naming the parameter);
    - the query estimate decides whether the run is heavy (``heavy_rows`` of the tenant's
      limits): heavy runs, like ``offpeak_only`` ones, start only in an off-peak window;
    - off-peak-bound work outside its window is created ``deferred`` with the reason and the
      next allowed start (``window`` adds the caller's flexible window, e.g. 01:00–05:00);
    - ``override`` (an admin's "run now") skips off-peak and maintenance days, never limits.
    """
    if params is not None and not isinstance(params, Mapping):
        raise BadRequest("params: must be an object", field="params")
    if not isinstance(offpeak_only, bool):
        raise BadRequest("offpeak_only: must be true or false", field="offpeak_only")
    if not isinstance(override, bool):
        raise BadRequest("override: must be true or false", field="override")
    if not isinstance(use_cache, bool):
        raise BadRequest("use_cache: must be true or false", field="use_cache")
    prio = parse_priority(priority)
    preference = _window(window)
    if override and not principal.is_admin:
        raise PermissionDenied(
            "override: only an administrator can run work outside its window", field="override"
        )
    report = get_report(session, principal, report_id, "run")
    merged = {**report.params_json, **(params or {})}
    spec = parse_spec(QuerySpec, report.query_json)
    compile_query(
        spec, warehouse.catalog_for(principal.scope.tenant_key, session), principal.scope, params=merged
    )  # bad params: 400 now
    limits = effective_limits(session, principal.tenant_id)
    estimated: int | None
    try:
        estimated = warehouse.estimate(spec, principal.scope, params=merged).scanned_rows
    except PortalError:
        raise
    except Exception:  # the estimate is advice: a warehouse hiccup must not refuse the run
        estimated = None
    heavy = is_heavy(estimated, limits.heavy_rows)
    admission: dict[str, Any] = {
        "offpeak_only": offpeak_only,
        "heavy": heavy,
        "override": override,
        "estimated_rows": estimated,
        "resources": [WAREHOUSE_RESOURCE],
    }
    if preference is not None:
        admission["window"] = preference.model_dump(mode="json")
    not_before, reason = None, None
    when = now or utcnow()
    if (offpeak_only or heavy or preference is not None) and not override:
        config = effective_offpeak(session, principal.tenant_id)
        days = tuple(d for cal in config.maintenance for d in cal.days)
        plan = plan_start(when, config.windows, days, preference)
        if plan.at is None:
            raise BadRequest(f"window: {plan.reason}", field="window")
        if plan.at > when:
            not_before = plan.at
            reason = (
                plan.reason
                if not heavy or offpeak_only
                else f"heavy run (~{estimated:,} rows): {plan.reason}"
            )
    payload = {"report_id": report.id, "params": dict(params or {}), "use_cache": use_cache}
    return submit(
        session,
        principal,
        JobClass.REPORT_EXECUTE,
        payload,
        priority=prio,
        dedup_key=run_key(report.id, merged, principal.scope.key, use_cache),
        not_before=not_before,
        reason=reason,
        admission=admission,
        # Someone is waiting for this run: a failure is shown at once (they may run it again);
        # scheduled runs, which nobody watches, are the ones retried with backoff.
        max_attempts=1,
    )


def run_answer(record: JobRecord) -> dict[str, Any]:
    """``{"job_id", "state", "reason"}`` (plus ``not_before``) of a submitted run."""
    out: dict[str, Any] = {"job_id": record.id, "state": record.status, "reason": record.status_reason}
    if record.not_before_at is not None:
        out["not_before"] = record.not_before_at.isoformat()
    return out


def execution_of(session: Session, record: JobRecord) -> ReportExecution | None:
    """The execution a finished run recorded (its id is in the job's result), if any."""
    result = record.result_json or {}
    eid = result.get("execution_id")
    if not isinstance(eid, int):
        return None
    return session.get(ReportExecution, eid)
