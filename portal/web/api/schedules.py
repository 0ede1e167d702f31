"""``POST /api/schedules/preview``: what a schedule expression means before anyone saves it.

The body is a schedule (``schedule_expr`` — cron or an RFC 5545 RRULE —, ``timezone``,
optionally ``offpeak_only`` and ``priority``); the answer says it in words and lists the next
five fire times, in UTC and on the schedule's own wall clock. A malformed expression or an
unknown time zone is a 400 naming the field; nothing is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.errors import BadRequest
from portal.queue.schedules import describe, next_fire_times
from portal.specs import ScheduleSpec
from portal.web.api.base import BaseHandler

#: How many fire times a preview lists.
PREVIEW_COUNT = 5


def preview(spec: ScheduleSpec, now: datetime) -> dict[str, Any]:
    """The words and the next fire times of ``spec`` after ``now`` (aware)."""
    zone = spec.zone
    times = next_fire_times(spec, now, PREVIEW_COUNT)
    return {
        "description": describe(spec),
        "timezone": spec.timezone,
        "next": [t.astimezone(UTC).isoformat() for t in times],
        "next_local": [t.astimezone(zone).isoformat() for t in times],
    }


class SchedulePreviewHandler(BaseHandler):
    async def post(self) -> None:
        await self.call(lambda s, p: None)  # signed-in callers only, before reading anything
        data = self.body(("schedule_expr", "timezone", "offpeak_only", "priority"))
        if not data.get("schedule_expr"):
            raise BadRequest("schedule_expr: required (a cron expression or an RRULE)", field="schedule_expr")
        spec = ScheduleSpec.model_validate(data)  # a ValidationError is a 400 naming the field
        self.send(preview(spec, datetime.now(UTC)))
