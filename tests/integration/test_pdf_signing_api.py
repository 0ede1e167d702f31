"""``/api/pdf/signing``: a tenant admin configures the PDF signing certificate over REST.

The PKCS#12 and its password are stored encrypted (never in clear in the row, never in an
answer or the audit log); non-admins get 403 before their input is even looked at; bad base64,
a file that is not PKCS#12, a wrong password, an expired certificate and a TSA URL on the
portal's own network are 400 naming the field; another tenant neither sees nor deletes the
configuration. What is stored signs a real PDF that validates against the throwaway root.

Needs the route registered in ``portal.web.api.routes`` (``*pdf_signing.ROUTES``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from fpdf import FPDF
from sqlalchemy import select

from portal.demo.accounts import DEV_PASSWORD
from portal.infra.crypto import decrypt_json
from portal.infra.db import transaction
from portal.models import AuditLog, PdfSigningConfig, Tenant
from portal.pdf.signing_store import signing_material
from reports_pdf.signing import sign_pdf, validate_signature
from tests.support.certs import SignerBundle, TestCA, signer_bundle
from tests.support.http import ApiServer
from tests.support.shared import sign_in_once

URL = "/api/pdf/signing"
PUBLIC_TSA = "http://8.8.8.8/tsa"  # a public IP literal: passes the SSRF guard without DNS, never called


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def module_api(module_ctx: Any, module_demo: Any) -> Iterator[ApiServer]:
    """The module's API without background workers: nothing here runs jobs."""
    server = ApiServer(module_ctx, workers=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(module_api: ApiServer) -> requests.Session:
    return sign_in_once(module_api, "admin@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def analyst(module_api: ApiServer, admin: requests.Session) -> requests.Session:
    return module_api.login("analyst@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def other_admin(module_api: ApiServer, admin: requests.Session) -> requests.Session:
    return module_api.login("admin@globex.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA.create()


@pytest.fixture(scope="module")
def bundle(ca: TestCA) -> SignerBundle:
    return signer_bundle(ca, "Acme Report Signer")


@pytest.fixture
def base(
    module_api: ApiServer, admin: requests.Session, other_admin: requests.Session, redis_client: Any
) -> str:
    """The API's base URL, with neither demo tenant configured (tests share the database)."""
    for s in (admin, other_admin):
        r = s.delete(f"{module_api.base}{URL}")
        assert r.status_code in (204, 404), r.text
    return module_api.base


def body(bundle: SignerBundle, **extra: Any) -> dict[str, Any]:
    return {
        "p12_base64": base64.b64encode(bundle.p12).decode(),
        "password": bundle.password,
        "tsa_url": None,
        "reason": "Quarterly report",
        "location": "Liège",
        "enabled": True,
        **extra,
    }


def tenant_id(ctx: Any, slug: str) -> int:
    with ctx.sessions() as s:
        tid = s.scalar(select(Tenant.id).where(Tenant.slug == slug))
    assert tid is not None
    return int(tid)


def stored(ctx: Any, slug: str) -> PdfSigningConfig | None:
    with ctx.sessions() as s:
        cfg: PdfSigningConfig | None = s.scalar(
            select(PdfSigningConfig).where(PdfSigningConfig.tenant_id == tenant_id(ctx, slug))
        )
        if cfg is not None:
            s.expunge(cfg)
        return cfg


# --------------------------------------------------------------------------- tests
def test_admin_saves_a_certificate_and_never_sees_the_secret_again(
    base: str, admin: requests.Session, bundle: SignerBundle, module_ctx: Any
) -> None:
    sent = body(bundle, tsa_url=PUBLIC_TSA)
    r = admin.put(f"{base}{URL}", json=sent)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["configured"] is True and doc["enabled"] is True
    assert "CN=Acme Report Signer" in doc["subject"] and "CN=Conductor Test Root CA" in doc["issuer"]
    assert datetime.fromisoformat(doc["not_after"]) == bundle.cert.not_valid_after_utc
    assert doc["expired"] is False
    assert (doc["tsa_url"], doc["reason"], doc["location"]) == (PUBLIC_TSA, "Quarterly report", "Liège")
    for answer in (r, admin.get(f"{base}{URL}")):
        assert answer.status_code == 200 or answer is r
        assert "p12" not in answer.json() and "password" not in answer.json()
        assert bundle.password not in answer.text and sent["p12_base64"][:40] not in answer.text
    assert admin.get(f"{base}{URL}").json() == doc

    # At rest: ciphertext only; the settings key decrypts it back to what was sent.
    cfg = stored(module_ctx, "acme")
    assert cfg is not None
    raw = bytes(cfg.secret_encrypted)
    assert bundle.p12 not in raw and bundle.password.encode() not in raw
    assert sent["p12_base64"][:40].encode() not in raw
    secret = decrypt_json(module_ctx.settings.secret_key, raw)
    assert base64.b64decode(secret["p12"]) == bundle.p12 and secret["password"] == bundle.password

    # The audit log records the change, not the secret.
    with module_ctx.sessions() as s:
        rows = s.scalars(
            select(AuditLog).where(
                AuditLog.object_type == "pdf_signing_configs", AuditLog.object_id == cfg.id
            )
        ).all()
        assert rows
        assert all(bundle.password not in str(a.snapshots) for a in rows)


def test_stored_certificate_signs_a_pdf_that_validates(
    base: str, admin: requests.Session, bundle: SignerBundle, ca: TestCA, module_ctx: Any
) -> None:
    assert admin.put(f"{base}{URL}", json=body(bundle)).status_code == 201
    with transaction(module_ctx.sessions) as s:
        material = signing_material(s, tenant_id(module_ctx, "acme"), module_ctx.settings.secret_key)
    assert material is not None
    assert material.p12 == bundle.p12 and material.password == bundle.password
    assert bundle.password not in repr(material)
    pdf = FPDF()
    pdf.add_font("DejaVu", "", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    pdf.set_font("DejaVu", size=12)
    pdf.add_page()
    pdf.cell(text="Signé à Liège")
    signed = sign_pdf(
        bytes(pdf.output()),
        material.p12,
        material.password,
        reason=material.reason,
        location=material.location,
        tsa_url=material.tsa_url,
    )
    status = validate_signature(signed, [ca.root_der])
    assert status.ok, status.problem


def test_settings_change_without_resending_the_certificate(
    base: str, admin: requests.Session, bundle: SignerBundle, module_ctx: Any
) -> None:
    assert admin.put(f"{base}{URL}", json=body(bundle)).status_code == 201
    before = stored(module_ctx, "acme")
    r = admin.put(f"{base}{URL}", json={"reason": "Archive", "location": None, "enabled": False})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["reason"], doc["location"], doc["enabled"]) == ("Archive", None, False)
    assert "CN=Acme Report Signer" in doc["subject"]
    after = stored(module_ctx, "acme")
    assert before is not None and after is not None and after.secret_encrypted == before.secret_encrypted
    # Disabled: the render job gets nothing to sign with.
    with transaction(module_ctx.sessions) as s:
        assert signing_material(s, tenant_id(module_ctx, "acme"), module_ctx.settings.secret_key) is None
    # A password alone (without the certificate it belongs to) is refused.
    r = admin.put(f"{base}{URL}", json={"password": "new"})
    assert r.status_code == 400 and r.json()["field"] == "password"


def test_non_admin_is_forbidden(base: str, analyst: requests.Session, bundle: SignerBundle) -> None:
    assert analyst.get(f"{base}{URL}").status_code == 403
    assert analyst.put(f"{base}{URL}", json=body(bundle)).status_code == 403
    # Refused before the input is looked at: bad base64 from a non-admin is still a 403.
    assert analyst.put(f"{base}{URL}", json={"p12_base64": "%%%"}).status_code == 403
    assert analyst.delete(f"{base}{URL}").status_code == 403


def test_anonymous_is_unauthenticated(base: str) -> None:
    assert requests.get(f"{base}{URL}", timeout=10).status_code == 401


def expired_bundle(ca: TestCA) -> SignerBundle:
    now = datetime.now(UTC)
    return signer_bundle(
        ca, "Old Signer", not_before=now - timedelta(days=400), not_after=now - timedelta(days=2)
    )


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"p12_base64": "not base64 at all!"}, "p12_base64", "not valid base64"),
        ({"p12_base64": base64.b64encode(b"%PDF-1.7 hello").decode()}, "p12_base64", "not a PKCS#12"),
        ({"p12_base64": 12}, "p12_base64", "base64"),
        ({"password": "wrong-password"}, "password", "wrong password"),
        ({"password": None}, "password", "protected by a password"),
        ({"tsa_url": "http://127.0.0.1:8080/tsa"}, "tsa_url", "loopback"),
        ({"tsa_url": "http://169.254.169.254/latest"}, "tsa_url", "metadata"),
        ({"tsa_url": "ftp://tsa.example.com/"}, "tsa_url", "http"),
        ({"reason": "x" * 201}, "reason", "200"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"signature": "extra"}, "signature", "unknown field"),
    ],
)
def test_bad_input_is_400_naming_the_field(
    base: str,
    admin: requests.Session,
    bundle: SignerBundle,
    change: dict[str, Any],
    field: str,
    words: str,
    module_ctx: Any,
) -> None:
    r = admin.put(f"{base}{URL}", json=body(bundle, **change))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert words in r.json()["message"]
    assert stored(module_ctx, "acme") is None  # nothing half-saved


def test_expired_certificate_is_refused(base: str, admin: requests.Session, ca: TestCA) -> None:
    r = admin.put(f"{base}{URL}", json=body(expired_bundle(ca)))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "p12_base64" and "expired" in r.json()["message"]


def test_first_save_needs_a_certificate(base: str, admin: requests.Session) -> None:
    r = admin.put(f"{base}{URL}", json={"reason": "no certificate yet"})
    assert r.status_code == 400 and r.json()["field"] == "p12_base64"


def test_oversized_certificate_is_413(base: str, admin: requests.Session, bundle: SignerBundle) -> None:
    huge = base64.b64encode(bundle.p12 + b"\0" * 120 * 1024).decode()
    r = admin.put(f"{base}{URL}", json=body(bundle, p12_base64=huge))
    assert r.status_code == 413, r.text


def test_other_tenant_cannot_see_or_delete_it(
    base: str, admin: requests.Session, other_admin: requests.Session, bundle: SignerBundle
) -> None:
    assert admin.put(f"{base}{URL}", json=body(bundle)).status_code == 201
    assert other_admin.get(f"{base}{URL}").json() == {"configured": False}
    assert other_admin.delete(f"{base}{URL}").status_code == 404
    assert admin.get(f"{base}{URL}").json()["configured"] is True


def test_delete_removes_it(base: str, admin: requests.Session, bundle: SignerBundle, module_ctx: Any) -> None:
    assert admin.put(f"{base}{URL}", json=body(bundle)).status_code == 201
    r = admin.delete(f"{base}{URL}")
    assert r.status_code == 204
    assert admin.get(f"{base}{URL}").json() == {"configured": False}
    assert stored(module_ctx, "acme") is None
    assert admin.delete(f"{base}{URL}").status_code == 404
