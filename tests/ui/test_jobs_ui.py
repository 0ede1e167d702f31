"""Browser tests of issue 9's job monitor, schedules and outbox pages: what the user sees.

- ``/jobs``: a report run that ended ``done`` and one ``deferred`` to its flexible window with the
  reason, the selected job's details and Cancel, the workers of both pools (the test portal runs
  them), the lag and throughput charts, live refresh picking up a job that appears later.
- ``/schedules``: the create form previews the schedule in words with its next runs as it is
  typed, names the field of a bad expression, creates it; pause in the list.
- ``/outbox``: the tenant's message addressed to the viewer, its text and attachment; another
  tenant's message and one addressed to someone else are not listed.

Screenshots at 1366 and 1024 px wide go to /tmp/shots/ (and tests/ui/artifacts/).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine, select

from portal.models import Tenant
from portal.notify.email import Attachment, EmailMessageSpec, OutboxMailer, deliver
from portal.web.webauth import COOKIE
from tests.ui.conftest import form_sign_in

pytestmark = [
    pytest.mark.ui,
    pytest.mark.filterwarnings("ignore:Session-scoped fixtures defined as instance methods"),
]

PASSWORD = "conductor-demo"
ANALYST = "analyst@acme.example.com"
ADMIN = "admin@acme.example.com"
TIMEOUT = 30_000
SHOTS = Path("/tmp/shots")
WIDTHS = (1366, 1024)

expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def api(portal_url: str) -> Callable[[str], requests.Session]:
    """api(email) → a requests session with that user's bearer token."""
    sessions: dict[str, requests.Session] = {}

    def get(email: str) -> requests.Session:
        if email not in sessions:
            r = requests.post(
                f"{portal_url}/api/tokens", json={"email": email, "password": PASSWORD}, timeout=30
            )
            assert r.status_code == 201, r.text
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {r.json()['token']}"
            sessions[email] = s
        return sessions[email]

    return get


@pytest.fixture(scope="module")
def sign_in(portal_url: str) -> Iterator[Callable[[Page, str], None]]:
    cookies: dict[str, str] = {}

    def add(page: Page, email: str) -> None:
        if email not in cookies:
            cookies[email] = form_sign_in(portal_url, email, PASSWORD).cookies[COOKIE]
        page.context.clear_cookies()
        page.context.add_cookies([{"name": COOKIE, "value": cookies[email], "url": portal_url}])

    yield add


def widths(page: Page, name: str, shot: Callable[[Page, str], Path]) -> None:
    """Screenshots of the page at each width, in /tmp/shots/ and the artifacts folder."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for w in WIDTHS:
        page.set_viewport_size({"width": w, "height": 900})
        page.wait_for_timeout(600)  # the layout settles (FlexBox wraps, Bokeh resizes)
        # The template scrolls inside its main area: a viewport as tall as the content shows all of it.
        tall = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
        )
        page.set_viewport_size({"width": w, "height": min(max(900, int(tall) + 40), 4000)})
        page.wait_for_timeout(400)
        page.screenshot(path=str(SHOTS / f"{name}-{w}.png"), full_page=True)
        shot(page, f"{name}-{w}")
    page.set_viewport_size({"width": 1500, "height": 1000})


def a_report(base: str, s: requests.Session) -> int:
    r = s.get(f"{base}/api/reports", params={"group": "mine"}, timeout=30)
    assert r.status_code == 200, r.text
    return int(r.json()["reports"][0]["id"])


def job_row(page: Page, job_id: int) -> Locator:
    return page.locator(".job-list .tabulator-row").filter(
        has=page.locator(".tabulator-cell", has_text=re.compile(rf"^#{job_id}$"))
    )


# --------------------------------------------------------------------------- /jobs
def test_job_monitor_shows_done_and_deferred_jobs_workers_and_charts(
    page: Page, portal_url: str, api, sign_in, shot
) -> None:
    base = portal_url
    s = api(ANALYST)
    rid = a_report(base, s)
    ran = s.post(f"{base}/api/reports/{rid}/execute", json={"wait": 30, "use_cache": False}, timeout=60)
    assert ran.status_code == 201, ran.text
    done_id = int(ran.json()["job_id"])
    # A flexible window three hours ahead: the run waits for it, and says so.
    start = datetime.now(UTC) + timedelta(hours=3)
    window = {"timezone": "UTC", "start": f"{start:%H}:00", "end": f"{(start + timedelta(hours=1)):%H}:00"}
    held = s.post(f"{base}/api/reports/{rid}/execute", json={"window": window, "params": {}}, timeout=60)
    assert held.status_code == 202, held.text
    deferred_id, reason = int(held.json()["job_id"]), held.json()["reason"]
    assert held.json()["state"] == "deferred" and reason

    sign_in(page, ANALYST)
    page.goto(f"{base}/")
    page.locator("a", has_text=re.compile(r"^Jobs$")).click()  # the header link
    expect(page).to_have_url(f"{base}/jobs")
    expect(job_row(page, done_id)).to_contain_text("done")
    deferred = job_row(page, deferred_id)
    expect(deferred).to_contain_text("deferred")
    expect(deferred).to_contain_text(reason[:40])
    deferred.click()
    detail = page.locator(".job-detail")
    expect(detail).to_contain_text(f"Job #{deferred_id}")
    expect(detail.locator(".job-reason")).to_have_text(reason)
    expect(detail).to_contain_text("Not before")
    expect(detail.get_by_role("button", name="Cancel job")).to_be_enabled()
    expect(detail.get_by_role("button", name="Retry")).to_be_disabled()

    workers = page.locator(".workers-panel")
    expect(workers).to_contain_text("realtime pool")
    expect(workers).to_contain_text("batch pool")
    expect(workers.locator("td", has_text=re.compile(r"^realtime-")).first).to_be_visible()
    expect(page.locator(".limits")).to_contain_text("Jobs running at once")
    charts = page.locator(".job-charts canvas")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 2
    expect(page.locator(".job-counts .count-done")).to_contain_text(re.compile(r"done [1-9]"))
    widths(page, "jobs", shot)

    # Live: a job submitted after the page opened shows up without a reload.
    later = s.post(
        f"{base}/api/reports/{rid}/execute",
        json={"wait": 30, "params": {}, "use_cache": False, "priority": "high"},
        timeout=60,
    )
    assert later.status_code in (201, 202), later.text
    expect(job_row(page, int(later.json()["job_id"]))).to_be_visible(timeout=20_000)

    # Cancel the deferred job from the page.
    job_row(page, deferred_id).click()
    page.locator(".job-detail").get_by_role("button", name="Cancel job").click()
    expect(job_row(page, deferred_id)).to_contain_text("canceled")
    expect(page.locator(".job-detail").get_by_role("button", name="Retry")).to_be_enabled()
    assert s.get(f"{base}/api/jobs/{deferred_id}", timeout=30).json()["state"] == "canceled"
    expect(page.locator(".notyf__toast--error")).to_have_count(0)
    shot(page, "jobs-canceled")


def test_job_monitor_admin_form(page: Page, portal_url: str, sign_in, shot) -> None:
    sign_in(page, ADMIN)
    page.goto(f"{portal_url}/jobs")
    admin = page.locator(".job-admin")
    expect(admin).to_contain_text("Limits and quotas of your tenant")
    start = page.locator(".window-start input")
    start.fill("01:00")
    page.locator(".window-end input").fill("01:00")
    page.locator(".window-timezone input").fill("America/Sao_Paulo")
    admin.get_by_role("button", name="Add window").click()
    # From = to is refused, naming the field; nothing is stored.
    expect(page.locator(".notyf__toast--error")).to_contain_text("windows.0.end")
    expect(page.locator(".offpeak-window")).to_have_count(0)
    page.locator(".notyf__toast--error").first.click()
    page.locator(".window-end input").fill("05:00")
    admin.get_by_role("button", name="Add window").click()
    expect(page.locator(".offpeak-window")).to_have_count(1)
    expect(page.locator(".offpeak-window")).to_contain_text("01:00–05:00 America/Sao_Paulo")
    widths(page, "jobs-admin", shot)
    page.locator(".offpeak-window").get_by_role("button", name="Remove").click()
    expect(page.locator(".offpeak-window")).to_have_count(0)


# --------------------------------------------------------------------------- /schedules
def test_schedules_form_previews_as_typed_and_creates(
    page: Page, portal_url: str, sign_in, shot, api
) -> None:
    sign_in(page, ANALYST)
    page.goto(f"{portal_url}/")
    page.locator("a", has_text=re.compile(r"^Schedules$")).click()
    expect(page).to_have_url(f"{portal_url}/schedules")
    expr = page.locator(".schedule-expr input")
    expr.fill("")
    expr.type("0 7 * * 1-5", delay=20)
    tz = page.locator(".schedule-timezone input")
    tz.fill("Europe/Lisbon")
    tz.press("Escape")
    preview = page.locator(".preview-box")
    expect(preview).to_contain_text("every Monday to Friday at 07:00 (Europe/Lisbon)")
    expect(preview.locator("li")).to_have_count(5)
    expect(preview.locator("li").first).to_contain_text("07:00")

    expr.fill("61 * * * *")
    expect(preview.locator(".schedule-preview-error")).to_contain_text("schedule_expr:")
    shot(page, "schedules-bad-preview")
    expr.fill("0 7 * * 1-5")
    expect(preview).to_contain_text("07:00 (Europe/Lisbon)")
    recipients = f"ops-{uuid.uuid4().hex[:6]}@acme.example.com"
    page.locator(".schedule-recipients textarea").fill(recipients)
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".notyf__toast--success")).to_contain_text("Schedule created")
    row = page.locator(".schedule-list .tabulator-row").filter(has_text=recipients)
    expect(row).to_contain_text("07:00 (Europe/Lisbon)")
    expect(row).to_contain_text("active")
    detail = page.locator(".schedule-detail")
    expect(detail.locator(".next-runs li")).to_have_count(5)
    widths(page, "schedules", shot)

    detail.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("paused")
    expect(detail).to_contain_text("Paused: no runs until resumed.")
    listed = api(ANALYST).get(f"{portal_url}/api/schedules", timeout=30).json()["schedules"]
    mine = next(x for x in listed if recipients in x["recipients"])
    assert mine["is_active"] is False

    # A bad recipient is refused by name; nothing is created.
    page.locator(".schedule-recipients textarea").fill("not-an-address")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".notyf__toast--error")).to_contain_text("recipients.0")
    after = api(ANALYST).get(f"{portal_url}/api/schedules", timeout=30).json()["schedules"]
    assert len(after) == len(listed)
    expect(page.locator(".notyf__toast--error")).to_have_count(1)


# --------------------------------------------------------------------------- /outbox
def _tenant_ids(home: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{home / 'conductor.sqlite3'}")
    try:
        with engine.connect() as conn:
            return {slug: int(tid) for tid, slug in conn.execute(select(Tenant.id, Tenant.slug))}
    finally:
        engine.dispose()


def test_outbox_shows_the_tenants_mail_to_the_viewer(
    page: Page, portal_url: str, portal_home: Path, sign_in, shot
) -> None:
    tenants = _tenant_ids(portal_home)
    mailer = OutboxMailer(portal_home / "outbox")
    tag = uuid.uuid4().hex[:6]

    def send(tenant: str, to: str, subject: str, text: str, attachments: tuple[Attachment, ...] = ()) -> None:
        spec = EmailMessageSpec(
            sender="Conductor BI <reports@conductor.example.com>",
            recipients=(to,),
            subject=subject,
            text=text,
            idempotency_key=f"ui-test:{tag}:{subject}",
            attachments=attachments,
            tenant_id=tenants[tenant],
        )
        deliver(mailer, spec)

    mine = f"Daily tickets {tag}"
    body = f"Your report is attached.\n<script>window.__pwned=1</script> {tag}"
    csv = Attachment("tickets.csv", b"priority,tickets\nhigh,3\n", "text/csv")
    send("acme", ANALYST, mine, body, (csv,))
    send("acme", "someone-else@acme.example.com", f"Not for you {tag}", "private")
    send("globex", ANALYST, f"Globex mail {tag}", "other tenant")

    sign_in(page, ANALYST)
    page.goto(f"{portal_url}/schedules")
    page.locator("a.outbox-link").click()  # linked from the schedules page
    expect(page).to_have_url(f"{portal_url}/outbox")
    rows = page.locator(".outbox-list .tabulator-row")
    expect(rows.filter(has_text=mine)).to_have_count(1)
    expect(rows.filter(has_text=mine)).to_contain_text("tickets.csv")
    expect(rows.filter(has_text=f"Not for you {tag}")).to_have_count(0)
    expect(rows.filter(has_text=f"Globex mail {tag}")).to_have_count(0)
    rows.filter(has_text=mine).click()
    view = page.locator(".mail-view")
    expect(view).to_contain_text(mine)
    expect(view.locator(".mail-body")).to_contain_text("<script>window.__pwned=1</script>")  # shown as text
    assert page.evaluate("() => window.__pwned") is None
    with page.expect_download() as download:
        page.get_by_text("Download tickets.csv").click()
    path = download.value.path()
    assert path is not None and Path(path).read_bytes() == b"priority,tickets\nhigh,3\n"
    widths(page, "outbox", shot)
