"""Triggers: a condition on a report's result and the actions taken when it holds, saved per report.

Saving checks everything that can be checked before the first evaluation: the condition
(:class:`~portal.specs.triggers.TriggerSpec`), the metric against the report's result columns,
webhook addresses against the address guard (loopback, private and link-local hosts are refused
unless the settings allow them), reports to run (the caller must be able to run them, and no
chain of ``run_report`` actions may loop) and widgets to highlight (the caller must be able to
edit their dashboard). Every refusal is a 4xx naming the field (``actions.2.url``).

Services: they take a session and a principal and never commit (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.config import Settings
from portal.errors import BadRequest, Conflict, NotFound, PermissionDenied, PortalError, unknown
from portal.identity import audit
from portal.identity.permissions import authorize
from portal.identity.principal import Principal
from portal.models import Dashboard, Report, ReportTrigger, Widget, utcnow
from portal.notify.netguard import HostNotFound, check_url
from portal.queue.triggers import detect_cycle
from portal.reports.service import get_report
from portal.specs import QuerySpec, TriggerSpec, parse_spec
from portal.specs.triggers import (
    HighlightWidgetAction,
    OpenTicketAction,
    RunReportAction,
    WebhookAction,
)

#: Triggers one report may hold (each is evaluated after every execution).
MAX_TRIGGERS_PER_REPORT = 50
MAX_NAME_CHARS = 200
#: Matches remembered per trigger: enough for ``for_consecutive`` and a readable recent history.
MIN_HISTORY = 10


def one_line(text: object, limit: int = MAX_NAME_CHARS) -> str:
    """``text`` on one line (control characters and runs of spaces folded), at most ``limit`` chars."""
    return " ".join(str(text).split())[:limit]


def condition_text(spec: TriggerSpec) -> str:
    """The condition in words: ``backlog > 100 in any row``, ``row count between 1 and 5``."""
    subject = spec.metric or "row count"
    if spec.op == "EXISTS":
        words = f"{subject} exists" if spec.metric else "rows exist"
    elif spec.op == "BETWEEN":
        words = f"{subject} between {spec.value[0]} and {spec.value[1]}"
    elif spec.op == "IN":
        words = f"{subject} in {list(spec.value)}"
    else:
        words = f"{subject} {spec.op} {spec.value!r}"
    if spec.metric and spec.rows == "all":
        words += " in every row"
    if spec.for_consecutive > 1:
        words += f", {spec.for_consecutive} times in a row"
    return words


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands stored times back naive; they are UTC.
    if moment is None:
        return None
    return moment.replace(tzinfo=utcnow().tzinfo) if moment.tzinfo is None else moment


def trigger_to_dict(t: ReportTrigger) -> dict[str, Any]:
    """JSON view of a saved trigger: the spec, whether it is active and what it remembers."""
    state = t.state_json or {}
    last_fired, last_eval = _aware(t.last_fired_at), _aware(t.last_evaluated_at)
    created = _aware(t.created_at)
    return {
        "id": t.id,
        "report_id": t.report_id,
        "name": t.name,
        "rule": t.rule_json,
        "is_active": t.is_active,
        "armed": bool(state.get("armed", True)),
        "history": [bool(x) for x in state.get("history", [])],
        "last_fired_at": last_fired.isoformat() if last_fired else None,
        "last_evaluated_at": last_eval.isoformat() if last_eval else None,
        "created_by": t.created_by,
        "created_at": created.isoformat() if created else None,
    }


def run_report_edges(
    session: Session, tenant_id: int, *, leave_out: int | None = None
) -> dict[int, list[int]]:
    """The tenant's run-report graph: report id -> reports its active triggers run.

    ``leave_out`` drops one trigger (the one being replaced). Triggers of reports in the trash
    count: a restored report would bring its chain back.
    """
    rows = session.execute(
        select(ReportTrigger.id, ReportTrigger.report_id, ReportTrigger.actions_json)
        .join(Report, Report.id == ReportTrigger.report_id)
        .where(Report.tenant_id == tenant_id, ReportTrigger.is_active.is_(True))
    )
    edges: dict[int, list[int]] = {}
    for tid, rid, actions in rows:
        if tid == leave_out:
            continue
        for a in actions or []:
            if isinstance(a, dict) and a.get("type") == "run_report" and isinstance(a.get("report_id"), int):
                edges.setdefault(int(rid), []).append(int(a["report_id"]))
    return edges


def _refuse_cycles(session: Session, principal: Principal, report_id: int, spec: TriggerSpec) -> None:
    targets = [a.report_id for a in spec.actions if isinstance(a, RunReportAction)]
    if not targets:
        return
    edges = run_report_edges(session, principal.tenant_id)
    edges[report_id] = [*edges.get(report_id, []), *targets]
    loop = detect_cycle(edges, report_id)
    if loop is not None:
        path = " → ".join(f"report {r}" for r in loop)
        raise Conflict(
            f"actions: running these reports would loop forever ({path}); "
            "remove one of the run_report actions",
            field="actions",
        )


def _check_url(url: str, field: str, settings: Settings) -> None:
    try:
        check_url(
            url,
            allow_private=settings.webhook_allow_private,
            allowed_hosts=settings.webhook_allowed_hosts,
            field=field,
        )
    except HostNotFound as exc:
        if not exc.transient:  # "DNS did not answer" may pass later: the send checks again
            raise BadRequest(exc.message, field=field) from None
    except PortalError as exc:
        raise BadRequest(exc.message, field=field) from None


def _check_actions(session: Session, principal: Principal, spec: TriggerSpec, settings: Settings) -> None:
    highlights = 0
    for i, a in enumerate(spec.actions):
        where = f"actions.{i}"
        if isinstance(a, WebhookAction):
            _check_url(a.url, f"{where}.url", settings)
        elif isinstance(a, OpenTicketAction) and a.url is not None:
            _check_url(a.url, f"{where}.url", settings)
            if a.secret is None:
                raise BadRequest(
                    f"{where}.secret: a ticket sent to an external system is signed; name its secret",
                    field=f"{where}.secret",
                )
        elif isinstance(a, RunReportAction):
            try:
                get_report(session, principal, a.report_id, "run")
            except NotFound:
                raise NotFound(
                    f"{where}.report_id: report {a.report_id} not found", field=f"{where}.report_id"
                ) from None
            except PermissionDenied:
                raise PermissionDenied(
                    f"{where}.report_id: you may not run report {a.report_id}", field=f"{where}.report_id"
                ) from None
        elif isinstance(a, HighlightWidgetAction):
            highlights += 1
            if highlights > 1:
                raise BadRequest(
                    f"{where}: a trigger highlights one widget; use one highlight_widget action",
                    field=where,
                )
            _check_widget(session, principal, a.widget_id, f"{where}.widget_id")


def _check_widget(session: Session, principal: Principal, widget_id: int, field: str) -> None:
    found = session.execute(
        select(Widget.id, Dashboard)
        .join(Dashboard, Dashboard.id == Widget.dashboard_id)
        .where(Widget.id == widget_id, Dashboard.tenant_id == principal.tenant_id)
    ).first()
    if found is None:
        raise NotFound(f"{field}: widget {widget_id} not found", field=field)
    try:
        # It changes how the widget looks to everyone: editing its dashboard is needed.
        authorize(session, principal, "edit", found[1])
    except NotFound:
        raise NotFound(f"{field}: widget {widget_id} not found", field=field) from None
    except PermissionDenied:
        raise PermissionDenied(
            f"{field}: you may not edit the dashboard of widget {widget_id}", field=field
        ) from None


def _check_metric(report: Report, spec: TriggerSpec) -> None:
    if spec.metric is None:
        return
    names = parse_spec(QuerySpec, report.query_json).output_names
    if spec.metric not in names:
        raise unknown("result column", spec.metric, names, field="metric")


def create_trigger(
    session: Session,
    principal: Principal,
    report_id: int,
    data: Mapping[str, Any],
    settings: Settings,
) -> ReportTrigger:
    """Save a trigger on a report the caller may edit; ``data`` is a TriggerSpec plus an optional ``name``.

    Raises (4xx naming the field): NotFound/PermissionDenied for the report or a report or widget
    an action names, InvalidSpec for a malformed condition, BadRequest for a refused URL,
    Conflict for a run-report loop or too many triggers.
    """
    if not isinstance(data, Mapping):
        raise BadRequest("body: must be a JSON object", field="body")
    fields = dict(data)
    raw_name = fields.pop("name", None)
    if raw_name is not None and not isinstance(raw_name, str):
        raise BadRequest("name: must be text", field="name")
    if raw_name is not None and len(raw_name.strip()) > MAX_NAME_CHARS:
        raise BadRequest(
            f"name: at most {MAX_NAME_CHARS} characters, got {len(raw_name.strip())}", field="name"
        )
    report = get_report(session, principal, report_id, "edit")
    spec = parse_spec(TriggerSpec, fields)
    _check_metric(report, spec)
    _check_actions(session, principal, spec, settings)
    count = session.scalar(
        select(func.count()).select_from(ReportTrigger).where(ReportTrigger.report_id == report.id)
    )
    if int(count or 0) >= MAX_TRIGGERS_PER_REPORT:
        raise Conflict(
            f"report_id: report {report.id} already has {MAX_TRIGGERS_PER_REPORT} triggers; delete one first",
            field="report_id",
        )
    _refuse_cycles(session, principal, report.id, spec)
    name = one_line(raw_name or "") or one_line(f"{report.name}: {condition_text(spec)}")
    t = ReportTrigger(
        report_id=report.id,
        rule_json=spec.model_dump(mode="json"),
        actions_json=[a.model_dump(mode="json") for a in spec.actions],
        is_active=True,
        name=name,
        created_by=principal.require_user("own triggers"),
        created_at=utcnow(),
        state_json={"history": [], "armed": True},
    )
    session.add(t)
    session.flush()
    audit.record(
        session,
        principal,
        "create",
        t,
        tenant_id=principal.tenant_id,
        details={"report_id": report.id, "name": name},
    )
    return t


def get_trigger(
    session: Session, principal: Principal, trigger_id: int, action: str = "view"
) -> ReportTrigger:
    """A trigger whose report the principal may ``action``; NotFound otherwise (other tenants included)."""
    t = session.get(ReportTrigger, trigger_id)
    if t is None:
        raise NotFound(f"trigger {trigger_id} not found", field="id")
    try:
        get_report(session, principal, t.report_id, action)
    except NotFound:
        raise NotFound(f"trigger {trigger_id} not found", field="id") from None
    return t


def list_triggers(session: Session, principal: Principal, report_id: int) -> list[ReportTrigger]:
    """The triggers of a report the principal may view, oldest first."""
    report = get_report(session, principal, report_id, "view")
    return list(
        session.scalars(
            select(ReportTrigger).where(ReportTrigger.report_id == report.id).order_by(ReportTrigger.id)
        )
    )


def delete_trigger(session: Session, principal: Principal, trigger_id: int) -> None:
    """Delete a trigger (edit rights on its report). Its alerts stay, with their history."""
    t = get_trigger(session, principal, trigger_id, "edit")
    audit.record(
        session,
        principal,
        "delete",
        t,
        tenant_id=principal.tenant_id,
        details={"report_id": t.report_id, "name": t.name},
    )
    session.delete(t)
    session.flush()


def set_trigger_active(
    session: Session, principal: Principal, trigger_id: int, active: bool
) -> ReportTrigger:
    """Disable a trigger (it stops being evaluated) or enable it again (loops are checked again)."""
    if not isinstance(active, bool):
        raise BadRequest("is_active: must be true or false", field="is_active")
    t = get_trigger(session, principal, trigger_id, "edit")
    if active and not t.is_active:
        _refuse_cycles(session, principal, t.report_id, parse_spec(TriggerSpec, t.rule_json))
    t.is_active = active
    session.flush()
    audit.record(session, principal, "edit", t, tenant_id=principal.tenant_id, details={"is_active": active})
    return t
