"""Charts of a PDF: the dashboards' ``ChartSpec`` through the plotly backend and Kaleido, as PNG.

**Embedded as PNG at 2x scale, not as SVG.** Both were rendered from the same figures (line
with markers and legend, column, pie; 680x340 px into a 90 mm box), put in a PDF with fpdf2,
rasterized with pypdfium2 at 6x and compared by eye:

* fpdf2 2.8.9 reads plotly's ``font-size: 12px`` as 12 *pt* converted to 9 user units, while the
  SVG's user unit is already the px: every label, tick and title is drawn at 3/4 of its size,
  so legends show gaps and titles look timid next to the layout Chromium computed for the
  full-size text.
* fpdf2 ignores ``<clipPath>`` (it warns once per clip): anything plotly clips to the plot
  area -- area fills and lines past a zoomed axis, markers at the edges, partial-period
  shading -- spills over the axes.
* Text positions in plotly's SVG come from Chromium's metrics of the font it had; fpdf2
  redraws the text with the TTF we embed (``Open Sans``/``verdana``/``arial`` must be mapped
  to a shipped file or fpdf2 falls back to a non-embedded Helvetica), so widths drift anyway.

The PNG (Chromium's own pixels at 2x, ~190 dpi for a full-width A4 chart) looks exactly like
the web preview, has no fonts to embed, and costs ~50-120 kB per chart. ``options.preview``
renders at 1x for the designer's live preview.

Images are cached per process (LRU, bounded in bytes), keyed by a hash of the chart spec,
the frame's columns the chart reads, the display, the size, the scale and the theme's
chart-relevant fields, so the designer's live preview re-runs Kaleido only for charts that
changed. Colours: categories (series, slices, tiles) take their stable per-label colour from
the theme's palette; metric series take the palette in order unless the spec has ``colors``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from portal.specs import ChartSpec
from portal.specs.pdf import ThemeSpec
from portal.viz.charts import render as render_chart
from portal.viz.colors import ColorMap
from portal.viz.formats import Display
from portal.viz.plotly_backend import kaleido_image
from portal.viz.prepare import categorical
from reports_pdf.document import blend

__all__ = [
    "CACHE",
    "ChartImageCache",
    "ChartRequest",
    "Exporter",
    "chart_figure",
    "chart_key",
    "chart_png",
    "chart_request",
    "export",
    "px",
]

#: Bump when the figure styling below changes, so cached images of the old look are not reused.
_STYLE_VERSION = "1"
#: CSS px per mm: plotly lays out in CSS px (96 per inch).
_PX_PER_MM = 96 / 25.4


def px(mm: float) -> int:
    """``mm`` in CSS pixels (what plotly's width/height mean), at least 40."""
    return max(40, round(mm * _PX_PER_MM))


class ChartImageCache:
    """A thread-safe LRU of chart images, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> bytes | None:
        """The image under ``key`` (and mark it recently used), or None."""
        with self._lock:
            data = self._items.get(key)
            if data is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``, dropping the least recently used images over the bound."""
        if len(data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        """Forget every image (and the hit counters)."""
        with self._lock:
            self._items.clear()
            self._size = 0
            self.hits = self.misses = 0


#: The process-wide chart image cache.
CACHE = ChartImageCache()


def _frame_digest(spec: ChartSpec, frame: pd.DataFrame) -> bytes | None:
    cols = [c for c in dict.fromkeys(spec.columns) if c in frame.columns]
    sub = frame[cols]
    try:
        values = pd.util.hash_pandas_object(sub, index=False).to_numpy().tobytes()
    except TypeError:  # unhashable cells (lists, dicts): such a chart is not cached
        return None
    head = repr([(c, str(sub[c].dtype)) for c in cols]).encode()
    return hashlib.blake2b(head + values, digest_size=16).digest()


def _theme_fields(theme: ThemeSpec) -> str:
    return theme.model_dump_json(
        include={"mode", "font", "text_color", "background", "muted", "border", "palette"}
    )


def chart_key(
    spec: ChartSpec,
    frame: pd.DataFrame,
    display: Display | None,
    size_px: tuple[int, int],
    scale: float,
    theme: ThemeSpec,
    separators: str = ".,",
) -> str | None:
    """The cache key of a chart image (None when the frame cannot be hashed)."""
    digest = _frame_digest(spec, frame)
    if digest is None:
        return None
    h = hashlib.blake2b(digest_size=20)
    for part in (
        _STYLE_VERSION,
        spec.model_dump_json(),
        repr(display),
        repr(size_px),
        repr(scale),
        _theme_fields(theme),
        separators,
    ):
        h.update(part.encode())
        h.update(b"\0")
    h.update(digest)
    return h.hexdigest()


def _style_axes(layout: dict[str, Any], theme: ThemeSpec) -> None:
    grid = blend(theme.border, theme.background, 0.6)
    for name, axis in layout.items():
        if isinstance(axis, dict) and (name.startswith("xaxis") or name.startswith("yaxis")):
            axis["gridcolor"] = grid
            axis["linecolor"] = theme.muted
            axis["zerolinecolor"] = theme.border


def chart_figure(
    spec: ChartSpec,
    frame: pd.DataFrame,
    display: Display | None,
    theme: ThemeSpec,
    size_px: tuple[int, int],
    separators: str = ".,",
) -> dict[str, Any]:
    """The plotly figure dict of the chart, in the theme's palette, font and colours, at ``size_px``.

    Raises what :func:`portal.viz.charts.render` raises (``InvalidSpec`` for an unknown or
    non-numeric column)."""
    if spec.colors is None and spec.viz != "heatmap" and not categorical(spec):
        spec = spec.model_copy(update={"colors": list(theme.palette)})
    # A fresh map per chart: the same label gets the same colour in every chart (it hashes
    # to the same slot) and the image stays a function of this chart's inputs (cacheable).
    fig = render_chart(spec, frame, "plotly", display=display, colors=ColorMap(theme.palette))
    layout: dict[str, Any] = fig.setdefault("layout", {})
    width, height = size_px
    layout.update(autosize=False, width=width, height=height)
    layout["font"] = {**layout.get("font", {}), "family": theme.font, "color": theme.text_color}
    title = layout.get("title")
    if isinstance(title, dict):
        title.setdefault("font", {})["color"] = theme.text_color
    # The document language's decimal and thousands separators on ticks and labels.
    layout["separators"] = separators
    layout["paper_bgcolor"] = theme.background
    layout["plot_bgcolor"] = theme.background
    _style_axes(layout, theme)
    if theme.mode == "dark":
        for trace in fig.get("data", []):
            line = trace.get("marker", {}).get("line") if isinstance(trace.get("marker"), dict) else None
            if isinstance(line, dict) and line.get("color") == "white":
                line["color"] = theme.background
    return fig


@dataclass
class ChartRequest:
    """A chart ready for Kaleido (``figure``) or already known (``png``, from the cache)."""

    key: str | None
    options: dict[str, Any]
    figure: dict[str, Any] | None = None
    png: bytes | None = None


def chart_request(
    spec: ChartSpec,
    frame: pd.DataFrame,
    display: Display | None,
    theme: ThemeSpec,
    *,
    width_mm: float,
    height_mm: float,
    preview: bool = False,
    cache: ChartImageCache | None = CACHE,
    separators: str = ".,",
) -> ChartRequest:
    """The cached image of the chart, or its figure to export (2x pixels; 1x in preview).

    Raises ``InvalidSpec`` for columns the frame does not have."""
    size = (px(width_mm), px(height_mm))
    scale = 1.0 if preview else 2.0
    options = {"format": "png", "width": size[0], "height": size[1], "scale": scale}
    key = chart_key(spec, frame, display, size, scale, theme, separators) if cache is not None else None
    if key is not None and cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return ChartRequest(key, options, png=hit)
    return ChartRequest(key, options, figure=chart_figure(spec, frame, display, theme, size, separators))


def export(request: ChartRequest, cache: ChartImageCache | None = CACHE) -> bytes:
    """The request's PNG: Kaleido renders the figure (unless it came from the cache), and the
    image is cached. Raises ``RuntimeError`` / ``TimeoutError`` when Kaleido cannot render."""
    if request.png is not None:
        return request.png
    assert request.figure is not None
    png = kaleido_image(request.figure, request.options)
    if request.key is not None and cache is not None:
        cache.put(request.key, png)
    return png


def chart_png(
    spec: ChartSpec,
    frame: pd.DataFrame,
    display: Display | None,
    theme: ThemeSpec,
    *,
    width_mm: float,
    height_mm: float,
    preview: bool = False,
    cache: ChartImageCache | None = CACHE,
) -> bytes:
    """The chart as PNG bytes sized for a ``width_mm`` x ``height_mm`` box (2x pixels; 1x in preview).

    Raises ``InvalidSpec`` for columns the frame does not have, ``RuntimeError`` /
    ``TimeoutError`` when Kaleido cannot render."""
    request = chart_request(
        spec, frame, display, theme, width_mm=width_mm, height_mm=height_mm, preview=preview, cache=cache
    )
    return export(request, cache)


class Exporter:
    """Kaleido exports of one render, run on a background thread while the document goes on.

    Chromium renders in its own process and ``kaleido_image`` waits without the GIL, so the
    tables and text of the document are drawn meanwhile; the images are placed (in document
    order, so the output does not depend on timing) at the end with :meth:`results`. Figures
    are built on the calling thread: HoloViews is not made to run on two threads at once.
    """

    def __init__(self, cache: ChartImageCache | None = CACHE) -> None:
        self.cache = cache
        self._pool: ThreadPoolExecutor | None = None
        self._broken: str | None = None

    def _export(self, request: ChartRequest) -> bytes:
        # Once Kaleido could not start (no Chromium), the other charts of this render fail at
        # once with the same message instead of each waiting for its own failed start.
        if self._broken is not None:
            raise RuntimeError(self._broken)
        try:
            return export(request, self.cache)
        except (RuntimeError, TimeoutError) as exc:
            self._broken = str(exc) or type(exc).__name__
            raise

    def submit(self, request: ChartRequest) -> Future[bytes]:
        """Start exporting ``request`` (a cached image is a finished future)."""
        if request.png is not None:
            done: Future[bytes] = Future()
            done.set_result(request.png)
            return done
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-charts")
        return self._pool.submit(self._export, request)

    def close(self) -> None:
        """Stop the background thread (after the pending exports ran)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None
