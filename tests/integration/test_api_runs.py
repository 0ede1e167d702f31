"""``POST /api/reports/{id}/execute`` through the job queue, against the module's API server
(its worker threads run the jobs on the session's real Redis): a small run answers 201 with its
execution and job id within the short wait; ``wait: 0`` answers 202 at once and the job ends
done; an off-peak-only run outside the window is deferred with its reason; bad input is a 400
or 403 naming the field, with no job created.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from portal.demo.accounts import DEV_PASSWORD
from portal.infra.db import transaction
from portal.jobstore.settings import save_offpeak
from portal.models import JobRecord, OffpeakWindow, Report, Tenant
from portal.specs.jobs import OffpeakConfigSpec


@pytest.fixture
def api(module_api: Any, redis_client: Any) -> Any:
    return module_api


@pytest.fixture
def analyst(api: Any) -> Any:
    return api.login("analyst@acme.example.com", DEV_PASSWORD)


def report_id(api: Any, s: Any) -> int:
    rows = s.get(f"{api.base}/api/reports").json()["reports"]
    return int(rows[0]["id"])


def jobs_count(api: Any) -> int:
    with api.ctx.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(JobRecord)) or 0)


def test_a_small_run_answers_its_execution_within_the_wait(api: Any, analyst: Any) -> None:
    rid = report_id(api, analyst)
    # A wait longer than the default 2 s: the module's first job can meet a cold worker on a
    # loaded machine (a 202 was seen once in a 3-worker CI rehearsal).
    r = analyst.post(
        f"{api.base}/api/reports/{rid}/execute", json={"params": {}, "use_cache": False, "wait": 30}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "done" and body["state"] == "done"
    assert isinstance(body["job_id"], int) and isinstance(body["id"], int)
    assert body["preview"]["rows"] is not None or body["preview"]


def test_no_wait_answers_the_job_at_once_and_it_ends_done(api: Any, analyst: Any) -> None:
    rid = report_id(api, analyst)
    r = analyst.post(f"{api.base}/api/reports/{rid}/execute", json={"wait": 0, "use_cache": False})
    assert r.status_code == 202, r.text
    body = r.json()
    assert set(body) >= {"job_id", "state", "reason"} and body["state"] == "queued"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with api.ctx.sessions() as s:
            state = s.get(JobRecord, body["job_id"]).status
        if state == "done":
            break
        time.sleep(0.1)
    assert state == "done"


def test_an_offpeak_only_run_outside_its_window_is_deferred_with_its_reason(api: Any, analyst: Any) -> None:
    opens = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = {
        "timezone": "America/Sao_Paulo",
        "start": opens.astimezone(_sp()).strftime("%H:%M"),
        "end": (opens + timedelta(hours=1)).astimezone(_sp()).strftime("%H:%M"),
    }
    with transaction(api.ctx.sessions) as s:
        tenant = s.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        save_offpeak(s, tenant, OffpeakConfigSpec.model_validate({"windows": [window]}))
    try:
        rid = report_id(api, analyst)
        r = analyst.post(f"{api.base}/api/reports/{rid}/execute", json={"offpeak_only": True})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["state"] == "deferred"
        assert body["reason"] == f"off-peak window opens {window['start']} America/Sao_Paulo"
        assert datetime.fromisoformat(body["not_before"]).astimezone(UTC) == opens
        # An analyst may not override the window; nothing new is stored for the refused call.
        before = jobs_count(api)
        r = analyst.post(
            f"{api.base}/api/reports/{rid}/execute", json={"offpeak_only": True, "override": True}
        )
        assert r.status_code == 403 and r.json()["field"] == "override"
        assert jobs_count(api) == before
    finally:
        with transaction(api.ctx.sessions) as s:
            s.execute(delete(OffpeakWindow))


def _sp() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"wait": 600}, "wait"),
        ({"wait": "soon"}, "wait"),
        ({"params": "x"}, "params"),
        ({"offpeak_only": "yes"}, "offpeak_only"),
        ({"window": {"timezone": "Mars/Base", "start": "01:00", "end": "05:00"}}, "window.timezone"),
        ({"window": {"timezone": "UTC", "start": "01:00", "end": "01:00"}}, "window.end"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(
    api: Any, analyst: Any, body: dict[str, Any], field: str
) -> None:
    rid = report_id(api, analyst)
    before = jobs_count(api)
    r = analyst.post(f"{api.base}/api/reports/{rid}/execute", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert jobs_count(api) == before


def test_another_tenants_report_is_a_404_and_no_job(api: Any, analyst: Any) -> None:
    with api.ctx.sessions() as s:
        other = s.scalar(
            select(Report.id).join(Tenant, Tenant.id == Report.tenant_id).where(Tenant.slug != "acme")
        )
    before = jobs_count(api)
    r = analyst.post(f"{api.base}/api/reports/{other}/execute", json={})
    assert r.status_code == 404
    assert jobs_count(api) == before
