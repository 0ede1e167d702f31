"""Report schedules: create, change, pause, delete and list them; preview a schedule; read the outbox.

A schedule runs a report the caller may run, as the caller (the job acts as the schedule's
creator), on a cron or RRULE expression read on the wall clock of its time zone, and mails the
result to its recipients (``delivery_config_json``: ``{"recipients": [...], "format": "csv"}``).
The scheduler tick (:mod:`portal.jobqueue.scheduler`) fires what is due; this module stores
what it reads: ``next_run_at`` and the ``last_fire_at`` baseline (a new or resumed schedule
owes nothing from before now: it first fires at its next time, never as a catch-up).

Who may do what: any user who may run a report may schedule it; a schedule is changed or
deleted by its creator or a tenant admin; a user lists their own schedules, a tenant admin all
of the tenant's. Another tenant's schedule, or one the caller may not manage, answers like a
missing one (404). Bad input is a 400 naming the field (``schedule_expr``, ``timezone``,
``recipients.1``...), raised before anything is written: what was saved stays as it was.

Services: they take a session and a principal and never commit.

The outbox (``Settings.outbox_dir``, the embedded default's mail) is one folder for the whole
portal: :func:`visible_outbox` and :func:`open_outbox_message` show a tenant's messages to that
tenant only (the ``X-Conductor-Tenant`` header the mailer writes); a tenant admin sees all of
them (the operator of the tenant's mail), anyone else only the messages addressed to them —
the outbox stands in for their mailbox, and a mailbox is not shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, InvalidSpec, NotFound
from portal.identity import audit
from portal.identity.principal import Principal
from portal.models import Report, ReportSchedule, User, utcnow
from portal.notify.email import OutboxEntry, list_outbox, outbox_entry, parse_address, read_outbox
from portal.queue.schedules import describe, next_fire_times
from portal.reports.service import get_report
from portal.specs import ScheduleSpec
from portal.specs.base import user_message

#: How many fire times a preview and a schedule's answer list.
PREVIEW_COUNT = 5
#: Recipients per schedule: a distribution list belongs in the mail server, not here.
MAX_RECIPIENTS = 50
FORMATS = ("csv", "xlsx")
#: Fields a client may send to create or change a schedule.
SCHEDULE_FIELDS = (
    "schedule_expr",
    "timezone",
    "offpeak_only",
    "priority",
    "recipients",
    "format",
    "delivery",
    "is_active",
)
MAX_LIST = 500


# --------------------------------------------------------------------------- previews
def preview(spec: ScheduleSpec, now: datetime) -> dict[str, Any]:
    """The words and the next fire times of ``spec`` after ``now`` (aware), UTC and local."""
    zone = spec.zone
    times = next_fire_times(spec, now, PREVIEW_COUNT)
    return {
        "description": describe(spec),
        "timezone": spec.timezone,
        "next": [t.astimezone(UTC).isoformat() for t in times],
        "next_local": [t.astimezone(zone).isoformat() for t in times],
    }


def schedule_spec(data: Mapping[str, Any]) -> ScheduleSpec:
    """``data`` validated as a :class:`ScheduleSpec`; a 400 naming the first bad field otherwise."""
    if not isinstance(data, Mapping):
        raise BadRequest("body: must be a JSON object", field="body")
    if not data.get("schedule_expr"):
        raise BadRequest("schedule_expr: required (a cron expression or an RRULE)", field="schedule_expr")
    try:
        return ScheduleSpec.model_validate(dict(data))
    except ValidationError as exc:
        field, message = user_message(exc, "schedule")
        raise BadRequest(message, field=field) from None


# --------------------------------------------------------------------------- input
@dataclass(frozen=True)
class Delivery:
    """Where a schedule's result goes: e-mail recipients (addr-specs) and the file format."""

    recipients: tuple[str, ...] = ()
    format: Literal["csv", "xlsx"] = "csv"

    def stored(self) -> dict[str, Any]:
        """The ``delivery_config_json`` value."""
        return {"recipients": list(self.recipients), "format": self.format}


def _recipients(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # A text field of the UI: addresses separated by commas, semicolons or lines.
        value = [v for v in value.replace(";", ",").replace("\n", ",").split(",") if v.strip()]
    if not isinstance(value, list | tuple):
        raise BadRequest(f"{field}: must be a list of e-mail addresses", field=field)
    if len(value) > MAX_RECIPIENTS:
        raise BadRequest(f"{field}: at most {MAX_RECIPIENTS} recipients, got {len(value)}", field=field)
    unique: dict[str, str] = {}
    for i, raw in enumerate(value):
        where = f"{field}.{i}"
        if not isinstance(raw, str):
            raise BadRequest(f"{where}: must be an e-mail address (text)", field=where)
        try:
            addr = parse_address(raw, field=where)[1]
        except InvalidSpec as exc:
            raise BadRequest(exc.message, field=where) from None
        unique.setdefault(addr.lower(), addr)
    return tuple(unique.values())


def _format(value: Any, field: str) -> Literal["csv", "xlsx"]:
    if value == "csv" or value is None:
        return "csv"
    if value == "xlsx":
        return "xlsx"
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise BadRequest(f"{field}: {shown} is not a file format (known: csv, xlsx)", field=field)


def _delivery(data: Mapping[str, Any], current: Delivery | None) -> Delivery:
    """The delivery of ``data``: top-level ``recipients``/``format`` or a ``delivery`` object (not both)."""
    nested = data.get("delivery")
    top = {k for k in ("recipients", "format") if k in data}
    if nested is not None:
        if top:
            name = sorted(top)[0]
            raise BadRequest(f"{name}: give it inside delivery or at the top level, not both", field=name)
        if not isinstance(nested, Mapping):
            raise BadRequest("delivery: must be an object with recipients and format", field="delivery")
        for key in nested:
            if key not in ("recipients", "format"):
                raise BadRequest(
                    f"delivery.{key}: unknown field (expected recipients, format)", field=f"delivery.{key}"
                )
        source, prefix = nested, "delivery."
    else:
        source, prefix = data, ""
    base = current or Delivery()
    recipients = (
        _recipients(source["recipients"], f"{prefix}recipients")
        if "recipients" in source
        else base.recipients
    )
    fmt = _format(source["format"], f"{prefix}format") if "format" in source else base.format
    return Delivery(recipients, fmt)


def _stored_delivery(row: ReportSchedule) -> Delivery:
    doc = row.delivery_config_json or {}
    fmt = doc.get("format")
    return Delivery(tuple(str(r) for r in doc.get("recipients") or ()), "xlsx" if fmt == "xlsx" else "csv")


def _check_fields(data: Mapping[str, Any]) -> None:
    if not isinstance(data, Mapping):
        raise BadRequest("body: must be a JSON object", field="body")
    for key in data:
        if key not in SCHEDULE_FIELDS:
            raise BadRequest(f"{key}: unknown field (expected {', '.join(SCHEDULE_FIELDS)})", field=key)
    active = data.get("is_active", True)
    if not isinstance(active, bool):
        raise BadRequest("is_active: must be true or false", field="is_active")


def _first_fire(spec: ScheduleSpec, now: datetime) -> datetime:
    upcoming = next_fire_times(spec, now, 1)
    if not upcoming:
        # A rule whose COUNT or UNTIL is behind us would sit in the list never firing.
        raise BadRequest(
            "schedule_expr: the schedule never fires again after now (its COUNT or UNTIL has passed)",
            field="schedule_expr",
        )
    return upcoming[0]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


# --------------------------------------------------------------------------- reading
def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands stored times back naive; they are UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _manageable(session: Session, principal: Principal, schedule_id: int) -> tuple[ReportSchedule, Report]:
    """The schedule and its report, if the caller may manage it; NotFound otherwise (no enumeration)."""
    row = session.execute(
        select(ReportSchedule, Report)
        .join(Report, Report.id == ReportSchedule.report_id)
        .where(ReportSchedule.id == schedule_id, Report.tenant_id == principal.tenant_id)
    ).first()
    missing = NotFound(f"schedule {schedule_id} not found", field="id")
    if row is None:
        raise missing
    schedule, report = row[0], row[1]
    if not principal.is_admin and (principal.user_id is None or schedule.created_by != principal.user_id):
        raise missing
    return schedule, report


def get_schedule(session: Session, principal: Principal, schedule_id: int) -> tuple[ReportSchedule, Report]:
    """One schedule the caller may manage (its creator, or a tenant admin) with its report."""
    return _manageable(session, principal, schedule_id)


def list_schedules(
    session: Session,
    principal: Principal,
    *,
    report_id: int | None = None,
    mine: bool = False,
    limit: int = MAX_LIST,
) -> list[tuple[ReportSchedule, Report]]:
    """Schedules the caller manages with their reports, newest first: their own; an admin's, the
    tenant's (``mine`` narrows an admin's list to their own)."""
    if not 1 <= limit <= MAX_LIST:
        raise BadRequest(f"limit: must be from 1 to {MAX_LIST}, got {limit}", field="limit")
    stmt = (
        select(ReportSchedule, Report)
        .join(Report, Report.id == ReportSchedule.report_id)
        .where(Report.tenant_id == principal.tenant_id, Report.deleted_at.is_(None))
    )
    if mine or not principal.is_admin:
        if principal.user_id is None:
            return []
        stmt = stmt.where(ReportSchedule.created_by == principal.user_id)
    if report_id is not None:
        stmt = stmt.where(ReportSchedule.report_id == report_id)
    rows = session.execute(stmt.order_by(ReportSchedule.id.desc()).limit(limit)).all()
    return [(r[0], r[1]) for r in rows]


def schedule_to_dict(
    schedule: ReportSchedule,
    report: Report,
    now: datetime | None = None,
    creator_name: str | None = None,
) -> dict[str, Any]:
    """JSON view of a schedule: what it says in words and, while active, its next five fire times."""
    spec = ScheduleSpec(
        schedule_expr=schedule.schedule_expr,
        timezone=schedule.timezone,
        offpeak_only=schedule.offpeak_only,
        priority=schedule.priority,
    )
    shown = preview(spec, _now(now))
    if not schedule.is_active:
        shown["next"], shown["next_local"] = [], []
    delivery = _stored_delivery(schedule)
    next_run = _aware(schedule.next_run_at)
    last = _aware(schedule.last_fire_at)
    return {
        "id": schedule.id,
        "report_id": report.id,
        "report_name": report.name,
        "schedule_expr": schedule.schedule_expr,
        "timezone": schedule.timezone,
        "offpeak_only": schedule.offpeak_only,
        "priority": schedule.priority,
        "is_active": schedule.is_active,
        "delivery": delivery.stored(),
        "recipients": list(delivery.recipients),
        "format": delivery.format,
        "created_by": schedule.created_by,
        "created_by_name": creator_name,
        "next_run_at": next_run.isoformat() if next_run else None,
        "last_fire_at": last.isoformat() if last else None,
        **shown,
    }


def creator_names(session: Session, rows: list[tuple[ReportSchedule, Report]]) -> dict[int, str]:
    """Names of the schedules' creators (one query)."""
    ids = {s.created_by for s, _ in rows if s.created_by is not None}
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.name).where(User.id.in_(ids)))}


# --------------------------------------------------------------------------- writing
def create_schedule(
    session: Session,
    principal: Principal,
    report_id: int,
    data: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> tuple[ReportSchedule, Report]:
    """Schedule report ``report_id`` for the caller (who needs the right to run it).

    ``data``: ``schedule_expr``, ``timezone``, ``offpeak_only``, ``priority``, ``recipients``,
    ``format`` (or ``delivery: {recipients, format}``), ``is_active``. The new schedule's
    baseline is ``now`` and its ``next_run_at`` its first fire after now.
    """
    _check_fields(data)
    spec = schedule_spec(
        {k: data[k] for k in ("schedule_expr", "timezone", "offpeak_only", "priority") if k in data}
    )
    delivery = _delivery(data, None)
    at = _now(now)
    first = _first_fire(spec, at)
    owner = principal.require_user("own a schedule")
    # Validation first, then the report: a bad body never reveals whether the report exists.
    report = get_report(session, principal, report_id, "run")
    active = bool(data.get("is_active", True))
    row = ReportSchedule(
        report_id=report.id,
        schedule_expr=spec.schedule_expr,
        timezone=spec.timezone,
        is_active=active,
        next_run_at=first if active else None,
        delivery_config_json=delivery.stored(),
        offpeak_only=spec.offpeak_only,
        priority=spec.priority.value,
        created_by=owner,
        last_fire_at=at,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        "create",
        row,
        tenant_id=report.tenant_id,
        details={"report_id": report.id, "schedule_expr": spec.schedule_expr, "timezone": spec.timezone},
    )
    return row, report


def update_schedule(
    session: Session,
    principal: Principal,
    schedule_id: int,
    data: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> tuple[ReportSchedule, Report]:
    """Change some fields of a schedule (its creator or a tenant admin); ``is_active`` pauses/resumes.

    Everything is validated before the row changes. A new expression or time zone, and a
    resume, restart the baseline at ``now``: fires of the old rule, or missed while paused, are
    not caught up.
    """
    _check_fields(data)
    row, report = _manageable(session, principal, schedule_id)
    merged = {
        "schedule_expr": row.schedule_expr,
        "timezone": row.timezone,
        "offpeak_only": row.offpeak_only,
        "priority": row.priority,
    }
    merged |= {k: data[k] for k in merged if k in data}
    spec = schedule_spec(merged)
    delivery = _delivery(data, _stored_delivery(row))
    at = _now(now)
    active = bool(data.get("is_active", row.is_active))
    first = _first_fire(spec, at) if active else None
    rule_changed = (spec.schedule_expr, spec.timezone) != (row.schedule_expr, row.timezone)
    resumed = active and not row.is_active
    before = {"schedule_expr": row.schedule_expr, "timezone": row.timezone, "is_active": row.is_active}
    row.schedule_expr, row.timezone = spec.schedule_expr, spec.timezone
    row.offpeak_only, row.priority = spec.offpeak_only, spec.priority.value
    row.delivery_config_json = delivery.stored()
    row.is_active = active
    row.next_run_at = first
    if rule_changed or resumed:
        row.last_fire_at = at
    session.flush()
    audit.record(session, principal, "edit", row, tenant_id=report.tenant_id, details={"before": before})
    return row, report


def delete_schedule(session: Session, principal: Principal, schedule_id: int) -> None:
    """Delete a schedule (its creator or a tenant admin); jobs it already fired are kept."""
    row, report = _manageable(session, principal, schedule_id)
    audit.record(
        session,
        principal,
        "delete",
        row,
        tenant_id=report.tenant_id,
        details={"report_id": report.id, "schedule_expr": row.schedule_expr},
    )
    session.delete(row)
    session.flush()


# --------------------------------------------------------------------------- outbox
@dataclass(frozen=True)
class OutboxMessage:
    """One outbox message as the Outbox page shows it: headers, text body and attachments."""

    entry: OutboxEntry
    text: str
    attachments: tuple[tuple[str, str, bytes], ...]  # (file name, MIME type, content)


def _viewer_address(session: Session, principal: Principal) -> str | None:
    if principal.user_id is None:
        return None
    email = session.scalar(select(User.email).where(User.id == principal.user_id))
    return email.lower() if email else None


def _may_read(
    principal: Principal, tenant_id: int | None, recipients: tuple[str, ...], me: str | None
) -> bool:
    if tenant_id is None or tenant_id != principal.tenant_id:
        return False  # a message without the header belongs to no tenant: nobody's to read here
    return principal.is_admin or (me is not None and me in {r.lower() for r in recipients})


def visible_outbox(
    session: Session, principal: Principal, folder: Path, *, limit: int = 200
) -> list[OutboxEntry]:
    """The outbox messages the caller may read, newest first (see the module's notes on who)."""
    me = _viewer_address(session, principal)
    out: list[OutboxEntry] = []
    # The folder is shared by every tenant: read a bounded window of it, then filter.
    for entry in list_outbox(folder, limit=max(limit * 10, 1000)):
        if _may_read(principal, entry.tenant_id, entry.recipients, me):
            out.append(entry)
            if len(out) >= limit:
                break
    return out


def open_outbox_message(session: Session, principal: Principal, folder: Path, name: str) -> OutboxMessage:
    """One outbox message the caller may read; NotFound (like a missing file) for any other."""
    raw = read_outbox(folder, name)
    entry = outbox_entry(name, raw)
    if not _may_read(principal, entry.tenant_id, entry.recipients, _viewer_address(session, principal)):
        raise NotFound(f"name: no outbox message {name!r}", field="name")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    attachments: list[tuple[str, str, bytes]] = []
    for part in msg.iter_attachments():
        if not isinstance(part, EmailMessage):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        attachments.append((str(part.get_filename() or "attachment"), part.get_content_type(), content))
    return OutboxMessage(entry, str(text), tuple(attachments))


#: The recipients rule of report schedules, shared with PDF schedules (``portal.pdf.schedules``).
parse_recipients = _recipients
first_fire = _first_fire
