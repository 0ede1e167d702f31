"""next_allowed_start and friends: named DST nights, windows across midnight, maintenance, properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from portal.queue.offpeak import (
    HORIZON,
    describe_wait,
    is_allowed,
    next_allowed_start,
    occurrence,
    resolve_local,
)
from portal.specs.jobs import MaintenanceDay, OffpeakWindow, UserWindowPreference

NY = ZoneInfo("America/New_York")
SP = ZoneInfo("America/Sao_Paulo")
LIS = ZoneInfo("Europe/Lisbon")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(tz: str, start: str, end: str, weekdays: list[int] | None = None) -> OffpeakWindow:
    extra = {} if weekdays is None else {"weekdays": weekdays}
    return OffpeakWindow(timezone=tz, start=start, end=end, **extra)


def open_minutes(windows, start: datetime, end: datetime, maintenance=(), preference=None) -> list[datetime]:
    """Every whole minute in [start, end) at which work may start."""
    out, t = [], start
    while t < end:
        if is_allowed(t, windows, maintenance, preference):
            out.append(t)
        t += timedelta(minutes=1)
    return out


def openings(windows, start: datetime, end: datetime, **kw) -> list[datetime]:
    """Minutes at which the allowed set switches from closed to open."""
    mins = open_minutes(windows, start, end, **kw)
    return [m for i, m in enumerate(mins) if i == 0 or mins[i - 1] != m - timedelta(minutes=1)]


# --------------------------------------------------------------------------- resolve_local
def test_resolve_local_existing_ambiguous_and_skipped_times():
    assert resolve_local(date(2026, 7, 1), time(8), NY) == utc(2026, 7, 1, 12)
    # Fall back, New York 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST).
    assert resolve_local(date(2026, 11, 1), time(1, 30), NY) == utc(2026, 11, 1, 5, 30)
    assert resolve_local(date(2026, 11, 1), time(1, 30), NY, last=True) == utc(2026, 11, 1, 6, 30)
    # Spring forward, New York 2026-03-08: 02:00-02:59 does not exist; 03:00 EDT = 07:00 UTC follows.
    for clock in (time(2), time(2, 30), time(2, 59)):
        assert resolve_local(date(2026, 3, 8), clock, NY) == utc(2026, 3, 8, 7)
        assert resolve_local(date(2026, 3, 8), clock, NY, last=True) == utc(2026, 3, 8, 7)
    # Lisbon 2026-03-29: 01:00-01:59 does not exist; 02:00 WEST = 01:00 UTC.
    assert resolve_local(date(2026, 3, 29), time(1, 15), LIS) == utc(2026, 3, 29, 1)


# --------------------------------------------------------------------------- New York
def test_new_york_spring_forward_night_window_is_two_real_hours():
    w = [window("America/New_York", "01:00", "04:00")]
    assert next_allowed_start(utc(2026, 3, 8, 5, 30), w) == utc(2026, 3, 8, 6)  # 01:00 EST
    assert is_allowed(utc(2026, 3, 8, 6, 59), w)  # 01:59 EST
    assert is_allowed(utc(2026, 3, 8, 7, 0), w)  # 03:00 EDT: the clock skipped 02:xx
    assert not is_allowed(utc(2026, 3, 8, 8, 0), w)  # 04:00 EDT closes it
    assert len(open_minutes(w, utc(2026, 3, 8), utc(2026, 3, 9))) == 120


def test_window_starting_inside_the_skipped_hour_opens_at_the_first_instant_after_it():
    w = [window("America/New_York", "02:30", "05:00")]
    now = datetime(2026, 3, 8, 0, 0, tzinfo=NY)
    start = next_allowed_start(now, w)
    assert start == utc(2026, 3, 8, 7)
    assert start.astimezone(NY).strftime("%H:%M %Z") == "03:00 EDT"
    assert describe_wait(now, w) == "off-peak window opens 03:00 America/New_York"
    assert not is_allowed(start - timedelta(seconds=1), w)
    # The next day it opens at 02:30 again.
    assert next_allowed_start(utc(2026, 3, 8, 12), w) == datetime(2026, 3, 9, 2, 30, tzinfo=NY)


def test_window_entirely_inside_the_skipped_hour_does_not_run_that_night():
    w = window("America/New_York", "02:00", "02:45")
    assert occurrence(w, date(2026, 3, 8)) is None
    assert next_allowed_start(utc(2026, 3, 8, 0), [w]) == datetime(2026, 3, 9, 2, 0, tzinfo=NY)


def test_new_york_fall_back_night_opens_once_and_stays_open_through_the_repeated_hour():
    w = [window("America/New_York", "01:00", "02:00")]
    # 01:00 EDT = 05:00 UTC until 02:00 EST = 07:00 UTC: two real hours, one opening.
    assert next_allowed_start(utc(2026, 11, 1, 4), w) == utc(2026, 11, 1, 5)
    assert openings(w, utc(2026, 10, 31, 12), utc(2026, 11, 1, 12)) == [utc(2026, 11, 1, 5)]
    assert len(open_minutes(w, utc(2026, 11, 1), utc(2026, 11, 2))) == 120
    # Once closed it does not reopen that night: the next start is the next night.
    assert next_allowed_start(utc(2026, 11, 1, 7), w) == datetime(2026, 11, 2, 1, 0, tzinfo=NY)


def test_fall_back_window_ending_in_the_repeated_hour_closes_at_its_last_reading():
    w = [window("America/New_York", "00:00", "01:30")]
    # 00:00 EDT = 04:00 UTC until the second 01:30 (EST) = 06:30 UTC: while the clock reads a
    # time inside the window, the window is open.
    assert is_allowed(utc(2026, 11, 1, 6, 15), w)  # 01:15 EST
    assert not is_allowed(utc(2026, 11, 1, 6, 30), w)
    assert len(open_minutes(w, utc(2026, 11, 1), utc(2026, 11, 1, 12))) == 150


def test_fall_back_window_opening_in_the_repeated_hour_opens_at_its_first_reading():
    w = [window("America/New_York", "01:30", "03:00")]
    assert next_allowed_start(utc(2026, 11, 1, 5), w) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert is_allowed(utc(2026, 11, 1, 6, 10), w)  # 01:10 EST: already open, not closed again
    assert openings(w, utc(2026, 10, 31, 12), utc(2026, 11, 1, 12)) == [utc(2026, 11, 1, 5, 30)]


# --------------------------------------------------------------------------- Sao Paulo
def test_sao_paulo_window_across_midnight_belongs_to_the_weekday_it_starts_on():
    w = [window("America/Sao_Paulo", "22:00", "06:00", weekdays=[0, 1, 2, 3, 4])]  # Mon-Fri nights
    assert is_allowed(datetime(2026, 5, 9, 3, 0, tzinfo=SP), w)  # Sat 03:00: Friday's window
    assert not is_allowed(datetime(2026, 5, 9, 23, 0, tzinfo=SP), w)  # Sat night: none
    assert not is_allowed(datetime(2026, 5, 11, 0, 30, tzinfo=SP), w)  # Mon 00:30: Sunday's, none
    start = next_allowed_start(datetime(2026, 5, 9, 7, 0, tzinfo=SP), w)
    assert start == datetime(2026, 5, 11, 22, 0, tzinfo=SP)  # Monday night
    assert start == utc(2026, 5, 12, 1)
    assert not is_allowed(datetime(2026, 5, 12, 6, 0, tzinfo=SP), w)  # end is exclusive


def test_sao_paulo_reason_says_when_the_window_opens():
    w = [window("America/Sao_Paulo", "00:00", "06:00")]
    now = datetime(2026, 5, 4, 15, 0, tzinfo=SP)
    assert describe_wait(now, w) == "off-peak window opens 00:00 America/Sao_Paulo"
    assert next_allowed_start(now, w) == utc(2026, 5, 5, 3)
    assert describe_wait(datetime(2026, 5, 5, 1, 0, tzinfo=SP), w) == "inside the off-peak window"


def test_maintenance_day_blocks_its_whole_local_day():
    w = [window("America/Sao_Paulo", "00:00", "06:00")]
    m = [MaintenanceDay(day=date(2026, 5, 5), timezone="America/Sao_Paulo", reason="warehouse upgrade")]
    now = datetime(2026, 5, 5, 1, 0, tzinfo=SP)
    assert is_allowed(now, w) and not is_allowed(now, w, m)
    assert next_allowed_start(now, w, m) == datetime(2026, 5, 6, 0, 0, tzinfo=SP)
    assert describe_wait(now, w, m) == (
        "off-peak window opens 00:00 America/Sao_Paulo (after maintenance on 2026-05-05: warehouse upgrade)"
    )
    # Without windows the end of the maintenance day is what opens.
    assert (
        describe_wait(now, [], m)
        == "maintenance on 2026-05-05 (warehouse upgrade) ends 00:00 America/Sao_Paulo"
    )
    # Seen from the day before, the window that opens on the maintenance day is skipped.
    before = datetime(2026, 5, 4, 12, 0, tzinfo=SP)
    assert next_allowed_start(before, w, m) == datetime(2026, 5, 6, 0, 0, tzinfo=SP)
    assert "2026-05-06 00:00 America/Sao_Paulo" in describe_wait(before, w, m)


def test_maintenance_in_another_zone_uses_that_zones_day():
    w = [window("UTC", "00:00", "18:00")]
    tokyo = [MaintenanceDay(day=date(2026, 5, 5), timezone="Asia/Tokyo")]  # 2026-05-04 15:00 UTC ..
    assert is_allowed(utc(2026, 5, 4, 11), w, tokyo)
    assert not is_allowed(utc(2026, 5, 5, 11), w, tokyo)
    assert next_allowed_start(utc(2026, 5, 5, 0), w, tokyo) == utc(2026, 5, 5, 15)


# --------------------------------------------------------------------------- Lisbon
def test_lisbon_spring_forward_2026_03_29():
    w = [window("Europe/Lisbon", "00:30", "03:00")]
    # 00:30 WET = 00:30 UTC until 03:00 WEST = 02:00 UTC.
    assert next_allowed_start(utc(2026, 3, 29, 0), w) == utc(2026, 3, 29, 0, 30)
    assert len(open_minutes(w, utc(2026, 3, 29), utc(2026, 3, 29, 12))) == 90
    inside_gap = window("Europe/Lisbon", "01:15", "01:45")
    assert occurrence(inside_gap, date(2026, 3, 29)) is None
    assert next_allowed_start(utc(2026, 3, 28, 12), [inside_gap]) == utc(2026, 3, 30, 0, 15)


def test_lisbon_fall_back_2026_10_25():
    w = [window("Europe/Lisbon", "01:00", "02:00")]
    # 01:00 WEST = 00:00 UTC until 02:00 WET = 02:00 UTC: the repeated hour stays inside.
    assert next_allowed_start(utc(2026, 10, 24, 20), w) == utc(2026, 10, 25, 0)
    assert openings(w, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [utc(2026, 10, 25, 0)]
    assert len(open_minutes(w, utc(2026, 10, 25), utc(2026, 10, 26))) == 120


# --------------------------------------------------------------------------- preference and edge cases
def test_user_preference_is_intersected_with_the_windows():
    w = [window("America/Sao_Paulo", "00:00", "06:00")]
    pref = UserWindowPreference(timezone="America/Sao_Paulo", start="01:00", end="05:00")
    now = datetime(2026, 5, 4, 0, 30, tzinfo=SP)
    assert is_allowed(now, w) and not is_allowed(now, w, preference=pref)
    assert next_allowed_start(now, w, preference=pref) == datetime(2026, 5, 4, 1, 0, tzinfo=SP)
    assert describe_wait(now, w, preference=pref) == "your preferred window opens 01:00 America/Sao_Paulo"
    disjoint = UserWindowPreference(timezone="America/Sao_Paulo", start="07:00", end="08:00")
    assert next_allowed_start(now, w, preference=disjoint) is None
    assert describe_wait(now, w, preference=disjoint).startswith(
        f"no allowed start within {HORIZON.days} days"
    )


def test_no_windows_means_no_off_peak_restriction_but_maintenance_still_holds():
    now = utc(2026, 5, 4, 15, 7)
    assert next_allowed_start(now, []) == now
    m = [MaintenanceDay(day=date(2026, 5, 4), timezone="UTC")]
    assert next_allowed_start(now, [], m) == utc(2026, 5, 5)


def test_result_is_utc_and_naive_now_is_refused():
    w = [window("America/Sao_Paulo", "00:00", "06:00")]
    start = next_allowed_start(datetime(2026, 5, 4, 15, 0, tzinfo=SP), w)
    assert start is not None and start.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed_start(datetime(2026, 5, 4, 15, 0), w)


# --------------------------------------------------------------------------- properties
ZONES = [
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/Lisbon",
    "UTC",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
]
# Nights where something happens, to make DST cases frequent rather than lucky.
NIGHTS = [
    utc(2026, 3, 7, 12), utc(2026, 10, 31, 12), utc(2026, 3, 28, 12), utc(2026, 10, 24, 12),
    utc(2026, 4, 4, 6), utc(2026, 10, 3, 6), utc(2026, 6, 15, 0),
]  # fmt: skip
clocks = st.integers(0, 24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")


@st.composite
def windows_st(draw):
    start, end = draw(clocks), draw(clocks)
    assume(start != end)
    weekdays = draw(st.sets(st.integers(0, 6), min_size=5))
    return window(draw(st.sampled_from(ZONES)), start, end, sorted(weekdays))


@st.composite
def scenarios(draw):
    base = draw(st.sampled_from(NIGHTS))
    now = base + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    ws = draw(st.lists(windows_st(), min_size=0, max_size=3))
    maint = [
        MaintenanceDay(day=(now + timedelta(days=d)).date(), timezone=draw(st.sampled_from(ZONES)))
        for d in draw(st.lists(st.integers(-1, 2), max_size=1))
    ]
    pref = None
    if draw(st.booleans()):
        start = draw(clocks)
        width = draw(st.integers(4 * 60, 20 * 60))
        minutes = (int(start[:2]) * 60 + int(start[3:]) + width) % (24 * 60)
        pref = UserWindowPreference(
            timezone=draw(st.sampled_from(ZONES)), start=start, end=f"{minutes // 60:02d}:{minutes % 60:02d}"
        )
    return now, ws, maint, pref


def spans(w, around: datetime, days: int):
    """All occurrences of ``w`` starting within ``days`` local days around ``around``."""
    first = around.astimezone(w.zone).date() - timedelta(days=2)
    return [s for k in range(days + 4) if (s := occurrence(w, first + timedelta(days=k)))]


def oracle(now, ws, maint, pref, minutes: int):
    """Allowed whole minutes in [now, now + minutes), by brute force over precomputed intervals."""
    wspans = [s for w in ws for s in spans(w, now, minutes // 1440 + 1)]
    pspans = spans(pref, now, minutes // 1440 + 1) if pref else None
    out = []
    for i in range(minutes):
        t = now + timedelta(minutes=i)
        if ws and not any(a <= t < b for a, b in wspans):
            continue
        if pspans is not None and not any(a <= t < b for a, b in pspans):
            continue
        if any(t.astimezone(m.zone).date() == m.day for m in maint):
            continue
        out.append(t)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(scenarios())
def test_next_allowed_start_is_allowed_and_nothing_earlier_is(scenario):
    now, ws, maint, pref = scenario
    start = next_allowed_start(now, ws, maint, pref)
    scan = 5 * 24 * 60  # five days of minutes
    allowed = oracle(now, ws, maint, pref, scan)
    if start is None:
        assert allowed == []
        return
    assert start >= now and start.tzinfo is UTC
    assert is_allowed(start, ws, maint, pref)
    if start > now:
        assert not is_allowed(start - timedelta(minutes=1), ws, maint, pref) or start - now < timedelta(
            minutes=1
        )
    # The earliest allowed minute by brute force is the answer (when it lies in the scanned days).
    if allowed:
        assert start == allowed[0]
    else:
        assert start >= now + timedelta(minutes=scan)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(scenarios(), st.lists(st.integers(0, 3 * 24 * 60), min_size=1, max_size=30))
def test_is_allowed_agrees_with_the_intervals(scenario, offsets):
    now, ws, maint, pref = scenario
    allowed = set(oracle(now, ws, maint, pref, 3 * 24 * 60 + 1))
    for k in offsets:
        t = now + timedelta(minutes=k)
        assert is_allowed(t, ws, maint, pref) == (t in allowed)
