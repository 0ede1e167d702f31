"""PDF template schedules: cron/RRULE renders (off-peak aware) delivered by e-mail attachment,
in-app notification with a download, and a signed expiring link.

The scheduler fires them like report schedules (``portal.jobqueue.scheduler``, kind ``pdf``);
the fire's job renders as the schedule's creator, in their row scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, NotFound
from portal.identity import audit
from portal.identity.principal import Principal
from portal.models import PdfSchedule, PdfTemplate, utcnow
from portal.pdf.bindings import resolve_params
from portal.pdf.templates import get_template, template_spec
from portal.reports.schedules import first_fire, parse_recipients, preview, schedule_spec
from portal.specs import ScheduleSpec

FIELDS = (
    "schedule_expr",
    "timezone",
    "offpeak_only",
    "priority",
    "params",
    "recipients",
    "in_app",
    "link",
    "is_active",
)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"{key}: must be true or false", field=key)
    return value


def create_pdf_schedule(
    session: Session,
    principal: Principal,
    template_id: int,
    data: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> PdfSchedule:
    """Schedule renders of a template for the caller (who needs the right to run it).

    ``data``: ``schedule_expr`` (cron or RRULE), ``timezone``, ``offpeak_only``, ``priority``,
    ``params`` (the template's run-time parameters), ``recipients`` (e-mail, the PDF attached),
    ``in_app`` (a notification with the download, default true), ``link`` (a signed link in the
    e-mail, default true), ``is_active``.
    """
    if not isinstance(data, Mapping):
        raise BadRequest("body: must be a JSON object", field="body")
    for key in data:
        if key not in FIELDS:
            raise BadRequest(f"{key}: unknown field (expected {', '.join(FIELDS)})", field=key)
    spec = schedule_spec(
        {k: data[k] for k in ("schedule_expr", "timezone", "offpeak_only", "priority") if k in data}
    )
    recipients = parse_recipients(data.get("recipients"), "recipients")
    in_app, link, active = (
        _bool(data, "in_app", True),
        _bool(data, "link", True),
        _bool(data, "is_active", True),
    )
    params = data.get("params") or {}
    if not isinstance(params, Mapping):
        raise BadRequest("params: must be an object", field="params")
    at = now or utcnow()
    first = first_fire(spec, at)
    owner = principal.require_user("own a schedule")
    t = get_template(session, principal, template_id, "run")
    resolved = resolve_params(template_spec(t), params)
    row = PdfSchedule(
        template_id=t.id,
        schedule_expr=spec.schedule_expr,
        timezone=spec.timezone,
        is_active=active,
        next_run_at=first if active else None,
        last_fire_at=at,
        params_json={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in resolved.items()},
        delivery_config_json={"recipients": list(recipients), "in_app": in_app, "link": link},
        offpeak_only=spec.offpeak_only,
        priority=spec.priority.value,
        created_by=owner,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        "create",
        row,
        tenant_id=t.tenant_id,
        details={"template_id": t.id, "schedule_expr": spec.schedule_expr, "timezone": spec.timezone},
    )
    return row


def _own(session: Session, principal: Principal, schedule_id: int) -> tuple[PdfSchedule, PdfTemplate]:
    row = session.get(PdfSchedule, schedule_id) if 0 < schedule_id < 2**62 else None
    if row is None:
        raise NotFound(f"pdf schedule {schedule_id} not found")
    try:
        t = get_template(session, principal, row.template_id, "view")
    except NotFound:
        raise NotFound(f"pdf schedule {schedule_id} not found") from None
    if not principal.is_admin and row.created_by != principal.user_id:
        raise NotFound(f"pdf schedule {schedule_id} not found")
    return row, t


def list_pdf_schedules(session: Session, principal: Principal, template_id: int) -> list[PdfSchedule]:
    """A template's schedules the caller manages (their own; an admin: all)."""
    get_template(session, principal, template_id, "view")
    q = select(PdfSchedule).where(PdfSchedule.template_id == template_id)
    if not principal.is_admin:
        q = q.where(PdfSchedule.created_by == principal.user_id)
    return list(session.scalars(q.order_by(PdfSchedule.id)))


def delete_pdf_schedule(session: Session, principal: Principal, schedule_id: int) -> None:
    """Delete a PDF schedule (its creator or an admin)."""
    row, t = _own(session, principal, schedule_id)
    audit.record(session, principal, "delete", row, tenant_id=t.tenant_id, details={"template_id": t.id})
    session.delete(row)
    session.flush()


def pdf_schedule_to_dict(row: PdfSchedule, now: datetime | None = None) -> dict[str, Any]:
    """JSON view: the rule in words, the next fire times while active, delivery, parameters."""
    spec = ScheduleSpec(
        schedule_expr=row.schedule_expr,
        timezone=row.timezone,
        offpeak_only=row.offpeak_only,
        priority=row.priority,
    )
    shown = preview(spec, now or utcnow())
    if not row.is_active:
        shown["next"], shown["next_local"] = [], []
    nxt, last = _aware(row.next_run_at), _aware(row.last_fire_at)
    return {
        "id": row.id,
        "template_id": row.template_id,
        "schedule_expr": row.schedule_expr,
        "timezone": row.timezone,
        "offpeak_only": row.offpeak_only,
        "priority": row.priority,
        "is_active": row.is_active,
        "params": row.params_json,
        "delivery": row.delivery_config_json,
        "next_run_at": nxt.isoformat() if nxt else None,
        "last_fire_at": last.isoformat() if last else None,
        **shown,
    }
