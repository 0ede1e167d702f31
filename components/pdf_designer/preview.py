"""The live preview: the renderer's real output for the spec on screen, page by page.

After each edit the designer calls :meth:`PreviewPane.request`. A worker thread of the
session waits until no edit came for ``delay`` seconds (debounce), renders the *latest* spec
(older requests are dropped: the latest edit wins) with the caller's data in preview mode,
rasterizes the pages and hands the images to the session's event loop
(``doc.add_next_tick_callback``), where the panes are updated. The event loop never waits
for a render; a render in progress when a new edit comes is finished, then the new one runs.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import panel as pn
from panel.io.state import set_curdoc

import reports_pdf
from components.session import user_session
from portal.context import AppContext
from portal.errors import PortalError
from portal.pdf.bindings import apply_overrides, asset_names, render_input
from portal.pdf.inputs import RenderInput
from portal.specs.pdf import PdfTemplateSpec

log = logging.getLogger(__name__)

S = TypeVar("S")
R = TypeVar("R")

#: Seconds the data of a preview is reused for edits that do not change it.
INPUT_TTL_S = 20.0
#: Seconds without an edit before the preview renders.
DEBOUNCE_S = 0.3
#: Width of the page images (px): sharp in a column of ~350 px, quick to make and to send.
PREVIEW_WIDTH_PX = 600


class LatestWorker(Generic[S, R]):
    """Runs ``work`` on the latest requested item in one background thread, debounced.

    ``request(item)`` returns the item's generation number; ``deliver(generation, result)`` is
    called (in the worker thread) for each item actually worked on, in order. Items requested
    while another waits are replaced; ``work`` never runs twice at once.

    An edit after a quiet spell (nothing requested for ``delay`` and nothing running) is worked
    on at once; edits in a burst (typing, a drag, clicks in a row) wait until none came for
    ``delay`` and only the latest is worked on.
    """

    def __init__(
        self, work: Callable[[S], R], deliver: Callable[[int, R], None], delay: float = DEBOUNCE_S
    ) -> None:
        self.work, self.deliver, self.delay = work, deliver, delay
        self._cond = threading.Condition()
        self._pending: tuple[int, S] | None = None
        self._last_at = 0.0
        self._generation = 0
        self._stopped = False
        self._busy = False
        self._thread: threading.Thread | None = None

    @property
    def generation(self) -> int:
        """The number of the latest request."""
        return self._generation

    def request(self, item: S) -> int:
        """Ask for ``item`` to be worked on (replacing any request not started yet)."""
        with self._cond:
            now = time.monotonic()
            quiet = not self._busy and self._pending is None and now - self._last_at >= self.delay
            self._generation += 1
            self._pending = (self._generation, item)
            # After a quiet spell the edit goes at once (its "last request" lies a delay back).
            self._last_at = now - self.delay if quiet else now
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._loop, name="pdf-preview", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._generation

    def stop(self) -> None:
        """Stop the thread after the item in progress (pending ones are dropped)."""
        with self._cond:
            self._stopped = True
            self._pending = None
            self._cond.notify_all()

    def _next(self) -> tuple[int, S] | None:
        with self._cond:
            while not self._stopped:
                if self._pending is None:
                    self._cond.wait()
                    continue
                remaining = self._last_at + self.delay - time.monotonic()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                item, self._pending = self._pending, None
                self._busy = True
                return item
            return None

    def _done(self) -> None:
        with self._cond:
            self._busy = False
            # the next edit starts a new burst only after a quiet spell from now
            self._last_at = max(self._last_at, time.monotonic())

    def _loop(self) -> None:
        while (item := self._next()) is not None:
            generation, value = item
            try:
                result = self.work(value)
            except Exception:  # a bug in work must not end the thread: the next edit renders again
                log.exception("pdf preview: the render failed")
                self._done()
                continue
            self._done()
            try:
                self.deliver(generation, result)
            except Exception:
                log.exception("pdf preview: could not show the render")


@dataclass(frozen=True)
class PreviewResult:
    """One render for the preview: page images, the renderer's element errors, timings."""

    pngs: list[bytes] = field(default_factory=list)
    errors: list[tuple[str | None, str, int | None]] = field(default_factory=list)
    pages: int = 0
    ms: float = 0.0
    failure: str | None = None
    #: Milliseconds spent loading the data, drawing the PDF and making the images.
    steps: tuple[float, float, float] = (0.0, 0.0, 0.0)


def data_key(spec: PdfTemplateSpec) -> str:
    """What the render's inputs depend on: the data elements (boxes left out), parameters,
    filters, variables, brand, name and images. Two specs with the same key (a title retyped,
    a box dragged) render from the same data."""
    elements = [
        el.model_dump(mode="json", exclude={"box"})
        for _, el, _ in spec.elements()
        if el.kind in ("chart", "table", "kpi", "section")
    ]
    return json.dumps(
        {
            "elements": elements,
            "parameters": [p.model_dump(mode="json") for p in spec.parameters],
            "filters": spec.filters.model_dump(mode="json"),
            "variables": dict(spec.variables),
            "brand": dict(spec.theme.brand),
            "name": spec.name,
            "assets": sorted(asset_names(spec)),
        },
        sort_keys=True,
        default=str,
    )


class InputCache:
    """The last render's inputs, reused while the data they depend on (:func:`data_key`) is the
    same and they are younger than ``ttl`` seconds (``{{now}}`` moves, data changes)."""

    def __init__(self, ttl: float = INPUT_TTL_S) -> None:
        self.ttl = ttl
        self._entry: tuple[str, float, RenderInput] | None = None

    def get(self, key: str) -> RenderInput | None:
        """The inputs stored under ``key`` if still fresh."""
        e = self._entry
        if e is not None and e[0] == key and time.monotonic() - e[1] < self.ttl:
            return e[2]
        return None

    def put(self, key: str, inputs: RenderInput) -> None:
        """Keep ``inputs`` under ``key`` (replacing the previous ones)."""
        self._entry = (key, time.monotonic(), inputs)


def render_preview(
    ctx: AppContext,
    spec: PdfTemplateSpec,
    *,
    width_px: int = PREVIEW_WIDTH_PX,
    cache: InputCache | None = None,
) -> PreviewResult:
    """Render ``spec`` with the signed-in user's data (preview mode) and rasterize every page.

    Runs in the worker thread with the session's document made current (for the user's identity,
    checked on every render even when the data of the previous one is reused).
    """
    t0 = time.perf_counter()
    try:
        with user_session(ctx) as (session, principal):
            effective = apply_overrides(spec, {})
            key = data_key(effective)
            inputs = cache.get(key) if cache is not None else None
            if inputs is None:
                inputs = render_input(session, principal, ctx.warehouse, effective, preview=True)
                if cache is not None:
                    cache.put(key, inputs)
        t1 = time.perf_counter()
        result = reports_pdf.render(effective, inputs)
        t2 = time.perf_counter()
        pngs = reports_pdf.rasterize(result.pdf, width_px=width_px)  # serialized inside (PDFium)
    except PortalError as exc:
        return PreviewResult(failure=exc.message, ms=(time.perf_counter() - t0) * 1000)
    t3 = time.perf_counter()
    errors: list[tuple[str | None, str, int | None]] = [
        (e.element_id, e.message, e.page) for e in result.errors
    ]
    steps = (1000 * (t1 - t0), 1000 * (t2 - t1), 1000 * (t3 - t2))
    return PreviewResult(pngs, errors, result.pages, 1000 * (t3 - t0), steps=steps)


def page_html(png: bytes, number: int) -> str:
    """One page image as an ``<img>`` with a data URI (no user text in it)."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure class="pdf-preview-page" data-page="{number}" style="margin:0 0 10px 0">'
        f'<img alt="page {number}" src="data:image/png;base64,{data}" '
        'style="width:100%;display:block;box-shadow:0 1px 4px rgba(15,23,42,.3);background:#fff">'
        f'<figcaption style="text-align:center;font-size:11px;color:#64748b">page {number}</figcaption></figure>'
    )


def errors_html(result: PreviewResult) -> str:
    """The renderer's element errors (or why nothing rendered), escaped."""
    if result.failure:
        return (
            '<div class="pdf-preview-failure" style="color:#b91c1c;font-size:13px">'
            f"No preview: {html.escape(result.failure)}</div>"
        )
    if not result.errors:
        return ""
    items = "".join(
        f"<li><b>{html.escape(el or 'template')}</b>"
        f"{f' (page {page})' if page else ''}: {html.escape(msg)}</li>"
        for el, msg, page in result.errors
    )
    return (
        '<div class="pdf-preview-errors" style="font-size:12px;color:#92400e;background:#fffbeb;'
        'border:1px solid #fcd34d;border-radius:6px;padding:4px 8px;margin-bottom:6px">'
        f"<b>{len(result.errors)} element{'s' if len(result.errors) != 1 else ''} with errors</b>"
        f'<ul style="margin:2px 0 0 16px;padding:0">{items}</ul></div>'
    )


class PreviewPane(pn.viewable.Viewer):
    """The rendered pages of the spec on screen, refreshed after each edit."""

    def __init__(self, ctx: AppContext, *, delay: float = DEBOUNCE_S) -> None:
        super().__init__()
        self.ctx = ctx
        self._doc = pn.state.curdoc
        self._shown = 0
        self._requested_at: dict[int, float] = {}
        self._status = pn.pane.HTML(
            '<span style="color:#64748b;font-size:12px">Preview: waiting for the first render…</span>',
            css_classes=["pdf-preview-status"],
            margin=(0, 10),
        )
        self._errors = pn.pane.HTML("", css_classes=["pdf-preview-errors-box"], sizing_mode="stretch_width")
        self._pages = pn.Column(sizing_mode="stretch_width", margin=0, css_classes=["pdf-preview"])
        self._shown_pngs: list[bytes] = []
        self._inputs = InputCache()
        self.worker: LatestWorker[PdfTemplateSpec, PreviewResult] = LatestWorker(
            self._work, self._deliver, delay=delay
        )
        if self._doc is not None and getattr(self._doc, "session_context", None) is not None:
            pn.state.on_session_destroyed(lambda _ctx: self.worker.stop())

    def request(self, spec: PdfTemplateSpec) -> None:
        """Render ``spec`` once the edits pause (the latest one wins)."""
        generation = self.worker.request(spec)
        self._requested_at[generation] = time.monotonic()
        self._status.object = '<span style="color:#64748b;font-size:12px">Preview: rendering…</span>'

    def _work(self, spec: PdfTemplateSpec) -> PreviewResult:
        try:
            with set_curdoc(self._doc):
                return render_preview(self.ctx, spec, cache=self._inputs)
        except Exception:  # a renderer bug: said in the preview, the details in the log only
            log.exception("pdf preview: the render failed")
            return PreviewResult(failure="the preview could not be drawn (the error is in the server log)")

    def _deliver(self, generation: int, result: PreviewResult) -> None:
        doc = self._doc
        if doc is None or getattr(doc, "session_context", None) is None:
            self._show(generation, result)  # outside a server (tests, notebooks)
            return
        doc.add_next_tick_callback(partial(self._show, generation, result))

    def _show(self, generation: int, result: PreviewResult) -> None:
        if generation < self._shown:
            return  # an older render finishing late never replaces a newer one
        self._shown = generation
        asked = self._requested_at.pop(generation, None)
        for g in [g for g in self._requested_at if g < generation]:
            del self._requested_at[g]
        since = f", {1000 * (time.monotonic() - asked):,.0f} ms after the edit" if asked else ""
        if result.failure is None:
            self._show_pages(result.pngs)
        pending = " · rendering the latest edit…" if generation < self.worker.generation else ""
        data_ms, draw_ms, image_ms = result.steps
        self._status.object = (
            f'<span style="color:#64748b;font-size:12px" data-generation="{generation}" '
            f'title="data {data_ms:,.0f} ms, drawing {draw_ms:,.0f} ms, images {image_ms:,.0f} ms">'
            f"Preview: {result.pages} page{'s' if result.pages != 1 else ''}, rendered in {result.ms:,.0f} ms"
            f"{since}{pending}</span>"
        )
        self._errors.object = errors_html(result)

    def _show_pages(self, pngs: list[bytes]) -> None:
        """Replace only the page images that changed (an edit usually changes one page)."""
        panes = list(self._pages.objects)
        for i, png in enumerate(pngs):
            if i < len(panes):
                if i >= len(self._shown_pngs) or self._shown_pngs[i] != png:
                    panes[i].object = page_html(png, i + 1)
            else:
                panes.append(pn.pane.HTML(page_html(png, i + 1), sizing_mode="stretch_width", margin=0))
        if len(panes) != len(self._pages.objects) or len(pngs) < len(panes):
            self._pages.objects = panes[: len(pngs)]
        self._shown_pngs = list(pngs)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self._status,
            self._errors,
            self._pages,
            sizing_mode="stretch_width",
            margin=0,
            css_classes=["preview-pane"],
        )

    def render_full(self, spec: PdfTemplateSpec) -> tuple[bytes, list[Any]]:
        """The full-quality PDF of ``spec`` (for the download) and its element errors; run on the loop."""
        with user_session(self.ctx) as (session, principal):
            effective = apply_overrides(spec, {})
            inputs = render_input(session, principal, self.ctx.warehouse, effective)
        result = reports_pdf.render(effective, inputs)
        return result.pdf, list(result.errors)
