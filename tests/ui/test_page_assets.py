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


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css)[:3])

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def test_home_cards_replace_placeholders_and_the_tab_is_readable(page: Page, portal_url: str) -> None:
    """Before: the selected tab had 2.5:1 contrast. The cards now load after the page shell
    (placeholders meanwhile); here: the placeholders are gone once the cards are there."""
    s = form_sign_in(portal_url, "analyst@acme.example.com")
    page.context.add_cookies([{"name": COOKIE, "value": s.cookies[COOKIE], "url": portal_url}])
    page.goto(f"{portal_url}/")
    expect(page.locator(".dashboard-card").first).to_be_visible(timeout=30_000)
    expect(page.locator(".cbi-loading")).to_have_count(0)
    active = page.locator(".home-tabs .bk-btn.bk-active")
    expect(active).to_have_count(1)
    fg, bg = active.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    assert (hi + 0.05) / (lo + 0.05) >= 4.5, (fg, bg)
