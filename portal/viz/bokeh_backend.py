"""Bokeh (web) charts: pie, donut and treemap figures drawn directly, and the bokeh styling of every chart.

:func:`style_bokeh` gives a rendered figure the spec's title, labels, colours, size,
legend, hover tooltips and the ``TapTool`` used for click-to-drill.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    TapTool,
)
from bokeh.models.annotations import ColorBar, LegendItem
from bokeh.models.glyphs import HBar, Line, Patch, Rect, VBar
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from portal.specs import ChartSpec
from portal.viz.prepare import (
    FIGURE_VIZ,
    HEAT_PALETTE,
    PALETTE,
    Prepared,
    axis_labels,
    chart_title,
    column_names,
    pie_slices,
    treemap_tiles,
)

__all__ = ["pie_bokeh", "style_bokeh", "treemap_bokeh"]

_NUMERAL = "0,0.[00]"


def pie_bokeh(data: Prepared) -> figure:
    p = figure(
        x_range=Range1d(start=-1, end=1), y_range=Range1d(start=-1, end=1), tools="", toolbar_location=None
    )
    slices = pie_slices(data)
    if slices.empty:
        return p
    share = slices["value"] / slices["value"].sum()
    # Clockwise from 12 o'clock, as plotly draws pies.
    end = math.pi / 2 - 2 * math.pi * share.cumsum()
    start = end + 2 * math.pi * share
    mid = (start + end) / 2
    radius = (data.spec.height - 60) * 0.42
    source = ColumnDataSource(
        {
            data.x_name: slices["label"].tolist(),
            "label": slices["label"].tolist(),
            "value": slices["value"].tolist(),
            "share": share.tolist(),
            "start": start.tolist(),
            "end": end.tolist(),
            "color": ["#cccccc"] * len(slices),
        }
    )
    common: dict[str, Any] = {
        "x": 0,
        "y": 0,
        "start_angle": "start",
        "end_angle": "end",
        "direction": "clock",
        "fill_color": "color",
        "line_color": "white",
        "legend_field": "label",
        "source": source,
    }
    if data.spec.viz == "donut":
        p.annular_wedge(
            inner_radius=radius * 0.5,
            outer_radius=radius,
            **common,
            inner_radius_units="screen",
            outer_radius_units="screen",
        )
        at = 0.75
    else:
        p.wedge(radius=radius, radius_units="screen", **common)
        at = 0.65
    shown = share >= 0.04  # smaller slices: the legend and hover tell them
    labels = ColumnDataSource(
        {
            "text": [f"{v:.0%}" for v in share[shown]],
            "dx": (np.cos(mid[shown]) * radius * at).tolist(),
            # Screen offsets grow downwards.
            "dy": (-np.sin(mid[shown]) * radius * at).tolist(),
        }
    )
    p.text(
        x=0,
        y=0,
        text="text",
        x_offset="dx",
        y_offset="dy",
        source=labels,
        text_align="center",
        text_baseline="middle",
        text_color="white",
        text_font_size="11px",
        text_font_style="bold",
    )
    return p


def treemap_bokeh(data: Prepared) -> figure:
    import squarify

    width, height = 160.0, 100.0
    p = figure(
        x_range=Range1d(start=0, end=width),
        y_range=Range1d(start=0, end=height),
        tools="",
        toolbar_location=None,
    )
    tiles = treemap_tiles(data)
    if tiles.empty:
        return p
    parents = tiles.groupby("parent", sort=False)["value"].sum()
    # Lay out in screen-like coordinates (y down, largest tile top-left), flip at the end.
    boxes = squarify.squarify(squarify.normalize_sizes(parents.tolist(), width, height), 0, 0, width, height)
    rects: list[dict[str, float]] = []
    for (parent, _total), box in zip(parents.items(), boxes, strict=True):
        leaves = tiles[tiles["parent"] == parent]
        # Inset each group so its tiles read as one block, under a header naming it.
        header = 6.0 if data.spec.series and box["dy"] > 14 else 0.0
        x, y = box["x"] + 0.4, box["y"] + 0.4 + header
        dx, dy = max(box["dx"] - 0.8, 0.1), max(box["dy"] - 0.8 - header, 0.1)
        rects += squarify.squarify(squarify.normalize_sizes(leaves["value"].tolist(), dx, dy), x, y, dx, dy)
        if header:
            p.text(
                x=[box["x"] + 1.2],
                y=[height - box["y"] - 0.8],
                text=[str(parent)],
                text_baseline="top",
                text_font_size="11px",
                text_font_style="bold",
                text_color="#333333",
            )
    left = np.array([r["x"] for r in rects])
    right = left + np.array([r["dx"] for r in rects])
    top = height - np.array([r["y"] for r in rects])
    bottom = top - np.array([r["dy"] for r in rects])
    source = ColumnDataSource(
        {
            data.x_name: tiles["label"].tolist(),
            "label": tiles["label"].tolist(),
            "parent": tiles["parent"].tolist(),
            "value": tiles["value"].tolist(),
            "left": left,
            "right": right,
            "bottom": bottom,
            "top": top,
            "color": ["#cccccc"] * len(tiles),
        }
    )
    p.quad(
        left="left",
        right="right",
        bottom="bottom",
        top="top",
        fill_color="color",
        line_color="white",
        line_width=1.5,
        source=source,
    )
    # Label tiles big enough to hold text; hover names the rest.
    big = ((right - left) > width * 0.08) & ((top - bottom) > height * 0.08)
    text = [f"{lab}\n{_short(v)}" for lab, v in zip(tiles["label"], tiles["value"], strict=True)]
    p.text(
        x=(left + 1)[big],
        y=(top - 1)[big],
        text=np.array(text, dtype=object)[big].tolist(),
        text_baseline="top",
        text_font_size="11px",
        text_color="white",
        text_line_height=1.2,
    )
    return p


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _legend_label(item: LegendItem) -> str:
    label: Any = item.label
    if isinstance(label, dict):
        return str(label.get("value", label.get("field", "")))
    return str(getattr(label, "value", label))


def style_bokeh(p: figure, spec: ChartSpec, colors: dict[str, str], empty: bool) -> figure:
    x_name, s_name, v_name = column_names(spec)
    x_label, y_label, s_label = axis_labels(spec)
    first = next(iter(colors.values()), (spec.colors or PALETTE)[0])
    multi = len(colors) > 1
    title: Any = p.title
    title.text = chart_title(spec, empty)
    title.text_font_size = "14px"
    p.height = spec.height
    p.width = None
    p.sizing_mode = "stretch_width"
    p.min_border_right = 16
    p.background_fill_color = "white"
    p.border_fill_color = "white"
    p.outline_line_color = None
    p.toolbar.logo = None
    p.toolbar.autohide = True
    # Scrolling a dashboard page must not zoom the chart under the mouse.
    p.toolbar.active_scroll = None
    for grid in p.grid:
        grid.grid_line_color = "#e5e5e5"
    for ax in p.axis:
        ax.axis_label_text_font_style = "normal"
        ax.minor_tick_line_color = None
    renderers: list[Any] = [r for r in p.renderers if isinstance(r, GlyphRenderer)]
    by_renderer: dict[int, str] = {}
    for legend in p.legend:
        items: list[Any] = list(legend.items)
        for item in items:
            for r in item.renderers:
                by_renderer[id(r)] = _legend_label(item)
    time_x = p.xaxis and type(p.xaxis[0]).__name__ == "DatetimeAxis"
    x_tip = f"@{{{x_name}}}"
    formatters: dict[str, Any] = {}
    if time_x:
        x_tip += _time_tip([r.data_source.data.get(x_name, []) for r in renderers])
        formatters[x_tip.split("{%")[0]] = "datetime"
    targets: list[Any] = []
    tips: list[tuple[str, str]] = []
    viz = spec.viz

    if viz in FIGURE_VIZ:
        p.axis.visible = False
        p.grid.visible = False
        key = "parent" if viz == "treemap" and spec.series else "label"
        for r in renderers:
            data = r.data_source.data
            if "color" in data:
                data["color"] = [colors.get(str(k), first) for k in data[key]]
                targets.append(r)
        tips = [(x_label, "@label"), (y_label, f"@value{{{_NUMERAL}}}")]
        if viz == "treemap" and spec.series:
            tips.insert(0, (s_label, "@parent"))
        elif viz != "treemap":
            tips.append(("Share", "@share{0.0%}"))
    elif viz in ("bar", "column"):
        for r in renderers:
            glyph = r.glyph
            if not isinstance(glyph, VBar | HBar):
                continue
            targets.append(r)
            fill = glyph.fill_color
            mapper = getattr(fill, "transform", None)
            if mapper is not None and hasattr(mapper, "factors"):
                mapper.palette = [colors.get(str(f), first) for f in mapper.factors]
            else:
                glyph.fill_color = first
            glyph.line_color = "white"
            glyph.line_width = 0.5
        cat_axes, value_axes = (p.yaxis, p.xaxis) if viz == "bar" else (p.xaxis, p.yaxis)
        cat_range = p.y_range if viz == "bar" else p.x_range
        if viz == "bar" and isinstance(cat_range, FactorRange):
            # Bokeh draws the first factor at the bottom; read top-down like a ranking.
            cat_range.factors = list(reversed(cat_range.factors))  # type: ignore[assignment]
        axis: Any
        for axis in cat_axes:
            axis.axis_label = x_label
            if (
                isinstance(cat_range, FactorRange)
                and cat_range.factors
                and isinstance(cat_range.factors[0], tuple)
            ):
                # Grouped bars: the legend names the series, so hide the inner factor labels.
                axis.major_label_text_font_size = "0px"
                axis.group_text_font_size = "11px"
                axis.group_text_color = "#444444"
                outer = list(dict.fromkeys(f[0] for f in cat_range.factors))
                if viz == "column" and _crowded(outer):
                    axis.group_label_orientation = math.pi / 4
            elif viz == "column" and isinstance(cat_range, FactorRange) and _crowded(cat_range.factors):
                axis.major_label_orientation = math.pi / 4
        (p.ygrid if viz == "bar" else p.xgrid).visible = False
        for axis in value_axes:
            axis.axis_label = y_label
            axis.formatter = NumeralTickFormatter(format="0,0.[0]")
        tips = [(x_label, f"@{{{x_name}}}")]
        if multi:
            tips.append((s_label, f"@{{{s_name}}}"))
        tips.append((y_label, f"@{{{v_name}}}{{{_NUMERAL}}}"))
    elif viz == "heatmap":
        palette = list(spec.colors) if spec.colors and len(spec.colors) > 1 else list(HEAT_PALETTE)
        for r in renderers:
            if isinstance(r.glyph, Rect):
                targets.append(r)
                mapper = getattr(r.glyph.fill_color, "transform", None)
                if isinstance(mapper, LinearColorMapper):
                    mapper.palette = palette
                    mapper.nan_color = "#f2f2f2"
                r.glyph.line_color = "white"
        bar: Any
        for bar in p.select(type=ColorBar):
            bar.title = y_label
            bar.title_text_font_style = "normal"
            bar.formatter = NumeralTickFormatter(format="0,0.[0]")
        p.xaxis.axis_label = x_label
        p.yaxis.axis_label = s_label
        if isinstance(p.x_range, FactorRange) and _crowded(p.x_range.factors):
            p.xaxis.major_label_orientation = math.pi / 4
        if isinstance(p.y_range, FactorRange):
            # Bokeh puts the first row at the bottom; tables and plotly read top-down.
            p.y_range.factors = list(reversed(p.y_range.factors))  # type: ignore[assignment]
        p.grid.visible = False
        value_col = "zvalues"
        for r in targets:
            if v_name in r.data_source.data:
                value_col = v_name
        tips = [
            (x_label, f"@{{{x_name}}}"),
            (s_label, f"@{{{s_name}}}"),
            (y_label, f"@{{{value_col}}}{{{_NUMERAL}}}"),
        ]
    else:  # line, area
        for r in renderers:
            color = colors.get(by_renderer.get(id(r), ""), first)
            glyph = r.glyph
            if isinstance(glyph, Patch):
                glyph.fill_color = color
                glyph.fill_alpha = 0.55 if spec.stacked else 0.25
                glyph.line_alpha = 0
            elif isinstance(glyph, Line):
                glyph.line_color = color
                glyph.line_width = 2
                if viz == "area":
                    targets.append(r)
                    continue
                # Markers on the data points: something to hover and tap on a line.
                marker = p.scatter(
                    x=glyph.x,
                    y=glyph.y,
                    source=r.data_source,
                    size=6,
                    fill_color=color,
                    line_color="white",
                    name=by_renderer.get(id(r), ""),
                )
                targets.append(marker)
                for legend in p.legend:
                    for item in list[Any](legend.items):
                        if r in item.renderers:
                            item.renderers = [*item.renderers, marker]
        for r in targets:
            # "$name" in the tooltip names the series (the markers were named when made).
            r.name = r.name or by_renderer.get(id(r), "") or next(iter(colors), "")
        p.xaxis.axis_label = x_label
        p.yaxis.axis_label = y_label
        p.yaxis.formatter = NumeralTickFormatter(format="0,0.[0]")
        tips = [(x_label, x_tip), (y_label, f"@{{{v_name}}}{{{_NUMERAL}}}")]
        if multi:
            tips.insert(0, (s_label, "$name"))

    p.tools = [t for t in p.tools if not isinstance(t, HoverTool | TapTool)]
    if targets and not empty:
        p.add_tools(
            HoverTool(renderers=list(targets), tooltips=tips, formatters=formatters),
            TapTool(renderers=list(targets)),
        )
    _place_legend(p, spec, show=(multi or viz in ("pie", "donut")) and not empty)
    return p


def _time_tip(columns: Iterable[Any]) -> str:
    values = [v for c in columns for v in np.asarray(c).ravel()]
    stamps = pd.to_datetime(pd.Series(values), errors="coerce").dropna()
    return "{%F}" if (stamps == stamps.dt.normalize()).all() else "{%F %H:%M}"


def _crowded(factors: Sequence[Any]) -> bool:
    # Bokeh does not rotate labels by itself; the chart may be a 4-column dashboard tile
    # (~450 px, ~7 px a character), so turn long label rows before they overlap.
    return sum(len(str(f)) + 2 for f in factors) > 60


def _place_legend(p: figure, spec: ChartSpec, *, show: bool) -> None:
    legends = list(p.legend)
    for legend in legends:
        if not show:
            legend.visible = False
            continue
        for side in ("center", "above", "below", "left", "right"):
            panel = getattr(p, side)
            if legend in panel:
                panel.remove(legend)
        legend.border_line_alpha = 0
        legend.background_fill_alpha = 0
        legend.label_text_font_size = "11px"
        legend.glyph_width = legend.glyph_height = 12
        legend.click_policy = "hide" if spec.viz in ("line", "area") else "none"
        if spec.viz in ("pie", "donut"):
            legend.orientation = "vertical"
            legend.location = "top_left"
            p.add_layout(legend, "right")
        else:
            legend.orientation = "horizontal"
            legend.location = "top_left"
            legend.padding = 2  # type: ignore[assignment]
            legend.margin = 0
            p.add_layout(legend, "above")
