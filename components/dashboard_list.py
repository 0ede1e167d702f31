"""Home: dashboards grouped mine / team / public / favorites, with search and actions, and the trash."""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from components.session import escape_md, notify, notify_error, run
from components.trash import ConfirmDelete, UndoToast, trash_view
from portal import dashboards, reports
from portal.context import AppContext
from portal.identity.principal import Principal
from portal.models import search_key

GROUPS = {"Mine": "mine", "My team": "team", "Public": "public", "Favorites": "favorites", "Trash": "trash"}


#: A placeholder card while the list loads (the page used to stay blank for seconds).
LOADING_CARD = (
    '<div style="height:130px;border-radius:8px;background:linear-gradient(90deg,#eef2f7 25%,#e2e8f0 37%,'
    '#eef2f7 63%);background-size:400% 100%;animation:cbi-shimmer 1.4s ease infinite"></div>'
    "<style>@keyframes cbi-shimmer{0%{background-position:100% 50%}100%{background-position:0 50%}}</style>"
)
#: The selected tab: white on the accent (6.7:1), not accent-tinted text on a pale fill (2.5:1).
ACTIVE_TAB_CSS = (
    ".bk-btn-group .bk-btn.bk-active{background-color:#0b5cad !important;border-color:#0b5cad !important;"
    "color:#ffffff !important}"
)


class DashboardList(pn.viewable.Viewer):
    """Cards of dashboards the signed-in user can see."""

    group = param.Selector(default="Mine", objects=list(GROUPS), doc="Which dashboards to list")
    search = param.String(default="", doc="Text to look for in names and descriptions")
    version = param.Integer(default=0, doc="Bumped to reload after an action")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self._new_name = pn.widgets.TextInput(placeholder="New dashboard name", width=260)
        self._create = pn.widgets.Button(name="Create dashboard", button_type="primary", width=170)
        self._create.on_click(self._on_create)
        self._cards = pn.FlexBox(sizing_mode="stretch_width")
        self._toast = UndoToast()
        self.param.watch(lambda *_: self._reload(), ["group", "search", "version"])
        doc = pn.state.curdoc
        if doc is not None and getattr(doc, "session_context", None) is not None:
            # The page (header, tabs, search) arrives first with placeholder cards; the list follows.
            self._cards.objects = [
                pn.pane.HTML(LOADING_CARD, width=340, height=150, css_classes=["cbi-loading"])
                for _ in range(3)
            ]
            pn.state.onload(self._reload)
        else:
            self._reload()

    # -- actions (thin: each calls one service) ----------------------------------
    def _on_create(self, _: Any) -> None:
        name = (self._new_name.value or "").strip()
        if not name:
            notify_error("name: give the dashboard a name")
            return
        d = run(
            self.ctx,
            lambda s, p: dashboards.create_dashboard(s, p, {"name": name}).id,
            success=f"Created {name}",
        )
        if d is not None:
            self._new_name.value = ""
            self.group = "Mine"
            self.version += 1

    def _act(self, action: str, dashboard_id: int) -> None:
        fns = {
            "duplicate": (lambda s, p: dashboards.duplicate_dashboard(s, p, dashboard_id), "Duplicated"),
            "favorite": (lambda s, p: dashboards.toggle_favorite(s, p, dashboard_id), None),
        }
        fn, msg = fns[action]
        run(self.ctx, fn, success=msg)
        self.version += 1

    def _delete(self, dashboard_id: int, name: str) -> None:
        """Move to the trash, then offer "Undo" in a toast."""

        def delete(s: Any, p: Principal) -> bool:
            dashboards.delete_dashboard(s, p, dashboard_id)
            return True

        if run(self.ctx, delete):
            self._toast.offer(f"“{name}” moved to the trash.", lambda: self._restore(dashboard_id))
        self.version += 1

    def _restore(self, dashboard_id: int) -> None:
        name = run(
            self.ctx,
            lambda s, p: dashboards.restore_dashboard(s, p, dashboard_id).name,
        )
        if name is not None:
            notify(f"Restored {name}")
        self.version += 1

    # -- rendering --------------------------------------------------------------
    def _reload(self) -> None:
        if GROUPS[self.group] == "trash":
            self._cards.objects = self._trash()
            return

        def load(s: Any, p: Principal) -> list[dict[str, Any]]:
            rows = dashboards.list_dashboards(s, p, group=GROUPS[self.group], search=self.search or None)
            favorites = dashboards.favorite_ids(s, p)
            out = []
            for d in rows:
                item = dashboards.dashboard_to_dict(d)
                item["favorite"] = d.id in favorites
                item["mine"] = (p.user_id is not None and d.owner_id == p.user_id) or p.is_admin
                out.append(item)
            return out

        items = run(self.ctx, load) or []
        matching = f" matching “{escape_md(self.search)}”" if self.search else ""
        self._cards.objects = [self._card(d) for d in items] or [
            pn.pane.Markdown(
                f"*No dashboards in “{escape_md(self.group)}”{matching}.*", css_classes=["no-dashboards"]
            )
        ]

    def _trash(self) -> list[pn.viewable.Viewable]:
        def load(s: Any, p: Principal) -> list[reports.TrashItem]:
            dashboards.purge_trash(s, tenant_id=p.tenant_id, results_dir=self.ctx.settings.results_dir)
            return dashboards.list_dashboard_trash(s, p)

        items = run(self.ctx, load) or []
        if self.search.strip():
            folded = search_key(self.search.strip())
            items = [i for i in items if folded in search_key(i.name)]
        return [
            pn.Column(
                *trash_view(items, self._restore, "dashboards", reports.TRASH_DAYS),
                sizing_mode="stretch_width",
                css_classes=["dashboard-trash"],
            )
        ]

    def _card(self, d: dict[str, Any]) -> pn.viewable.Viewable:
        star = pn.widgets.Button(
            name="★" if d["favorite"] else "☆", width=40, button_type="light", description="Favorite"
        )
        star.on_click(lambda _, i=d["id"]: self._act("favorite", i))
        dup = pn.widgets.Button(name="Duplicate", width=90, button_type="light")
        dup.on_click(lambda _, i=d["id"]: self._act("duplicate", i))
        buttons: list[Any] = [star, dup]
        if d["mine"]:
            buttons.append(ConfirmDelete(lambda i=d["id"], n=d["name"]: self._delete(i, n)))
        title = html.escape(d["name"])
        desc = html.escape(d.get("description") or "")
        head = pn.pane.HTML(
            f'<a href="/dashboard?id={d["id"]}" style="font-size:17px;font-weight:600;text-decoration:none;'
            f'overflow-wrap:anywhere">{title}</a>'
            f'<div style="color:#64748b;font-size:13px;margin-top:4px;overflow-wrap:anywhere">{desc}</div>'
            f'<div style="margin-top:6px;font-size:12px"><span style="background:#e0ecff;border-radius:8px;'
            f'padding:2px 8px">{html.escape(d["visibility"])}</span></div>',
            css_classes=["dashboard-card"],
        )
        return pn.Column(
            head,
            pn.Row(*buttons),
            width=330,
            min_height=150,  # grows with a long description: the buttons stay inside the card
            css_classes=["dashboard-card-box"],
            styles={
                "background": "white",
                "border-radius": "10px",
                "padding": "10px",
                "margin": "8px",
                "box-shadow": "0 1px 4px rgba(15,23,42,.12)",
            },
        )

    def __panel__(self) -> pn.viewable.Viewable:
        tabs = pn.widgets.RadioButtonGroup.from_param(
            self.param.group,
            description=None,
            button_type="primary",
            button_style="outline",
            stylesheets=[ACTIVE_TAB_CSS],
            css_classes=["home-tabs"],
        )
        search = pn.widgets.TextInput.from_param(
            self.param.search, name="", description=None, placeholder="Search dashboards…", width=260
        )
        # Wraps at narrow widths rather than pushing "Create dashboard" out of the window.
        toolbar = pn.FlexBox(
            pn.Row(tabs, search),
            pn.Row(self._new_name, self._create),
            justify_content="space-between",
            sizing_mode="stretch_width",
        )
        return pn.Column(
            toolbar,
            self._toast,
            self._cards,
            sizing_mode="stretch_width",
        )
