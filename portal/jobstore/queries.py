"""Reads of the ``job_queue`` mirror for the job monitor: list, one job, counts by state.

Every query carries the tenant scope of :func:`visible_jobs`: a user sees the jobs of its
tenant; another tenant's job answers exactly like a missing one (404, no enumeration).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, NotFound, not_among
from portal.identity.principal import Principal
from portal.models import JobRecord
from portal.queue.states import JobState
from portal.specs.jobs import JobClass, Priority

MAX_LIMIT = 500


def visible_jobs(principal: Principal) -> ColumnElement[bool]:
    """The jobs ``principal`` may see: its tenant's, for admins too.

    The one place the job monitor's visibility is decided. ``is_admin`` is a tenant's admin
    everywhere in the portal (permissions, trash): a job's payload and error may hold another
    tenant's data, so no tenant admin sees across tenants. An operator role that does (pools
    and limits for everyone) would be a separate flag, checked here.
    """
    return JobRecord.tenant_id == principal.tenant_id


def _check(kind: str, value: str, choices: list[str], field: str) -> str:
    if value not in choices:
        raise not_among(kind, value, choices, field=field)
    return value


def list_jobs(
    session: Session,
    principal: Principal,
    *,
    state: str | None = None,
    job_class: str | None = None,
    priority: str | None = None,
    tenant_id: int | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[JobRecord]:
    """Jobs visible to ``principal``, newest first, filtered; page on with ``before_id``.

    ``tenant_id`` narrows the view (an admin choosing a tenant); it never widens it: a
    user asking for another tenant gets no rows. Unknown filter values are a 422 naming
    the filter and the closest valid value, never an empty page.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: must be from 1 to {MAX_LIMIT}, got {limit}", field="limit")
    where = [visible_jobs(principal)]
    if state is not None:
        where.append(JobRecord.status == _check("job state", state, [s.value for s in JobState], "state"))
    if job_class is not None:
        classes = [c.value for c in JobClass]
        where.append(JobRecord.job_class == _check("job class", job_class, classes, "job_class"))
    if priority is not None:
        prios = [p.value for p in Priority]
        where.append(JobRecord.priority == _check("priority", priority, prios, "priority"))
    if tenant_id is not None:
        where.append(JobRecord.tenant_id == tenant_id)
    if before_id is not None:
        where.append(JobRecord.id < before_id)
    stmt = select(JobRecord).where(and_(*where)).order_by(JobRecord.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_job(session: Session, principal: Principal, job_id: int) -> JobRecord:
    """One job visible to ``principal``; :class:`NotFound` (404) for a missing or another tenant's job."""
    job = session.scalars(select(JobRecord).where(JobRecord.id == job_id, visible_jobs(principal))).first()
    if job is None:
        raise NotFound(f"job {job_id} not found", field="id")
    return job


def counts_by_state(
    session: Session, principal: Principal, *, tenant_id: int | None = None
) -> dict[str, int]:
    """Number of visible jobs in each state (every state present, zeros included)."""
    where = [visible_jobs(principal)]
    if tenant_id is not None:
        where.append(JobRecord.tenant_id == tenant_id)
    rows = session.execute(
        select(JobRecord.status, func.count()).where(and_(*where)).group_by(JobRecord.status)
    ).all()
    counts = {s.value: 0 for s in JobState}
    for status, n in rows:
        counts[str(status)] = int(n)
    return counts
