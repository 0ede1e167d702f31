"""The audit trail (``/admin/audit``, tenant administrators): who did what, when, to which object,
and what changed — each entry's before/after snapshots shown as a readable diff.

Filters: object type and id, user, action, dates; paged newest first. Every value is escaped.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime, time
from typing import Any

import panel as pn
import param

from components.admin_people import ADMINS_ONLY
from components.session import run, user_session
from portal.context import AppContext
from portal.errors import AuthenticationFailed
from portal.identity import audit, people
from portal.identity.principal import Principal

PAGE_SIZE = 50
ANY = "(any)"
#: Longest value shown in a diff cell (a whole query spec would drown the page).
MAX_VALUE_CHARS = 300
#: Rows of form fields wrap on narrow windows instead of widening the page.
WRAP = {"flex-wrap": "wrap"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _value(v: Any) -> str:
    if v is None:
        return "—"
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def diff_html(details: dict[str, Any]) -> str:
    """An entry's changes: ``field: before → after`` lines from its ``before``/``after`` snapshots,
    then its other details (``key: value``); everything escaped."""
    if not isinstance(details, dict) or not details:
        return ""
    lines: list[str] = []
    before, after = details.get("before"), details.get("after")
    if "before" in details or "after" in details:
        b = before if isinstance(before, dict) else {}
        a = after if isinstance(after, dict) else {}
        if before is None and isinstance(after, dict):
            lines += [
                f'<li><b>{_e(k)}</b>: <ins class="after">{_e(_value(v))}</ins></li>' for k, v in a.items()
            ]
            lines.insert(0, '<li class="created"><i>created</i></li>')
        elif after is None and isinstance(before, dict):
            lines.insert(0, '<li class="removed"><i>removed</i></li>')
            lines += [
                f'<li><b>{_e(k)}</b>: <del class="before">{_e(_value(v))}</del></li>' for k, v in b.items()
            ]
        elif isinstance(before, dict) or isinstance(after, dict):
            for k in list(dict.fromkeys([*b, *a])):
                lines.append(
                    f'<li><b>{_e(k)}</b>: <del class="before">{_e(_value(b.get(k)))}</del> → '
                    f'<ins class="after">{_e(_value(a.get(k)))}</ins></li>'
                )
        else:  # older rows kept a bare value as "before"
            lines.append(f'<li><b>before</b>: <del class="before">{_e(_value(before))}</del></li>')
    for k, v in details.items():
        if k not in ("before", "after"):
            lines.append(f'<li style="color:#64748b">{_e(k)}: {_e(_value(v))}</li>')
    return (
        '<ul class="audit-diff" style="margin:0;padding-left:16px;list-style:none">'
        + "".join(lines)
        + "</ul>"
        "<style>.audit-diff del{color:#b91c1c;text-decoration:line-through}"
        ".audit-diff ins{color:#166534;text-decoration:none;font-weight:600}</style>"
    )


def entries_html(entries: list[dict[str, Any]]) -> str:
    """The audit rows as an HTML table (every value escaped)."""
    if not entries:
        return '<p class="no-entries" style="color:#64748b">No audit entries match.</p>'
    rows = []
    for e in entries:
        at = e["at"]
        when = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
        obj = f"{e['object_type']} #{e['object_id']}" if e.get("object_type") else "—"
        who = e.get("user") or (f"user {e['user_id']}" if e.get("user_id") else "Conductor BI")
        rows.append(
            f'<tr class="audit-row" data-audit-id="{int(e["id"])}" data-action="{_e(e["action"])}">'
            '<td style="white-space:nowrap">'
            f"{when:%Y-%m-%d %H:%M:%S}</td><td>{_e(who)}</td><td>{_e(e['action'])}</td><td>{_e(obj)}</td>"
            f'<td style="overflow-wrap:anywhere">{diff_html(e.get("details") or {})}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("When (UTC)", "Who", "Action", "Object", "Changes"))
    return (
        '<table class="audit-table" style="width:100%;border-collapse:collapse;font-size:13px">'
        f'<thead style="text-align:left;color:#475569"><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<style>.audit-table td,.audit-table th{padding:4px 8px;border-bottom:1px solid #e2e8f0;"
        "vertical-align:top}</style>"
    )


class AuditTrail(pn.viewable.Viewer):
    """The tenant's audit entries, filtered and paged (administrators only)."""

    object_type = param.String(default=ANY, doc="Only entries on objects of this kind")
    object_id = param.Integer(default=None, allow_None=True, doc="Only entries on this object id")
    user_id = param.Integer(default=None, allow_None=True, doc="Only entries by this user")
    action = param.String(default=ANY, doc="Only entries of this action")
    since = param.Date(default=None, allow_None=True, doc="From this day (UTC)")
    until = param.Date(default=None, allow_None=True, doc="Up to this day (UTC)")
    page = param.Integer(default=0, bounds=(0, None), doc="Page shown (0: the newest entries)")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.allowed = False
        try:
            with user_session(ctx) as (s, principal):
                self.allowed = principal.is_admin
                users = people.list_users(s, principal, limit=people.MAX_PAGE) if self.allowed else []
                user_options = {f"{u.name} ({u.email})": u.id for u in users}
        except AuthenticationFailed:
            self.allowed = False
        if not self.allowed:
            self._body: pn.viewable.Viewable = pn.pane.HTML(ADMINS_ONLY, sizing_mode="stretch_width")
            return
        self._type = pn.widgets.Select(
            name="Object",
            options=[ANY, *people.AUDIT_OBJECT_TYPES],
            value=ANY,
            width=170,
            css_classes=["audit-type"],
        )
        self._type.link(self, value="object_type")
        self._id = pn.widgets.IntInput(name="Object id", value=None, start=1, width=110)
        self._id.link(self, value="object_id")
        self._user = pn.widgets.Select(
            name="User",
            options={ANY: None, **user_options},
            value=None,
            width=260,
            css_classes=["audit-user"],
        )
        self._user.link(self, value="user_id")
        self._action = pn.widgets.Select(
            name="Action", options=[ANY, *audit.ACTIONS], value=ANY, width=130, css_classes=["audit-action"]
        )
        self._action.link(self, value="action")
        self._since = pn.widgets.DatePicker.from_param(self.param.since, name="From", width=150)
        self._until = pn.widgets.DatePicker.from_param(self.param.until, name="To", width=150)
        self._prev = pn.widgets.Button(name="◀ Newer", width=100, disabled=True)
        self._next = pn.widgets.Button(name="Older ▶", width=100, disabled=True)
        self._prev.on_click(lambda _: setattr(self, "page", max(0, self.page - 1)))
        self._next.on_click(lambda _: setattr(self, "page", self.page + 1))
        self._count = pn.pane.HTML("", margin=(12, 10), css_classes=["audit-count"])
        self._table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["audit-entries"])
        filters = ["object_type", "object_id", "user_id", "action", "since", "until"]
        self.param.watch(lambda *_: self._first_page(), filters)
        self.param.watch(lambda *_: self.reload(), "page")
        self._body = pn.Column(
            pn.Row(self._type, self._id, self._user, self._action, self._since, self._until, styles=WRAP),
            pn.Row(self._prev, self._next, self._count, styles=WRAP),
            self._table,
            sizing_mode="stretch_width",
        )
        self.reload()

    def _first_page(self) -> None:
        if self.page:
            self.page = 0  # reloads through the watcher
        else:
            self.reload()

    def reload(self) -> None:
        """Load the current page with the current filters."""
        since = datetime.combine(self.since, time.min, tzinfo=UTC) if isinstance(self.since, date) else None
        until = datetime.combine(self.until, time.max, tzinfo=UTC) if isinstance(self.until, date) else None
        kw: dict[str, Any] = {
            "object_type": None if self.object_type == ANY else self.object_type,
            "object_id": self.object_id,
            "user_id": self.user_id,
            "action": None if self.action == ANY else self.action,
            "since": since,
            "until": until,
            "limit": PAGE_SIZE,
            "offset": self.page * PAGE_SIZE,
        }

        def load(s: Any, p: Principal) -> tuple[list[dict[str, Any]], int]:
            rows, total = people.audit_entries(s, p, **kw)
            labels = people.user_labels(s, p.tenant_id, [a.user_id for a in rows])
            return [people.audit_to_dict(a, labels) for a in rows], total

        got = run(self.ctx, load)
        if got is None:
            return
        entries, total = got
        first = self.page * PAGE_SIZE
        self._count.object = f"{first + 1}–{first + len(entries)} of {total}" if entries else f"0 of {total}"
        self._prev.disabled = self.page == 0
        self._next.disabled = first + len(entries) >= total
        self._table.object = entries_html(entries)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.pane.HTML('<h2 style="margin:0">Audit trail</h2>', margin=(5, 10)),
                pn.layout.HSpacer(),
                pn.pane.HTML('<a href="/admin/users">← People</a>', margin=(12, 10)),
                sizing_mode="stretch_width",
            ),
            self._body,
            sizing_mode="stretch_width",
            css_classes=["audit-trail"],
        )
