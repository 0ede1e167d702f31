"""Job specs: job classes and priorities, off-peak windows, maintenance days and schedules.

Pure data with validation; the decisions taken on them live in :mod:`portal.queue`.
Triggers and their actions are in :mod:`portal.specs.triggers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterError, croniter
from dateutil.rrule import rrule, rrulestr
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)

from portal.errors import closest
from portal.specs.base import MAX_TEXT_CHARS, _Spec


# --------------------------------------------------------------------------- job classes
class JobClass(StrEnum):
    """What a job does; limits, pools and the job monitor are keyed by it."""

    REPORT_EXECUTE = "report_execute"
    REPORT_SCHEDULE = "report_schedule"
    TRIGGER_EVALUATE = "trigger_evaluate"
    DATASET_PRECOMPUTE = "dataset_precompute"
    PDF_RENDER = "pdf_render"
    DATA_IMPORT = "data_import"
    SOURCE_SYNC = "source_sync"
    EVENTS_BUILD = "events_build"


class Pool(StrEnum):
    """Worker pools: ``realtime`` stays free for interactive work while ``batch`` is saturated."""

    REALTIME = "realtime"
    BATCH = "batch"


#: The pool each class runs in: on-demand runs and the trigger checks that follow them are
#: interactive; everything a clock or a designer starts is batch work.
DEFAULT_POOL: dict[JobClass, Pool] = {
    JobClass.REPORT_EXECUTE: Pool.REALTIME,
    JobClass.TRIGGER_EVALUATE: Pool.REALTIME,
    JobClass.REPORT_SCHEDULE: Pool.BATCH,
    JobClass.DATASET_PRECOMPUTE: Pool.BATCH,
    JobClass.PDF_RENDER: Pool.BATCH,
    JobClass.DATA_IMPORT: Pool.BATCH,
    JobClass.SOURCE_SYNC: Pool.BATCH,
    JobClass.EVENTS_BUILD: Pool.BATCH,
}

_RANK = {"critical": 3, "high": 2, "normal": 1, "low": 0}


class Priority(StrEnum):
    """Job priority. Compares by urgency, not alphabetically: ``critical > high > normal > low``."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """3 for critical down to 0 for low (workers listen to queues by descending rank)."""
        return _RANK[self.value]

    def __lt__(self, other: str) -> bool:
        return self.rank < Priority(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Priority(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Priority(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Priority(other).rank


# --------------------------------------------------------------------------- time zones and clock times
@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_timezone(name: str) -> str:
    # "localtime" is whatever the server's clock says: not a zone a user can mean.
    if len(name) <= 64 and name != "localtime":
        try:
            ZoneInfo(name)
            return name
        except (ValueError, KeyError, OSError):
            pass
    hint = closest(name, _zone_names()) if len(name) <= 64 else None
    tail = f"; did you mean {hint!r}?" if hint else " (use an IANA name like 'America/Sao_Paulo')"
    raise ValueError(f"unknown time zone {name[:64]!r}{tail}")


#: An IANA time zone name that zoneinfo can load, e.g. ``America/Sao_Paulo``.
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]

_HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _clock(value: Any) -> Any:
    if isinstance(value, str):
        m = _HHMM_RE.match(value)
        if m:
            return time(int(m.group(1)), int(m.group(2)))
    elif isinstance(value, time) and value.tzinfo is None and not value.second and not value.microsecond:
        return value
    raise ValueError(f"must be a time as HH:MM from 00:00 to 23:59, got {str(value)[:20]!r}")


#: A wall-clock time of day to the minute, written ``"HH:MM"``.
Clock = Annotated[
    time, BeforeValidator(_clock), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekday(value: Any) -> Any:
    # "Mon" / "monday" read better in JSON than 0; both are accepted.
    if isinstance(value, str) and value[:3].lower() in _DAY_NAMES and len(value) in (3, 6, 7, 8, 9):
        return _DAY_NAMES.index(value[:3].lower())
    return value


Weekday = Annotated[int, BeforeValidator(_weekday), Field(ge=0, le=6)]
ALL_WEEKDAYS: frozenset[int] = frozenset(range(7))


class _DailyRange(_Spec):
    """``start``..``end`` on the wall clock of ``timezone``; ``start > end`` runs across midnight."""

    timezone: TimeZoneName
    start: Clock
    end: Clock

    @field_validator("end")
    @classmethod
    def _not_empty(cls, v: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if start is not None and start == v:
            # From = to is either empty or the whole day; refuse rather than guess.
            raise ValueError(
                f"must differ from start ({v:%H:%M}); a window from {v:%H:%M} to {v:%H:%M} is empty"
            )
        return v

    @property
    def zone(self) -> ZoneInfo:
        """The loaded time zone."""
        return ZoneInfo(self.timezone)

    @property
    def crosses_midnight(self) -> bool:
        """True when the range ends on the day after it starts."""
        return self.start > self.end


class OffpeakWindow(_DailyRange):
    """An off-peak window: ``{"timezone": "America/Sao_Paulo", "start": "00:00", "end": "06:00"}``.

    A window across midnight (``22:00``-``04:00``) belongs to the weekday it starts on
    (Mon=0 ... Sun=6).
    """

    weekdays: Annotated[
        frozenset[Weekday],
        Field(min_length=1),
        PlainSerializer(lambda s: sorted(s), return_type=list[int]),
    ] = ALL_WEEKDAYS


class UserWindowPreference(_DailyRange):
    """A user's flexible window, every day: "any time between 01:00 and 05:00" in ``timezone``."""


class MaintenanceDay(_Spec):
    """A whole local day in ``timezone`` on which no job may start."""

    day: date
    timezone: TimeZoneName
    reason: str | None = Field(default=None, max_length=200)

    @property
    def zone(self) -> ZoneInfo:
        """The loaded time zone."""
        return ZoneInfo(self.timezone)


class MaintenanceCalendar(_Spec):
    """A named list of maintenance dates in one time zone."""

    timezone: TimeZoneName
    dates: list[date] = Field(default_factory=list, max_length=1000)
    name: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=200)

    @property
    def days(self) -> tuple[MaintenanceDay, ...]:
        """The calendar as :class:`MaintenanceDay` items (what the off-peak search takes)."""
        why = self.reason or self.name
        return tuple(MaintenanceDay(day=d, timezone=self.timezone, reason=why) for d in self.dates)


# --------------------------------------------------------------------------- schedule expressions
_CRON_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DTSTART_RE = re.compile(
    r"^DTSTART(?:;TZID=(?P<tz>[^:;]+))?(?:;VALUE=DATE(?:-TIME)?)?:(?P<d>\d{8})(?:T(?P<t>\d{6})(?P<z>Z)?)?$",
    re.IGNORECASE,
)
_FREQS = ("MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_COUNT = 10_000
#: DTSTART of a rule that has none: a Monday, 1 January, midnight, so FREQ=WEEKLY means Mondays,
#: MONTHLY the 1st and YEARLY 1 January, the same for everyone (never "when the rule was saved").
RRULE_ANCHOR = datetime(2001, 1, 1)


@dataclass(frozen=True)
class ParsedSchedule:
    """A schedule expression taken apart: a 5-field cron, or one RRULE with an optional DTSTART."""

    kind: Literal["cron", "rrule"]
    cron: str | None = None
    parts: dict[str, str] = field(default_factory=dict)
    #: naive = local time of the schedule's zone; aware when written with TZID or Z.
    dtstart: datetime | None = None


@lru_cache(maxsize=4096)
def parse_schedule_expr(text: str) -> ParsedSchedule:
    """Parse a cron or RRULE expression; raise ``ValueError`` in user words if it is malformed.

    Cached (a schedule is read on every scheduler visit): the result must not be modified.
    """
    text = text.strip()
    if not text:
        raise ValueError("must not be empty")
    upper = text.upper()
    if upper.startswith(("RRULE", "DTSTART", "FREQ=")):
        return _parse_rrule(text)
    expr = _CRON_MACROS.get(text.lower(), text)
    if len(expr.split()) != 5:
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), got {text[:80]!r}")
    if not croniter.is_valid(expr):
        raise ValueError(f"not a valid cron expression: {text[:80]!r}")
    try:
        croniter(expr, RRULE_ANCHOR).get_next(datetime)
    except CroniterError:
        raise ValueError(f"the cron expression {text[:80]!r} never fires") from None
    return ParsedSchedule(kind="cron", cron=" ".join(expr.split()))


def _parse_rrule(text: str) -> ParsedSchedule:
    rule: str | None = None
    start: datetime | None = None
    for token in text.split():
        up = token.upper()
        if up.startswith("DTSTART"):
            if start is not None:
                raise ValueError("give at most one DTSTART")
            start = _parse_dtstart(token)
        elif up.startswith(("RRULE:", "FREQ=")):
            if rule is not None:
                raise ValueError("give exactly one RRULE (RDATE, EXDATE and several rules are not supported)")
            rule = token.split(":", 1)[1] if up.startswith("RRULE:") else token
        else:
            raise ValueError(f"unsupported line {token[:40]!r}: give one RRULE and an optional DTSTART")
    if rule is None:
        raise ValueError("an RRULE line is missing, e.g. RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0")
    parts: dict[str, str] = {}
    for item in filter(None, rule.split(";")):
        key, sep, value = item.partition("=")
        key = key.upper()
        if not sep or not value:
            raise ValueError(f"RRULE part {item[:40]!r} is not NAME=VALUE")
        if key in parts:
            raise ValueError(f"RRULE part {key} is given twice")
        parts[key] = value.upper()
    _check_rule_parts(parts)
    parsed = ParsedSchedule(kind="rrule", parts=parts, dtstart=start)
    try:
        first = build_rrule(parsed, ZoneInfo("UTC"))
        # A rule that never fires (30 February) would make every later search walk to year 9999.
        horizon = local_dtstart(parsed, ZoneInfo("UTC")) + timedelta(days=366 * 30)
        fires = next(iter(first.replace(count=None, until=horizon)), None)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"not a valid RRULE: {exc}") from None
    if fires is None:
        raise ValueError("the RRULE never fires")
    return parsed


def _check_rule_parts(parts: dict[str, str]) -> None:
    freq = parts.get("FREQ")
    if freq is None:
        raise ValueError("the RRULE needs FREQ, e.g. FREQ=DAILY")
    if freq not in _FREQS:
        raise ValueError(
            f"FREQ={freq[:20]} is not one of {', '.join(_FREQS)} (schedules fire at most once a minute)"
        )
    if "BYSECOND" in parts:
        raise ValueError("BYSECOND is not supported: schedules fire on whole minutes")
    for key in ("COUNT", "INTERVAL"):
        if key in parts and not (parts[key].isdigit() and 1 <= int(parts[key]) <= MAX_COUNT):
            raise ValueError(f"{key} must be a whole number from 1 to {MAX_COUNT}")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("give COUNT or UNTIL, not both")
    # Minute and hour rules are run as a daily rule with the matching times (dateutil walks
    # minute rules one minute at a time, far too slowly); that needs an interval dividing the hour/day.
    interval = int(parts.get("INTERVAL", "1"))
    if freq == "MINUTELY" and 60 % interval:
        raise ValueError("FREQ=MINUTELY needs an INTERVAL dividing 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)")
    if freq == "HOURLY" and 24 % interval:
        raise ValueError("FREQ=HOURLY needs an INTERVAL dividing 24 (1, 2, 3, 4, 6, 8, 12)")
    if freq in ("MINUTELY", "HOURLY") and "BYSETPOS" in parts:
        raise ValueError(f"BYSETPOS is not supported with FREQ={freq}")


def _parse_dtstart(token: str) -> datetime:
    m = _DTSTART_RE.match(token)
    if not m:
        raise ValueError(f"DTSTART {token[:60]!r} is not DTSTART[;TZID=zone]:YYYYMMDDTHHMMSS[Z]")
    try:
        value = datetime.strptime(m.group("d") + (m.group("t") or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError(f"DTSTART {token[:60]!r} is not a real date and time") from None
    if m.group("z"):
        return value.replace(tzinfo=UTC)
    if m.group("tz"):
        return value.replace(tzinfo=ZoneInfo(_check_timezone(m.group("tz"))))
    return value


def local_dtstart(parsed: ParsedSchedule, zone: ZoneInfo) -> datetime:
    """The rule's DTSTART as naive wall-clock time of ``zone`` (:data:`RRULE_ANCHOR` if none)."""
    start = parsed.dtstart or RRULE_ANCHOR
    if start.tzinfo is not None:
        start = start.astimezone(zone).replace(tzinfo=None)
    return start


def build_rrule(
    parsed: ParsedSchedule, zone: ZoneInfo, near: datetime | None = None, stop: datetime | None = None
) -> rrule:
    """The rule of a parsed RRULE in naive local time of ``zone``.

    ``near`` (naive local) lets the rule start shortly before that time instead of at its
    DTSTART when that gives the same occurrences from ``near`` on (fixed-length periods, no
    COUNT): walking from 2001 to today on every call would be slow. ``stop`` (naive local)
    ends a rule without COUNT there at the latest, so a search never runs to year 9999.
    """
    parts = dict(parsed.parts)
    start = local_dtstart(parsed, zone)
    until = parts.get("UNTIL", "")
    if until.endswith("Z"):
        local = datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).astimezone(zone)
        parts["UNTIL"] = until = local.strftime("%Y%m%dT%H%M%S")
    if stop is not None and "COUNT" not in parts:
        last = datetime.strptime(until, "%Y%m%dT%H%M%S" if "T" in until else "%Y%m%d") if until else stop
        parts["UNTIL"] = min(last, stop).strftime("%Y%m%dT%H%M%S")
    freq = parts["FREQ"]
    interval = int(parts.get("INTERVAL", "1"))
    if freq in ("MINUTELY", "HOURLY"):
        # Same occurrences as a daily rule at the matching hours and minutes (see _check_rule_parts).
        hours = [int(h) for h in parts["BYHOUR"].split(",")] if "BYHOUR" in parts else range(24)
        if freq == "HOURLY":
            hours = [h for h in hours if (h - start.hour) % interval == 0]
            minutes = parts.get("BYMINUTE", str(start.minute))
        else:
            given = [int(x) for x in parts["BYMINUTE"].split(",")] if "BYMINUTE" in parts else range(60)
            minutes = ",".join(str(x) for x in given if (x - start.minute) % interval == 0)
        if not hours or not minutes:
            raise ValueError("no hour and minute matches both the interval and BYHOUR/BYMINUTE")
        parts.update(FREQ="DAILY", INTERVAL="1", BYHOUR=",".join(map(str, hours)), BYMINUTE=minutes)
        freq, interval = "DAILY", 1
    step = {"DAILY": 1, "WEEKLY": 7}.get(freq)
    if near is not None and step is not None and "COUNT" not in parts:
        period = (near - start).days // (step * interval) - 1
        if period > 0:
            start += timedelta(days=step * interval * period)
    text = ";".join(f"{k}={v}" for k, v in parts.items())
    rule = rrulestr(text, dtstart=start)
    assert isinstance(rule, rrule)
    return rule


def _check_schedule_expr(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"takes at most {MAX_TEXT_CHARS} characters, got {len(text)}")
    parse_schedule_expr(text)
    return text.strip()


class ScheduleSpec(_Spec):
    """When a report runs: ``{"schedule_expr": "0 8 * * 1-5", "timezone": "America/New_York"}``.

    ``schedule_expr`` is a 5-field cron or an RFC 5545 RRULE (``RRULE:`` prefix and a
    ``DTSTART`` line optional), read on the wall clock of ``timezone``.
    """

    version: Literal[1] = 1
    schedule_expr: Annotated[str, AfterValidator(_check_schedule_expr)]
    timezone: TimeZoneName
    offpeak_only: bool = False
    priority: Priority = Priority.NORMAL

    @property
    def parsed(self) -> ParsedSchedule:
        """The expression taken apart (validated already)."""
        return parse_schedule_expr(self.schedule_expr)

    @property
    def zone(self) -> ZoneInfo:
        """The loaded time zone."""
        return ZoneInfo(self.timezone)


# --------------------------------------------------------------------------- admission settings
class QueueLimitsSpec(_Spec):
    """Admission limits and quotas as stored (``queue_limits``) and sent to ``/api/workers/rebalance``.

    A tenant's row overrides the global one field by field (None = take the global value);
    ``per_class`` is global only. ``memory_mb`` caps a worker's address space while it runs a
    job of the tenant; ``heavy_rows`` is the query estimate from which a run counts as heavy
    (deferred to off-peak); ``job_ttl_hours`` fails a job that waited longer than that.
    """

    version: Literal[1] = 1
    per_class: dict[JobClass, Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=dict)
    max_running: int | None = Field(default=None, ge=1, le=1000)
    critical_cap: int | None = Field(default=None, ge=0, le=100)
    jobs_per_hour: int | None = Field(default=None, ge=1, le=1_000_000)
    cpu_seconds_per_day: float | None = Field(default=None, gt=0, le=86_400 * 1000)
    memory_mb: int | None = Field(default=None, ge=256, le=1_048_576)
    heavy_rows: int | None = Field(default=None, ge=1)
    job_ttl_hours: int | None = Field(default=None, ge=1, le=24 * 90)


class OffpeakConfigSpec(_Spec):
    """A tenant's (or the global) off-peak windows and maintenance calendars (``/api/offpeak``)."""

    version: Literal[1] = 1
    windows: list[OffpeakWindow] = Field(default_factory=list, max_length=50)
    maintenance: list[MaintenanceCalendar] = Field(default_factory=list, max_length=50)
