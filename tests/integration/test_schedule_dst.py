"""A schedule written as an RRULE on a local wall clock fires at that local time on both sides
of a daylight-saving change, with a fixed clock: the scheduler's tick fires once at 08:00 New
York time (13:00 UTC in winter, 12:00 UTC in summer), not an hour early or late, and a worker
runs the fired report (the job ends done with one execution)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

import jobs.runtime
from portal.infra.db import transaction
from portal.jobqueue.scheduler import tick
from portal.models import Report, ReportSchedule
from tests.integration.test_jobqueue import record, run_worker, utc

NY = ZoneInfo("America/New_York")
RULE = "RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0"


@pytest.fixture
def ctx(module_ctx: Any, module_demo: Any, redis_client: Any) -> Iterator[Any]:
    jobs.runtime.use_context(module_ctx)
    yield module_ctx
    jobs.runtime.use_context(None)
    with transaction(module_ctx.sessions) as s:
        s.execute(update(ReportSchedule).values(is_active=False))


def schedule(ctx: Any, user: Any, baseline: datetime) -> int:
    with transaction(ctx.sessions) as s:
        rid = s.scalar(select(Report.id).where(Report.owner_id == user.id).order_by(Report.id))
        row = ReportSchedule(report_id=rid, schedule_expr=RULE, timezone="America/New_York",
                             created_by=user.id, last_fire_at=baseline)  # fmt: skip
        s.add(row)
        s.flush()
        return int(row.id)


@pytest.mark.parametrize(
    ("baseline", "before", "due", "expected_utc"),
    [
        # Spring forward (Sunday 8 March 2026): 08:00 EDT is 12:00 UTC; the day before it was 13:00.
        (datetime(2026, 3, 7, 13, 0, tzinfo=UTC), datetime(2026, 3, 8, 11, 59, tzinfo=UTC),
         datetime(2026, 3, 8, 12, 0, 30, tzinfo=UTC), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        # Fall back (Sunday 1 November 2026): 08:00 EST is 13:00 UTC; the day before it was 12:00.
        (datetime(2026, 10, 31, 12, 0, tzinfo=UTC), datetime(2026, 11, 1, 12, 59, tzinfo=UTC),
         datetime(2026, 11, 1, 13, 0, 30, tzinfo=UTC), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
    ],
    ids=["spring-forward", "fall-back"],
)  # fmt: skip
def test_an_rrule_schedule_fires_at_local_8_across_a_dst_change(
    ctx: Any, module_demo: Any, baseline: datetime, before: datetime, due: datetime, expected_utc: datetime
) -> None:
    analyst = module_demo[("acme", "analyst")]
    sid = schedule(ctx, analyst, baseline)
    assert tick(ctx, before).fired == []  # 07:59 local: not yet (an hour off would fire here)
    fired = tick(ctx, due).fired
    assert len(fired) == 1
    assert tick(ctx, due).fired == []  # the same fire is claimed once
    rec = record(ctx, fired[0])
    fire = utc(rec.scheduled_for)
    assert fire == expected_utc
    assert fire.astimezone(NY).hour == 8 and fire.astimezone(NY).minute == 0
    run_worker(ctx, "batch")
    rec = record(ctx, fired[0])
    assert rec.status == "done", rec.last_error
    assert rec.payload_json["schedule_id"] == sid and rec.result_json["execution_id"]
