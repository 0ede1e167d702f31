"""People administration: users, invitations, row scope, groups and memberships, the audit trail.

Every function takes the acting :class:`~portal.identity.principal.Principal` and works
inside its tenant only: another tenant's user or group id is :class:`NotFound`, exactly
like a missing one. Administration needs ``principal.is_admin``
(:class:`PermissionDenied` otherwise, checked before anything is read). The caller owns
the transaction (nothing here commits).

Every change is audited with ``{"before": ..., "after": ...}`` snapshots of the fields it
touched; password hashes and invitation tokens never appear in them. The tenant's last
active administrator can be neither disabled nor demoted (:class:`Conflict` naming the field).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, Conflict, InvalidSpec, NotFound, PermissionDenied
from portal.identity import audit
from portal.identity.auth import EMAIL_RE, hash_password, revoke_user_sessions
from portal.identity.passwords import check_password
from portal.identity.principal import Principal
from portal.models import ApiToken, AuditLog, Group, Membership, Permission, User
from portal.specs.base import parse_spec

#: An invitation link works this long, once.
INVITE_DAYS = 7
#: Listings return at most this many rows per page.
MAX_PAGE = 500

Id = Annotated[StrictInt, Field(gt=0, lt=2**62)]
IdList = Annotated[list[Id], Field(max_length=5000)]


class UserIn(BaseModel):
    """A new user. ``locations``/``contracts`` ``None`` = all of the tenant; ``password`` optional
    (without one the user signs in after accepting an invitation)."""

    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254)
    name: str = Field(min_length=1, max_length=200)
    is_admin: StrictBool = False
    locations: IdList | None = None
    contracts: IdList | None = None
    customer_id: Id | None = None
    password: str | None = Field(default=None, max_length=1024)


class UserPatch(BaseModel):
    """Changes to a user: only the fields given change (``locations: null`` = all locations)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    is_admin: StrictBool | None = None
    locations: IdList | None = None
    contracts: IdList | None = None
    customer_id: Id | None = None


@dataclass(frozen=True)
class Invite:
    """A one-time link that lets ``user`` set a password (the token is in ``url``, shown once)."""

    user: User
    url: str
    expires_at: datetime


# --------------------------------------------------------------------------- helpers
def require_admin(principal: Principal, what: str = "manage people") -> None:
    """:class:`PermissionDenied` unless the principal is an administrator of its tenant."""
    if not principal.is_admin or principal.user_id is None:
        raise PermissionDenied(f"only an administrator of the tenant can {what}")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def hash_invite(token: str) -> str:
    """SHA-256 of an invitation token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def user_snapshot(u: User) -> dict[str, Any]:
    """The audited fields of a user (never the password hash or the invitation token)."""
    return {
        "email": u.email,
        "name": u.name,
        "is_admin": bool(u.is_admin),
        "is_active": bool(u.is_active),
        "locations": sorted(u.location_scope) if u.location_scope is not None else None,
        "contracts": sorted(u.contract_scope) if u.contract_scope is not None else None,
        "customer_id": u.customer_id,
    }


def user_to_dict(u: User) -> dict[str, Any]:
    """JSON view of a user for administrators."""
    invite_pending = u.invite_token_hash is not None and (
        u.invite_expires_at is not None and _aware(u.invite_expires_at) > _now()
    )
    return {
        "id": u.id,
        **user_snapshot(u),
        "has_password": u.password_hash is not None,
        "invite_pending": invite_pending,
        "invite_expires_at": u.invite_expires_at if invite_pending else None,
        "created_at": u.created_at,
        "last_login_at": u.last_login_at,
        "password_changed_at": u.password_changed_at,
    }


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after.get(k) for k in keys}}


def _ids(values: Iterable[int] | None) -> list[int] | None:
    return None if values is None else sorted(set(values))


def _no_control(value: str, field: str) -> str:
    # NUL and other control characters: no database stores NUL, and none belongs in a name.
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidSpec(f"{field}: must not contain control characters", field=field)
    return value


def _name(value: str, field: str = "name") -> str:
    name = " ".join(_no_control(value, field).split())
    if not name:
        raise InvalidSpec(f"{field}: must not be blank", field=field)
    return name


def get_user(session: Session, principal: Principal, user_id: int) -> User:
    """A user of the principal's tenant (admins only); another tenant's is :class:`NotFound`."""
    require_admin(principal)
    u = session.get(User, user_id)
    if u is None or u.tenant_id != principal.tenant_id:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return u


def _active_admins(session: Session, tenant_id: int) -> int:
    stmt = select(func.count(User.id)).where(
        User.tenant_id == tenant_id, User.is_admin.is_(True), User.is_active.is_(True)
    )
    return int(session.scalar(stmt) or 0)


def _guard_last_admin(session: Session, u: User, field: str) -> None:
    if u.is_admin and u.is_active and _active_admins(session, u.tenant_id) <= 1:
        what = "disable" if field == "is_active" else "remove the administrator role of"
        raise Conflict(
            f"{field}: cannot {what} the tenant's last active administrator; make another user "
            "an administrator first",
            field=field,
        )


# --------------------------------------------------------------------------- users
def list_users(
    session: Session,
    principal: Principal,
    *,
    search: str | None = None,
    active: bool | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[User]:
    """Users of the tenant by name, filtered by a search on name/e-mail and by active state."""
    require_admin(principal)
    stmt = select(User).where(User.tenant_id == principal.tenant_id)
    if search and search.strip():
        needle = (
            "%" + search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            or_(func.lower(User.name).like(needle, escape="\\"), User.email.like(needle, escape="\\"))
        )
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    limit = max(1, min(limit, MAX_PAGE))
    return list(
        session.scalars(stmt.order_by(func.lower(User.name), User.id).limit(limit).offset(max(0, offset)))
    )


def create_user(session: Session, principal: Principal, data: UserIn | Mapping[str, Any]) -> User:
    """Add a user to the principal's tenant (e-mail unique across the installation).

    With a password it must meet the policy; without one the user gets an invitation
    (:func:`invite`) to choose it.
    """
    require_admin(principal)
    d = parse_spec(UserIn, data)
    email = _no_control(d.email, "email").strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidSpec(f"email: {email!r} is not an e-mail address", field="email")
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"email: {email!r} is already registered", field="email")
    name = _name(d.name)
    now = _now()
    if d.password is not None:
        check_password(_no_control(d.password, "password"), email=email, name=name)
    u = User(
        tenant_id=principal.tenant_id,
        email=email,
        name=name,
        password_hash=hash_password(d.password) if d.password is not None else None,
        password_changed_at=now if d.password is not None else None,
        is_admin=d.is_admin,
        is_active=True,
        location_scope=_ids(d.locations),
        contract_scope=_ids(d.contracts),
        customer_id=d.customer_id,
    )
    session.add(u)
    session.flush()
    audit.record(session, principal, "create", u, details={"before": None, "after": user_snapshot(u)})
    return u


def update_user(
    session: Session, principal: Principal, user_id: int, data: UserPatch | Mapping[str, Any]
) -> User:
    """Change a user's name, administrator role, row scope or customer (only the fields given)."""
    u = get_user(session, principal, user_id)
    patch = parse_spec(UserPatch, data)
    given = patch.model_fields_set
    before = user_snapshot(u)
    if "name" in given:
        if patch.name is None:
            raise InvalidSpec("name: must not be null", field="name")
        u.name = _name(patch.name)
    if "is_admin" in given:
        if patch.is_admin is None:
            raise InvalidSpec("is_admin: must be true or false", field="is_admin")
        if not patch.is_admin:
            _guard_last_admin(session, u, "is_admin")
        u.is_admin = patch.is_admin
    if "locations" in given:
        u.location_scope = _ids(patch.locations)
    if "contracts" in given:
        u.contract_scope = _ids(patch.contracts)
    if "customer_id" in given:
        u.customer_id = patch.customer_id
    session.flush()
    diff = _changes(before, user_snapshot(u))
    if diff["after"]:
        audit.record(session, principal, "edit", u, details=diff)
    return u


def revoke_api_tokens(session: Session, user: User) -> int:
    """Revoke every live API token of a user; returns how many."""
    now = _now()
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for t in rows:
        t.revoked_at = now
    return len(rows)


def set_active(session: Session, principal: Principal, user_id: int, active: bool) -> User:
    """Enable or disable a user. Disabling ends their browser sessions, revokes their API tokens
    and cancels a pending invitation; the last active administrator cannot be disabled."""
    u = get_user(session, principal, user_id)
    if u.is_active == active:
        return u
    details: dict[str, Any] = {"before": {"is_active": u.is_active}, "after": {"is_active": active}}
    if not active:
        _guard_last_admin(session, u, "is_active")
        details["sessions_revoked"] = revoke_user_sessions(session, u)
        details["tokens_revoked"] = revoke_api_tokens(session, u)
        u.invite_token_hash = u.invite_expires_at = None
    u.is_active = active
    session.flush()
    audit.record(session, principal, "edit", u, details=details)
    return u


def reset_password(session: Session, principal: Principal, user_id: int, password: str) -> User:
    """Set a new password chosen by the administrator (policy applies); the user's sessions end."""
    u = get_user(session, principal, user_id)
    if not u.is_active:
        raise Conflict("user_id: the user is disabled; enable them first", field="user_id")
    check_password(password, email=u.email, name=u.name)
    u.password_hash = hash_password(password)
    u.password_changed_at = _now()
    u.invite_token_hash = u.invite_expires_at = None
    sessions = revoke_user_sessions(session, u)
    session.flush()
    audit.record(
        session,
        principal,
        "edit",
        u,
        details={
            "before": {"password_state": "set"},
            "after": {"password_state": "reset by an administrator"},
            "sessions_revoked": sessions,
        },
    )
    return u


def invite(
    session: Session, principal: Principal, user_id: int, *, base_url: str, reset: bool = False
) -> Invite:
    """A new one-time link (``{base_url}/invite?token=...``, valid :data:`INVITE_DAYS` days) for the
    user to choose a password; an earlier link stops working.

    ``reset`` (a password reset by link) also clears the current password and ends the
    user's sessions: the old password stops working at once. The caller e-mails the link.
    """
    u = get_user(session, principal, user_id)
    if not u.is_active:
        raise Conflict("user_id: the user is disabled; enable them first", field="user_id")
    token = secrets.token_urlsafe(32)  # 256 bits
    expires = _now() + timedelta(days=INVITE_DAYS)
    had_password = u.password_hash is not None
    u.invite_token_hash = hash_invite(token)
    u.invite_expires_at = expires
    details: dict[str, Any] = {
        "before": {"invite_pending": False},
        "after": {"invite_pending": True, "invite_expires_at": expires.isoformat()},
    }
    if reset:
        u.password_hash = None
        details["before"]["password_state"] = "set" if had_password else None
        details["after"]["password_state"] = "cleared: reset by link"  # noqa: S105 - a state, not a secret
        details["sessions_revoked"] = revoke_user_sessions(session, u)
    session.flush()
    audit.record(session, principal, "edit", u, details=details)
    return Invite(u, f"{base_url.rstrip('/')}/invite?token={quote(token, safe='')}", expires)


def invited_user(session: Session, token: str) -> User:
    """The active user whose unexpired invitation ``token`` is; :class:`NotFound` otherwise.

    Unknown, used and expired tokens get the same answer.
    """
    if not isinstance(token, str) or not 16 <= len(token) <= 200:
        raise NotFound(_INVITE_GONE, field="token")
    u = session.scalar(select(User).where(User.invite_token_hash == hash_invite(token)))
    if u is None or not u.is_active or u.invite_expires_at is None or _aware(u.invite_expires_at) <= _now():
        raise NotFound(_INVITE_GONE, field="token")
    return u


_INVITE_GONE = (
    "token: this invitation link is unknown, already used or expired; ask an administrator for a new one"
)


def accept_invite(session: Session, token: str, password: str) -> User:
    """Set the invited user's password (policy applies) and use the link up."""
    u = invited_user(session, token)
    check_password(password, email=u.email, name=u.name)
    u.password_hash = hash_password(password)
    u.password_changed_at = _now()
    u.invite_token_hash = u.invite_expires_at = None
    revoke_user_sessions(session, u)
    session.flush()
    audit.record(
        session,
        u,
        "edit",
        u,
        details={
            "before": {"invite_pending": True},
            "after": {"invite_pending": False, "password_state": "set"},
        },
    )
    return u


# --------------------------------------------------------------------------- groups
def group_to_dict(g: Group, members: list[User] | None = None, count: int | None = None) -> dict[str, Any]:
    """JSON view of a group (with its members when given)."""
    out: dict[str, Any] = {"id": g.id, "name": g.name}
    if members is not None:
        out["members"] = [{"id": u.id, "name": u.name, "email": u.email} for u in members]
        out["member_count"] = len(members)
    elif count is not None:
        out["member_count"] = count
    return out


def get_group(session: Session, principal: Principal, group_id: int) -> Group:
    """A group of the principal's tenant (admins only); another tenant's is :class:`NotFound`."""
    require_admin(principal)
    g = session.get(Group, group_id)
    if g is None or g.tenant_id != principal.tenant_id:
        raise NotFound(f"group {group_id} not found", field="group_id")
    return g


def list_groups(session: Session, principal: Principal) -> list[tuple[Group, int]]:
    """The tenant's groups by name, each with its member count."""
    require_admin(principal)
    counts = (
        select(Membership.group_id, func.count(Membership.id).label("n"))
        .group_by(Membership.group_id)
        .subquery()
    )
    stmt = (
        select(Group, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == Group.id)
        .where(Group.tenant_id == principal.tenant_id)
        .order_by(func.lower(Group.name), Group.id)
    )
    return [(g, int(n)) for g, n in session.execute(stmt).all()]


def group_members(session: Session, principal: Principal, group_id: int) -> list[User]:
    """The members of a group, by name."""
    g = get_group(session, principal, group_id)
    stmt = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.group_id == g.id)
        .order_by(func.lower(User.name), User.id)
    )
    return list(session.scalars(stmt))


def user_groups(session: Session, principal: Principal, user_id: int) -> list[Group]:
    """The groups a user of the tenant belongs to, by name."""
    u = get_user(session, principal, user_id)
    stmt = (
        select(Group)
        .join(Membership, Membership.group_id == Group.id)
        .where(Membership.user_id == u.id)
        .order_by(func.lower(Group.name), Group.id)
    )
    return list(session.scalars(stmt))


def _check_group_name(session: Session, tenant_id: int, name: str, exclude: int | None = None) -> str:
    if not isinstance(name, str):
        raise InvalidSpec("name: must be text", field="name")
    clean = _name(name)
    if len(clean) > 200:
        raise InvalidSpec("name: at most 200 characters", field="name")
    # Compared here, not in SQL: SQLite's lower() folds ASCII only ("Ø" and "ø" would both pass).
    folded = clean.casefold()
    for gid, existing in session.execute(select(Group.id, Group.name).where(Group.tenant_id == tenant_id)):
        if gid != exclude and existing.casefold() == folded:
            raise Conflict(f"name: a group called {existing!r} already exists", field="name")
    return clean


def create_group(session: Session, principal: Principal, name: str) -> Group:
    """A new, empty group of the tenant (names are unique per tenant, whatever their case)."""
    require_admin(principal)
    g = Group(tenant_id=principal.tenant_id, name=_check_group_name(session, principal.tenant_id, name))
    session.add(g)
    session.flush()
    audit.record(session, principal, "create", g, details={"before": None, "after": {"name": g.name}})
    return g


def rename_group(session: Session, principal: Principal, group_id: int, name: str) -> Group:
    """Rename a group."""
    g = get_group(session, principal, group_id)
    new = _check_group_name(session, principal.tenant_id, name, exclude=g.id)
    if new != g.name:
        before = g.name
        g.name = new
        session.flush()
        audit.record(
            session, principal, "edit", g, details={"before": {"name": before}, "after": {"name": new}}
        )
    return g


def delete_group(session: Session, principal: Principal, group_id: int) -> None:
    """Delete a group, its memberships and the grants given to it."""
    g = get_group(session, principal, group_id)
    members = [u.email for u in group_members(session, principal, group_id)]
    session.execute(delete(Membership).where(Membership.group_id == g.id))
    grants = session.execute(
        delete(Permission).where(Permission.subject_type == "group", Permission.subject_ref == str(g.id))
    )
    audit.record(
        session,
        principal,
        "delete",
        g,
        details={
            "before": {"name": g.name, "members": members},
            "after": None,
            "grants_removed": int(getattr(grants, "rowcount", 0) or 0),
        },
    )
    session.delete(g)
    session.flush()


def _set_membership(
    session: Session, principal: Principal, group_id: int, user_id: int, member: bool
) -> Group:
    g = get_group(session, principal, group_id)
    u = get_user(session, principal, user_id)
    before = [m.email for m in group_members(session, principal, group_id)]
    row = session.scalar(select(Membership).where(Membership.group_id == g.id, Membership.user_id == u.id))
    if member and row is None:
        session.add(Membership(group_id=g.id, user_id=u.id))
    elif not member and row is not None:
        session.delete(row)
    else:
        return g  # already so: nothing to audit
    session.flush()
    after = [m.email for m in group_members(session, principal, group_id)]
    audit.record(
        session,
        principal,
        "edit",
        g,
        details={
            "before": {"members": before},
            "after": {"members": after},
            "group": g.name,
            "user_id": u.id,
        },
    )
    return g


def add_member(session: Session, principal: Principal, group_id: int, user_id: int) -> Group:
    """Put a user of the tenant in a group (idempotent)."""
    return _set_membership(session, principal, group_id, user_id, True)


def remove_member(session: Session, principal: Principal, group_id: int, user_id: int) -> Group:
    """Take a user out of a group (idempotent)."""
    return _set_membership(session, principal, group_id, user_id, False)


# --------------------------------------------------------------------------- audit trail
AUDIT_OBJECT_TYPES = (
    "users",
    "groups",
    "dashboards",
    "widgets",
    "reports",
    "pdf_templates",
    "permissions",
    "report_schedules",
    "pdf_schedules",
    "report_triggers",
    "api_tokens",
    "web_sessions",
)


def audit_entries(
    session: Session,
    principal: Principal,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """The tenant's audit rows, newest first, filtered; with the total count of matching rows."""
    require_admin(principal, "read the audit trail")
    if action is not None and action not in audit.ACTIONS:
        raise BadRequest(
            f"action: unknown action {action!r} (known: {', '.join(audit.ACTIONS)})", field="action"
        )
    if since is not None and until is not None and since > until:
        raise BadRequest("since: must not be after until", field="since")
    if object_type is not None and not re.fullmatch(r"[a-z_]{1,32}", object_type):
        raise BadRequest(
            f"object_type: a table name like {', '.join(AUDIT_OBJECT_TYPES[:3])}", field="object_type"
        )
    stmt = select(AuditLog).where(AuditLog.tenant_id == principal.tenant_id)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditLog.object_id == object_id)
    if user_id is not None:
        stmt = stmt.where(AuditLog.user_id == user_id)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if since is not None:
        stmt = stmt.where(AuditLog.created_at >= since)
    if until is not None:
        stmt = stmt.where(AuditLog.created_at <= until)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    limit = max(1, min(limit, MAX_PAGE))
    rows = session.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit).offset(max(0, offset)))
    return list(rows), total


def user_labels(session: Session, tenant_id: int, ids: Iterable[int | None]) -> dict[int, str]:
    """``{user id: "Name (email)"}`` for the given ids of one tenant."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.name, User.email).where(User.id.in_(wanted), User.tenant_id == tenant_id)
    )
    return {i: f"{n} ({e})" for i, n, e in rows}


def audit_to_dict(a: AuditLog, labels: Mapping[int, str] | None = None) -> dict[str, Any]:
    """JSON view of an audit row."""
    return {
        "id": a.id,
        "at": a.created_at,
        "user_id": a.user_id,
        "user": (labels or {}).get(a.user_id) if a.user_id is not None else None,
        "action": a.action,
        "object_type": a.object_type,
        "object_id": a.object_id,
        "details": a.snapshots or {},
        "request_id": a.request_id,
    }
