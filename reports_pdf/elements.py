"""Painters of the simple elements: paragraphs (title, text), image, chart, KPI card, line,
rectangle, the error box, the table of contents and the header/footer bands.

Each painter draws at a physical position the layout chose; paragraphs flow over pages and
return where they end. Painters raise on bad data; :mod:`reports_pdf.render` turns that into an
error box in the element's place.
"""

from __future__ import annotations

import io
import re
from typing import Any, cast

from fpdf.enums import MethodReturnValue, ResourceAccessPolicy

from portal.errors import unknown
from portal.pdf.inputs import Asset, ElementData
from portal.specs.pdf import (
    Band,
    ChartElement,
    ImageElement,
    KpiElement,
    LineElement,
    RectElement,
)
from portal.viz.cards import format_value, kpi_values
from portal.viz.formats import humanise, localize
from reports_pdf.charts import chart_request
from reports_pdf.context import BAND_GAP, Context, PendingChart, TocReservation, band_visible
from reports_pdf.document import PT_PER_MM, ReportDocument, blend
from reports_pdf.fonts import STYLES, register_font
from reports_pdf.layout import Slot
from reports_pdf.variables import expand

__all__ = [
    "ERROR_FILL",
    "clean_message",
    "draw_bands",
    "draw_chart",
    "draw_error",
    "draw_image",
    "draw_kpi",
    "draw_line",
    "draw_paragraph",
    "draw_rect",
    "fill_tocs",
    "place_charts",
    "reserve_toc",
]

ERROR_FILL = "#fee2e2"
ERROR_BORDER = "#dc2626"
ERROR_TEXT = "#7f1d1d"
#: The web KPI card's status colours (STATUS_COLORS of components/widget_view.py); "none": the text colour.
STATUS_COLORS = {"good": "#15803d", "warn": "#b45309", "bad": "#b91c1c"}
#: The same on a dark background (the light ones are unreadable there).
DARK_STATUS_COLORS = {"good": "#4ade80", "warn": "#fbbf24", "bad": "#f87171"}
_ALIGN = {"left": "L", "center": "C", "right": "R", "justify": "J"}


# --------------------------------------------------------------------------- paragraphs
def _lines(doc: ReportDocument, text: str, width: float, align: str) -> list[tuple[str, bool]]:
    """Wrapped lines of ``text`` and whether each ends a paragraph (those are never justified)."""
    out: list[tuple[str, bool]] = []
    for para in text.split("\n"):
        if not para.strip():
            out.append(("", True))
            continue
        wrapped = doc.multi_cell(
            width, 5, para, align=align, dry_run=True, output=MethodReturnValue.LINES, padding=0
        )
        lines = [str(x) for x in cast(list[str], wrapped)] or [""]
        out.extend((line, i == len(lines) - 1) for i, line in enumerate(lines))
    return out


def _line(
    doc: ReportDocument, line: str, x: float, baseline: float, width: float, align: str, last: bool
) -> None:
    """One wrapped line at ``baseline``; a justified line (not a paragraph's last) spreads its
    words over the width (fpdf2's ``cell`` cannot justify a single line)."""
    words = line.split(" ")
    if align == "J" and not last and len(words) > 1:
        used = sum(doc.width_of(w) for w in words)
        gap = (width - used) / (len(words) - 1)
        cursor = x
        for word in words:
            if word:
                doc.text(cursor, baseline, word)
            cursor += doc.width_of(word) + gap
        return
    w = doc.width_of(line)
    if align == "R":
        x += width - w
    elif align == "C":
        x += (width - w) / 2
    doc.text(x, baseline, line)


def draw_paragraph(
    ctx: Context,
    text: str,
    *,
    x: float,
    width: float,
    start: Slot,
    size: float,
    style: str = "",
    color: str | None = None,
    align: str = "left",
    line_factor: float = 1.35,
) -> tuple[Slot, Slot]:
    """Draw wrapped ``text`` from ``start``, continuing on the next pages when it reaches the
    content area's bottom. Returns ``(first line's slot, end)``."""
    doc = ctx.doc
    doc.use_page(start.page)
    doc.font(size, style)
    doc.ink(color or ctx.theme.text_color)
    a = _ALIGN.get(align, "L")
    lh = doc.line_height(size, line_factor)
    page, y = start.page, start.y
    first = start
    area = ctx.area
    saved_margin = doc.c_margin
    doc.c_margin = 0
    try:
        for i, (line, last) in enumerate(_lines(doc, text, width, a)):
            if y + lh > area.bottom + 1e-6 and y > area.top + 1e-6:
                page = doc.next_page(page)
                y = area.top
                if i == 0:
                    first = Slot(page, y)
            if line:
                _line(doc, line, x, y + (lh + size / PT_PER_MM * 0.7) / 2, width, a, last)
            y += lh
    finally:
        doc.c_margin = saved_margin
    return first, Slot(page, y)


# --------------------------------------------------------------------------- error box
def draw_error(
    ctx: Context, element_id: str, kind: str, message: str, *, x: float, y: float, w: float, h: float
) -> float:
    """A light red box with the message and the element id at ``(x, y)``; returns its height."""
    doc = ctx.doc
    size = max(6.0, min(9.0, ctx.theme.base_size - 1))
    lh = doc.line_height(size, 1.3)
    # A narrow box (a logo, a line) still shows a readable message: widen it within the page.
    room = doc.w - ctx.spec.page.margins.right - x
    w = max(w, min(90.0, room), 30.0)
    doc.font(size, "B")
    head = _lines(doc, f"{kind} '{element_id}' could not be drawn", w - 4, "L")
    doc.font(size, "")
    body = _lines(doc, message[:600], w - 4, "L")
    need = 3 + lh * (len(head) + len(body))
    h = max(min(h, ctx.area.height), need, 10.0)
    doc.fill(ERROR_FILL)
    doc.stroke(ERROR_BORDER)
    doc.set_line_width(0.4)
    doc.rect(x, y, w, h, "DF")
    doc.ink(ERROR_TEXT)
    doc.font(size, "B")
    for i, (line, _) in enumerate(head):
        doc.text(x + 2, y + 1.5 + lh * (i + 0.75), line)
    doc.font(size, "")
    for i, (line, _) in enumerate(body, start=len(head)):
        doc.text(x + 2, y + 1.5 + lh * (i + 0.75), line)
    doc.ink(ctx.theme.text_color)
    return h


# --------------------------------------------------------------------------- images
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def clean_message(exc: BaseException) -> str:
    """An exception's text without object reprs and memory addresses: they differ from run to
    run, and the message is printed in the PDF (which must be byte-identical for the same inputs)."""
    text = str(exc).strip() or type(exc).__name__
    return _ADDRESS.sub("", _OBJECT_REPR.sub("", text)).replace("  ", " ").strip()


_SVG_FAMILY_ATTR = re.compile(r"""font-family\s*=\s*("[^"]*"|'[^']*')""")
_SVG_FAMILY_CSS = re.compile(r"""font-family\s*:\s*(?:"[^"]*"|'[^']*'|[^;"'}>])*""")
_SVG_ROOT = re.compile(r"<svg\b")


def svg_with_font(data: bytes, family_key: str) -> bytes:
    """An SVG whose every ``font-family`` names the (registered, embedded) ``family_key``, also
    as the root's default: fpdf2 would otherwise draw its text in a non-embedded base-14 font."""
    text = data.decode("utf-8", errors="replace")
    text = _SVG_FAMILY_ATTR.sub(f'font-family="{family_key}"', text)
    text = _SVG_FAMILY_CSS.sub(f"font-family: {family_key}", text)
    text = _SVG_ROOT.sub(f'<svg font-family="{family_key}"', text, count=1)
    return text.encode("utf-8")


def _place_image(
    ctx: Context, asset: Asset, *, x: float, y: float, w: float, h: float, contain: bool
) -> None:
    doc = ctx.doc
    data = asset.data
    if asset.content_type == "image/svg+xml":
        for style in STYLES:
            key = register_font(doc, doc.family, style)
        data = svg_with_font(data, key)
    elif asset.content_type not in ("image/png", "image/jpeg"):
        raise ValueError(f"asset {asset.name!r} is {asset.content_type}, not a PNG, JPEG or SVG image")
    try:
        doc.image(
            io.BytesIO(data),
            x=x,
            y=y,
            w=w,
            h=h,
            keep_aspect_ratio=contain,
            resource_access_policy=ResourceAccessPolicy.NONE,
        )
    except Exception as exc:
        raise ValueError(
            f"asset {asset.name!r} ({asset.content_type}) could not be drawn: {clean_message(exc)}"
        ) from exc


def draw_image(ctx: Context, el: ImageElement, *, x: float, y: float) -> None:
    """The asset fitted into the box (``contain`` keeps its proportions, centred)."""
    asset = ctx.inputs.assets.get(el.asset)
    if asset is None:
        raise LookupError(f"image asset {el.asset!r} was not found (uploaded images: {_names(ctx)})")
    _place_image(ctx, asset, x=x, y=y, w=el.box.w, h=el.box.h, contain=el.fit == "contain")


def _names(ctx: Context) -> str:
    names = sorted(ctx.inputs.assets)
    return ", ".join(names[:8]) + (" ..." if len(names) > 8 else "") if names else "none"


# --------------------------------------------------------------------------- charts
def draw_chart(ctx: Context, el: ChartElement, data: ElementData, *, x: float, y: float) -> None:
    """Start the chart's export; :func:`place_charts` puts the PNG in the box at the end.

    Raises ``InvalidSpec`` at once for a column the frame does not have."""
    if data.frame is None:
        raise ValueError("the chart's query returned no result")
    spec = el.chart
    if "{{" in spec.title:
        spec = spec.model_copy(update={"title": expand(spec.title, ctx.variables, ctx.symbols)})
    request = chart_request(
        spec,
        data.frame,
        data.display,
        ctx.theme,
        width_mm=el.box.w,
        height_mm=el.box.h,
        preview=ctx.preview,
        separators="".join(ctx.symbols),
    )
    pending = PendingChart(el.id, ctx.doc.page, x, y, el.box.w, el.box.h, ctx.exporter.submit(request))
    ctx.charts.append(pending)


def place_charts(ctx: Context) -> None:
    """Put every exported chart image in its box, in document order (an error box when the
    export failed)."""
    doc = ctx.doc
    for chart in ctx.charts:
        try:
            png = chart.image.result()
        except Exception as exc:
            doc.use_page(chart.page)
            message = clean_message(exc)
            draw_error(ctx, chart.element_id, "chart", message, x=chart.x, y=chart.y, w=chart.w, h=chart.h)
            ctx.fail(chart.element_id, message, chart.page)
            continue
        doc.use_page(chart.page)
        doc.image(io.BytesIO(png), x=chart.x, y=chart.y, w=chart.w, h=chart.h)
    ctx.charts.clear()


# --------------------------------------------------------------------------- KPI card
def _number(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def _first(frame: Any, column: str) -> Any:
    if frame is None or column not in frame.columns or len(frame) == 0:
        return None
    return frame[column].iloc[0]


def _triangle(doc: ReportDocument, x: float, y: float, size: float, up: bool) -> None:
    if up:
        points = ((x, y + size), (x + size, y + size), (x + size / 2, y))
    else:
        points = ((x, y), (x + size, y), (x + size / 2, y + size))
    doc.polygon(points, style="F")


def draw_kpi(ctx: Context, el: KpiElement, data: ElementData, *, x: float, y: float) -> None:
    """A KPI card: label, value in its status colour, variation against the previous period, target.

    Value, variation, arrow and status come from :func:`portal.viz.cards.kpi_values` (the web
    card's rule) with the first row of the frame and of ``previous``.
    """
    k = el.kpi
    frame = data.frame
    if frame is None or k.value not in frame.columns:
        cols = [] if frame is None else [str(c) for c in frame.columns]
        raise unknown("column", k.value, cols, field="kpi.value")
    current = _number(_first(frame, k.value))
    previous = _number(_first(data.previous, k.value))
    shown = kpi_values(current, previous, k)
    value_text = localize(shown.text, ctx.symbols)
    doc, theme = ctx.doc, ctx.theme
    w, h = el.box.w, el.box.h
    doc.fill(blend(theme.accent, theme.background, 0.06))
    doc.stroke(theme.border)
    doc.set_line_width(0.3)
    doc.rect(x, y, w, h, "DF", round_corners=True, corner_radius=min(2.0, h / 4, w / 4))
    colors = DARK_STATUS_COLORS if theme.mode == "dark" else STATUS_COLORS
    status = colors.get(shown.status, theme.text_color)
    doc.fill(status if shown.status != "none" else theme.muted)
    doc.rect(x, y + 1, 1.4, max(h - 2, 0.5), "F")
    pad = 4.0
    inner = w - pad - 2.5
    label = k.label or (data.display.label(k.value) if data.display else humanise(k.value))
    small = max(6.0, theme.base_size - 1)
    cy = y + 2.5
    doc.font(small, "")
    doc.ink(theme.muted)
    doc.text(x + pad, cy + small / PT_PER_MM, doc.fit(label, inner))
    cy += doc.line_height(small, 1.5)
    lines_after = (1 if shown.variation is not None else 0) + (1 if k.target is not None else 0)
    room = h - (cy - y) - 2 - lines_after * doc.line_height(small, 1.4)
    big = max(8.0, min(28.0, room * PT_PER_MM / 1.15))
    doc.font(big, "B")
    # The value shrinks to the card's width rather than losing digits (the web card does the same).
    wide = doc.width_of(value_text)
    if wide > inner:
        big = max(6.0, big * inner / wide)
        doc.font(big, "B")
    doc.ink(status)
    doc.text(x + pad, cy + big / PT_PER_MM * 0.95, doc.fit(value_text, inner))
    cy += big / PT_PER_MM * 1.2
    doc.font(small, "")
    if shown.variation is not None:
        better = (shown.arrow == "up") == k.higher_is_better
        tone = theme.muted if shown.arrow == "flat" else (colors["good"] if better else colors["bad"])
        tri = small / PT_PER_MM * 0.7
        tx = x + pad
        if shown.arrow != "flat":
            doc.fill(tone)
            _triangle(doc, tx, cy + 0.3, tri, shown.arrow == "up")
            tx += tri + 1.2
        doc.ink(tone)
        change = localize(shown.variation_text, ctx.symbols)
        doc.text(tx, cy + small / PT_PER_MM * 0.95, doc.fit(f"{change} vs previous period", inner))
        cy += doc.line_height(small, 1.4)
    if k.target is not None:
        doc.ink(theme.muted)
        target = localize(format_value(k.target, k.format, k.decimals), ctx.symbols)
        doc.text(x + pad, cy + small / PT_PER_MM * 0.95, doc.fit(f"target {target}", inner))
    doc.ink(theme.text_color)


# --------------------------------------------------------------------------- shapes
def draw_line(ctx: Context, el: LineElement, *, x: float, y: float) -> None:
    """A line from the box's top-left to its bottom-right corner."""
    doc = ctx.doc
    doc.stroke(el.color or ctx.theme.muted)
    doc.set_line_width(el.width_mm)
    h = 0.0 if el.box.h < 0.01 else el.box.h
    doc.line(x, y, x + el.box.w, y + h)


def draw_rect(ctx: Context, el: RectElement, *, x: float, y: float) -> None:
    """A rectangle with optional stroke, fill and rounded corners."""
    doc = ctx.doc
    stroke = el.width_mm > 0 and (el.stroke is not None or el.fill is None)
    style = ("D" if stroke else "") + ("F" if el.fill else "")
    if not style:
        return
    if stroke:
        doc.stroke(el.stroke or ctx.theme.border)
        doc.set_line_width(el.width_mm)
    if el.fill:
        doc.fill(el.fill)
    r = min(el.radius_mm, el.box.w / 2, el.box.h / 2)
    doc.rect(x, y, el.box.w, el.box.h, style, round_corners=r > 0, corner_radius=r)


# --------------------------------------------------------------------------- table of contents
def toc_sizes(ctx: Context) -> tuple[float, float, float]:
    """(title size pt, title height mm, entry line height mm) of a table of contents."""
    size = ctx.theme.base_size + 4
    return size, ctx.doc.line_height(size, 1.8), ctx.doc.line_height(ctx.theme.base_size, 1.7)


def reserve_toc(
    ctx: Context, element_id: str, title: str, levels: int, count: int, *, x: float, width: float, start: Slot
) -> Slot:
    """Draw the contents' title and reserve ``count`` lines from ``start`` (over pages if needed);
    :func:`fill_tocs` writes them at the end. Returns where the reserved lines end."""
    doc, area = ctx.doc, ctx.area
    size, title_h, lh = toc_sizes(ctx)
    page, y = start.page, start.y
    doc.use_page(page)
    if title:
        doc.font(size, "B")
        doc.ink(ctx.theme.text_color)
        doc.text(x, y + size / PT_PER_MM, doc.fit(expand(title, ctx.variables, ctx.symbols), width))
        y += title_h
    res = TocReservation(element_id, x, width, levels, lh)
    for _ in range(count):
        if y + lh > area.bottom + 1e-6:
            page = doc.next_page(page)
            y = area.top
        res.slots.append(Slot(page, y))
        y += lh
    ctx.tocs.append(res)
    return Slot(page, y)


def fill_tocs(ctx: Context) -> None:
    """Write every reserved table of contents: headings in page order, dotted leaders, the real
    page numbers, each line a link to its heading."""
    if not ctx.tocs:
        return
    doc, theme = ctx.doc, ctx.theme
    marks = sorted(ctx.marks, key=lambda m: (m.page, m.y, m.order))
    size = theme.base_size
    for res in ctx.tocs:
        shown = [m for m in marks if m.level < res.levels]
        for slot, mark in zip(res.slots, shown, strict=False):
            doc.use_page(slot.page)
            indent = 6.0 * mark.level
            style = "B" if mark.level == 0 else ""
            doc.font(size, style)
            number = str(mark.page)
            num_w = doc.width_of(number)
            room = res.width - indent - num_w - 4
            label = doc.fit(mark.title, room)
            base = slot.y + (res.line_height + size / PT_PER_MM * 0.7) / 2
            doc.ink(theme.text_color)
            doc.text(res.x + indent, base, label)
            doc.text(res.x + res.width - num_w, base, number)
            lead_from = res.x + indent + doc.width_of(label) + 1.5
            lead_to = res.x + res.width - num_w - 1.5
            if lead_to > lead_from:
                doc.stroke(theme.muted)
                doc.set_line_width(0.2)
                with doc.local_context():
                    doc.set_dash_pattern(dash=0.3, gap=1.0)
                    doc.line(lead_from, base, lead_to, base)
            link = doc.add_link(page=mark.page, y=max(0.0, mark.y - 2))
            doc.link(res.x, slot.y, res.width, res.line_height, link)
        if len(shown) > len(res.slots):
            ctx.fail(
                res.element_id,
                f"{len(shown) - len(res.slots)} headings did not fit in the reserved contents",
                res.slots[-1].page if res.slots else 1,
            )


# --------------------------------------------------------------------------- header and footer
def _band(ctx: Context, band: Band, top: float, page: int, pages: int, line_at: float) -> None:
    doc, theme = ctx.doc, ctx.theme
    m = ctx.spec.page.margins
    x0, x1 = m.left, doc.w - m.right
    h = band.height_mm
    size = max(6.0, theme.base_size - 1)
    logo_w = 0.0
    logo_left = band.align != "right"
    if band.logo:
        asset = ctx.inputs.assets.get(band.logo)
        if asset is None:
            if page == 1 or not any(e.element_id == "theme.logo" for e in ctx.errors):
                ctx.fail("theme.logo", f"logo asset {band.logo!r} was not found", page)
        else:
            logo_w = min(h * 3, (x1 - x0) / 3)
            lx = x0 if logo_left else x1 - logo_w
            try:
                _place_image(ctx, asset, x=lx, y=top + 0.5, w=logo_w, h=max(h - 1, 1), contain=True)
            except Exception as exc:  # a broken logo must not lose the page
                logo_w = 0.0
                if not any(e.element_id == "theme.logo" for e in ctx.errors):
                    ctx.fail("theme.logo", f"logo asset {band.logo!r} could not be drawn: {exc}", page)
    tx0 = x0 + (logo_w + 3 if logo_w and logo_left else 0)
    tx1 = x1 - (logo_w + 3 if logo_w and not logo_left else 0)
    base = top + (h + size / PT_PER_MM * 0.7) / 2
    doc.font(size, "")
    doc.ink(theme.muted)
    text = expand(band.text, ctx.variables, ctx.symbols).replace("\n", " ").strip()
    label = ""
    if band.page_numbers:
        label = band.page_label.replace("{page}", str(page)).replace("{pages}", str(pages))
    label_w = doc.width_of(label) if label else 0.0
    label_right = not (text and band.align == "right")
    if label:
        lx = tx1 - label_w if label_right else tx0
        doc.text(lx, base, label)
        if label_right:
            tx1 -= label_w + 4
        else:
            tx0 += label_w + 4
    if text:
        text = doc.fit(text, tx1 - tx0)
        tw = doc.width_of(text)
        if band.align == "right":
            tx = tx1 - tw
        elif band.align == "center":
            tx = (tx0 + tx1 - tw) / 2
        else:
            tx = tx0
        doc.text(tx, base, text)
    doc.stroke(theme.border)
    doc.set_line_width(0.2)
    doc.line(x0, line_at, x1, line_at)
    doc.ink(theme.text_color)


def draw_bands(ctx: Context) -> None:
    """Header and footer on every page of a body template page (cover pages have none)."""
    theme = ctx.theme
    doc = ctx.doc
    header, footer = theme.header, theme.footer
    show_header, show_footer = band_visible(header), band_visible(footer)
    if not (show_header or show_footer):
        return
    m = ctx.spec.page.margins
    pages = doc.pages_count
    for page, kind in enumerate(doc.kinds, start=1):
        if kind == "cover":
            continue
        doc.use_page(page)
        if show_header:
            top = m.top
            _band(ctx, header, top, page, pages, top + header.height_mm + BAND_GAP / 2)
        if show_footer:
            top = doc.h - m.bottom - footer.height_mm
            _band(ctx, footer, top, page, pages, top - BAND_GAP / 2)
