"""The Outbox: with no SMTP server configured (the embedded default), mail is written as ``.eml`` files
to the outbox folder; this page lists the ones the user may read, shows a message's text and
offers its attachments for download.

Who may read what is decided by :func:`portal.reports.schedules.visible_outbox` and
:func:`~portal.reports.schedules.open_outbox_message` (the tenant's messages only; an admin all of
them, anyone else those addressed to them). Everything shown is escaped: subjects, addresses and
bodies are whatever a report or a recipient list held.
"""

from __future__ import annotations

import html
import io
import logging
from typing import Any

import pandas as pd
import panel as pn
import param

from components.session import run
from portal.context import AppContext
from portal.identity.principal import Principal
from portal.notify.email import OutboxEntry
from portal.reports import schedules

log = logging.getLogger(__name__)

LIST_COLUMNS = ["name", "Date", "To", "Subject", "Attachments"]


def _date(entry: OutboxEntry) -> str:
    return f"{entry.date:%Y-%m-%d %H:%M} UTC" if entry.date else ""


class _Table(pn.widgets.Tabulator):
    """A Tabulator dropping clicks on rows of a listing replaced meanwhile."""

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("outbox: dropped a click on a row of a replaced listing")


class OutboxPage(pn.viewable.Viewer):
    """The outbox messages of the signed-in user's tenant that they may read, newest first."""

    selected = param.String(default=None, allow_None=True, doc="File name of the message shown")
    version = param.Integer(default=0, doc="Bumped to reload the list")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._entries: list[OutboxEntry] = []
        self._table = _Table(
            pd.DataFrame(columns=LIST_COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["name"],
            pagination="local",
            page_size=15,
            layout="fit_data_stretch",
            sortable=False,
            sizing_mode="stretch_width",
            css_classes=["outbox-list"],
        )
        self._table.param.watch(self._on_select, "selection")
        self._empty = pn.pane.Markdown(
            "*No messages for you in the outbox.*", visible=False, css_classes=["no-mail"]
        )
        self._message = pn.Column(
            sizing_mode="stretch_width",
            css_classes=["outbox-message"],
            styles={"background": "white", "border-radius": "10px", "padding": "4px"},
        )
        self.param.watch(lambda *_: self._reload(), ["version"])
        self.param.watch(lambda *_: self._show_message(), ["selected"])
        self._reload()

    def _reload(self) -> None:
        folder = self.ctx.settings.outbox_dir
        self._entries = run(self.ctx, lambda s, p: schedules.visible_outbox(s, p, folder)) or []
        frame = pd.DataFrame(
            [
                {
                    "name": e.name,
                    "Date": _date(e),
                    "To": ", ".join(e.recipients),
                    "Subject": e.subject,
                    "Attachments": ", ".join(e.attachments),
                }
                for e in self._entries
            ],
            columns=LIST_COLUMNS,
        )
        self._table.value = frame
        self._empty.visible = not self._entries
        self._table.visible = bool(self._entries)
        names = [e.name for e in self._entries]
        if self.selected not in names:
            self.selected = names[0] if names else None
        else:
            self._show_message()
        if self.selected in names:
            self._table.selection = [names.index(self.selected)]

    def _on_select(self, event: Any) -> None:
        if event.new and event.new[0] < len(self._table.value):
            name = str(self._table.value.iloc[event.new[0]]["name"])
            if name != self.selected:
                self.selected = name

    def _show_message(self) -> None:
        name = self.selected
        if name is None:
            self._message.objects = [pn.pane.Markdown("*Select a message to read it.*", margin=(10, 15))]
            return
        folder = self.ctx.settings.outbox_dir

        def load(s: Any, p: Principal) -> schedules.OutboxMessage:
            return schedules.open_outbox_message(s, p, folder, name)

        msg = run(self.ctx, load)
        if msg is None:
            self._message.objects = [pn.pane.Markdown("*This message is no longer there.*", margin=(10, 15))]
            return
        e = msg.entry
        rows = [
            ("From", e.sender),
            ("To", ", ".join(e.recipients)),
            ("Date", _date(e)),
            ("Subject", e.subject),
        ]
        head = "".join(
            f'<tr><td style="color:#64748b;padding-right:10px;vertical-align:top">{k}</td>'
            f'<td style="overflow-wrap:anywhere">{html.escape(v)}</td></tr>'
            for k, v in rows
        )
        body = pn.pane.HTML(
            f"<table style='font-size:13px'>{head}</table>"
            '<pre class="mail-body" style="white-space:pre-wrap;overflow-wrap:anywhere;background:#f8fafc;'
            'padding:8px;border-radius:6px;font-size:13px;max-height:420px;overflow:auto">'
            f"{html.escape(msg.text)}</pre>",
            sizing_mode="stretch_width",
            css_classes=["mail-view"],
        )
        downloads = [
            pn.widgets.FileDownload(
                callback=lambda content=content: io.BytesIO(content),
                filename=filename,
                label=f"Download {filename}",
                button_type="primary",
                button_style="outline",
                css_classes=["mail-attachment"],
                margin=(5, 5),
            )
            for filename, _, content in msg.attachments
        ]
        self._message.objects = [body, pn.Row(*downloads, styles={"flex-wrap": "wrap"})]

    def __panel__(self) -> pn.viewable.Viewable:
        smtp = bool(self.ctx.settings.smtp_url.strip())
        note = (
            "Mail goes to the SMTP server (SMTP_URL); the outbox keeps what was written before it was set."
            if smtp
            else "No SMTP server is configured (SMTP_URL is empty): the portal writes each message here instead."
        )
        reload = pn.widgets.Button(name="Reload", button_type="primary", button_style="outline", width=90)
        reload.on_click(lambda _: setattr(self, "version", self.version + 1))
        return pn.Column(
            pn.Row(
                pn.pane.HTML(
                    f"<h2 style='margin:4px 0'>Outbox</h2><div style='color:#475569;font-size:13px'>{html.escape(note)}"
                    " You see your tenant's messages addressed to you (administrators: all of them).</div>"
                ),
                pn.layout.HSpacer(),
                reload,
                pn.pane.HTML(
                    '<a href="/schedules" style="display:inline-block;padding:7px 14px;border:1px solid #0b5cad;'
                    'border-radius:4px;color:#0b5cad;text-decoration:none;font-size:14px">Schedules</a>',
                    margin=(5, 10),
                ),
                sizing_mode="stretch_width",
            ),
            pn.FlexBox(
                pn.Column(
                    self._table, self._empty, sizing_mode="stretch_width", styles={"flex": "3 1 560px"}
                ),
                pn.Column(self._message, sizing_mode="stretch_width", styles={"flex": "2 1 400px"}),
                gap="16px",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
            css_classes=["outbox-page"],
        )
