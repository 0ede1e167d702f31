"""Append-only audit log of create/edit/run/view/share/job/token events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditLog, User

if TYPE_CHECKING:
    from portal.identity.principal import Principal

ACTIONS = ("create", "edit", "delete", "run", "view", "share", "export", "job", "token", "login", "logout")


def _user_id(actor: Principal | User | None) -> int | None:
    if actor is None:
        return None
    return actor.id if isinstance(actor, User) else actor.user_id


def record(
    session: Session,
    actor: Principal | User | None,
    action: str,
    obj: Any | None = None,
    *,
    tenant_id: int | None = None,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditLog:
    """Add one audit row (flushed with the caller's transaction); ``actor`` is who did it."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditLog(
        tenant_id=tenant_id
        if tenant_id is not None
        else (actor.tenant_id if actor else getattr(obj, "tenant_id", None)),
        user_id=_user_id(actor),
        action=action,
        object_type=getattr(obj, "__tablename__", None),
        object_id=getattr(obj, "id", None),
        snapshots=details or {},
        request_id=request_id,
    )
    session.add(entry)
    return entry


def history(
    session: Session,
    tenant_id: int,
    *,
    limit: int = 100,
    object_type: str | None = None,
    object_id: int | None = None,
) -> list[AuditLog]:
    """Newest audit rows of a tenant, optionally for one object."""
    stmt = select(AuditLog).where(AuditLog.tenant_id == tenant_id)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditLog.object_id == object_id)
    return list(session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)))
