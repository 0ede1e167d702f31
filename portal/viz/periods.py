"""Partial periods: is a time bucket fully inside the window the data covers?

A chart of tickets per week whose window ends on a Wednesday shows a last week of
three days: drawn like the others it reads as a collapse. :func:`is_partial` says
which buckets the window cuts (at its end — the period in progress — or at its start),
so the renderers can fade them and say "partial period". Pure functions on datetimes.

Buckets start where the warehouse's ``date_trunc`` puts them: hours, days, weeks on
Monday, months, quarters and years; ``hour_of_day``-style buckets are not periods.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

__all__ = ["PERIOD_BUCKETS", "bucket_end", "bucket_start", "is_partial", "partial_flags"]

#: Buckets that are periods of time (the others, like ``hour_of_day``, repeat).
PERIOD_BUCKETS = frozenset({"hour", "day", "week", "month", "quarter", "year"})


def _naive(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    out: datetime = ts.to_pydatetime()
    return out


def bucket_start(value: datetime | date, bucket: str) -> datetime:
    """The start of the ``bucket`` holding ``value`` (weeks start on Monday)."""
    t = _naive(value)
    if bucket == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    if bucket == "quarter":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    if bucket == "year":
        return day.replace(day=1, month=1)
    raise ValueError(f"bucket {bucket!r} is not a period")


def bucket_end(start: datetime | date, bucket: str) -> datetime:
    """The first instant after the ``bucket`` that starts at ``start``."""
    s = bucket_start(start, bucket)
    if bucket == "hour":
        return s + timedelta(hours=1)
    if bucket == "day":
        return s + timedelta(days=1)
    if bucket == "week":
        return s + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[bucket]
    index = s.year * 12 + (s.month - 1) + months
    return s.replace(year=index // 12, month=index % 12 + 1)


def is_partial(
    value: datetime | date,
    bucket: str,
    window_start: datetime | None,
    window_end: datetime | None,
) -> bool:
    """Whether the window cuts the bucket holding ``value``: it ends before the bucket does (the
    period in progress) or starts after the bucket did. Non-period buckets are never partial;
    ``None`` bounds do not cut."""
    if bucket not in PERIOD_BUCKETS:
        return False
    start = bucket_start(value, bucket)
    end = bucket_end(start, bucket)
    # A window that ends a moment before the bucket does (``..23:59:59.999``) covers it.
    if window_end is not None and _naive(window_end) + timedelta(seconds=1) < end:
        return True
    return window_start is not None and _naive(window_start) > start


def partial_flags(
    values: Iterable[Any],
    bucket: str | None,
    window_start: datetime | None,
    window_end: datetime | None,
) -> list[bool]:
    """:func:`is_partial` for each of ``values`` (False for missing values or no bucket)."""
    out = []
    for v in values:
        if bucket is None or v is None or v is pd.NaT or (isinstance(v, float) and v != v):
            out.append(False)
            continue
        try:
            out.append(is_partial(v, bucket, window_start, window_end))
        except (TypeError, ValueError):
            out.append(False)
    return out
