"""In-app notifications (the bell): one row per user, unread until they mark it read.

The header's badge is :func:`unread_count`: one ``COUNT`` on the ``(user_id, read_at)`` index
per page. Services: they take a session (and a principal where someone asks) and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.errors import BadRequest
from portal.identity.principal import Principal
from portal.models import Notification, User, utcnow

MAX_LIST = 200
MAX_IDS = 1000


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment.replace(tzinfo=utcnow().tzinfo) if moment.tzinfo is None else moment).isoformat()


def notification_to_dict(n: Notification) -> dict[str, Any]:
    """JSON view of a notification."""
    return {
        "id": n.id,
        "title": n.title,
        "body": n.body,
        "link": n.link,
        "severity": n.severity,
        "alert_id": n.alert_id,
        "created_at": _iso(n.created_at),
        "read_at": _iso(n.read_at),
    }


def alert_audience(session: Session, tenant_id: int, user_ids: Iterable[int | None]) -> list[int]:
    """Active users of the tenant to notify: ``user_ids`` (the trigger's author, the report's owner)
    and the tenant's admins (one query)."""
    named = {int(u) for u in user_ids if u is not None}
    wanted = User.is_admin.is_(True) if not named else (User.is_admin.is_(True) | User.id.in_(named))
    rows = session.scalars(
        select(User.id).where(User.tenant_id == tenant_id, User.is_active.is_(True), wanted).order_by(User.id)
    )
    return list(rows)


def notify_users(
    session: Session,
    tenant_id: int,
    user_ids: Iterable[int],
    *,
    title: str,
    body: str | None = None,
    link: str | None = None,
    severity: str = "info",
    alert_id: int | None = None,
) -> list[Notification]:
    """Add one notification per user (flushed, not committed); users of other tenants are left out."""
    ids = sorted({int(u) for u in user_ids})
    if not ids:
        return []
    members = set(session.scalars(select(User.id).where(User.tenant_id == tenant_id, User.id.in_(ids))))
    rows = [
        Notification(
            tenant_id=tenant_id,
            user_id=uid,
            title=title[:300],
            body=body,
            link=None if link is None else link[:500],
            severity=severity,
            alert_id=alert_id,
            created_at=utcnow(),
        )
        for uid in ids
        if uid in members
    ]
    session.add_all(rows)
    session.flush()
    return rows


def unread_count(session: Session, user_id: int) -> int:
    """The user's unread notifications: one COUNT on the ``(user_id, read_at)`` index."""
    n = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(n or 0)


def list_notifications(
    session: Session, principal: Principal, *, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """The principal's own notifications, newest first."""
    uid = principal.require_user("have notifications")
    stmt = select(Notification).where(
        Notification.user_id == uid, Notification.tenant_id == principal.tenant_id
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(
        max(1, min(limit, MAX_LIST))
    )
    return list(session.scalars(stmt))


def mark_read(session: Session, principal: Principal, ids: Iterable[Any] | None = None) -> int:
    """Mark the principal's notifications read: those in ``ids``, or all of them (None).

    Ids of other users' notifications are ignored (nothing is revealed). Returns how many changed.
    """
    uid = principal.require_user("have notifications")
    stmt = update(Notification).where(
        Notification.user_id == uid,
        Notification.tenant_id == principal.tenant_id,
        Notification.read_at.is_(None),
    )
    if ids is not None:
        chosen = list(ids)
        if len(chosen) > MAX_IDS:
            raise BadRequest(f"ids: at most {MAX_IDS} at a time, got {len(chosen)}", field="ids")
        if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**62 for i in chosen):
            raise BadRequest("ids: must be a list of notification ids (whole numbers)", field="ids")
        if not chosen:
            return 0
        stmt = stmt.where(Notification.id.in_(chosen))
    done = session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
