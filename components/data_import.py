"""The data page: import a CSV/XLSX file (preview, options, progress, bad-row report) and the
tenant's own sources.

The file goes to ``/data/upload`` as the browser reads it (:mod:`components.file_upload`); the
server answers what it detected (encoding, delimiter, decimal separator, column types) and the
user corrects it before starting. The import then runs as a ``data_import`` job; the page polls
its row twice a second for the progress bar (rows, MB, rate, ETA) and ends with the counts, a
link to the bad-row report, and one click to a dashboard or a report on the new table.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import quote

import pandas as pd
import panel as pn
from sqlalchemy.orm import Session

from components.data_import_text import percent, progress_line, size_text, suggested_name
from components.file_upload import StreamingUpload
from components.session import escaped_options, logout_token, notify, notify_error, run
from portal import dashboards
from portal.context import AppContext
from portal.data.tenant_sources import list_source_rows
from portal.identity.principal import Principal
from portal.ingest import imports

log = logging.getLogger(__name__)

TYPES = ["string", "int", "float", "bool", "date", "datetime"]
MODES = {
    "Create a new table": "create",
    "Append the rows": "append",
    "Replace all rows": "replace",
    "Update or insert by key (upsert)": "upsert",
}
DETECTED = "(detected)"
DELIMITERS = {DETECTED: "", "Comma ,": ",", "Semicolon ;": ";", "Tab": "\t", "Pipe |": "|"}
ENCODINGS = [DETECTED, "utf-8", "latin-1", "cp1252", "utf-16"]
DECIMALS = {DETECTED: "", "Point (1,234.56)": ".", "Comma (1.234,56)": ","}
POLL_MS = 500


class DataImport(pn.viewable.Viewer):
    """Upload → check the preview → import with a progress bar → use the table."""

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        super().__init__(**params)
        self.ctx = ctx
        self.upload_id = ""
        self.filename = ""
        self.import_id: int | None = None
        self._poller: Any = None
        self.upload = StreamingUpload(token=logout_token(), sizing_mode="stretch_width")
        self.upload.param.watch(self._upload_progress, "loaded")
        self.upload.param.watch(self._upload_failed, "error")
        self.upload.param.watch(self._upload_done, "result")
        self.upload_bar = pn.indicators.Progress(value=0, max=100, visible=False, sizing_mode="stretch_width")
        self.upload_text = pn.pane.Str("", css_classes=["upload-text"])

        self.detected = pn.pane.Str("", css_classes=["detected"])
        self.delimiter = pn.widgets.Select(name="Delimiter", options=DELIMITERS, width=160)
        self.encoding = pn.widgets.Select(name="Encoding", options=ENCODINGS, width=160)
        self.decimal = pn.widgets.Select(name="Decimal separator", options=DECIMALS, width=180)
        self.sheet = pn.widgets.TextInput(name="Sheet (XLSX)", placeholder="first sheet", width=160)
        for w in (self.delimiter, self.encoding, self.decimal, self.sheet):
            w.param.watch(lambda _e: self._preview_again(), "value")
        self.rows = pn.widgets.Tabulator(
            pd.DataFrame(), disabled=True, show_index=False, height=230, sizing_mode="stretch_width"
        )
        self.columns = pn.widgets.Tabulator(
            pd.DataFrame(columns=["name", "label", "type"]),
            editors={"name": None, "label": None, "type": {"type": "list", "values": TYPES}},
            show_index=False,
            height=230,
            sizing_mode="stretch_width",
        )
        self.table_name = pn.widgets.TextInput(name="Table name", width=240)
        self.mode = pn.widgets.Select(name="Mode", options=MODES, width=260)
        self.keys = pn.widgets.MultiChoice(name="Key columns (upsert)", options={}, width=300)
        self.all_or_nothing = pn.widgets.Checkbox(name="All or nothing: load nothing if any row is bad")
        self.start = pn.widgets.Button(name="Import", button_type="primary", width=140)
        self.start.on_click(lambda _e: self._start())
        self.setup = pn.Column(
            pn.pane.Markdown("### 2. Check what was detected"),
            self.detected,
            pn.Row(self.delimiter, self.encoding, self.decimal, self.sheet),
            pn.Tabs(("Rows", self.rows), ("Column types", self.columns)),
            pn.pane.Markdown("### 3. Where to put it"),
            pn.Row(self.table_name, self.mode, self.keys),
            self.all_or_nothing,
            self.start,
            visible=False,
            sizing_mode="stretch_width",
        )

        self.progress = pn.indicators.Progress(
            value=0, max=100, sizing_mode="stretch_width", bar_color="primary"
        )
        self.progress_text = pn.pane.Str("", css_classes=["import-progress"])
        self.cancel = pn.widgets.Button(name="Cancel", button_type="light", width=100)
        self.cancel.on_click(lambda _e: self._cancel())
        self.outcome = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["import-outcome"])
        self.dashboard_button = pn.widgets.Button(
            name="Put it on a new dashboard", button_type="success", visible=False
        )
        self.dashboard_button.on_click(lambda _e: self._new_dashboard())
        self.running = pn.Column(
            pn.pane.Markdown("### 4. Importing"),
            self.progress,
            pn.Row(self.progress_text, self.cancel),
            self.outcome,
            self.dashboard_button,
            visible=False,
            sizing_mode="stretch_width",
        )
        self.history = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, height=220,
                                            sizing_mode="stretch_width")  # fmt: skip
        self.sources = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, height=220,
                                            sizing_mode="stretch_width")  # fmt: skip
        self._refresh_lists()

    # -- step 1: the upload ------------------------------------------------------------
    def _upload_progress(self, _event: Any) -> None:
        up = self.upload
        if up.status != "uploading" or not up.total:
            return
        self.upload_bar.visible = True
        self.upload_bar.value = min(100, int(100 * up.loaded / up.total))
        self.upload_text.object = f"Uploading {up.filename}: {size_text(up.loaded)} of {size_text(up.total)}"
        self.setup.visible = False

    def _upload_failed(self, _event: Any) -> None:
        if self.upload.error:
            self.upload_bar.visible = False
            self.upload_text.object = f"Upload failed: {self.upload.error}"
            notify_error(self.upload.error)

    def _upload_done(self, _event: Any) -> None:
        if not self.upload.result:
            return
        try:
            answer = json.loads(self.upload.result)
        except ValueError:
            notify_error("The server's answer to the upload could not be read")
            return
        self.upload_bar.visible, self.upload_bar.value = True, 100
        self.upload_id, self.filename = str(answer.get("upload_id", "")), str(answer.get("filename", ""))
        self.upload_text.object = f"Uploaded {self.filename} ({size_text(answer.get('size', 0))})"
        self.table_name.value = suggested_name(self.filename)
        xlsx = self.filename.lower().endswith((".xlsx", ".xlsm"))
        # A sheet has cells, not delimiters and encodings.
        self.sheet.visible = xlsx
        self.delimiter.visible = self.encoding.visible = self.decimal.visible = not xlsx
        self._show_preview(answer.get("preview") or {})
        self.setup.visible, self.running.visible = True, False

    def _show_preview(self, pv: dict[str, Any]) -> None:
        cols = pv.get("columns") or []
        names = [str(c.get("name")) for c in cols]
        delimiter = {"\t": "tab"}.get(str(pv.get("delimiter")), str(pv.get("delimiter")))
        bits = [
            f"Encoding {pv.get('encoding')}{' (with BOM)' if pv.get('bom') else ''}",
            f"delimiter {delimiter!r}",
            f"decimal separator {pv.get('decimal')!r}",
            "first row is the header" if pv.get("header") else "no header row",
            f"{len(cols)} columns",
        ]
        ambiguous = [c["name"] for c in cols if c.get("ambiguous")]
        if ambiguous:
            bits.append(f"day/month order guessed for {', '.join(ambiguous)}")
        self.detected.object = "Detected: " + ", ".join(bits)
        rows = [r[: len(names)] + [""] * (len(names) - len(r)) for r in (pv.get("preview") or [])[:20]]
        self.rows.value = pd.DataFrame(rows, columns=names) if names else pd.DataFrame()
        self.columns.value = pd.DataFrame(
            [{"name": c.get("name"), "label": c.get("label"), "type": c.get("type")} for c in cols],
            columns=["name", "label", "type"],
        )
        self.keys.options = escaped_options(names)

    def _read_options(self) -> dict[str, Any]:
        """What the user chose, as ``ImportOptions`` JSON (overrides only where they chose one)."""
        opts: dict[str, Any] = {
            "table": (self.table_name.value or "").strip(),
            "mode": self.mode.value,
            "all_or_nothing": bool(self.all_or_nothing.value),
        }
        if self.delimiter.value:
            opts["delimiter"] = self.delimiter.value
        if self.encoding.value and self.encoding.value != DETECTED:
            opts["encoding"] = self.encoding.value
        if self.decimal.value:
            opts["decimal"] = self.decimal.value
        sheet = (self.sheet.value or "").strip()
        if self.sheet.visible and sheet:
            opts["sheet"] = sheet
        if self.mode.value == "upsert":
            opts["key_columns"] = list(self.keys.value)
        frame = self.columns.value
        if frame is not None and len(frame):
            opts["columns"] = [
                {"name": str(r["name"]), "type": str(r["type"]), "label": str(r["label"] or "")[:200]}
                for r in frame.to_dict("records")
            ]
        return opts

    def _preview_again(self) -> None:
        """Read the head of the upload again with the user's delimiter/encoding/decimal/sheet."""
        if not self.upload_id:
            return
        home, upload_id = self.ctx.settings.home, self.upload_id
        opts = {k: v for k, v in self._read_options().items() if k not in ("columns", "key_columns")}
        opts["table"] = opts.get("table") or "preview"

        def again(_s: Session, p: Principal) -> dict[str, Any]:
            from portal.ingest.schema import ImportOptions
            from portal.specs import parse_spec

            path, filename = imports.upload_file(home, p, upload_id)
            return imports.preview(path, filename, parse_spec(ImportOptions, opts)).to_dict()

        pv = run(self.ctx, again)
        if pv is not None:
            self._show_preview(pv)

    # -- step 2: the import --------------------------------------------------------------
    def _start(self) -> None:
        if not self.upload_id:
            notify_error("Choose a file first")
            return
        opts, home, upload_id = self._read_options(), self.ctx.settings.home, self.upload_id
        started = run(self.ctx, lambda s, p: _started(imports.start_import(s, p, upload_id, opts, home=home)))
        if started is None:
            return  # the error is on screen (a notification naming the field)
        info, submission = started
        try:
            submission.enqueue(self.ctx.redis)
        except Exception:
            log.exception("import %s: job not enqueued", info["id"])
            notify_error("The import was recorded but could not be queued; try again in a moment")
            return
        self.import_id = int(info["id"])
        self.setup.visible, self.running.visible = False, True
        self.outcome.object, self.dashboard_button.visible, self.cancel.visible = "", False, True
        self._show_progress(info)
        if self._poller is None:
            self._poller = pn.state.add_periodic_callback(self._poll, period=POLL_MS)

    def _poll(self) -> None:
        iid = self.import_id
        if iid is None:
            return
        info = run(self.ctx, lambda s, p: imports.import_to_dict(imports.get_import(s, p, iid)))
        if info is None:
            self._stop_polling()
            return
        self._show_progress(info)
        if info["status"] in ("done", "failed", "canceled"):
            self._stop_polling()
            self._finished(info)

    def _stop_polling(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller = None

    def _show_progress(self, info: dict[str, Any]) -> None:
        self.progress.value = percent(info)
        colors: dict[str, Any] = {"failed": "danger", "canceled": "secondary"}
        self.progress.bar_color = colors.get(info["status"], "primary")
        self.progress_text.object = f"{info['status'].capitalize()}: {progress_line(info)}"

    def _finished(self, info: dict[str, Any]) -> None:
        self.cancel.visible = False
        name = str(info.get("source_name") or "")
        e = html.escape
        lines = [
            f"<p><b>{e(info['status'].capitalize())}</b>: {info.get('rows_read', 0):,} rows read, "
            f"<b>{info.get('rows_loaded', 0):,}</b> loaded into <code>{e(name)}</code>, "
            f"<b>{info.get('rows_rejected', 0):,}</b> rejected.</p>"
        ]
        if info.get("error"):
            lines.append(f"<p class='import-error' style='color:#b91c1c'>{e(str(info['error']))}</p>")
        if info.get("has_report"):
            lines.append(
                f"<p><a class='bad-rows' href='/data/imports/{int(info['id'])}/bad-rows' download>"
                "Download the bad-row report</a> (row, column, reason, value)</p>"
            )
        if info["status"] == "done":
            lines.append(
                f"<p><a href='/reports?source={quote(name)}'>Explore it in the report builder</a></p>"
            )
            self.dashboard_button.visible = True
            notify(f"Imported {info.get('rows_loaded', 0):,} rows into {name}")
        self.outcome.object = "".join(lines)
        self._refresh_lists()

    def _cancel(self) -> None:
        iid = self.import_id
        if iid is None:
            return
        canceled = run(self.ctx, lambda s, p: imports.cancel_import(s, p, iid).status, success="Canceled")
        if canceled is not None:
            self._poll()

    def _new_dashboard(self) -> None:
        """A new private dashboard with the table's row count and its first rows."""
        iid = self.import_id
        if iid is None:
            return
        info = run(self.ctx, lambda s, p: imports.import_to_dict(imports.get_import(s, p, iid)))
        if info is None:
            return
        name = str(info["source_name"])

        def make(s: Session, p: Principal) -> int:
            catalog = self.ctx.warehouse.catalog_for(p.scope.tenant_key)
            source = catalog.source(name)
            d = dashboards.create_dashboard(s, p, {"name": source.label or name}, catalog=catalog)
            kpi = {
                "type": "kpi",
                "title": "Rows",
                "query": {"source": name, "metrics": [{"agg": "count", "as": "rows"}]},
                "kpi": {"value": "rows", "label": "Rows", "compare_previous": False},
            }
            table = {"type": "table", "title": source.label or name,
                     "query": {"source": name, "columns": source.column_names[:12], "limit": 500},
                     "table": {"totals": False, "page_size": 25}}  # fmt: skip
            dashboards.add_widget(s, p, d.id, kpi, {"x": 0, "y": 0, "w": 3, "h": 3}, catalog=catalog)
            dashboards.add_widget(s, p, d.id, table, {"x": 0, "y": 3, "w": 12, "h": 8}, catalog=catalog)
            return int(d.id)

        did = run(self.ctx, make, success="Dashboard created")
        if did is not None:
            self.dashboard_button.visible = False
            self.outcome.object += (
                f"<p><a class='new-dashboard' href='/dashboard?id={did}'>Open the new dashboard</a></p>"
            )

    # -- lists ---------------------------------------------------------------------------
    def _refresh_lists(self) -> None:
        def load(s: Session, p: Principal) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            done = [imports.import_to_dict(r) for r in imports.list_imports(s, p, limit=20)]
            own = [
                {
                    "source": r.name,
                    "label": r.label,
                    "origin": r.origin,
                    "rows": r.row_count,
                    "columns": len(r.columns_json or []),
                    "refreshed": r.refreshed_at,
                }
                for r in list_source_rows(s, p.tenant_id)
            ]
            return done, own

        loaded = run(self.ctx, load)
        if loaded is None:
            return
        done, own = loaded
        cols = ["id", "filename", "source_name", "status", "rows_loaded", "rows_rejected", "created_at"]
        self.history.value = pd.DataFrame([{k: d.get(k) for k in cols} for d in done], columns=cols)
        self.sources.value = pd.DataFrame(
            own, columns=["source", "label", "origin", "rows", "columns", "refreshed"]
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "## Import a file\nCSV (any delimiter and encoding) or XLSX. Rows that do not fit are "
                "listed in a bad-row report; the others are loaded. The new table is yours to query at once."
            ),
            pn.pane.Markdown("### 1. Choose a file"),
            self.upload,
            self.upload_bar,
            self.upload_text,
            self.setup,
            self.running,
            pn.pane.Markdown(
                "## Your data sources\nAdministrators connect databases and REST sources, and set "
                "quality checks, under [Admin → Data sources](/admin/data)."
            ),
            self.sources,
            pn.pane.Markdown("## Recent imports"),
            self.history,
            sizing_mode="stretch_width",
        )


def _started(pair: tuple[Any, Any]) -> tuple[dict[str, Any], Any]:
    run_row, submission = pair
    return imports.import_to_dict(run_row), submission
