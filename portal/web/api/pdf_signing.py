"""The tenant's PDF signing certificate: ``GET``/``PUT``/``DELETE /api/pdf/signing`` (tenant admins).

``PUT`` body (JSON)::

    {"p12_base64": "<PKCS#12, base64>", "password": "..." | null,
     "tsa_url": "https://tsa.example.com/" | null, "reason": "..." | null,
     "location": "..." | null, "enabled": true}

``PUT`` replaces the settings; the certificate is write-only: leave ``p12_base64`` (and
``password``) out to keep the stored one and change only the rest. Answers never hold the
certificate or its password, only its subject, issuer and expiry. Errors are 400 naming the
field (``p12_base64``, ``password``, ``tsa_url``...), 413 for a certificate over 100 KB,
403 for non-admins. ``GET`` without a configuration answers ``{"configured": false}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy.orm import Session
from tornado.web import RequestHandler

from portal.errors import BadRequest, NotFound, PayloadTooLarge
from portal.identity.principal import Principal
from portal.pdf.signing_store import (
    MAX_P12_BYTES,
    delete_signing_config,
    get_signing_config,
    save_signing_config,
    signing_config_to_dict,
)
from portal.web.api.base import BaseHandler

FIELDS = ("p12_base64", "password", "tsa_url", "reason", "location", "enabled")
#: Base64 makes 100 KB into ~137 KB; the rest of the body is a few short strings.
MAX_BODY_BYTES = MAX_P12_BYTES * 4 // 3 + 16 * 1024
_NOT_CONFIGURED: dict[str, Any] = {"configured": False}


def decode_p12(value: Any) -> bytes | None:
    """The PKCS#12 bytes from ``p12_base64`` (None when absent); 400/413 naming the field otherwise.

    Line breaks and spaces are ignored (``base64`` tools wrap at 76 columns); the URL-safe
    alphabet is accepted too.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("p12_base64: the PKCS#12 file as base64 text", field="p12_base64")
    text = "".join(value.split())
    if len(text) > MAX_P12_BYTES * 4 // 3 + 4:
        raise PayloadTooLarge(
            f"p12_base64: the certificate file is larger than {MAX_P12_BYTES // 1024} KB", field="p12_base64"
        )
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "p12_base64: not valid base64 (encode the .p12/.pfx file, e.g. `base64 -w0 cert.p12`)",
            field="p12_base64",
        ) from None


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key}: must be text or null", field=key)
    return value


class PdfSigningHandler(BaseHandler):
    """``/api/pdf/signing``: the tenant's signing certificate and timestamp server."""

    async def get(self) -> None:
        """The configuration without its secret, or ``{"configured": false}``."""

        def get(session: Session, principal: Principal) -> dict[str, Any]:
            cfg = get_signing_config(session, principal)
            return signing_config_to_dict(cfg) if cfg is not None else _NOT_CONFIGURED

        self.send(await self.call(get))

    async def put(self) -> None:
        """Create or replace the configuration (see the module docstring for the body)."""
        if len(self.request.body) > MAX_BODY_BYTES:
            raise PayloadTooLarge(
                f"body: too large ({len(self.request.body):,} bytes; at most {MAX_BODY_BYTES:,})",
                field="body",
            )
        data = self.body(FIELDS)
        settings = self.ctx.settings

        def put(session: Session, principal: Principal) -> dict[str, Any]:
            # The admin check comes first: a non-admin learns nothing about what would be valid.
            existing = get_signing_config(session, principal)
            enabled = data.get("enabled", True)
            if not isinstance(enabled, bool):
                raise BadRequest("enabled: must be true or false", field="enabled")
            cfg = save_signing_config(
                session,
                principal,
                p12=decode_p12(data.get("p12_base64")),
                password=_optional_text(data, "password"),
                tsa_url=_optional_text(data, "tsa_url"),
                reason=_optional_text(data, "reason"),
                location=_optional_text(data, "location"),
                enabled=enabled,
                secret_key=settings.secret_key,
                allow_private=settings.webhook_allow_private,
                allowed_hosts=settings.webhook_allowed_hosts,
                p12_field="p12_base64",
            )
            return {**signing_config_to_dict(cfg), "created": existing is None}

        answer = await self.call(put)
        self.send(answer, 201 if answer.pop("created") else 200)

    async def delete(self) -> None:
        """Remove the configuration: 204, or 404 when there was none."""

        def delete(session: Session, principal: Principal) -> None:
            if not delete_signing_config(session, principal):
                raise NotFound("no PDF signing certificate is configured")

        await self.call(delete)
        self.set_status(204)
        self.finish()


#: ``(pattern, handler)`` pairs to add to the table in :func:`portal.web.api.routes`.
ROUTES: list[tuple[str, type[RequestHandler]]] = [
    (r"/api/pdf/signing", PdfSigningHandler),
]
