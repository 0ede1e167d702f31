"""The PDF templates page (``/pdf``): the caller's templates (name, version, last change) with
Open in designer, Clone and Render, and their recent renders with status and download link."""

from __future__ import annotations

import html
import logging
from typing import Any

import pandas as pd
import panel as pn
import param

from components.pdf_designer.schedule_form import ScheduleForm
from components.session import notify, notify_error, run
from components.sharing_link import ShareLink
from components.sharing_people import SharePeople
from portal.context import AppContext
from portal.pdf import renders, templates

log = logging.getLogger(__name__)

COLUMNS = ["id", "Name", "Version", "Updated"]
#: Seconds between listings of the renders while one is queued or running.
POLL_S = 2.0


def start_render(ctx: AppContext, template_id: int) -> int | None:
    """Queue a render of the template's current version for the signed-in user; its render id.

    The one place the page asks for a render (``portal.pdf.renders.submit_render``, then the
    job is enqueued once the transaction committed). None when refused (the reason is shown).
    """
    made = run(ctx, lambda s, p: renders.submit_render(s, p, template_id))
    if made is None:
        return None
    render, sub = made
    try:
        sub.enqueue(ctx.redis)
    except Exception:
        log.exception("pdf render %s: could not enqueue job %s", render.id, sub.record.id)
        notify_error("The job queue is not reachable: the render stays queued and starts when it is back.")
    return int(render.id)


def renders_html(rows: list[dict[str, Any]], names: dict[int, str]) -> str:
    """The recent renders as a table: template, version, status, pages, requested, download link."""
    if not rows:
        return '<div class="no-renders" style="color:#64748b;font-size:14px">No renders yet.</div>'
    colours = {"done": "#15803d", "failed": "#b91c1c", "running": "#1d4ed8", "canceled": "#64748b"}
    body = []
    for r in rows:
        status = str(r.get("status") or "")
        link = (
            f'<a class="render-download" href="/api/pdf/renders/{int(r["render_id"])}/download">Download</a>'
            if status == "done"
            else ""
        )
        errors = r.get("errors") or []
        err = (
            f'<div style="color:#92400e;font-size:12px">{html.escape(str(errors[0].get("message", "")))}'
            f"{f' (+{len(errors) - 1} more)' if len(errors) > 1 else ''}</div>"
            if errors and isinstance(errors[0], dict)
            else ""
        )
        requested = html.escape(str(r.get("requested_at") or "")[:16].replace("T", " "))
        body.append(
            f'<tr class="render-row" data-render="{int(r["render_id"])}" data-status="{html.escape(status)}">'
            f"<td>{int(r['render_id'])}</td>"
            f"<td>{html.escape(names.get(int(r['template_id']), str(r['template_id'])))}</td>"
            f"<td>{html.escape(str(r.get('template_version') or ''))}</td>"
            f'<td style="color:{colours.get(status, "#b45309")};font-weight:600">{html.escape(status)}{err}</td>'
            f"<td>{html.escape(str(r.get('pages') or ''))}</td>"
            f"<td>{requested}</td><td>{link}</td></tr>"
        )
    head = "".join(
        f"<th style='text-align:left;padding:4px 8px'>{h}</th>"
        for h in ("#", "Template", "Version", "Status", "Pages", "Requested", "")
    )
    return (
        '<table class="render-list" style="border-collapse:collapse;font-size:14px;width:100%">'
        f"<thead><tr style='border-bottom:1px solid #cbd5e1'>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        "<style>.render-list td{padding:4px 8px;border-bottom:1px solid #f1f5f9}</style>"
    )


class _Table(pn.widgets.Tabulator):
    """A Tabulator dropping clicks on rows of a listing replaced meanwhile."""

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("pdf templates: dropped a click on a row of a replaced listing")


class TemplatesPage(pn.viewable.Viewer):
    """The signed-in user's PDF templates and renders."""

    selected = param.Integer(default=None, allow_None=True, doc="Id of the template the buttons act on")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._names: dict[int, str] = {}
        self._ids: list[int] = []
        self._table = _Table(
            pd.DataFrame(columns=COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["id"],
            layout="fit_data_stretch",
            pagination="local",
            page_size=15,
            sortable=False,
            sizing_mode="stretch_width",
            css_classes=["template-list"],
        )
        self._table.param.watch(self._picked, "selection")
        self._empty = pn.pane.Markdown(
            "*No PDF templates yet: create one in the designer.*", visible=False, css_classes=["no-templates"]
        )
        self._open = pn.pane.HTML("", css_classes=["template-open"], margin=(8, 10))
        self._clone = pn.widgets.Button(
            name="Clone", button_type="light", disabled=True, css_classes=["template-clone"]
        )
        self._render = pn.widgets.Button(
            name="Render", button_type="primary", disabled=True, css_classes=["template-render"]
        )
        self._clone.on_click(lambda _: self.clone())
        self._render.on_click(lambda _: self.render())
        self._renders = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["renders"])
        self._refresh = pn.widgets.Button(name="Refresh", button_type="light", width=90)
        self._refresh.on_click(lambda _: self.reload_renders())
        self._poll: Any = None
        self._schedule = ScheduleForm(ctx)
        #: "Share with people" for the selected template (shown to its owner and admins only).
        self._share = SharePeople(ctx, object_type="pdf_template")
        self._link = ShareLink(ctx, object_type="pdf_template")
        self._share.buttons.append(self._link.button)
        self.reload()

    def reload(self) -> None:
        """List the templates and renders again."""
        rows = (
            run(
                self.ctx,
                lambda s, p: [
                    (t.id, t.name, t.version, t.updated_at.strftime("%Y-%m-%d %H:%M") if t.updated_at else "")
                    for t in templates.list_templates(s, p)
                ],
            )
            or []
        )
        self._names = {r[0]: r[1] for r in rows}
        self._ids = [r[0] for r in rows]
        self._table.value = pd.DataFrame(rows, columns=COLUMNS)
        self._empty.visible = not rows
        self._show_actions()
        self.reload_renders()

    def reload_renders(self) -> None:
        """List the recent renders again (and keep polling while one is unfinished)."""
        rows = run(
            self.ctx,
            lambda s, p: [renders.render_to_dict(s, r) for r in renders.list_renders(s, p, limit=20)],
        )
        rows = rows or []
        self._renders.object = renders_html(rows, self._names)
        busy = any(r.get("status") in ("queued", "running", "deferred") for r in rows)
        if busy and self._poll is None and pn.state.curdoc is not None:
            self._poll = pn.state.add_periodic_callback(
                self.reload_renders, period=int(POLL_S * 1000), count=150
            )
        elif not busy and self._poll is not None:
            self._poll.stop()
            self._poll = None

    def _picked(self, event: Any) -> None:
        if event.new and event.new[0] < len(self._ids):
            self.selected = self._ids[event.new[0]]
        self._show_actions()

    def _show_actions(self) -> None:
        tid = self.selected if self.selected in self._names else None
        self._clone.disabled = self._render.disabled = tid is None
        self._schedule.select(tid)
        self._share.object_id = self._link.object_id = tid
        self._open.object = (
            f'<a class="open-designer" href="/designer?id={tid}" style="display:inline-block;padding:5px 12px;'
            'border:1px solid #0b5cad;border-radius:4px;text-decoration:none;font-size:14px">Open in designer</a>'
            if tid is not None
            else '<span style="color:#64748b">Select a template</span>'
        )

    def clone(self) -> None:
        """Copy the selected template (its current version)."""
        tid = self.selected
        if tid is None:
            return
        made = run(self.ctx, lambda s, p: templates.clone_template(s, p, tid).name)
        if made is not None:
            notify(f"Cloned as {made}")
            self.reload()

    def render(self) -> None:
        """Queue a render of the selected template."""
        if self.selected is None:
            return
        rid = start_render(self.ctx, self.selected)
        if rid is not None:
            notify(f"Render {rid} queued")
            self.reload_renders()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.pane.HTML("<h2 style='margin:0'>PDF templates</h2>", margin=(5, 10)),
                pn.layout.HSpacer(),
                pn.pane.HTML(
                    '<a class="new-template" href="/designer?new=1">+ New template</a>', margin=(12, 10)
                ),
                sizing_mode="stretch_width",
            ),
            self._empty,
            self._table,
            pn.Row(self._open, self._clone, self._render, margin=0),
            self._share,
            self._link,
            self._schedule,
            pn.Row(
                pn.pane.HTML("<h3 style='margin:0'>Recent renders</h3>", margin=(15, 10, 5, 10)),
                self._refresh,
            ),
            self._renders,
            sizing_mode="stretch_width",
            css_classes=["pdf-templates"],
        )
