"""The page a share link opens: a read-only dashboard, widget, snapshot or report.

Everything it shows is loaded as the link's principal (``components.session.use_share``), so
the link's scope and permissions apply through the same gate as for signed-in users, and a
revoked link stops the page at its next request. ``?kiosk=1`` drops the title bar and refreshes
the data every :data:`KIOSK_REFRESH_S` seconds.
"""

from __future__ import annotations

import html
import io
from typing import Any

import panel as pn

from components.dashboard_builder import DashboardBuilder
from components.session import alert, run
from components.widget_view import render_result
from portal.context import AppContext
from portal.sharing import views
from portal.sharing.snapshots import thaw

KIOSK_REFRESH_S = 60
GRID_COLUMNS = 12
ROW_PX = 60


class ShareViewer(pn.viewable.Viewer):
    """One shared object, read-only."""

    def __init__(self, ctx: AppContext, header: views.SharedHeader, *, kiosk: bool = False) -> None:
        super().__init__()
        self.ctx, self.header, self.kiosk = ctx, header, kiosk
        self._builder: DashboardBuilder | None = None
        self.body: Any = self._build()
        if kiosk and self._builder is not None and pn.state.curdoc is not None:
            builder = self._builder
            pn.state.add_periodic_callback(builder.refresh, period=KIOSK_REFRESH_S * 1000)

    def _build(self) -> Any:
        kind = self.header.object_type
        if kind in ("dashboard", "widget"):
            # A widget's link shows its dashboard planned with that one widget (the link's grant).
            self._builder = DashboardBuilder(
                self.ctx,
                self._dashboard_id(),
                can_drill="drilldown" in self.header.permissions,
                single_widget=kind == "widget",
            )
            return self._builder
        if kind == "snapshot":
            return self._snapshot()
        if kind == "report":
            return self._report()
        return alert("This kind of link cannot be shown here.", "warning")

    def _dashboard_id(self) -> int:
        if self.header.object_type != "widget":
            return self.header.object_id
        found = run(self.ctx, lambda s, p: views.shared_dashboard_id(p))
        return int(found or 0)

    def _snapshot(self) -> pn.viewable.Viewable:
        doc = run(self.ctx, views.snapshot_doc)
        if doc is None:
            return alert("This snapshot is no longer available.", "warning")
        results = thaw(doc)
        grid = pn.GridSpec(ncols=GRID_COLUMNS, sizing_mode="stretch_width", min_height=ROW_PX * 4)
        bottom = 0
        for r in results:
            pos = r.widget.position or {}
            x, y = int(pos.get("x", 0)), int(pos.get("y", bottom))
            w, h = max(1, int(pos.get("w", 6))), max(1, int(pos.get("h", 4)))
            spec = r.spec
            title = html.escape(spec.title or "") if spec is not None else ""
            body = (
                render_result(spec, r, height=h * ROW_PX - 40)
                if spec is not None
                else alert(r.error or "This widget cannot be shown.", "warning")
            )
            tile = pn.Column(
                pn.pane.HTML(f"<b>{title}</b>", margin=(4, 8)),
                body,
                css_classes=["share-tile"],
                styles={"border": "1px solid #e2e8f0", "border-radius": "6px", "background": "white"},
                sizing_mode="stretch_both",
            )
            grid[y : y + h, x : min(GRID_COLUMNS, x + w)] = tile
            bottom = max(bottom, y + h)
        grid.height = max(4, bottom) * ROW_PX
        taken = html.escape(str(doc.get("as_of", ""))[:16].replace("T", " "))
        note = pn.pane.HTML(
            f'<div class="snapshot-note" style="color:#475569">Snapshot of the data as of {taken} UTC '
            "(it does not change).</div>"
        )
        return pn.Column(note, grid, sizing_mode="stretch_width")

    def _report(self) -> pn.viewable.Viewable:
        got = run(self.ctx, lambda s, p: views.report_frame(s, p, self.ctx.warehouse))
        if got is None:
            return alert("This report cannot be shown now.", "warning")
        _, frame = got
        table = pn.widgets.Tabulator(
            frame,
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=25,
            sizing_mode="stretch_width",
            css_classes=["share-report-table"],
        )
        parts: list[Any] = [
            pn.pane.HTML(f'<div style="color:#475569">{len(frame):,} rows</div>'),
            table,
        ]
        if "export" in self.header.permissions:
            parts.insert(
                0,
                pn.widgets.FileDownload(
                    callback=self._csv,
                    filename=f"{self.header.name or 'report'}.csv",
                    label="Download CSV",
                    button_type="primary",
                    width=160,
                    css_classes=["share-export"],
                ),
            )
        return pn.Column(*parts, sizing_mode="stretch_width")

    def _csv(self) -> io.BytesIO:
        got = run(self.ctx, lambda s, p: views.report_frame(s, p, self.ctx.warehouse, export=True))
        out = io.BytesIO()
        if got is not None:
            got[1].to_csv(out, index=False)
        out.seek(0)
        return out

    def __panel__(self) -> pn.viewable.Viewable:
        body: pn.viewable.Viewable = self.body
        return body


def title_bar(header: views.SharedHeader) -> pn.viewable.Viewable:
    """The shared view's top line: what it is and until when the link works (all text escaped)."""
    kinds = {"dashboard": "Dashboard", "widget": "Widget", "snapshot": "Snapshot", "report": "Report"}
    until = (
        f" · link valid until {html.escape(header.expires_at.strftime('%Y-%m-%d %H:%M'))} UTC"
        if header.expires_at is not None
        else ""
    )
    return pn.pane.HTML(
        f'<div class="share-title" style="display:flex;gap:12px;align-items:baseline">'
        f'<span style="font-size:1.3rem;font-weight:600">{html.escape(header.name)}</span>'
        f'<span style="color:#64748b">{kinds.get(header.object_type, "")} shared with you{until}</span></div>',
        sizing_mode="stretch_width",
    )
