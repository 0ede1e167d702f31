"""The job monitor's charts of the last hour: queue lag per pool and jobs finished per minute.

Plain Bokeh figures fed by a ``ColumnDataSource`` the page refreshes in place
(:func:`activity_data` turns ``portal.jobqueue.monitor``'s activity into its columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from bokeh.models import ColumnDataSource, DataRange1d, DatetimeTickFormatter, HoverTool
from bokeh.plotting import figure

POOL_COLOURS = {"realtime": "#0b5cad", "batch": "#c2410c"}


def _hour_figure(title: str, unit: str, tooltips: list[tuple[str, str]], **hover: Any) -> Any:
    """An empty last-hour chart: time axis in HH:MM, y from 0 labelled ``unit``, no toolbar."""
    fig = figure(
        height=230,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        title=title,
        toolbar_location=None,
        tools="",
    )
    fig.y_range = DataRange1d(start=0)
    fig.yaxis.axis_label = unit
    fig.xaxis.formatter = DatetimeTickFormatter(minutes="%H:%M", hours="%H:%M")
    fig.add_tools(HoverTool(tooltips=tooltips, formatters={"@t": "datetime"}, **hover))
    return fig


def _legend(fig: Any) -> Any:
    fig.legend.location = "top_left"
    fig.legend.label_text_font_size = "11px"
    return fig


def lag_figure(source: ColumnDataSource) -> Any:
    """Longest wait for a worker per pool, one line per pool."""
    tips = [("at", "@t{%H:%M} UTC"), *[(p, f"@{p}{{0.0}} s") for p in POOL_COLOURS]]
    fig = _hour_figure("Queue lag (longest wait for a worker), last hour", "seconds", tips, mode="vline")
    for pool, colour in POOL_COLOURS.items():
        fig.line("t", pool, source=source, color=colour, line_width=2, legend_label=pool)
    return _legend(fig)


def throughput_figure(source: ColumnDataSource, colours: Mapping[str, str]) -> Any:
    """Jobs finished per minute, done and failed stacked (``colours`` by state)."""
    tips = [("minute", "@t{%H:%M} UTC"), ("done", "@done"), ("failed", "@failed")]
    fig = _hour_figure("Jobs finished per minute, last hour", "jobs", tips)
    fig.vbar_stack(
        ["done", "failed"],
        x="t",
        width=45_000,  # ms: a bar a little narrower than its minute
        source=source,
        color=[colours["done"], colours["failed"]],
        legend_label=["done", "failed"],
    )
    return _legend(fig)


def activity_data(activity: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The charts' columns from the monitor's activity (times as naive UTC, lag per pool)."""
    times = [pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in activity["minutes"]]
    data: dict[str, list[Any]] = {"t": times, "done": activity["done"], "failed": activity["failed"]}
    for pool in POOL_COLOURS:
        data[pool] = activity["lag"].get(pool, [0.0] * len(times))
    return data
