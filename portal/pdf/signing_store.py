"""A tenant's PDF signing certificate: stored encrypted at rest, managed by the tenant's admins.

One :class:`~portal.models.PdfSigningConfig` per tenant. The PKCS#12 file and its password
are encrypted together (``encrypt_json`` of ``{"p12": base64, "password": str|None}``, the
same Fernet key as data-source credentials); only the subject, issuer and expiry read from
the certificate are kept in clear, to show administrators what is configured. The secret
never leaves this module except as :class:`SigningMaterial`, which the render job hands to
``reports_pdf.signing.sign_pdf`` (the core does not import the renderer: it checks the
PKCS#12 with ``cryptography`` itself).

Services take a session and a :class:`Principal` and never commit (the caller owns the
transaction). Errors are :class:`~portal.errors.BadRequest` naming the field (``p12``,
``password``, ``tsa_url``, ``reason``, ``location``).
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import BadRequest, PayloadTooLarge, PermissionDenied, PortalError
from portal.identity import audit
from portal.identity.principal import Principal
from portal.infra.crypto import decrypt_json, encrypt_json
from portal.models import PdfSigningConfig
from portal.notify.netguard import HostNotFound, check_url, pinned_session

__all__ = [
    "MAX_P12_BYTES",
    "SigningMaterial",
    "checked_tsa_session",
    "delete_signing_config",
    "get_signing_config",
    "save_signing_config",
    "signing_config_to_dict",
    "signing_material",
]

#: A PKCS#12 with a key and a chain of a few certificates is 3 to 10 KB; 100 KB is generous.
MAX_P12_BYTES = 100 * 1024
_MAX_PASSWORD = 1024
_MAX_TEXT = 200  # the reason and location columns
_MAX_URL = 500  # the tsa_url column
# How the refusal of a private TSA address is worded (the netguard's setting is shared).
_PURPOSE = "timestamp servers"
_SETTING = "WEBHOOK_ALLOW_PRIVATE or WEBHOOK_ALLOWED_HOSTS"


@dataclass(frozen=True)
class SigningMaterial:
    """What the render job needs to sign a tenant's PDF (decrypted: keep it in memory only)."""

    p12: bytes
    password: str | None
    tsa_url: str | None
    reason: str | None
    location: str | None

    def __repr__(self) -> str:
        # A job failure logged with its locals must not print the key material.
        return (
            f"SigningMaterial(p12=<{len(self.p12)} bytes>, password=<hidden>, "
            f"tsa_url={self.tsa_url!r}, reason={self.reason!r}, location={self.location!r})"
        )


def _require_admin(principal: Principal) -> None:
    # Checked before anything is parsed: a non-admin learns nothing about the configuration.
    if not principal.is_admin:
        raise PermissionDenied("only an administrator of the tenant manages the PDF signing certificate")


# --------------------------------------------------------------------------- PKCS#12 checks
_OID_PKCS7 = bytes.fromhex("06092a864886f70d0107")  # id-data (…07 01) / id-signedData (…07 02)


def _header(data: bytes, pos: int) -> tuple[int, int]:
    """(tag, offset of the content) of the BER element at ``pos``; ValueError when cut short."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    first = data[pos + 1]
    if first < 0x80 or first == 0x80:  # short form, or BER indefinite length (older exporters)
        return data[pos], pos + 2
    n = first & 0x7F
    if n > 4 or pos + 2 + n > len(data):
        raise ValueError("bad length")
    return data[pos], pos + 2 + n


def _looks_like_pkcs12(data: bytes) -> bool:
    """Whether ``data`` starts like a PFX: SEQUENCE { INTEGER 3, ContentInfo { id-data|id-signedData ... } }.

    ``cryptography`` reports "invalid password or PKCS12 data" for both a wrong password and a
    file that is not PKCS#12; the outer structure tells which to report.
    """
    try:
        tag, pos = _header(data, 0)
        if tag != 0x30 or data[pos : pos + 3] != b"\x02\x01\x03":
            return False
        tag, pos = _header(data, pos + 3)
        oid = data[pos : pos + len(_OID_PKCS7) + 1]
        return tag == 0x30 and oid[:-1] == _OID_PKCS7 and oid[-1:] in (b"\x01", b"\x02")
    except ValueError:
        return False


def _public_der(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _check_pkcs12(p12: bytes, password: str | None, field: str, now: datetime) -> x509.Certificate:
    """The signing certificate in ``p12`` once the file, password, key and validity check out."""
    if not p12:
        raise BadRequest(f"{field}: the PKCS#12 file is empty", field=field)
    if len(p12) > MAX_P12_BYTES:
        raise PayloadTooLarge(
            f"{field}: {len(p12):,} bytes is too large for a PKCS#12 certificate (at most {MAX_P12_BYTES:,})",
            field=field,
        )
    if not _looks_like_pkcs12(p12):
        raise BadRequest(
            f"{field}: not a PKCS#12 file (.p12/.pfx); export the certificate together with its "
            "private key as PKCS#12",
            field=field,
        )
    # "No password" may mean no encryption or the empty password, depending on the exporter.
    attempts: list[bytes | None] = [password.encode()] if password else [None, b""]
    for passphrase in attempts:
        try:
            key, cert, _chain = pkcs12.load_key_and_certificates(p12, passphrase)
        except ValueError:
            continue
        except Exception as exc:  # unsupported algorithms surface as assorted error types
            raise BadRequest(f"{field}: cannot read this PKCS#12 file ({exc})", field=field) from None
        break
    else:
        if password:
            raise BadRequest("password: wrong password for this PKCS#12 file", field="password")
        raise BadRequest("password: this PKCS#12 file is protected by a password; give it", field="password")
    if key is None:
        raise BadRequest(
            f"{field}: the PKCS#12 file holds no private key; export the certificate together "
            "with its private key",
            field=field,
        )
    if cert is None:
        raise BadRequest(f"{field}: the PKCS#12 file holds no certificate", field=field)
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise BadRequest(f"{field}: the private key does not belong to the certificate", field=field)
    if now > cert.not_valid_after_utc:
        raise BadRequest(
            f"{field}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
            "upload a current one",
            field=field,
        )
    if now < cert.not_valid_before_utc:
        raise BadRequest(
            f"{field}: the certificate is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            field=field,
        )
    return cert


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field}: must be text or null", field=field)
    text = value.strip()
    if len(text) > limit:
        raise BadRequest(f"{field}: at most {limit} characters (got {len(text)})", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadRequest(f"{field}: must not contain control characters or line breaks", field=field)
    return text or None


def _check_tsa_url(url: str | None, *, allow_private: bool, allowed_hosts: Collection[str]) -> str | None:
    url = _text(url, "tsa_url", _MAX_URL)
    if url is None:
        return None
    try:
        target = check_url(
            url,
            allow_private=allow_private,
            allowed_hosts=allowed_hosts,
            field="tsa_url",
            purpose=_PURPOSE,
            setting=_SETTING,
        )
    except HostNotFound as exc:
        if exc.transient:  # "DNS did not answer" may pass later: the render job checks again
            return url
        raise BadRequest(exc.message, field="tsa_url") from None
    except PortalError as exc:
        raise BadRequest(exc.message, field="tsa_url") from None
    return target.url


def checked_tsa_session(
    tsa_url: str, *, allow_private: bool = False, allowed_hosts: Collection[str] = ()
) -> requests.Session:
    """A ``requests`` session pinned to the checked address of ``tsa_url``, for ``sign_pdf(http_session=)``.

    The URL is checked again when used (it was checked when saved, but DNS answers change):
    :class:`~portal.errors.BadRequest` naming ``tsa_url`` if it now points at the portal's own
    network, :class:`~portal.notify.netguard.HostNotFound` if it does not resolve.
    """
    try:
        target = check_url(
            tsa_url,
            allow_private=allow_private,
            allowed_hosts=allowed_hosts,
            field="tsa_url",
            purpose=_PURPOSE,
            setting=_SETTING,
        )
    except HostNotFound:
        raise
    except PortalError as exc:
        raise BadRequest(exc.message, field="tsa_url") from None
    return pinned_session(target)


# --------------------------------------------------------------------------- services
def _config(session: Session, tenant_id: int) -> PdfSigningConfig | None:
    return session.scalar(select(PdfSigningConfig).where(PdfSigningConfig.tenant_id == tenant_id))


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes (stored as UTC).
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def save_signing_config(
    session: Session,
    principal: Principal,
    *,
    p12: bytes | None,
    password: str | None,
    tsa_url: str | None,
    reason: str | None,
    location: str | None,
    secret_key: str,
    enabled: bool = True,
    allow_private: bool = False,
    allowed_hosts: Collection[str] = (),
    p12_field: str = "p12",
) -> PdfSigningConfig:
    """Create or replace the tenant's signing configuration (tenant admins only).

    ``p12`` is the PKCS#12 file (certificate, private key, optionally the chain), checked here:
    readable with ``password``, holding a private key that matches a certificate valid now.
    ``p12=None`` keeps the stored certificate and password and replaces only the other settings
    (then ``password`` must be None too). ``tsa_url`` (http or https) must pass the SSRF guard
    (``allow_private``/``allowed_hosts`` are the operator's webhook settings). ``p12_field``
    is the name errors give the certificate input (the REST body calls it ``p12_base64``).
    Raises :class:`PermissionDenied` for non-admins and :class:`BadRequest` naming the field.
    """
    _require_admin(principal)
    cfg = _config(session, principal.tenant_id)
    if password is not None and not isinstance(password, str):
        raise BadRequest("password: must be text or null", field="password")
    if password is not None and len(password) > _MAX_PASSWORD:
        raise BadRequest(f"password: at most {_MAX_PASSWORD} characters", field="password")
    if not isinstance(enabled, bool):
        raise BadRequest("enabled: must be true or false", field="enabled")
    if p12 is None:
        if cfg is None:
            raise BadRequest(f"{p12_field}: required (no certificate is configured yet)", field=p12_field)
        if password is not None:
            raise BadRequest(
                f"password: send it together with {p12_field} (the stored certificate keeps its password)",
                field="password",
            )
    cert = _check_pkcs12(p12, password, p12_field, datetime.now(UTC)) if p12 is not None else None
    tsa = _check_tsa_url(tsa_url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    reason_text = _text(reason, "reason", _MAX_TEXT)
    location_text = _text(location, "location", _MAX_TEXT)
    created = cfg is None
    if cfg is None:
        cfg = PdfSigningConfig(tenant_id=principal.tenant_id)
        session.add(cfg)
    if p12 is not None and cert is not None:
        secret = {"p12": base64.b64encode(p12).decode("ascii"), "password": password or None}
        cfg.secret_encrypted = encrypt_json(secret_key, secret)
        cfg.subject = cert.subject.rfc4514_string()[:500]
        cfg.issuer = cert.issuer.rfc4514_string()[:500]
        cfg.not_after = cert.not_valid_after_utc
    cfg.tsa_url = tsa
    cfg.reason = reason_text
    cfg.location = location_text
    cfg.enabled = enabled
    cfg.updated_by = principal.user_id
    cfg.updated_at = datetime.now(UTC)
    session.flush()
    details: dict[str, Any] = {
        "pdf_signing": {
            "subject": cfg.subject,
            "certificate_replaced": p12 is not None,
            "tsa": bool(tsa),
            "enabled": enabled,
        }
    }
    audit.record(session, principal, "create" if created else "edit", cfg, details=details)
    return cfg


def get_signing_config(session: Session, principal: Principal) -> PdfSigningConfig | None:
    """The tenant's signing configuration, or None when there is none (tenant admins only)."""
    _require_admin(principal)
    return _config(session, principal.tenant_id)


def delete_signing_config(session: Session, principal: Principal) -> bool:
    """Remove the tenant's signing configuration (tenant admins only); whether there was one."""
    _require_admin(principal)
    cfg = _config(session, principal.tenant_id)
    if cfg is None:
        return False
    audit.record(session, principal, "delete", cfg, details={"pdf_signing": {"subject": cfg.subject}})
    session.delete(cfg)
    session.flush()
    return True


def signing_material(session: Session, tenant_id: int, secret_key: str) -> SigningMaterial | None:
    """The decrypted certificate of ``tenant_id`` for the render job, or None when signing is
    not configured or disabled.

    No principal: the job already acts for a principal of that tenant and signs what it
    rendered; this is never reachable from a request. A key that cannot decrypt the secret
    raises :class:`~portal.errors.ConfigError` (the settings secret was changed).
    """
    cfg = _config(session, tenant_id)
    if cfg is None or not cfg.enabled:
        return None
    secret = decrypt_json(secret_key, cfg.secret_encrypted)
    return SigningMaterial(
        p12=base64.b64decode(secret["p12"]),
        password=secret.get("password"),
        tsa_url=cfg.tsa_url,
        reason=cfg.reason,
        location=cfg.location,
    )


def certificate_valid_from(cfg: PdfSigningConfig, secret_key: str) -> datetime | None:
    """The start of the stored certificate's validity, for the admin page (only its expiry is
    kept in clear); None when it cannot be read (a changed secret key, an unreadable algorithm)."""
    try:
        secret = decrypt_json(secret_key, cfg.secret_encrypted)
        data, password = base64.b64decode(secret["p12"]), secret.get("password")
    except Exception:  # a changed secret key: the card says "unknown", the page still works
        return None
    # "No password" may mean no encryption or the empty one, as when it was saved.
    for passphrase in [password.encode()] if password else [None, b""]:
        try:
            loaded = pkcs12.load_pkcs12(data, passphrase)
        except ValueError:  # not this passphrase: try the other reading of "no password"
            continue
        except Exception:  # algorithms this build cannot read: the card says "unknown"
            return None
        return loaded.cert.certificate.not_valid_before_utc if loaded.cert is not None else None
    return None


def signing_config_to_dict(cfg: PdfSigningConfig) -> dict[str, Any]:
    """JSON view for administrators: what is configured, never the certificate or its password."""
    not_after, updated_at = _utc(cfg.not_after), _utc(cfg.updated_at)
    return {
        "configured": True,
        "subject": cfg.subject,
        "issuer": cfg.issuer,
        "not_after": not_after.isoformat() if not_after else None,
        "expired": bool(not_after and not_after < datetime.now(UTC)),
        "tsa_url": cfg.tsa_url,
        "reason": cfg.reason,
        "location": cfg.location,
        "enabled": bool(cfg.enabled),
        "updated_by": cfg.updated_by,
        "updated_at": updated_at.isoformat() if updated_at else None,
    }
