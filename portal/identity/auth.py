"""Identity: tenants, users, groups, argon2 passwords and hashed API tokens."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import AuthenticationFailed, Conflict, InvalidSpec, NotFound
from portal.identity import audit
from portal.identity.passwords import check_password
from portal.identity.scope import Scope
from portal.infra.crypto import hash_token, new_token

if TYPE_CHECKING:
    from portal.identity.principal import Principal
from portal.models import ApiToken, Group, Membership, Tenant, User, WebSession

_hasher = PasswordHasher()
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")
MIN_PASSWORD = 8
TOKEN_PREFIX = "cbi"  # noqa: S105 - a prefix, not a secret
# Verifying against a real hash when the user does not exist keeps response
# times equal, so login cannot be used to enumerate accounts.
_DUMMY_HASH = _hasher.hash("conductor-timing-equaliser")


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    if len(password) < MIN_PASSWORD:
        raise InvalidSpec(f"password: must have at least {MIN_PASSWORD} characters", field="password")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-ish time even without a hash)."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def create_tenant(session: Session, slug: str, name: str) -> Tenant:
    """Add a tenant; ``slug`` is also its key in the warehouse (``tenant_key``)."""
    if not SLUG_RE.match(slug):
        raise InvalidSpec("slug: use 2-63 lowercase letters, digits, - or _", field="slug")
    if session.scalar(select(Tenant).where(Tenant.slug == slug)):
        raise Conflict(f"slug: tenant {slug!r} already exists", field="slug")
    t = Tenant(slug=slug, name=name)
    session.add(t)
    session.flush()
    return t


def create_user(
    session: Session,
    tenant: Tenant,
    email: str,
    name: str,
    password: str | None,
    *,
    is_admin: bool = False,
    locations: list[int] | None = None,
    contracts: list[int] | None = None,
    customer_id: int | None = None,
    password_hash: str | None = None,
) -> User:
    """Add a user to a tenant (email is unique across the installation).

    ``password_hash`` (an argon2 hash made by :func:`hash_password`) replaces ``password``
    when the caller already has one, e.g. the demo accounts that share one dev password.
    """
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise InvalidSpec(f"email: {email!r} is not an e-mail address", field="email")
    if session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"email: {email!r} is already registered", field="email")
    user = User(
        tenant_id=tenant.id,
        email=email,
        name=name,
        password_hash=password_hash or (hash_password(password) if password else None),
        is_admin=is_admin,
        location_scope=locations,
        contract_scope=contracts,
        customer_id=customer_id,
    )
    session.add(user)
    session.flush()
    audit.record(session, None, "create", user, tenant_id=tenant.id, details={"email": email})
    return user


def create_group(session: Session, tenant: Tenant, name: str, members: list[User] = ()) -> Group:  # type: ignore[assignment]
    """Add a group with members."""
    g = Group(tenant_id=tenant.id, name=name)
    session.add(g)
    session.flush()
    for u in members:
        add_member(session, g, u)
    return g


def add_member(session: Session, group: Group, user: User) -> None:
    """Put a user in a group of the same tenant."""
    if group.tenant_id != user.tenant_id:
        raise InvalidSpec("group: user and group belong to different tenants", field="group")
    session.add(Membership(group_id=group.id, user_id=user.id))
    session.flush()


def group_ids(session: Session, user: User) -> set[int]:
    """Ids of the groups a user belongs to."""
    return set(session.scalars(select(Membership.group_id).where(Membership.user_id == user.id)))


def authenticate(session: Session, email: str, password: str) -> User:
    """The active user with these credentials, or :class:`AuthenticationFailed`."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if not user or not ok or not user.is_active:
        raise AuthenticationFailed("invalid e-mail or password")
    user.last_login_at = datetime.now(UTC)
    audit.record(session, user, "login")
    return user


#: API tokens live this long unless asked otherwise (``CONDUCTOR_TOKEN_DAYS``), at most MAX_TOKEN_DAYS.
DEFAULT_TOKEN_DAYS = 30
MAX_TOKEN_DAYS = 365


def issue_api_token(
    session: Session, user: User, name: str, *, days: int | None = DEFAULT_TOKEN_DAYS
) -> tuple[ApiToken, str]:
    """A new API token for scripts and notebooks; the plain token is returned once and stored hashed.

    ``days=None`` (no expiry) is for the command line only; the API always sets an expiry.
    """
    if not name.strip():
        raise InvalidSpec("name: give the token a name", field="name")
    if days is not None and not 1 <= days <= MAX_TOKEN_DAYS:
        raise InvalidSpec(f"days: must be between 1 and {MAX_TOKEN_DAYS}", field="days")
    plain = new_token(TOKEN_PREFIX)
    tok = ApiToken(
        user_id=user.id,
        name=name.strip()[:200],
        prefix=plain[:10],
        token_hash=hash_token(plain),
        expires_at=datetime.now(UTC) + timedelta(days=days) if days else None,
    )
    session.add(tok)
    session.flush()
    audit.record(session, user, "token", tok, details={"name": tok.name})
    return tok, plain


def user_for_token(session: Session, plain: str) -> User:
    """The user a bearer token belongs to; :class:`AuthenticationFailed` when invalid, expired or revoked."""
    tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(plain)))
    now = datetime.now(UTC)
    if tok is None or tok.revoked_at is not None or (tok.expires_at and _aware(tok.expires_at) < now):
        raise AuthenticationFailed("invalid, expired or revoked API token")
    user = session.get(User, tok.user_id)
    if user is None or not user.is_active:
        raise AuthenticationFailed("invalid, expired or revoked API token")
    tok.last_used_at = now
    return user


def list_api_tokens(session: Session, owner: User | Principal) -> list[ApiToken]:
    """The user's API tokens, newest first (revoked and expired ones included, marked as such)."""
    stmt = select(ApiToken).where(ApiToken.user_id == _account_id(owner)).order_by(ApiToken.id.desc())
    return list(session.scalars(stmt))


def get_api_token(session: Session, owner: User | Principal, token_id: int) -> ApiToken:
    """One of the user's tokens; the same NotFound for other people's tokens and missing ones."""
    tok = session.get(ApiToken, token_id)
    if tok is None or tok.user_id != _account_id(owner):
        raise NotFound(f"token {token_id} not found", field="token_id")
    return tok


def revoke_api_token(session: Session, owner: User | Principal, token_id: int) -> ApiToken:
    """Revoke one of the user's tokens at once (idempotent)."""
    tok = get_api_token(session, owner, token_id)
    if tok.revoked_at is None:
        tok.revoked_at = datetime.now(UTC)
        audit.record(session, owner, "token", tok, details={"revoked": True})
    return tok


def _account_id(owner: User | Principal) -> int | None:
    return owner.id if isinstance(owner, User) else owner.user_id


def token_state(tok: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked``."""
    now = now or datetime.now(UTC)
    if tok.revoked_at is not None:
        return "revoked"
    if tok.expires_at is not None and _aware(tok.expires_at) < now:
        return "expired"
    return "active"


# --------------------------------------------------------------------------- browser sessions
# The sign-in layer puts the signed-in user and session on the HTTP request under these
# attribute names; pages read them there (the cookie never reaches a page).
REQUEST_USER = "cbi_user_id"
REQUEST_SESSION = "cbi_session_id"
REQUEST_LOGOUT_TOKEN = "cbi_logout_token"  # noqa: S105 - an attribute name


def start_web_session(
    session: Session, user: User, *, hours: int, ip: str = "", user_agent: str = ""
) -> tuple[WebSession, str]:
    """A new server-side browser session; the plain token goes into the (signed) cookie, once."""
    plain = new_token("cbs")
    ws = WebSession(
        user_id=user.id,
        token_hash=hash_token(plain),
        expires_at=datetime.now(UTC) + timedelta(hours=hours),
        ip=ip[:64],
        user_agent=user_agent[:300],
    )
    session.add(ws)
    session.flush()
    return ws, plain


#: ``last_seen_at`` is written at most this often (not on every request of a page).
LAST_SEEN_EVERY = timedelta(minutes=5)


def web_session_user(session: Session, plain: str) -> tuple[User, WebSession] | None:
    """The active user and live session of a cookie token; None if unknown, expired or revoked."""
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(plain)))
    live = _live(session, ws)
    if live is not None:
        now = datetime.now(UTC)
        seen = live[1].last_seen_at
        if seen is None or _aware(seen) < now - LAST_SEEN_EVERY:
            live[1].last_seen_at = now
    return live


def live_web_session(session: Session, session_id: int) -> tuple[User, WebSession] | None:
    """The user of a session that is still valid (checked again on every action of an open page)."""
    return _live(session, session.get(WebSession, session_id))


def _live(session: Session, ws: WebSession | None) -> tuple[User, WebSession] | None:
    now = datetime.now(UTC)
    if ws is None or ws.revoked_at is not None or _aware(ws.expires_at) <= now:
        return None
    user = session.get(User, ws.user_id)
    if user is None or not user.is_active:
        return None
    return user, ws


def end_web_session(session: Session, plain: str) -> None:
    """Sign out: the cookie's session stops working everywhere at once."""
    ws = session.scalar(select(WebSession).where(WebSession.token_hash == hash_token(plain)))
    if ws is not None and ws.revoked_at is None:
        ws.revoked_at = datetime.now(UTC)
        audit.record(session, session.get(User, ws.user_id), "logout", ws)


def revoke_user_sessions(session: Session, user: User) -> int:
    """End every browser session of a user (password change, disabling); returns how many."""
    now = datetime.now(UTC)
    rows = session.scalars(
        select(WebSession).where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
    ).all()
    for ws in rows:
        ws.revoked_at = now
    return len(rows)


def set_password(session: Session, user: User, password: str) -> None:
    """Change a password (it must meet :mod:`portal.identity.passwords`); every browser session ends."""
    check_password(password, email=user.email, name=user.name)
    user.password_hash = hash_password(password)
    user.password_changed_at = datetime.now(UTC)
    revoke_user_sessions(session, user)
    audit.record(session, user, "edit", user, details={"password_changed": True})


def set_active(session: Session, user: User, active: bool) -> None:
    """Enable or disable a user; disabling ends their sessions and stops their API tokens."""
    user.is_active = active
    if not active:
        revoke_user_sessions(session, user)
    audit.record(session, None, "edit", user, tenant_id=user.tenant_id, details={"active": active})


def tenant_of(session: Session, user: User) -> Tenant:
    """The user's tenant."""
    t = session.get(Tenant, user.tenant_id)
    if t is None:  # pragma: no cover - FK guarantees it
        raise NotFound("tenant not found")
    return t


def user_scope(session: Session, user: User) -> Scope:
    """The row-level data scope of a user."""
    return Scope.of(
        tenant_of(session, user).slug,
        locations=user.location_scope,
        contracts=user.contract_scope,
        customers=[user.customer_id] if user.customer_id is not None else None,
    )


def _aware(dt: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they are stored as UTC.
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
