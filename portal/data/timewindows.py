"""Time windows, the one module: placeholders (``{{now-7d}}``, ``{{start_of_month}}``), 'start..end'
ranges, the previous period of a window, and the minute every view is anchored to.

Pure functions: the caller passes ``now`` so results are reproducible and testable.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta

from portal.errors import InvalidSpec

ANCHORS = (
    "now",
    "today",
    "start_of_day",
    "start_of_week",
    "start_of_month",
    "start_of_quarter",
    "start_of_year",
)
#: ``m`` minutes, ``h`` hours, ``d`` days, ``w`` weeks, ``M`` months, ``y`` years (case matters for m/M).
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "M": "months", "y": "years"}

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_TIME_RE = re.compile(
    r"^(?P<anchor>" + "|".join(ANCHORS) + r")\s*(?:(?P<sign>[+-])\s*(?P<n>\d{1,6})\s*(?P<unit>[mhdwMy]))?$"
)


def anchor_time(anchor: str, now: datetime) -> datetime:
    """The instant an anchor names, relative to ``now``."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if anchor == "now":
        return now
    if anchor in ("today", "start_of_day"):
        return day
    if anchor == "start_of_week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    if anchor == "start_of_month":
        return day.replace(day=1)
    if anchor == "start_of_quarter":
        return day.replace(day=1, month=3 * ((day.month - 1) // 3) + 1)
    if anchor == "start_of_year":
        return day.replace(day=1, month=1)
    raise ValueError(f"unknown time anchor {anchor!r}")


def parse_time_expr(expr: str, now: datetime, *, field: str | None = None) -> datetime | None:
    """Resolve ``now-7d``-style text (without braces); ``None`` if it is not a time expression.

    Offsets have at most 6 digits and the result must fall within years 1..9999
    (what ``datetime`` and the warehouses can hold); otherwise :class:`InvalidSpec`
    naming ``field`` (``{{now-999999y}}`` is a user error, not a crash).
    """
    m = _TIME_RE.match(expr.strip())
    if not m:
        return None
    t = anchor_time(m["anchor"], now)
    if m["n"]:
        delta = relativedelta(**{UNITS[m["unit"]]: int(m["n"])})
        try:
            t = t + delta if m["sign"] == "+" else t - delta
        except (OverflowError, ValueError):
            where = f"{field}: " if field else ""
            raise InvalidSpec(
                f"{where}time offset out of range in {{{{{expr.strip()}}}}}: the result must fall within "
                f"years {datetime.min.year}..{datetime.max.year}",
                field=field,
            ) from None
    return t


# --------------------------------------------------------------------------- windows 'start..end'
def naive_utc(dt: datetime) -> datetime:
    # The warehouse and the query engine work in naive UTC.
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo is not None else dt


def now_minute(now: datetime | None) -> datetime:
    # Truncated to the minute, as the query engine anchors relative windows:
    # every widget of one view sees the same window and shares cache entries.
    return naive_utc(now or datetime.now(UTC)).replace(second=0, microsecond=0)


def _instant(text: str, now: datetime, field: str) -> datetime:
    s = text.strip()
    m = PLACEHOLDER_RE.fullmatch(s)
    if m:
        t = parse_time_expr(m.group(1), now, field=field)
        if t is None:
            raise InvalidSpec(
                f"{field}: cannot read {s!r}; use e.g. {{{{now-30d}}}} or {{{{start_of_month}}}}", field=field
            )
        return t
    try:
        out = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(
            f"{field}: {s[:60]!r} is neither an ISO date/time nor a placeholder like {{{{now-7d}}}}",
            field=field,
        ) from None
    return naive_utc(out)


def parse_time_range(
    time_range: str, now: datetime, *, field: str = "time_range"
) -> tuple[datetime, datetime]:
    """The (start, end) instants of ``'start..end'`` (placeholders or ISO dates).

    Raises InvalidSpec naming ``field`` when the text cannot be read or the start is after the end.
    """
    if not isinstance(time_range, str) or ".." not in time_range:
        raise InvalidSpec(
            f"{field}: use 'start..end', e.g. '{{{{now-30d}}}}..{{{{now}}}}' or '2026-01-01..2026-02-01'",
            field=field,
        )
    now = naive_utc(now)
    lo_text, hi_text = time_range.split("..", 1)
    lo, hi = _instant(lo_text, now, field), _instant(hi_text, now, field)
    if lo > hi:
        raise InvalidSpec(
            f"{field}: the start {lo.isoformat()} is after the end {hi.isoformat()}", field=field
        )
    return lo, hi


def previous_window(time_range: str, now: datetime) -> str:
    """The window of the same length just before ``time_range``, as absolute ``'start..end'``.

    ``'{{now-7d}}..{{now}}'`` at 2026-11-18 12:00 gives
    ``'2026-11-04T12:00:00..2026-11-11T11:59:59.999999'``: the end stops one
    microsecond before the current window starts, because ``between`` is inclusive
    and a row must not count in both periods. ``now`` is naive UTC.
    """
    lo, hi = parse_time_range(time_range, now)
    length = hi - lo
    try:
        start = lo - length
    except OverflowError:
        raise InvalidSpec(
            "time_range: the previous period of this window would start before year 1; "
            "use a shorter window or turn off compare_previous",
            field="time_range",
        ) from None
    return f"{start.isoformat()}..{(lo - timedelta(microseconds=1)).isoformat()}"


_LAST_RE = re.compile(r"^\{\{\s*now\s*-\s*(\d+)\s*([mhdwMy])\s*\}\}\s*\.\.\s*\{\{\s*now\s*\}\}$")
_SINCE_RE = re.compile(r"^\{\{\s*start_of_(day|week|month|quarter|year)\s*\}\}\s*\.\.\s*\{\{\s*now\s*\}\}$")


def describe_window(time_range: str, now: datetime | None = None) -> str:
    """A window as people say it: ``{{now-6M}}..{{now}}`` → "last 6 months", ``{{start_of_year}}..{{now}}``
    → "this year", other windows as their resolved dates ("2026-01-01 – 2026-03-31"), '' → "all time"."""
    text = (time_range or "").strip()
    if not text:
        return "all time"
    m = _LAST_RE.match(text)
    if m:
        n, unit = int(m.group(1)), UNITS[m.group(2)]
        return f"last {n} {unit}" if n != 1 else f"last {unit[:-1]}"
    m = _SINCE_RE.match(text)
    if m:
        return "today" if m.group(1) == "day" else f"this {m.group(1)}"
    try:
        lo, hi = parse_time_range(text, now_minute(now))
    except InvalidSpec:
        return text
    return f"{lo:%Y-%m-%d} – {hi:%Y-%m-%d}"
