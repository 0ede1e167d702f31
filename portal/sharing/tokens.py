"""Share tokens: made by an object's owner, used by outsiders through ``/pub/{type}/{token}``.

A token is 256 random bits shown once and stored as its SHA-256. Using one resolves it to
a :class:`~portal.identity.principal.Principal` of kind ``share`` that reaches only the
shared object (and what it is made of), with the link's permissions, in a row scope that is
the creator's *current* scope narrowed by the link's (so a link never shows more than its
creator may see today, and a disabled creator's links stop working). Every page, REST call,
export and real-time subscription of the viewer goes through ``authorize()`` and the query
scope with that principal, like a signed-in user's.

Every use is logged (granted or refused); ``max_uses`` is counted by one conditional UPDATE,
so two viewers cannot both take the last use. Unknown, expired, revoked and used-up tokens
are indistinguishable to the caller (the web layer answers them with one 404).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, or_, select, update
from sqlalchemy.orm import Session

from portal.dashboards.access import dashboard_widgets, get_dashboard, get_widget, widget_spec
from portal.dashboards.data import load_dashboard
from portal.data.warehouse import Warehouse
from portal.errors import AuthenticationFailed, InvalidSpec, NotFound, PermissionDenied, PortalError
from portal.identity import audit
from portal.identity.auth import user_scope
from portal.identity.principal import Identify, Principal, ShareGrant
from portal.identity.scope import Scope
from portal.models import Dashboard, Membership, PdfRender, ShareAccess, ShareToken, User, Widget
from portal.pdf.renders import get_render
from portal.pdf.templates import get_template
from portal.reports.service import get_report
from portal.sharing.snapshots import freeze
from portal.specs.share import ShareRequest

TOKEN_BYTES = 32  # 256 bits
#: Results of a use, as the access log records them.
RESULTS = ("ok", "expired", "revoked", "used_up", "ip_denied", "login_required", "not_allowed", "disabled")
#: A viewer page's proof that its link was checked: valid this long (the page re-checks the
#: token itself on every data request, so revocation still acts at once).
GRANT_TTL_S = 12 * 3600


def hash_token(plain: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(plain.encode()).hexdigest()


def _aware(at: datetime | None) -> datetime | None:
    return None if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))


def _iso(at: datetime | None) -> str | None:
    aware = _aware(at)
    return aware.isoformat() if aware is not None else None


def _now(now: datetime | None = None) -> datetime:
    return now or datetime.now(UTC)


# --------------------------------------------------------------------------- the shared object
def _shared_object(session: Session, principal: Principal, object_type: str, object_id: int) -> Any:
    """The object a creator shares, loaded through the gate with the ``share`` action."""
    if object_type in ("dashboard", "snapshot"):
        return get_dashboard(session, principal, object_id, "share")
    if object_type == "widget":
        return get_widget(session, principal, object_id, "share")[0]
    if object_type == "report":
        return get_report(session, principal, object_id, "share")
    if object_type == "pdf_template":
        return get_template(session, principal, object_id, "share")
    if object_type == "pdf_render":
        render = get_render(session, principal, object_id)
        if render.status != "done":
            raise InvalidSpec(
                f"object_id: pdf render {object_id} is {render.status}, not done", field="object_id"
            )
        return render
    raise InvalidSpec(f"object_type: {object_type!r} cannot be shared", field="object_type")


def _widget_reports(widgets: list[Widget]) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    for w in widgets:
        try:
            rid = widget_spec(w).report_id
        except (PortalError, ValueError):
            rid = None  # a widget stored before a rule change: it shows its own error, reads nothing
        if rid is not None:
            out.add(("reports", rid))
    return out


def share_grant(session: Session, token: ShareToken) -> ShareGrant:
    """What the token reaches: the shared object and its parts (a dashboard's widgets and their
    reports), with the link's permissions."""
    kind, oid = token.object_type, token.object_id
    objects: set[tuple[str, int]] = set()
    widget_ids: frozenset[int] | None = None
    if kind in ("dashboard", "snapshot"):
        d = session.get(Dashboard, oid)
        widgets = dashboard_widgets(session, d) if d is not None else []
        objects |= {("dashboards", oid)} | {("widgets", w.id) for w in widgets} | _widget_reports(widgets)
    elif kind == "widget":
        w = session.get(Widget, oid)
        if w is not None:
            objects |= {("widgets", w.id), ("dashboards", w.dashboard_id)} | _widget_reports([w])
            widget_ids = frozenset({w.id})
    elif kind == "report":
        objects.add(("reports", oid))
    elif kind == "pdf_template":
        objects.add(("pdf_templates", oid))
    elif kind == "pdf_render":
        objects.add(("pdf_renders", oid))
    return ShareGrant(
        token_id=token.id,
        object_type=kind,
        object_id=oid,
        permissions=frozenset(token.permissions_json or ["viewer"]),
        objects=frozenset(objects),
        widget_ids=widget_ids,
        snapshot=kind == "snapshot",
    )


def token_scope(tenant_key: str, stored: dict[str, Any]) -> Scope:
    """The link's own restriction (``None`` dimensions: not restricted by the link)."""
    customer = stored.get("customer_id")
    return Scope.of(
        tenant_key,
        locations=stored.get("location_ids"),
        contracts=stored.get("contract_ids"),
        customers=[customer] if customer is not None else None,
    )


def _within(creator: Scope, wanted: Scope) -> None:
    """Refuse a link scope wider than its creator's (naming the field)."""
    for field, mine, theirs in (
        ("scope.location_ids", creator.location_ids, wanted.location_ids),
        ("scope.contract_ids", creator.contract_ids, wanted.contract_ids),
        ("scope.customer_id", creator.customer_ids, wanted.customer_ids),
    ):
        if mine is not None and theirs is not None and not theirs <= mine:
            extra = sorted(theirs - mine)[:5]
            raise InvalidSpec(f"{field}: {extra} are outside your own scope", field=field)


# --------------------------------------------------------------------------- principals
def share_principal(session: Session, token: ShareToken, viewer: User | None = None) -> Principal:
    """The principal of a token's viewer: the creator's current scope narrowed by the link's
    (and by the signed-in viewer's own, for ``with_login`` links)."""
    creator = session.get(User, token.created_by) if token.created_by is not None else None
    if creator is None or not creator.is_active or creator.tenant_id != token.tenant_id:
        raise NotFound("share link not found")
    base = user_scope(session, creator)
    scope = base.narrow(token_scope(base.tenant_key, token.scope_json or {}))
    label = token.label or f"link {token.id}"
    user_id = None
    if viewer is not None:
        scope = scope.narrow(user_scope(session, viewer))
        user_id = viewer.id
        label = f"{viewer.name} ({viewer.email}) via {label}"
    return Principal(
        kind="share",
        tenant_id=token.tenant_id,
        scope=scope,
        user_id=user_id,
        label=label,
        share=share_grant(session, token),
    )


def _state(token: ShareToken, now: datetime) -> str:
    """``ok`` or why the token no longer works (uses aside)."""
    if token.revoked_at is not None:
        return "revoked"
    exp = _aware(token.expires_at)
    if exp is not None and exp <= now:
        return "expired"
    return "ok"


def ip_allowed(token: ShareToken, ip: str) -> bool:
    """Whether ``ip`` is in the token's allowlist (an empty list allows every address)."""
    nets = token.ip_whitelist_json or []
    if not nets:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in nets)


def _viewer_allowed(session: Session, token: ShareToken, viewer: User) -> bool:
    if not viewer.is_active or viewer.tenant_id != token.tenant_id:
        return False
    groups = (token.scope_json or {}).get("groups")
    if not groups:
        return True
    member = session.scalar(
        select(Membership.id).where(Membership.user_id == viewer.id, Membership.group_id.in_(groups)).limit(1)
    )
    return member is not None


@dataclass(frozen=True)
class Opened:
    """The outcome of opening a link: ``result`` is ``ok`` or why not; ``token`` is None for an
    unknown token (nothing is logged for those: there is no token to log them against)."""

    result: str
    token: ShareToken | None = None
    principal: Principal | None = None


def find_token(session: Session, plain: str, object_type: str | None = None) -> ShareToken | None:
    """The token row for ``plain`` (and of ``object_type`` when given), or None."""
    if not plain or len(plain) > 200:
        return None
    token = session.scalar(select(ShareToken).where(ShareToken.token_hash == hash_token(plain)))
    if token is None or (object_type is not None and token.object_type != object_type):
        return None
    return token


def open_link(
    session: Session,
    plain: str,
    *,
    object_type: str | None,
    ip: str,
    user_agent: str = "",
    path: str = "",
    viewer: User | None = None,
    count: bool = True,
    now: datetime | None = None,
) -> Opened:
    """Check a token for a viewer at ``ip`` and, when it works, count one use (atomically against
    ``max_uses``); every outcome of a known token is written to its access log.

    ``object_type`` None accepts a link of any kind (the REST API's ``Authorization: Share``).
    ``with_login`` links need ``viewer`` (``login_required`` otherwise) of the link's tenant and
    groups. The caller commits (the log and the count are part of its transaction).
    """
    at = _now(now)
    token = find_token(session, plain, object_type)
    if token is None:
        return Opened("unknown")
    result = _state(token, at)
    if result == "ok" and not ip_allowed(token, ip):
        result = "ip_denied"
    if result == "ok" and token.mode == "with_login":
        if viewer is None:
            result = "login_required"
        elif not _viewer_allowed(session, token, viewer):
            result = "not_allowed"
    principal = None
    if result == "ok":
        try:
            principal = share_principal(session, token, viewer if token.mode == "with_login" else None)
        except NotFound:
            result = "disabled"
    if result == "ok" and count:
        taken = session.execute(
            update(ShareToken)
            .where(
                ShareToken.id == token.id,
                ShareToken.revoked_at.is_(None),
                or_(ShareToken.max_uses.is_(None), ShareToken.used_count < ShareToken.max_uses),
            )
            .values(used_count=ShareToken.used_count + 1, last_used_at=at)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if taken != 1:
            result, principal = "used_up", None
    session.add(
        ShareAccess(
            token_id=token.id,
            tenant_id=token.tenant_id,
            at=at,
            ip=ip[:64],
            user_agent=(user_agent or "")[:300],
            user_id=viewer.id if viewer is not None else None,
            path=path[:300],
            result=result,
        )
    )
    return Opened(result, token, principal)


def link_identity(plain: str, *, ip: str, user_agent: str = "", path: str = "") -> Identify:
    """Identifies the holder of a link outside a viewer page (``Authorization: Share`` on the
    REST API, ``?share=`` on the real-time endpoints): the link's principal, checked like a visit
    (state, address; ``with_login`` links are for browsers) and logged, without counting a use."""

    def check(session: Session) -> Principal:
        opened = open_link(
            session, plain, object_type=None, ip=ip, user_agent=user_agent, path=path, count=False
        )
        if opened.principal is None:
            session.commit()  # the refusal stays in the link's access log (the caller's work rolls back)
            raise AuthenticationFailed("this share link is not valid")
        return opened.principal

    return check


def identify(token_id: int, viewer_id: int | None = None) -> Identify:
    """Identifies a viewer page's principal inside each transaction: the token must still work
    (not revoked or expired, creator active, the viewer still allowed), so revoking a link stops
    an open viewer at its next request. Uses are not counted again."""

    def check(session: Session) -> Principal:
        token = session.get(ShareToken, token_id)
        if token is None or _state(token, _now()) != "ok":
            raise NotFound("this link no longer works")
        viewer = None
        if token.mode == "with_login":
            viewer = session.get(User, viewer_id) if viewer_id is not None else None
            if viewer is None or not _viewer_allowed(session, token, viewer):
                raise NotFound("this link no longer works")
        return share_principal(session, token, viewer)

    return check


# --------------------------------------------------------------------------- the viewer's grant
def _grant_key(secret_key: str) -> bytes:
    return hashlib.sha256(f"share-grant-v1:{secret_key}".encode()).digest()


def sign_grant(secret_key: str, token_id: int, viewer_id: int | None, *, now: float | None = None) -> str:
    """A viewer page's proof that the link was opened: ``token.viewer.expiry.mac`` (HMAC-SHA256)."""
    exp = int((now or time.time()) + GRANT_TTL_S)
    body = f"{token_id}.{viewer_id or 0}.{exp}"
    mac = hmac.new(_grant_key(secret_key), body.encode(), hashlib.sha256).digest()
    return f"{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def check_grant(secret_key: str, grant: str, *, now: float | None = None) -> tuple[int, int | None] | None:
    """``(token id, viewer id)`` of a valid, unexpired grant; None otherwise."""
    parts = grant.split(".")
    if len(parts) != 4 or not all(p.isascii() for p in parts):
        return None
    body = ".".join(parts[:3])
    mac = hmac.new(_grant_key(secret_key), body.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.urlsafe_b64encode(mac).decode().rstrip("="), parts[3]):
        return None
    try:
        token_id, viewer, exp = int(parts[0]), int(parts[1]), int(parts[2])
    except ValueError:
        return None
    if exp < (now or time.time()):
        return None
    return token_id, (viewer or None)


# --------------------------------------------------------------------------- management
def create_share(
    session: Session,
    principal: Principal,
    request: ShareRequest,
    *,
    warehouse: Warehouse | None = None,
    now: datetime | None = None,
) -> tuple[ShareToken, str]:
    """A new token (and its plain value, shown once) for an object ``principal`` may share."""
    at = _now(now)
    user_id = principal.require_user("create share links")
    if principal.share is not None:
        raise PermissionDenied("a link's viewer cannot share further")
    obj = _shared_object(session, principal, request.object_type, request.object_id)
    tenant_key = principal.scope.tenant_key
    if request.scope.tenant is not None and request.scope.tenant != tenant_key:
        raise InvalidSpec(f"scope.tenant: must be your tenant ({tenant_key})", field="scope.tenant")
    stored = request.scope.model_dump(exclude_none=True, exclude={"tenant"})
    _within(principal.scope, token_scope(tenant_key, stored))
    if request.scope.groups:
        if request.mode != "with_login":
            raise InvalidSpec("scope.groups: only a with_login link can require groups", field="scope.groups")
        _check_groups(session, principal.tenant_id, request.scope.groups)
    plain = secrets.token_urlsafe(TOKEN_BYTES)
    token = ShareToken(
        tenant_id=principal.tenant_id,
        object_type=request.object_type,
        object_id=request.object_id,
        mode=request.mode,
        token_hash=hash_token(plain),
        scope_json={"tenant": tenant_key, **stored},
        permissions_json=sorted(set(request.permissions) | {"viewer"}),
        expires_at=request.expiry(at),
        max_uses=request.max_uses,
        used_count=0,
        ip_whitelist_json=list(request.ip_allowlist),
        frame_origins_json=list(request.frame_origins),
        label=request.label,
        created_by=user_id,
        created_at=at,
    )
    session.add(token)
    session.flush()
    if request.object_type == "snapshot":
        if warehouse is None:
            raise ValueError("a snapshot needs the warehouse")
        viewer = share_principal(session, token)
        view = load_dashboard(session, viewer, warehouse, request.object_id, record_view=False)
        token.snapshot_json = freeze(view)
    audit.record(session, principal, "share", obj, details={"after": share_to_dict(token)})
    return token, plain


def _check_groups(session: Session, tenant_id: int, groups: list[int]) -> None:
    from portal.models import Group

    found = set(session.scalars(select(Group.id).where(Group.tenant_id == tenant_id, Group.id.in_(groups))))
    missing = [g for g in groups if g not in found]
    if missing:
        raise InvalidSpec(f"scope.groups: no group {missing[0]} in your tenant", field="scope.groups")


def get_share(session: Session, principal: Principal, token_id: int) -> ShareToken:
    """A token its creator (or a tenant admin) manages; NotFound for anyone else."""
    token = session.get(ShareToken, token_id) if 0 < token_id < 2**62 else None
    if (
        token is None
        or principal.share is not None
        or token.tenant_id != principal.tenant_id
        or not (
            principal.is_admin or (principal.user_id is not None and token.created_by == principal.user_id)
        )
    ):
        raise NotFound(f"share link {token_id} not found")
    return token


def list_shares(
    session: Session,
    principal: Principal,
    *,
    object_type: str | None = None,
    object_id: int | None = None,
    limit: int = 200,
) -> list[ShareToken]:
    """The caller's links (a tenant admin: the tenant's), newest first, optionally of one object."""
    if principal.share is not None:
        return []
    q = select(ShareToken).where(ShareToken.tenant_id == principal.tenant_id)
    if not principal.is_admin:
        q = q.where(ShareToken.created_by == principal.require_user("list share links"))
    if object_type is not None:
        q = q.where(ShareToken.object_type == object_type)
    if object_id is not None:
        q = q.where(ShareToken.object_id == object_id)
    return list(session.scalars(q.order_by(desc(ShareToken.id)).limit(limit)))


def revoke_share(
    session: Session, principal: Principal, token_id: int, *, now: datetime | None = None
) -> ShareToken:
    """Revoke a link at once (idempotent: revoking twice keeps the first time)."""
    token = get_share(session, principal, token_id)
    if token.revoked_at is None:
        before = share_to_dict(token)
        token.revoked_at = _now(now)
        audit.record(
            session,
            principal,
            "share",
            None,
            tenant_id=token.tenant_id,
            details={
                "object": "share_token",
                "id": token.id,
                "before": before,
                "after": share_to_dict(token),
            },
        )
    return token


def access_log(
    session: Session, principal: Principal, token_id: int, *, limit: int = 500
) -> list[ShareAccess]:
    """The link's uses, newest first."""
    token = get_share(session, principal, token_id)
    q = (
        select(ShareAccess)
        .where(ShareAccess.token_id == token.id)
        .order_by(desc(ShareAccess.id))
        .limit(limit)
    )
    return list(session.scalars(q))


def share_state(token: ShareToken, now: datetime | None = None) -> str:
    """``active``, ``revoked``, ``expired`` or ``used_up``."""
    state = _state(token, _now(now))
    if state != "ok":
        return state
    if token.max_uses is not None and token.used_count >= token.max_uses:
        return "used_up"
    return "active"


def public_path(token: ShareToken, plain: str) -> str:
    """The viewer's path for a token."""
    return f"/pub/{token.object_type}/{plain}"


def share_to_dict(token: ShareToken) -> dict[str, Any]:
    """JSON view of a token (never its value or hash)."""
    scope = dict(token.scope_json or {})
    return {
        "id": token.id,
        "object_type": token.object_type,
        "object_id": token.object_id,
        "mode": token.mode,
        "label": token.label,
        "scope": scope,
        "permissions": list(token.permissions_json or []),
        "expires_at": _iso(token.expires_at),
        "max_uses": token.max_uses,
        "used_count": token.used_count,
        "ip_allowlist": list(token.ip_whitelist_json or []),
        "frame_origins": list(token.frame_origins_json or []),
        "created_by": token.created_by,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "revoked_at": _iso(token.revoked_at),
        "state": share_state(token),
    }


def access_to_dict(a: ShareAccess) -> dict[str, Any]:
    """JSON view of one use of a link."""
    return {
        "at": _iso(a.at),
        "ip": a.ip,
        "user_agent": a.user_agent,
        "user_id": a.user_id,
        "path": a.path,
        "result": a.result,
    }


def pdf_render_of(session: Session, principal: Principal, render_id: int) -> PdfRender:
    """A render a link shares (its tenant and the link's object), else NotFound."""
    render = session.get(PdfRender, render_id)
    if (
        render is None
        or principal.share is None
        or render.tenant_id != principal.tenant_id
        or not principal.share.allows("pdf_renders", render.id)
    ):
        raise NotFound(f"pdf render {render_id} not found")
    return render


__all__ = [
    "Opened",
    "access_log",
    "access_to_dict",
    "check_grant",
    "create_share",
    "find_token",
    "get_share",
    "identify",
    "ip_allowed",
    "list_shares",
    "open_link",
    "pdf_render_of",
    "public_path",
    "revoke_share",
    "share_grant",
    "share_principal",
    "share_state",
    "share_to_dict",
    "sign_grant",
]
