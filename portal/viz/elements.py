"""HoloViews elements of bar, column, line, area and heatmap charts, with options for both backends.

HoloViews is imported lazily (it costs seconds) and both plotting backends are
registered on first use. Pie, donut and treemap have no HoloViews element: the
backend modules draw them directly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from portal.viz.prepare import HV_VIZ, Prepared, series_grid

__all__ = ["build_element", "load_hv", "render_element"]

_HV_LOCK = threading.Lock()
# HoloViews keeps its options and renderers in process-wide state: the dashboard draws tiles on
# several threads, one HoloViews chart at a time.
_RENDER_LOCK = threading.RLock()


def render_element(data: Prepared, backend: str) -> Any:
    """The backend's figure (bokeh model or plotly dict) of a HoloViews chart; thread-safe."""
    hv = load_hv()
    with _RENDER_LOCK:
        if backend != "bokeh":
            return hv.render(build_element(data), backend=backend)
        # A document of its own: HoloViews otherwise attaches the plot to bokeh's curdoc() — the
        # browser session's document on its event loop (and sets that document's theme), the one
        # process-wide default document on any other thread.
        from bokeh.document import Document

        renderer = hv.renderer("bokeh").instance(mode="server")  # "server": it takes the doc given
        return renderer.get_plot(build_element(data), doc=Document()).state


def load_hv() -> Any:
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


def build_element(data: Prepared) -> Any:
    spec = data.spec
    if spec.viz not in HV_VIZ:
        raise ValueError(f"{spec.viz} charts have no HoloViews element; use portal.viz.charts.render()")
    hv = load_hv()
    xdim = hv.Dimension(data.x_name, label=data.x_label)
    vdim = hv.Dimension(data.v_name, label=data.y_label)
    interactive = {"tools": ["hover", "tap"]}
    if data.empty:
        if spec.viz in ("line", "area"):
            return hv.Curve([], xdim, vdim)
        return hv.Bars(pd.DataFrame({data.x_name: [], data.v_name: []}), xdim, vdim)
    if spec.viz in ("bar", "column"):
        xdim = xdim.clone(values=data.labels)
        grid = series_grid(data, 0.0)
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
    grid = series_grid(data, 0.0 if stacked else math.nan)
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
