"""Chart data without a plotting backend: validate a :class:`ChartSpec` against a frame and prepare it.

:func:`prepare` checks the columns the spec names and reshapes the frame into one long,
aggregated, ordered frame (:class:`Prepared`) that every renderer draws; pie slices and
treemap tiles are derived from it here too. Also here: the palettes and colour assignment,
axis labels and titles shared by both backends, and :func:`tap_value`, which maps a tapped
glyph back to the x value it shows (see :mod:`portal.viz.charts` for the index meanings).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from portal.errors import InvalidSpec, unknown
from portal.specs import ChartSpec
from portal.viz.colors import stable_colors
from portal.viz.formats import Display, humanise, unit_suffix
from portal.viz.periods import partial_flags

__all__ = [
    "CATEGORY_PALETTE",
    "FIGURE_VIZ",
    "HEAT_PALETTE",
    "HV_VIZ",
    "NO_DATA",
    "NO_DATA_MESSAGE",
    "PALETTE",
    "Backend",
    "Prepared",
    "axis_labels",
    "categorical",
    "chart_title",
    "color_keys",
    "color_map",
    "column_names",
    "pie_slices",
    "prepare",
    "pretty",
    "series_grid",
    "tap_value",
    "treemap_tiles",
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
#: The colours categories are hashed onto (:mod:`portal.viz.colors`): the palette without
#: yellow and black, which read badly as large areas and thin lines on white.
CATEGORY_PALETTE: tuple[str, ...] = tuple(c for c in PALETTE if c not in ("#F0E442", "#000000"))
NO_DATA = "No data"
#: What an empty chart says in its plot area.
NO_DATA_MESSAGE = "No data for these filters"
#: What a partial period is called in tooltips and notes.
PARTIAL = "partial period"
_BLANK = "(blank)"


# --------------------------------------------------------------------------- data preparation
@dataclass(frozen=True)
class Prepared:
    """The chart's data, validated, aggregated and ordered as every renderer draws it."""

    spec: ChartSpec
    long: pd.DataFrame  # columns _x (raw), _s (series label), _v (float), series-major order
    xs: list[Any]  # distinct raw x values in display order
    labels: list[str]  # display labels of ``xs``
    series: list[str]  # series labels in display order (one entry for a single series)
    series_raw: dict[str, Any]  # series label -> raw value of the series column
    multi: bool  # more than one series is drawn (legend, grouping)
    time: bool  # x is a datetime column
    display: Display = dc_field(default_factory=Display)  # labels, formats, buckets, window
    partial: tuple[bool, ...] = ()  # per ``xs``: the window cuts that period (in progress)

    @property
    def empty(self) -> bool:
        return not bool(self.long["_v"].notna().any())

    @property
    def x_name(self) -> str:
        return column_names(self.spec)[0]

    @property
    def s_name(self) -> str:
        return column_names(self.spec)[1]

    @property
    def v_name(self) -> str:
        return column_names(self.spec)[2]

    @property
    def x_label(self) -> str:
        return axis_labels(self.spec, self.display)[0]

    @property
    def y_label(self) -> str:
        return axis_labels(self.spec, self.display)[1]

    @property
    def s_label(self) -> str:
        return axis_labels(self.spec, self.display)[2]

    @property
    def v_format(self) -> str:
        return value_format(self.spec, self.display)

    @property
    def partial_labels(self) -> set[str]:
        """Display labels of the x values in a partial period."""
        return {lab for lab, cut in zip(self.labels, self.partial, strict=False) if cut}

    @property
    def partial_xs(self) -> list[Any]:
        """Raw x values in a partial period."""
        return [x for x, cut in zip(self.xs, self.partial, strict=False) if cut]

    def label_of(self, raw: Any) -> str:
        return self.labels[self.xs.index(raw)] if raw in self.xs else _label(raw)

    def axis_values(self) -> np.ndarray[Any, Any]:
        """x positions for line/area: times and numbers stay continuous, the rest are labels."""
        if self.time:
            return np.asarray(self.xs, dtype="datetime64[ns]")
        if all(isinstance(v, int | float | np.integer | np.floating) for v in self.xs):
            return np.asarray(self.xs, dtype=float)
        return np.asarray(self.labels, dtype=object)


def column_names(spec: ChartSpec) -> tuple[str, str, str]:
    """Column names of x, series and value in the drawn data (and in bokeh's data sources)."""
    x = spec.x
    s = spec.series if spec.series and len(spec.y) == 1 else "series"
    v = spec.y[0] if len(spec.y) == 1 else "value"
    # A value column sharing its name with x or series would merge the two.
    return x, s, (v if v not in (x, s) else f"{v}_value")


def axis_labels(spec: ChartSpec, display: Display | None = None) -> tuple[str, str, str]:
    """Display names of x, the values and the series: the spec's labels, else the result's display
    labels (the catalog's, or humanised column names)."""
    d = display or Display()
    y = spec.y_label or (d.label(spec.y[0]) if len(spec.y) == 1 else "Value")
    unit = unit_of(spec, d)
    if not spec.y_label and unit and unit.strip() not in y:
        # The axis names the values' unit once: "Amount (R$)", "Value (R$)" for labor and parts.
        y += unit
    return spec.x_label or d.label(spec.x), y, d.label(spec.series) if spec.series else "Series"


def unit_of(spec: ChartSpec, display: Display) -> str:
    """What the value axis title adds for the values' unit: ``" (R$)"``, ``" (h)"`` or ``""``."""
    return unit_suffix(value_format(spec, display))


def value_format(spec: ChartSpec, display: Display | None = None) -> str:
    """The number format of the drawn values: the y columns' common format, else ``number``."""
    d = display or Display()
    formats = {d.format(y) for y in spec.y}
    return formats.pop() if len(formats) == 1 else "number"


def pretty(column: str) -> str:
    """A column name as an axis label: ``avg_resolution_h`` -> ``Avg resolution (h)``."""
    return humanise(column)


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


def prepare(spec: ChartSpec, df: pd.DataFrame, display: Display | None = None) -> Prepared:
    display = display or Display()
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
                s = s + " · " + display.label(y)
        else:
            s = pd.Series(display.label(y), index=df.index, dtype=object)
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
        series = [str(s) for s in pd.unique(long["_s"])] or [display.label(spec.y[0])]
        series_raw = {s: s for s in series}
    labels = _time_labels(xs) if is_time else [_label(v) for v in xs]
    rank_x = {v: i for i, v in enumerate(xs)}
    rank_s = {s: i for i, s in enumerate(series)}
    long = long.assign(_rs=long["_s"].map(rank_s), _rx=long["_x"].map(rank_x))
    long = long.sort_values(["_rs", "_rx"], kind="stable").drop(columns=["_rs", "_rx"]).reset_index(drop=True)
    bucket = display.buckets.get(spec.x) if is_time else None
    partial = tuple(partial_flags(xs, bucket, *display.window))
    return Prepared(spec, long, xs, labels, series, series_raw, multi, is_time, display, partial)


def _sortable(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype))


def series_grid(data: Prepared, fill: float) -> pd.DataFrame:
    """Wide frame: one row per x (display order), one column per series."""
    wide = data.long.pivot_table(index="_x", columns="_s", values="_v", aggfunc="sum", dropna=False)
    return wide.reindex(index=data.xs, columns=data.series).astype(float).fillna(fill)


# --------------------------------------------------------------------------- pie, donut, treemap
def pie_slices(data: Prepared) -> pd.DataFrame:
    """Pie/donut slices: x label, raw x and size; sizes that cannot be drawn (<= 0, NaN) dropped."""
    sums = data.long.groupby("_x", sort=False, dropna=False)["_v"].sum(min_count=1)
    sums = sums.reindex(pd.Index(data.xs, dtype=object))
    out = pd.DataFrame({"raw": data.xs, "label": data.labels, "value": sums.to_numpy(dtype=float)})
    return out[out["value"] > 0].reset_index(drop=True)


def treemap_tiles(data: Prepared) -> pd.DataFrame:
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


# --------------------------------------------------------------------------- colours and titles
def color_keys(data: Prepared) -> list[str]:
    if data.spec.viz in ("pie", "donut"):
        return [str(v) for v in pie_slices(data)["label"]]
    if data.spec.viz == "treemap":
        tiles = treemap_tiles(data)
        column = "parent" if data.spec.series else "label"
        return [str(v) for v in pd.unique(tiles[column])] if not tiles.empty else []
    return list(data.series)


def chart_title(spec: ChartSpec, empty: bool) -> str:
    """The chart's title; an empty chart says "No data" after it."""
    if not empty:
        return spec.title
    return f"{spec.title} — {NO_DATA}" if spec.title else NO_DATA


def categorical(spec: ChartSpec) -> bool:
    """Whether a chart's colours stand for values of the data (series, slices, tiles), which come
    and go with the filters, rather than for the metrics the spec names."""
    return spec.viz in FIGURE_VIZ or (spec.series is not None and spec.viz != "heatmap")


def color_map(spec: ChartSpec, keys: Iterable[str], display: Display | None = None) -> dict[str, str]:
    """Label -> colour. The spec's own ``colors`` and the metrics a chart draws (a single series,
    labor and parts cost) take the palette in order; categories (values of a series column, pie
    slices, treemap tiles) get their stable colour (:mod:`portal.viz.colors`), whatever the order
    or the other labels, so a category keeps its colour when filters change. ``display.colors``
    pins the colours of known values (the catalog's list of a column's values, in order)."""
    if spec.colors or not categorical(spec):
        palette = list(spec.colors or PALETTE)
        return {k: palette[i % len(palette)] for i, k in enumerate(dict.fromkeys(keys))}
    pinned = display.colors if display is not None else None
    return stable_colors(keys, CATEGORY_PALETTE, pinned)


# --------------------------------------------------------------------------- drill-down
def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _tap_keys(data: Prepared) -> list[Any]:
    viz = data.spec.viz
    if viz in ("pie", "donut"):
        return list(pie_slices(data)["raw"])
    if viz == "treemap":
        return list(treemap_tiles(data)["raw"])
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
    :mod:`portal.viz.charts` docstring for what it means per viz). With ``source`` (that renderer's
    ``ColumnDataSource.data``) the value is read from the tapped row itself, which is
    robust to re-renders; without it, it is derived from ``df``. Returns the raw value
    of ``spec.x`` (not its display label), or ``None`` for an index out of range.
    """
    if index < 0:
        return None
    data = prepare(spec, df)
    if source is not None and data.x_name in source and index < len(source[data.x_name]):
        shown = _py(source[data.x_name][index])
        if data.time:
            shown = pd.Timestamp(shown)
        for raw, label in zip(data.xs, data.labels, strict=True):
            if _py(raw) == shown or label == str(shown):
                return _py(raw)
    keys = _tap_keys(data)
    return _py(keys[index]) if index < len(keys) else None
