"""Schedule a PDF template from the ``/pdf`` page: cron or RRULE on a time zone's wall clock,
e-mail recipients (the PDF attached, with a signed link), the bell, off-peak; and the
template's schedules in words with their next run, each removable."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from components.session import notify, run
from portal.context import AppContext
from portal.pdf import schedules


def schedules_html(rows: list[dict[str, Any]]) -> str:
    """The schedules as a list: id, the rule in words, next run, recipients (all escaped)."""
    if not rows:
        return '<div class="no-pdf-schedules" style="color:#64748b">No schedules for this template.</div>'
    items = []
    for r in rows:
        nxt = html.escape(str((r.get("next_local") or ["—"])[0])[:16].replace("T", " "))
        who = html.escape(", ".join(r.get("delivery", {}).get("recipients") or []) or "the bell only")
        items.append(
            f'<li class="pdf-schedule" data-schedule="{int(r["id"])}">#{int(r["id"])} · '
            f"{html.escape(str(r.get('description') or r.get('schedule_expr')))} — next {nxt} — to {who}</li>"
        )
    return f"<ul style='margin:4px 0;padding-left:18px'>{''.join(items)}</ul>"


class ScheduleForm(pn.viewable.Viewer):
    """The schedule form and list of one template (``template_id`` set by the page)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.template_id: int | None = None
        self.expr = pn.widgets.TextInput(name="When (cron or RRULE)", value="0 7 * * 1", width=220)
        self.zone = pn.widgets.TextInput(name="Time zone", value="America/Sao_Paulo", width=200)
        self.recipients = pn.widgets.TextInput(
            name="E-mail to (commas)", placeholder="ops@example.com, cfo@example.com", width=320
        )
        self.offpeak = pn.widgets.Checkbox(name="Off-peak only", value=False, margin=(32, 10, 0, 10))
        self.button = pn.widgets.Button(
            name="Schedule", button_type="primary", disabled=True, margin=(24, 10)
        )
        self.button.on_click(lambda _: self.create())
        self.remove_id = pn.widgets.IntInput(name="Schedule #", value=None, width=110)
        self.remove = pn.widgets.Button(name="Delete schedule", button_type="light", margin=(24, 10))
        self.remove.on_click(lambda _: self.delete())
        self.listing = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["pdf-schedules"])

    def select(self, template_id: int | None) -> None:
        """Act on ``template_id`` (None: nothing selected)."""
        self.template_id = template_id
        self.button.disabled = template_id is None
        self.reload()

    def reload(self) -> None:
        """List the template's schedules again."""
        tid = self.template_id
        if tid is None:
            self.listing.object = ""
            return
        rows = run(
            self.ctx,
            lambda s, p: [schedules.pdf_schedule_to_dict(r) for r in schedules.list_pdf_schedules(s, p, tid)],
        )
        self.listing.object = schedules_html(rows or [])

    def create(self) -> None:
        """Schedule the template; a refusal names the field in a notification and keeps the form."""
        tid = self.template_id
        if tid is None:
            return
        data = {
            "schedule_expr": (self.expr.value or "").strip(),
            "timezone": (self.zone.value or "").strip(),
            "recipients": self.recipients.value,
            "offpeak_only": bool(self.offpeak.value),
        }
        made = run(
            self.ctx,
            lambda s, p: schedules.pdf_schedule_to_dict(schedules.create_pdf_schedule(s, p, tid, data)),
        )
        if made is not None:
            nxt = str((made.get("next_local") or [""])[0])[:16].replace("T", " ")
            notify(f"Scheduled: {made.get('description')} — next {nxt}")
            self.reload()

    def delete(self) -> None:
        """Delete the schedule numbered in the field."""
        sid = self.remove_id.value
        if sid is None:
            return
        run(
            self.ctx,
            lambda s, p: schedules.delete_pdf_schedule(s, p, int(sid)),
            success=f"Schedule {sid} deleted",
        )
        self.reload()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Card(
            pn.Row(self.expr, self.zone, self.recipients, self.offpeak, self.button, margin=0),
            self.listing,
            pn.Row(self.remove_id, self.remove, margin=0),
            title="Schedule the selected template",
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=["pdf-schedule-form"],
        )
