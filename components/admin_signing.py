"""The tenant's PDF signing certificate (``/admin/signing``, tenant administrators).

Shows what is configured (:func:`components.admin_signing_html.status_card_html`) and a form
to upload a PKCS#12 certificate with its password, set the timestamp server, reason and
location, switch signing on or off, or remove the certificate (a second click confirms).
Everything goes through :mod:`portal.pdf.signing_store`, which checks the administrator again
on every call; saving without a new file keeps the stored certificate and changes only the
rest, as ``PUT /api/pdf/signing`` does. The password is never shown back nor kept in the form
after an attempt; errors appear as a notification and under the field they name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import panel as pn
from sqlalchemy import select

from components.admin_signing_html import chosen_file_html, field_error_html, status_card_html
from components.session import ADMINS_ONLY, is_signed_in_admin, notify, notify_error, user_session
from portal.context import AppContext
from portal.errors import PortalError
from portal.models import User
from portal.pdf.signing_store import (
    MAX_P12_BYTES,
    certificate_valid_from,
    delete_signing_config,
    get_signing_config,
    save_signing_config,
    signing_config_to_dict,
)

LINKS = (
    '<a class="people-link" href="/admin/users">← People</a>'
    '<span style="margin:0 12px;color:#cbd5e1">|</span>'
    '<a class="data-link" href="/admin/data">Data sources →</a>'
)
WRAP = {"flex-wrap": "wrap"}
#: The name errors give the certificate input (the REST API calls it ``p12_base64``).
FILE_FIELD = "certificate"
FIELDS = (FILE_FIELD, "password", "tsa_url", "reason", "location", "enabled")
REMOVE, REALLY_REMOVE = "Remove certificate", "Really remove?"


class SigningAdmin(pn.viewable.Viewer):
    """The signed-in administrator's tenant signing certificate: status card and form."""

    def __init__(self, ctx: AppContext, **params: Any) -> None:
        self.ctx = ctx
        super().__init__(**params)
        self.allowed = is_signed_in_admin(ctx)
        if not self.allowed:
            self._body: pn.viewable.Viewable = pn.pane.HTML(ADMINS_ONLY, sizing_mode="stretch_width")
            return
        self._build()
        self.reload(fill_form=True)

    # -- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        w = pn.widgets
        self._status = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["signing-status"])
        self._file = w.FileInput(accept=".p12,.pfx", multiple=False, css_classes=["signing-file"])
        self._chosen = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["signing-chosen"])
        self._file.param.watch(lambda *_: self._show_chosen(), "value")
        self._password = w.PasswordInput(
            name="Certificate password", width=260, css_classes=["signing-password"]
        )
        self._tsa = w.TextInput(
            name="Timestamp server URL (TSA, optional)",
            placeholder="https://freetsa.org/tsr",
            width=420,
            css_classes=["signing-tsa"],
        )
        self._reason = w.TextInput(name="Reason (optional)", width=300, css_classes=["signing-reason"])
        self._location = w.TextInput(name="Location (optional)", width=300, css_classes=["signing-location"])
        self._enabled = w.Checkbox(name="Sign PDF renders", value=True, css_classes=["signing-enabled"])
        save = w.Button(name="Save", button_type="primary", width=120, css_classes=["signing-save"])
        save.on_click(lambda _: self.save())
        self._remove = w.Button(name=REMOVE, button_type="default", width=170, css_classes=["signing-remove"])
        self._remove.on_click(lambda _: self.remove())
        self._errors = {
            f: pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["field-error-pane", f"error-{f}"])
            for f in (*FIELDS, "other")
        }
        hint = pn.pane.HTML(
            '<span style="color:#64748b;font-size:13px">PKCS#12 file (.p12/.pfx) with the certificate and '
            f"its private key, at most {MAX_P12_BYTES // 1024} KB. Leave it empty to keep the stored "
            "certificate and change only the settings below.</span>",
            sizing_mode="stretch_width",
        )
        e = self._errors
        form = pn.Column(
            pn.pane.HTML("<b>Certificate file</b>", margin=(10, 10, 0, 10)),
            self._file,
            self._chosen,
            hint,
            e[FILE_FIELD],
            self._password,
            e["password"],
            self._tsa,
            e["tsa_url"],
            pn.Row(self._reason, self._location, styles=WRAP),
            pn.Row(e["reason"], e["location"], sizing_mode="stretch_width"),
            self._enabled,
            e["enabled"],
            e["other"],
            pn.Row(save, self._remove, styles=WRAP),
            sizing_mode="stretch_width",
            css_classes=["signing-form"],
        )
        self._body = pn.Column(
            pn.Row(
                pn.pane.HTML('<h2 style="margin:0">PDF signing</h2>', margin=(5, 10)),
                pn.layout.HSpacer(),
                pn.pane.HTML(LINKS, margin=(12, 10)),
                sizing_mode="stretch_width",
            ),
            pn.pane.HTML(
                '<p style="color:#475569;margin:0">Rendered PDFs of this tenant are signed (PAdES) with this '
                "certificate; a timestamp server adds a trusted signing time. The certificate and its "
                "password are stored encrypted and never shown again.</p>",
                sizing_mode="stretch_width",
            ),
            self._status,
            pn.pane.HTML('<h3 style="margin:0">Upload or change</h3>', margin=(18, 10, 0, 10)),
            form,
            sizing_mode="stretch_width",
            css_classes=["signing-admin"],
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._body

    # -- reading -----------------------------------------------------------------------
    def reload(self, *, fill_form: bool = False) -> dict[str, Any] | None:
        """Read the configuration again and redraw the card (and the form's settings with ``fill_form``)."""
        key = self.ctx.settings.secret_key

        def read(session: Any, principal: Any) -> dict[str, Any] | None:
            cfg = get_signing_config(session, principal)
            if cfg is None:
                return None
            who = None
            if cfg.updated_by is not None:
                # Same tenant only: a user id of another tenant names nobody here.
                user = session.scalar(
                    select(User).where(User.id == cfg.updated_by, User.tenant_id == principal.tenant_id)
                )
                who = f"{user.name} ({user.email})" if user is not None else None
            return {
                **signing_config_to_dict(cfg),
                "valid_from": certificate_valid_from(cfg, key),
                "updated_by_label": who,
            }

        try:
            with user_session(self.ctx) as (session, principal):
                info = read(session, principal)
        except PortalError as exc:
            notify_error(exc.message)
            return None
        self._status.object = status_card_html(info, datetime.now(UTC))
        if fill_form and info is not None:
            self._tsa.value = info.get("tsa_url") or ""
            self._reason.value = info.get("reason") or ""
            self._location.value = info.get("location") or ""
            self._enabled.value = bool(info.get("enabled"))
        return info

    # -- actions -----------------------------------------------------------------------
    def _clear_errors(self) -> None:
        for pane in self._errors.values():
            pane.object = ""

    @staticmethod
    def _succeeded(message: str) -> None:
        # Error toasts stay until read: once a later attempt worked they only mislead.
        if pn.state.notifications is not None:
            pn.state.notifications.clear()
        notify(message)

    def _show_error(self, exc: PortalError) -> None:
        notify_error(exc.message)
        field = exc.field if exc.field in self._errors else "other"
        self._errors[field].object = field_error_html(exc.message)

    def _show_chosen(self) -> None:
        # Says the file reached the portal (the browser sends it once chosen), before Save.
        data, name = self._file.value, self._file.filename
        self._chosen.object = chosen_file_html(name if data else None, len(data) if data else 0)

    def _disarm(self) -> None:
        self._remove.name = REMOVE
        self._remove.button_type = "default"

    def save(self) -> None:
        """Save the form: a new certificate when a file was chosen, the other settings always."""
        self._disarm()
        self._clear_errors()
        p12 = self._file.value if self._file.value else None
        password = self._password.value or None
        s = self.ctx.settings

        def go(session: Any, principal: Any) -> bool:
            created = get_signing_config(session, principal) is None
            save_signing_config(
                session,
                principal,
                p12=p12,
                password=password,
                tsa_url=self._tsa.value or None,
                reason=self._reason.value or None,
                location=self._location.value or None,
                enabled=bool(self._enabled.value),
                secret_key=s.secret_key,
                allow_private=s.webhook_allow_private,
                allowed_hosts=s.webhook_allowed_hosts,
                p12_field=FILE_FIELD,
            )
            return created

        try:
            with user_session(self.ctx) as (session, principal):
                created = go(session, principal)
        except PortalError as exc:
            # Everything but the password stays in the form, to correct and save again.
            self._password.value = ""
            self._show_error(exc)
            return
        self._password.value = ""
        if p12 is not None:
            self._file.clear()
        self._succeeded(
            "Signing certificate saved"
            if created
            else ("Certificate replaced" if p12 is not None else "Signing settings saved")
        )
        self.reload(fill_form=True)

    def remove(self) -> None:
        """Remove the certificate: the first click asks, the second removes."""
        self._clear_errors()
        if self._remove.name != REALLY_REMOVE:
            self._remove.name = REALLY_REMOVE
            self._remove.button_type = "danger"
            return
        self._disarm()
        try:
            with user_session(self.ctx) as (session, principal):
                removed = delete_signing_config(session, principal)
        except PortalError as exc:
            self._show_error(exc)
            return
        if removed:
            self._succeeded("Signing certificate removed: PDF renders are no longer signed")
        else:
            notify_error("No signing certificate was configured")
        self.reload()
