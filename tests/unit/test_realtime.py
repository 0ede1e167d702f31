"""The real-time bus's pure parts: channel names and rules, the coalescing queue, widget specs,
and how live rows reach a tile (frames, chart data sources) without a browser or Redis."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from bokeh.models import ColumnDataSource, Range1d

from components.live_tiles import (
    as_time,
    columns_of,
    live_display,
    merge,
    newer,
    patch_bars,
    rows_of,
    stream_line,
)
from portal.errors import BadRequest, InvalidSpec
from portal.realtime.bus import Event, check_event_id, id_key
from portal.realtime.channels import (
    bound_object,
    check_channel,
    parse_pubsub_channel,
    pubsub_channel,
    stream_key,
)
from portal.realtime.mailbox import CoalescingQueue
from portal.specs import WidgetSpec, parse_spec
from portal.specs.widget import parse_stored_widget
from portal.viz import charts
from portal.viz.formats import Display


# --------------------------------------------------------------------------- channels
@pytest.mark.parametrize("name", ["ops.tickets", "dashboard.12", "a", "x" * 100, "t:e-n_a.nt", "0ops"])
def test_valid_channel_names(name: str) -> None:
    assert check_channel(name) == name


@pytest.mark.parametrize("name", ["", "Ops", "ops tickets", ".ops", "-x", "x" * 101, "ops/x", "é", None, 12])
def test_invalid_channel_names_name_the_field(name: object) -> None:
    with pytest.raises(BadRequest) as err:
        check_channel(name, field="body.channel")
    assert err.value.field == "body.channel"


def test_channels_are_tenant_qualified_and_bound_to_objects() -> None:
    assert pubsub_channel(7, "ops.tickets") == "conductor:rt:7:ops.tickets"
    assert stream_key(7, "ops.tickets") != pubsub_channel(7, "ops.tickets")
    assert parse_pubsub_channel("conductor:rt:7:ops.tickets") == (7, "ops.tickets")
    assert parse_pubsub_channel("conductor:rt:x:ops") is None
    assert parse_pubsub_channel("other:7:ops") is None
    assert bound_object("dashboard.12") == ("dashboard", 12)
    assert bound_object("widget.3") == ("widget", 3)
    assert bound_object("dashboard.0") is None and bound_object("dashboards.1") is None
    assert bound_object("ops.tickets") is None


def test_event_ids() -> None:
    assert id_key("17-3") < id_key("17-10") < id_key("18-0")
    assert check_event_id("1764748800123-0", "last_event_id")
    with pytest.raises(BadRequest) as err:
        check_event_id("1-2-3", "last_event_id")
    assert err.value.field == "last_event_id"


# --------------------------------------------------------------------------- coalescing queue
def test_queue_is_bounded_and_the_latest_value_per_channel_wins() -> None:
    q: CoalescingQueue[int] = CoalescingQueue(4)
    assert q.put("a", 1) is True  # empty before: wake the consumer
    assert q.put("b", 1) is False
    for i in range(2, 50):
        q.put("a", i)
        q.put("b", i)
        assert len(q) <= 4
    drained = q.drain()
    assert drained[-2:] == [("a", 49), ("b", 49)]
    assert dict(drained) == {"a": 49, "b": 49}
    assert q.coalesced > 0 and q.dropped == 0
    assert q.drain() == [] and q.put("a", 0) is True


def test_queue_drops_the_oldest_only_when_every_key_differs() -> None:
    q: CoalescingQueue[int] = CoalescingQueue(3)
    for i, key in enumerate("abcd"):
        q.put(key, i)
    assert q.drain() == [("b", 1), ("c", 2), ("d", 3)]
    assert q.dropped == 1


def test_queue_from_many_threads_never_exceeds_its_bound() -> None:
    q: CoalescingQueue[int] = CoalescingQueue(16)
    seen: list[int] = []

    def produce(key: str) -> None:
        for i in range(2000):
            q.put(key, i)
            seen.append(len(q))

    threads = [threading.Thread(target=produce, args=(f"k{t}",)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) <= 16
    assert {k: v for k, v in q.drain()} == {f"k{t}": 1999 for t in range(8)}


# --------------------------------------------------------------------------- widget specs
def _kpi(**rt: object) -> dict[str, object]:
    return {"type": "kpi", "title": "Open", "query_name": "q", "kpi": {"value": "open"}, "realtime": rt}


def test_realtime_block_is_optional_and_checked() -> None:
    assert (
        parse_stored_widget({"type": "kpi", "title": "x", "query_name": "q", "kpi": {"value": "v"}}).realtime
        is None
    )
    ws = parse_spec(WidgetSpec, _kpi(channel="ops.tickets"))
    assert ws.realtime is not None and ws.realtime.mode == "replace" and ws.realtime.keep == 120
    for bad in (
        _kpi(channel="Ops Tickets"),
        _kpi(channel="ops", mode="sometimes"),
        _kpi(channel="ops", keep=0),
        _kpi(channel="ops", extra=1),
        {"type": "table", "title": "t", "query_name": "q", "realtime": {"channel": "ops"}},
        {
            "type": "chart",
            "title": "c",
            "query_name": "q",
            "chart": {"viz": "line", "x": "t", "y": ["v"]},
            "realtime": {"channel": "ops", "mode": "replace"},
        },
        {
            "type": "chart",
            "title": "c",
            "query_name": "q",
            "chart": {"viz": "pie", "x": "t", "y": ["v"]},
            "realtime": {"channel": "ops"},
        },
    ):
        with pytest.raises(InvalidSpec) as err:
            parse_spec(WidgetSpec, bad)
        assert "realtime" in (err.value.field or "") + err.value.message


# --------------------------------------------------------------------------- live rows
LINE = parse_spec(
    WidgetSpec,
    {
        "type": "chart",
        "title": "Per minute",
        "query_name": "q",
        "chart": {"viz": "line", "x": "time", "y": ["opened", "closed"]},
        "realtime": {"channel": "ops.tickets", "mode": "append", "fields": {"time": "ts"}, "keep": 5},
    },
)
BARS = parse_spec(
    WidgetSpec,
    {
        "type": "chart",
        "title": "Queues",
        "query_name": "q",
        "chart": {"viz": "column", "x": "queue", "y": ["size"]},
        "realtime": {"channel": "ops.queues"},
    },
)
KPI = parse_spec(WidgetSpec, _kpi(channel="ops.tickets", fields={"open": "open_now"}))


def test_rows_of_maps_fields_and_skips_incomplete_rows() -> None:
    assert LINE.realtime is not None and BARS.realtime is not None and KPI.realtime is not None
    assert columns_of(LINE) == ["time", "opened", "closed"] and columns_of(KPI) == ["open"]
    assert rows_of({"ts": 1, "opened": 2, "closed": 3, "x": 0}, LINE.realtime, columns_of(LINE)) == [
        {"time": 1, "opened": 2, "closed": 3}
    ]
    assert rows_of({"ts": 1, "opened": 2}, LINE.realtime, columns_of(LINE)) == []
    assert rows_of([1, 2], LINE.realtime, columns_of(LINE)) == []
    many = {"rows": [{"queue": "high", "size": 3}, {"queue": "low"}, "junk", {"queue": "low", "size": 1}]}
    assert rows_of(many, BARS.realtime, ["queue", "size"]) == [
        {"queue": "high", "size": 3},
        {"queue": "low", "size": 1},
    ]
    assert rows_of({"open_now": 41}, KPI.realtime, ["open"]) == [{"open": 41}]


def test_merge_appends_keeps_the_last_n_and_replaces_by_category() -> None:
    assert LINE.realtime is not None and BARS.realtime is not None and KPI.realtime is not None
    frame = None
    for i in range(8):
        frame = merge(
            frame, [{"time": f"2026-12-03T10:00:{i:02d}Z", "opened": i, "closed": 0}], LINE, LINE.realtime
        )
    assert frame is not None and frame["opened"].tolist() == [3, 4, 5, 6, 7]  # keep = 5
    assert str(frame["time"].dtype).startswith("datetime64")
    bars = merge(None, [{"queue": "a", "size": 1}, {"queue": "b", "size": 2}], BARS, BARS.realtime)
    bars = merge(bars, [{"queue": "a", "size": 5}, {"queue": "c", "size": 1}], BARS, BARS.realtime)
    assert bars.to_dict("list") == {"queue": ["a", "b", "c"], "size": [5, 2, 1]}
    kpi = merge(pd.DataFrame({"open": [10]}), [{"open": 11}, {"open": 12}], KPI, KPI.realtime)
    assert kpi["open"].tolist() == [12]


def test_as_time_reads_iso_text_and_epoch_seconds() -> None:
    iso = as_time(pd.Series(["2026-12-03T10:00:00Z", "2026-12-03T11:00:00+01:00"]))
    assert iso.tolist() == [pd.Timestamp("2026-12-03 10:00:00")] * 2
    assert as_time(pd.Series([0]))[0] == pd.Timestamp("1970-01-01")


def test_newer_skips_what_the_history_held() -> None:
    events = [Event(1, "c", f"5-{i}", 0.0, {}, "") for i in range(3)]
    assert [e.id for e in newer(events, "5-0")] == ["5-1", "5-2"]
    assert newer(events, None) == events


def test_line_chart_streams_new_points_with_rollover() -> None:
    assert LINE.chart is not None and LINE.realtime is not None
    rows = [{"time": f"2026-12-03T10:00:0{i}Z", "opened": i, "closed": 1} for i in range(3)]
    frame = merge(None, rows, LINE, LINE.realtime)
    display = live_display(Display())
    fig = charts.render(LINE.chart, frame, "bokeh", display=display)
    sources = [s for s in fig.select(type=ColumnDataSource) if "time" in s.data]
    before = {id(s): len(s.data["time"]) for s in sources}
    new = [{"time": f"2026-12-03T10:00:0{i}Z", "opened": 9, "closed": 2} for i in range(3, 6)]
    frame = merge(frame, new, LINE, LINE.realtime)
    assert stream_line(fig, LINE, display, pd.DataFrame(new), frame, LINE.realtime.keep)
    for s in sources:
        assert len(s.data["time"]) == min(before[id(s)] + 3, 5)  # rollover: the last 5 stay
        assert all(len(v) == len(s.data["time"]) for v in s.data.values())
    assert isinstance(fig.x_range, Range1d) and pd.Timestamp(fig.x_range.end) > pd.Timestamp(
        "2026-12-03T10:00:05"
    )
    assert isinstance(fig.y_range, Range1d) and fig.y_range.end >= 9
    # A figure that is not this line chart is left alone (the page renders it instead).
    assert not stream_line(
        charts.render(BARS.chart, pd.DataFrame({"queue": ["a"], "size": [1]}), "bokeh"),
        LINE,
        display,
        pd.DataFrame(new),
        frame,
        5,
    )  # type: ignore[arg-type]


def test_bar_chart_patches_changed_bars_only() -> None:
    assert BARS.chart is not None and BARS.realtime is not None
    frame = merge(None, [{"queue": "a", "size": 1}, {"queue": "b", "size": 2}], BARS, BARS.realtime)
    fig = charts.render(BARS.chart, frame, "bokeh")
    (src,) = [s for s in fig.select(type=ColumnDataSource) if "queue" in s.data]
    update = [{"queue": "b", "size": 30}]
    frame = merge(frame, update, BARS, BARS.realtime)
    assert patch_bars(fig, BARS, pd.DataFrame(update), frame)
    assert list(src.data["size"]) == [1, 30]
    assert isinstance(fig.y_range, Range1d) and fig.y_range.end >= 30
    # A new category cannot be patched in: the page draws the chart again.
    assert not patch_bars(fig, BARS, pd.DataFrame([{"queue": "z", "size": 1}]), frame)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_text_frames_are_what_tornado_would_send(size: int) -> None:
    import struct

    from portal.web.realtime import text_frame

    payload = b"x" * size
    frame = text_frame(payload)
    assert frame.endswith(payload) and frame[0] == 0x81  # FIN, text, unmasked
    length = frame[1]
    if size < 126:
        assert length == size and len(frame) == size + 2
    elif size <= 0xFFFF:
        assert length == 126 and struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert length == 127 and struct.unpack("!Q", frame[2:10])[0] == size
