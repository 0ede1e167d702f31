"""Schedules: the user's report schedules in words with their next runs; a form to create one with a
live preview (as the expression and time zone are typed); pause, resume and delete.

The services are :mod:`portal.reports.schedules`; the preview is its :func:`preview`, so the
page, the REST API and the scheduler read an expression the same way. Errors name the field.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

import pandas as pd
import panel as pn
import param

from components.session import notify_error, run
from components.trash import CONFIRM_SECONDS, timeout
from portal import reports
from portal.context import AppContext
from portal.errors import PortalError
from portal.identity.principal import Principal
from portal.reports import schedules
from portal.specs.jobs import Priority

log = logging.getLogger(__name__)

LIST_COLUMNS = ["id", "Report", "When", "Next run", "Recipients", "Format", "Priority", "Status"]
EXAMPLES = (
    ("Weekdays at 08:00", "0 8 * * 1-5"),
    ("Every hour", "0 * * * *"),
    ("1st of the month, 06:30", "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=6;BYMINUTE=30"),
    ("Last Friday of the month, 17:00", "RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0"),
)
TIMEZONES = sorted(available_timezones())


def _local(iso: str, zone: str) -> str:
    """``Thu 2026-12-03 07:00 Europe/Lisbon`` (and the UTC time when it differs)."""
    t = pd.Timestamp(iso)
    text = f"{t:%a %Y-%m-%d %H:%M} {zone}"
    if t.tzinfo is not None and t.utcoffset():
        text += f" ({t.tz_convert('UTC'):%H:%M} UTC)"
    return text


def preview_html(result: dict[str, Any] | None, error: str | None = None) -> str:
    """The preview box: the schedule in words and its next runs (local time), or the error in words."""
    if error:
        return f'<div class="schedule-preview-error" style="color:#b91c1c;font-size:14px">{html.escape(error)}</div>'
    if not result:
        return '<div style="color:#64748b;font-size:14px">Type a cron expression or an RRULE to see when it runs.</div>'
    runs = "".join(f"<li>{html.escape(_local(t, result['timezone']))}</li>" for t in result["next_local"])
    tail = "" if runs else "<div>It does not fire again.</div>"
    return (
        f'<div class="schedule-preview" style="font-size:14px"><div style="font-weight:600">'
        f"{html.escape(result['description'])}</div>"
        f'<div style="color:#475569;margin-top:4px">Next runs:</div><ol style="margin:2px 0 0 18px;padding:0">'
        f"{runs}</ol>{tail}</div>"
    )


class _Table(pn.widgets.Tabulator):
    """A Tabulator dropping clicks on rows of a listing replaced meanwhile."""

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("schedules: dropped a click on a row of a replaced listing")


class SchedulesPage(pn.viewable.Viewer):
    """The signed-in user's schedules (an admin's: the tenant's) and the form for a new one."""

    schedule_expr = param.String(default="0 8 * * 1-5", doc="Cron expression or RRULE of the new schedule")
    timezone = param.String(default="UTC", doc="IANA time zone the expression is read in")
    report = param.Integer(default=None, allow_None=True, doc="Report the new schedule runs")
    priority = param.Selector(default="normal", objects=[p.value for p in Priority], doc="Job priority")
    offpeak_only = param.Boolean(default=False, doc="Run only in an off-peak window")
    recipients = param.String(default="", doc="E-mail addresses, separated by commas or lines")
    format = param.Selector(default="csv", objects=list(schedules.FORMATS), doc="File format of the result")
    selected = param.Integer(default=None, allow_None=True, doc="Id of the schedule shown in detail")
    version = param.Integer(default=0, doc="Bumped to reload after an action")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._rows: list[dict[str, Any]] = []
        self._armed: int | None = None
        self._preview = pn.pane.HTML(
            preview_html(None), sizing_mode="stretch_width", css_classes=["preview-box"]
        )
        self._expr = pn.widgets.TextInput.from_param(
            self.param.schedule_expr, name="When (cron or RRULE)", width=420, css_classes=["schedule-expr"]
        )
        self._tz = pn.widgets.AutocompleteInput.from_param(
            self.param.timezone,
            name="Time zone",
            options=TIMEZONES,
            restrict=False,
            case_sensitive=False,
            search_strategy="includes",
            min_characters=1,
            width=240,
            css_classes=["schedule-timezone"],
        )
        # As typed, before the field loses focus: the preview follows every keystroke.
        self._expr.param.watch(lambda e: self._update_preview(expr=e.new), "value_input")
        self._tz.param.watch(lambda e: self._update_preview(tz=e.new), "value_input")
        self.param.watch(lambda *_: self._update_preview(), ["schedule_expr", "timezone"])
        self._table = _Table(
            pd.DataFrame(columns=LIST_COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["id"],
            pagination="local",
            page_size=12,
            # Every column in view (long descriptions and recipient lists are cut, the detail shows them).
            layout="fit_columns",
            widths={"Next run": 130, "Recipients": 170, "Format": 65, "Priority": 90, "Status": 70},
            sortable=False,
            sizing_mode="stretch_width",
            css_classes=["schedule-list"],
        )
        self._table.param.watch(self._on_select, "selection")
        self._empty = pn.pane.Markdown(
            "*No schedules yet: create one below.*", visible=False, css_classes=["no-schedules"]
        )
        self._detail = pn.Column(
            sizing_mode="stretch_width",
            css_classes=["schedule-detail"],
            styles={"background": "white", "border-radius": "10px", "padding": "4px"},
        )
        self._report_select = pn.widgets.Select(
            name="Report", options={}, width=320, css_classes=["schedule-report"]
        )
        self._report_select.param.watch(lambda e: setattr(self, "report", e.new), "value")
        self.param.watch(lambda *_: self._reload(), ["version"])
        self.param.watch(lambda *_: self._show_detail(), ["selected"])
        self._load_reports()
        self._reload()
        self._update_preview()

    # -- preview -----------------------------------------------------------------------
    def _update_preview(self, expr: str | None = None, tz: str | None = None) -> None:
        text = self.schedule_expr if expr is None else expr
        zone = self.timezone if tz is None else tz
        if not text.strip():
            self._preview.object = preview_html(None)
            return
        try:
            spec = schedules.schedule_spec({"schedule_expr": text, "timezone": zone.strip() or "UTC"})
        except PortalError as exc:
            self._preview.object = preview_html(None, exc.message)
            return
        self._preview.object = preview_html(schedules.preview(spec, datetime.now(UTC)))

    # -- loading -----------------------------------------------------------------------
    def _load_reports(self) -> None:
        def load(s: Any, p: Principal) -> dict[str, int]:
            return {f"{r.name} (#{r.id})": r.id for r in reports.list_reports(s, p, limit=500)}

        options = run(self.ctx, load) or {}
        self._report_select.options = options
        if options and self._report_select.value is None:
            self._report_select.value = next(iter(options.values()))
        self.report = self._report_select.value

    def _reload(self) -> None:
        def load(s: Any, p: Principal) -> list[dict[str, Any]]:
            rows = schedules.list_schedules(s, p)
            names = schedules.creator_names(s, rows)
            now = datetime.now(UTC)
            return [schedules.schedule_to_dict(x, r, now, names.get(x.created_by or 0)) for x, r in rows]

        self._rows = run(self.ctx, load) or []
        frame = pd.DataFrame(
            [
                {
                    "id": r["id"],
                    "Report": r["report_name"],
                    "When": r["description"],
                    # Local time of the schedule's zone (the "When" column names the zone).
                    "Next run": f"{pd.Timestamp(r['next_local'][0]):%a %d %b %H:%M}"
                    if r["next_local"]
                    else "—",
                    "Recipients": ", ".join(r["recipients"]) or "—",
                    "Format": r["format"],
                    "Priority": r["priority"] + (" · off-peak" if r["offpeak_only"] else ""),
                    "Status": "active" if r["is_active"] else "paused",
                }
                for r in self._rows
            ],
            columns=LIST_COLUMNS,
        )
        self._table.value = frame
        self._empty.visible = not self._rows
        self._table.visible = bool(self._rows)
        ids = [r["id"] for r in self._rows]
        if self.selected not in ids:
            self.selected = ids[0] if ids else None
        else:
            self._show_detail()
        if self.selected in ids:
            self._table.selection = [ids.index(self.selected)]

    def _on_select(self, event: Any) -> None:
        if event.new and event.new[0] < len(self._table.value):
            sid = int(self._table.value.iloc[event.new[0]]["id"])
            if sid != self.selected:
                self.selected = sid

    # -- detail --------------------------------------------------------------------------
    def _show_detail(self) -> None:
        r = next((x for x in self._rows if x["id"] == self.selected), None)
        self._armed = None
        if r is None:
            self._detail.objects = [
                pn.pane.Markdown("*Select a schedule to see its next runs.*", margin=(10, 15))
            ]
            return
        runs = "".join(f"<li>{html.escape(_local(t, r['timezone']))}</li>" for t in r["next_local"])
        state = "active" if r["is_active"] else "paused"
        head = pn.pane.HTML(
            f'<div style="font-size:17px;font-weight:600;overflow-wrap:anywhere">{html.escape(r["report_name"])}</div>'
            f'<div class="schedule-words" style="font-size:14px;margin:4px 0">{html.escape(r["description"])}</div>'
            f'<div style="font-size:13px;color:#475569">{html.escape(r["schedule_expr"])} · {state}'
            f" · {html.escape(r['priority'])}{' · off-peak only' if r['offpeak_only'] else ''}</div>"
            f'<div style="font-size:13px;margin-top:4px">Sent to: {html.escape(", ".join(r["recipients"]) or "nobody")}'
            f" ({html.escape(r['format'])})</div>"
            + (
                f'<div style="font-size:13px;margin-top:6px">Next runs:</div><ol class="next-runs" '
                f'style="margin:2px 0 0 18px;padding:0;font-size:13px">{runs}</ol>'
                if runs
                else '<div style="font-size:13px;margin-top:6px;color:#64748b">Paused: no runs until resumed.</div>'
            ),
            sizing_mode="stretch_width",
            css_classes=["schedule-head"],
        )
        toggle = pn.widgets.Button(
            name="Pause" if r["is_active"] else "Resume",
            button_type="primary",
            button_style="outline",
            width=100,
            css_classes=["pause-schedule" if r["is_active"] else "resume-schedule"],
            margin=(5, 5),
        )
        toggle.on_click(lambda _: self._set_active(int(r["id"]), not r["is_active"]))
        delete = pn.widgets.Button(
            name="Delete",
            button_type="danger",
            button_style="outline",
            width=125,
            css_classes=["delete-schedule"],
            margin=(5, 5),
        )
        delete.on_click(lambda _: self._delete(int(r["id"]), delete))
        self._detail.objects = [head, pn.Row(toggle, delete)]

    # -- actions -------------------------------------------------------------------------
    def _create(self) -> None:
        if self.report is None:
            notify_error("report: choose a report to schedule")
            return
        data = {
            "schedule_expr": self.schedule_expr,
            "timezone": self.timezone.strip(),
            "priority": self.priority,
            "offpeak_only": self.offpeak_only,
            "recipients": self.recipients,
            "format": self.format,
        }
        report_id = self.report

        def create(s: Any, p: Principal) -> int:
            row, _ = schedules.create_schedule(s, p, report_id, data)
            return row.id

        new_id = run(self.ctx, create, success="Schedule created")
        if new_id is not None:
            self.selected = new_id
            self.version += 1

    def _set_active(self, schedule_id: int, active: bool) -> None:
        done = run(
            self.ctx,
            lambda s, p: schedules.update_schedule(s, p, schedule_id, {"is_active": active}),
            success="Schedule resumed" if active else "Schedule paused",
        )
        if done is not None:
            self.version += 1

    def _delete(self, schedule_id: int, button: pn.widgets.Button) -> None:
        if self._armed != schedule_id:
            # A second click deletes: a schedule is gone for good (no trash for schedules).
            self._armed = schedule_id
            button.name, button.button_style = "Confirm delete", "solid"

            def disarm() -> None:
                self._armed = None
                button.name, button.button_style = "Delete", "outline"

            timeout(CONFIRM_SECONDS, disarm)
            return
        self._armed = None

        def delete(s: Any, p: Principal) -> bool:
            schedules.delete_schedule(s, p, schedule_id)
            return True

        if run(self.ctx, delete, success="Schedule deleted"):
            self.selected = None
        self.version += 1

    # -- layout ---------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        buttons = [
            pn.widgets.Button(
                name=label,
                button_type="primary",
                button_style="outline",
                margin=(2, 4),
                css_classes=["schedule-example"],
            )
            for label, _ in EXAMPLES
        ]
        for button, (_, expr) in zip(buttons, EXAMPLES, strict=True):
            button.on_click(lambda _, expr=expr: setattr(self, "schedule_expr", expr))
        examples = pn.Row(
            pn.pane.HTML("<span style='font-size:13px;color:#475569'>Examples:</span>", margin=(8, 4)),
            *buttons,
            styles={"flex-wrap": "wrap"},
        )
        create = pn.widgets.Button(
            name="Create schedule", button_type="primary", width=160, css_classes=["create-schedule"]
        )
        create.on_click(lambda _: self._create())
        form = pn.Column(
            pn.pane.HTML("<h3 style='margin:4px 0'>New schedule</h3>"),
            pn.FlexBox(self._report_select, self._expr, self._tz, align_items="flex-end"),
            examples,
            self._preview,
            pn.FlexBox(
                pn.widgets.Select.from_param(self.param.priority, name="Priority", width=120),
                pn.widgets.Select.from_param(self.param.format, name="Format", width=100),
                pn.widgets.TextAreaInput.from_param(
                    self.param.recipients,
                    name="Send to (e-mail addresses)",
                    placeholder="ops@example.com, boss@example.com",
                    height=70,
                    width=360,
                    css_classes=["schedule-recipients"],
                ),
                pn.widgets.Checkbox.from_param(
                    self.param.offpeak_only, name="Off-peak only", margin=(25, 10)
                ),
                create,
                align_items="flex-end",
            ),
            sizing_mode="stretch_width",
            css_classes=["schedule-form"],
            styles={"background": "white", "border-radius": "10px", "padding": "6px 12px"},
        )
        outbox = pn.pane.HTML(
            '<a class="outbox-link" href="/outbox" style="display:inline-block;padding:7px 14px;border:1px solid #0b5cad;'
            'border-radius:4px;color:#0b5cad;text-decoration:none;font-size:14px;white-space:nowrap">Outbox</a>'
            '<a href="/jobs" style="display:inline-block;margin-left:8px;padding:7px 14px;border:1px solid #0b5cad;'
            'border-radius:4px;color:#0b5cad;text-decoration:none;font-size:14px;white-space:nowrap">Jobs</a>',
            margin=(8, 10),
        )
        listing = pn.FlexBox(
            pn.Column(self._table, self._empty, sizing_mode="stretch_width", styles={"flex": "3 1 640px"}),
            pn.Column(self._detail, sizing_mode="stretch_width", styles={"flex": "1 1 320px"}),
            gap="16px",
            sizing_mode="stretch_width",
        )
        return pn.Column(
            pn.Row(pn.pane.HTML("<h2 style='margin:4px 0'>Schedules</h2>"), pn.layout.HSpacer(), outbox),
            listing,
            form,
            sizing_mode="stretch_width",
            css_classes=["schedules-page"],
        )
