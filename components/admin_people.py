"""People administration (``/admin/users``, tenant administrators): users with search, create or
invite, edit name / admin role / row scope / customer, disable and enable, password reset; groups
and their members.

Everything runs through :mod:`portal.identity.people` (which checks the administrator again on
every call). Names, e-mail addresses, group names and warehouse labels are shown escaped.
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param

from components.session import notify, notify_error, run, user_session
from portal.context import AppContext
from portal.data.warehouse import Warehouse
from portal.errors import AuthenticationFailed, PortalError
from portal.identity import people
from portal.identity.principal import Principal
from portal.identity.scope import Scope
from portal.notify.invites import send_invite

STATUS_LABELS = {"All users": "all", "Active": "active", "Disabled": "disabled"}
#: The warehouse columns of each row-scope dimension: (id, label).
SCOPE_COLUMNS = {
    "location": ("location_id", "location_name"),
    "contract": ("contract_id", "contract_name"),
    "customer": ("customer_id", "customer_name"),
}
NO_CUSTOMER = 0

ADMINS_ONLY = (
    '<div class="admins-only" role="alert" style="background:#fef3c7;color:#92400e;padding:14px 18px;'
    'border-radius:8px;font-size:15px"><b>Admins only.</b> This page is for the administrators of your '
    "tenant; ask one of them if you need a change.</div>"
)
#: Rows of form fields wrap on narrow windows instead of widening the page.
WRAP = {"flex-wrap": "wrap"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def scope_choices(warehouse: Warehouse, tenant_key: str) -> dict[str, dict[str, int]]:
    """``{"location"|"contract"|"customer": {label: id}}``: the tenant's values in the warehouse
    (labels ``"Name (#id)"``, unescaped)."""
    out: dict[str, dict[str, int]] = {}
    for kind, (id_col, name_col) in SCOPE_COLUMNS.items():
        spec = {
            "source": "tickets",
            "group_by": [id_col, name_col],
            "metrics": [{"agg": "count", "as": "n"}],
            "limit": 5000,
        }
        frame = warehouse.run(spec, Scope.of(tenant_key)).frame.dropna(subset=[id_col])
        pairs = sorted({(str(n), int(i)) for i, n in zip(frame[id_col], frame[name_col], strict=True)})
        out[kind] = {f"{n} (#{i})": i for n, i in pairs}
    return out


def scope_text(ids: list[int] | None, kind: str, names: dict[int, str]) -> str:
    """``all locations``, ``none``, or the names (up to three, then a count)."""
    if ids is None:
        return f"all {kind}s"
    if not ids:
        return f"no {kind}s"
    shown = [names.get(i, f"#{i}") for i in ids[:3]]
    more = f" +{len(ids) - 3}" if len(ids) > 3 else ""
    return ", ".join(shown) + more


def users_html(users: list[dict[str, Any]], locations: dict[int, str], contracts: dict[int, str]) -> str:
    """The users as an HTML table (every value escaped)."""
    rows = []
    for u in users:
        status = "Active" if u["is_active"] else "Disabled"
        if u["is_active"] and not u["has_password"]:
            status = "Invited" if u["invite_pending"] else "No password"
        scope = f"{scope_text(u['locations'], 'location', locations)}; {scope_text(u['contracts'], 'contract', contracts)}"
        if u["customer_id"] is not None:
            scope += f"; customer #{u['customer_id']}"
        last = u["last_login_at"].strftime("%Y-%m-%d %H:%M") if u.get("last_login_at") else "never"
        rows.append(
            f'<tr class="user-row" data-user-id="{int(u["id"])}"><td>{_e(u["name"])}</td><td>{_e(u["email"])}</td>'
            f"<td>{'Admin' if u['is_admin'] else 'User'}</td><td>{_e(status)}</td>"
            f'<td style="overflow-wrap:anywhere">{_e(scope)}</td><td>{_e(last)}</td></tr>'
        )
    if not rows:
        return '<p class="no-users" style="color:#64748b">No user matches.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("Name", "E-mail", "Role", "Status", "Row scope", "Last sign-in"))
    return (
        '<table class="people-table" style="width:100%;border-collapse:collapse;font-size:14px">'
        f'<thead style="text-align:left;color:#475569"><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "<style>.people-table td,.people-table th{padding:4px 8px;border-bottom:1px solid #e2e8f0}</style>"
    )


def groups_html(groups: list[dict[str, Any]]) -> str:
    """The groups and their member counts (names escaped)."""
    if not groups:
        return '<p style="color:#64748b">No groups yet.</p>'
    items = "".join(
        f'<li class="group-row" data-group-id="{int(g["id"])}"><b>{_e(g["name"])}</b> · '
        f"{int(g.get('member_count', 0))} member{'' if g.get('member_count') == 1 else 's'}</li>"
        for g in groups
    )
    return f'<ul class="group-list" style="font-size:14px;margin:4px 0">{items}</ul>'


class PeopleAdmin(pn.viewable.Viewer):
    """Users and groups of the signed-in administrator's tenant."""

    search = param.String(default="", doc="Text searched in names and e-mail addresses")
    status = param.Selector(default="all", objects=list(STATUS_LABELS.values()), doc="Which users to list")
    selected = param.Integer(default=None, allow_None=True, doc="Id of the user being edited")
    selected_group = param.Integer(default=None, allow_None=True, doc="Id of the group being edited")
    version = param.Integer(default=0, doc="Bumped to reload after a change")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.allowed = False
        tenant_key = ""
        try:
            with user_session(ctx) as (_, principal):
                self.allowed = principal.is_admin
                tenant_key = principal.scope.tenant_key
        except AuthenticationFailed:
            self.allowed = False
        if not self.allowed:
            self._body: pn.viewable.Viewable = pn.pane.HTML(ADMINS_ONLY, sizing_mode="stretch_width")
            return
        try:
            self._choices = scope_choices(ctx.warehouse, tenant_key)
        except PortalError as exc:
            notify_error(f"The warehouse's locations and contracts could not be read: {exc.message}")
            self._choices = {k: {} for k in SCOPE_COLUMNS}
        self._names = {kind: {i: label for label, i in opts.items()} for kind, opts in self._choices.items()}
        self._users: list[dict[str, Any]] = []
        self._groups: list[dict[str, Any]] = []
        self._build()
        self.param.watch(lambda *_: self.reload(), ["search", "status", "version"])
        self.param.watch(lambda *_: self._fill_editor(), "selected")
        self.param.watch(lambda *_: self._fill_group(), "selected_group")
        self.reload()

    # -- layout ----------------------------------------------------------------------
    def _scope_widgets(self, prefix: str) -> tuple[Any, Any, Any]:
        locations = pn.widgets.MultiChoice(
            name="Locations (none chosen: all)",
            # Labels are escaped: the multi-choice shows them as HTML.
            options={html.escape(k, quote=True): v for k, v in self._choices["location"].items()},
            width=330,
            css_classes=[f"{prefix}-locations"],
        )
        contracts = pn.widgets.MultiChoice(
            name="Contracts (none chosen: all)",
            options={html.escape(k, quote=True): v for k, v in self._choices["contract"].items()},
            width=330,
            css_classes=[f"{prefix}-contracts"],
        )
        customer = pn.widgets.Select(
            name="Customer (for customer-visible objects)",
            options={"(none)": NO_CUSTOMER, **self._choices["customer"]},
            value=NO_CUSTOMER,
            width=280,
        )
        return locations, contracts, customer

    def _build(self) -> None:
        # users tab
        self._search = pn.widgets.TextInput.from_param(
            self.param.search,
            name="Search",
            placeholder="name or e-mail",
            width=260,
            css_classes=["people-search"],
        )
        self._status = pn.widgets.Select(name="Show", options=STATUS_LABELS, value=self.status, width=150)
        self._status.link(self, value="status")
        self._table = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["people-list"])
        # create
        self._new_email = pn.widgets.TextInput(name="E-mail", width=260, css_classes=["new-email"])
        self._new_name = pn.widgets.TextInput(name="Name", width=220, css_classes=["new-name"])
        self._new_admin = pn.widgets.Checkbox(name="Administrator", value=False)
        self._new_password = pn.widgets.PasswordInput(
            name="Password (empty: send an invitation)", width=260, css_classes=["new-password"]
        )
        self._new_locations, self._new_contracts, self._new_customer = self._scope_widgets("new")
        create = pn.widgets.Button(
            name="Create user", button_type="primary", width=130, css_classes=["create-user"]
        )
        create.on_click(lambda _: self.create())
        self._link = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["invite-link"])
        create_card = pn.Card(
            pn.Row(self._new_email, self._new_name, self._new_password, styles=WRAP),
            pn.Row(self._new_locations, self._new_contracts, self._new_customer, styles=WRAP),
            pn.Row(self._new_admin, create, styles=WRAP),
            title="New user",
            collapsed=False,
            sizing_mode="stretch_width",
            css_classes=["new-user"],
        )
        # edit
        self._pick = pn.widgets.Select(name="User", options={}, width=320, css_classes=["pick-user"])
        self._pick.param.watch(lambda e: setattr(self, "selected", e.new), "value")
        self._edit_name = pn.widgets.TextInput(name="Name", width=260, css_classes=["edit-name"])
        self._edit_admin = pn.widgets.Checkbox(name="Administrator", value=False, css_classes=["edit-admin"])
        self._edit_locations, self._edit_contracts, self._edit_customer = self._scope_widgets("edit")
        save = pn.widgets.Button(
            name="Save changes", button_type="primary", width=130, css_classes=["save-user"]
        )
        save.on_click(lambda _: self.save())
        self._active_btn = pn.widgets.Button(
            name="Disable", button_type="danger", button_style="outline", width=110
        )
        self._active_btn.on_click(lambda _: self.toggle_active())
        self._reset_pw = pn.widgets.PasswordInput(
            name="New password", width=240, css_classes=["reset-password"]
        )
        set_pw = pn.widgets.Button(name="Set password", width=120)
        set_pw.on_click(lambda _: self.set_password())
        link_btn = pn.widgets.Button(
            name="Send invitation / reset link", width=220, css_classes=["send-link"]
        )
        link_btn.on_click(lambda _: self.send_link())
        self._user_info = pn.pane.HTML("", sizing_mode="stretch_width")
        self._editor = pn.Column(
            self._user_info,
            pn.Row(self._edit_name, self._edit_admin, styles=WRAP),
            pn.Row(self._edit_locations, self._edit_contracts, self._edit_customer, styles=WRAP),
            pn.Row(save, self._active_btn, styles=WRAP),
            pn.Row(self._reset_pw, set_pw, link_btn, styles=WRAP),
            visible=False,
            sizing_mode="stretch_width",
        )
        edit_card = pn.Card(
            self._pick,
            self._editor,
            title="Edit a user",
            sizing_mode="stretch_width",
            css_classes=["edit-user"],
        )
        users_tab = pn.Column(
            pn.Row(self._search, self._status, styles=WRAP),
            self._table,
            self._link,
            create_card,
            edit_card,
            sizing_mode="stretch_width",
        )
        # groups tab
        self._groups_html = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["groups"])
        self._new_group = pn.widgets.TextInput(
            name="New group", placeholder="name", width=240, css_classes=["new-group"]
        )
        add_group = pn.widgets.Button(
            name="Create group", button_type="primary", width=130, css_classes=["create-group"]
        )
        add_group.on_click(lambda _: self.create_group())
        self._pick_group = pn.widgets.Select(name="Group", options={}, width=260, css_classes=["pick-group"])
        self._pick_group.param.watch(lambda e: setattr(self, "selected_group", e.new), "value")
        self._members = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["group-members"])
        self._rename = pn.widgets.TextInput(name="Rename to", width=240)
        rename = pn.widgets.Button(name="Rename", width=90)
        rename.on_click(lambda _: self.rename_group())
        self._member_pick = pn.widgets.Select(
            name="Person", options={}, width=300, css_classes=["member-pick"]
        )
        add_member = pn.widgets.Button(name="Add to group", width=120, css_classes=["add-member"])
        add_member.on_click(lambda _: self.set_member(True))
        remove_member = pn.widgets.Button(name="Remove from group", width=150)
        remove_member.on_click(lambda _: self.set_member(False))
        delete = pn.widgets.Button(
            name="Delete group", button_type="danger", button_style="outline", width=130
        )
        delete.on_click(lambda _: self.delete_group())
        self._group_editor = pn.Column(
            self._members,
            pn.Row(self._member_pick, add_member, remove_member, styles=WRAP),
            pn.Row(self._rename, rename, delete, styles=WRAP),
            visible=False,
            sizing_mode="stretch_width",
        )
        groups_tab = pn.Column(
            self._groups_html,
            pn.Row(self._new_group, add_group, styles=WRAP),
            self._pick_group,
            self._group_editor,
            sizing_mode="stretch_width",
        )
        self._body = pn.Tabs(
            ("Users", users_tab), ("Groups", groups_tab), dynamic=False, sizing_mode="stretch_width"
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.Row(
                pn.pane.HTML('<h2 style="margin:0">People</h2>', margin=(5, 10)),
                pn.layout.HSpacer(),
                pn.pane.HTML('<a class="data-link" href="/admin/data">Data sources →</a>', margin=(12, 10)),
                pn.pane.HTML('<a class="signing-link" href="/admin/signing">PDF signing →</a>', margin=(12, 10)),
                pn.pane.HTML('<a class="audit-link" href="/admin/audit">Audit trail →</a>', margin=(12, 10)),
                sizing_mode="stretch_width",
            ),
            self._body,
            sizing_mode="stretch_width",
            css_classes=["people-admin"],
        )

    # -- loading ---------------------------------------------------------------------
    def reload(self) -> None:
        """List users and groups again (keeping the selections)."""
        active = {"all": None, "active": True, "disabled": False}[self.status]
        search = self.search

        def load(
            s: Any, p: Principal
        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
            shown = [people.user_to_dict(u) for u in people.list_users(s, p, search=search, active=active)]
            everyone = [people.user_to_dict(u) for u in people.list_users(s, p, limit=people.MAX_PAGE)]
            groups = [people.group_to_dict(g, count=n) for g, n in people.list_groups(s, p)]
            return shown, everyone, groups

        got = run(self.ctx, load)
        if got is None:
            return
        shown, self._users, self._groups = got
        self._table.object = users_html(shown, self._names["location"], self._names["contract"])
        options = {f"{u['name']} ({u['email']})": u["id"] for u in self._users}
        self._pick.options = {"(choose)": None, **options}
        self._member_pick.options = options
        if self.selected is not None and self.selected in options.values():
            self._pick.value = self.selected
        self._groups_html.object = groups_html(self._groups)
        self._pick_group.options = {"(choose)": None, **{g["name"]: g["id"] for g in self._groups}}
        if self.selected_group is not None and any(g["id"] == self.selected_group for g in self._groups):
            self._pick_group.value = self.selected_group
        self._fill_editor()
        self._fill_group()

    def _user(self) -> dict[str, Any] | None:
        return next((u for u in self._users if u["id"] == self.selected), None)

    def _fill_editor(self) -> None:
        u = self._user()
        self._editor.visible = u is not None
        if u is None:
            return
        self._edit_name.value = u["name"]
        self._edit_admin.value = bool(u["is_admin"])
        self._edit_locations.value = [i for i in (u["locations"] or []) if i in self._names["location"]]
        self._edit_contracts.value = [i for i in (u["contracts"] or []) if i in self._names["contract"]]
        customer = u["customer_id"]
        self._edit_customer.value = customer if customer in self._names["customer"] else NO_CUSTOMER
        self._active_btn.name = "Disable" if u["is_active"] else "Enable"
        self._active_btn.button_type = "danger" if u["is_active"] else "success"
        state = "active" if u["is_active"] else "disabled"
        pw = (
            "has a password"
            if u["has_password"]
            else ("invitation pending" if u["invite_pending"] else "no password")
        )
        self._user_info.object = (
            f'<div class="user-info" style="font-size:14px"><b>{_e(u["name"])}</b> · {_e(u["email"])} · '
            f"{state} · {pw}</div>"
        )

    def _scope_body(self, locations: Any, contracts: Any, customer: Any) -> dict[str, Any]:
        return {
            "locations": sorted(int(v) for v in locations.value) or None,
            "contracts": sorted(int(v) for v in contracts.value) or None,
            "customer_id": int(customer.value) if customer.value not in (None, NO_CUSTOMER) else None,
        }

    # -- user actions ----------------------------------------------------------------
    def create(self) -> None:
        """Create the user of the form; without a password, send them an invitation."""
        body: dict[str, Any] = {
            "email": self._new_email.value or "",
            "name": self._new_name.value or "",
            "is_admin": bool(self._new_admin.value),
            **self._scope_body(self._new_locations, self._new_contracts, self._new_customer),
        }
        if self._new_password.value:
            body["password"] = self._new_password.value
        made = run(self.ctx, lambda s, p: people.user_to_dict(people.create_user(s, p, body)))
        if made is None:
            return
        notify(f"Created {made['email']}")
        self._new_email.value = self._new_name.value = self._new_password.value = ""
        self._new_locations.value, self._new_contracts.value = [], []
        self.selected = made["id"]
        if not made["has_password"]:
            self._invite(made["id"], reset=False)
        self.version += 1

    def save(self) -> None:
        """Save the editor's name, admin role and scope."""
        uid = self.selected
        if uid is None:
            return
        body = {
            "name": self._edit_name.value or "",
            "is_admin": bool(self._edit_admin.value),
            **self._scope_body(self._edit_locations, self._edit_contracts, self._edit_customer),
        }
        if run(self.ctx, lambda s, p: people.update_user(s, p, uid, body).id, success="Saved") is not None:
            self.version += 1

    def toggle_active(self) -> None:
        """Disable (sessions and API tokens end) or enable the selected user."""
        u = self._user()
        if u is None:
            return
        uid, active = u["id"], not u["is_active"]
        done = run(
            self.ctx,
            lambda s, p: people.set_active(s, p, uid, active).id,
            success=f"{u['email']} {'enabled' if active else 'disabled'}",
        )
        if done is not None:
            self.version += 1

    def set_password(self) -> None:
        """Set the password typed by the administrator (policy applies; the user's sessions end)."""
        uid, pw = self.selected, self._reset_pw.value or ""
        if uid is None:
            return
        if (
            run(self.ctx, lambda s, p: people.reset_password(s, p, uid, pw).id, success="Password set")
            is not None
        ):
            self._reset_pw.value = ""
            self.version += 1

    def send_link(self) -> None:
        """A new invitation link (a reset link for a user who has a password)."""
        u = self._user()
        if u is not None:
            self._invite(u["id"], reset=bool(u["has_password"]))
            self.version += 1

    def _invite(self, user_id: int, *, reset: bool) -> None:
        settings = self.ctx.settings

        def make(s: Any, p: Principal) -> tuple[str, str, people.Invite]:
            inv = people.invite(s, p, user_id, base_url=settings.base_url, reset=reset)
            return inv.user.email, inv.user.name, inv

        got = run(self.ctx, make)
        if got is None:
            return
        email, name, inv = got
        sent = send_invite(
            settings.smtp_url,
            settings.outbox_dir,
            sender=settings.mail_from,
            email=email,
            name=name,
            url=inv.url,
            expires_at=inv.expires_at,
            tenant_id=inv.user.tenant_id,
            reset=reset,
        )
        how = "e-mailed to them" if sent else "NOT e-mailed (mail failed): give it to them yourself"
        self._link.object = (
            '<div class="invite-box" style="background:#eff6ff;border:1px solid #bfdbfe;border-radius:8px;'
            f'padding:8px 12px;font-size:14px">{"Reset" if reset else "Invitation"} link for {_e(email)}, {how}; '
            f'valid once until {inv.expires_at:%Y-%m-%d %H:%M} UTC:<br><code class="invite-url" '
            f'style="overflow-wrap:anywhere">{_e(inv.url)}</code></div>'
        )
        notify(f"Link for {email} {'sent' if sent else 'made'}")

    # -- groups ----------------------------------------------------------------------
    def _fill_group(self) -> None:
        gid = self.selected_group
        if gid is None or not any(g["id"] == gid for g in self._groups):
            self._group_editor.visible = False
            return

        def load(s: Any, p: Principal) -> list[dict[str, Any]]:
            return [{"id": u.id, "name": u.name, "email": u.email} for u in people.group_members(s, p, gid)]

        members = run(self.ctx, load)
        if members is None:
            return
        self._group_editor.visible = True
        self._members.object = (
            '<ul class="member-list" style="font-size:14px;margin:4px 0">'
            + "".join(f"<li>{_e(m['name'])} ({_e(m['email'])})</li>" for m in members)
            + "</ul>"
            if members
            else '<p class="member-list" style="color:#64748b">No members yet.</p>'
        )

    def create_group(self) -> None:
        """Create a group named as typed."""
        name = self._new_group.value or ""
        made = run(self.ctx, lambda s, p: people.create_group(s, p, name).id, success=f"Group {name} created")
        if made is not None:
            self._new_group.value = ""
            self.selected_group = made
            self.version += 1

    def rename_group(self) -> None:
        """Rename the selected group."""
        gid, name = self.selected_group, self._rename.value or ""
        if gid is None:
            return
        done = run(self.ctx, lambda s, p: people.rename_group(s, p, gid, name).id, success="Renamed")
        if done is not None:
            self._rename.value = ""
            self.version += 1

    def delete_group(self) -> None:
        """Delete the selected group (its memberships and grants go with it)."""
        gid = self.selected_group
        if gid is None:
            return
        run(self.ctx, lambda s, p: people.delete_group(s, p, gid), success="Group deleted")
        self.selected_group = None
        self.version += 1

    def set_member(self, member: bool) -> None:
        """Add the chosen person to the selected group, or take them out."""
        gid, uid = self.selected_group, self._member_pick.value
        if gid is None or uid is None:
            notify_error("member: choose a group and a person first")
            return
        fn = people.add_member if member else people.remove_member
        if run(self.ctx, lambda s, p: fn(s, p, gid, int(uid)).id, success="Members updated") is not None:
            self.version += 1
