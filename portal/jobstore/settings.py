"""Stored admission settings: queue limits and quotas, off-peak windows and maintenance calendars.

Both exist globally (``tenant_id`` NULL: the operator's defaults) and per tenant (what the
tenant's admins change). What admission uses for a tenant is :func:`effective_limits` and
:func:`effective_offpeak`: the tenant's values over the global ones. Services: they take a
session (and a principal where they decide something) and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import PermissionDenied
from portal.identity.principal import Principal
from portal.models import OffpeakWindow as OffpeakRow
from portal.models import QueueLimits, utcnow
from portal.specs.jobs import OffpeakConfigSpec, QueueLimitsSpec

#: Built-in global limits when no global row is stored (a 2-core machine's sensible share).
DEFAULT_LIMITS = QueueLimitsSpec(
    per_class={
        "report_execute": 4,
        "report_schedule": 2,
        "trigger_evaluate": 4,
        "dataset_precompute": 1,
        "pdf_render": 2,
        "data_import": 2,
        "source_sync": 2,
        "events_build": 1,
    },
    max_running=3,
    critical_cap=1,
    jobs_per_hour=2000,
    cpu_seconds_per_day=4 * 3600,
    memory_mb=4096,
    heavy_rows=5_000_000,
    job_ttl_hours=48,
)


def _require_admin(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise PermissionDenied(f"only an administrator of the tenant can change {what}")


def _limits_row(session: Session, tenant_id: int | None) -> QueueLimits | None:
    cond = QueueLimits.tenant_id.is_(None) if tenant_id is None else QueueLimits.tenant_id == tenant_id
    return session.scalars(select(QueueLimits).where(cond)).first()


def global_limits(session: Session) -> QueueLimitsSpec:
    """The stored global limits over :data:`DEFAULT_LIMITS`."""
    row = _limits_row(session, None)
    if row is None:
        return DEFAULT_LIMITS
    return merge_limits(DEFAULT_LIMITS, QueueLimitsSpec.model_validate(row.limits_json))


def tenant_limits(session: Session, tenant_id: int) -> QueueLimitsSpec:
    """What the tenant's row says (unset fields None): the form ``/api/workers`` shows."""
    row = _limits_row(session, tenant_id)
    return QueueLimitsSpec() if row is None else QueueLimitsSpec.model_validate(row.limits_json)


def merge_limits(base: QueueLimitsSpec, over: QueueLimitsSpec) -> QueueLimitsSpec:
    """``over``'s set fields over ``base``; ``per_class`` entries merged key by key."""
    data = base.model_dump()
    for name, value in over.model_dump(exclude={"version", "per_class"}).items():
        if value is not None:
            data[name] = value
    data["per_class"] = {**base.per_class, **over.per_class}
    return QueueLimitsSpec.model_validate(data)


def effective_limits(session: Session, tenant_id: int | None) -> QueueLimitsSpec:
    """The limits admission applies to ``tenant_id``'s jobs (its ``per_class`` is always global)."""
    glob = global_limits(session)
    if tenant_id is None:
        return glob
    own = tenant_limits(session, tenant_id).model_copy(update={"per_class": {}})
    return merge_limits(glob, own)


def save_tenant_limits(
    session: Session, principal: Principal, spec: QueueLimitsSpec | Mapping[str, Any]
) -> QueueLimitsSpec:
    """Replace the caller's tenant's limits (admins only); ``per_class`` is refused (global)."""
    _require_admin(principal, "queue limits")
    limits = spec if isinstance(spec, QueueLimitsSpec) else QueueLimitsSpec.model_validate(spec)
    if limits.per_class:
        raise PermissionDenied(
            "per_class: limits per job class are global (the operator's settings), not a tenant's"
        )
    row = _limits_row(session, principal.tenant_id)
    data = limits.model_dump(mode="json")
    if row is None:
        session.add(
            QueueLimits(
                tenant_id=principal.tenant_id,
                limits_json=data,
                updated_by=principal.user_id,
                updated_at=utcnow(),
            )
        )
    else:
        row.limits_json = data
        row.updated_by = principal.user_id
        row.updated_at = utcnow()
    session.flush()
    return limits


def save_global_limits(session: Session, spec: QueueLimitsSpec) -> None:
    """Store the global limits (operator tooling and tests; no principal can reach this over REST)."""
    row = _limits_row(session, None)
    data = spec.model_dump(mode="json")
    if row is None:
        session.add(QueueLimits(tenant_id=None, limits_json=data, updated_at=utcnow()))
    else:
        row.limits_json = data
        row.updated_at = utcnow()
    session.flush()


# --------------------------------------------------------------------------- off-peak
def _offpeak_row(session: Session, tenant_id: int | None) -> OffpeakRow | None:
    cond = OffpeakRow.tenant_id.is_(None) if tenant_id is None else OffpeakRow.tenant_id == tenant_id
    return session.scalars(select(OffpeakRow).where(cond).order_by(OffpeakRow.id)).first()


def _offpeak(row: OffpeakRow | None) -> OffpeakConfigSpec:
    if row is None or not row.is_active:
        return OffpeakConfigSpec()
    return OffpeakConfigSpec.model_validate(
        {"windows": row.windows_json, "maintenance": row.maintenance_json}
    )


def tenant_offpeak(session: Session, tenant_id: int | None) -> OffpeakConfigSpec:
    """The windows and calendars stored for ``tenant_id`` (None: the global ones)."""
    return _offpeak(_offpeak_row(session, tenant_id))


def effective_offpeak(session: Session, tenant_id: int | None) -> OffpeakConfigSpec:
    """What admission uses: the tenant's windows if it has any, else the global ones; the
    maintenance calendars of both (a global maintenance day blocks every tenant)."""
    glob = tenant_offpeak(session, None)
    if tenant_id is None:
        return glob
    own = tenant_offpeak(session, tenant_id)
    return OffpeakConfigSpec(
        windows=own.windows or glob.windows, maintenance=[*glob.maintenance, *own.maintenance]
    )


def save_tenant_offpeak(
    session: Session, principal: Principal, spec: OffpeakConfigSpec | Mapping[str, Any]
) -> OffpeakConfigSpec:
    """Replace the caller's tenant's windows and calendars (admins only)."""
    _require_admin(principal, "off-peak windows")
    config = spec if isinstance(spec, OffpeakConfigSpec) else OffpeakConfigSpec.model_validate(spec)
    save_offpeak(session, principal.tenant_id, config)
    return config


def save_offpeak(session: Session, tenant_id: int | None, config: OffpeakConfigSpec) -> None:
    """Store ``config`` for ``tenant_id`` (None: global) — no permission check: callers decide."""
    data = config.model_dump(mode="json")
    row = _offpeak_row(session, tenant_id)
    zone = config.windows[0].timezone if config.windows else "UTC"
    if row is None:
        session.add(
            OffpeakRow(
                tenant_id=tenant_id,
                timezone=zone,
                windows_json=data["windows"],
                maintenance_json=data["maintenance"],
                is_active=True,
            )
        )
    else:
        row.timezone = zone
        row.windows_json = data["windows"]
        row.maintenance_json = data["maintenance"]
        row.is_active = True
    session.flush()
