"""What a page loads: nothing from outside the portal (fonts included), and an emoji font to draw emoji."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import Page, expect

from portal.web.webauth import COOKIE
from tests.ui.conftest import form_sign_in

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]


def test_pages_ask_nothing_of_other_sites(page: Page, portal_url: str) -> None:
    """Before: every page asked fonts.googleapis.com for Open Sans (and the CSP blocked it)."""
    cookie = form_sign_in(portal_url, "analyst@acme.example.com").cookies[COOKIE]
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": portal_url}])
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    for path in ("/", "/reports"):
        page.goto(f"{portal_url}{path}")
        page.wait_for_load_state("networkidle")
    outside = [u for u in asked if not u.startswith((portal_url, "blob:", "data:"))]
    assert outside == []
    assert f"{portal_url}/assets/fonts.css" in asked
    # The page text is drawn in the served Open Sans.
    family = page.evaluate("getComputedStyle(document.querySelector('#header') || document.body).fontFamily")
    assert "Open Sans" in family, family
    expect(page.locator("body")).to_be_visible()


def test_fonts_are_served_by_the_portal(portal_url: str) -> None:
    css = requests.get(f"{portal_url}/assets/fonts.css", timeout=30)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    files = re.findall(r"url\('(/assets/fonts/[^']+)'\)", css.text)
    assert any("NotoColorEmoji" in f for f in files) and any("OpenSans-Regular" in f for f in files)
    assert "unicode-range:" in css.text  # the emoji font is fetched only by pages showing one
    for f in files:
        r = requests.get(f"{portal_url}{f}", timeout=60)
        assert r.status_code == 200 and r.headers["Content-Type"] == "font/ttf" and len(r.content) > 10_000
    # Nothing else from the disk: only the listed faces are served.
    for bad in ("/assets/fonts/DejaVuSans.ttf", "/assets/fonts/..%2F..%2Fetc%2Fpasswd"):
        assert requests.get(f"{portal_url}{bad}", timeout=30).status_code == 404
