"""Off-peak window, maintenance and trigger specs: bad input names the field."""

from __future__ import annotations

from datetime import date, time

import pytest

from portal.errors import InvalidSpec
from portal.specs import (
    DEFAULT_POOL,
    JobClass,
    MaintenanceCalendar,
    OffpeakWindow,
    Pool,
    TriggerSpec,
    UserWindowPreference,
)
from portal.specs.base import parse_spec


def bad(model, data) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as err:
        parse_spec(model, data)
    return err.value


W = {"timezone": "America/Sao_Paulo", "start": "00:00", "end": "06:00"}


def test_window_round_trips_as_json():
    w = parse_spec(OffpeakWindow, {**W, "start": "22:00", "weekdays": ["Mon", "friday", 6]})
    assert w.start == time(22) and w.crosses_midnight
    assert w.weekdays == {0, 4, 6}
    dumped = w.model_dump(mode="json")
    assert dumped == {
        "timezone": "America/Sao_Paulo",
        "start": "22:00",
        "end": "06:00",
        "weekdays": [0, 4, 6],
    }
    assert parse_spec(OffpeakWindow, dumped) == w
    assert parse_spec(OffpeakWindow, W).weekdays == set(range(7))


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"timezone": "America/Sao_Paolo"}, "timezone", "did you mean 'America/Sao_Paulo'?"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"timezone": "localtime"}, "timezone", "unknown time zone"),
        ({"start": "06:00"}, "end", "must differ from start (06:00)"),
        ({"start": "24:00"}, "start", "HH:MM"),
        ({"end": "6pm"}, "end", "HH:MM"),
        ({"end": "06:00:30"}, "end", "HH:MM"),
        ({"weekdays": []}, "weekdays", "at least 1"),
        ({"weekdays": [7]}, "weekdays.0", "at most 6"),
        ({"days": [1]}, "days", "unknown field"),
    ],
)
def test_bad_window_names_the_field(patch, field, words):
    err = bad(OffpeakWindow, {**W, **patch})
    assert err.field == field
    assert words in err.message


def test_preference_and_maintenance():
    p = parse_spec(UserWindowPreference, {"timezone": "Europe/Lisbon", "start": "01:00", "end": "05:00"})
    assert p.zone.key == "Europe/Lisbon"
    assert (
        bad(UserWindowPreference, {"timezone": "Europe/Lisbon", "start": "01:00", "end": "01:00"}).field
        == "end"
    )
    cal = parse_spec(
        MaintenanceCalendar,
        {"timezone": "America/Sao_Paulo", "dates": ["2026-05-05", "2026-06-01"], "reason": "upgrade"},
    )
    assert [(d.day, d.timezone, d.reason) for d in cal.days] == [
        (date(2026, 5, 5), "America/Sao_Paulo", "upgrade"), (date(2026, 6, 1), "America/Sao_Paulo", "upgrade"),
    ]  # fmt: skip
    assert bad(MaintenanceCalendar, {"timezone": "UTC", "dates": ["2026-02-30"]}).field == "dates.0"


def test_job_classes_and_pools():
    assert {c.value for c in JobClass} == {
        "report_execute", "report_schedule", "trigger_evaluate", "dataset_precompute", "pdf_render",
        "data_import", "source_sync", "events_build",
    }  # fmt: skip
    assert set(DEFAULT_POOL) == set(JobClass)
    assert DEFAULT_POOL[JobClass.REPORT_EXECUTE] is Pool.REALTIME
    assert DEFAULT_POOL[JobClass.PDF_RENDER] is Pool.BATCH


# --------------------------------------------------------------------------- triggers
INAPP = [{"type": "in_app"}]


def trig(**kw) -> TriggerSpec:
    return parse_spec(TriggerSpec, {"actions": INAPP, **kw})


def test_trigger_ops_accept_their_values():
    assert trig(op=">", value=10).kind == "row_count"
    assert trig(metric="backlog", op="between", value=[1, 5.5]).op == "BETWEEN"
    assert trig(metric="team", op="IN", value=["a", "b"]).value == ["a", "b"]
    assert trig(metric="team", op="==", value="ops").kind == "metric"
    assert trig(metric="team", op="exists").value is None
    t = trig(
        metric="x",
        op=">=",
        value=1,
        for_consecutive=3,
        actions=[
            {"type": "email", "recipients": ["ops@example.com"]},
            {"type": "webhook", "url": "https://hooks.example.com/x?a=1", "secret": "ops_hook"},
            {"type": "open_ticket", "title": "Backlog"},
            {"type": "run_report", "report_id": 4},
            {"type": "highlight_widget", "widget_id": 9},
            {"type": "in_app"},
        ],
    )
    assert [a.type for a in t.actions] == [
        "email",
        "webhook",
        "open_ticket",
        "run_report",
        "highlight_widget",
        "in_app",
    ]


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"op": "BETWEEN", "value": [5, 1]}, "value", "low <= high"),
        ({"op": "BETWEEN", "value": [1]}, "value", "two numbers"),
        ({"op": "BETWEEN", "value": ["a", "b"]}, "value", "two numbers"),
        ({"op": "IN", "value": []}, "value", "non-empty list"),
        ({"op": "IN", "value": 3}, "value", "non-empty list"),
        ({"op": "IN", "value": ["x"]}, "value", "a number"),  # row count: numbers only
        ({"op": "EXISTS", "value": 1}, "value", "takes no value"),
        ({"op": ">", "value": "10"}, "value", "needs a number"),
        ({"op": ">", "value": True}, "value", "needs a number"),
        ({"op": ">", "value": float("nan")}, "value", "needs a number"),
        ({"metric": "x", "op": "==", "value": [1]}, "value", "needs a number, text or true/false"),
        ({"op": "~", "value": 1}, "op", "is not one of"),
        ({"op": ">", "value": 1, "for_consecutive": 0}, "for_consecutive", "at least 1"),
        ({"op": ">", "value": 1, "cooldown_minutes": -1}, "cooldown_minutes", "at least 0"),
        ({"op": ">", "value": 1, "actions": []}, "actions", "at least 1"),
        (
            {"op": ">", "value": 1, "actions": [{"type": "email", "recipients": ["nope"]}]},
            "recipients.0",
            "e-mail",
        ),
        (
            {"op": ">", "value": 1, "actions": [{"type": "email", "recipients": []}]},
            "recipients",
            "at least 1",
        ),
        (
            {
                "op": ">",
                "value": 1,
                "actions": [{"type": "webhook", "url": "ftp://x.example", "secret": "s"}],
            },
            "url",
            "http:// or https://",
        ),
        (
            {
                "op": ">",
                "value": 1,
                "actions": [{"type": "webhook", "url": "https://u:p@x.example", "secret": "s"}],
            },
            "url",
            "user name or password",
        ),
        (
            {
                "op": ">",
                "value": 1,
                "actions": [{"type": "webhook", "url": "https://x.example", "secret": "a b"}],
            },
            "secret",
            "name of a stored secret",
        ),
        (
            {"op": ">", "value": 1, "actions": [{"type": "run_report", "report_id": 0}]},
            "report_id",
            "at least 1",
        ),
    ],
)
def test_bad_trigger_names_the_field(data, field, words):
    err = bad(TriggerSpec, {"actions": INAPP, **data})
    assert err.field is not None and err.field.split(".")[-1] == field.split(".")[-1]
    assert field.split(".")[0] in err.field
    assert words in err.message
