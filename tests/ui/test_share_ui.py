"""Share links in a real browser: an outsider opens a dashboard link (read-only, no portal chrome,
the same numbers as the API), a kiosk link without the title bar, a snapshot, a revoked link (the
404 page), a with_login link (sign in first, other tenants refused), framing headers per token,
and the "Share link" dialog of the dashboard page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

ANALYST = "analyst@acme.example.com"


@pytest.fixture(scope="module")
def ops(portal_url: str, bearer: Callable[[str], requests.Session]) -> dict[str, Any]:
    dashboards = bearer(ANALYST).get(f"{portal_url}/api/dashboards", timeout=30).json()["dashboards"]
    return next(d for d in dashboards if d["name"] == "Operations & SLA")


def make_link(portal_url: str, s: requests.Session, **body: Any) -> dict[str, Any]:
    r = s.post(f"{portal_url}/api/share", json=body, timeout=60)
    assert r.status_code == 201, r.text
    return dict(r.json())


def kpi_text(portal_url: str, s: requests.Session, dashboard_id: int, title: str) -> str:
    view = s.get(f"{portal_url}/api/dashboards/{dashboard_id}/view", timeout=60).json()
    widget = next(w for w in view["widgets"] if w["title"] == title)
    return str(widget["data"]["kpi"]["text"])


def test_an_outsider_sees_the_dashboard_read_only(
    page: Page, portal_url: str, bearer: Callable[[str], requests.Session], ops: dict[str, Any], shot: Any
) -> None:
    s = bearer(ANALYST)
    link = make_link(portal_url, s, object_type="dashboard", object_id=ops["id"], label="Board")
    page.context.clear_cookies()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    answer = page.goto(f"{portal_url}{link['path']}")
    assert answer is not None and answer.status == 200
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers.get("x-frame-options") == "DENY"
    expect(page.locator(".share-title")).to_contain_text("Operations & SLA")
    tickets = page.locator(".kpi-value").first
    expect(tickets).to_have_text(kpi_text(portal_url, s, ops["id"], "Tickets"), timeout=60_000)
    expect(page.get_by_role("link", name="Dashboards")).to_have_count(0)  # no portal navigation
    expect(page.locator(".edit-toggle")).to_have_count(0)
    expect(page.locator(".share-people")).to_have_count(0)
    assert missing == []  # the page's scripts and styles resolve from a nested address too
    shot(page, "dashboard-1440")
    page.set_viewport_size({"width": 1024, "height": 900})
    shot(page, "dashboard-1024")
    assert not [c for c in page.context.cookies() if c["name"].startswith("conductor")]

    # Revoked: the same page as any unknown link.
    assert s.delete(f"{portal_url}/api/share/{link['id']}", timeout=30).status_code == 200
    gone = page.goto(f"{portal_url}{link['path']}")
    assert gone is not None and gone.status == 404
    expect(page.locator("h1")).to_have_text("This link is not available")
    unknown = requests.get(f"{portal_url}/pub/dashboard/{'A' * 43}", timeout=30)
    assert unknown.status_code == 404 and unknown.text == gone.text()


def test_kiosk_snapshot_and_framing(
    page: Page, portal_url: str, bearer: Callable[[str], requests.Session], ops: dict[str, Any], shot: Any
) -> None:
    s = bearer(ANALYST)
    framed = make_link(
        portal_url,
        s,
        object_type="dashboard",
        object_id=ops["id"],
        frame_origins=["https://intranet.example.com"],
    )
    r = requests.get(f"{portal_url}{framed['path']}?kiosk=1", timeout=60)
    assert r.status_code == 200
    assert "frame-ancestors https://intranet.example.com" in r.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in r.headers and "Set-Cookie" not in r.headers
    page.context.clear_cookies()
    page.goto(f"{portal_url}{framed['path']}?kiosk=1")
    expect(page.locator(".kpi-value").first).to_be_visible(timeout=60_000)
    expect(page.locator(".share-title")).to_have_count(0)
    shot(page, "kiosk")
    view = s.get(f"{portal_url}/api/dashboards/{ops['id']}/view", timeout=60).json()
    first = view["widgets"][0]
    one = make_link(portal_url, s, object_type="widget", object_id=first["id"])
    page.goto(f"{portal_url}{one['path']}")
    expect(page.locator(".cbi-widget")).to_have_count(1, timeout=60_000)  # that widget alone
    shot(page, "widget")
    snap = make_link(portal_url, s, object_type="snapshot", object_id=ops["id"])
    page.goto(f"{portal_url}{snap['path']}")
    expect(page.locator(".snapshot-note")).to_contain_text("Snapshot of the data as of")
    expect(page.locator(".share-tile").first).to_be_visible()
    shot(page, "snapshot")


def test_a_with_login_link_needs_a_user_of_the_tenant(
    page: Page,
    portal_url: str,
    bearer: Callable[[str], requests.Session],
    signed_in: Callable[[Any, str], None],
    ops: dict[str, Any],
) -> None:
    link = make_link(
        portal_url, bearer(ANALYST), object_type="dashboard", object_id=ops["id"], mode="with_login"
    )
    first = requests.get(f"{portal_url}{link['path']}", allow_redirects=False, timeout=30)
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?next=/pub/dashboard/")
    signed_in(page, "viewer@acme.example.com")
    page.goto(f"{portal_url}{link['path']}")
    expect(page.locator(".share-title")).to_contain_text("Operations & SLA")
    signed_in(page, "analyst@globex.example.com")
    other = page.goto(f"{portal_url}{link['path']}")
    assert other is not None and other.status == 404
    log = bearer(ANALYST).get(f"{portal_url}/api/share/{link['id']}/audit", timeout=30).json()["entries"]
    assert [e["result"] for e in log] == ["not_allowed", "ok", "login_required"]


def test_the_share_link_dialog_makes_a_working_link(
    page: Page,
    portal_url: str,
    signed_in: Callable[[Any, str], None],
    ops: dict[str, Any],
    shot: Any,
) -> None:
    signed_in(page, ANALYST)
    page.goto(f"{portal_url}/dashboard?id={ops['id']}")
    expect(page.locator(".kpi-value").first).to_be_visible(timeout=60_000)  # tiles arrive over the websocket
    page.locator(".share-link button").click()
    expect(page.locator(".share-create button")).to_be_visible(timeout=30_000)
    page.locator(".share-label input").fill("<b>wall screen</b>")
    page.locator(".share-create button").click()
    url_box = page.locator(".share-url input")
    expect(url_box).to_be_visible(timeout=30_000)
    url = url_box.input_value()
    assert url.startswith(f"{portal_url}/pub/dashboard/")
    expect(page.locator(".share-links")).to_contain_text("<b>wall screen</b>")  # shown as text
    shot(page, "share-dialog")
    page.context.clear_cookies()
    page.goto(url)
    expect(page.locator(".share-title")).to_contain_text("Operations & SLA")
