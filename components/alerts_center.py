"""The alerts center: alerts by status (open / acknowledged / closed) with their history and who
acted, Acknowledge / Close / Reopen, the alert tickets, and my notifications (the bell's list).

Everything users wrote or named (alert and report names, notes, ticket titles, values) is shown
escaped. ``/alerts?alert=<id>`` opens on that alert; ``/alerts?tab=notifications`` on the list.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

import panel as pn
import param

from components.session import notify, refresh_bell, run
from components.trash import ago
from portal import alerts
from portal.context import AppContext
from portal.errors import NotFound
from portal.identity.principal import Principal

STATUS_LABELS = {"open": "Open", "acked": "Acknowledged", "closed": "Closed", "all": "All"}
SEVERITY_LABELS = {"all": "All severities", "crit": "Critical", "warn": "Warning", "info": "Info"}
COLORS = {"crit": "#dc2626", "warn": "#d97706", "info": "#2563eb"}
STATUS_COLORS = {"open": "#b91c1c", "acked": "#a16207", "closed": "#475569"}
ACTION_WORDS = {"opened": "opened", "acked": "acknowledged", "closed": "closed", "open": "reopened"}
TABS = ("alerts", "tickets", "notifications")
#: Alerts shown at once (the newest): each card holds a few widgets.
PAGE_SIZE = 60


def _when(iso: str | None) -> str:
    """``2026-12-03 14:05 UTC (5 min ago)``."""
    if not iso:
        return ""
    t = datetime.fromisoformat(iso)
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return f"{t:%Y-%m-%d %H:%M} UTC ({ago(t)})"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _chip(text: str, color: str, *, filled: bool = True) -> str:
    look = f"background:{color};color:white" if filled else f"color:{color};border:1px solid {color}"
    return (
        f'<span style="{look};border-radius:10px;padding:1px 9px;font-size:12px;font-weight:700;'
        f'white-space:nowrap">{_e(text)}</span>'
    )


def history_html(history: list[dict[str, Any]]) -> str:
    """The steps of an alert, oldest first: when, who, what, their note."""
    items = []
    for step in history:
        who = step.get("by_name") or ("Conductor BI" if step.get("by") is None else f"user {step.get('by')}")
        what = ACTION_WORDS.get(str(step.get("action")), str(step.get("action")))
        note = f' — <span class="note">{_e(step.get("note"))}</span>' if step.get("note") else ""
        items.append(
            f'<li><span style="color:#64748b">{_e(_when(step.get("at")))}</span> · '
            f"<b>{_e(what)}</b> by {_e(who)}{note}</li>"
        )
    return (
        '<ol class="alert-history" style="margin:4px 0 0 0;padding-left:20px;color:#334155;font-size:13px">'
        + "".join(items)
        + "</ol>"
    )


def card_styles(a: dict[str, Any], *, focused: bool = False) -> dict[str, str]:
    """The card around an alert and its buttons: a severity-coloured edge, outlined when focused."""
    color = COLORS.get(a["severity"], COLORS["info"])
    ring = "0 0 0 3px rgba(11,92,173,.35)" if focused else "0 1px 3px rgba(15,23,42,.15)"
    return {
        "background": "white",
        "border-left": f"6px solid {color}",
        "border-radius": "8px",
        "box-shadow": ring,
        "padding": "4px 6px 8px 6px",
    }


def alert_card_html(a: dict[str, Any]) -> str:
    """An alert as the center shows it: severity, status, name, when, report, value, condition and
    its history (every user-given text escaped). The card's box is :func:`card_styles`."""
    color = COLORS.get(a["severity"], COLORS["info"])
    sev = SEVERITY_LABELS.get(a["severity"], a["severity"])
    status = a["status"]
    status_chip = _chip(STATUS_LABELS.get(status, status), STATUS_COLORS.get(status, "#475569"), filled=False)
    report_name = a.get("report_name") or f"report {a['report_id']}"
    report = f'<a href="/reports/library" style="color:#0b5cad">{_e(report_name)}</a>'
    value = "" if a.get("value") is None else f" · value <b>{_e(a['value'])}</b>"
    return (
        f'<div class="alert-card alert-{_e(status)}" id="alert-{int(a["id"])}" data-alert-id="{int(a["id"])}">'
        '<div style="display:flex;gap:8px;align-items:center;flex-wrap:wrap">'
        f"{_chip(sev, color)}{status_chip}"
        f'<span class="alert-name" style="font-size:16px;font-weight:600;color:#0f172a;overflow-wrap:anywhere">'
        f"{_e(a['name'])}</span>"
        f'<span style="flex:1"></span><span style="color:#64748b;font-size:13px">{_e(_when(a["created_at"]))}</span>'
        "</div>"
        f'<div style="margin-top:6px;color:#334155;font-size:14px;overflow-wrap:anywhere">Report {report}{value}'
        f" · condition <code>{_e(a.get('condition'))}</code></div>"
        f"{history_html(a.get('history') or [])}"
        "</div>"
    )


def _ticket_html(t: dict[str, Any]) -> str:
    sent = {"sent": "sent to the ticket system", "failed": "not sent (failed)", "retrying": "sending…"}
    external = sent.get(t.get("external_status") or "", "")
    ref = f" as {_e(t['external_ref'])}" if t.get("external_ref") else ""
    status_color = STATUS_COLORS["open"] if t["status"] == "open" else STATUS_COLORS["closed"]
    return (
        f'<div class="ticket" data-ticket-id="{int(t["id"])}" style="display:flex;gap:8px;align-items:center;'
        'flex-wrap:wrap;font-size:14px">'
        f"{_chip(t['status'].title(), status_color, filled=False)}"
        f'<b style="overflow-wrap:anywhere">#{int(t["id"])} {_e(t["title"])}</b>'
        f'<span style="color:#64748b">{_e(_when(t["created_at"]))}'
        f"{' · ' + _e(external) + ref if external else ''}"
        f"{' · alert #' + str(int(t['alert_id'])) if t.get('alert_id') else ''}</span></div>"
    )


def _notification_html(n: dict[str, Any]) -> str:
    color = COLORS.get(n["severity"], COLORS["info"])
    unread = n.get("read_at") is None
    weight = "700" if unread else "400"
    link = _e(n.get("link") or "/alerts")
    dot = (
        f'<span style="color:{color};font-size:18px">●</span>'
        if unread
        else '<span style="width:12px"></span>'
    )
    return (
        f'<div class="notification{" unread" if unread else ""}" style="display:flex;gap:8px;align-items:baseline;'
        'font-size:14px;padding:4px 0;border-bottom:1px solid #e2e8f0">'
        f'{dot}<a href="{link}" style="color:#0f172a;font-weight:{weight};overflow-wrap:anywhere">{_e(n["title"])}</a>'
        f'<span style="color:#475569;overflow-wrap:anywhere">{_e(n.get("body"))}</span>'
        f'<span style="flex:1"></span><span style="color:#64748b;white-space:nowrap">{_e(_when(n["created_at"]))}</span>'
        "</div>"
    )


class AlertsCenter(pn.viewable.Viewer):
    """The signed-in user's alerts center: alerts by status, tickets and notifications."""

    status = param.Selector(default="open", objects=list(STATUS_LABELS), doc="Which alerts to list")
    severity = param.Selector(
        default="all", objects=list(SEVERITY_LABELS), doc="Only alerts of this severity"
    )
    tab = param.Selector(default="alerts", objects=list(TABS), doc="The section shown")
    focus = param.Integer(default=None, allow_None=True, doc="An alert shown first and outlined (?alert=)")
    version = param.Integer(default=0, doc="Bumped to reload after an action")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._status = pn.widgets.RadioButtonGroup(
            options={v: k for k, v in STATUS_LABELS.items()},
            value=self.status,
            button_type="primary",
            button_style="outline",
            css_classes=["alert-status"],
        )
        self._status.link(self, value="status")
        self._severity = pn.widgets.Select(
            options={v: k for k, v in SEVERITY_LABELS.items()}, value=self.severity, width=170
        )
        self._severity.link(self, value="severity")
        self._alerts = pn.Column(sizing_mode="stretch_width", css_classes=["alert-list"])
        self._tickets = pn.Column(sizing_mode="stretch_width", css_classes=["ticket-list"])
        self._notes = pn.Column(sizing_mode="stretch_width", css_classes=["notification-list"])
        self._read_all = pn.widgets.Button(name="Mark all read", button_type="default", width=140)
        self._read_all.on_click(lambda _: self._mark_all_read())
        self._unread = pn.pane.HTML("", css_classes=["unread-count"], margin=(12, 10))
        self._tabs = pn.Tabs(
            (
                "Alerts",
                pn.Column(pn.Row(self._status, self._severity), self._alerts, sizing_mode="stretch_width"),
            ),
            ("Tickets", self._tickets),
            (
                "Notifications",
                pn.Column(pn.Row(self._unread, self._read_all), self._notes, sizing_mode="stretch_width"),
            ),
            sizing_mode="stretch_width",
            dynamic=False,
        )
        self._tabs.active = TABS.index(self.tab)
        self.param.watch(lambda *_: self._reload(), ["status", "severity", "version"])
        self._reload()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.HTML('<h2 style="margin:0 0 4px 0">Alerts</h2>', sizing_mode="stretch_width"),
            self._tabs,
            sizing_mode="stretch_width",
            css_classes=["alerts-center"],
        )

    # -- loading ---------------------------------------------------------------------
    def _reload(self) -> None:
        status = None if self.status == "all" else self.status
        severity = None if self.severity == "all" else self.severity

        def load(s: Any, p: Principal) -> dict[str, Any]:
            focused = None
            if self.focus is not None:
                try:
                    focused = alerts.alert_to_dict(alerts.get_alert(s, p, self.focus))
                except NotFound:
                    focused = None
            rows = alerts.list_alerts(s, p, status=status, severity=severity, limit=PAGE_SIZE)
            uid = p.require_user("see alerts")
            return {
                "alerts": [alerts.alert_to_dict(e) for e in rows],
                "focused": focused,
                "counts": alerts.alert_counts(s, p),
                "tickets": [alerts.ticket_to_dict(t) for t in alerts.list_tickets(s, p, limit=100)],
                "notifications": [alerts.notification_to_dict(n) for n in alerts.list_notifications(s, p)],
                "unread": alerts.unread_count(s, uid),
            }

        got = run(self.ctx, load)
        if got is None:
            return
        counts = got["counts"]
        labels = {
            f"{STATUS_LABELS[k]} ({counts[k]})" if k in counts else STATUS_LABELS[k]: k for k in STATUS_LABELS
        }
        self._status.options = labels
        self._status.value = self.status
        shown = list(got["alerts"])
        focused = got["focused"]
        if focused is not None:
            shown = [focused, *(a for a in shown if a["id"] != focused["id"])]
        self._alerts.objects = [
            self._card(a, focused=focused is not None and a["id"] == focused["id"]) for a in shown
        ] or [
            pn.pane.HTML(
                f'<p class="no-alerts" style="color:#64748b">No {_e(STATUS_LABELS[self.status].lower())} alerts'
                f"{'' if self.severity == 'all' else ' of this severity'}.</p>"
            )
        ]
        self._tickets.objects = [self._ticket(t) for t in got["tickets"]] or [
            pn.pane.HTML('<p style="color:#64748b">No alert tickets.</p>')
        ]
        self._notes.objects = [
            pn.pane.HTML(_notification_html(n), sizing_mode="stretch_width") for n in got["notifications"]
        ] or [pn.pane.HTML('<p style="color:#64748b">No notifications.</p>')]
        unread = got["unread"]
        self._unread.object = f"<b>{unread}</b> unread" if unread else "All read"
        self._read_all.disabled = unread == 0

    def _card(self, a: dict[str, Any], *, focused: bool) -> pn.viewable.Viewable:
        aid = int(a["id"])
        buttons: list[Any] = []
        note = pn.widgets.TextInput(placeholder="Note (optional)", width=240, css_classes=["alert-note"])
        if a["status"] == "open":
            ack = pn.widgets.Button(name="Acknowledge", button_type="primary", css_classes=["alert-ack"])
            ack.on_click(lambda _: self._act(aid, "ack", note.value, "Alert acknowledged"))
            buttons.append(ack)
        if a["status"] in ("open", "acked"):
            close = pn.widgets.Button(name="Close", button_type="default", css_classes=["alert-close"])
            close.on_click(lambda _: self._act(aid, "close", note.value, "Alert closed"))
            buttons.append(close)
        else:
            reopen = pn.widgets.Button(name="Reopen", button_type="default", css_classes=["alert-reopen"])
            reopen.on_click(lambda _: self._act(aid, "reopen", note.value, "Alert reopened"))
            buttons.append(reopen)
        return pn.Column(
            pn.pane.HTML(alert_card_html(a), sizing_mode="stretch_width"),
            pn.Row(note, *buttons),
            sizing_mode="stretch_width",
            css_classes=["alert-item"],
            styles=card_styles(a, focused=focused),
            margin=(6, 10, 10, 0),
        )

    def _ticket(self, t: dict[str, Any]) -> pn.viewable.Viewable:
        row: list[Any] = [pn.pane.HTML(_ticket_html(t), sizing_mode="stretch_width")]
        if t["status"] == "open":
            close = pn.widgets.Button(name="Close ticket", button_type="default", width=120)
            tid = int(t["id"])
            close.on_click(lambda _: self._close_ticket(tid))
            row.append(close)
        return pn.Row(*row, sizing_mode="stretch_width", css_classes=["ticket-item"])

    # -- actions ---------------------------------------------------------------------------
    def _act(self, alert_id: int, step: str, note: str | None, done: str) -> None:
        out = run(
            self.ctx,
            lambda s, p: alerts.act_on_alert(s, p, alert_id, step, note or None),
            success=done,
        )
        if out is not None:
            self.version += 1
            refresh_bell()  # acknowledging or closing reads my notifications about it

    def _close_ticket(self, ticket_id: int) -> None:
        if (
            run(self.ctx, lambda s, p: alerts.close_ticket(s, p, ticket_id), success="Ticket closed")
            is not None
        ):
            self.version += 1

    def _mark_all_read(self) -> None:
        changed = run(self.ctx, lambda s, p: alerts.mark_read(s, p, None))
        if changed is not None:
            notify(f"{changed} notification{'' if changed == 1 else 's'} marked read")
            self.version += 1
            refresh_bell()
