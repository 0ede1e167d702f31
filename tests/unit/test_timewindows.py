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


@pytest.mark.parametrize(
    ("window", "said"),
    [
        ("{{now-6M}}..{{now}}", "last 6 months"),
        ("{{ now-1d }}..{{now}}", "last day"),
        ("{{now-12M}}..{{now}}", "last 12 months"),
        ("{{start_of_year}}..{{now}}", "this year"),
        ("{{start_of_day}}..{{now}}", "today"),
        ("2026-01-01..2026-03-31", "2026-01-01 – 2026-03-31"),
        ("{{now-7d}}..{{now-1d}}", "2026-11-25 – 2026-12-01"),
        ("", "all time"),
        ("not a window", "not a window"),
    ],
)
def test_describe_window_says_it_as_people_do(window: str, said: str) -> None:
    from portal.data.timewindows import describe_window

    assert describe_window(window, datetime(2026, 12, 2, 10, 0)) == said
