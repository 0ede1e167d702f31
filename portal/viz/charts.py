"""Charts: one :class:`ChartSpec` rendered on the web (bokeh) and in static exports (plotly + Kaleido).

Pipeline: :func:`portal.viz.prepare.prepare` validates the frame against the spec and reshapes it into one
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

This module is the façade the rest of the portal calls; the work is done in
:mod:`portal.viz.prepare` (backend-free data), :mod:`portal.viz.elements` (HoloViews),
:mod:`portal.viz.bokeh_backend` and :mod:`portal.viz.plotly_backend` (figures, styling, Kaleido).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import pandas as pd
from bokeh.plotting import figure

from portal.specs import ChartSpec
from portal.viz.bokeh_backend import empty_bokeh, pie_bokeh, style_bokeh, treemap_bokeh
from portal.viz.colors import ColorMap
from portal.viz.elements import build_element, render_element
from portal.viz.formats import Display
from portal.viz.plotly_backend import empty_plotly, kaleido_image, pie_plotly, style_plotly, treemap_plotly
from portal.viz.prepare import (
    FIGURE_VIZ,
    HV_VIZ,
    PALETTE,
    Backend,
    Prepared,
    categorical,
    color_keys,
    color_map,
    prepare,
    tap_value,
)

if TYPE_CHECKING:
    import holoviews as hv

__all__ = [
    "FIGURE_VIZ",
    "HV_VIZ",
    "PALETTE",
    "Backend",
    "ChartSpec",
    "ColorMap",
    "Display",
    "build_chart",
    "render",
    "style",
    "tap_value",
    "to_png",
    "to_svg",
]


def build_chart(spec: ChartSpec, df: pd.DataFrame, display: Display | None = None) -> hv.Element | hv.Overlay:
    """The HoloViews object of a bar, column, line, area or heatmap chart.

    Raises :class:`InvalidSpec` when a column the spec names is missing (naming the
    field and the closest column) or a y column is not numeric; an empty frame gives
    an empty element. Pie, donut and treemap have no HoloViews element: use
    :func:`render` for them (``ValueError`` here).
    """
    return build_element(prepare(spec, df, display))


@overload
def render(
    spec: ChartSpec,
    df: pd.DataFrame,
    backend: Literal["bokeh"],
    *,
    display: Display | None = ...,
    colors: ColorMap | None = ...,
) -> figure: ...
@overload
def render(
    spec: ChartSpec,
    df: pd.DataFrame,
    backend: Literal["plotly"],
    *,
    display: Display | None = ...,
    colors: ColorMap | None = ...,
) -> dict[str, Any]: ...
def render(
    spec: ChartSpec,
    df: pd.DataFrame,
    backend: Backend,
    *,
    display: Display | None = None,
    colors: ColorMap | None = None,
) -> figure | dict[str, Any]:
    """The chart of ``df`` as a styled bokeh model ("bokeh") or a plotly figure dict ("plotly").

    ``display`` (from the dashboard service) names and formats the columns and marks
    partial periods; ``colors`` keeps label colours across the charts of one view
    (default: the stable per-label colours). Raises :class:`InvalidSpec` for missing or
    non-numeric columns; an empty frame gives an empty chart titled "... No data" that
    says "No data for these filters" instead of drawing bare axes.
    """
    data = prepare(spec, df, display)
    keys = color_keys(data)
    # Pie and treemap cannot draw zeros or negatives: nothing drawable is "No data" too.
    empty = data.empty or (spec.viz in FIGURE_VIZ and not keys)
    obj: Any
    if empty:
        obj = empty_bokeh(data) if backend == "bokeh" else empty_plotly(data)
    elif spec.viz in HV_VIZ:
        obj = render_element(data, backend)
    elif backend == "bokeh":
        obj = treemap_bokeh(data) if spec.viz == "treemap" else pie_bokeh(data)
    else:
        obj = treemap_plotly(data) if spec.viz == "treemap" else pie_plotly(data)
    mapping = None
    if colors is not None and not spec.colors and categorical(spec):
        mapping = colors.assign(keys, data.display.colors)
    return _style(obj, data, backend, mapping or color_map(spec, keys, data.display), empty)


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
    assigned to ``keys`` in order, else each key's stable colour from :data:`PALETTE`),
    height, responsive width, legend placement and, on bokeh, hover tooltips and the
    tap tool used for drill-down.
    """
    data = prepare(spec, pd.DataFrame())
    return _style(obj, data, backend, color_map(spec, keys), empty)


def _style(
    obj: figure | dict[str, Any], data: Prepared, backend: Backend, colors: dict[str, str], empty: bool
) -> figure | dict[str, Any]:
    if backend == "bokeh":
        if not isinstance(obj, figure):
            raise TypeError(f"expected a bokeh figure, got {type(obj).__name__}")
        return style_bokeh(obj, data, colors, empty)
    if not isinstance(obj, dict):
        raise TypeError(f"expected a plotly figure dict, got {type(obj).__name__}")
    return style_plotly(obj, data, colors, empty)


def _export(
    spec: ChartSpec,
    df: pd.DataFrame,
    fmt: str,
    width: int,
    height: int | None,
    scale: float,
    display: Display | None = None,
) -> bytes:
    fig = render(spec, df, "plotly", display=display)
    return kaleido_image(
        fig, {"format": fmt, "width": width, "height": height or spec.height, "scale": scale}
    )


def to_png(
    spec: ChartSpec,
    df: pd.DataFrame,
    *,
    width: int = 900,
    height: int | None = None,
    scale: float = 2,
    display: Display | None = None,
) -> bytes:
    """The chart as PNG bytes (plotly + Kaleido), ``width*scale`` pixels wide.

    ``height`` defaults to ``spec.height``. Uses one persistent Chromium per process,
    started on first use and stopped at exit.
    """
    return _export(spec, df, "png", width, height, scale, display)


def to_svg(
    spec: ChartSpec,
    df: pd.DataFrame,
    *,
    width: int = 900,
    height: int | None = None,
    display: Display | None = None,
) -> bytes:
    """The chart as SVG bytes (plotly + Kaleido); see :func:`to_png`."""
    return _export(spec, df, "svg", width, height, 1, display)
