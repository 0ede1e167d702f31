"""The "Share with people" dialog: who besides the owner may view or edit a dashboard, a report or a
PDF template (users, groups or a customer of the tenant, optionally until a date).

Only someone who may share the object (its owner, a tenant admin) sees the button. The button
sits in :attr:`SharePeople.buttons`, a row meant to take more sharing buttons (a "Share link"
button goes next to it). Every name and e-mail is shown escaped.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime, time
from typing import Any

import panel as pn
import param

from components.session import notify, notify_error, run, user_session
from portal.context import AppContext
from portal.errors import AuthenticationFailed, NotFound, PermissionDenied, PortalError
from portal.identity import grants
from portal.identity.grants import GrantView
from portal.identity.principal import Principal

#: Rows of form fields wrap on narrow windows instead of widening the page.
WRAP = {"flex-wrap": "wrap"}
ROLE_LABELS = {"Viewer (can view, run, export)": "viewer", "Editor (can also edit)": "editor"}
SUBJECT_LABELS = {"A person": "user", "A group": "group", "A customer": "customer"}


def grant_html(g: GrantView) -> str:
    """One grant as a line of text: whom, which role, until when (escaped)."""
    kind = {"user": "👤", "group": "👥", "customer": "🏢"}.get(g.subject_type, "")
    until = ""
    if g.expires_at is not None:
        until = f" · until {g.expires_at:%Y-%m-%d %H:%M} UTC"
        if g.expired:
            until += ' <span style="color:#b91c1c">(expired)</span>'
    return (
        f'<span class="grant" data-grant-id="{int(g.id)}" style="font-size:14px;overflow-wrap:anywhere">'
        f"{kind} <b>{html.escape(g.subject_label)}</b> · {html.escape(g.role)}{until}</span>"
    )


class SharePeople(pn.viewable.Viewer):
    """A "Share with people" button and its dialog for one object (hidden without share rights)."""

    object_type = param.Selector(
        default="dashboard", objects=list(grants.OBJECT_MODELS), doc="Kind of the object shared"
    )
    object_id = param.Integer(
        default=None, allow_None=True, doc="Id of the object shared (None: none chosen)"
    )
    open = param.Boolean(default=False, doc="Whether the dialog is shown")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.button = pn.widgets.Button(
            name="Share with people", button_type="default", width=160, css_classes=["share-people"]
        )
        self.button.on_click(lambda _: setattr(self, "open", not self.open))
        #: The sharing buttons of the object: more (e.g. "Share link") can be appended here.
        self.buttons = pn.Row(self.button, margin=0, css_classes=["share-buttons"])
        self._list = pn.Column(sizing_mode="stretch_width", css_classes=["grant-list"])
        self._kind = pn.widgets.RadioButtonGroup(
            options=SUBJECT_LABELS, value="user", button_type="primary", button_style="outline"
        )
        self._user = pn.widgets.Select(name="Person", options={}, width=300, css_classes=["grant-user"])
        self._group = pn.widgets.Select(
            name="Group", options={}, width=300, visible=False, css_classes=["grant-group"]
        )
        self._customer = pn.widgets.IntInput(
            name="Customer id", value=None, start=1, width=160, visible=False
        )
        self._role = pn.widgets.Select(name="Role", options=ROLE_LABELS, value="viewer", width=230)
        self._until = pn.widgets.DatePicker(name="Until (optional)", value=None, width=160)
        self._add = pn.widgets.Button(
            name="Share", button_type="primary", width=90, css_classes=["grant-add"]
        )
        self._add.on_click(lambda _: self.add())
        self._close = pn.widgets.Button(name="Close", button_type="light", width=80)
        self._close.on_click(lambda _: setattr(self, "open", False))
        self._kind.param.watch(lambda *_: self._show_kind(), "value")
        self._dialog = pn.Column(
            pn.pane.HTML(
                '<div style="font-weight:600;font-size:15px">Shared with</div>', margin=(5, 10, 0, 10)
            ),
            self._list,
            pn.Row(self._kind),
            pn.Row(self._user, self._group, self._customer, self._role, self._until, styles=WRAP),
            pn.Row(self._add, self._close, styles=WRAP),
            visible=False,
            sizing_mode="stretch_width",
            css_classes=["share-people-dialog"],
            styles={"border": "1px solid #cbd5e1", "border-radius": "8px", "background": "white"},
        )
        self.param.watch(lambda *_: self._refresh(), ["object_type", "object_id"])
        self.param.watch(lambda *_: self._toggle(), "open")
        self._refresh()

    # -- state ---------------------------------------------------------------------
    def _load(self) -> list[GrantView] | None:
        """The object's grants, or None when the signed-in user may not share it (or it is gone)."""
        if self.object_id is None:
            return None
        oid, kind = self.object_id, self.object_type
        try:
            with user_session(self.ctx) as (s, p):
                return grants.list_grants(s, p, kind, oid)
        except (NotFound, PermissionDenied, AuthenticationFailed):
            return None  # not theirs to share (or no signed-in page): no button
        except PortalError as exc:
            notify_error(exc.message)
            return None

    def _refresh(self) -> None:
        got = self._load()
        self.buttons.visible = got is not None
        if got is None:
            self.open = False
            self._dialog.visible = False
            return
        self._show(got)

    def _show(self, rows: list[GrantView]) -> None:
        items: list[Any] = []
        for g in rows:
            remove = pn.widgets.Button(
                name="Remove", button_type="light", width=80, css_classes=["grant-remove"]
            )
            remove.on_click(lambda _, gid=g.id: self.remove(gid))
            items.append(
                pn.Row(pn.pane.HTML(grant_html(g), sizing_mode="stretch_width"), remove, margin=(0, 5))
            )
        self._list.objects = items or [
            pn.pane.HTML(
                '<span class="no-grants" style="color:#64748b">Only its owner and the administrators '
                "(and whoever its visibility lets see it).</span>",
                margin=(0, 10),
            )
        ]

    def _toggle(self) -> None:
        self._dialog.visible = self.open
        if self.open:
            self._load_candidates()

    def _load_candidates(self) -> None:
        got = run(self.ctx, lambda s, p: grants.share_candidates(s, p))
        if got is None:
            return
        # Select options are shown as text by the browser (no HTML), labels stay as typed.
        self._user.options = {f"{u['name']} ({u['email']})": u["id"] for u in got["users"]}
        self._group.options = {g["name"]: g["id"] for g in got["groups"]}

    def _show_kind(self) -> None:
        kind = self._kind.value
        self._user.visible, self._group.visible, self._customer.visible = (
            kind == "user",
            kind == "group",
            kind == "customer",
        )

    # -- actions -------------------------------------------------------------------
    def add(self) -> None:
        """Grant the chosen person, group or customer the chosen role."""
        if self.object_id is None:
            return
        kind = str(self._kind.value)
        subject = {"user": self._user.value, "group": self._group.value, "customer": self._customer.value}[
            kind
        ]
        if subject is None:
            notify_error(f"subject_id: choose {'a person' if kind == 'user' else 'a ' + kind} first")
            return
        until = self._until.value
        body: dict[str, Any] = {"subject_type": kind, "subject_id": int(subject), "role": self._role.value}
        if isinstance(until, date):
            body["expires_at"] = datetime.combine(until, time.max, tzinfo=UTC)
        oid, object_type = self.object_id, self.object_type

        def add(s: Any, p: Principal) -> GrantView:
            return grants.add_grant(s, p, object_type, oid, body)

        made = run(self.ctx, add)
        if made is not None:
            notify(f"Shared with {made.subject_label} as {made.role}")
            self._refresh()

    def remove(self, grant_id: int) -> None:
        """Take a grant back."""
        run(self.ctx, lambda s, p: grants.remove_grant(s, p, grant_id), success="Access removed")
        self._refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.buttons, self._dialog, sizing_mode="stretch_width", margin=0)
