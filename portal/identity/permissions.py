"""Authorization: one ``authorize(session, principal, action, obj)`` used by every service.

Rules, in order: other tenant or in the trash → not found (no enumeration); tenant admin →
allowed; owner → allowed; the strongest of explicit grants (user, group,
customer) and visibility decides the role; the role decides the actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select
from sqlalchemy.orm import Session

from portal.errors import NotFound, PermissionDenied
from portal.identity.principal import Principal
from portal.models import Membership, Permission

ACTIONS_BY_ROLE: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view", "run", "export"}),
    "editor": frozenset({"view", "run", "export", "edit"}),
    "owner": frozenset({"view", "run", "export", "edit", "delete", "share"}),
}
RANK = {"viewer": 1, "editor": 2, "owner": 3}
ACTIONS = frozenset().union(*ACTIONS_BY_ROLE.values())


def _object_type(obj: Any) -> str:
    return str(obj.__tablename__)


def _owns(principal: Principal, obj: Any) -> bool:
    # A principal without an account (a share-token viewer) owns nothing, not even ownerless rows.
    return principal.user_id is not None and getattr(obj, "owner_id", None) == principal.user_id


#: What a share-token viewer may do on what it was shared, by the link's permissions.
SHARE_ACTIONS = {
    "viewer": frozenset({"view", "run"}),
    "drilldown": frozenset(),  # drilling is a viewer's query too; the page decides whether it offers it
    "export": frozenset({"export"}),
}


def role_of(session: Session, principal: Principal, obj: Any) -> str | None:
    """The strongest role ``principal`` has on ``obj`` (``None``: none at all)."""
    if obj.tenant_id != principal.tenant_id or getattr(obj, "deleted_at", None) is not None:
        return None  # another tenant's, or in the trash: gone for every action (restore is separate)
    if principal.share is not None:
        # A link reaches exactly what it shares: no grants, visibility or ownership apply.
        return "viewer" if principal.share.allows(_object_type(obj), obj.id) else None
    if principal.is_admin or _owns(principal, obj):
        return "owner"
    roles: list[str] = []
    visibility = getattr(obj, "visibility", "private")
    owner_groups: set[int] = set()
    mine = principal.group_ids
    if visibility == "public":
        roles.append("viewer")
    elif visibility == "group" and getattr(obj, "owner_id", None) is not None:
        owner_groups = set(
            session.scalars(select(Membership.group_id).where(Membership.user_id == obj.owner_id))
        )
        if owner_groups & mine:
            roles.append("viewer")
    elif visibility == "customer":
        customer = (getattr(obj, "scope_json", None) or {}).get("customer_id")
        if customer is not None and principal.customer_id == customer:
            roles.append("viewer")
    now = datetime.now(UTC)
    subjects = [("group", str(g)) for g in mine]
    if principal.user_id is not None:
        subjects.append(("user", str(principal.user_id)))
    if principal.customer_id is not None:
        subjects.append(("customer", str(principal.customer_id)))
    if not subjects:
        return max(roles, key=RANK.__getitem__) if roles else None
    grants = session.scalars(
        select(Permission).where(
            Permission.object_type == _object_type(obj),
            Permission.object_id == obj.id,
            or_(*(and_(Permission.subject_type == t, Permission.subject_ref == r) for t, r in subjects)),
        )
    )
    for g in grants:
        exp = g.expires_at
        if exp is not None and (exp if exp.tzinfo else exp.replace(tzinfo=UTC)) < now:
            continue
        roles.append(g.role)
    return max(roles, key=RANK.__getitem__) if roles else None


def can(session: Session, principal: Principal, action: str, obj: Any) -> bool:
    """Whether ``principal`` may do ``action`` on ``obj``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    role = role_of(session, principal, obj)
    return role is not None and action in _actions(principal, role)


def _actions(principal: Principal, role: str) -> frozenset[str]:
    if principal.share is None:
        return ACTIONS_BY_ROLE[role]
    return frozenset().union(*(SHARE_ACTIONS[p] for p in principal.share.permissions if p in SHARE_ACTIONS))


def authorize(session: Session, principal: Principal, action: str, obj: Any) -> str:
    """Raise unless ``principal`` may do ``action`` on ``obj``; returns the principal's role on it.

    Objects the principal cannot even see raise :class:`NotFound`, so ids of other
    tenants' objects cannot be probed.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    role = role_of(session, principal, obj)
    kind = _object_type(obj).rstrip("s")
    if role is None:
        raise NotFound(f"{kind} {obj.id} not found")
    if action not in _actions(principal, role):
        if principal.share is not None:
            raise PermissionDenied(f"this link does not allow to {action} {kind} {obj.id}")
        raise PermissionDenied(f"you are {role} of {kind} {obj.id} and cannot {action} it")
    return role


def grant(
    session: Session,
    obj: Any,
    subject_type: str,
    subject_ref: str | int,
    role: str,
    *,
    expires_at: datetime | None = None,
) -> Permission:
    """Give a user, group or customer a role on an object."""
    if subject_type not in ("user", "group", "customer"):
        raise ValueError(f"unknown subject type {subject_type!r}")
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")
    p = Permission(
        object_type=_object_type(obj),
        object_id=obj.id,
        subject_type=subject_type,
        subject_ref=str(subject_ref),
        role=role,
        expires_at=expires_at,
    )
    session.add(p)
    session.flush()
    return p


def granted_ids(principal: Principal, object_type: str) -> Select[int]:
    """Ids of objects of a type granted (unexpired) to the principal, their groups or their customer."""
    subjects = [
        and_(Permission.subject_type == "group", Permission.subject_ref == str(g))
        for g in principal.group_ids
    ]
    if principal.user_id is not None:
        subjects.append(
            and_(Permission.subject_type == "user", Permission.subject_ref == str(principal.user_id))
        )
    if principal.customer_id is not None:
        subjects.append(
            and_(Permission.subject_type == "customer", Permission.subject_ref == str(principal.customer_id))
        )
    return select(Permission.object_id).where(
        Permission.object_type == object_type,
        or_(*subjects) if subjects else false(),
        or_(Permission.expires_at.is_(None), Permission.expires_at > datetime.now(UTC)),
    )


def visible_clause(session: Session, principal: Principal, model: Any) -> ColumnElement[bool]:
    """SQL condition selecting the rows of ``model`` the principal may view (for listings).

    Rows with ``customer`` visibility are candidates: filter them with :func:`can`.
    """
    tenant: ColumnElement[bool] = model.tenant_id == principal.tenant_id
    if hasattr(model, "deleted_at"):
        tenant = and_(tenant, model.deleted_at.is_(None))  # trashed rows are listed only by the trash
    if principal.share is not None:
        table = model.__tablename__
        ids = [i for t, i in principal.share.objects if t == table]
        return and_(tenant, model.id.in_(ids)) if ids else false()
    if principal.is_admin:
        return tenant
    mine = principal.group_ids
    peers = select(Membership.user_id).where(Membership.group_id.in_(mine)) if mine else None
    granted = granted_ids(principal, model.__tablename__)
    return and_(
        tenant,
        or_(
            model.owner_id == principal.user_id if principal.user_id is not None else false(),
            model.visibility == "public",
            and_(model.visibility == "group", model.owner_id.in_(peers)) if peers is not None else false(),
            model.id.in_(granted),
            # Candidates only: the caller re-checks them with role_of (customer ids live in JSON).
            model.visibility == "customer" if principal.customer_id is not None else false(),
        ),
    )
