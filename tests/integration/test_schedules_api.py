"""Report schedules over REST (issue 9, item 7): create with cron or RRULE in a time zone, list,
pause/resume, change, delete; the answer names the next five fire times; bad input is a 400
naming the field and leaves what was saved as it was; other tenants see nothing; the scheduler
tick fires a created schedule at its first time, once.

One database per backend for the module; each test makes its own schedules.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from portal.demo.accounts import DEV_PASSWORD
from portal.errors import NotFound
from portal.jobqueue.scheduler import tick
from portal.models import JobRecord, ReportSchedule
from portal.notify.email import Attachment, EmailMessageSpec, OutboxMailer, deliver, list_outbox
from portal.reports.schedules import open_outbox_message, visible_outbox
from tests.support.principals import as_principal
from tests.support.shared import sign_in_once

CRON = {"schedule_expr": "0 8 * * 1-5", "timezone": "America/New_York"}
RRULE = {"schedule_expr": "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=6;BYMINUTE=30", "timezone": "Europe/Lisbon"}


@pytest.fixture(scope="module")
def analyst(module_api: Any) -> requests.Session:
    return sign_in_once(module_api, "analyst@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def viewer(module_api: Any) -> requests.Session:
    return module_api.login("viewer@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def admin(module_api: Any) -> requests.Session:
    return module_api.login("admin@acme.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def outsider(module_api: Any) -> requests.Session:
    return module_api.login("analyst@globex.example.com", DEV_PASSWORD)


@pytest.fixture(scope="module")
def report_id(module_api: Any, analyst: requests.Session) -> int:
    r = analyst.get(f"{module_api.base}/api/reports", params={"group": "mine"}, timeout=30)
    assert r.status_code == 200, r.text
    return int(r.json()["reports"][0]["id"])


def stored_count(api: Any) -> int:
    with api.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ReportSchedule)) or 0)


def create(api: Any, s: requests.Session, report_id: int, **body: Any) -> requests.Response:
    return s.post(f"{api.base}/api/reports/{report_id}/schedule", json=body, timeout=30)


def test_create_with_cron_answers_five_local_fire_times_and_stores_next_run(
    module_api: Any, analyst: requests.Session, report_id: int
) -> None:
    before = datetime.now(UTC)
    r = create(
        module_api, analyst, report_id, **CRON, recipients=["Ops <ops@acme.example.com>"], format="xlsx"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["report_id"] == report_id and body["is_active"] is True
    assert "08:00" in body["description"] and "America/New_York" in body["description"]
    assert len(body["next"]) == 5 and body["next"] == sorted(body["next"])
    zone = ZoneInfo("America/New_York")
    for t in body["next"]:
        local = datetime.fromisoformat(t).astimezone(zone)
        assert (local.hour, local.minute) == (8, 0) and local.weekday() < 5
    assert body["delivery"] == {"recipients": ["ops@acme.example.com"], "format": "xlsx"}
    with module_api.ctx.sessions() as s:
        row = s.get(ReportSchedule, body["id"])
        assert row is not None
        next_run = row.next_run_at.replace(tzinfo=UTC) if row.next_run_at.tzinfo is None else row.next_run_at
        last = row.last_fire_at.replace(tzinfo=UTC) if row.last_fire_at.tzinfo is None else row.last_fire_at
    assert next_run == datetime.fromisoformat(body["next"][0])
    # The baseline is the creation time: nothing before it is owed (no catch-up of old fires).
    assert before - timedelta(seconds=1) <= last <= datetime.now(UTC) + timedelta(seconds=1)

    listed = analyst.get(f"{module_api.base}/api/schedules", timeout=30).json()["schedules"]
    mine = next(x for x in listed if x["id"] == body["id"])
    assert mine["next"] == body["next"] and mine["report_name"]
    one = analyst.get(f"{module_api.base}/api/schedules/{body['id']}", timeout=30)
    assert one.status_code == 200 and one.json()["schedule_expr"] == CRON["schedule_expr"]


def test_create_with_rrule_in_its_time_zone(
    module_api: Any, analyst: requests.Session, report_id: int
) -> None:
    r = create(module_api, analyst, report_id, **RRULE, priority="high", offpeak_only=True)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["priority"], body["offpeak_only"]) == ("high", True)
    days = [datetime.fromisoformat(t).astimezone(ZoneInfo("Europe/Lisbon")) for t in body["next"]]
    assert len(days) == 5 and all((d.day, d.hour, d.minute) == (1, 6, 30) for d in days)
    assert body["next_local"][0].startswith(days[0].strftime("%Y-%m-%dT06:30"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_expr": "61 * * * *", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "RRULE:FREQ=SOMETIMES", "timezone": "UTC"}, "schedule_expr"),
        (
            {"schedule_expr": "RRULE:FREQ=DAILY;COUNT=2;DTSTART=20200101T000000", "timezone": "UTC"},
            "schedule_expr",
        ),
        (
            {"schedule_expr": "DTSTART:20200101T000000 RRULE:FREQ=DAILY;COUNT=2", "timezone": "UTC"},
            "schedule_expr",
        ),
        ({"schedule_expr": "", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "0 8 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_expr": "0 8 * * *", "timezone": "UTC", "priority": "urgent"}, "priority"),
        (
            {"schedule_expr": "0 8 * * *", "timezone": "UTC", "recipients": ["ok@acme.example.com", "nope"]},
            "recipients.1",
        ),
        (
            {"schedule_expr": "0 8 * * *", "timezone": "UTC", "recipients": "a@b.c\r\nBcc: x@y.z"},
            "recipients.1",
        ),
        ({"schedule_expr": "0 8 * * *", "timezone": "UTC", "format": "pdf"}, "format"),
        (
            {"schedule_expr": "0 8 * * *", "timezone": "UTC", "delivery": {"recipients": ["bad@"]}},
            "delivery.recipients.0",
        ),
        ({"schedule_expr": "0 8 * * *", "timezone": "UTC", "when": "now"}, "when"),
        ({"schedule_expr": "0 8 * * *", "timezone": "UTC", "is_active": "yes"}, "is_active"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(
    module_api: Any, analyst: requests.Session, report_id: int, body: dict[str, Any], field: str
) -> None:
    before = stored_count(module_api)
    r = create(module_api, analyst, report_id, **body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field and r.json()["message"].startswith(f"{field}:"), r.json()
    assert stored_count(module_api) == before


def test_patch_pauses_resumes_and_a_bad_change_keeps_the_saved_schedule(
    module_api: Any, analyst: requests.Session, report_id: int
) -> None:
    sid = create(module_api, analyst, report_id, **CRON).json()["id"]
    url = f"{module_api.base}/api/schedules/{sid}"

    bad = analyst.patch(url, json={"schedule_expr": "0 25 * * *"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["field"] == "schedule_expr"
    bad = analyst.patch(url, json={"timezone": "Europe/Atlantis", "is_active": False}, timeout=30)
    assert bad.status_code == 400 and bad.json()["field"] == "timezone"
    kept = analyst.get(url, timeout=30).json()
    assert (kept["schedule_expr"], kept["timezone"], kept["is_active"]) == (
        CRON["schedule_expr"],
        CRON["timezone"],
        True,
    )

    paused = analyst.patch(url, json={"is_active": False}, timeout=30)
    assert paused.status_code == 200, paused.text
    assert paused.json()["is_active"] is False and paused.json()["next"] == []
    assert paused.json()["next_run_at"] is None
    resumed = analyst.patch(url, json={"is_active": True}, timeout=30).json()
    assert resumed["is_active"] is True and len(resumed["next"]) == 5
    assert resumed["next_run_at"] == resumed["next"][0]

    changed = analyst.patch(url, json={"schedule_expr": "30 6 * * *", "timezone": "Asia/Tokyo"}, timeout=30)
    assert changed.status_code == 200, changed.text
    local = datetime.fromisoformat(changed.json()["next"][0]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (6, 30)


def test_delete_removes_it(module_api: Any, analyst: requests.Session, report_id: int) -> None:
    sid = create(module_api, analyst, report_id, **CRON).json()["id"]
    r = analyst.delete(f"{module_api.base}/api/schedules/{sid}", timeout=30)
    assert r.status_code == 204
    assert analyst.get(f"{module_api.base}/api/schedules/{sid}", timeout=30).status_code == 404
    assert analyst.delete(f"{module_api.base}/api/schedules/{sid}", timeout=30).status_code == 404


def test_other_tenants_and_other_users_see_nothing_admins_see_the_tenant(
    module_api: Any,
    analyst: requests.Session,
    viewer: requests.Session,
    admin: requests.Session,
    outsider: requests.Session,
    report_id: int,
) -> None:
    sid = create(module_api, analyst, report_id, **CRON).json()["id"]
    url = f"{module_api.base}/api/schedules/{sid}"
    for who in (outsider, viewer):
        assert who.get(url, timeout=30).status_code == 404
        assert who.patch(url, json={"is_active": False}, timeout=30).status_code == 404
        assert who.delete(url, timeout=30).status_code == 404
        ids = [x["id"] for x in who.get(f"{module_api.base}/api/schedules", timeout=30).json()["schedules"]]
        assert sid not in ids
    # Another tenant cannot schedule this tenant's report: the same 404 as a missing one.
    r = create(module_api, outsider, report_id, **CRON)
    assert r.status_code == 404, r.text
    # The tenant's admin manages every schedule of the tenant; ?mine=1 narrows to their own.
    assert sid in [
        x["id"] for x in admin.get(f"{module_api.base}/api/schedules", timeout=30).json()["schedules"]
    ]
    mine = admin.get(f"{module_api.base}/api/schedules", params={"mine": "1"}, timeout=30).json()["schedules"]
    assert sid not in [x["id"] for x in mine]
    assert admin.get(url, timeout=30).status_code == 200
    # A viewer may schedule a report they may run (the demo reports are public).
    own = create(module_api, viewer, report_id, **RRULE)
    assert own.status_code == 201, own.text


def test_needs_a_signed_in_caller(module_api: Any, report_id: int) -> None:
    r = requests.post(f"{module_api.base}/api/reports/{report_id}/schedule", json=CRON, timeout=30)
    assert r.status_code == 401
    assert requests.get(f"{module_api.base}/api/schedules", timeout=30).status_code == 401


def test_the_tick_fires_a_created_schedule_at_its_first_time_once(
    module_api: Any, analyst: requests.Session, report_id: int, redis_client: Any
) -> None:
    body = create(module_api, analyst, report_id, schedule_expr="*/5 * * * *", timezone="UTC").json()
    first = datetime.fromisoformat(body["next"][0])
    ctx = module_api.ctx
    early = tick(ctx, first - timedelta(seconds=30))
    assert body["id"] not in early.skipped
    fired = tick(ctx, first + timedelta(seconds=5))
    again = tick(ctx, first + timedelta(seconds=8))
    with ctx.sessions() as s:
        jobs = s.scalars(select(JobRecord).where(JobRecord.id.in_(fired.fired + again.fired))).all()
        mine = [j for j in jobs if (j.payload_json or {}).get("schedule_id") == body["id"]]
        row = s.get(ReportSchedule, body["id"])
        assert row is not None
        next_run = row.next_run_at.replace(tzinfo=UTC) if row.next_run_at.tzinfo is None else row.next_run_at
    assert len(mine) == 1 and mine[0].job_class == "report_schedule"
    assert next_run == first + timedelta(minutes=5)


# --------------------------------------------------------------------------- the outbox
def test_the_outbox_shows_a_tenant_its_own_mail_recipients_theirs_admins_all(
    module_api: Any, module_demo: Any, tmp_path: Any
) -> None:
    folder = tmp_path / "outbox"
    mailer = OutboxMailer(folder)
    acme, globex = module_demo[("acme", "analyst")].tenant_id, module_demo[("globex", "analyst")].tenant_id

    def send(tenant: int | None, to: str, subject: str) -> None:
        spec = EmailMessageSpec(
            sender="reports@conductor.example.com",
            recipients=(to,),
            subject=subject,
            text=f"body of {subject}",
            idempotency_key=f"test:{subject}",
            attachments=(Attachment("r.csv", b"a,b\n1,2\n", "text/csv"),),
            tenant_id=tenant,
        )
        deliver(mailer, spec)

    send(acme, "analyst@acme.example.com", "to the analyst")
    send(acme, "viewer@acme.example.com", "to the viewer")
    send(globex, "analyst@acme.example.com", "globex to acme's analyst")
    send(None, "analyst@acme.example.com", "no tenant header")

    def subjects(role: str, tenant: str = "acme") -> set[str]:
        with module_api.ctx.sessions() as s:
            p = as_principal(s, module_demo[(tenant, role)])
            return {e.subject for e in visible_outbox(s, p, folder)}

    assert subjects("analyst") == {"to the analyst"}
    assert subjects("viewer") == {"to the viewer"}
    assert subjects("admin") == {"to the analyst", "to the viewer"}
    assert subjects("admin", "globex") == {"globex to acme's analyst"}
    assert subjects("analyst", "globex") == set()

    names = {e.subject: e.name for e in list_outbox(folder)}
    with module_api.ctx.sessions() as s:
        analyst = as_principal(s, module_demo[("acme", "analyst")])
        msg = open_outbox_message(s, analyst, folder, names["to the analyst"])
        assert msg.text.strip() == "body of to the analyst"
        assert msg.attachments == (("r.csv", "text/csv", b"a,b\n1,2\n"),)
        assert msg.entry.tenant_id == acme
        for other in ("to the viewer", "globex to acme's analyst", "no tenant header"):
            with pytest.raises(NotFound):
                open_outbox_message(s, analyst, folder, names[other])
