"""When deferrable work may start: off-peak windows, maintenance days, the user's preferred window.

Every window is read on the wall clock of its own time zone and becomes, for each local
day it starts on, one interval of real time:

- it opens the first time the clock reads ``start`` that day: on a fall-back night the
  earlier of the two readings; inside a skipped hour (spring forward) at the first instant
  that exists after it (02:30 New York on 2026-03-08 opens at 03:00 EDT);
- it closes the last time the clock reads ``end``, so the clock never shows a time inside
  the window while it is closed, and a night is neither repeated nor skipped.

A maintenance day blocks its whole local day. All results are aware UTC datetimes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.specs.jobs import ALL_WEEKDAYS, MaintenanceDay, OffpeakWindow, UserWindowPreference

#: How far ahead :func:`next_allowed_start` looks before it gives up.
HORIZON = timedelta(days=400)
_CHUNK = 32  # local days generated per step of the search
_DAY = timedelta(days=1)
_NEVER = (
    f"no allowed start within {HORIZON.days} days: "
    "check the off-peak windows, the maintenance days and the preferred window"
)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the time must be timezone-aware (naive datetimes are ambiguous)")
    return moment.astimezone(UTC)


def resolve_local(day: date, clock: time, zone: ZoneInfo, *, last: bool = False) -> datetime:
    """The UTC instant at which the wall clock of ``zone`` reads ``clock`` on ``day``.

    An ambiguous reading (fall back) gives the first instant, or the second with ``last``;
    a reading that does not exist (spring forward) gives the first instant after the gap.
    """
    naive = datetime.combine(day, clock)
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    exists = [u for u in (early, late) if u.astimezone(zone).replace(tzinfo=None) == naive]
    if exists:
        return max(exists) if last else min(exists)
    # In the gap: fold=1 reads the offset after the change (earlier in UTC), fold=0 the one
    # before. Bisect the whole seconds between them for the first instant reading >= naive.
    lo, hi = min(early, late), max(early, late)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


def occurrence(window: OffpeakWindow | UserWindowPreference, day: date) -> tuple[datetime, datetime] | None:
    """The window that starts on local ``day`` as ``[open, close)`` in UTC, or None.

    None when the window does not run that weekday, or when the clock never reads a time
    inside it that day (a window entirely inside a skipped hour).
    """
    weekdays = window.weekdays if isinstance(window, OffpeakWindow) else ALL_WEEKDAYS
    if day.weekday() not in weekdays:
        return None
    zone = window.zone
    opens = resolve_local(day, window.start, zone)
    closes = resolve_local(day + _DAY if window.crosses_midnight else day, window.end, zone, last=True)
    return (opens, closes) if opens < closes else None


def _inside(window: OffpeakWindow | UserWindowPreference, moment: datetime) -> bool:
    today = moment.astimezone(window.zone).date()
    for day in (today - _DAY, today, today + _DAY):
        span = occurrence(window, day)
        if span is not None and span[0] <= moment < span[1]:
            return True
    return False


def _blocking(maintenance: Iterable[MaintenanceDay], moment: datetime) -> MaintenanceDay | None:
    for m in maintenance:
        if moment.astimezone(m.zone).date() == m.day:
            return m
    return None


def is_allowed(
    now: datetime,
    windows: Sequence[OffpeakWindow],
    maintenance: Sequence[MaintenanceDay] = (),
    preference: UserWindowPreference | None = None,
) -> bool:
    """True if deferrable work may start at ``now``.

    ``now`` must be inside some window (no windows at all means no off-peak restriction),
    inside the preferred window if there is one, and not on a maintenance day.
    """
    moment = _utc(now)
    if windows and not any(_inside(w, moment) for w in windows):
        return False
    if preference is not None and not _inside(preference, moment):
        return False
    return _blocking(maintenance, moment) is None


@dataclass(frozen=True)
class StartPlan:
    """The earliest allowed start (None if none within :data:`HORIZON`) and why it is then."""

    at: datetime | None
    reason: str


def _when(moment: datetime, zone: ZoneInfo, now: datetime) -> str:
    local = moment.astimezone(zone)
    day = "" if moment - now < _DAY else f"{local:%a %Y-%m-%d} "
    return f"{day}{local:%H:%M} {zone.key}"


def plan_start(
    now: datetime,
    windows: Sequence[OffpeakWindow],
    maintenance: Sequence[MaintenanceDay] = (),
    preference: UserWindowPreference | None = None,
) -> StartPlan:
    """The earliest instant ``>= now`` allowed by :func:`is_allowed`, with a human reason.

    The allowed set is a union of intervals ``[a, b)``, so its earliest point is ``now``
    itself or one of the instants where something opens: a window, the preferred window, or
    the end of a maintenance day. Those are generated in chunks of local days, in time order,
    and the first allowed one is the answer.
    """
    moment = _utc(now)
    held = _blocking(maintenance, moment)  # named in the reason when it held the start back
    if is_allowed(moment, windows, maintenance, preference):
        return StartPlan(moment, "inside the off-peak window" if windows else "allowed now")
    limit = moment + HORIZON
    sources: list[OffpeakWindow | UserWindowPreference] = list(windows)
    if preference is not None:
        sources.append(preference)
    # (instant, order, reason) candidates; maintenance ends are few, push them all now.
    pending: list[tuple[datetime, int, str]] = []
    for i, m in enumerate(maintenance):
        ends = resolve_local(m.day + _DAY, time(0), m.zone)
        if moment < ends <= limit:
            why = f" ({m.reason})" if m.reason else ""
            pending.append(
                (ends, len(sources) + i, f"maintenance on {m.day}{why} ends {_when(ends, m.zone, moment)}")
            )
    heapq.heapify(pending)
    first = {id(s): moment.astimezone(s.zone).date() - _DAY for s in sources}
    offset = 0
    while True:
        for n, s in enumerate(sources):
            kind = "your preferred window" if s is preference else "off-peak window"
            for k in range(offset, offset + _CHUNK):
                span = occurrence(s, first[id(s)] + timedelta(days=k))
                if span is not None and span[0] > moment:
                    item = (span[0], n, f"{kind} opens {_when(span[0], s.zone, moment)}")
                    heapq.heappush(pending, item)
        offset += _CHUNK
        # Anything generated later starts on a local day >= first + offset in its own zone.
        bound = min(
            (resolve_local(first[id(s)] + timedelta(days=offset), time(0), s.zone) for s in sources),
            default=limit + _DAY,
        )
        while pending and pending[0][0] < bound and pending[0][0] <= limit:
            at, _, reason = heapq.heappop(pending)
            if is_allowed(at, windows, maintenance, preference):
                if held is not None and not reason.startswith("maintenance"):
                    why = f": {held.reason}" if held.reason else ""
                    reason += f" (after maintenance on {held.day}{why})"
                return StartPlan(at, reason)
            held = held or _blocking(maintenance, at)
        if bound > limit:
            return StartPlan(None, _NEVER)


def next_allowed_start(
    now: datetime,
    windows: Sequence[OffpeakWindow],
    maintenance: Sequence[MaintenanceDay] = (),
    preference: UserWindowPreference | None = None,
) -> datetime | None:
    """The earliest aware UTC instant ``>= now`` at which deferrable work may start, or None
    if there is none within :data:`HORIZON`. See :func:`is_allowed` for what "allowed" means."""
    return plan_start(now, windows, maintenance, preference).at


def describe_wait(
    now: datetime,
    windows: Sequence[OffpeakWindow],
    maintenance: Sequence[MaintenanceDay] = (),
    preference: UserWindowPreference | None = None,
) -> str:
    """Why deferrable work cannot start at ``now`` and when it can, in words for the job
    monitor: ``"off-peak window opens 00:00 America/Sao_Paulo"``."""
    return plan_start(now, windows, maintenance, preference).reason
