from datetime import datetime

import pytest

from portal.data.timewindows import anchor_time, parse_time_expr

NOW = datetime(2026, 11, 25, 14, 37, 12)  # a Wednesday


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("now", NOW),
        ("now-7d", datetime(2026, 11, 18, 14, 37, 12)),
        ("now+1h", datetime(2026, 11, 25, 15, 37, 12)),
        ("now-30m", datetime(2026, 11, 25, 14, 7, 12)),
        ("now-1M", datetime(2026, 10, 25, 14, 37, 12)),
        ("now-2y", datetime(2024, 11, 25, 14, 37, 12)),
        ("today", datetime(2026, 11, 25)),
        ("start_of_week", datetime(2026, 11, 23)),
        ("start_of_month", datetime(2026, 11, 1)),
        ("start_of_month-1M", datetime(2026, 10, 1)),
        ("start_of_quarter", datetime(2026, 10, 1)),
        ("start_of_year", datetime(2026, 1, 1)),
        ("start_of_week - 1w", datetime(2026, 11, 16)),
    ],
)
def test_expressions(expr, expected):
    assert parse_time_expr(expr, NOW) == expected


@pytest.mark.parametrize("expr", ["yesterday", "now-7", "now-7q", "now--1d", "start_of_decade", "now;drop"])
def test_not_time_expressions(expr):
    assert parse_time_expr(expr, NOW) is None


def test_month_end_clamps():
    assert parse_time_expr("now-1M", datetime(2026, 3, 31)) == datetime(2026, 2, 28)


def test_unknown_anchor():
    with pytest.raises(ValueError):
        anchor_time("later", NOW)
