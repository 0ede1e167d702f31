"""The "Share link" dialog: make a link (and an iframe snippet) to a dashboard, a widget, a snapshot,
a report, a PDF template or a PDF render for people without an account; list the object's links,
revoke one, read its access log.

The link's value is shown once, right after it is made (only its hash is kept). Everything users
typed (labels, origins) is shown escaped; a bad entry is a notification naming the field, and
nothing is made.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import panel as pn
import param
from pydantic import ValidationError

from components.session import notify_error, run
from portal.context import AppContext
from portal.errors import PortalError
from portal.identity.principal import Principal
from portal.sharing import tokens
from portal.specs import invalid_from_validation
from portal.specs.share import SHARE_OBJECT_TYPES, ShareRequest

PERMISSION_LABELS = {"Drill down": "drilldown", "Download / export": "export"}
MODE_LABELS = {"Anyone with the link": "no_login", "Signed-in users of this portal": "with_login"}


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


def _when(iso: str | None) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def link_rows(shares: list[dict[str, Any]]) -> str:
    """The object's links as an HTML table (every value escaped)."""
    if not shares:
        return '<p class="share-links-empty" style="color:#64748b">No links yet.</p>'
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
        for h in ("#", "Kind", "Label", "Who", "Can", "Expires", "Uses", "State")
    )
    rows = []
    for s in shares:
        uses = f"{s['used_count']}" + (f" / {s['max_uses']}" if s.get("max_uses") else "")
        cells = [
            str(s["id"]),
            "snapshot" if s["object_type"] == "snapshot" else "live",
            s.get("label") or "",
            "anyone" if s["mode"] == "no_login" else "signed-in users",
            ", ".join(s["permissions"]),
            _when(s.get("expires_at")),
            uses,
            s["state"],
        ]
        rows.append(
            f"<tr class='share-link-row' data-state='{html.escape(s['state'])}'>"
            + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>" for c in cells)
            + "</tr>"
        )
    return f"<table class='share-links' style='border-collapse:collapse;font-size:14px'><tr>{head}</tr>{''.join(rows)}</table>"


def log_rows(entries: list[dict[str, Any]]) -> str:
    """A link's access log as an HTML table (every value escaped)."""
    if not entries:
        return "<p style='color:#64748b'>Nobody has used this link yet.</p>"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td style='padding:2px 8px'>{html.escape(str(v or ''))}</td>"
            for v in (
                _when(e["at"]),
                e["result"],
                e["ip"],
                e.get("user_id") or "",
                (e.get("user_agent") or "")[:80],
            )
        )
        + "</tr>"
        for e in entries
    )
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
        for h in ("When (UTC)", "Result", "IP", "User", "Browser")
    )
    return f"<table class='share-log' style='border-collapse:collapse;font-size:13px'><tr>{head}</tr>{rows}</table>"


class ShareLink(pn.viewable.Viewer):
    """A "Share link" button and its dialog for one object."""

    object_type = param.Selector(default="dashboard", objects=list(SHARE_OBJECT_TYPES))
    object_id = param.Integer(default=None, allow_None=True)
    open = param.Boolean(default=False, doc="Whether the dialog is shown")

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.button = pn.widgets.Button(name="Share link", width=120, css_classes=["share-link"])
        self.button.on_click(self._clicked)
        self._kind = pn.widgets.Select(
            name="What",
            options={"The live view": "live", "A snapshot of today's data": "snapshot"},
            value="live",
            width=230,
            visible=self.object_type == "dashboard",
        )
        self._mode = pn.widgets.Select(name="Who can open it", options=MODE_LABELS, width=250)
        self._perms = pn.widgets.CheckBoxGroup(name="Also allow", options=PERMISSION_LABELS, inline=True)
        self._days = pn.widgets.IntInput(name="Valid for (days)", value=30, start=1, end=366, width=140)
        self._max = pn.widgets.IntInput(name="Max uses (empty: no limit)", value=None, start=1, width=190)
        self._label = pn.widgets.TextInput(
            name="Label (for you)", max_length=200, width=250, css_classes=["share-label"]
        )
        self._ips = pn.widgets.TextAreaInput(
            name="Allowed IPs (CIDR, one per line)", height=70, width=300
        )
        self._origins = pn.widgets.TextAreaInput(
            name="Embeddable by (origins, one per line)",
            placeholder="https://intranet.example.com",
            height=70,
            width=300,
        )
        make = pn.widgets.Button(
            name="Create link", button_type="primary", width=130, css_classes=["share-create"]
        )
        make.on_click(lambda _: self.create())
        self._made = pn.Column(sizing_mode="stretch_width", css_classes=["share-made"])
        self._links = pn.pane.HTML("", sizing_mode="stretch_width")
        self._pick = pn.widgets.IntInput(name="Link #", value=None, start=1, width=110)
        revoke = pn.widgets.Button(
            name="Revoke", button_type="danger", width=90, css_classes=["share-revoke"]
        )
        revoke.on_click(lambda _: self.revoke())
        show_log = pn.widgets.Button(name="Access log", width=110, css_classes=["share-log-button"])
        show_log.on_click(lambda _: self.show_log())
        self._log = pn.pane.HTML("", sizing_mode="stretch_width")
        self.dialog = pn.Card(
            pn.Row(self._kind, self._mode, self._days, self._max),
            pn.Row(self._perms),
            pn.Row(self._label, self._ips, self._origins),
            make,
            self._made,
            pn.pane.HTML("<b>Links to this object</b>"),
            self._links,
            pn.Row(self._pick, revoke, show_log),
            self._log,
            title="Share link",
            collapsible=False,
            sizing_mode="stretch_width",
            css_classes=["share-link-dialog"],
        )
        self.holder = pn.Column(sizing_mode="stretch_width", margin=0)
        self.param.watch(self._opened, "open")
        self.param.watch(lambda *_: self.refresh(), "object_id")

    def _clicked(self, _: Any) -> None:
        self.open = not self.open

    def _opened(self, event: Any) -> None:
        # Swapped in and out rather than hidden: a Card first laid out invisible stays empty in Bokeh.
        self.holder.objects = [self.dialog] if event.new else []
        self.refresh()

    # -- actions -------------------------------------------------------------------
    def request(self) -> ShareRequest:
        """The form as a request (raises naming the field)."""
        kind = (
            "snapshot"
            if self.object_type == "dashboard" and self._kind.value == "snapshot"
            else self.object_type
        )
        try:
            return ShareRequest.model_validate(
                {
                    "object_type": kind,
                    "object_id": self.object_id,
                    "mode": self._mode.value,
                    "permissions": ["viewer", *self._perms.value],
                    "expires_at": datetime.now(UTC) + timedelta(days=int(self._days.value or 30)),
                    "max_uses": self._max.value,
                    "ip_allowlist": _lines(self._ips.value),
                    "frame_origins": _lines(self._origins.value),
                    "label": (self._label.value or "").strip() or None,
                }
            )
        except ValidationError as exc:
            raise invalid_from_validation(exc, "link") from None

    def create(self) -> None:
        """Make the link and show it once, with an iframe snippet."""
        if self.object_id is None:
            return
        try:
            request = self.request()
        except PortalError as exc:
            notify_error(exc.message)
            return

        def make(s: Any, p: Principal) -> tuple[dict[str, Any], str]:
            token, plain = tokens.create_share(s, p, request, warehouse=self.ctx.warehouse)
            return tokens.share_to_dict(token), tokens.public_path(token, plain)

        made = run(self.ctx, make, success="Link created: copy it now, it is shown only once.")
        if made is None:
            return
        url = f"{self.ctx.settings.base_url}{made[1]}"
        snippet = f'<iframe src="{url}?kiosk=1" width="100%" height="600" style="border:0"></iframe>'
        self._made.objects = [
            pn.widgets.TextInput(name="Link (shown once)", value=url, width=620, css_classes=["share-url"]),
            pn.widgets.TextAreaInput(
                name="Embed (iframe; add the site to 'Embeddable by')",
                value=snippet,
                height=60,
                width=620,
                css_classes=["share-iframe"],
            ),
        ]
        self.refresh()

    def revoke(self) -> None:
        """Revoke the link whose number is picked."""
        tid = self._pick.value
        if not tid:
            notify_error("Link #: pick the number of a link in the list")
            return
        if (
            run(self.ctx, lambda s, p: tokens.revoke_share(s, p, int(tid)), success=f"Link {tid} revoked.")
            is not None
        ):
            self.refresh()

    def show_log(self) -> None:
        """Who used the picked link, when and from where."""
        tid = self._pick.value
        if not tid:
            notify_error("Link #: pick the number of a link in the list")
            return
        entries = run(
            self.ctx, lambda s, p: [tokens.access_to_dict(a) for a in tokens.access_log(s, p, int(tid))]
        )
        if entries is not None:
            self._log.object = f"<b>Access log of link {int(tid)}</b>" + log_rows(entries)

    def refresh(self) -> None:
        """List the object's links (the caller's; an admin's: everyone's)."""
        if not self.open or self.object_id is None:
            return
        kinds = ("dashboard", "snapshot") if self.object_type == "dashboard" else (self.object_type,)

        def lst(s: Any, p: Principal) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            for kind in kinds:
                found += [
                    tokens.share_to_dict(t)
                    for t in tokens.list_shares(s, p, object_type=kind, object_id=self.object_id)
                ]
            return sorted(found, key=lambda x: -int(x["id"]))

        shares = run(self.ctx, lst)
        self._links.object = link_rows(shares or [])

    def __panel__(self) -> pn.viewable.Viewable:
        return self.holder


__all__ = ["ShareLink", "link_rows", "log_rows"]
