"""Bokeh (web) charts: pie, donut and treemap figures drawn directly, and the bokeh styling of every chart.

:func:`style_bokeh` gives a rendered figure the spec's title, labels, colours, size,
legend, hover tooltips and the ``TapTool`` used for click-to-drill.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    FactorRange,
    HoverTool,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    TapTool,
)
from bokeh.models.annotations import ColorBar, LegendItem, Title
from bokeh.models.glyphs import HBar, Line, Patch, Rect, VBar
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from portal.specs import ChartSpec
from portal.viz.bokeh_marks import (
    CHAR_PX,
    PLOT_PX,
    crowded,
    fit,
    mark_partial,
    partial_rows,
    shade_partial,
    short,
    short_dates,
    thinned,
    time_tip,
    value_axis,
)
from portal.viz.formats import CURRENCY, numeral
from portal.viz.prepare import (
    FIGURE_VIZ,
    HEAT_PALETTE,
    NO_DATA_MESSAGE,
    PALETTE,
    PARTIAL,
    Prepared,
    chart_title,
    column_names,
    pie_slices,
    treemap_tiles,
)

__all__ = ["empty_bokeh", "pie_bokeh", "style_bokeh", "treemap_bokeh"]

_UNITS = {"duration_h": " h", "duration_min": " min", "duration_s": " s"}
#: Width a dashboard tile's chart is assumed to have (a half-width tile at 1024 px is ~440 px):
#: labels that would not fit there are hidden, turned or thinned out.
#: Shown where a partial period is faded or dashed, and in its tooltip.
PARTIAL_NOTE = f"({PARTIAL})"


def _tip(column: str, fmt: str) -> str:
    """A hover field showing ``column`` in ``fmt``: ``R$ @{amount}{0,0.00}``, ``@{h}{0,0.[00]} h``."""
    body = f"@{{{column}}}{{{numeral(fmt)}}}"
    if fmt == "currency":
        return f"{CURRENCY} {body}"
    return body + _UNITS.get(fmt, "")


def empty_bokeh(data: Prepared) -> figure:
    """An empty chart: no axes from -0.4 to 0.4, the message "No data for these filters"."""
    p = figure(
        x_range=Range1d(start=0, end=1), y_range=Range1d(start=0, end=1), tools="", toolbar_location=None
    )
    p.text(
        x=[0.5],
        y=[0.5],
        text=[NO_DATA_MESSAGE],
        text_align="center",
        text_baseline="middle",
        text_color="#64748b",
        text_font_size="13px",
        name="no-data",
    )
    return p


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
    heads: dict[str, list[Any]] = {"x": [], "y": [], "text": []}
    for (parent, _total), box in zip(parents.items(), boxes, strict=True):
        leaves = tiles[tiles["parent"] == parent]
        # Inset each group so its tiles read as one block, under a header naming it.
        header = 6.0 if data.spec.series and box["dy"] > 14 else 0.0
        x, y = box["x"] + 0.4, box["y"] + 0.4 + header
        dx, dy = max(box["dx"] - 0.8, 0.1), max(box["dy"] - 0.8 - header, 0.1)
        rects += squarify.squarify(squarify.normalize_sizes(leaves["value"].tolist(), dx, dy), x, y, dx, dy)
        name = fit(str(parent), box["dx"] * PLOT_PX / width - 6, bold=True)
        if header and name:
            heads["x"].append(box["x"] + 1.2)
            heads["y"].append(height - box["y"] - 0.8)
            heads["text"].append(name)
    # One glyph for every group header (a glyph each cost ~10 ms to build and a view to draw),
    # there even without headers: a filter change keeps the chart's shape (updated in place).
    p.text(
        x="x",
        y="y",
        text="text",
        source=ColumnDataSource(heads),
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
    # Label only tiles that hold their text (at the smallest tile size a dashboard uses):
    # long names are shortened with "…", tiles too small for a few letters stay unlabelled
    # (hover names them), so labels never run into each other.
    px_w = (right - left) * PLOT_PX / width
    px_h = (top - bottom) * (max(data.spec.height, 200) - 60) / height
    fmt = data.v_format
    shown_x, shown_y, text = [], [], []
    for i, (lab, v) in enumerate(zip(tiles["label"], tiles["value"], strict=True)):
        name = fit(str(lab), px_w[i] - 6)
        if not name or px_h[i] < 17:
            continue
        value = short(float(v), fmt)
        lines = name if px_h[i] < 32 or len(value) * CHAR_PX > px_w[i] - 6 else f"{name}\n{value}"
        shown_x.append(left[i] + 1)
        shown_y.append(top[i] - 1)
        text.append(lines)
    p.text(
        x=shown_x,
        y=shown_y,
        text=text,
        text_baseline="top",
        text_font_size="11px",
        text_color="white",
        text_line_height=1.2,
    )
    return p


def _legend_label(item: LegendItem) -> str:
    label: Any = item.label
    if isinstance(label, dict):
        return str(label.get("value", label.get("field", "")))
    return str(getattr(label, "value", label))


def style_bokeh(p: figure, data: Prepared, colors: dict[str, str], empty: bool) -> figure:
    spec = data.spec
    x_name, s_name, v_name = column_names(spec)
    x_label, y_label, s_label = data.x_label, data.y_label, data.s_label
    fmt = data.v_format
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
    # A tile is read, hovered and clicked (drill-down), not zoomed or panned: the toolbar and its
    # tools cost the browser a view each per chart (HoloViews adds pan, box and wheel zoom, reset,
    # save). Canvas, not WebGL: a few hundred marks draw faster on a 2D canvas than through a WebGL
    # context (HoloViews' default), and browsers allow only ~16 WebGL contexts per page.
    p.output_backend = "canvas"
    p.toolbar_location = None
    p.toolbar.logo = None
    p.tools = [t for t in p.tools if isinstance(t, HoverTool | TapTool)]
    # The dropped tools must not stay referenced (and sent) as the active ones.
    p.toolbar.active_drag = p.toolbar.active_scroll = p.toolbar.active_multi = None
    for grid in p.grid:
        grid.grid_line_color = "#e5e5e5"
    for ax in p.axis:
        ax.axis_label_text_font_style = "normal"
        ax.minor_tick_line_color = None
    if empty:
        # Nothing to read off axes: the plot area says why it is empty.
        p.axis.visible = False
        p.grid.visible = False
        p.tools = [t for t in p.tools if not isinstance(t, HoverTool | TapTool)]
        _place_legend(p, spec, show=False)
        return p
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
        x_tip += time_tip([r.data_source.data.get(x_name, []) for r in renderers])
        formatters[x_tip.split("{%")[0]] = "datetime"
        short_dates(p)
    partial = bool(data.partial_xs)
    if partial:
        x_tip += " @{_period}"
    value_tip = _tip(v_name, fmt)
    targets: list[Any] = []
    tips: list[tuple[str, str]] = []
    viz = spec.viz

    if viz in FIGURE_VIZ:
        p.axis.visible = False
        p.grid.visible = False
        key = "parent" if viz == "treemap" and spec.series else "label"
        for r in renderers:
            source_data = r.data_source.data
            if "color" in source_data:
                source_data["color"] = [colors.get(str(k), first) for k in source_data[key]]
                targets.append(r)
        tips = [(x_label, "@label"), (y_label, _tip("value", fmt))]
        if viz == "treemap" and spec.series:
            tips.insert(0, (s_label, "@parent"))
        elif viz != "treemap":
            tips.append(("Share", "@share{0.0%}"))
    elif viz in ("bar", "column"):
        faded = data.partial_labels
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
            if partial:
                # A period the window cuts is drawn faded (and says so in its tooltip).
                shown = [str(x) for x in r.data_source.data.get(x_name, [])]
                r.data_source.data["_alpha"] = [0.35 if x in faded else 1.0 for x in shown]
                r.data_source.data["_period"] = [PARTIAL_NOTE if x in faded else "" for x in shown]
                glyph.fill_alpha = {"field": "_alpha"}
                _legend_from_full_rows(p, r)
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
                if viz == "column" and crowded(outer):
                    axis.group_label_orientation = math.pi / 4
            elif viz == "column" and isinstance(cat_range, FactorRange) and crowded(cat_range.factors):
                axis.major_label_orientation = math.pi / 4
                axis.major_label_overrides = thinned(list(cat_range.factors))
        (p.ygrid if viz == "bar" else p.xgrid).visible = False
        for axis in value_axes:
            axis.axis_label = y_label
            value_axis(axis, fmt)
        tips = [(x_label, f"@{{{x_name}}}" + (" @{_period}" if partial else ""))]
        if multi:
            tips.append((s_label, f"@{{{s_name}}}"))
        tips.append((y_label, value_tip))
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
            bar.formatter = NumeralTickFormatter(format=numeral(fmt, axis=True))
        p.xaxis.axis_label = x_label
        p.yaxis.axis_label = s_label
        if isinstance(p.x_range, FactorRange) and crowded(p.x_range.factors):
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
            (y_label, _tip(value_col, fmt)),
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
                bridge = mark_partial(p, r, data) if partial else None
                if bridge is not None:
                    for legend in p.legend:
                        for item in list[Any](legend.items):
                            if r in item.renderers:
                                item.renderers = [*item.renderers, bridge]
                if viz == "area":
                    targets.append(r)
                    continue
                # Markers on the data points: something to hover and tap on a line. They read
                # their own copy of the data: the solid line leaves out partial periods.
                marker_data = dict(r.data_source.data)
                alpha = [0.35 if cut else 1.0 for cut in partial_rows(marker_data.get(glyph.x, []), data)]
                marker_data["_alpha"] = alpha
                marker_data["_period"] = [PARTIAL_NOTE if a < 1 else "" for a in alpha]
                marker_data[glyph.y] = r.data_source.data.get("_full", marker_data[glyph.y])
                marker_data.pop("_full", None)
                marker = p.scatter(
                    x=glyph.x,
                    y=glyph.y,
                    source=ColumnDataSource(marker_data),
                    size=6,
                    fill_color=color,
                    fill_alpha="_alpha",
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
        if partial and time_x:
            shade_partial(p, data)
        p.xaxis.axis_label = x_label
        p.yaxis.axis_label = y_label
        for axis in p.yaxis:
            value_axis(axis, fmt)
        tips = [(x_label, x_tip), (y_label, value_tip)]
        if multi:
            tips.insert(0, (s_label, "$name"))

    if viz in ("bar", "column", "line", "area"):
        # Always there (hidden when no period is partial): a filter change that makes a period
        # partial or whole keeps the chart's structure, so the chart is updated in place.
        end = data.display.window[1]
        upto = f" (data up to {end:%Y-%m-%d %H:%M})" if end is not None else ""
        how = "faded" if viz in ("bar", "column") else "shaded and dashed"
        p.add_layout(
            Title(
                text=f"{how}: {PARTIAL}{upto}" if partial else "",
                text_font_size="10px",
                text_font_style="italic",
                text_color="#64748b",
                align="right",
                name="partial-note",
                visible=partial,
            ),
            "below",
        )
    p.tools = [t for t in p.tools if not isinstance(t, HoverTool | TapTool)]
    if targets:
        p.add_tools(
            HoverTool(renderers=list(targets), tooltips=tips, formatters=formatters),
            TapTool(renderers=list(targets)),
        )
    _place_legend(p, spec, show=multi or viz in ("pie", "donut"))
    return p


def _legend_from_full_rows(p: figure, r: Any) -> None:
    """Legend swatches drawn from a bar that is not faded: a legend grouped by a field draws each
    entry like the group's first row, which may be a partial period."""
    src = r.data_source.data
    for legend in p.legend:
        items: list[Any] = list(legend.items)
        out: list[Any] = []
        for item in items:
            field = (
                item.label.get("field")
                if isinstance(item.label, dict)
                else getattr(item.label, "field", None)
            )
            if r not in item.renderers or not isinstance(field, str) or field not in src:
                out.append(item)
                continue
            first: dict[str, int] = {}
            alpha = src["_alpha"]
            for i, key in enumerate(str(k) for k in src[field]):
                if key not in first or (alpha[first[key]] != 1.0 and alpha[i] == 1.0):
                    first[key] = i
            out += [LegendItem(label=key, renderers=[r], index=i) for key, i in first.items()]
        legend.items = out


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
