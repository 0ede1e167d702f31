"""Browser test of /admin/signing: the demo admin uploads a throwaway PKCS#12, sees its subject,
is refused a wrong password and a private timestamp server (the stored configuration stays),
replaces the certificate, changes only the settings, and removes it; an analyst sees only the
admins-only note. Server state is checked through ``GET /api/pdf/signing``.

The tenant's signing configuration is removed at the end whatever happens: other browser tests
share the portal, and a configured certificate would sign every PDF they render.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.certs import TestCA, signer_bundle

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]
expect.set_options(timeout=30_000)

ADMIN = "admin@acme.example.com"
ANALYST = "analyst@acme.example.com"


@pytest.fixture
def admin_api(
    portal_url: str, bearer: Callable[[str], requests.Session]
) -> Iterator[Callable[[], dict[str, Any]]]:
    """state() → the admin's ``GET /api/pdf/signing``; starts and ends with no configuration."""
    api = bearer(ADMIN)

    def state() -> dict[str, Any]:
        r = api.get(f"{portal_url}/api/pdf/signing", timeout=30)
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def remove() -> None:
        r = api.delete(f"{portal_url}/api/pdf/signing", timeout=30)
        assert r.status_code in (204, 404), r.text

    remove()
    yield state
    remove()
    assert state() == {"configured": False}


def upload(page: Page, name: str, p12: bytes) -> None:
    """Choose ``p12`` in the page's file input and wait until the portal has it."""
    page.set_input_files(
        ".signing-file input[type=file]",
        files=[{"name": name, "mimeType": "application/x-pkcs12", "buffer": p12}],
    )
    expect(page.locator(".signing-chosen")).to_contain_text(f"{len(p12):,} bytes")


def toast(page: Page, text: str) -> Any:
    """The notification itself (Notyf repeats the text in a screen-reader announcer)."""
    return page.locator(".notyf__message", has_text=text).first


def test_admin_uploads_replaces_and_removes_certificate(
    page: Page, portal_url: str, signed_in: Any, admin_api: Callable[[], dict[str, Any]], shot: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    ca = TestCA.create()
    # The first one ends in ten days: the card warns about it.
    first = signer_bundle(
        ca, f"Signer {tag} one", password="first-pass", not_after=datetime.now(UTC) + timedelta(days=10)
    )
    second = signer_bundle(ca, f"Signer {tag} two", password="second-pass")

    signed_in(page, ADMIN)
    page.goto(f"{portal_url}/admin/users")  # reached from the People page's link
    page.locator("a.signing-link").click()
    expect(page).to_have_url(f"{portal_url}/admin/signing")
    expect(page.locator(".signing-none")).to_be_visible()
    expect(page.locator(".signing-admin a.people-link")).to_have_attribute("href", "/admin/users")
    expect(page.locator(".signing-admin a.data-link")).to_have_attribute("href", "/admin/data")

    # 1. upload a certificate
    upload(page, "signer.p12", first.p12)
    page.locator(".signing-password input").fill(first.password)
    page.locator(".signing-reason input").fill(f"Approved <i>{tag}</i>")
    page.locator(".signing-location input").fill("Brussels")
    page.locator(".signing-save button").click()
    expect(toast(page, "Signing certificate saved")).to_be_visible()
    status = page.locator(".signing-status")
    expect(status).to_contain_text(f"CN=Signer {tag} one")
    expect(status).to_contain_text(f"Approved <i>{tag}</i>")  # markup shown as text
    expect(page.locator(".signing-status i", has_text=tag)).to_have_count(0)
    expect(status).to_contain_text("on: PDF renders are signed")
    expect(page.locator(".signing-expiring")).to_contain_text("expires in 9 days")
    expect(page.locator(".signing-password input")).to_have_value("")
    saved = admin_api()
    assert saved["configured"] is True and f"CN=Signer {tag} one" in saved["subject"]
    assert saved["reason"] == f"Approved <i>{tag}</i>" and saved["location"] == "Brussels"
    assert saved["enabled"] is True and "password" not in saved
    shot(page, "configured-1500")
    page.set_viewport_size({"width": 1024, "height": 1000})
    expect(status).to_contain_text(f"CN=Signer {tag} one")
    shot(page, "configured-1024")
    page.set_viewport_size({"width": 1500, "height": 1000})

    # 2. not a PKCS#12, a file over 100 KB, a wrong password: errors naming the field, nothing stored
    # changes, the form keeps everything but the password
    upload(page, "notes.p12", b"just some text, not a certificate")
    page.locator(".signing-password input").fill(first.password)
    page.locator(".signing-save button").click()
    expect(page.locator(".error-certificate")).to_contain_text("certificate: not a PKCS#12 file")
    expect(toast(page, "certificate: not a PKCS#12 file")).to_be_visible()
    upload(page, "huge.pfx", b"0" * 150_000)
    page.locator(".signing-save button").click()
    expect(page.locator(".error-certificate")).to_contain_text("150,000 bytes is too large")
    expect(toast(page, "150,000 bytes is too large")).to_be_visible()
    past = datetime.now(UTC) - timedelta(days=2)
    expired = signer_bundle(
        ca, f"Signer {tag} old", password="old-pass", not_before=past - timedelta(days=30), not_after=past
    )
    upload(page, "old.p12", expired.p12)
    page.locator(".signing-password input").fill(expired.password)
    page.locator(".signing-save button").click()
    expect(page.locator(".error-certificate")).to_contain_text("certificate: the certificate expired on")
    expect(toast(page, "the certificate expired on")).to_be_visible()
    assert admin_api() == saved
    upload(page, "second.pfx", second.p12)
    page.locator(".signing-password input").fill("not-the-password")
    page.locator(".signing-save button").click()
    expect(toast(page, "password: wrong password")).to_be_visible()
    expect(page.locator(".error-certificate")).to_have_text("")
    expect(page.locator(".error-password")).to_contain_text("password: wrong password")
    expect(page.locator(".signing-password input")).to_have_value("")
    expect(page.locator(".signing-reason input")).to_have_value(f"Approved <i>{tag}</i>")
    expect(page.locator(".signing-chosen")).to_contain_text("second.pfx")
    shot(page, "wrong-password")
    assert admin_api() == saved

    # 3. a timestamp server on a private address is refused, naming tsa_url
    page.locator(".signing-password input").fill(second.password)
    page.locator(".signing-tsa input").fill("http://127.0.0.1:9/tsr")
    page.locator(".signing-save button").click()
    expect(page.locator(".error-tsa_url")).to_contain_text("tsa_url:")
    expect(toast(page, "tsa_url:")).to_be_visible()
    expect(page.locator(".error-password")).to_have_text("")
    assert admin_api() == saved

    # 4. the same file with its password and no TSA replaces the certificate
    page.locator(".signing-password input").fill(second.password)
    page.locator(".signing-tsa input").fill("")
    page.locator(".signing-save button").click()
    expect(toast(page, "Certificate replaced")).to_be_visible()
    expect(page.locator(".notyf__toast--error")).to_have_count(0)  # stale errors are dismissed
    expect(status).to_contain_text(f"CN=Signer {tag} two")
    expect(page.locator(".signing-warning")).to_have_count(0)  # valid for a year
    expect(page.locator(".error-tsa_url")).to_have_text("")
    expect(page.locator(".signing-chosen")).to_have_text("")
    replaced = admin_api()
    assert f"CN=Signer {tag} two" in replaced["subject"] and replaced["tsa_url"] is None

    # 5. settings only: no file keeps the stored certificate
    page.locator(".signing-enabled input[type=checkbox]").uncheck()
    page.locator(".signing-save button").click()
    expect(toast(page, "Signing settings saved")).to_be_visible()
    expect(status).to_contain_text("off: PDF renders are not signed")
    off = admin_api()
    assert off["enabled"] is False and off["subject"] == replaced["subject"]

    # 6. remove, with a confirming second click
    remove = page.locator(".signing-remove button")
    remove.click()
    expect(remove).to_have_text("Really remove?")
    assert admin_api()["configured"] is True  # the first click only asks
    shot(page, "confirm-remove")
    remove.click()
    expect(toast(page, "Signing certificate removed")).to_be_visible()
    expect(page.locator(".signing-none")).to_be_visible()
    expect(remove).to_have_text("Remove certificate")
    assert admin_api() == {"configured": False}
    shot(page, "removed")


def test_analyst_sees_admins_only(
    page: Page, portal_url: str, signed_in: Any, bearer: Callable[[str], requests.Session], shot: Any
) -> None:
    signed_in(page, ANALYST)
    page.goto(f"{portal_url}/admin/signing")
    expect(page.locator(".admins-only")).to_be_visible()
    expect(page.locator(".admins-only")).to_contain_text("Admins only")
    expect(page.locator(".signing-form")).to_have_count(0)
    expect(page.locator(".signing-status")).to_have_count(0)
    r = bearer(ANALYST).get(f"{portal_url}/api/pdf/signing", timeout=30)
    assert r.status_code == 403, r.text
    shot(page, "admins-only")


def test_admin_pages_fit_a_1024_px_window(page: Page, portal_url: str, signed_in: Any, shot: Any) -> None:
    """The header of an admin (nine links, the bell, Sign out) never pushes a page wider than the window."""
    signed_in(page, ADMIN)
    page.set_viewport_size({"width": 1024, "height": 900})
    for path, marker in (("/admin/users", ".people-admin"), ("/admin/signing", ".signing-status")):
        page.goto(f"{portal_url}{path}")
        expect(page.locator(marker).first).to_be_visible(timeout=30_000)
        expect(page.locator("a.cbi-nav", has_text="Admin")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1025, path
    shot(page, "signing-1024")
