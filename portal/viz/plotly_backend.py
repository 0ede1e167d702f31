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
import pandas as pd

from portal.viz.formats import CURRENCY, plotly_format
from portal.viz.prepare import (
    FIGURE_VIZ,
    HEAT_PALETTE,
    NO_DATA_MESSAGE,
    PALETTE,
    PARTIAL,
    Prepared,
    chart_title,
    pie_slices,
    treemap_tiles,
)

__all__ = ["empty_plotly", "kaleido_image", "pie_plotly", "style_plotly", "treemap_plotly"]

_UNITS = {"duration_h": " h", "duration_min": " min", "duration_s": " s"}


def _hover_value(fmt: str, ref: str = "y") -> str:
    """A hovertemplate value in the result's format: ``R$ %{y:,.0f}``, ``%{y:.1%}``, ``%{y:,.2~f} h``."""
    body = f"%{{{ref}:{plotly_format(fmt)}}}"
    if fmt == "currency":
        return f"{CURRENCY} {body}"
    return body + _UNITS.get(fmt, "")


def empty_plotly(data: Prepared) -> dict[str, Any]:
    """An empty figure that says "No data for these filters" (no bare axes)."""
    return {
        "data": [],
        "layout": {
            "annotations": [
                {
                    "text": NO_DATA_MESSAGE,
                    "x": 0.5,
                    "y": 0.5,
                    "xref": "paper",
                    "yref": "paper",
                    "showarrow": False,
                    "font": {"size": 14, "color": "#64748b"},
                }
            ],
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
        },
    }


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


def style_plotly(fig: dict[str, Any], data: Prepared, colors: dict[str, str], empty: bool) -> dict[str, Any]:
    spec = data.spec
    x_label, y_label, s_label = data.x_label, data.y_label, data.s_label
    fmt = data.v_format
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
    if empty:
        layout["showlegend"] = False
        layout["xaxis"] = {"visible": False}
        layout["yaxis"] = {"visible": False}
        return fig
    for name in ("xaxis", "yaxis"):
        axis = layout.setdefault(name, {})
        axis.update(automargin=True, gridcolor="#e5e5e5", linecolor="#999999", zeroline=False)
        # HoloViews' padded ranges cut markers and push areas below zero; autorange does not.
        axis.pop("range", None)
    xaxis, yaxis = layout["xaxis"], layout["yaxis"]
    partial = data.partial_labels
    partial_times = {pd.Timestamp(x) for x in data.partial_xs}

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
            cats = list(trace.get("y" if viz == "bar" else "x", []))
            if partial and cats and not isinstance(trace.get("y" if viz == "bar" else "x"), dict):
                # Periods the window cuts are faded.
                trace["marker"]["opacity"] = [0.35 if str(c) in partial else 1.0 for c in cats]
            value_ref = "x" if viz == "bar" else "y"
            trace["hovertemplate"] = f"%{{{'y' if viz == 'bar' else 'x'}}}: {_hover_value(fmt, value_ref)}"
        layout["barmode"] = "stack" if spec.stacked and multi else "group"
        cat, val = (yaxis, xaxis) if viz == "bar" else (xaxis, yaxis)
        cat["title"] = {"text": x_label}
        val["title"] = {"text": y_label}
        val["tickformat"] = plotly_format(fmt)
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
        yaxis["tickformat"] = plotly_format(fmt)
        for trace in traces:
            trace["hovertemplate"] = f"%{{x}}: {_hover_value(fmt)}"
        if any(np.issubdtype(np.asarray(t.get("x", [])).dtype, np.datetime64) for t in traces):
            xaxis["type"] = "date"
        if partial_times:
            _shade_partial(layout, data)
    if viz in FIGURE_VIZ:
        layout.pop("xaxis", None)
        layout.pop("yaxis", None)
    if (partial or partial_times) and viz in ("bar", "column", "line", "area"):
        end = data.display.window[1]
        upto = f" (data up to {end:%Y-%m-%d %H:%M})" if end is not None else ""
        how = "faded" if viz in ("bar", "column") else "shaded"
        # Below the x axis's title when it has one (they overlapped in the PDFs' charts).
        titled = bool(((layout.get("xaxis") or {}).get("title") or {}).get("text"))
        below = 56 if titled else 40
        layout.setdefault("annotations", []).append(
            {
                "text": f"<i>{how}: {PARTIAL}{upto}</i>",
                "x": 1,
                "y": 0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "right",
                "yanchor": "top",
                "yshift": -below,
                "showarrow": False,
                "font": {"size": 10, "color": "#64748b"},
            }
        )
        layout["margin"]["b"] = max(layout["margin"].get("b", 10), below + 12)
    return fig


def _shade_partial(layout: dict[str, Any], data: Prepared) -> None:
    """A grey band over the stretch of the time axis that leads into each partial period."""
    xs = [pd.Timestamp(x) for x in data.xs]
    for i, cut in enumerate(data.partial):
        if not cut or len(xs) < 2:
            continue
        lo, hi = (xs[i - 1], xs[i]) if i > 0 else (xs[i], xs[i + 1])
        layout.setdefault("shapes", []).append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": lo.isoformat(),
                "x1": hi.isoformat(),
                "y0": 0,
                "y1": 1,
                "fillcolor": "#94a3b8",
                "opacity": 0.15,
                "line": {"width": 0},
                "layer": "below",
            }
        )


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


#: A tab is reloaded after this many images (kaleido reloads after every one).
KALEIDO_RELOAD_EVERY = 50
_tab_patched = False


def _reuse_tabs(kaleido_module: Any) -> None:
    """Reload a Kaleido tab every :data:`KALEIDO_RELOAD_EVERY` images instead of after each.

    Measured (``tests/benchmarks/bench_pdf.py --what-if-no-tab-reload``): the reload is ~75 % of
    an export (a PNG 0.46-0.53 s with it, 0.10-0.12 s without), and the images are
    byte-identical; an occasional reload still bounds what a long-lived tab accumulates.
    """
    global _tab_patched
    if _tab_patched:
        return
    cls = kaleido_module.Kaleido
    original = cls._return_kaleido_tab
    uses: dict[int, int] = {}

    async def return_tab(self: Any, tab: Any) -> None:
        n = uses.get(id(tab), 0) + 1
        if n >= KALEIDO_RELOAD_EVERY:
            uses[id(tab)] = 0
            await original(self, tab)
            return
        uses[id(tab)] = n
        await self.tabs_ready.put(tab)

    cls._return_kaleido_tab = return_tab
    _tab_patched = True


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
        _reuse_tabs(kaleido)
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
