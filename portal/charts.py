"""Charts: one :class:`ChartSpec` rendered on the web (bokeh) and in static exports (plotly + Kaleido).

Pipeline: ``_prepare`` validates the frame against the spec and reshapes it into one
long, aggregated, ordered frame; ``build_chart`` turns that into a HoloViews object
(bar, column, line, area, heatmap); pie, donut and treemap, which HoloViews has no
element for, are drawn directly as bokeh figures / plotly traces. ``style`` is the
only place with backend-specific looks (title, labels, colours, size, hover, legend).

Click-to-drill (bokeh): the tappable renderers carry a ``TapTool``; the UI passes the
selected index of the tapped renderer's data source to :func:`tap_value`. Indices mean:

* bar / column: rows of the single ``VBar``/``HBar`` source, series-major:
  ``index = series_position * n_categories + category_position`` (one series: the category).
* line: the marker (``Scatter``) source of each series: ``index`` = position of the x value
  (every series shares the same sorted x values).
* area: the outline (``Line``) source of each series: same as line; bokeh reports taps on
  lines in ``selected.line_indices``.
* heatmap: the ``Rect`` source: cells column by column (x-major), rows in display order.
* pie / donut: the wedge source, one row per slice in display order.
* treemap: the ``Quad`` source, one row per leaf tile (grouped by parent, larger first).

Also here, backend-free: :func:`table_with_subtotals` and :func:`kpi_values`.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, overload

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

from portal.errors import InvalidSpec, unknown
from portal.specs import ChartSpec

if TYPE_CHECKING:
    import holoviews as hv

__all__ = [
    "FIGURE_VIZ",
    "HV_VIZ",
    "PALETTE",
    "Backend",
    "ChartSpec",
    "build_chart",
    "render",
    "style",
    "tap_value",
    "to_png",
    "to_svg",
]

Backend = Literal["bokeh", "plotly"]
#: Viz types drawn through a HoloViews element.
HV_VIZ = frozenset({"bar", "column", "line", "area", "heatmap"})
#: Viz types HoloViews has no element for: drawn as backend figures directly.
FIGURE_VIZ = frozenset({"pie", "donut", "treemap"})

#: Okabe-Ito colour-blind safe palette, then two extra distinguishable tones.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#F0E442",
    "#000000",
    "#999999",
    "#882255",
)
#: Sequential blues for heatmaps (light = low), readable in greyscale print.
HEAT_PALETTE: tuple[str, ...] = (
    "#f7fbff",
    "#deebf7",
    "#c6dbef",
    "#9ecae1",
    "#6baed6",
    "#4292c6",
    "#2171b5",
    "#08519c",
    "#08306b",
)
NO_DATA = "No data"
_BLANK = "(blank)"
_FONT = "DejaVu Sans, Open Sans, Arial, sans-serif"
_NUMERAL = "0,0.[00]"


# --------------------------------------------------------------------------- data preparation
@dataclass(frozen=True)
class _Prepared:
    """The chart's data, validated, aggregated and ordered as every renderer draws it."""

    spec: ChartSpec
    long: pd.DataFrame  # columns _x (raw), _s (series label), _v (float), series-major order
    xs: list[Any]  # distinct raw x values in display order
    labels: list[str]  # display labels of ``xs``
    series: list[str]  # series labels in display order (one entry for a single series)
    series_raw: dict[str, Any]  # series label -> raw value of the series column
    multi: bool  # more than one series is drawn (legend, grouping)
    time: bool  # x is a datetime column

    @property
    def empty(self) -> bool:
        return not bool(self.long["_v"].notna().any())

    @property
    def x_name(self) -> str:
        return _names(self.spec)[0]

    @property
    def s_name(self) -> str:
        return _names(self.spec)[1]

    @property
    def v_name(self) -> str:
        return _names(self.spec)[2]

    @property
    def x_label(self) -> str:
        return _labels(self.spec)[0]

    @property
    def y_label(self) -> str:
        return _labels(self.spec)[1]

    @property
    def s_label(self) -> str:
        return _labels(self.spec)[2]

    def label_of(self, raw: Any) -> str:
        return self.labels[self.xs.index(raw)] if raw in self.xs else _label(raw)

    def axis_values(self) -> np.ndarray[Any, Any]:
        """x positions for line/area: times and numbers stay continuous, the rest are labels."""
        if self.time:
            return np.asarray(self.xs, dtype="datetime64[ns]")
        if all(isinstance(v, int | float | np.integer | np.floating) for v in self.xs):
            return np.asarray(self.xs, dtype=float)
        return np.asarray(self.labels, dtype=object)


def _names(spec: ChartSpec) -> tuple[str, str, str]:
    """Column names of x, series and value in the drawn data (and in bokeh's data sources)."""
    x = spec.x
    s = spec.series if spec.series and len(spec.y) == 1 else "series"
    v = spec.y[0] if len(spec.y) == 1 else "value"
    # A value column sharing its name with x or series would merge the two.
    return x, s, (v if v not in (x, s) else f"{v}_value")


def _labels(spec: ChartSpec) -> tuple[str, str, str]:
    """Display names of x, the values and the series: the spec's labels, else prettified columns."""
    y = spec.y_label or (pretty(spec.y[0]) if len(spec.y) == 1 else "Value")
    return spec.x_label or pretty(spec.x), y, pretty(spec.series) if spec.series else "Series"


def pretty(column: str) -> str:
    """A column name as an axis label: ``first_response_minutes`` -> ``First response minutes``."""
    text = column.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _label(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return _BLANK
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_time(s: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return True
    values = s.dropna()
    # DATE columns arrive as object columns of datetime.date from most drivers.
    return s.dtype == object and len(values) > 0 and all(isinstance(v, date) for v in values)


def _as_time(s: pd.Series) -> pd.Series:
    out = pd.to_datetime(s)
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        # Axes show wall-clock time; bokeh and plotly disagree on how to render zones.
        out = out.dt.tz_localize(None)
    return out


def _time_labels(values: Sequence[Any]) -> list[str]:
    ts = pd.DatetimeIndex(values)
    if len(ts) and (ts == ts.normalize()).all():
        fmt = "%Y-%m" if (ts.day == 1).all() and len(ts) > 1 else "%Y-%m-%d"
    else:
        fmt = "%Y-%m-%d %H:%M"
    return [t.strftime(fmt) for t in ts]


def _numeric(s: pd.Series, field: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype(float)
    try:
        # Decimal (PostgreSQL NUMERIC) and None arrive as object columns.
        if s.dtype == object and not any(isinstance(v, str) for v in s.dropna()):
            return pd.to_numeric(s).astype(float)
    except (TypeError, ValueError):
        pass
    raise InvalidSpec(f"{field}: column {s.name!r} is not numeric (dtype {s.dtype})", field=field)


def _validate(spec: ChartSpec, df: pd.DataFrame) -> None:
    named = [("chart.x", spec.x), *((f"chart.y[{i}]", y) for i, y in enumerate(spec.y))]
    if spec.series:
        named.append(("chart.series", spec.series))
    columns = [str(c) for c in df.columns]
    for field, column in named:
        if column not in df.columns:
            raise unknown("column", column, columns, field=field)


def _prepare(spec: ChartSpec, df: pd.DataFrame) -> _Prepared:
    if len(df.columns) == 0:
        # A frame with no columns at all is an empty result, not a spec error.
        df = pd.DataFrame({c: pd.Series(dtype=float) for c in dict.fromkeys(spec.columns)})
    _validate(spec, df)
    values = [_numeric(df[y], f"chart.y[{i}]") for i, y in enumerate(spec.y)]
    x = df[spec.x]
    is_time = _is_time(x)
    if is_time:
        x = _as_time(x)
    multi = spec.series is not None or len(spec.y) > 1
    parts = []
    for y, v in zip(spec.y, values, strict=True):
        if spec.series:
            s = df[spec.series].map(_label).astype(object)
            if len(spec.y) > 1:
                s = s + " · " + pretty(y)
        else:
            s = pd.Series(pretty(y), index=df.index, dtype=object)
        parts.append(pd.DataFrame({"_x": x.to_numpy(), "_s": s.to_numpy(), "_v": v.to_numpy()}))
    long = pd.concat(parts, ignore_index=True)
    sortable = is_time or pd.api.types.is_numeric_dtype(x.dtype)
    if sortable:
        # A point without a position on a continuous axis cannot be drawn.
        long = long[long["_x"].notna()]
    long = long.astype({"_x": object})
    long = long.groupby(["_s", "_x"], sort=False, dropna=False)["_v"].sum(min_count=1).reset_index()

    xs = list(pd.unique(long["_x"]))
    if sortable:
        xs.sort()
    if spec.series and len(spec.y) == 1:
        raw = df[spec.series]
        order = list(pd.unique(raw))
        if spec.viz == "heatmap" and _sortable(raw):
            # Heatmap rows read as an ordinal scale (hour, weekday...): sort them.
            order = sorted(v for v in order if not pd.isna(v)) + [v for v in order if pd.isna(v)]
        present = set(long["_s"])
        series_raw = {_label(v): v for v in order if _label(v) in present}
        series = list(series_raw)
    else:
        series = [str(s) for s in pd.unique(long["_s"])] or [pretty(spec.y[0])]
        series_raw = {s: s for s in series}
    labels = _time_labels(xs) if is_time else [_label(v) for v in xs]
    rank_x = {v: i for i, v in enumerate(xs)}
    rank_s = {s: i for i, s in enumerate(series)}
    long = long.assign(_rs=long["_s"].map(rank_s), _rx=long["_x"].map(rank_x))
    long = long.sort_values(["_rs", "_rx"], kind="stable").drop(columns=["_rs", "_rx"]).reset_index(drop=True)
    return _Prepared(spec, long, xs, labels, series, series_raw, multi, is_time)


def _sortable(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype))


def _grid(data: _Prepared, fill: float) -> pd.DataFrame:
    """Wide frame: one row per x (display order), one column per series."""
    wide = data.long.pivot_table(index="_x", columns="_s", values="_v", aggfunc="sum", dropna=False)
    return wide.reindex(index=data.xs, columns=data.series).astype(float).fillna(fill)


# --------------------------------------------------------------------------- HoloViews
_HV_LOCK = threading.Lock()


def _hv() -> Any:
    """HoloViews with both plotting backends registered (imported lazily: it costs seconds)."""
    import holoviews

    with _HV_LOCK:
        if not {"bokeh", "plotly"} <= set(holoviews.Store.renderers):
            previous = holoviews.Store.current_backend
            import holoviews.plotting.bokeh
            import holoviews.plotting.plotly

            # Loading a backend may switch the process-wide default; pages rely on theirs.
            if previous in holoviews.Store.renderers:
                holoviews.Store.set_current_backend(previous)
    return holoviews


def _both(el: Any, bokeh: Mapping[str, Any] | None = None, **common: Any) -> Any:
    """Set plot options that describe the chart's structure on both backends."""
    el = el.opts(**common, **(bokeh or {}), backend="bokeh")
    return el.opts(**common, backend="plotly") if common else el


def build_chart(spec: ChartSpec, df: pd.DataFrame) -> hv.Element | hv.Overlay:
    """The HoloViews object of a bar, column, line, area or heatmap chart.

    Raises :class:`InvalidSpec` when a column the spec names is missing (naming the
    field and the closest column) or a y column is not numeric; an empty frame gives
    an empty element. Pie, donut and treemap have no HoloViews element: use
    :func:`render` for them (``ValueError`` here).
    """
    return _build(_prepare(spec, df))


def _build(data: _Prepared) -> Any:
    spec = data.spec
    if spec.viz not in HV_VIZ:
        raise ValueError(f"{spec.viz} charts have no HoloViews element; use portal.charts.render()")
    hv = _hv()
    xdim = hv.Dimension(data.x_name, label=data.x_label)
    vdim = hv.Dimension(data.v_name, label=data.y_label)
    interactive = {"tools": ["hover", "tap"]}
    if data.empty:
        if spec.viz in ("line", "area"):
            return hv.Curve([], xdim, vdim)
        return hv.Bars(pd.DataFrame({data.x_name: [], data.v_name: []}), xdim, vdim)
    if spec.viz in ("bar", "column"):
        xdim = xdim.clone(values=data.labels)
        grid = _grid(data, 0.0)
        if data.multi:
            sdim = hv.Dimension(data.s_name, label=data.s_label, values=data.series)
            frame = pd.DataFrame(
                {
                    data.x_name: data.labels * len(data.series),
                    data.s_name: [s for s in data.series for _ in data.xs],
                    data.v_name: np.concatenate([grid[s].to_numpy() for s in data.series]),
                }
            )
            el = hv.Bars(frame, [xdim, sdim], vdim)
        else:
            frame = pd.DataFrame({data.x_name: data.labels, data.v_name: grid.iloc[:, 0].to_numpy()})
            el = hv.Bars(frame, [xdim], vdim)
        return _both(
            el,
            interactive,
            stacked=spec.stacked and data.multi,
            invert_axes=spec.viz == "bar",
            multi_level=False,
        )
    if spec.viz == "heatmap":
        frame = pd.DataFrame(
            {
                data.x_name: [data.label_of(v) for v in data.long["_x"]],
                # Raw row values, so numeric rows (hours, weekdays) sort as numbers.
                data.s_name: [data.series_raw[s] for s in data.long["_s"]],
                data.v_name: data.long["_v"].to_numpy(),
            }
        )
        sdim = hv.Dimension(data.s_name, label=data.s_label)
        el = hv.HeatMap(frame, [xdim.clone(values=data.labels), sdim], vdim)
        return _both(el, interactive, colorbar=True)
    xvals = data.axis_values()
    stacked = spec.viz == "area" and spec.stacked
    grid = _grid(data, 0.0 if stacked else math.nan)
    if spec.viz == "line":
        curves = [
            _both(
                hv.Curve((xvals, grid[s].to_numpy()), xdim, vdim, label=s if data.multi else ""), interactive
            )
            for s in data.series
        ]
        return hv.Overlay(curves).opts(padding=(0.02, 0.05), backend="bokeh")
    base = np.zeros(len(xvals))
    areas, edges = [], []
    top_dim = hv.Dimension("top", label=data.y_label)
    for s in data.series:
        values = grid[s].to_numpy()
        top = base + np.nan_to_num(values) if stacked else values
        name = s if data.multi else ""
        band = [hv.Dimension("area_top", label=data.y_label), hv.Dimension("area_base")]
        areas.append(hv.Area((xvals, top, base), xdim, band, label=name))
        edges.append(_both(hv.Curve((xvals, top, values), xdim, [top_dim, vdim], label=name), interactive))
        if stacked:
            base = top
    # Areas grow from zero: no padding below it.
    return hv.Overlay(areas + edges).opts(padding=(0, (0, 0.05)), backend="bokeh")


# --------------------------------------------------------------------------- pie, donut, treemap
def _slices(data: _Prepared) -> pd.DataFrame:
    """Pie/donut slices: x label, raw x and size; sizes that cannot be drawn (<= 0, NaN) dropped."""
    sums = data.long.groupby("_x", sort=False, dropna=False)["_v"].sum(min_count=1)
    sums = sums.reindex(pd.Index(data.xs, dtype=object))
    out = pd.DataFrame({"raw": data.xs, "label": data.labels, "value": sums.to_numpy(dtype=float)})
    return out[out["value"] > 0].reset_index(drop=True)


def _tiles(data: _Prepared) -> pd.DataFrame:
    """Treemap leaves: parent (series label or ""), label, raw x, size; larger first in each parent."""
    long = data.long[data.long["_v"] > 0]
    out = pd.DataFrame(
        {
            "parent": long["_s"].to_numpy() if data.spec.series else "",
            "raw": long["_x"].to_numpy(),
            "label": [data.label_of(v) for v in long["_x"]],
            "value": long["_v"].to_numpy(dtype=float),
        }
    )
    if out.empty:
        return out
    totals = out.groupby("parent", sort=False)["value"].transform("sum")
    # squarify needs sizes in descending order; parents by total, leaves by size.
    out = out.assign(_t=totals).sort_values(["_t", "parent", "value"], ascending=[False, True, False])
    return out.drop(columns="_t").reset_index(drop=True)


def _pie_bokeh(data: _Prepared) -> figure:
    p = figure(
        x_range=Range1d(start=-1, end=1), y_range=Range1d(start=-1, end=1), tools="", toolbar_location=None
    )
    slices = _slices(data)
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


def _treemap_bokeh(data: _Prepared) -> figure:
    import squarify

    width, height = 160.0, 100.0
    p = figure(
        x_range=Range1d(start=0, end=width),
        y_range=Range1d(start=0, end=height),
        tools="",
        toolbar_location=None,
    )
    tiles = _tiles(data)
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


def _pie_plotly(data: _Prepared) -> dict[str, Any]:
    import plotly.graph_objects as go

    slices = _slices(data)
    trace = go.Pie(
        labels=slices["label"].tolist(),
        values=slices["value"].tolist(),
        hole=0.5 if data.spec.viz == "donut" else 0,
        sort=False,
        direction="clockwise",
        textinfo="percent",
        name=data.y_label,
    )
    out: dict[str, Any] = go.Figure([trace]).to_dict()
    return out


def _treemap_plotly(data: _Prepared) -> dict[str, Any]:
    import plotly.graph_objects as go

    tiles = _tiles(data)
    ids, labels, parents, values = [], [], [], []
    if data.spec.series:
        for parent, total in tiles.groupby("parent", sort=False)["value"].sum().items():
            ids.append(f"p/{parent}")
            labels.append(str(parent))
            parents.append("")
            values.append(float(total))
    for i, row in enumerate(tiles.itertuples(index=False)):
        ids.append(f"c{i}/{row.label}")
        labels.append(str(row.label))
        parents.append(f"p/{row.parent}" if data.spec.series else "")
        values.append(float(row.value))
    trace = go.Treemap(
        ids=ids,
        labels=labels,
        parents=parents,
        values=values,
        branchvalues="total",
        textinfo="label+value",
        name=data.y_label,
    )
    out: dict[str, Any] = go.Figure([trace]).to_dict()
    return out


# --------------------------------------------------------------------------- render and style
def _color_keys(data: _Prepared) -> list[str]:
    if data.spec.viz in ("pie", "donut"):
        return [str(v) for v in _slices(data)["label"]]
    if data.spec.viz == "treemap":
        tiles = _tiles(data)
        column = "parent" if data.spec.series else "label"
        return [str(v) for v in pd.unique(tiles[column])] if not tiles.empty else []
    return list(data.series)


@overload
def render(spec: ChartSpec, df: pd.DataFrame, backend: Literal["bokeh"]) -> figure: ...
@overload
def render(spec: ChartSpec, df: pd.DataFrame, backend: Literal["plotly"]) -> dict[str, Any]: ...
def render(spec: ChartSpec, df: pd.DataFrame, backend: Backend) -> figure | dict[str, Any]:
    """The chart of ``df`` as a styled bokeh model ("bokeh") or a plotly figure dict ("plotly").

    Raises :class:`InvalidSpec` for missing or non-numeric columns; an empty frame
    gives an empty chart titled "... No data".
    """
    data = _prepare(spec, df)
    obj: Any
    if spec.viz in HV_VIZ:
        obj = _hv().render(_build(data), backend=backend)
    elif backend == "bokeh":
        obj = _treemap_bokeh(data) if spec.viz == "treemap" else _pie_bokeh(data)
    else:
        obj = _treemap_plotly(data) if spec.viz == "treemap" else _pie_plotly(data)
    keys = _color_keys(data)
    # Pie and treemap cannot draw zeros or negatives: nothing drawable is "No data" too.
    empty = data.empty or (spec.viz in FIGURE_VIZ and not keys)
    return style(obj, spec, backend, keys=keys, empty=empty)


def _title(spec: ChartSpec, empty: bool) -> str:
    if not empty:
        return spec.title
    return f"{spec.title} — {NO_DATA}" if spec.title else NO_DATA


def _color_map(spec: ChartSpec, keys: Iterable[str]) -> dict[str, str]:
    palette = list(spec.colors or PALETTE)
    return {k: palette[i % len(palette)] for i, k in enumerate(dict.fromkeys(keys))}


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


@overload
def style(
    obj: figure,
    spec: ChartSpec,
    backend: Literal["bokeh"],
    *,
    keys: Sequence[str] = ...,
    empty: bool = ...,
) -> figure: ...
@overload
def style(
    obj: dict[str, Any],
    spec: ChartSpec,
    backend: Literal["plotly"],
    *,
    keys: Sequence[str] = ...,
    empty: bool = ...,
) -> dict[str, Any]: ...
def style(
    obj: figure | dict[str, Any],
    spec: ChartSpec,
    backend: Backend,
    *,
    keys: Sequence[str] = (),
    empty: bool = False,
) -> figure | dict[str, Any]:
    """Apply the spec's looks to a rendered chart, in place, and return it.

    Title (with a "No data" suffix when ``empty``), axis labels, colours (``spec.colors``
    or :data:`PALETTE`, assigned to ``keys`` in order: series, slices or treemap parents),
    height, responsive width, legend placement and, on bokeh, hover tooltips and the
    tap tool used for drill-down.
    """
    if backend == "bokeh":
        if not isinstance(obj, figure):
            raise TypeError(f"expected a bokeh figure, got {type(obj).__name__}")
        return _style_bokeh(obj, spec, _color_map(spec, keys), empty)
    if not isinstance(obj, dict):
        raise TypeError(f"expected a plotly figure dict, got {type(obj).__name__}")
    return _style_plotly(obj, spec, _color_map(spec, keys), empty)


def _legend_label(item: LegendItem) -> str:
    label: Any = item.label
    if isinstance(label, dict):
        return str(label.get("value", label.get("field", "")))
    return str(getattr(label, "value", label))


def _style_bokeh(p: figure, spec: ChartSpec, colors: dict[str, str], empty: bool) -> figure:
    x_name, s_name, v_name = _names(spec)
    x_label, y_label, s_label = _labels(spec)
    first = next(iter(colors.values()), (spec.colors or PALETTE)[0])
    multi = len(colors) > 1
    title: Any = p.title
    title.text = _title(spec, empty)
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


def _style_plotly(
    fig: dict[str, Any], spec: ChartSpec, colors: dict[str, str], empty: bool
) -> dict[str, Any]:
    x_label, y_label, s_label = _labels(spec)
    first = next(iter(colors.values()), (spec.colors or PALETTE)[0])
    multi = len(colors) > 1
    viz = spec.viz
    traces: list[dict[str, Any]] = fig.setdefault("data", [])
    layout: dict[str, Any] = fig.setdefault("layout", {})
    layout.pop("width", None)
    layout.update(
        autosize=True,
        height=spec.height,
        title={"text": _title(spec, empty), "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        font={"family": _FONT, "size": 12, "color": "#333333"},
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin={"l": 10, "r": 10, "t": 80 if multi else 50, "b": 10, "pad": 2},
        showlegend=(multi or viz in ("pie", "donut")) and not empty,
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"},
    )
    for name in ("xaxis", "yaxis"):
        axis = layout.setdefault(name, {})
        axis.update(automargin=True, gridcolor="#e5e5e5", linecolor="#999999", zeroline=False)
        # HoloViews' padded ranges cut markers and push areas below zero; autorange does not.
        axis.pop("range", None)
    xaxis, yaxis = layout["xaxis"], layout["yaxis"]

    def color_of(trace: dict[str, Any]) -> str:
        return colors.get(str(trace.get("name", "")), first)

    if viz in ("pie", "donut"):
        for trace in traces:
            trace["marker"] = {
                "colors": [colors.get(str(k), first) for k in trace.get("labels", [])],
                "line": {"color": "white", "width": 1},
            }
        layout["legend"] = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top"}
        layout["margin"]["t"] = 50
    elif viz == "treemap":
        for trace in traces:
            labels, parents = list(trace.get("labels", [])), list(trace.get("parents", []))
            # Tiles take their group's colour (with series), else their own.
            group = {
                i: lab for i, lab, par in zip(trace.get("ids", []), labels, parents, strict=True) if not par
            }
            keys = [
                group.get(par, lab) if spec.series else lab for lab, par in zip(labels, parents, strict=True)
            ]
            trace["marker"] = {"colors": [colors.get(str(k), first) for k in keys]}
            trace["textfont"] = {"color": "white"}
        layout["margin"]["t"] = 50
    elif viz in ("bar", "column"):
        order = list(colors)
        bars = sorted(
            (t for t in traces if t.get("type") == "bar"),
            key=lambda t: order.index(str(t.get("name"))) if t.get("name") in order else 0,
        )
        traces[:] = bars + [t for t in traces if t.get("type") != "bar"]
        for trace in bars:
            trace["marker"] = {"color": color_of(trace), "line": {"width": 0}}
            trace["showlegend"] = multi
        layout["barmode"] = "stack" if spec.stacked and multi else "group"
        cat, val = (yaxis, xaxis) if viz == "bar" else (xaxis, yaxis)
        cat["title"] = {"text": x_label}
        val["title"] = {"text": y_label}
        cat["type"] = "category"
        cat["showgrid"] = False
        if viz == "bar":
            cat["autorange"] = "reversed"
        # In stacked and grouped legends, read series in the same order as the bars.
        layout["legend"]["traceorder"] = "normal"
    elif viz == "heatmap":
        palette = list(spec.colors) if spec.colors and len(spec.colors) > 1 else list(HEAT_PALETTE)
        scale = [[i / (len(palette) - 1), c] for i, c in enumerate(palette)]
        for trace in traces:
            if trace.get("type") == "heatmap":
                trace["colorscale"] = scale
                trace["colorbar"] = {"title": {"text": y_label}}
                trace["xgap"] = trace["ygap"] = 1
        xaxis["title"] = {"text": x_label}
        yaxis["title"] = {"text": s_label}
        xaxis["showgrid"] = yaxis["showgrid"] = False
        layout["showlegend"] = False
    else:  # line, area
        for i, trace in enumerate(traces):
            color = color_of(trace)
            nxt = traces[i + 1] if i + 1 < len(traces) else {}
            trace["line"] = {"color": color, "width": 2}
            trace["showlegend"] = False
            if trace.get("fill"):
                trace["fillcolor"] = _rgba(color, 0.55 if spec.stacked else 0.25)
                trace["line"]["width"] = 0
                trace["showlegend"] = multi
            elif nxt.get("fill") == "tonexty" and nxt.get("name") == trace.get("name") and viz == "area":
                trace["line"]["width"] = 0  # the lower boundary of a band, drawn by the band itself
            elif viz == "line":
                trace["mode"] = "lines+markers"
                trace["marker"] = {"color": color, "size": 6, "line": {"color": "white", "width": 1}}
                trace["showlegend"] = multi
        xaxis["title"] = {"text": x_label}
        yaxis["title"] = {"text": y_label}
        if any(np.issubdtype(np.asarray(t.get("x", [])).dtype, np.datetime64) for t in traces):
            xaxis["type"] = "date"
    if viz in FIGURE_VIZ:
        layout.pop("xaxis", None)
        layout.pop("yaxis", None)
    return fig


# --------------------------------------------------------------------------- drill-down
def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _tap_keys(data: _Prepared) -> list[Any]:
    viz = data.spec.viz
    if viz in ("pie", "donut"):
        return list(_slices(data)["raw"])
    if viz == "treemap":
        return list(_tiles(data)["raw"])
    if viz in ("bar", "column"):
        return [x for _ in (data.series if data.multi else [None]) for x in data.xs]
    if viz == "heatmap":
        return [x for x in data.xs for _ in data.series]
    return list(data.xs)


def tap_value(
    spec: ChartSpec, df: pd.DataFrame, index: int, *, source: Mapping[str, Any] | None = None
) -> object:
    """The x (category) value behind a tapped glyph, to turn a click into a filter.

    ``index`` is the selected index in the tapped renderer's data source (see the
    module docstring for what it means per viz). With ``source`` (that renderer's
    ``ColumnDataSource.data``) the value is read from the tapped row itself, which is
    robust to re-renders; without it, it is derived from ``df``. Returns the raw value
    of ``spec.x`` (not its display label), or ``None`` for an index out of range.
    """
    if index < 0:
        return None
    data = _prepare(spec, df)
    if source is not None and data.x_name in source and index < len(source[data.x_name]):
        shown = _py(source[data.x_name][index])
        if data.time:
            shown = pd.Timestamp(shown)
        for raw, label in zip(data.xs, data.labels, strict=True):
            if _py(raw) == shown or label == str(shown):
                return _py(raw)
    keys = _tap_keys(data)
    return _py(keys[index]) if index < len(keys) else None


# --------------------------------------------------------------------------- static export
_KALEIDO_LOCK = threading.Lock()
_KALEIDO_TIMEOUT_S = 120.0
_stop_registered = False


def _kaleido_alive(kaleido: Any) -> bool:
    # kaleido's sync server runs in a thread that dies silently when Chromium cannot
    # start, after which calc_fig_sync blocks forever: watch that thread ourselves.
    server = getattr(kaleido, "_global_server", None)
    thread = getattr(server, "_thread", None)
    return thread is None or bool(thread.is_alive())


def _stop_kaleido() -> None:
    import kaleido

    with _KALEIDO_LOCK:
        kaleido.stop_sync_server(silence_warnings=True)


def _kaleido_image(fig: Mapping[str, Any], opts: Mapping[str, Any]) -> bytes:
    global _stop_registered
    import kaleido

    # One Chromium per process; its sync server also mixes up the answers of concurrent
    # callers, so exports are serialised.
    with _KALEIDO_LOCK:
        # A no-op while the server runs; restarts it if something stopped it.
        kaleido.start_sync_server(mathjax=False, silence_warnings=True)
        if not _stop_registered:
            atexit.register(_stop_kaleido)
            _stop_registered = True
        done = threading.Event()
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["out"] = kaleido.calc_fig_sync(dict(fig), opts=dict(opts))
            except Exception as exc:  # handed to the caller below
                box["err"] = exc
            finally:
                done.set()

        threading.Thread(target=call, name="kaleido-call", daemon=True).start()
        deadline = time.monotonic() + _KALEIDO_TIMEOUT_S
        while not done.wait(0.5):
            if not _kaleido_alive(kaleido):
                # Reset, so the next export tries a fresh Chromium.
                kaleido.stop_sync_server(silence_warnings=True)
                raise RuntimeError("Kaleido could not start Chromium: install chromium or set BROWSER_PATH")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kaleido gave no image in {_KALEIDO_TIMEOUT_S:.0f} s")
    if "err" in box:
        raise box["err"]
    return bytes(box["out"])


def _export(
    spec: ChartSpec, df: pd.DataFrame, fmt: str, width: int, height: int | None, scale: float
) -> bytes:
    fig = render(spec, df, "plotly")
    return _kaleido_image(
        fig, {"format": fmt, "width": width, "height": height or spec.height, "scale": scale}
    )


def to_png(
    spec: ChartSpec, df: pd.DataFrame, *, width: int = 900, height: int | None = None, scale: float = 2
) -> bytes:
    """The chart as PNG bytes (plotly + Kaleido), ``width*scale`` pixels wide.

    ``height`` defaults to ``spec.height``. Uses one persistent Chromium per process,
    started on first use and stopped at exit.
    """
    return _export(spec, df, "png", width, height, scale)


def to_svg(spec: ChartSpec, df: pd.DataFrame, *, width: int = 900, height: int | None = None) -> bytes:
    """The chart as SVG bytes (plotly + Kaleido); see :func:`to_png`."""
    return _export(spec, df, "svg", width, height, 1)
