"""The job monitor's REST API (issue 9, item 10) with the session's real Redis and RQ workers:
list and filter a tenant's jobs, one job, cancel (queued, deferred, running) and retry through
the state machine, the workers with their current job, limits and off-peak windows for admins.

Another tenant's job is a 404 everywhere and a ``tenant`` filter naming another tenant is an
empty list; a worker busy with another tenant's job shows as "busy (another tenant)".
Jobs run in an in-process burst ``SimpleWorker``, except the running-job tests, which need a
job that stays running while the API is asked: a ``conductor worker --burst`` child process
runs :func:`hold` until the test releases it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session

import jobs.runtime
from portal.context import AppContext
from portal.demo.accounts import DEV_PASSWORD
from portal.infra.db import transaction
from portal.jobqueue import queue_name, queues_for, submit
from portal.jobqueue.enqueue import SERIALIZER
from portal.jobqueue.workers import make_worker
from portal.models import JobRecord, Report
from tests.support.http import ROOT, ApiServer
from tests.support.principals import as_principal
from tests.support.shared import sign_in_once


# --------------------------------------------------------------------------- a task that waits
def release_key(job_id: int) -> str:
    return f"test:release:{job_id}"


def hold(job_id: int) -> dict[str, Any] | None:
    """A tracked task that stays running until the test pushes to :func:`release_key` (60 s at most)."""

    def work(ctx: AppContext, session: Session, record: JobRecord) -> dict[str, Any]:
        ctx.redis.blpop([release_key(job_id)], timeout=60)
        return {"held": True}

    return jobs.runtime.run_tracked(job_id, work)


#: :func:`hold` by the dotted path the worker process imports (pytest may import this module
#: under another name).
HOLD = "tests.integration.test_api_jobs.hold"


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def module_api(module_ctx: Any, module_demo: Any) -> Iterator[Any]:
    """The module's API without background workers: these tests decide when jobs run."""
    server = ApiServer(module_ctx, workers=False).start()
    yield server
    server.stop()


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    """The module's context, installed as the in-process workers' context; Redis emptied per test."""
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)


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


def a_report_of(ctx: Any, user: Any) -> int:
    with ctx.sessions() as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
    assert rid is not None, "the demo seeds reports for the analyst"
    return int(rid)


def new_job(
    ctx: Any,
    user: Any,
    func: str | None = None,
    *,
    priority: str = "normal",
    not_before: datetime | None = None,
    max_attempts: int = 1,
) -> tuple[int, Job]:
    """A committed ``report_execute`` job of ``user`` on RQ (realtime pool), running ``func``.

    ``func`` None runs the class's task (the report); a retry always does (the record's route).
    """
    payload = {"report_id": a_report_of(ctx, user), "params": {}, "marker": uuid.uuid4().hex}
    with transaction(ctx.sessions) as s:
        sub = submit(
            s,
            as_principal(s, user),
            "report_execute",
            payload,
            priority=priority,
            not_before=not_before,
            max_attempts=max_attempts,
        )
    if func is None:
        return sub.record.id, sub.enqueue(ctx.redis)
    return sub.record.id, sub.enqueue(ctx.redis, func=func)


def run_worker(ctx: Any, pool: str = "realtime") -> None:
    """A burst SimpleWorker in this process (pytest's signal handlers put back afterwards)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker = make_worker(pool, ctx.redis, name=f"{pool}-test-{uuid.uuid4().hex[:8]}")
        worker.work(burst=True, logging_level="WARNING")
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def state(ctx: Any, job_id: int) -> str:
    with ctx.sessions() as s:
        rec = s.get(JobRecord, job_id)
        assert rec is not None
        return rec.status


def url(api: Any, path: str) -> str:
    return f"{api.base}{path}"


# --------------------------------------------------------------------------- listing
def test_list_filter_and_get_a_tenants_jobs(
    ctx: Any, module_api: Any, module_demo: Any, analyst: requests.Session, outsider: requests.Session
) -> None:
    user = module_demo[("acme", "analyst")]
    done_id, _ = new_job(ctx, user)
    failed_id, _ = new_job(ctx, user, "jobs.runtime.fail", priority="high")
    run_worker(ctx)
    assert (state(ctx, done_id), state(ctx, failed_id)) == ("done", "failed")

    r = analyst.get(url(module_api, "/api/jobs"), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    by_id = {j["id"]: j for j in body["jobs"]}
    assert {done_id, failed_id} <= set(by_id)
    assert by_id[done_id]["state"] == "done" and by_id[done_id]["worker"].startswith("realtime-")
    assert by_id[failed_id]["last_error"] == "RuntimeError: failing on purpose"
    assert by_id[failed_id]["can_retry"] is True and by_id[done_id]["can_retry"] is False
    assert body["counts"]["done"] >= 1 and body["counts"]["failed"] >= 1

    def ids(**params: str) -> set[int]:
        got = analyst.get(url(module_api, "/api/jobs"), params=params, timeout=30)
        assert got.status_code == 200, got.text
        return {j["id"] for j in got.json()["jobs"]}

    assert failed_id in ids(state="failed") and done_id not in ids(state="failed")
    assert failed_id in ids(priority="high") and done_id not in ids(priority="high")
    assert {done_id, failed_id} <= ids(**{"class": "report_execute"})
    assert not {done_id, failed_id} & ids(**{"class": "pdf_render"})
    assert {done_id, failed_id} <= ids(tenant="acme")
    # Another tenant's id or slug narrows to nothing (never widens, never tells whether it exists).
    assert ids(tenant="globex") == set() and ids(tenant="999999") == set() and ids(tenant="nope") == set()

    for params, field in (
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"before_id": "x"}, "before_id"),
    ):
        bad = analyst.get(url(module_api, "/api/jobs"), params=params, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == field, bad.text
    assert ids(limit="1") == {max(ids())}
    for params, field in (
        ({"state": "finished"}, "state"),
        ({"class": "report"}, "class"),
        ({"when": "x"}, "when"),
    ):
        bad = analyst.get(url(module_api, "/api/jobs"), params=params, timeout=30)
        assert bad.status_code in (400, 422) and bad.json()["field"] == field, bad.text

    one = analyst.get(url(module_api, f"/api/jobs/{done_id}"), timeout=30)
    assert one.status_code == 200 and one.json()["result"]["status"] == "done"
    assert "marker" in one.json()["payload"]

    # Another tenant: not in its list, and a 404 on every path.
    assert done_id not in {
        j["id"] for j in outsider.get(url(module_api, "/api/jobs"), timeout=30).json()["jobs"]
    }
    assert (
        outsider.get(url(module_api, "/api/jobs"), params={"tenant": "acme"}, timeout=30).json()["jobs"] == []
    )
    assert outsider.get(url(module_api, f"/api/jobs/{done_id}"), timeout=30).status_code == 404
    assert outsider.post(url(module_api, f"/api/jobs/{failed_id}/retry"), timeout=30).status_code == 404
    assert outsider.post(url(module_api, f"/api/jobs/{failed_id}/cancel"), timeout=30).status_code == 404
    assert state(ctx, failed_id) == "failed"


# --------------------------------------------------------------------------- cancel and retry
def test_cancel_a_queued_job_takes_it_off_its_queue(
    ctx: Any, module_api: Any, module_demo: Any, analyst: requests.Session, viewer: requests.Session
) -> None:
    job_id, job = new_job(ctx, module_demo[("acme", "analyst")])
    queue = queues_for("realtime", ctx.redis)[2]
    assert queue.name == queue_name("realtime", "normal") and job.id in queue.job_ids

    # Same tenant, neither owner nor admin: not allowed.
    denied = viewer.post(url(module_api, f"/api/jobs/{job_id}/cancel"), timeout=30)
    assert denied.status_code == 403 and state(ctx, job_id) == "queued"

    r = analyst.post(url(module_api, f"/api/jobs/{job_id}/cancel"), timeout=30)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["queue"]) == ("canceled", "removed")
    assert job.id not in queue.job_ids
    assert job.get_status(refresh=True) == JobStatus.CANCELED
    run_worker(ctx)  # nothing left to run
    assert state(ctx, job_id) == "canceled"

    again = analyst.post(url(module_api, f"/api/jobs/{job_id}/cancel"), timeout=30)
    assert again.status_code == 409 and again.json()["field"] == "state"

    # Retry: the same record queued and enqueued again, then it runs.
    retried = analyst.post(url(module_api, f"/api/jobs/{job_id}/retry"), timeout=30)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["enqueued"]) == ("queued", True)
    run_worker(ctx)
    assert state(ctx, job_id) == "done"
    done = analyst.post(url(module_api, f"/api/jobs/{job_id}/retry"), timeout=30)
    assert done.status_code == 409 and done.json()["field"] == "state"
    assert "done" in done.json()["message"]


def test_cancel_a_deferred_job_removes_it_from_the_scheduled_registry(
    ctx: Any, module_api: Any, module_demo: Any, admin: requests.Session
) -> None:
    later = datetime.now(UTC) + timedelta(hours=2)
    job_id, job = new_job(ctx, module_demo[("acme", "analyst")], not_before=later)
    registry = ScheduledJobRegistry(
        queue_name("realtime", "normal"), connection=ctx.redis, serializer=SERIALIZER
    )
    assert job.id in registry.get_job_ids()
    listed = admin.get(url(module_api, "/api/jobs"), params={"state": "deferred"}, timeout=30).json()["jobs"]
    mine = next(j for j in listed if j["id"] == job_id)
    assert mine["reason"] and mine["not_before"]

    # A tenant admin may cancel anyone's job of the tenant.
    r = admin.post(url(module_api, f"/api/jobs/{job_id}/cancel"), timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "canceled"
    assert job.id not in registry.get_job_ids()

    # Retried by hand, it is due now: on its queue, not waiting for its old time.
    retried = admin.post(url(module_api, f"/api/jobs/{job_id}/retry"), timeout=30)
    assert retried.status_code == 200 and retried.json()["state"] == "queued", retried.text
    assert job.id not in registry.get_job_ids()
    assert job.id in queues_for("realtime", ctx.redis)[2].job_ids
    run_worker(ctx)
    assert state(ctx, job_id) == "done"


def test_retry_a_failed_job_and_what_cannot_be_retried(
    ctx: Any, module_api: Any, module_demo: Any, analyst: requests.Session
) -> None:
    job_id, _ = new_job(ctx, module_demo[("acme", "analyst")], "jobs.runtime.fail")
    run_worker(ctx)
    assert state(ctx, job_id) == "failed"
    r = analyst.post(url(module_api, f"/api/jobs/{job_id}/retry"), timeout=30)
    assert r.status_code == 200 and r.json()["state"] == "queued"
    queued = analyst.post(url(module_api, f"/api/jobs/{job_id}/retry"), timeout=30)
    assert queued.status_code == 409 and queued.json()["field"] == "state"
    run_worker(ctx)
    # The manual retry runs the record's own task (the report) with the same payload: done.
    assert state(ctx, job_id) == "done"
    with ctx.sessions() as s:
        rec = s.get(JobRecord, job_id)
        assert rec is not None and rec.attempts == 2
    assert analyst.post(url(module_api, "/api/jobs/99999999/retry"), timeout=30).status_code == 404


# --------------------------------------------------------------------------- a running job, workers
@pytest.fixture
def worker_process(ctx: Any, module_settings: Any) -> Iterator[Any]:
    """start() runs ``conductor worker --pool realtime --burst`` on the test's Redis and database."""
    procs: list[subprocess.Popen[bytes]] = []
    settings = module_settings

    def start() -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL")}
        env.update(
            CONDUCTOR_HOME=str(settings.home),
            DATABASE_URL=settings.metadata_url,
            WAREHOUSE_URL=settings.warehouse,
            REDIS_URL=settings.redis_url,
            CONDUCTOR_LOG_LEVEL="WARNING",
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "worker", "--pool", "realtime", "--burst"], env=env, cwd=ROOT
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_workers_show_the_running_job_to_its_tenant_only_and_cancel_stops_it(
    ctx: Any,
    module_api: Any,
    module_demo: Any,
    analyst: requests.Session,
    outsider: requests.Session,
    worker_process: Any,
) -> None:
    job_id, _ = new_job(ctx, module_demo[("acme", "analyst")], HOLD)
    proc = worker_process()
    try:
        wait_for(lambda: state(ctx, job_id) in ("running", "failed"), "the job to run")
        assert state(ctx, job_id) == "running"

        def running_on(session: requests.Session) -> list[Any]:
            r = session.get(url(module_api, "/api/workers"), timeout=30)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["redis_error"] is None
            realtime = next(p for p in body["pools"] if p["pool"] == "realtime")
            assert [q["name"] for q in realtime["queues"]] == [
                "realtime:critical",
                "realtime:high",
                "realtime:normal",
                "realtime:low",
            ]
            assert body["limits"]["effective"]["max_running"] >= 1
            return [w["current_job"] for w in realtime["workers"] if w["current_job"]]

        wait_for(lambda: bool(running_on(analyst)), "the worker to report its job")
        mine = running_on(analyst)
        assert isinstance(mine[0], dict) and mine[0]["id"] == job_id and mine[0]["state"] == "running"
        assert running_on(outsider) == ["busy (another tenant)"]

        r = analyst.post(url(module_api, f"/api/jobs/{job_id}/cancel"), timeout=30)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["queue"]) == ("canceled", "stop-sent")
    finally:
        ctx.redis.rpush(release_key(job_id), "go")
    proc.wait(60)
    # The run went on in the simple worker, but its "done" is refused: canceled it stays.
    assert state(ctx, job_id) == "canceled"


# --------------------------------------------------------------------------- limits and off-peak
def test_rebalance_is_for_admins_and_refuses_bad_values_by_name(
    ctx: Any, module_api: Any, analyst: requests.Session, admin: requests.Session
) -> None:
    path = url(module_api, "/api/workers/rebalance")
    denied = analyst.post(path, json={"max_running": 2}, timeout=30)
    assert denied.status_code == 403
    denied_bad = analyst.post(path, json={"max_running": 0}, timeout=30)
    assert denied_bad.status_code == 403  # a non-admin learns nothing about valid values

    ok = admin.post(path, json={"max_running": 2, "jobs_per_hour": 100}, timeout=30)
    assert ok.status_code == 200, ok.text
    assert ok.json()["tenant"]["max_running"] == 2 and ok.json()["effective"]["jobs_per_hour"] == 100
    for body, field in (
        ({"max_running": 0}, "max_running"),
        ({"memory_mb": 1}, "memory_mb"),
        ({"jobs_per_hour": "many"}, "jobs_per_hour"),
        ({"max_runing": 2}, "max_runing"),
        ({"per_class": {"report_execute": 9}}, "per_class"),
    ):
        bad = admin.post(path, json=body, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == field, bad.text
    # Nothing saved was lost by the refused requests.
    limits = admin.get(url(module_api, "/api/workers"), timeout=30).json()["limits"]
    assert limits["tenant"]["max_running"] == 2 and limits["tenant"]["jobs_per_hour"] == 100


def test_offpeak_get_and_post(
    ctx: Any, module_api: Any, analyst: requests.Session, admin: requests.Session
) -> None:
    path = url(module_api, "/api/offpeak")
    got = analyst.get(path, timeout=30)
    assert got.status_code == 200 and set(got.json()) == {"effective", "tenant", "global"}

    window = {"timezone": "America/Sao_Paulo", "start": "22:00", "end": "05:00", "weekdays": ["mon", "tue"]}
    assert analyst.post(path, json={"windows": [window]}, timeout=30).status_code == 403
    ok = admin.post(path, json={"windows": [window]}, timeout=30)
    assert ok.status_code == 200, ok.text
    assert ok.json()["tenant"]["windows"][0]["start"] == "22:00"
    assert ok.json()["effective"]["windows"][0]["weekdays"] == [0, 1]

    for body, field in (
        ({"windows": [{**window, "end": "22:00"}]}, "windows.0.end"),
        ({"windows": [{**window, "timezone": "Mars/Olympus"}]}, "windows.0.timezone"),
        ({"windows": [{**window, "start": "25:00"}]}, "windows.0.start"),
        (
            {"windows": [], "maintenance": [{"timezone": "UTC", "dates": ["2026-02-30"]}]},
            "maintenance.0.dates.0",
        ),
    ):
        bad = admin.post(path, json=body, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == field, bad.text
    kept = analyst.get(path, timeout=30).json()["tenant"]["windows"]
    assert len(kept) == 1 and kept[0]["end"] == "05:00"
