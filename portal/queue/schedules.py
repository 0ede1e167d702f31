"""When a schedule fires: next fire times, the one catch-up after downtime, idempotency keys, previews.

Expressions are read on the wall clock of the schedule's time zone, so "08:00 every day"
stays 08:00 local across DST changes. A local time that occurs twice (fall back) fires once,
at its first occurrence; one skipped by spring forward fires at the first instant after
the gap (cron's habit), so a night is never fired twice nor lost. Results are aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from portal.queue.offpeak import resolve_local
from portal.specs.jobs import ScheduleSpec, build_rrule, local_dtstart

#: Searches stop this far ahead of their start (a rule that stopped firing, an UNTIL).
HORIZON = timedelta(days=366 * 30)
#: A catch-up looks back at most this far: older fires are stale, not owed.
CATCH_UP = timedelta(days=400)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the time must be timezone-aware (naive datetimes are ambiguous)")
    return moment.astimezone(UTC)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    return resolve_local(local.date(), local.time(), zone)


def _local_after(spec: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    """Naive local fire times strictly after naive local ``start``, in order."""
    parsed = spec.parsed
    stop = start + HORIZON
    if parsed.cron is not None:
        it = croniter(parsed.cron, start)
        while True:
            try:
                nxt = it.get_next(datetime)
            except CroniterError:
                return
            if nxt > stop:
                return
            yield nxt
    rule = build_rrule(parsed, spec.zone, near=start, stop=stop)
    yield from rule.xafter(start, inc=False)


def next_fire_times(spec: ScheduleSpec, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (fewer if the rule ends)."""
    start = _utc(after)
    zone = spec.zone
    out: list[datetime] = []
    # Walk local times from the wall clock of ``after``; a fire whose local time is later
    # but whose instant is not (the repeated hour) already happened and is skipped.
    for local in _local_after(spec, start.astimezone(zone).replace(tzinfo=None)):
        if len(out) >= count:
            break
        at = _to_utc(local, zone)
        if at > start and (not out or at > out[-1]):
            out.append(at)
    return out


def due_fire(spec: ScheduleSpec, last_fire: datetime | None, now: datetime) -> datetime | None:
    """The one fire owed at ``now``: the latest fire time in ``(last_fire, now]``, or None.

    After downtime this is a single catch-up (the most recent missed fire), not a burst.
    ``last_fire`` None means the schedule has no baseline: nothing is owed (store the
    creation time as ``last_fire`` of a new schedule, so it first fires at its next time).
    """
    if last_fire is None:
        return None
    end = _utc(now)
    since = max(_utc(last_fire), end - CATCH_UP)
    zone = spec.zone
    quick = _latest_by_stepping_back(spec, since, end)
    if quick is not _UNKNOWN:
        return quick  # type: ignore[return-value]
    # Look back a day first, then further: a minute schedule down for months must not walk
    # every missed minute. The latest fire in (lo, end] is the latest in (since, end].
    for lookback in (timedelta(days=1), timedelta(days=32), CATCH_UP):
        lo = max(since, end - lookback)
        latest: datetime | None = None
        for local in _local_after(spec, lo.astimezone(zone).replace(tzinfo=None)):
            at = _to_utc(local, zone)
            if at > end:
                break  # local -> instant never goes backwards, so all later ones are after too
            if at > since:
                latest = at
        if latest is not None or lo == since:
            return latest
    return None


_UNKNOWN = object()
#: Fires looked at backwards from ``now`` before the forward search takes over (DST oddities).
_BACK_STEPS = 4


def _local_before(spec: ScheduleSpec, end_local: datetime) -> Iterator[datetime]:
    """Naive local fire times at or before naive local ``end_local``, latest first."""
    parsed = spec.parsed
    if parsed.cron is not None:
        it = croniter(parsed.cron, end_local + timedelta(microseconds=1))
        while True:
            try:
                yield it.get_prev(datetime)
            except CroniterError:
                return
    rule = build_rrule(
        parsed, spec.zone, near=end_local - timedelta(days=1), stop=end_local + timedelta(days=1)
    )
    at: datetime | None = rule.before(end_local, inc=True)
    while at is not None:
        yield at
        at = rule.before(at, inc=False)


def _latest_by_stepping_back(spec: ScheduleSpec, since: datetime, end: datetime) -> object:
    """The latest fire in ``(since, end]`` found by walking back from ``end`` a few fires
    (one step almost always: a minute schedule down for an hour does not walk 60 fires);
    ``_UNKNOWN`` when a few steps did not settle it (the forward search decides then)."""
    zone = spec.zone
    end_local = end.astimezone(zone).replace(tzinfo=None)
    for n, local in enumerate(_local_before(spec, end_local)):
        if n >= _BACK_STEPS:
            break
        at = _to_utc(local, zone)
        if at > end:
            continue  # a local time in the spring-forward gap, moved after ``end``
        return at if at > since else None
    return _UNKNOWN


def fire_key(schedule_id: int | str, fire_time: datetime) -> str:
    """The idempotency key of one fire: the same schedule and instant always give the same key."""
    return f"schedule:{schedule_id}:{_utc(fire_time):%Y%m%dT%H%M%SZ}"


_DAYS = {
    "MO": "Monday",
    "TU": "Tuesday",
    "WE": "Wednesday",
    "TH": "Thursday",
    "FR": "Friday",
    "SA": "Saturday",
    "SU": "Sunday",
}
_CRON_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = ["", "January", "February", "March", "April", "May", "June", "July"]
_MONTHS += ["August", "September", "October", "November", "December"]
_UNITS = {"MINUTELY": "minute", "HOURLY": "hour", "DAILY": "day", "WEEKLY": "week"}
_UNITS |= {"MONTHLY": "month", "YEARLY": "year"}
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second to last"}


def describe(spec: ScheduleSpec) -> str:
    """A short human preview: ``"every day at 08:00 (America/New_York)"``.

    Common cron shapes and every RRULE part are put in words; an unusual cron is shown as
    written rather than described wrongly.
    """
    parsed = spec.parsed
    words = _cron_words(parsed.cron) if parsed.cron is not None else _rrule_words(spec)
    return f"{words} ({spec.timezone})"


def _times(hours: list[str], minutes: list[str]) -> str:
    if len(hours) * len(minutes) > 6:
        return f"at hour {', '.join(hours)}, minute {', '.join(minutes)}"
    return "at " + ", ".join(f"{int(h):02d}:{int(m):02d}" for h in hours for m in minutes)


def _plain(field: str) -> bool:
    return all(p.isdigit() for p in field.split(","))


def _cron_words(expr: str) -> str:
    minute, hour, dom, month, dow = expr.split()
    if expr == "* * * * *":
        return "every minute"
    if minute.startswith("*/") and minute[2:].isdigit() and (hour, dom, month, dow) == ("*",) * 4:
        return f"every {int(minute[2:])} minutes"
    if _plain(minute) and (hour, dom, month, dow) == ("*",) * 4:
        return f"every hour at minute {minute}"
    if not (_plain(minute) and _plain(hour)) or month != "*":
        return f"cron {expr}"
    at = _times(hour.split(","), minute.split(","))
    if dom == "*" and dow == "*":
        return f"every day {at}"
    if dom == "*" and (_plain(dow) or (len(dow) == 3 and dow[1] == "-" and _plain(dow[0] + dow[2]))):
        if "-" in dow:
            return f"every {_CRON_DAYS[int(dow[0]) % 8]} to {_CRON_DAYS[int(dow[2]) % 8]} {at}"
        names = ", ".join(_CRON_DAYS[int(d)] for d in dow.split(",") if int(d) < 8)
        return f"every {names} {at}"
    if dow == "*" and _plain(dom):
        return f"on day {dom} of every month {at}"
    return f"cron {expr}"


def _byday(item: str) -> str:
    code, prefix = item[-2:], item[:-2]
    name = _DAYS.get(code, item)
    if prefix and prefix.lstrip("+-").isdigit():
        n = int(prefix)
        return f"the {_ORDINALS.get(n, f'{n}th')} {name}"
    return name


def _rrule_words(spec: ScheduleSpec) -> str:
    parsed = spec.parsed
    parts = parsed.parts
    freq = parts["FREQ"]
    unit, n = _UNITS[freq], int(parts.get("INTERVAL", "1"))
    words = [f"every {n} {unit}s" if n > 1 else f"every {unit}"]
    if "BYMONTH" in parts:
        words.append("in " + ", ".join(_MONTHS[int(m)] for m in parts["BYMONTH"].split(",")))
    if "BYMONTHDAY" in parts:
        days = ["the last day" if d == "-1" else d for d in parts["BYMONTHDAY"].split(",")]
        words.append("on day " + ", ".join(days))
    if "BYDAY" in parts:
        words.append("on " + ", ".join(_byday(d) for d in parts["BYDAY"].split(",")))
    words += [f"{k}={parts[k]}" for k in ("BYYEARDAY", "BYWEEKNO", "BYSETPOS") if k in parts]
    start = local_dtstart(parsed, spec.zone)
    if freq in ("MINUTELY", "HOURLY"):
        if "BYHOUR" in parts:
            words.append(f"during hour {parts['BYHOUR']}")
        if freq == "HOURLY":
            words.append(f"at minute {parts.get('BYMINUTE', start.minute)}")
    else:
        hours = parts.get("BYHOUR", str(start.hour)).split(",")
        words.append(_times(hours, parts.get("BYMINUTE", str(start.minute)).split(",")))
    if parsed.dtstart is not None:
        words.append(f"from {start:%Y-%m-%d %H:%M}")
    if "COUNT" in parts:
        words.append(f"{parts['COUNT']} times")
    if "UNTIL" in parts:
        words.append(f"until {parts['UNTIL'][:4]}-{parts['UNTIL'][4:6]}-{parts['UNTIL'][6:8]}")
    return " ".join(words)
