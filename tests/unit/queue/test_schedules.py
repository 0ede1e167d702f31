"""Schedules: cron and RRULE in a time zone, DST, one catch-up, idempotency keys, previews."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.errors import InvalidSpec
from portal.queue.schedules import describe, due_fire, fire_key, next_fire_times
from portal.specs.base import parse_spec
from portal.specs.jobs import Priority, ScheduleSpec

NY = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def spec(expr: str, tz: str = "America/New_York", **kw) -> ScheduleSpec:
    return parse_spec(ScheduleSpec, {"schedule_expr": expr, "timezone": tz, **kw})


def local(times: list[datetime], zone: ZoneInfo = NY) -> list[str]:
    return [t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for t in times]


DAILY_8 = ["0 8 * * *", "RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0", "FREQ=DAILY;BYHOUR=8;BYMINUTE=0"]


@pytest.mark.parametrize("expr", DAILY_8)
def test_daily_0800_new_york_stays_0800_local_across_the_march_change(expr):
    fires = next_fire_times(spec(expr), utc(2026, 3, 6, 12), 4)
    assert local(fires) == [
        "2026-03-06 08:00 EST", "2026-03-07 08:00 EST", "2026-03-08 08:00 EDT", "2026-03-09 08:00 EDT",
    ]  # fmt: skip
    assert [f.hour for f in fires] == [13, 13, 12, 12]  # UTC moves, local does not
    assert all(f.tzinfo is UTC for f in fires)


def test_rrule_with_dtstart_and_tzid_runs_at_local_time_across_dst():
    s = spec("DTSTART;TZID=America/New_York:20260302T093000\nRRULE:FREQ=WEEKLY;BYDAY=MO")
    assert local(next_fire_times(s, utc(2026, 3, 1), 3)) == [
        "2026-03-02 09:30 EST", "2026-03-09 09:30 EDT", "2026-03-16 09:30 EDT",
    ]  # fmt: skip


@pytest.mark.parametrize("expr", ["30 2 * * *", "FREQ=DAILY;BYHOUR=2;BYMINUTE=30"])
def test_a_time_in_the_skipped_hour_fires_right_after_the_gap_once(expr):
    fires = next_fire_times(spec(expr), utc(2026, 3, 7, 12), 3)
    assert local(fires) == ["2026-03-08 03:00 EDT", "2026-03-09 02:30 EDT", "2026-03-10 02:30 EDT"]


@pytest.mark.parametrize("expr", ["30 1 * * *", "FREQ=DAILY;BYHOUR=1;BYMINUTE=30"])
def test_a_time_repeated_by_fall_back_fires_once_at_its_first_occurrence(expr):
    fires = next_fire_times(spec(expr), utc(2026, 10, 31, 12), 3)
    assert local(fires) == ["2026-11-01 01:30 EDT", "2026-11-02 01:30 EST", "2026-11-03 01:30 EST"]
    # Asked from inside the repeated hour (01:10 EST, after the 01:30 EDT fire): no second fire.
    assert local(next_fire_times(spec(expr), utc(2026, 11, 1, 6, 10), 1)) == ["2026-11-02 01:30 EST"]


def test_every_30_minutes_across_fall_back_has_no_duplicates():
    for expr in ("*/30 * * * *", "FREQ=MINUTELY;INTERVAL=30"):
        fires = next_fire_times(spec(expr), utc(2026, 11, 1, 4), 8)
        assert fires == sorted(set(fires))
        assert local(fires)[:4] == [
            "2026-11-01 00:30 EDT", "2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT", "2026-11-01 02:00 EST",
        ]  # fmt: skip


def test_lisbon_rrule_across_the_march_change():
    lis = ZoneInfo("Europe/Lisbon")
    s = spec("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", tz="Europe/Lisbon")
    assert local(next_fire_times(s, utc(2026, 3, 27, 12), 3), lis) == [
        "2026-03-28 01:30 WET", "2026-03-29 02:00 WEST", "2026-03-30 01:30 WEST",
    ]  # fmt: skip


def test_rrule_count_and_until_end_the_schedule():
    s = spec("DTSTART:20260301T080000\nRRULE:FREQ=DAILY;COUNT=3")
    assert local(next_fire_times(s, utc(2026, 1, 1), 10)) == [
        "2026-03-01 08:00 EST", "2026-03-02 08:00 EST", "2026-03-03 08:00 EST",
    ]  # fmt: skip
    s = spec("FREQ=DAILY;BYHOUR=8;UNTIL=20260305T000000Z")
    assert len(next_fire_times(s, utc(2026, 3, 1), 10)) == 4  # 1st-4th; the 5th is after UNTIL
    assert next_fire_times(s, utc(2026, 4, 1), 10) == []


def test_rrule_without_dtstart_is_the_same_whenever_it_is_read():
    # INTERVAL counts from a fixed anchor, not from "now": two readings agree.
    s = spec("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO;BYHOUR=9;BYMINUTE=0")
    a = next_fire_times(s, utc(2026, 3, 1), 6)
    b = next_fire_times(s, utc(2026, 3, 10), 5)
    assert a[1:] == b
    assert [x - y for x, y in zip(a[1:], a, strict=False)] == [timedelta(days=14)] * 5


def test_monthly_last_friday_and_yearly_rules():
    s = spec("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17;BYMINUTE=0")
    assert local(next_fire_times(s, utc(2026, 3, 1), 2)) == ["2026-03-27 17:00 EDT", "2026-04-24 17:00 EDT"]


# --------------------------------------------------------------------------- catch-up
def test_after_downtime_only_the_latest_missed_fire_is_owed():
    s = spec("0 * * * *")  # hourly
    last = utc(2026, 3, 6, 3)
    now = utc(2026, 3, 6, 9, 20)  # six fires missed
    assert due_fire(s, last, now) == utc(2026, 3, 6, 9)
    # Once that fire is recorded nothing more is owed until the next time comes.
    assert due_fire(s, utc(2026, 3, 6, 9), now) is None
    assert due_fire(s, utc(2026, 3, 6, 9), utc(2026, 3, 6, 10)) == utc(2026, 3, 6, 10)


def test_catch_up_for_a_weekly_rrule_and_a_minute_cron_after_long_downtime():
    weekly = spec("FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0")
    assert due_fire(weekly, utc(2026, 1, 1), utc(2026, 3, 11, 12)) == datetime(2026, 3, 9, 8, tzinfo=NY)
    minutely = spec("* * * * *")
    assert due_fire(minutely, utc(2025, 6, 1), utc(2026, 3, 11, 12, 0, 30)) == utc(2026, 3, 11, 12)


def test_due_fire_needs_a_baseline_and_never_returns_the_future():
    s = spec("0 8 * * *")
    assert due_fire(s, None, utc(2026, 3, 6, 20)) is None
    assert due_fire(s, utc(2026, 3, 6, 12), utc(2026, 3, 6, 12, 59)) is None  # 08:00 EST = 13:00 UTC
    assert due_fire(s, utc(2026, 3, 6, 12), utc(2026, 3, 6, 13)) == utc(2026, 3, 6, 13)  # inclusive


def test_due_fire_on_the_fall_back_night_fires_the_repeated_time_once():
    s = spec("30 1 * * *")
    first = due_fire(s, utc(2026, 10, 31, 12), utc(2026, 11, 1, 6, 45))  # 01:45 EST
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert due_fire(s, first, utc(2026, 11, 1, 6, 45)) is None


# --------------------------------------------------------------------------- keys and previews
def test_fire_key_is_deterministic_and_zone_independent():
    a = fire_key(7, datetime(2026, 3, 8, 8, tzinfo=NY))
    assert a == "schedule:7:20260308T120000Z"
    assert a == fire_key(7, utc(2026, 3, 8, 12))
    assert a != fire_key(8, utc(2026, 3, 8, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        fire_key(7, datetime(2026, 3, 8, 8))


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 8 * * *", "every day at 08:00 (America/New_York)"),
        ("RRULE:FREQ=DAILY;BYHOUR=8;BYMINUTE=0", "every day at 08:00 (America/New_York)"),
        ("30 9 * * 1-5", "every Monday to Friday at 09:30 (America/New_York)"),
        ("0 7 1 * *", "on day 1 of every month at 07:00 (America/New_York)"),
        ("*/15 * * * *", "every 15 minutes (America/New_York)"),
        ("5 4 * 6 *", "cron 5 4 * 6 * (America/New_York)"),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;BYHOUR=8;BYMINUTE=30",
            "every 2 weeks on Monday, Wednesday at 08:30 (America/New_York)",
        ),
        ("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=17", "every month on the last Friday at 17:00 (America/New_York)"),
        (
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=8;COUNT=2",
            "every year in March on day 8 at 00:00 2 times (America/New_York)",
        ),
    ],
)
def test_describe(expr, words):
    assert describe(spec(expr)) == words


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "expr",
    [
        "", "0 8 * *", "0 8 * * * *", "61 * * * *", "0 0 30 2 *", "@reboot",
        "FREQ=FORTNIGHTLY", "RRULE:FREQ=SECONDLY", "FREQ=DAILY;BYFOO=1", "RRULE:BYHOUR=8",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=DAILY;COUNT=2;UNTIL=20270101",
        "FREQ=MINUTELY;INTERVAL=7", "DTSTART:2026-03-01\nRRULE:FREQ=DAILY",
        "DTSTART;TZID=Mars/Base:20260301T080000\nRRULE:FREQ=DAILY", "RRULE:FREQ=DAILY\nEXDATE:20260301",
    ],
)  # fmt: skip
def test_malformed_expressions_name_schedule_expr(expr):
    with pytest.raises(InvalidSpec) as err:
        spec(expr)
    assert err.value.field == "schedule_expr"
    assert err.value.message.startswith("schedule_expr: ")


def test_unknown_time_zone_names_timezone_and_suggests():
    with pytest.raises(InvalidSpec) as err:
        spec("0 8 * * *", tz="America/New_Yrok")
    assert err.value.field == "timezone"
    assert "did you mean 'America/New_York'?" in err.value.message


def test_priority_and_offpeak_fields():
    s = spec("0 8 * * *", priority="critical", offpeak_only=True)
    assert s.priority is Priority.CRITICAL and s.offpeak_only
    with pytest.raises(InvalidSpec) as err:
        spec("0 8 * * *", priority="urgent")
    assert err.value.field == "priority"
    assert Priority.CRITICAL > Priority.HIGH > Priority.NORMAL > Priority.LOW
    assert sorted(["low", "critical", "normal", "high"], key=lambda p: Priority(p).rank, reverse=True) == [
        "critical", "high", "normal", "low",
    ]  # fmt: skip


# --------------------------------------------------------------------------- properties
ZONES = ["America/New_York", "America/Sao_Paulo", "Europe/Lisbon", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(ZONES),
    st.integers(0, 23),
    st.integers(0, 59),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 25)),
    st.booleans(),
)
def test_daily_fires_are_increasing_once_per_local_day_at_the_time_or_after_a_gap(
    tz, hour, minute, after, rrule
):
    expr = f"FREQ=DAILY;BYHOUR={hour};BYMINUTE={minute}" if rrule else f"{minute} {hour} * * *"
    s = spec(expr, tz=tz)
    start = after.replace(tzinfo=UTC)
    fires = next_fire_times(s, start, 10)
    zone = ZoneInfo(tz)
    assert len(fires) == 10 and fires[0] > start
    assert all(a < b for a, b in itertools.pairwise(fires))
    days = [f.astimezone(zone).date() for f in fires]
    assert len(set(days)) == 10  # one fire per local day, none doubled or lost
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
    for f in fires:
        wall = f.astimezone(zone)
        if (wall.hour, wall.minute) != (hour, minute):
            # Only a skipped local time moves, and then to just after the gap.
            assert wall.replace(tzinfo=None) > wall.replace(hour=hour, minute=minute, tzinfo=None)
            assert wall.replace(tzinfo=None) - wall.replace(
                hour=hour, minute=minute, tzinfo=None
            ) <= timedelta(hours=1)
    assert due_fire(s, start, fires[2]) == fires[2]
    assert due_fire(s, start, fires[2] - timedelta(seconds=1)) == fires[1]
