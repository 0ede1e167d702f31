"""Report schedules over REST: preview, create, list, change (pause/resume), delete.

- ``POST /api/schedules/preview``: a schedule (``schedule_expr`` — cron or an RFC 5545 RRULE —,
  ``timezone``, optionally ``offpeak_only`` and ``priority``) in words with its next five fire
  times, in UTC and on the schedule's own wall clock. Nothing is stored.
- ``POST /api/reports/{id}/schedule``: schedule a report the caller may run (body: the
  preview's fields plus ``recipients`` and ``format``, or ``delivery: {recipients, format}``,
  and ``is_active``); 201 with the schedule, its description and next five fire times.
- ``GET /api/schedules[?mine=1&report_id=]``: the caller's schedules (an admin's: the tenant's).
- ``GET|PATCH|DELETE /api/schedules/{id}``: one schedule; ``PATCH {"is_active": false}`` pauses.

A malformed expression, an unknown time zone or a bad recipient is a 400 naming the field, and
nothing is stored or changed (:mod:`portal.reports.schedules`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.errors import BadRequest
from portal.identity.principal import Principal
from portal.reports import schedules
from portal.reports.schedules import PREVIEW_COUNT, preview, schedule_spec
from portal.web.api.base import BaseHandler, path_id

__all__ = [
    "PREVIEW_COUNT",
    "ReportScheduleHandler",
    "ScheduleHandler",
    "SchedulePreviewHandler",
    "SchedulesHandler",
    "preview",
]


def _flag(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(f"{name}: must be 1 or 0", field=name)


class SchedulePreviewHandler(BaseHandler):
    async def post(self) -> None:
        await self.call(lambda s, p: None)  # signed-in callers only, before reading anything
        data = self.body(("schedule_expr", "timezone", "offpeak_only", "priority"))
        spec = schedule_spec(data)  # a 400 naming schedule_expr / timezone / ...
        self.send(preview(spec, datetime.now(UTC)))


class ReportScheduleHandler(BaseHandler):
    async def post(self, rid: str) -> None:
        """Schedule report ``rid``: 201 with the schedule, its words and next five fire times."""
        data = self.body(schedules.SCHEDULE_FIELDS)

        def create(session: Session, principal: Principal) -> dict[str, Any]:
            row, report = schedules.create_schedule(session, principal, path_id(rid), data)
            return schedules.schedule_to_dict(row, report)

        self.send(await self.call(create), 201)


class SchedulesHandler(BaseHandler):
    async def get(self) -> None:
        """The caller's schedules (a tenant admin's: the tenant's; ``?mine=1`` narrows to their own)."""
        mine = _flag(self.get_query_argument("mine", None), "mine")
        report = self.get_query_argument("report_id", None)
        report_id = path_id(report, "report_id") if report else None

        def lst(session: Session, principal: Principal) -> dict[str, Any]:
            rows = schedules.list_schedules(session, principal, report_id=report_id, mine=mine)
            names = schedules.creator_names(session, rows)
            now = datetime.now(UTC)
            return {
                "schedules": [
                    schedules.schedule_to_dict(s, r, now, names.get(s.created_by or 0)) for s, r in rows
                ]
            }

        self.send(await self.call(lst))


class ScheduleHandler(BaseHandler):
    async def get(self, sid: str) -> None:
        def get(session: Session, principal: Principal) -> dict[str, Any]:
            row, report = schedules.get_schedule(session, principal, path_id(sid))
            return schedules.schedule_to_dict(row, report)

        self.send(await self.call(get))

    async def patch(self, sid: str) -> None:
        """Change some fields; ``{"is_active": false}`` pauses, ``true`` resumes."""
        data = self.body(schedules.SCHEDULE_FIELDS)

        def patch(session: Session, principal: Principal) -> dict[str, Any]:
            row, report = schedules.update_schedule(session, principal, path_id(sid), data)
            return schedules.schedule_to_dict(row, report)

        self.send(await self.call(patch))

    async def delete(self, sid: str) -> None:
        await self.call(lambda s, p: schedules.delete_schedule(s, p, path_id(sid)))
        self.set_status(204)
        self.finish()
