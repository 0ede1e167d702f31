"""Report library: the reports a user may see (mine / my team / public), their owners and last runs,
"Run now", the run history, "Open in builder", and the trash.

Reports saved from a notebook (``conn.save_report(..., publish=True)``) are listed here like any other.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import pandas as pd
import panel as pn
import param

from components.session import alert, escape_md, notify, notify_error, run
from components.sharing_link import ShareLink
from components.sharing_people import SharePeople
from components.trash import ConfirmDelete, UndoToast, ago, trash_view
from portal import dashboards, reports
from portal.context import AppContext
from portal.identity.permissions import can
from portal.identity.principal import Principal
from portal.jobstore import get_job
from portal.models import JobRecord, search_key
from portal.queue.states import FINISHED
from portal.reports import runs

log = logging.getLogger(__name__)

#: How often a run's job is looked at while the page waits for it (ms).
FOLLOW_MS = 400

GROUPS = {"Mine": "mine", "My team": "team", "Public": "public", "Trash": "trash"}
#: Columns of the listing, in order (``id`` is hidden: it identifies the selected row).
LIST_COLUMNS = ["id", "Name", "Owner", "Last run", "Status", "Rows", "Runtime"]
HISTORY_COLUMNS = ["When", "Status", "Rows", "Runtime", "By"]


class _Table(pn.widgets.Tabulator):
    """A Tabulator whose clicks on rows of a replaced listing are dropped.

    A click the browser sent just before the server swapped the listing (a search) names a row
    the new frame may not have; Panel would fail the callback and the user would see an error.
    """

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("report library: dropped a click on a row of a replaced listing")


def _runtime(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def _rows(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def _when(iso: str | None, *, relative: bool = True) -> str:
    if not iso:
        return "never"
    t = pd.Timestamp(iso)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return f"{t:%Y-%m-%d %H:%M} UTC" + (f" ({ago(t.to_pydatetime())})" if relative else "")


class ReportLibrary(pn.viewable.Viewer):
    """Lists reports; the selected one shows its details, "Run now" and its run history."""

    group = param.Selector(default="Mine", objects=list(GROUPS), doc="Which reports to list")
    search = param.String(default="", doc="Text to look for in names and descriptions (accents ignored)")
    selected = param.Integer(default=None, allow_None=True, doc="Id of the report shown in detail")
    version = param.Integer(default=0, doc="Bumped to reload after an action")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._entries: list[dict[str, Any]] = []
        self._table = _Table(
            pd.DataFrame(columns=LIST_COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["id"],
            pagination="local",
            page_size=15,
            layout="fit_data_stretch",
            widths={"Last run": 100, "Status": 95, "Rows": 75, "Runtime": 90},
            # Text columns of formatted values would sort as text ("9 ms" after "10 ms"): not sortable.
            sortable={"Last run": False, "Rows": False, "Runtime": False},
            sizing_mode="stretch_width",
            css_classes=["report-list"],
        )
        self._table.param.watch(self._on_select, "selection")
        self._empty = pn.pane.Markdown("", visible=False, css_classes=["no-reports"])
        self._listing = pn.Column(self._table, self._empty, sizing_mode="stretch_width")
        #: "Share with people" for the selected report (shown to its owner and admins only).
        self._share = SharePeople(ctx, object_type="report")
        self._link = ShareLink(ctx, object_type="report")
        self._share.buttons.append(self._link.button)
        self._detail = pn.Column(
            sizing_mode="stretch_width",
            css_classes=["report-detail"],
            styles={"background": "white", "border-radius": "10px", "flex": "2 1 380px", "padding": "4px"},
        )
        self._outcome = pn.Column(sizing_mode="stretch_width", css_classes=["run-outcome"])
        self._watch: Any = None  # the periodic check of a run on its way
        self._trash = pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["report-trash"])
        self._toast = UndoToast()
        self.param.watch(lambda *_: self._reload(), ["group", "search", "version"])
        self.param.watch(lambda *_: self._show_detail(), ["selected"])
        self._reload()

    # -- loading -------------------------------------------------------------------
    def _reload(self) -> None:
        kind = GROUPS[self.group]
        self._trash.visible = kind == "trash"
        self._listing.visible = self._detail.visible = kind != "trash"
        if kind == "trash":
            self._trash.objects = self._trash_rows()
            return

        def load(s: Any, p: Principal) -> list[dict[str, Any]]:
            entries = reports.report_library(s, p, group=kind, search=self.search or None)
            return [reports.entry_to_dict(e, p) for e in entries]

        self._entries = run(self.ctx, load) or []
        rows = []
        for e in self._entries:
            last = e["last_run"] or {}
            rows.append(
                {
                    "id": e["id"],
                    "Name": e["name"],
                    "Owner": e["owner_name"] or "",
                    "Last run": ago(pd.Timestamp(last["executed_at"]).to_pydatetime()) if last else "never",
                    "Status": last.get("status", ""),
                    "Rows": _rows(last.get("row_count")),
                    "Runtime": _runtime(last.get("runtime_ms")),
                }
            )
        self._table.value = pd.DataFrame(rows, columns=LIST_COLUMNS)
        matching = f" matching “{escape_md(self.search)}”" if self.search else ""
        self._empty.object = f"*No reports in “{escape_md(self.group)}”{matching}.*"
        self._empty.visible = not rows
        self._table.visible = bool(rows)
        ids = [e["id"] for e in self._entries]
        if self.selected not in ids:
            self.selected = ids[0] if ids else None
        else:
            self._show_detail()
        if self.selected in ids:
            self._table.selection = [ids.index(self.selected)]

    def _on_select(self, event: Any) -> None:
        if event.new and event.new[0] < len(self._table.value):
            rid = int(self._table.value.iloc[event.new[0]]["id"])
            if rid != self.selected:
                self._outcome.objects = []
                self.selected = rid

    def _entry(self) -> dict[str, Any] | None:
        return next((e for e in self._entries if e["id"] == self.selected), None)

    # -- detail ----------------------------------------------------------------------
    def _show_detail(self) -> None:
        e = self._entry()
        if e is None:
            self._detail.objects = [pn.pane.Markdown("*Select a report to see its runs.*", margin=(10, 15))]
            return

        def load(s: Any, p: Principal) -> tuple[list[dict[str, Any]], dict[int, str], bool]:
            r = reports.get_report(s, p, e["id"])
            runs = reports.list_executions(s, p, r.id, limit=50)
            names = reports.user_names(s, {x.executed_by for x in runs})
            return [reports.execution_to_dict(x, p) for x in runs], names, can(s, p, "delete", r)

        got = run(self.ctx, load)
        if got is None:  # deleted or unshared meanwhile
            self.version += 1
            return
        history, names, may_delete = got
        run_now = pn.widgets.Button(
            name="Run now", button_type="primary", width=110, css_classes=["run-now"], margin=(5, 5)
        )
        run_now.on_click(lambda _: self._run_now(e["id"]))
        builder = pn.pane.HTML(
            f'<a class="open-builder" href="/reports?id={int(e["id"])}" style="display:inline-block;'
            "padding:6px 12px;border:1px solid #0b5cad;border-radius:4px;color:#0b5cad;text-decoration:none;"
            'font-size:14px;white-space:nowrap">Open in builder</a>',
            margin=(5, 5),
        )
        actions: list[Any] = [run_now, builder]
        if may_delete:
            actions.append(ConfirmDelete(lambda: self._delete(e["id"], e["name"])))
        last = e["last_run"]
        last_text = "never run"
        if last:
            rows = f" · {_rows(last['row_count'])} rows" if last.get("row_count") is not None else ""
            last_text = (
                f"{html.escape(last['status'])} {_when(last['executed_at'])}{rows}"
                f" · {_runtime(last.get('runtime_ms'))}"
            )
        published = " · published" if e.get("published") else ""
        head = pn.pane.HTML(
            f'<div style="font-size:18px;font-weight:600;overflow-wrap:anywhere">{html.escape(e["name"])}</div>'
            f'<div style="color:#475569;font-size:13px;margin:4px 0;overflow-wrap:anywhere">'
            f"{html.escape(e.get('description') or '')}</div>"
            f'<div style="font-size:13px">Owner: <b>{html.escape(e["owner_name"] or "—")}</b> · '
            f"{html.escape(e['visibility'])}{published}</div>"
            f'<div style="font-size:13px;margin-top:2px" class="last-run">Last run: {last_text}</div>',
            sizing_mode="stretch_width",
            css_classes=["report-head"],
        )
        frame = pd.DataFrame(
            [
                {
                    "When": _when(x["executed_at"], relative=False),
                    "Status": x["status"],
                    "Rows": _rows(x["row_count"]),
                    "Runtime": _runtime(x["runtime_ms"]),
                    "By": names.get(x["executed_by"], "") if x["executed_by"] else "",
                }
                for x in history
            ],
            columns=HISTORY_COLUMNS,
        )
        table: Any = (
            pn.widgets.Tabulator(
                frame,
                disabled=True,
                show_index=False,
                pagination="local",
                page_size=10,
                layout="fit_columns",
                sortable=False,
                widths={"When": 165, "Status": 70, "Rows": 70, "Runtime": 85},
                sizing_mode="stretch_width",
                css_classes=["run-history"],
            )
            if history
            else pn.pane.Markdown("*No runs yet: “Run now” runs it and records the run here.*")
        )
        self._share.object_id = self._link.object_id = e["id"]
        self._detail.objects = [
            head,
            pn.Row(*actions, styles={"flex-wrap": "wrap"}),
            self._share,
            self._link,
            self._outcome,
            pn.pane.HTML(
                '<div style="font-weight:600;font-size:15px;margin-top:6px">Run history</div>'
                '<div style="color:#64748b;font-size:12px">Row counts show for your own runs only: '
                "others see the data under their own access.</div>",
                sizing_mode="stretch_width",
                margin=(5, 10),
            ),
            table,
        ]

    # -- actions -------------------------------------------------------------------
    def _run_now(self, report_id: int) -> None:
        """Put a run on the job queue and follow its job until it ends (the page stays usable)."""
        sub = run(self.ctx, lambda s, p: runs.submit_run(s, p, report_id, self.ctx.warehouse))
        if sub is None:
            self._outcome.objects = [alert("The report could not run (see the message).", "danger")]
            return
        try:
            sub.enqueue(self.ctx.redis)
        except Exception:
            log.exception("run of report %s: could not enqueue job %s", report_id, sub.record.id)
            notify_error("The job queue is not reachable: the run stays queued and starts when it is back.")
        self._show_job(sub.record)
        self._follow(sub.record.id)

    def _show_job(self, job: JobRecord) -> None:
        words = {
            "queued": "Queued",
            "running": "Running",
            "waiting": "Waiting",
            "deferred": "Deferred",
            "retrying": "Retrying",
        }
        text = f"{words.get(job.status, job.status.capitalize())} (job {job.id})"
        if job.status_reason:
            text += f": {job.status_reason}"
        self._outcome.objects = [alert(text + "…", "info", css_classes=["run-result", "run-pending"])]

    def _follow(self, job_id: int) -> None:
        if self._watch is not None:
            self._watch.stop()

        def check() -> None:
            job = run(self.ctx, lambda s, p: self._job_outcome(s, p, job_id))
            if job is None:
                return
            record, ex = job
            if record.status not in FINISHED:
                self._show_job(record)
                return
            if self._watch is not None:
                self._watch.stop()
                self._watch = None
            self._finished(record, ex)

        self._watch = pn.state.add_periodic_callback(check, period=FOLLOW_MS)

    @staticmethod
    def _job_outcome(s: Any, p: Principal, job_id: int) -> tuple[JobRecord, dict[str, Any] | None]:
        record = get_job(s, p, job_id)
        ex = runs.execution_of(s, record)
        return record, None if ex is None else reports.execution_to_dict(ex, p)

    def _finished(self, record: JobRecord, out: dict[str, Any] | None) -> None:
        if out is not None and out["status"] == "done":
            text = f"Done: {_rows(out['row_count'])} rows in {_runtime(out['runtime_ms'])}."
            box = alert(text, "success", css_classes=["run-result"])
        elif out is not None:
            why = (out.get("meta") or {}).get("error", "")
            box = alert(
                f"{out['status'].capitalize()}: {why}".strip(": "), "danger", css_classes=["run-result"]
            )
        else:
            why = record.last_error or record.status_reason or record.status
            box = alert(f"{record.status.capitalize()}: {why}", "danger", css_classes=["run-result"])
        self.version += 1  # new last run in the list and a new line in the history
        self._outcome.objects = [box]

    def _delete(self, report_id: int, name: str) -> None:
        def delete(s: Any, p: Principal) -> bool:
            reports.delete_report(s, p, report_id)
            return True

        if run(self.ctx, delete):
            self._toast.offer(f"“{name}” moved to the trash.", lambda: self._restore(report_id))
            self.selected = None
        self.version += 1

    def _restore(self, report_id: int) -> None:
        name = run(self.ctx, lambda s, p: reports.restore_report(s, p, report_id).name)
        if name is not None:
            notify(f"Restored {name}")
        self.version += 1

    def _trash_rows(self) -> list[pn.viewable.Viewable]:
        def load(s: Any, p: Principal) -> list[reports.TrashItem]:
            dashboards.purge_trash(s, tenant_id=p.tenant_id, results_dir=self.ctx.settings.results_dir)
            return reports.list_report_trash(s, p)

        items = run(self.ctx, load) or []
        if self.search.strip():
            folded = search_key(self.search.strip())
            items = [i for i in items if folded in search_key(i.name)]
        return trash_view(items, self._restore, "reports", reports.TRASH_DAYS)

    def __panel__(self) -> pn.viewable.Viewable:
        tabs = pn.widgets.RadioButtonGroup.from_param(
            self.param.group,
            description=None,
            button_type="primary",
            button_style="outline",
            css_classes=["library-tabs"],
        )
        search = pn.widgets.TextInput.from_param(
            self.param.search,
            name="",
            description=None,
            placeholder="Search reports…",
            width=260,
            css_classes=["library-search"],
        )
        new = pn.pane.HTML(
            '<a href="/reports" style="display:inline-block;padding:7px 14px;background:#0b5cad;color:white;'
            'border-radius:4px;text-decoration:none;font-size:14px;white-space:nowrap">New report</a>',
            margin=(8, 10),
        )
        body = pn.FlexBox(
            pn.Column(self._listing, sizing_mode="stretch_width", styles={"flex": "3 1 640px"}),
            self._detail,
            self._trash,
            gap="16px",
            sizing_mode="stretch_width",
        )
        return pn.Column(
            pn.Row(tabs, search, pn.layout.HSpacer(), new),
            self._toast,
            body,
            sizing_mode="stretch_width",
            css_classes=["report-library"],
        )
