"""The "Live operations" demo dashboard moves in the browser (issue 11, part 5): the simulator
publishes every second and the signed-in page updates its tiles in place, without a reload.

Uses the session's portal on the tiny demo data (tests/ui/conftest.py), whose simulator is on
(the default); screenshots go to tests/ui/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.ui.conftest import login

pytestmark = [pytest.mark.ui]

ANALYST = "analyst@acme.example.com"
PASSWORD = "conductor-demo"
TIMEOUT = 30_000


def live_dashboard_id(base: str) -> int:
    token = requests.post(f"{base}/api/tokens", json={"email": ANALYST, "password": PASSWORD}, timeout=30)
    assert token.status_code == 201, token.text
    r = requests.get(
        f"{base}/api/dashboards",
        params={"group": "public"},
        headers={"Authorization": f"Bearer {token.json()['token']}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    found = [d["id"] for d in r.json()["dashboards"] if d["name"] == "Live operations"]
    assert found, "the demo has no Live operations dashboard"
    return int(found[0])


def test_live_dashboard_updates_without_reload(
    page: Page, portal_url: str, shot: Callable[[Page, str], Path]
) -> None:
    did = live_dashboard_id(portal_url)
    login(page, portal_url, ANALYST, PASSWORD, target=f"/dashboard?id={did}")
    kpi_tile = page.locator(".cbi-widget").filter(has=page.locator(".widget-title", has_text="Open tickets"))
    value = kpi_tile.locator(".kpi-value")
    expect(value).to_have_text(re.compile(r"^[\d,]+$"), timeout=TIMEOUT)
    expect(kpi_tile.locator(".cbi-live")).to_be_visible()
    expect(page.locator(".cbi-live")).to_have_count(3)
    # The page stays the same document: a marker set now must survive every update.
    page.evaluate("window.__cbiNoReload = true")
    first = value.inner_text()
    shot(page, "live-first")
    # The simulator publishes every second; the value moves within a few seconds.
    expect(value).not_to_have_text(first, timeout=15_000)
    # The line chart's data source gets newer points by streaming (Bokeh models in the page, not a
    # new chart). Its length is capped (the oldest points roll over once a long-running server's
    # history fills it), so the test follows the latest time rather than the number of points.
    points = """() => {
        let latest = 0;
        for (const doc of (window.Bokeh && Bokeh.documents) || []) {
            for (const m of doc.all_models) {
                const d = m.data;
                if (!d || typeof d !== 'object') continue;
                const t = d instanceof Map ? d.get('time') : d.time;
                if (t && t.length) latest = Math.max(latest, Number(t[t.length - 1]) || 0);
            }
        }
        return latest;
    }"""
    before = page.evaluate(points)
    page.wait_for_function(f"() => ({points})() > {before}", timeout=15_000)
    assert page.evaluate("window.__cbiNoReload") is True
    shot(page, "live-moved")
