"""Pure helpers of the dashboard service: previous period of a KPI window, time ranges, traffic lights, auto-layout."""

from datetime import UTC, datetime, timedelta

import pytest

from portal.dashboards import auto_position
from portal.data.timewindows import parse_time_range, previous_window
from portal.errors import InvalidSpec
from portal.specs import KpiSpec, Position
from portal.viz.cards import kpi_summary, kpi_values

NOW = datetime(2026, 11, 25, 14, 37)  # a Wednesday


@pytest.mark.parametrize(
    ("time_range", "expected"),
    [
        ("{{now-7d}}..{{now}}", "2026-11-11T14:37:00..2026-11-18T14:36:59.999999"),
        ("{{now-90d}}..{{now}}", "2026-05-29T14:37:00..2026-08-27T14:36:59.999999"),
        ("{{ now-24h }}..{{ now }}", "2026-11-23T14:37:00..2026-11-24T14:36:59.999999"),
        # month to date: the same number of days just before the month started
        ("{{start_of_month}}..{{now}}", "2026-10-07T09:23:00..2026-10-31T23:59:59.999999"),
        ("{{today}}..{{today+1d}}", "2026-11-24T00:00:00..2026-11-24T23:59:59.999999"),
        ("2026-09-01..2026-10-01", "2026-08-02T00:00:00..2026-08-31T23:59:59.999999"),
        ("2026-03-01T00:00:00Z..2026-03-02T00:00:00Z", "2026-02-28T00:00:00..2026-02-28T23:59:59.999999"),
        (
            "2026-03-01T03:00:00-03:00..2026-03-01T09:00:00-03:00",
            "2026-03-01T00:00:00..2026-03-01T05:59:59.999999",
        ),
        ("{{now-1d}}..2026-11-25T14:37:00", "2026-11-23T14:37:00..2026-11-24T14:36:59.999999"),
    ],
)
def test_previous_window(time_range, expected):
    assert previous_window(time_range, NOW) == expected


def test_previous_window_has_the_same_length_and_ends_before_the_current_one():
    for days in (1, 7, 30, 90, 365):
        lo, hi = parse_time_range(f"{{{{now-{days}d}}}}..{{{{now}}}}", NOW)
        plo, phi = parse_time_range(previous_window(f"{{{{now-{days}d}}}}..{{{{now}}}}", NOW), NOW)
        assert phi < lo and lo - phi == timedelta(microseconds=1)
        assert (phi - plo) + timedelta(microseconds=1) == hi - lo


def test_previous_window_accepts_an_aware_now():
    assert previous_window("{{now-7d}}..{{now}}", NOW.replace(tzinfo=UTC)) == previous_window(
        "{{now-7d}}..{{now}}", NOW
    )


@pytest.mark.parametrize(
    "time_range",
    [
        "",
        "{{now-7d}}",
        "last week",
        "{{yesterday}}..{{now}}",
        "{{now-7d}}..tomorrow",
        "2026-02-01..2026-01-01",
        "..",
        "{{params.since}}..{{now}}",
    ],
)
def test_bad_time_ranges_name_the_field(time_range):
    with pytest.raises(InvalidSpec) as e:
        previous_window(time_range, NOW)
    assert e.value.field == "time_range" and e.value.message.startswith("time_range:")
    with pytest.raises(InvalidSpec) as e:
        parse_time_range(time_range, NOW, field="filters.time_range")
    assert e.value.field == "filters.time_range"


# --------------------------------------------------------------------------- KPI traffic light
@pytest.mark.parametrize(
    ("kpi", "value", "status"),
    [
        ({"value": "v"}, 5, None),  # nothing to compare with
        ({"value": "v", "target": 100}, 100, "good"),
        ({"value": "v", "target": 100}, 99, "bad"),
        ({"value": "v", "target": 100, "warn_at": 0.9}, 95, "warn"),
        ({"value": "v", "target": 100, "good_at": 1.1, "warn_at": 0.9}, 105, "warn"),
        (
            {"value": "v", "target": 0.1, "higher_is_better": False, "good_at": 1, "warn_at": 1.5},
            0.08,
            "good",
        ),
        (
            {"value": "v", "target": 0.1, "higher_is_better": False, "good_at": 1, "warn_at": 1.5},
            0.12,
            "warn",
        ),
        ({"value": "v", "target": 0.1, "higher_is_better": False, "good_at": 1, "warn_at": 1.5}, 0.2, "bad"),
        ({"value": "v", "good_at": 4.5, "warn_at": 4.0}, 4.2, "warn"),  # thresholds on the value itself
        ({"value": "v", "target": 100}, None, None),
        ({"value": "v"}, 5.0, None),  # no target, no thresholds: no traffic light
    ],
)
def test_kpi_status(kpi, value, status):
    # One rule for the API and the web card: cards.kpi_values.
    assert kpi_values(value, None, KpiSpec.model_validate(kpi)).status == (status or "none")


def test_kpi_summary():
    k = KpiSpec(value="v", target=50)
    assert kpi_summary(k, 60, 40) == {
        "value": 60.0,
        "previous": 40.0,
        "delta": 20.0,
        "change": 0.5,
        "target": 50,
        "status": "good",
    }
    assert kpi_summary(k, 60, 0)["change"] is None  # no relative change from zero
    assert kpi_summary(k, float("nan"), None) == {
        "value": None,
        "previous": None,
        "delta": None,
        "change": None,
        "target": 50,
        "status": "none",
    }


# --------------------------------------------------------------------------- auto layout
def test_auto_position_fills_the_first_free_slot():
    assert auto_position([], 6, 4) == Position(x=0, y=0, w=6, h=4)
    one = [Position(x=0, y=0, w=6, h=4)]
    assert auto_position(one, 6, 4) == Position(x=6, y=0, w=6, h=4)
    assert auto_position(one, 12, 2) == Position(x=0, y=4, w=12, h=2)
    row = [Position(x=0, y=0, w=3, h=2), Position(x=6, y=0, w=3, h=2)]
    assert auto_position(row, 3, 2) == Position(x=3, y=0, w=3, h=2)
    assert auto_position(row, 6, 2) == Position(x=0, y=2, w=6, h=2)
    full = [Position(x=0, y=0, w=12, h=40)]
    assert auto_position(full, 3, 2) == Position(x=0, y=40, w=3, h=2)


@pytest.mark.parametrize("window", ["0001-06-01..2026-01-01", "{{now-2000y}}..{{now}}"])
def test_previous_window_before_year_one_is_an_invalid_spec(window):
    with pytest.raises(InvalidSpec, match="before year 1") as err:
        previous_window(window, datetime(2026, 12, 2, tzinfo=UTC))
    assert err.value.field == "time_range"
