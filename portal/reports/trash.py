"""The trash: what deleting a report or a dashboard does, and how it is undone.

Deleting sets ``deleted_at``/``deleted_by``; from then on the object is gone for every
path (``authorize`` answers NotFound, listings skip it) except the trash, where its
owner, whoever deleted it and tenant admins see it and may restore it for
:data:`TRASH_DAYS` days. :func:`purge_cutoff` is when older entries are removed for good
(``purge_trash`` in :mod:`portal.dashboards`, for reports and dashboards alike).

These helpers work on any model with ``tenant_id``, ``owner_id``, ``deleted_at`` and ``deleted_by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.identity.principal import Principal
from portal.models import User, utcnow

#: How long a deleted object can be restored.
TRASH_DAYS = 30

T = TypeVar("T")


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)  # SQLite gives naive UTC back


def purge_cutoff(now: datetime | None = None) -> datetime:
    """Objects deleted before this instant are purged."""
    return _aware(now or utcnow()) - timedelta(days=TRASH_DAYS)


def purge_at(deleted_at: datetime) -> datetime:
    """When an object deleted at ``deleted_at`` leaves the trash for good."""
    return _aware(deleted_at) + timedelta(days=TRASH_DAYS)


def trash_clause(principal: Principal, model: Any, now: datetime | None = None) -> ColumnElement[bool]:
    """Rows of ``model`` in the principal's trash: deleted, not yet purged, and theirs to restore."""
    mine: ColumnElement[bool]
    if principal.is_admin:
        mine = true()
    elif principal.user_id is None:
        mine = model.id.is_(None)  # a principal without an account has no trash
    else:
        mine = or_(model.owner_id == principal.user_id, model.deleted_by == principal.user_id)
    return and_(
        model.tenant_id == principal.tenant_id,
        model.deleted_at.is_not(None),
        model.deleted_at >= purge_cutoff(now),
        mine,
    )


def may_restore(principal: Principal, obj: Any) -> bool:
    """Tenant admins, the owner and whoever deleted it may take an object out of the trash."""
    if obj.tenant_id != principal.tenant_id or obj.deleted_at is None:
        return False
    if principal.is_admin:
        return True
    return principal.user_id is not None and principal.user_id in (obj.owner_id, obj.deleted_by)


def trashed(session: Session, principal: Principal, model: type[T], object_id: int, kind: str) -> T:
    """The object in the principal's trash; NotFound otherwise (also once it is due for purging)."""
    obj: Any = session.get(model, object_id)
    if obj is None or not may_restore(principal, obj) or _aware(obj.deleted_at) < purge_cutoff():
        raise NotFound(f"{kind} {object_id} is not in your trash", field="id")
    return obj  # type: ignore[no-any-return]


def move_to_trash(principal: Principal, obj: Any) -> None:
    """Mark ``obj`` deleted now by ``principal`` (the caller has authorized the delete)."""
    obj.deleted_at = utcnow()
    obj.deleted_by = principal.user_id


def take_out_of_trash(obj: Any) -> None:
    obj.deleted_at = None
    obj.deleted_by = None


@dataclass(frozen=True)
class TrashItem:
    """One object in a trash listing."""

    type: str  #: ``report`` or ``dashboard``
    id: int
    name: str
    owner_id: int | None
    owner_name: str | None
    deleted_at: datetime
    deleted_by: int | None
    deleted_by_name: str | None

    @property
    def purge_at(self) -> datetime:
        return purge_at(self.deleted_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON view (REST edge)."""
        return {
            "type": self.type,
            "id": self.id,
            "name": self.name,
            "owner_id": self.owner_id,
            "owner_name": self.owner_name,
            "deleted_at": _aware(self.deleted_at).isoformat(),
            "deleted_by": self.deleted_by,
            "deleted_by_name": self.deleted_by_name,
            "purge_at": self.purge_at.isoformat(),
        }


def user_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    """Display names of users by id (missing ids are left out)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows}


def trash_items(
    session: Session, principal: Principal, model: Any, kind: str, *, limit: int = 200
) -> list[TrashItem]:
    """The principal's trash for one model, most recently deleted first."""
    rows = list(
        session.scalars(
            select(model)
            .where(trash_clause(principal, model))
            .order_by(model.deleted_at.desc(), model.id.desc())
            .limit(limit)
        )
    )
    names = user_names(session, {r.owner_id for r in rows} | {r.deleted_by for r in rows})
    return [
        TrashItem(
            type=kind,
            id=r.id,
            name=r.name,
            owner_id=r.owner_id,
            owner_name=names.get(r.owner_id),
            deleted_at=r.deleted_at,
            deleted_by=r.deleted_by,
            deleted_by_name=names.get(r.deleted_by),
        )
        for r in rows
    ]
