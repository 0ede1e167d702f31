"""Browser test of the alerts center (issue 9, item 8): an alert raised by a real trigger evaluation
shows in /alerts with its severity, report, value and history; Acknowledge moves it to
"Acknowledged" with who acted, the header's bell counts one unread notification less, and the
dashboard tile the trigger highlights shows the alert marker. Screenshots at 1366 and 1024 px wide
go to /tmp/shots/.

The trigger is saved through the REST API of the running portal; the evaluation job runs in this
process on the portal's own database and warehouse (the portal under test runs without workers).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, expect

import jobs.runtime
import jobs.triggers
from portal import alerts, reports
from portal.config import Settings
from portal.context import build_context
from portal.infra.db import transaction
from portal.web.webauth import COOKIE
from tests.support.principals import as_principal
from tests.ui.conftest import form_sign_in

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

PASSWORD = "conductor-demo"
ANALYST = "analyst@acme.example.com"
TIMEOUT = 20_000
SHOTS = Path("/tmp/shots")
QUERY = {
    "source": "tickets",
    "metrics": [{"agg": "count", "as": "tickets"}],
    "group_by": ["priority"],
    "filters": [{"column": "opened_at", "op": ">=", "value": "{{params.since}}"}],
    "params": {"since": "2000-01-01"},
}

expect.set_options(timeout=TIMEOUT)


def bearer(base: str, email: str) -> requests.Session:
    r = requests.post(f"{base}/api/tokens", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return s


@pytest.fixture(scope="module")
def portal_ctx(portal_url: str, portal_home: Path, redis_url: str) -> Iterator[Any]:
    """A context on the running portal's database and warehouse (its own Redis: breakers only)."""
    ctx = build_context(Settings(home=portal_home, redis_url=redis_url))
    jobs.runtime.use_context(ctx)
    yield ctx
    jobs.runtime.use_context(None)
    ctx.close()


def finished_summary(ctx: Any, job_id: int, wait: float = 30) -> dict[str, Any]:
    """The job's summary once done: the portal's own scheduler may have put the record on its queue
    (start-up reconciliation) and a portal worker run it first."""
    from portal.models import JobRecord

    deadline = time.monotonic() + wait
    while True:
        with ctx.sessions() as s:
            rec = s.get(JobRecord, job_id)
            assert rec is not None
            if rec.status == "done" and rec.result_json is not None:
                return dict(rec.result_json)
        assert time.monotonic() < deadline, f"job {job_id} is {rec.status}: {rec.last_error}"
        time.sleep(0.2)


def shoot(page: Page, name: str, width: int) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(400)  # let the layout settle at the new width
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)


def test_alerts_center_acknowledge_bell_and_highlighted_tile(
    page: Page, portal_url: str, portal_ctx: Any, shot: Any
) -> None:
    base = portal_url
    api = bearer(base, ANALYST)
    tag = uuid.uuid4().hex[:6]
    r = api.post(f"{base}/api/reports", json={"name": f"Backlog <watch> {tag}", "query": QUERY}, timeout=30)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    boards = api.get(f"{base}/api/dashboards", timeout=30).json()["dashboards"]
    src = next(d for d in boards if d["name"] == "Operations & SLA")
    copy = api.post(
        f"{base}/api/dashboards/{src['id']}/duplicate", json={"name": f"Alerted {tag}"}, timeout=30
    )
    assert copy.status_code == 201, copy.text
    did = copy.json()["id"]
    widgets = api.get(f"{base}/api/dashboards/{did}", timeout=30).json()["widgets"]
    widget = next(w for w in widgets if w["viz"] != "text")
    name = f"Backlog above zero <b>{tag}</b>"
    t = api.post(
        f"{base}/api/reports/{rid}/trigger",
        json={
            "name": name,
            "op": ">",
            "value": 0,
            "severity": "crit",
            "actions": [{"type": "in_app"}, {"type": "highlight_widget", "widget_id": widget["id"]}],
        },
        timeout=30,
    )
    assert t.status_code == 201, t.text

    # The execution and its evaluation, as a worker would run them.
    ctx = portal_ctx
    from portal.models import User

    with transaction(ctx.sessions) as s:
        user = s.query(User).filter_by(email=ANALYST).one()
        p = as_principal(s, user)
        ex = reports.execute_report(s, p, rid, ctx.warehouse, ctx.settings.results_dir)
        [sub] = alerts.submit_evaluations(s, p, rid, ex.id)
    summary = jobs.triggers.evaluate(sub.record.id) or finished_summary(ctx, sub.record.id)
    assert summary["notified"] is True, summary
    alert_id = summary["alert_id"]

    cookie = form_sign_in(base, ANALYST, PASSWORD).cookies[COOKIE]
    page.context.add_cookies([{"name": COOKIE, "value": cookie, "url": base}])
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{base}/alerts")
    card = page.locator(".alert-item").filter(has=page.locator(f"#alert-{alert_id}"))
    expect(card).to_be_visible()
    expect(card).to_contain_text(name)  # the name as text, not markup
    expect(card).to_contain_text("Critical")
    expect(card).to_contain_text(f"Backlog <watch> {tag}")
    expect(card).to_contain_text("opened by Conductor BI")
    expect(card.locator("b", has_text=tag)).to_have_count(0)
    bell = page.locator("a.cbi-bell").first
    expect(bell).to_be_visible()
    badge = bell.locator(".cbi-bell-count")
    expect(badge).to_be_visible()
    before = int(badge.inner_text().rstrip("+"))
    assert before >= 1
    shoot(page, "alerts-open", 1366)
    shoot(page, "alerts-open", 1024)
    page.set_viewport_size({"width": 1366, "height": 900})

    card.locator("input").fill("On it <now>")
    card.get_by_role("button", name="Acknowledge").click()
    # The toast itself (Notyf also repeats its text in a hidden screen-reader announcer).
    expect(page.locator(".notyf__message", has_text="Alert acknowledged")).to_be_visible()
    expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)  # left the "Open" list
    # Acknowledging read my notification about it: the bell counts one less.
    if before > 1:
        expect(bell.locator(".cbi-bell-count")).to_have_text(str(before - 1))
    else:
        expect(bell.locator(".cbi-bell-count")).to_have_count(0)
    expect(bell).to_have_attribute(
        "title", f"{before - 1} unread notification{'' if before - 1 == 1 else 's'}"
    )

    page.get_by_role("button", name=re.compile(r"^Acknowledged \(\d+\)$")).click()
    acked = page.locator(".alert-item").filter(has=page.locator(f"#alert-{alert_id}"))
    expect(acked).to_contain_text("acknowledged by Acme Facilities Analyst")
    expect(acked).to_contain_text("On it <now>")
    expect(acked.get_by_role("button", name="Close")).to_be_visible()
    shoot(page, "alerts-acked", 1366)
    shoot(page, "alerts-acked", 1024)

    # The bell leads to my notifications.
    page.set_viewport_size({"width": 1366, "height": 900})
    bell.click()
    expect(page).to_have_url(f"{base}/alerts?tab=notifications")
    expect(page.locator(".notification-list")).to_contain_text(name)
    shoot(page, "alerts-notifications", 1366)

    # The highlighted tile, on the dashboard holding the widget.
    page.goto(f"{base}/dashboard?id={did}")
    expect(page.locator(".cbi-loading")).to_have_count(0)  # every tile drawn
    marker = page.locator(".cbi-alert-marker")
    expect(marker).to_have_count(1)
    expect(marker).to_have_attribute("title", re.compile(re.escape(name)))
    expect(marker).to_contain_text("Acked")
    shoot(page, "dashboard-alert", 1366)
    shoot(page, "dashboard-alert", 1024)
    shot(page, "dashboard-alert")
