"""Plotly (static export) charts: pie and treemap traces, the plotly styling, and Kaleido images.

:func:`kaleido_image` turns a plotly figure dict into PNG/SVG bytes through one
persistent Kaleido (Chromium) server per process, started on first use and stopped at exit.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from portal.specs import ChartSpec
from portal.viz.prepare import (
    FIGURE_VIZ,
    HEAT_PALETTE,
    PALETTE,
    Prepared,
    axis_labels,
    chart_title,
    pie_slices,
    treemap_tiles,
)

__all__ = ["kaleido_image", "pie_plotly", "style_plotly", "treemap_plotly"]

_FONT = "DejaVu Sans, Open Sans, Arial, sans-serif"


def pie_plotly(data: Prepared) -> dict[str, Any]:
    import plotly.graph_objects as go

    slices = pie_slices(data)
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


def treemap_plotly(data: Prepared) -> dict[str, Any]:
    import plotly.graph_objects as go

    tiles = treemap_tiles(data)
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


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def style_plotly(fig: dict[str, Any], spec: ChartSpec, colors: dict[str, str], empty: bool) -> dict[str, Any]:
    x_label, y_label, s_label = axis_labels(spec)
    first = next(iter(colors.values()), (spec.colors or PALETTE)[0])
    multi = len(colors) > 1
    viz = spec.viz
    traces: list[dict[str, Any]] = fig.setdefault("data", [])
    layout: dict[str, Any] = fig.setdefault("layout", {})
    layout.pop("width", None)
    layout.update(
        autosize=True,
        height=spec.height,
        title={"text": chart_title(spec, empty), "x": 0.01, "xanchor": "left", "font": {"size": 16}},
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


def kaleido_image(fig: Mapping[str, Any], opts: Mapping[str, Any]) -> bytes:
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
