"""Real-time tiles of a dashboard page: messages of the bus update charts and KPI cards in place.

Each browser session showing a dashboard with real-time widgets registers one listener per
channel with the process's subscriber (:meth:`portal.context.AppContext.subscriber`). The
listener only queues (bounded, coalescing: :class:`~portal.realtime.mailbox.CoalescingQueue`)
and asks the session's document for a next-tick callback, which applies everything pending in
one document update: a line chart gets its new points through ``ColumnDataSource.stream`` (with
rollover: the last ``keep`` stay), a column/bar chart its changed bars through
``ColumnDataSource.patch``, a KPI card its new value. Nothing is drawn again from scratch;
only a chart that cannot take the rows (the first data of an empty tile, a new category) is
rendered once from the tile's live frame.

The pure parts (which rows a message carries, how they merge into a tile's frame, how they go
into a chart's data sources) are functions of this module, tested without a browser.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, Range1d
from bokeh.models.annotations import Legend
from bokeh.models.renderers import GlyphRenderer

from portal.realtime.bus import Event, Subscriber, id_key
from portal.realtime.mailbox import CoalescingQueue
from portal.realtime.metrics import DELIVERED, PUSH_SECONDS
from portal.specs import RealtimeSpec, WidgetSpec
from portal.viz.formats import Display
from portal.viz.prepare import column_names

log = logging.getLogger(__name__)

#: Messages a page keeps pending before same-channel messages coalesce (one update a tick drains them).
PAGE_QUEUE = 512
#: Messages kept for a tile whose first data has not arrived yet (applied once it has).
EARLY_MESSAGES = 1000


# --------------------------------------------------------------------------- pure parts
def columns_of(spec: WidgetSpec) -> list[str]:
    """The result columns a real-time message must give a widget."""
    if spec.type == "kpi" and spec.kpi is not None:
        return [spec.kpi.value]
    if spec.chart is not None:
        return list(dict.fromkeys(spec.chart.columns))
    return []


def rows_of(data: Any, rt: RealtimeSpec, columns: list[str]) -> list[dict[str, Any]]:
    """The widget rows one message carries: an object is one row, ``{"rows": [...]}`` several.

    Each column is read from the message field ``rt.fields`` names for it, else from the field
    of its own name; a row missing any column is skipped (a message for another widget on the
    same channel, or a malformed one), never an error on the page.
    """
    many = isinstance(data, dict) and isinstance(data.get("rows"), list)
    items: list[Any] = data["rows"] if many else [data]
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        row = {c: item.get(rt.fields.get(c, c)) for c in columns}
        if all(v is not None for v in row.values()):
            out.append(row)
    return out


def merge(
    frame: pd.DataFrame | None, rows: list[dict[str, Any]], spec: WidgetSpec, rt: RealtimeSpec
) -> pd.DataFrame:
    """A tile's frame after ``rows``: appended (the last ``keep`` kept), or replaced.

    A KPI keeps the last row whatever the mode; a replacing chart keeps one row per x value, the latest winning,
    in the order the x values first appeared.
    """
    new = pd.DataFrame(rows, columns=columns_of(spec))
    if spec.chart is not None and spec.chart.viz == "line":
        new[spec.chart.x] = as_time(new[spec.chart.x])
    if spec.type == "kpi":
        return new.tail(1).reset_index(drop=True)  # a card shows one value: the latest
    if frame is None or frame.empty:
        base = new
    else:
        base = pd.concat([frame[[c for c in new.columns if c in frame.columns]], new], ignore_index=True)
    if rt.mode == "append":
        return base.tail(rt.keep).reset_index(drop=True)
    assert spec.chart is not None
    x = spec.chart.x
    # drop_duplicates(keep="last") moves a bar to the end; latest values are written back in place.
    latest = base.drop_duplicates(subset=[x], keep="last").set_index(x)
    order = list(dict.fromkeys(base[x].tolist()))
    return latest.loc[order].reset_index()


def live_display(display: Display | None) -> Display | None:
    """A result's display for its live rows: labels and formats kept, no time buckets nor window.

    A stream's points are instants, never a partial period of a bucket (no shading, no dashes).
    """
    if display is None:
        return None
    return dataclasses.replace(display, buckets={}, window=(None, None))


def as_time(values: pd.Series) -> pd.Series:
    """Message timestamps (ISO text or epoch seconds) as naive UTC datetimes, as the charts draw them."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        stamps = pd.to_datetime(values, unit="s", utc=True, errors="coerce")
    else:
        stamps = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    return stamps.dt.tz_localize(None)


def _sources(renderers: Iterable[Any], *names: str) -> list[ColumnDataSource]:
    out: list[ColumnDataSource] = []
    for r in renderers:
        src = r.data_source
        if isinstance(src, ColumnDataSource) and all(n in src.data for n in names) and src not in out:
            out.append(src)
    return out


def stream_line(
    fig: Any, spec: WidgetSpec, display: Display | None, rows: pd.DataFrame, frame: pd.DataFrame, keep: int
) -> bool:
    """Add ``rows`` to a line chart's series with ``ColumnDataSource.stream`` (the last ``keep`` stay).

    False, changing nothing, when the figure is not a line chart of these columns (the caller
    renders it instead). Columns of a source other than x and the value (alpha, period marks)
    repeat their last value.
    """
    chart = spec.chart
    if chart is None or chart.viz != "line" or rows.empty:
        return False
    x, _, v = column_names(chart)
    renderers = list(fig.select(type=GlyphRenderer))
    groups: dict[str, list[ColumnDataSource]] = {}
    if len(chart.y) == 1:
        groups[chart.y[0]] = _sources(renderers, x, v)
    else:
        labels = display or Display()
        legend: dict[str, list[Any]] = {}
        for lg in fig.select(type=Legend):
            for item in lg.items:
                label = getattr(item.label, "value", item.label)
                legend.setdefault(str(label), []).extend(item.renderers)
        for y in chart.y:
            groups[y] = _sources(legend.get(labels.label(y), []), x, v)
    if not all(groups.values()):
        return False
    xs = as_time(rows[x]).to_numpy(dtype="datetime64[ns]")
    n = len(rows)
    for y, sources in groups.items():
        ys = pd.to_numeric(rows[y], errors="coerce").astype(float).to_numpy()
        for src in sources:
            new: dict[str, Any] = {}
            for col, values in src.data.items():
                if col == x:
                    new[col] = xs
                elif col == v:
                    new[col] = ys
                else:
                    new[col] = [values[-1] if len(values) else None] * n
            src.stream(new, rollover=keep)
    _fit_ranges(fig, frame, x, list(chart.y), keep)
    return True


def _fit_ranges(fig: Any, frame: pd.DataFrame, x: str, ys: list[str], keep: int) -> None:
    # The chart's ranges were fixed by the first drawing: they follow the kept window now.
    shown = frame.tail(keep)
    stamps = as_time(shown[x]).dropna()
    if isinstance(fig.x_range, Range1d) and not stamps.empty:
        lo, hi = stamps.min(), stamps.max()
        pad = (hi - lo) * 0.02 if hi > lo else pd.Timedelta(seconds=1)
        fig.x_range.update(start=np.datetime64(lo - pad), end=np.datetime64(hi + pad))
    values = pd.concat([pd.to_numeric(shown[y], errors="coerce") for y in ys]).dropna()
    if isinstance(fig.y_range, Range1d) and not values.empty:
        lo, hi = min(0.0, float(values.min())), float(values.max())
        fig.y_range.update(start=lo, end=hi + max(abs(hi - lo) * 0.05, 1e-9))


def patch_bars(fig: Any, spec: WidgetSpec, rows: pd.DataFrame, frame: pd.DataFrame) -> bool:
    """Set the changed bars of a column/bar chart with ``ColumnDataSource.patch``.

    False, changing nothing, when a row names a category the chart does not show yet (the
    caller renders the chart with it) or the figure is not such a chart.
    """
    chart = spec.chart
    if chart is None or chart.viz not in ("column", "bar") or rows.empty:
        return False
    x, _, v = column_names(chart)
    sources = _sources(fig.select(type=GlyphRenderer), x, v)
    if len(sources) != 1:
        return False
    src = sources[0]
    shown = [str(c) for c in src.data[x]]
    patches: dict[int, float] = {}
    for label, value in zip(rows[x], rows[chart.y[0]], strict=True):
        if str(label) not in shown:
            return False
        patches[shown.index(str(label))] = float(value)
    src.patch({v: list(patches.items())})
    values = pd.to_numeric(frame[chart.y[0]], errors="coerce").dropna()
    value_range = fig.x_range if chart.viz == "bar" else fig.y_range
    if isinstance(value_range, Range1d) and not values.empty:
        top = float(values.max())
        end = float(value_range.end) if isinstance(value_range.end, int | float) else 0.0
        # Grow at once; shrink only when bars would use less than 60 % of the height (no jitter).
        if top > end or top < 0.6 * end:
            value_range.end = top * 1.1 if top > 0 else 1
    return True


# --------------------------------------------------------------------------- the session's listener
class LiveDashboard:
    """The real-time channels of one browser session's dashboard.

    ``apply(widget_id, events)`` runs on the session's event loop (next tick) with the pending
    events of that widget's channel, oldest first. Listeners are removed by :meth:`close`
    (the page calls it from ``pn.state.on_session_destroyed``).
    """

    def __init__(
        self, subscriber: Subscriber, tenant_id: int, doc: Any, apply: Callable[[int, list[Event]], None]
    ) -> None:
        self.subscriber, self.tenant_id, self.doc, self.apply = subscriber, tenant_id, doc, apply
        self._queue: CoalescingQueue[Event] = CoalescingQueue(PAGE_QUEUE)
        self._widgets: dict[str, list[int]] = {}
        self._closed = False

    @property
    def channels(self) -> list[str]:
        """The channels listened to now."""
        return list(self._widgets)

    def watch(self, widgets: dict[int, str]) -> None:
        """Listen to the channels of these widgets (widget id → channel), and to no others."""
        wanted: dict[str, list[int]] = collections.defaultdict(list)
        for wid, channel in widgets.items():
            wanted[channel].append(wid)
        for channel in set(self._widgets) - set(wanted):
            self.subscriber.remove(self.tenant_id, channel, self._offer)
        for channel in set(wanted) - set(self._widgets):
            self.subscriber.add(self.tenant_id, channel, self._offer)
        self._widgets = dict(wanted)

    def close(self) -> None:
        """Stop listening (the tab is gone)."""
        self._closed = True
        for channel in self._widgets:
            self.subscriber.remove(self.tenant_id, channel, self._offer)
        self._widgets = {}

    def _offer(self, event: Event) -> None:
        # On the subscriber's thread: queue and, when the queue was empty, ask for one next tick.
        if self._closed:
            return
        if self._queue.put(event.channel, event):
            self.doc.add_next_tick_callback(self._flush)

    def _flush(self) -> None:
        by_channel: dict[str, list[Event]] = collections.defaultdict(list)
        for channel, event in self._queue.drain():
            by_channel[channel].append(event)
        for channel, events in by_channel.items():
            for wid in self._widgets.get(channel, []):
                try:
                    self.apply(wid, events)
                except Exception:
                    log.exception("real-time update of widget %s failed", wid)
            for event in events:
                DELIVERED.labels("panel").inc()
                PUSH_SECONDS.labels("panel").observe(max(0.0, time.time() - event.ts))


def newer(events: list[Event], after: str | None) -> list[Event]:
    """The events after the id ``after`` (those a tile's history did not already hold)."""
    if after is None:
        return events
    mark = id_key(after)
    return [e for e in events if id_key(e.id) > mark]


__all__ = [
    "EARLY_MESSAGES",
    "LiveDashboard",
    "as_time",
    "columns_of",
    "live_display",
    "merge",
    "newer",
    "patch_bars",
    "rows_of",
    "stream_line",
]
