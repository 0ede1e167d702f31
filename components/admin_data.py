"""Data sources administration (``/admin/data``, tenant administrators): connect a database (test
it, pick tables, set column labels/types and the scope columns, expose them in the catalog), add
a REST/JSON source (sync it now, read its sync history), and the tenant's catalog sources with
their data-quality status and checks.

Everything runs through :mod:`portal.ingest` (which checks the administrator again on every
call). Every name, URL, label and message shown is escaped. Passwords and the REST auth header's
value go to the encrypted credentials and are never shown back.
"""

from __future__ import annotations

import json
from typing import Any

import panel as pn
import param

from components.admin_data_html import catalog_html, esc, sources_html, syncs_html
from components.session import ADMINS_ONLY, is_signed_in_admin, notify, notify_error, run
from portal.context import AppContext
from portal.data import datasources
from portal.data.tenant_sources import catalog_changed, list_source_rows
from portal.errors import BadRequest, PortalError
from portal.ingest import connected, quality, sync_history, sync_jobs
from portal.ingest.introspect import introspect, probe_source

WRAP = {"flex-wrap": "wrap"}
NONE = "(none)"
TYPES = ["int", "float", "string", "bool", "datetime", "date"]


def column_frame(cols: list[dict[str, Any]]) -> Any:
    """The column grid's frame; typed even when empty (an empty column would be numeric and show NaN)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "keep": pd.Series([True] * len(cols), dtype=bool),
            "name": pd.Series([c["name"] for c in cols], dtype=object),
            "type": pd.Series([c["type"] for c in cols], dtype=object),
            "label": pd.Series([""] * len(cols), dtype=object),
        }
    )


class DataAdmin(pn.viewable.Viewer):
    """Data sources and catalog sources of the signed-in administrator's tenant."""

    version = param.Integer(default=0, doc="Bumped to reload after a change")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.allowed = is_signed_in_admin(ctx)
        if not self.allowed:
            self._body: pn.viewable.Viewable = pn.pane.HTML(ADMINS_ONLY, sizing_mode="stretch_width")
            return
        self._structure: dict[str, Any] = {"tables": []}
        self._build()
        self.param.watch(lambda *_: self.reload(), "version")
        self.reload()

    # -- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        w = pn.widgets
        self._list = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["data-sources"])
        # connect a database
        self._db_name = w.TextInput(name="Name", width=200, css_classes=["db-name"])
        self._db_url = w.TextInput(
            name="URL", placeholder="postgresql+psycopg://host:5432/db", width=380, css_classes=["db-url"]
        )
        self._db_user = w.TextInput(name="User", width=160, css_classes=["db-user"])
        self._db_password = w.PasswordInput(name="Password", width=160, css_classes=["db-password"])
        connect = w.Button(name="Connect", button_type="primary", width=120, css_classes=["db-connect"])
        connect.on_click(lambda _: self.connect_database())
        connect_form = pn.Row(
            self._db_name, self._db_url, self._db_user, self._db_password, connect, styles=WRAP
        )
        # the chosen source
        self._pick = w.Select(name="Data source", options={}, width=300, css_classes=["source-pick"])
        test = w.Button(name="Test connection", width=150, css_classes=["source-test"])
        test.on_click(lambda _: self.test_connection())
        tables = w.Button(name="Load tables", width=130, css_classes=["source-tables"])
        tables.on_click(lambda _: self.load_tables(refresh=True))
        sync_now = w.Button(name="Sync now", width=110, css_classes=["source-sync"])
        sync_now.on_click(lambda _: self.sync_now())
        self._syncs = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sync-history"])
        self._pick.param.watch(lambda *_: self._show_syncs(), "value")
        # table picker
        self._table = w.Select(name="Table or view", options=[], width=300, css_classes=["table-pick"])
        self._table.param.watch(lambda *_: self._fill_columns(), "value")
        self._cat_name = w.TextInput(name="Catalog name", width=200, css_classes=["expose-name"])
        self._cat_label = w.TextInput(name="Label", width=200, css_classes=["expose-label"])
        self._scope = {
            kind: w.Select(
                name=f"{kind.title()} column", options=[NONE], width=170, css_classes=[f"scope-{kind}"]
            )
            for kind in ("location", "customer", "contract")
        }
        self._time = w.Select(name="Time column", options=[NONE], width=170, css_classes=["time-pick"])

        self._columns = w.Tabulator(
            column_frame([]),
            editors={
                "keep": {"type": "tickCross"},
                "name": None,
                "type": {"type": "list", "values": TYPES},
                "label": {"type": "input"},
            },
            formatters={"keep": {"type": "tickCross"}},
            show_index=False,
            height=220,
            sizing_mode="stretch_width",
            css_classes=["column-grid"],
        )
        expose = w.Button(name="Add to catalog", button_type="primary", width=150, css_classes=["expose"])
        expose.on_click(lambda _: self.expose())
        picker = pn.Column(
            pn.Row(self._table, self._cat_name, self._cat_label, styles=WRAP),
            pn.Row(*self._scope.values(), self._time, styles=WRAP),
            self._columns,
            expose,
            sizing_mode="stretch_width",
        )
        # REST source
        self._rest_name = w.TextInput(name="Name", width=200, css_classes=["rest-name"])
        self._rest_auth = w.PasswordInput(name="Auth header value", width=240, css_classes=["rest-auth"])
        self._rest_config = w.TextAreaInput(
            name="Configuration (JSON: url, pagination, records_path, fields, target, key_columns, watermark_column)",
            height=160,
            sizing_mode="stretch_width",
            css_classes=["rest-config"],
        )
        add_rest = w.Button(
            name="Add REST source", button_type="primary", width=160, css_classes=["rest-add"]
        )
        add_rest.on_click(lambda _: self.add_rest())
        rest_form = pn.Column(
            pn.Row(self._rest_name, self._rest_auth, styles=WRAP),
            self._rest_config,
            add_rest,
            sizing_mode="stretch_width",
        )
        # catalog and checks
        self._catalog = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["catalog-sources"])
        self._check_source = w.Select(
            name="Catalog source", options=[], width=260, css_classes=["check-source"]
        )
        self._checks = w.TextAreaInput(
            name='Checks (JSON: [{"kind": "null_rate", "column": "c", "threshold": 0.1}, ...])',
            height=100,
            sizing_mode="stretch_width",
            css_classes=["check-editor"],
        )
        self._check_source.param.watch(lambda *_: self._fill_checks(), "value")
        save = w.Button(name="Save checks", width=130, css_classes=["checks-save"])
        save.on_click(lambda _: self.save_checks())
        run_now = w.Button(name="Run checks", width=120, css_classes=["checks-run"])
        run_now.on_click(lambda _: self.run_checks())
        self._results = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["check-results"])
        self._body = pn.Column(
            pn.pane.Markdown("## Data sources"),
            self._list,
            pn.Tabs(("Connect a database", connect_form), ("Add a REST source", rest_form), dynamic=False),
            pn.Row(self._pick, test, tables, sync_now, styles=WRAP),
            pn.Tabs(("Tables", picker), ("Sync history", self._syncs), dynamic=False),
            pn.pane.Markdown("## Catalog sources"),
            self._catalog,
            pn.Row(self._check_source, save, run_now, styles=WRAP),
            self._checks,
            self._results,
            sizing_mode="stretch_width",
            css_classes=["data-admin"],
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._body

    # -- reading -----------------------------------------------------------------------
    def reload(self) -> None:
        """Read the data sources and the catalog sources again."""

        def read(session: Any, principal: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            found = [
                connected.source_to_dict(ds, cats) for ds, cats in connected.list_sources(session, principal)
            ]
            cats = []
            for r in list_source_rows(session, principal.tenant_id):
                res = [
                    quality.result_to_dict(x) for x in quality.latest_results(session, r.tenant_id, r.name)
                ]
                status = "none" if not res else ("ok" if all(x["ok"] for x in res) else "failing")
                cats.append(
                    {
                        "name": r.name,
                        "label": r.label,
                        "origin": r.origin,
                        "row_count": r.row_count,
                        "data_version": r.data_version,
                        "refreshed_at": r.refreshed_at,
                        "quality": {"status": status},
                    }
                )
            return found, cats

        out = run(self.ctx, read)
        if out is None:
            return
        sources, cats = out
        self._list.object = sources_html(sources)
        # Option labels are escaped: selects render them as HTML.
        # A select shows its option labels as text (no escaping: it would show the entities).
        self._pick.options = {f"{s['name']} ({s['kind']})": s["id"] for s in sources}
        self._catalog.object = catalog_html(cats)
        self._check_source.options = [c["name"] for c in cats]

    def _source_id(self) -> int | None:
        value = self._pick.value
        if value is None:
            notify_error("Choose a data source first.")
        return int(value) if value is not None else None

    # -- actions -----------------------------------------------------------------------
    def connect_database(self) -> None:
        """Register the database of the form (the password goes to the encrypted credentials)."""
        creds = {
            k: v for k, v in (("username", self._db_user.value), ("password", self._db_password.value)) if v
        }
        data = {
            "name": (self._db_name.value or "").strip(),
            "kind": "sql",
            "config": {"url": (self._db_url.value or "").strip()},
        }
        if creds:
            data["credentials"] = creds
        key = self.ctx.settings.secret_key
        ds = run(
            self.ctx, lambda s, p: connected.create_source(s, p, data, key).id, success="Database connected"
        )
        if ds is None:
            return
        self._db_password.value = self._db_name.value = self._db_url.value = self._db_user.value = ""
        self.version += 1
        self._pick.value = ds
        self.test_connection()
        self.load_tables(refresh=True)

    def test_connection(self) -> None:
        """Connect to the chosen database and say how it went."""
        sid = self._source_id()
        if sid is None:
            return
        key = self.ctx.settings.secret_key
        res = run(self.ctx, lambda s, p: probe_source(datasources.get_data_source(s, p, sid), key))
        if res is not None:
            (notify if res["ok"] else notify_error)(f"Connection test: {res['message']}")
            self.version += 1

    def load_tables(self, refresh: bool = False) -> None:
        """Read the chosen database's tables (from the cache unless ``refresh``)."""
        sid = self._source_id()
        if sid is None:
            return
        ctx = self.ctx

        def tables(session: Any, principal: Any) -> dict[str, Any]:
            ds = datasources.get_data_source(session, principal, sid)
            return introspect(ds, ctx.settings.secret_key, ctx.redis, refresh=refresh)

        found = run(self.ctx, tables)
        if found is None:
            return
        self._structure = found
        self._table.options = [t["qualified"] for t in found["tables"]]
        self._fill_columns()

    def _fill_columns(self) -> None:

        t = next((t for t in self._structure["tables"] if t["qualified"] == self._table.value), None)
        cols = t["columns"] if t else []
        names = [c["name"] for c in cols]
        self._columns.value = column_frame(cols)
        for sel in (*self._scope.values(), self._time):
            sel.options = [NONE, *names]
            sel.value = NONE
        if t is not None:
            self._cat_name.value = t["table"].lower()[:63]

    def expose(self) -> None:
        """Add the chosen table to the catalog with the grid's columns and the scope mapping."""
        sid = self._source_id()
        if sid is None or not self._table.value:
            return
        frame = self._columns.value
        columns = [
            {"name": r["name"], "type": r["type"], **({"label": r["label"]} if r["label"] else {})}
            for r in frame.to_dict("records")
            if r["keep"]
        ]
        pick = {
            "table": self._table.value,
            "name": (self._cat_name.value or "").strip(),
            "label": (self._cat_label.value or "").strip(),
            "columns": columns,
            "scope": {k: s.value for k, s in self._scope.items() if s.value != NONE},
            "time_column": None if self._time.value == NONE else self._time.value,
        }
        ctx, structure = self.ctx, self._structure

        def go(session: Any, principal: Any) -> str:
            connected.expose_tables(session, principal, sid, [pick], structure)
            return str(principal.scope.tenant_key)

        tenant = run(self.ctx, go, success=f"{pick['name']} added to the catalog")
        if tenant is not None:
            ctx.warehouse.invalidate(str(pick["name"]))
            catalog_changed(ctx.redis, tenant)
            self.version += 1

    def add_rest(self) -> None:
        """Register a REST source from the JSON configuration (the auth value is encrypted)."""
        try:
            config = json.loads(self._rest_config.value or "{}")
        except ValueError as exc:
            notify_error(f"config: not JSON ({exc})")
            return
        data: dict[str, Any] = {
            "name": (self._rest_name.value or "").strip(),
            "kind": "rest",
            "config": config,
        }
        if self._rest_auth.value:
            data["credentials"] = {"auth_value": self._rest_auth.value}
        s, key = self.ctx.settings, self.ctx.settings.secret_key
        allow, hosts = s.webhook_allow_private, s.webhook_allowed_hosts

        def make(session: Any, principal: Any) -> int:
            return connected.create_source(
                session, principal, data, key, allow_private=allow, allowed_hosts=hosts
            ).id

        if run(self.ctx, make, success="REST source added"):
            self._rest_auth.value = ""
            self.version += 1

    def sync_now(self) -> None:
        """Start a sync job of the chosen REST source."""
        sid = self._source_id()
        if sid is None:
            return
        sub = run(self.ctx, lambda s, p: sync_jobs.submit_sync(s, p, sid))
        if sub is not None:
            sub.enqueue(self.ctx.redis)
            notify(f"Sync started (job {sub.record.id}); see the job monitor")

    def _show_syncs(self) -> None:
        sid = self._pick.value
        if sid is None:
            self._syncs.object = ""
            return
        found = run(
            self.ctx,
            lambda s, p: [sync_history.sync_to_dict(x) for x in sync_history.list_syncs(s, p, int(sid))],
        )
        self._syncs.object = syncs_html(found or [])

    def _fill_checks(self) -> None:
        name = self._check_source.value
        if not name:
            return

        def read(session: Any, principal: Any) -> list[dict[str, Any]]:
            return [
                {k: v for k, v in quality.check_to_dict(c).items() if k != "id"}
                for c in quality.list_checks(session, principal.tenant_id, name)
            ]

        self._checks.value = json.dumps(run(self.ctx, read) or [], indent=1)

    def save_checks(self) -> None:
        """Replace the chosen source's checks with the editor's list."""
        name = self._check_source.value
        try:
            checks = json.loads(self._checks.value or "[]")
        except ValueError as exc:
            notify_error(f"checks: not JSON ({exc})")
            return
        run(self.ctx, lambda s, p: quality.set_checks(s, p, name, {"checks": checks}), success="Checks saved")

    def run_checks(self) -> None:
        """Run the chosen source's checks now and show the results."""
        name, ctx = self._check_source.value, self.ctx
        try:
            res = run(
                ctx, lambda s, p: [quality.result_to_dict(r) for r in quality.run_checks_for(ctx, s, p, name)]
            )
        except (PortalError, BadRequest) as exc:
            notify_error(exc.message)
            return
        if res is None:
            return
        items = "".join(
            f'<li class="check-{"ok" if r["ok"] else "failed"}">{"✔" if r["ok"] else "✘"} {esc(r["kind"])}: '
            f"{esc(r['message'])}</li>"
            for r in res
        )
        self._results.object = f"<ul>{items}</ul>" if items else "<p>No checks configured.</p>"
        self.version += 1
