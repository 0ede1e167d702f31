"""The job monitor: a tenant's jobs with their state and reason, cancel/retry, the workers, the
queue lag and throughput of the last hour, refreshed live; admins change limits and off-peak windows.

Everything shown comes from :mod:`portal.jobqueue.monitor` and :mod:`portal.jobstore` (tenant
scoped there); callbacks are a few lines around them. The page refreshes itself every
:data:`REFRESH_SECONDS` with a periodic callback that stops with the session.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource

from components.job_charts import POOL_COLOURS, activity_data, lag_figure, throughput_figure
from components.session import notify, notify_error, run, user_session
from components.trash import ago
from portal.context import AppContext
from portal.errors import AuthenticationFailed, PortalError
from portal.identity.principal import Principal
from portal.jobqueue import monitor
from portal.jobstore import counts_by_state, list_jobs
from portal.jobstore.settings import save_tenant_limits, save_tenant_offpeak, tenant_limits, tenant_offpeak
from portal.queue.states import JobState
from portal.specs import parse_spec
from portal.specs.jobs import JobClass, OffpeakConfigSpec, Priority, QueueLimitsSpec

log = logging.getLogger(__name__)

#: How often the page reloads jobs, workers and charts.
REFRESH_SECONDS = 5
ALL = "All"
LIST_COLUMNS = [
    "id",
    "Job",
    "Class",
    "State",
    "Reason",
    "Priority",
    "Attempts",
    "Worker",
    "Enqueued",
    "Started",
    "Finished",
    "Last error",
]
STATE_COLOURS = {
    "queued": "#64748b",
    "deferred": "#7c3aed",
    "waiting": "#b45309",
    "running": "#0b5cad",
    "retrying": "#c2410c",
    "failed": "#b91c1c",
    "done": "#15803d",
    "canceled": "#475569",
}
#: Limit fields of the admin form: (field, label, kind).
LIMIT_FIELDS = (
    ("max_running", "Jobs running at once", int),
    ("critical_cap", "Critical jobs at once", int),
    ("jobs_per_hour", "Jobs per hour", int),
    ("cpu_seconds_per_day", "CPU seconds per day", float),
    ("memory_mb", "Memory per job (MB)", int),
    ("heavy_rows", "Heavy from rows", int),
    ("job_ttl_hours", "Give up after (hours)", int),
)
DAYS = {"Mon": 0, "Tue": 1, "Wed": 2, "Thu": 3, "Fri": 4, "Sat": 5, "Sun": 6}


def _time(iso: str | None, *, short: bool = False) -> str:
    """UTC ``02 Dec 19:32:29``; with ``short``, today's times as ``19:32:29`` (narrow table columns)."""
    if not iso:
        return ""
    t = pd.Timestamp(iso)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if short and t.date() == datetime.now(UTC).date():
        return f"{t:%H:%M:%S}"
    return f"{t:%d %b %H:%M:%S}"


def _short(text: str | None, n: int = 120) -> str:
    if not text:
        return ""
    line = " ".join(text.split())
    return line if len(line) <= n else line[: n - 1] + "…"


class _Table(pn.widgets.Tabulator):
    """A Tabulator dropping clicks on rows of a listing replaced meanwhile (the live refresh)."""

    def _process_event(self, event: Any) -> None:
        try:
            super()._process_event(event)
        except (KeyError, IndexError):
            log.info("job monitor: dropped a click on a row of a replaced listing")


class JobMonitor(pn.viewable.Viewer):
    """Jobs of the signed-in user's tenant with filters, the selected job's details and actions,
    workers, charts of the last hour and, for admins, the tenant's limits and off-peak windows."""

    state = param.Selector(
        default=ALL, objects=[ALL, *[s.value for s in JobState]], doc="Show jobs in this state"
    )
    job_class = param.Selector(
        default=ALL, objects=[ALL, *[c.value for c in JobClass]], doc="Show jobs of this class"
    )
    priority = param.Selector(
        default=ALL, objects=[ALL, *[p.value for p in Priority]], doc="Show jobs of this priority"
    )
    selected = param.Integer(default=None, allow_None=True, doc="Id of the job shown in detail")
    live = param.Boolean(default=True, doc="Refresh every few seconds")
    version = param.Integer(default=0, doc="Bumped to reload after an action")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._jobs: list[dict[str, Any]] = []
        self._is_admin = False
        self._callback: Any = None
        self._counts = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["job-counts"])
        self._status = pn.pane.HTML("", css_classes=["refresh-status"], margin=(5, 10))
        self._table = _Table(
            pd.DataFrame(columns=LIST_COLUMNS),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["id"],
            pagination="local",
            page_size=12,
            layout="fit_data_stretch",
            sortable=False,
            widths={"Reason": 240},
            sizing_mode="stretch_width",
            css_classes=["job-list"],
        )
        self._table.param.watch(self._on_select, "selection")
        self._empty = pn.pane.Markdown(
            "*No jobs match these filters.*", visible=False, css_classes=["no-jobs"]
        )
        self._detail = pn.Column(
            sizing_mode="stretch_width",
            css_classes=["job-detail"],
            styles={"background": "white", "border-radius": "10px", "padding": "4px"},
        )
        self._workers = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["workers-panel"])
        self._lag_source = ColumnDataSource(
            {"t": [], "done": [], "failed": [], **{p: [] for p in POOL_COLOURS}}
        )
        self._tp_source = ColumnDataSource({"t": [], "done": [], "failed": []})
        self._lag_pane = pn.pane.Bokeh(lag_figure(self._lag_source), sizing_mode="stretch_width")
        self._tp_pane = pn.pane.Bokeh(
            throughput_figure(self._tp_source, STATE_COLOURS), sizing_mode="stretch_width"
        )
        self._admin = pn.Column(sizing_mode="stretch_width", visible=False, css_classes=["job-admin"])
        self._offpeak = OffpeakConfigSpec()
        self._window_list = pn.Column(sizing_mode="stretch_width", css_classes=["offpeak-windows"])
        self.param.watch(lambda *_: self.refresh(), ["state", "job_class", "priority", "version"])
        self.param.watch(lambda *_: self._show_detail(), ["selected"])
        self.refresh()
        self._build_admin()

    # -- live refresh --------------------------------------------------------------
    def start_live(self) -> None:
        """Refresh every :data:`REFRESH_SECONDS` in this session; stops when the session ends."""
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None or self._callback is not None:
            return
        self._callback = pn.state.add_periodic_callback(self._tick, period=REFRESH_SECONDS * 1000)
        pn.state.on_session_destroyed(lambda _ctx: self.stop_live())

    def stop_live(self) -> None:
        """Stop the periodic refresh (the session ended, or the user paused it)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def _tick(self) -> None:
        if self.live:
            self.refresh(quiet=True)

    def _filters(self) -> dict[str, str | None]:
        return {
            "state": None if self.state == ALL else self.state,
            "job_class": None if self.job_class == ALL else self.job_class,
            "priority": None if self.priority == ALL else self.priority,
        }

    def refresh(self, quiet: bool = False) -> None:
        """Reload jobs, counts, workers and charts in one transaction (errors shown, never raised)."""
        filters = self._filters()

        def load(s: Any, p: Principal) -> dict[str, Any]:
            rows = list_jobs(
                s,
                p,
                state=filters["state"],
                job_class=filters["job_class"],
                priority=filters["priority"],
                limit=200,
            )
            return {
                "jobs": [monitor.job_to_dict(j, p) for j in rows],
                "counts": counts_by_state(s, p),
                "workers": monitor.workers_overview(s, p, self.ctx.redis),
                "activity": monitor.recent_activity(s, p),
                "admin": p.is_admin,
            }

        try:
            with user_session(self.ctx) as (session, principal):
                got = load(session, principal)
        except AuthenticationFailed:
            self.stop_live()
            self._status.object = (
                '<span style="color:#b91c1c">Your session has ended: reload the page.</span>'
            )
            return
        except PortalError as exc:
            if quiet:
                self._status.object = f'<span style="color:#b91c1c">{html.escape(exc.message)}</span>'
            else:
                notify_error(exc.message)
            return
        self._is_admin = bool(got["admin"])
        self._jobs = got["jobs"]
        self._show_counts(got["counts"])
        self._show_jobs()
        self._show_workers(got["workers"])
        data = activity_data(got["activity"])
        self._lag_source.data = {k: data[k] for k in ("t", "done", "failed", *POOL_COLOURS)}
        self._tp_source.data = {k: data[k] for k in ("t", "done", "failed")}
        self._status.object = (
            f'<span style="color:#64748b;font-size:12px">Updated {datetime.now(UTC):%H:%M:%S} UTC'
            f"{' · live every ' + str(REFRESH_SECONDS) + ' s' if self.live else ' · paused'}</span>"
        )

    # -- listing ---------------------------------------------------------------------
    def _show_counts(self, counts: dict[str, int]) -> None:
        chips = "".join(
            f'<span class="count-{s}" style="display:inline-block;margin:2px 6px 2px 0;padding:2px 10px;'
            f'border-radius:12px;background:{STATE_COLOURS.get(s, "#64748b")};color:white;font-size:13px">'
            f"{html.escape(s)} {n}</span>"
            for s, n in counts.items()
        )
        self._counts.object = f"<div>{chips}</div>"

    def _show_jobs(self) -> None:
        rows = [
            {
                "id": j["id"],
                "Job": f"#{int(j['id'])}",
                "Class": j["job_class"],
                "State": j["state"],
                "Reason": _short(j["reason"]),
                "Priority": j["priority"],
                "Attempts": f"{j['attempts']}/{j['max_attempts']}",
                "Worker": j["worker"] or "",
                "Enqueued": _time(j["enqueued_at"], short=True),
                "Started": _time(j["started_at"], short=True),
                "Finished": _time(j["finished_at"], short=True),
                "Last error": _short(j["last_error"]),
            }
            for j in self._jobs
        ]
        frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
        if not frame.equals(self._table.value):
            self._table.value = frame
        self._empty.visible = not rows
        self._table.visible = bool(rows)
        ids = [j["id"] for j in self._jobs]
        if self.selected in ids:
            index = ids.index(self.selected)
            if self._table.selection != [index]:
                self._table.selection = [index]
            self._show_detail()
        elif self.selected is not None:
            self.selected = None
        else:
            self._show_detail()

    def _on_select(self, event: Any) -> None:
        if event.new and event.new[0] < len(self._table.value):
            jid = int(self._table.value.iloc[event.new[0]]["id"])
            if jid != self.selected:
                self.selected = jid

    def _job(self) -> dict[str, Any] | None:
        return next((j for j in self._jobs if j["id"] == self.selected), None)

    def _show_detail(self) -> None:
        j = self._job()
        if j is None:
            self._detail.objects = [
                pn.pane.Markdown("*Select a job to see its details, cancel or retry it.*", margin=(10, 15))
            ]
            return
        colour = STATE_COLOURS.get(j["state"], "#64748b")
        lines = [
            ("Class", j["job_class"]),
            ("Pool / priority", f"{j['pool']} / {j['priority']}"),
            ("Attempts", f"{j['attempts']} of {j['max_attempts']}"),
            ("Worker", j["worker"] or "—"),
            ("Enqueued", _time(j["enqueued_at"]) or "—"),
            ("Started", _time(j["started_at"]) or "—"),
            ("Finished", _time(j["finished_at"]) or "—"),
        ]
        if j["not_before"]:
            lines.append(("Not before", _time(j["not_before"])))
        if j["scheduled_for"]:
            lines.append(("Fire time", _time(j["scheduled_for"])))
        table = "".join(
            f'<tr><td style="color:#64748b;padding-right:10px">{html.escape(k)}</td>'
            f"<td>{html.escape(str(v))}</td></tr>"
            for k, v in lines
        )
        reason = (
            f'<div class="job-reason" style="margin:6px 0;font-size:14px">{html.escape(j["reason"])}</div>'
            if j["reason"]
            else ""
        )
        error = (
            '<div style="font-weight:600;margin-top:6px">Last error</div>'
            '<pre class="job-error" style="white-space:pre-wrap;overflow-wrap:anywhere;background:#fef2f2;'
            f'padding:6px;border-radius:6px;font-size:12px;max-height:180px;overflow:auto">{html.escape(j["last_error"])}</pre>'
            if j["last_error"]
            else ""
        )
        head = pn.pane.HTML(
            f'<div style="font-size:17px;font-weight:600">Job #{int(j["id"])} '
            f'<span class="job-state" style="background:{colour};color:white;border-radius:10px;padding:1px 9px;'
            f'font-size:13px;vertical-align:middle">{html.escape(j["state"])}</span></div>'
            f"{reason}<table style='font-size:13px'>{table}</table>{error}",
            sizing_mode="stretch_width",
            css_classes=["job-head"],
        )
        cancel = pn.widgets.Button(
            name="Cancel job",
            button_type="danger",
            button_style="outline",
            width=120,
            disabled=not j["can_cancel"],
            css_classes=["cancel-job"],
            margin=(5, 5),
        )
        retry = pn.widgets.Button(
            name="Retry",
            button_type="primary",
            width=100,
            disabled=not j["can_retry"],
            css_classes=["retry-job"],
            margin=(5, 5),
        )
        cancel.on_click(lambda _: self._cancel(int(j["id"])))
        retry.on_click(lambda _: self._retry(int(j["id"])))
        self._detail.objects = [head, pn.Row(cancel, retry)]

    # -- actions -----------------------------------------------------------------------
    def _cancel(self, job_id: int) -> None:
        record = run(self.ctx, lambda s, p: monitor.cancel_job(s, p, job_id))
        if record is not None:
            outcome = monitor.withdraw(self.ctx.redis, record)  # after the commit, as the API does
            notify(
                f"Job {job_id} canceled"
                + (" (its worker was told to stop)" if outcome.action == "stop-sent" else "")
            )
        self.version += 1

    def _retry(self, job_id: int) -> None:
        record = run(self.ctx, lambda s, p: monitor.retry_job(s, p, job_id))
        if record is not None:
            queued = monitor.requeue(self.ctx.redis, record)
            notify(
                f"Job {job_id} queued again" if queued else f"Job {job_id} will be queued once Redis is back"
            )
        self.version += 1

    # -- workers -----------------------------------------------------------------------
    def _show_workers(self, overview: dict[str, Any]) -> None:
        cards = []
        for pool in overview["pools"]:
            queues = " · ".join(
                f"{html.escape(q['name'].split(':', 1)[1])} {int(q['length'])}" for q in pool["queues"]
            )
            rows = []
            for w in pool["workers"]:
                job = w["current_job"]
                if isinstance(job, dict):
                    doing = f"job #{int(job['id'])} {html.escape(job['job_class'])}"
                elif job:
                    doing = html.escape(str(job))
                else:
                    doing = "idle"
                beat = pd.Timestamp(w["last_heartbeat"]).to_pydatetime() if w["last_heartbeat"] else None
                rows.append(
                    f'<tr><td style="overflow-wrap:anywhere">{html.escape(w["name"])}</td>'
                    f"<td>{html.escape(w['state'])}</td><td>{doing}</td><td>{html.escape(ago(beat))}</td>"
                    f"<td>{int(w['successful_jobs'])} / {int(w['failed_jobs'])}</td></tr>"
                )
            body = (
                "<table style='width:100%;font-size:13px;border-collapse:collapse'>"
                "<tr style='color:#64748b;text-align:left'><th>Worker</th><th>State</th><th>Current job</th>"
                "<th>Heartbeat</th><th>Done / failed</th></tr>" + "".join(rows) + "</table>"
                if rows
                else "<div style='color:#64748b;font-size:13px'>No worker is running for this pool.</div>"
            )
            cards.append(
                f'<div class="pool-card pool-{html.escape(pool["pool"])}" style="flex:1 1 420px;background:white;'
                'border-radius:10px;padding:8px 12px;margin:4px">'
                f'<div style="font-weight:600;font-size:15px">{html.escape(pool["pool"])} pool</div>'
                f'<div style="font-size:12px;color:#475569;margin-bottom:4px">queued: {queues}</div>{body}</div>'
            )
        limits = overview["limits"]["effective"]
        shown = [
            (label, limits.get(field)) for field, label, _ in LIMIT_FIELDS if limits.get(field) is not None
        ]
        per_class = ", ".join(
            f"{html.escape(k)} {int(v)}" for k, v in sorted((limits.get("per_class") or {}).items())
        )
        limit_html = " · ".join(f"{html.escape(k)}: <b>{html.escape(str(v))}</b>" for k, v in shown)
        error = (
            f"<div style='color:#b91c1c'>{html.escape(overview['redis_error'])}</div>"
            if overview.get("redis_error")
            else ""
        )
        self._workers.object = (
            f"{error}<div style='display:flex;flex-wrap:wrap'>{''.join(cards)}</div>"
            f"<div class='limits' style='font-size:13px;margin:6px 4px'>Limits of your tenant: {limit_html}"
            f"<br><span style='color:#64748b'>Per job class (global): {per_class}</span></div>"
        )

    # -- admin ---------------------------------------------------------------------------
    def _build_admin(self) -> None:
        if not self._is_admin:
            self._admin.visible = False
            return

        def load(s: Any, p: Principal) -> tuple[QueueLimitsSpec, OffpeakConfigSpec]:
            return tenant_limits(s, p.tenant_id), tenant_offpeak(s, p.tenant_id)

        got = run(self.ctx, load)
        if got is None:
            return
        limits, offpeak = got
        self._offpeak = offpeak
        inputs: dict[str, Any] = {}
        for field, label, kind in LIMIT_FIELDS:
            widget = pn.widgets.FloatInput if kind is float else pn.widgets.IntInput
            inputs[field] = widget(
                name=label,
                value=getattr(limits, field),
                placeholder="global default",
                width=170,
                css_classes=[f"limit-{field}"],
            )
        save = pn.widgets.Button(
            name="Save limits", button_type="primary", width=130, css_classes=["save-limits"]
        )
        save.on_click(lambda _: self._save_limits({k: w.value for k, w in inputs.items()}))
        self._show_windows()
        tz = pn.widgets.TextInput(name="Time zone", value="UTC", width=190, css_classes=["window-timezone"])
        start = pn.widgets.TextInput(
            name="From (HH:MM)", value="22:00", width=110, css_classes=["window-start"]
        )
        end = pn.widgets.TextInput(name="To (HH:MM)", value="06:00", width=110, css_classes=["window-end"])
        days = pn.widgets.CheckButtonGroup(
            name="Days",
            options=DAYS,
            value=list(DAYS.values()),
            button_type="primary",
            button_style="outline",
            css_classes=["window-days"],
        )
        add = pn.widgets.Button(
            name="Add window", button_type="primary", width=130, css_classes=["add-window"]
        )
        add.on_click(
            lambda _: self._add_window(
                {"timezone": tz.value, "start": start.value, "end": end.value, "weekdays": list(days.value)}
            )
        )
        self._admin.objects = [
            pn.pane.HTML(
                "<h3 style='margin:4px 0'>Limits and quotas of your tenant</h3>"
                "<div style='color:#64748b;font-size:12px'>Empty fields take the global value.</div>"
            ),
            pn.FlexBox(*inputs.values(), save, align_items="flex-end"),
            pn.pane.HTML(
                "<h3 style='margin:10px 0 4px'>Off-peak windows</h3>"
                "<div style='color:#64748b;font-size:12px'>Heavy and off-peak-only jobs wait for one of "
                "these windows; without any, the global windows apply.</div>"
            ),
            self._window_list,
            pn.FlexBox(tz, start, end, days, add, align_items="flex-end"),
        ]
        self._admin.visible = True

    def _save_limits(self, values: dict[str, Any]) -> None:
        def save(s: Any, p: Principal) -> QueueLimitsSpec:
            spec = parse_spec(QueueLimitsSpec, {k: v for k, v in values.items() if v is not None})
            return save_tenant_limits(s, p, spec)

        if run(self.ctx, save, success="Limits saved") is not None:
            self.version += 1

    def _show_windows(self) -> None:
        rows: list[Any] = []
        for i, w in enumerate(self._offpeak.windows):
            names = ", ".join(k for k, v in DAYS.items() if v in w.weekdays)
            text = pn.pane.HTML(
                f"<span style='font-size:14px'>{w.start:%H:%M}–{w.end:%H:%M} {html.escape(w.timezone)} · "
                f"{html.escape(names)}</span>",
                margin=(8, 10),
            )
            remove = pn.widgets.Button(name="Remove", button_type="danger", button_style="outline", width=90)
            remove.on_click(lambda _, i=i: self._remove_window(i))
            rows.append(pn.Row(text, remove, css_classes=["offpeak-window"]))
        if not rows:
            rows.append(pn.pane.HTML("<i style='font-size:13px'>No windows of your own.</i>", margin=(5, 10)))
        self._window_list.objects = rows

    def _store_offpeak(self, windows: list[Any], success: str) -> None:
        maintenance = [m.model_dump(mode="json") for m in self._offpeak.maintenance]

        def save(s: Any, p: Principal) -> OffpeakConfigSpec:
            spec = parse_spec(OffpeakConfigSpec, {"windows": windows, "maintenance": maintenance})
            return save_tenant_offpeak(s, p, spec)

        stored = run(self.ctx, save, success=success)
        if stored is not None:
            self._offpeak = stored
            self._show_windows()

    def _add_window(self, window: dict[str, Any]) -> None:
        existing = [w.model_dump(mode="json") for w in self._offpeak.windows]
        self._store_offpeak([*existing, window], "Off-peak window added")

    def _remove_window(self, index: int) -> None:
        existing = [w.model_dump(mode="json") for i, w in enumerate(self._offpeak.windows) if i != index]
        self._store_offpeak(existing, "Off-peak window removed")

    # -- layout -------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        filters = pn.Row(
            pn.widgets.Select.from_param(
                self.param.state, name="State", width=140, css_classes=["filter-state"]
            ),
            pn.widgets.Select.from_param(
                self.param.job_class, name="Class", width=190, css_classes=["filter-class"]
            ),
            pn.widgets.Select.from_param(
                self.param.priority, name="Priority", width=130, css_classes=["filter-priority"]
            ),
            pn.widgets.Checkbox.from_param(self.param.live, name="Live", align="end", margin=(10, 10)),
            self._status,
            pn.layout.HSpacer(),
            pn.pane.HTML(
                '<a class="outbox-link" href="/outbox" style="display:inline-block;padding:7px 14px;'
                "border:1px solid #0b5cad;border-radius:4px;color:#0b5cad;text-decoration:none;font-size:14px;"
                'white-space:nowrap">Outbox</a>',
                align="end",
                margin=(8, 10),
            ),
            sizing_mode="stretch_width",
        )
        # The table gets the whole width (eleven columns); the selected job and the workers share
        # the row below it.
        below = pn.FlexBox(
            pn.Column(self._detail, sizing_mode="stretch_width", styles={"flex": "1 1 340px"}),
            pn.Column(
                pn.pane.HTML("<h3 style='margin:4px 0 2px'>Workers</h3>"),
                self._workers,
                sizing_mode="stretch_width",
                styles={"flex": "2 1 560px"},
            ),
            gap="16px",
            sizing_mode="stretch_width",
        )
        charts = pn.FlexBox(
            pn.Column(self._lag_pane, sizing_mode="stretch_width", styles={"flex": "1 1 420px"}),
            pn.Column(self._tp_pane, sizing_mode="stretch_width", styles={"flex": "1 1 420px"}),
            gap="16px",
            sizing_mode="stretch_width",
            css_classes=["job-charts"],
        )
        return pn.Column(
            filters,
            self._counts,
            self._table,
            self._empty,
            below,
            charts,
            self._admin,
            sizing_mode="stretch_width",
            css_classes=["job-monitor"],
        )
