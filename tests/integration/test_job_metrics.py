"""Job metrics on ``/metrics`` (issue 9, item 10): scraped from a running API, computed from the
``job_queue`` mirror at scrape time (the workers are other processes): jobs by state and class,
queue lag per pool, failures, run time and queue wait histograms of the last hour.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import sessionmaker

import jobs.runtime
from portal.infra.db import transaction
from portal.jobqueue import submit
from portal.jobqueue.metrics import JobMetricsCollector
from portal.jobqueue.workers import make_worker
from portal.models import JobRecord, Report
from tests.support.http import ApiServer
from tests.support.principals import as_principal


@pytest.fixture(scope="module")
def module_api(module_ctx: Any, module_demo: Any) -> Iterator[Any]:
    """The module's API without background workers: these tests decide when jobs run."""
    server = ApiServer(module_ctx, workers=False).start()
    yield server
    server.stop()


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)


def new_job(ctx: Any, user: Any, func: str | None = None) -> int:
    with ctx.sessions() as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
    with transaction(ctx.sessions) as s:
        sub = submit(
            s,
            as_principal(s, user),
            "report_execute",
            {"report_id": rid, "params": {}, "marker": uuid.uuid4().hex},
            max_attempts=1,
        )
    if func is None:
        sub.enqueue(ctx.redis)
    else:
        sub.enqueue(ctx.redis, func=func)
    return sub.record.id


def run_worker(ctx: Any) -> None:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        make_worker("realtime", ctx.redis, name=f"realtime-test-{uuid.uuid4().hex[:8]}").work(
            burst=True, logging_level="WARNING"
        )
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def scrape(api: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = requests.get(f"{api.base}/metrics", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_show_jobs_by_state_lag_failures_and_run_times(
    ctx: Any, module_api: Any, module_demo: Any
) -> None:
    user = module_demo[("acme", "analyst")]
    before = scrape(module_api)
    done_before = value(before, "cbi_jobs", state="done", job_class="report_execute")
    failures_before = value(before, "cbi_job_failures_total", job_class="report_execute")

    new_job(ctx, user)
    new_job(ctx, user, "jobs.runtime.fail")
    run_worker(ctx)
    waiting = new_job(ctx, user)  # stays queued: no worker runs after this
    # Its wait started ten minutes ago (as if the workers were busy since).
    with transaction(ctx.sessions) as s:
        s.execute(
            update(JobRecord)
            .where(JobRecord.id == waiting)
            .values(enqueued_at=datetime.now(UTC) - timedelta(minutes=10))
        )

    after = scrape(module_api)
    assert value(after, "cbi_job_metrics_up") == 1
    assert value(after, "cbi_jobs", state="done", job_class="report_execute") == done_before + 1
    assert value(after, "cbi_jobs", state="queued", job_class="report_execute") >= 1
    assert value(after, "cbi_jobs", state="canceled", job_class="pdf_render") >= 0  # zeros are there too
    assert value(after, "cbi_job_failures_total", job_class="report_execute") == failures_before + 1
    assert 590 <= value(after, "cbi_job_queue_lag_seconds", pool="realtime") < 3600
    assert ("cbi_job_queue_lag_seconds", (("pool", "batch"),)) in after
    # Run time of the last hour: both finished runs are counted, the +Inf bucket holds them all.
    runs = value(after, "cbi_job_run_seconds_bucket", job_class="report_execute", le="+Inf")
    assert runs >= 2
    assert value(after, "cbi_job_run_seconds_gcount", job_class="report_execute") == runs
    assert value(after, "cbi_job_run_seconds_bucket", job_class="report_execute", le="3600.0") == runs
    assert value(after, "cbi_job_queue_wait_seconds_bucket", pool="realtime", le="+Inf") >= 2
    # The core's own series are still there.
    assert any(name.startswith("conductor_http_requests") for name, _ in after)


def test_metrics_say_when_the_database_is_away(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing.sqlite3'}")
    text = generate_latest(JobMetricsCollector(sessionmaker(engine))).decode()
    assert "cbi_job_metrics_up 0.0" in text
    assert "cbi_jobs{" not in text
    engine.dispose()


def test_metrics_stay_closed_to_others(module_api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = module_api.ctx.settings
    monkeypatch.setattr(module_api.ctx, "settings", settings.with_(metrics_networks=()))
    r = requests.get(f"{module_api.base}/metrics", timeout=30)
    assert r.status_code == 404 and "cbi_jobs" not in r.text
