"""The alerts center: alerts raised by triggers (open → acknowledged → closed) and their tickets.

Who sees an alert: users of its tenant who may view the report it is about (tenant admins see
them all). Whoever sees an alert may acknowledge, close or reopen it; every step is appended to
its history with who took it, when, and their note. Another tenant's alert is not found (404).

Services: they take a session and a principal and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from portal.errors import BadRequest, Conflict, NotFound, not_among
from portal.identity.permissions import can, visible_clause
from portal.identity.principal import Principal
from portal.models import Alert, AlertTicket, Notification, Report, utcnow

STATUSES = ("open", "acked", "closed")
SEVERITIES = ("info", "warn", "crit")
#: What each step does: the statuses it starts from and the status it leads to.
STEPS: dict[str, tuple[frozenset[str], str]] = {
    "ack": (frozenset({"open"}), "acked"),
    "close": (frozenset({"open", "acked"}), "closed"),
    "reopen": (frozenset({"acked", "closed"}), "open"),
}
_STEP_WORDS = {"ack": "acknowledged", "close": "closed", "reopen": "reopened"}
MAX_NOTE_CHARS = 1000
MAX_LIST = 500


@dataclass(frozen=True)
class AlertEntry:
    """An alert as the center lists it, with the name of the report it is about."""

    alert: Alert
    report_name: str | None


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=utcnow().tzinfo) if moment.tzinfo is None else moment


def _iso(moment: datetime | None) -> str | None:
    aware = _aware(moment)
    return aware.isoformat() if aware else None


def _choice(value: str | None, choices: Sequence[str], kind: str, field: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in choices:
        raise not_among(kind, value, choices, field=field)
    return value


def _visible(session: Session, principal: Principal) -> ColumnElement[bool]:
    """Alerts of the principal's tenant about reports they may view (joined on ``Report``)."""
    return and_(
        Alert.tenant_id == principal.tenant_id,
        Alert.source_type == "trigger",
        visible_clause(session, principal, Report),
    )


def _keep(session: Session, principal: Principal, rows: Sequence[Any]) -> list[Any]:
    # visible_clause lets "customer" reports through as candidates: confirm those one by one.
    out = []
    for row in rows:
        report = row[-1]
        if report.visibility != "customer" or can(session, principal, "view", report):
            out.append(row)
    return out


def alert_to_dict(entry: AlertEntry) -> dict[str, Any]:
    """JSON view of an alert: what fired, its state and its history (newest step last)."""
    a = entry.alert
    p = a.payload_json or {}
    return {
        "id": a.id,
        "name": a.name,
        "severity": a.severity,
        "status": a.status,
        "report_id": a.object_id,
        "report_name": entry.report_name,
        "trigger_id": a.trigger_id,
        "widget_id": a.widget_id,
        "execution_id": p.get("execution_id"),
        "value": p.get("value"),
        "condition": p.get("condition"),
        "reason": p.get("reason"),
        "created_at": _iso(a.created_at),
        "updated_at": _iso(a.updated_at),
        "closed_at": _iso(a.closed_at),
        "history": list(a.history_json or []),
    }


def list_alerts(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    severity: str | None = None,
    limit: int = 200,
) -> list[AlertEntry]:
    """Alerts the principal may see, newest first.

    ``status``: open, acked or closed; ``severity``: info, warn or crit (a 422 naming the field otherwise).
    """
    st = _choice(status, STATUSES, "alert status", "status")
    sev = _choice(severity, SEVERITIES, "severity", "severity")
    stmt = (
        select(Alert, Report).join(Report, Report.id == Alert.object_id).where(_visible(session, principal))
    )
    if st is not None:
        stmt = stmt.where(Alert.status == st)
    if sev is not None:
        stmt = stmt.where(Alert.severity == sev)
    stmt = stmt.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    rows = _keep(session, principal, session.execute(stmt).all())
    return [AlertEntry(a, r.name) for a, r in rows]


def alert_counts(session: Session, principal: Principal) -> dict[str, int]:
    """How many alerts the principal sees per status (every status present, 0 included)."""
    stmt = (
        select(Alert.status, func.count())
        .join(Report, Report.id == Alert.object_id)
        .where(_visible(session, principal))
        .group_by(Alert.status)
    )
    found = {str(s): int(n) for s, n in session.execute(stmt)}
    return {s: found.get(s, 0) for s in STATUSES}


def get_alert(session: Session, principal: Principal, alert_id: int) -> AlertEntry:
    """An alert the principal may see; NotFound (naming ``id``) otherwise, other tenants' included."""
    row = session.execute(
        select(Alert, Report)
        .join(Report, Report.id == Alert.object_id)
        .where(Alert.id == alert_id, _visible(session, principal))
    ).first()
    kept = _keep(session, principal, [row]) if row is not None else []
    if not kept:
        raise NotFound(f"alert {alert_id} not found", field="id")
    return AlertEntry(kept[0][0], kept[0][1].name)


def _note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise BadRequest("note: must be text", field="note")
    text = note.strip()
    if len(text) > MAX_NOTE_CHARS:
        raise BadRequest(f"note: at most {MAX_NOTE_CHARS} characters, got {len(text)}", field="note")
    return text or None


def history_step(principal: Principal | None, action: str, note: str | None, at: datetime) -> dict[str, Any]:
    """One history entry: when, who (user id and name; None for the portal itself), what, why."""
    return {
        "at": at.isoformat(),
        "by": principal.user_id if principal is not None else None,
        "by_name": principal.label if principal is not None else "Conductor BI",
        "action": action,
        "note": note,
    }


def act_on_alert(
    session: Session, principal: Principal, alert_id: int, step: str, note: object = None
) -> AlertEntry:
    """Take ``step`` (``ack``, ``close`` or ``reopen``) on an alert, recorded in its history.

    Acknowledging or closing also marks the actor's own notifications about the alert read.
    A step that does not apply to the alert's status (acknowledging a closed alert) is a 409
    naming ``status``; two people acting at once cannot both win (conditional update).
    """
    if step not in STEPS:
        raise not_among("alert step", step, list(STEPS), field="action")
    principal.require_user("act on alerts")
    text = _note(note)
    entry = get_alert(session, principal, alert_id)
    a = entry.alert
    sources, target = STEPS[step]
    current = a.status
    if current not in sources:
        allowed = " or ".join(sorted(sources))
        raise Conflict(
            f"status: alert {alert_id} is {current}; "
            f"only an alert that is {allowed} can be {_STEP_WORDS[step]}",
            field="status",
        )
    now = utcnow()
    history = [*(a.history_json or []), history_step(principal, target, text, now)]
    values: dict[str, Any] = {"status": target, "history_json": history, "updated_at": now}
    values["closed_at"] = now if target == "closed" else None
    done = session.execute(
        update(Alert)
        .where(Alert.id == a.id, Alert.tenant_id == principal.tenant_id, Alert.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"status: alert {alert_id} changed meanwhile; reload it and try again", field="status")
    if target != "open" and principal.user_id is not None:
        # Whoever handled the alert has seen it: their bell stops counting it.
        session.execute(
            update(Notification)
            .where(
                Notification.user_id == principal.user_id,
                Notification.alert_id == a.id,
                Notification.read_at.is_(None),
            )
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        )
    session.refresh(a)
    return AlertEntry(a, entry.report_name)


# --------------------------------------------------------------------------- tickets
def ticket_to_dict(t: AlertTicket) -> dict[str, Any]:
    """JSON view of an alert ticket."""
    return {
        "id": t.id,
        "alert_id": t.alert_id,
        "title": t.title,
        "body": t.body,
        "status": t.status,
        "external_ref": t.external_ref,
        "external_status": t.external_status,
        "created_at": _iso(t.created_at),
        "closed_at": _iso(t.closed_at),
    }


def _tickets_visible(session: Session, principal: Principal) -> Any:
    """Tickets of the tenant whose alert the principal may see (admins: also tickets of deleted alerts)."""
    alert_ids = (
        select(Alert.id).join(Report, Report.id == Alert.object_id).where(_visible(session, principal))
    )
    mine = AlertTicket.alert_id.in_(alert_ids)
    seen = or_(mine, AlertTicket.alert_id.is_(None)) if principal.is_admin else mine
    return and_(AlertTicket.tenant_id == principal.tenant_id, seen)


def list_tickets(
    session: Session, principal: Principal, *, status: str | None = None, limit: int = 200
) -> list[AlertTicket]:
    """Alert tickets the principal may see, newest first (``status``: open|closed)."""
    st = _choice(status, ("open", "closed"), "ticket status", "status")
    stmt = select(AlertTicket).where(_tickets_visible(session, principal))
    if st is not None:
        stmt = stmt.where(AlertTicket.status == st)
    stmt = stmt.order_by(AlertTicket.created_at.desc(), AlertTicket.id.desc()).limit(
        max(1, min(limit, MAX_LIST))
    )
    return list(session.scalars(stmt))


def close_ticket(session: Session, principal: Principal, ticket_id: int) -> AlertTicket:
    """Close an open ticket the principal may see (409 naming ``status`` if already closed)."""
    principal.require_user("close tickets")
    t = session.scalar(
        select(AlertTicket).where(AlertTicket.id == ticket_id, _tickets_visible(session, principal))
    )
    if t is None:
        raise NotFound(f"ticket {ticket_id} not found", field="id")
    if t.status == "closed":
        raise Conflict(f"status: ticket {ticket_id} is already closed", field="status")
    t.status = "closed"
    t.closed_at = utcnow()
    session.flush()
    return t
