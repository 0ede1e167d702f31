"""Relative time placeholders: ``{{now-7d}}``, ``{{start_of_month}}``, ``{{today+1d}}``.

Pure functions: the caller passes ``now`` so results are reproducible and testable.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

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
