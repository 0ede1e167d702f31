"""``POST /api/schedules/preview`` (issue 9): a schedule in words and its next five fire times,
local time kept across DST; bad input is a 4xx naming the field, never a 500."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests

from portal.demo.accounts import DEV_PASSWORD
from tests.support.shared import sign_in_once


@pytest.fixture(scope="module")
def analyst(module_api):
    return sign_in_once(module_api, "analyst@acme.example.com", DEV_PASSWORD)


def test_preview_cron_in_local_time(module_api, analyst):
    r = analyst.post(
        f"{module_api.base}/api/schedules/preview",
        json={"schedule_expr": "0 8 * * 1-5", "timezone": "America/New_York"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["next"]) == 5 and body["timezone"] == "America/New_York"
    assert "08:00" in body["description"]
    zone = ZoneInfo("America/New_York")
    for utc_text, local_text in zip(body["next"], body["next_local"], strict=True):
        local = datetime.fromisoformat(utc_text).astimezone(zone)
        assert (local.hour, local.minute) == (8, 0) and local.weekday() < 5  # 08:00 local, weekdays
        assert datetime.fromisoformat(local_text) == datetime.fromisoformat(utc_text)
    assert body["next"] == sorted(body["next"])


def test_preview_rrule(module_api, analyst):
    r = analyst.post(
        f"{module_api.base}/api/schedules/preview",
        json={
            "schedule_expr": "RRULE:FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=6;BYMINUTE=30",
            "timezone": "Europe/Lisbon",
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    days = [datetime.fromisoformat(t).astimezone(ZoneInfo("Europe/Lisbon")) for t in r.json()["next"]]
    assert all((d.day, d.hour, d.minute) == (1, 6, 30) for d in days)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_expr": "61 * * * *", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "RRULE:FREQ=SOMETIMES", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "0 8 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_expr": "", "timezone": "UTC"}, "schedule_expr"),
        ({"schedule_expr": "0 8 * * *", "timezone": "UTC", "when": "now"}, "when"),
    ],
)
def test_preview_bad_input_names_the_field(module_api, analyst, body, field):
    r = analyst.post(f"{module_api.base}/api/schedules/preview", json=body, timeout=30)
    assert r.status_code in (400, 422), r.text
    assert r.json()["message"].startswith(f"{field}:"), r.json()


def test_preview_needs_a_signed_in_caller(module_api):
    r = requests.post(
        f"{module_api.base}/api/schedules/preview", json={"schedule_expr": "0 8 * * *"}, timeout=30
    )
    assert r.status_code == 401
