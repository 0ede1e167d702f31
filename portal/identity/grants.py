"""Per-object grants ("Share with people"): who besides the owner may view or edit an object.

A grant gives a user, a group or a customer of the object's tenant the ``viewer`` or
``editor`` role on one dashboard, report or PDF template, optionally until an expiry.
Listing, adding and removing grants all need the ``share`` action on the object
(its owner or a tenant admin, see :func:`portal.identity.permissions.authorize`). Rows
are :class:`~portal.models.Permission` made by :func:`portal.identity.permissions.grant`;
every change is audited (action ``share``) with before/after snapshots.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.errors import InvalidSpec, NotFound, not_among
from portal.identity import audit
from portal.identity.permissions import authorize, grant
from portal.identity.principal import Principal
from portal.models import Dashboard, Group, PdfTemplate, Permission, Report, User
from portal.specs.base import parse_spec

#: Object kinds that can be shared with people: the name the API uses → the model.
OBJECT_MODELS: dict[str, type[Dashboard] | type[Report] | type[PdfTemplate]] = {
    "dashboard": Dashboard,
    "report": Report,
    "pdf_template": PdfTemplate,
}
#: The table name stored in ``permissions.object_type`` → the API's name.
_KIND_OF_TABLE = {m.__tablename__: k for k, m in OBJECT_MODELS.items()}
GRANT_ROLES = ("viewer", "editor")
SUBJECT_TYPES = ("user", "group", "customer")

SharedObject = Dashboard | Report | PdfTemplate


class GrantIn(BaseModel):
    """A grant to add: whom (``subject_type`` + ``subject_id``), which role, until when."""

    model_config = ConfigDict(extra="forbid")
    subject_type: Literal["user", "group", "customer"]
    subject_id: Annotated[StrictInt, Field(gt=0, lt=2**62)]
    role: Literal["viewer", "editor"] = "viewer"
    expires_at: datetime | None = None


@dataclass(frozen=True)
class GrantView:
    """A grant as people see it: the subject by name, the role and the expiry."""

    id: int
    object_type: str
    object_id: int
    subject_type: str
    subject_id: int
    subject_label: str
    role: str
    expires_at: datetime | None
    expired: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON view."""
        return {
            "id": self.id,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "subject": self.subject_label,
            "role": self.role,
            "expires_at": self.expires_at,
            "expired": self.expired,
        }


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def shared_object(session: Session, principal: Principal, object_type: str, object_id: int) -> SharedObject:
    """The object whose grants the principal manages (needs ``share`` on it).

    Unknown kinds are a 422 naming the valid ones; missing, deleted and other tenants'
    objects are :class:`NotFound`.
    """
    model = OBJECT_MODELS.get(object_type)
    if model is None:
        raise not_among("object type", object_type, OBJECT_MODELS, field="object_type")
    obj = cast(SharedObject | None, session.get(model, object_id) if 0 < object_id < 2**62 else None)
    if obj is None or (isinstance(obj, PdfTemplate) and not obj.is_active):
        raise NotFound(f"{object_type} {object_id} not found", field="object_id")
    authorize(session, principal, "share", obj)
    return obj


def _labels(session: Session, tenant_id: int, rows: list[Permission]) -> dict[tuple[str, str], str]:
    users = {int(p.subject_ref) for p in rows if p.subject_type == "user" and p.subject_ref.isdigit()}
    groups = {int(p.subject_ref) for p in rows if p.subject_type == "group" and p.subject_ref.isdigit()}
    out: dict[tuple[str, str], str] = {}
    if users:
        for i, n, e in session.execute(
            select(User.id, User.name, User.email).where(User.id.in_(users), User.tenant_id == tenant_id)
        ):
            out[("user", str(i))] = f"{n} ({e})"
    if groups:
        for i, n in session.execute(
            select(Group.id, Group.name).where(Group.id.in_(groups), Group.tenant_id == tenant_id)
        ):
            out[("group", str(i))] = n
    return out


def _views(session: Session, tenant_id: int, rows: list[Permission]) -> list[GrantView]:
    labels = _labels(session, tenant_id, rows)
    now = datetime.now(UTC)
    out = []
    for p in rows:
        label = labels.get((p.subject_type, p.subject_ref))
        if label is None:
            label = (
                f"customer {p.subject_ref}"
                if p.subject_type == "customer"
                else f"{p.subject_type} {p.subject_ref}"
            )
        exp = _aware(p.expires_at) if p.expires_at is not None else None
        out.append(
            GrantView(
                id=p.id,
                object_type=_KIND_OF_TABLE.get(p.object_type, p.object_type),
                object_id=p.object_id,
                subject_type=p.subject_type,
                subject_id=int(p.subject_ref) if p.subject_ref.isdigit() else 0,
                subject_label=label,
                role=p.role,
                expires_at=exp,
                expired=exp is not None and exp <= now,
            )
        )
    return out


def _rows(session: Session, obj: SharedObject) -> list[Permission]:
    stmt = (
        select(Permission)
        .where(Permission.object_type == obj.__tablename__, Permission.object_id == obj.id)
        .order_by(Permission.id)
    )
    return list(session.scalars(stmt))


def list_grants(session: Session, principal: Principal, object_type: str, object_id: int) -> list[GrantView]:
    """The grants of an object (expired ones included, marked), oldest first."""
    obj = shared_object(session, principal, object_type, object_id)
    return _views(session, principal.tenant_id, _rows(session, obj))


def _check_subject(session: Session, principal: Principal, subject_type: str, subject_id: int) -> None:
    if subject_type == "user":
        u = session.get(User, subject_id)
        if u is None or u.tenant_id != principal.tenant_id:
            raise NotFound(f"subject_id: user {subject_id} not found", field="subject_id")
        if not u.is_active:
            raise InvalidSpec(f"subject_id: user {subject_id} is disabled", field="subject_id")
    elif subject_type == "group":
        g = session.get(Group, subject_id)
        if g is None or g.tenant_id != principal.tenant_id:
            raise NotFound(f"subject_id: group {subject_id} not found", field="subject_id")
    # customer ids are warehouse ids: their scope decides what a customer's users see


def _snapshot(p: Permission) -> dict[str, Any]:
    return {
        "subject_type": p.subject_type,
        "subject_id": p.subject_ref,
        "role": p.role,
        "expires_at": _aware(p.expires_at).isoformat() if p.expires_at is not None else None,
    }


def add_grant(
    session: Session,
    principal: Principal,
    object_type: str,
    object_id: int,
    data: GrantIn | Mapping[str, Any],
) -> GrantView:
    """Give a user, group or customer of the tenant a role on an object (until ``expires_at``).

    Granting again to the same subject replaces its role and expiry (one grant per subject).
    """
    obj = shared_object(session, principal, object_type, object_id)
    g = parse_spec(GrantIn, data)
    if g.role not in GRANT_ROLES:  # pragma: no cover - the Literal type refuses it first
        raise not_among("role", g.role, GRANT_ROLES, field="role")
    expires = _aware(g.expires_at) if g.expires_at is not None else None
    if expires is not None and expires <= datetime.now(UTC):
        raise InvalidSpec("expires_at: must be in the future", field="expires_at")
    if expires is not None and expires.year > 9000:
        raise InvalidSpec("expires_at: leave it empty for a grant that does not expire", field="expires_at")
    _check_subject(session, principal, g.subject_type, g.subject_id)
    existing = session.scalar(
        select(Permission).where(
            Permission.object_type == obj.__tablename__,
            Permission.object_id == obj.id,
            Permission.subject_type == g.subject_type,
            Permission.subject_ref == str(g.subject_id),
        )
    )
    before = _snapshot(existing) if existing is not None else None
    if existing is not None:
        existing.role, existing.expires_at = g.role, expires
        session.flush()
        row = existing
    else:
        row = grant(session, obj, g.subject_type, g.subject_id, g.role, expires_at=expires)
    audit.record(
        session,
        principal,
        "share",
        obj,
        details={"grant_id": row.id, "before": before, "after": _snapshot(row)},
    )
    return _views(session, principal.tenant_id, [row])[0]


def remove_grant(session: Session, principal: Principal, grant_id: int) -> None:
    """Remove a grant (needs ``share`` on its object); another tenant's grant is :class:`NotFound`."""
    p = session.get(Permission, grant_id) if 0 < grant_id < 2**62 else None
    kind = _KIND_OF_TABLE.get(p.object_type) if p is not None else None
    if p is None or kind is None:
        raise NotFound(f"grant {grant_id} not found", field="grant_id")
    try:
        obj = shared_object(session, principal, kind, p.object_id)
    except NotFound:
        raise NotFound(f"grant {grant_id} not found", field="grant_id") from None
    audit.record(
        session, principal, "share", obj, details={"grant_id": p.id, "before": _snapshot(p), "after": None}
    )
    session.delete(p)
    session.flush()


def share_candidates(session: Session, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    """The active users and the groups of the principal's tenant, to pick whom to share with.

    Open to every signed-in user (sharing is the owner's decision, not only an admin's);
    only names and e-mail addresses are returned.
    """
    principal.require_user("share with people")
    users = session.execute(
        select(User.id, User.name, User.email)
        .where(User.tenant_id == principal.tenant_id, User.is_active.is_(True))
        .order_by(func.lower(User.name))
        .limit(2000)
    ).all()
    groups = session.execute(
        select(Group.id, Group.name)
        .where(Group.tenant_id == principal.tenant_id)
        .order_by(func.lower(Group.name))
    ).all()
    return {
        "users": [{"id": i, "name": n, "email": e} for i, n, e in users],
        "groups": [{"id": i, "name": n} for i, n in groups],
    }
