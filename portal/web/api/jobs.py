"""The job monitor over REST: jobs, cancel and retry, workers, limits, off-peak windows, job metrics.

- ``GET /api/jobs?state=&class=&priority=&tenant=&limit=&before_id=``: the caller's tenant's
  jobs, newest first, with counts by state. ``tenant`` narrows and never widens: naming another
  tenant gives an empty list (the same answer whether it exists or not).
- ``GET /api/jobs/{id}``; ``POST /api/jobs/{id}/cancel``; ``POST /api/jobs/{id}/retry``: the
  job's owner or a tenant admin (403 otherwise); an illegal state change is a 409 naming
  ``state``; another tenant's job is a 404.
- ``GET /api/jobs/activity``: queue lag per pool and jobs finished per minute, last hour.
- ``GET /api/workers``: pools, queue lengths, workers with their current job, limits.
- ``POST /api/workers/rebalance``: a tenant admin replaces the tenant's limits and quotas
  (:class:`~portal.specs.jobs.QueueLimitsSpec` fields); 403 for anyone else, 400 naming the field.
- ``GET /api/offpeak`` (effective, the tenant's own, the global); ``POST /api/offpeak`` (admin:
  :class:`~portal.specs.jobs.OffpeakConfigSpec`; a window from 01:00 to 01:00 is a 400 naming
  ``windows.0.end``).
- ``/metrics``: the core's series plus the job series of this portal's database
  (:mod:`portal.jobqueue.metrics`), behind the same scraper check.
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from tornado.ioloop import IOLoop

from portal.errors import BadRequest, NotFound, PermissionDenied, not_among
from portal.identity import audit
from portal.identity.principal import Principal
from portal.jobqueue import monitor
from portal.jobqueue.metrics import JobMetricsCollector
from portal.jobstore import counts_by_state, get_job, list_jobs
from portal.jobstore.settings import (
    effective_limits,
    effective_offpeak,
    save_tenant_limits,
    save_tenant_offpeak,
    tenant_offpeak,
)
from portal.models import JobRecord
from portal.specs.base import user_message
from portal.specs.jobs import JobClass, OffpeakConfigSpec, QueueLimitsSpec
from portal.web.api.base import BaseHandler, path_id
from portal.web.api.ops import MetricsHandler, metrics_allowed

M = TypeVar("M", bound=BaseModel)

FILTERS = ("state", "class", "priority", "tenant", "limit", "before_id")


def validated(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``; a 400 naming the first bad field (``windows.0.end``, ``max_running``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = user_message(exc, "body")
        raise BadRequest(message, field=field) from None


def _require_admin(principal: Principal, what: str) -> None:
    # Checked before the body is validated: a non-admin learns nothing about valid values.
    if not principal.is_admin:
        raise PermissionDenied(f"only an administrator of the tenant can change {what}")


def _int_arg(value: str | None, name: str, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name}: must be a whole number, got {value[:20]!r}", field=name) from None


class JobsHandler(BaseHandler):
    async def get(self) -> None:
        """Jobs of the caller's tenant, filtered; unknown filter values are a 4xx naming the filter."""
        for key in self.request.arguments:
            if key not in FILTERS:
                raise BadRequest(f"{key}: unknown filter (expected {', '.join(FILTERS)})", field=key)
        arg = self.get_query_argument
        state, job_class, priority = arg("state", None), arg("class", None), arg("priority", None)
        tenant = arg("tenant", None)
        limit = _int_arg(arg("limit", None), "limit", 100)
        assert limit is not None
        if job_class and job_class not in {c.value for c in JobClass}:
            # Named as the caller wrote it (``class``), not as the column is called.
            raise not_among("job class", job_class, [c.value for c in JobClass], field="class")
        before = _int_arg(arg("before_id", None), "before_id", None)
        if before is not None and not 0 < before < 2**62:  # an id, as in paths; SQL integers are 64-bit
            raise BadRequest(f"before_id: must be a job id from 1 to {2**62 - 1}", field="before_id")

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            tenant_id = monitor.tenant_filter(session, principal, tenant)
            rows = list_jobs(
                session,
                principal,
                state=state or None,
                job_class=job_class or None,
                priority=priority or None,
                tenant_id=tenant_id,
                limit=limit,
                before_id=before,
            )
            return {
                "jobs": [monitor.job_to_dict(j, principal) for j in rows],
                "counts": counts_by_state(session, principal, tenant_id=tenant_id),
            }

        self.send(await self.call(lst))


class JobHandler(BaseHandler):
    async def get(self, jid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return monitor.job_to_dict(get_job(session, principal, path_id(jid)), principal, detail=True)

        self.send(await self.call(get))


class JobCancelHandler(BaseHandler):
    async def post(self, jid: str) -> None:
        """Cancel: the record first (committed), then the RQ job is withdrawn or told to stop."""
        self.body(())

        def cancel(session: Session, principal: Principal) -> tuple[JobRecord, dict[str, Any]]:
            job = monitor.cancel_job(session, principal, path_id(jid))
            audit.record(session, principal, "job", job, details={"action": "cancel", "job_id": job.id})
            return job, monitor.job_to_dict(job, principal, detail=True)

        record, shown = await self.call(cancel)
        outcome = await IOLoop.current().run_in_executor(None, monitor.withdraw, self.ctx.redis, record)
        self.send({**shown, "queue": outcome.action})


class JobRetryHandler(BaseHandler):
    async def post(self, jid: str) -> None:
        """Retry: the record back to ``queued`` (committed), then enqueued again."""
        self.body(())

        def retry(session: Session, principal: Principal) -> tuple[JobRecord, dict[str, Any]]:
            job = monitor.retry_job(session, principal, path_id(jid))
            audit.record(session, principal, "job", job, details={"action": "retry", "job_id": job.id})
            return job, monitor.job_to_dict(job, principal, detail=True)

        record, shown = await self.call(retry)
        enqueued = await IOLoop.current().run_in_executor(None, monitor.requeue, self.ctx.redis, record)
        self.send({**shown, "enqueued": enqueued})


class JobActivityHandler(BaseHandler):
    async def get(self) -> None:
        self.send(await self.call(lambda s, p: monitor.recent_activity(s, p)))


class WorkersHandler(BaseHandler):
    async def get(self) -> None:
        self.send(await self.call(lambda s, p: monitor.workers_overview(s, p, self.ctx.redis)))


class RebalanceHandler(BaseHandler):
    async def post(self) -> None:
        """Replace the tenant's limits and quotas (admins); answers the stored and effective limits."""
        data = self.body()

        def save(session: Session, principal: Principal) -> dict[str, Any]:
            _require_admin(principal, "queue limits")
            spec = validated(QueueLimitsSpec, data)
            if spec.per_class:
                # Global settings of the operator; a tenant admin's request is malformed, not forbidden.
                raise BadRequest(
                    "per_class: limits per job class are global (the operator's), not a tenant's",
                    field="per_class",
                )
            stored = save_tenant_limits(session, principal, spec)
            audit.record(
                session,
                principal,
                "edit",
                tenant_id=principal.tenant_id,
                details={"queue_limits": stored.model_dump(mode="json")},
            )
            return {
                "tenant": stored.model_dump(mode="json"),
                "effective": effective_limits(session, principal.tenant_id).model_dump(mode="json"),
            }

        self.send(await self.call(save))


class OffpeakHandler(BaseHandler):
    async def get(self) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            return {
                "effective": effective_offpeak(session, principal.tenant_id).model_dump(mode="json"),
                "tenant": tenant_offpeak(session, principal.tenant_id).model_dump(mode="json"),
                "global": tenant_offpeak(session, None).model_dump(mode="json"),
            }

        self.send(await self.call(get))

    async def post(self) -> None:
        """Replace the tenant's off-peak windows and maintenance calendars (admins)."""
        data = self.body()

        def save(session: Session, principal: Principal) -> dict[str, Any]:
            _require_admin(principal, "off-peak windows")
            spec = validated(OffpeakConfigSpec, data)
            stored = save_tenant_offpeak(session, principal, spec)
            audit.record(
                session,
                principal,
                "edit",
                tenant_id=principal.tenant_id,
                details={"offpeak": stored.model_dump(mode="json")},
            )
            return {
                "tenant": stored.model_dump(mode="json"),
                "effective": effective_offpeak(session, principal.tenant_id).model_dump(mode="json"),
            }

        self.send(await self.call(save))


class JobMetricsHandler(MetricsHandler):
    """``/metrics``: the core's series and this portal's job series (read from its database)."""

    async def get(self) -> None:  # type: ignore[override]
        auth_header = self.request.headers.get("Authorization", "")
        if not metrics_allowed(self.ctx.settings, self.client_ip(), auth_header):
            raise NotFound("no such endpoint: GET /metrics")
        collector = JobMetricsCollector(self.ctx.sessions)
        # The database is read on a worker thread: a scrape never blocks the event loop.
        jobs = await IOLoop.current().run_in_executor(None, generate_latest, collector)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest() + jobs)
