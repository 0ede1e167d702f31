"""``render(spec, inputs)``: the template's pages, element by element, into one PDF.

Order of work: every section's groups are found first (the table of contents counts its
lines up front, so it reserves exactly the room it needs and every page number is final);
then each template page starts a new physical page and its elements are drawn in the order
of their ``box.y`` through a :class:`~reports_pdf.layout.Flow`; at the end the contents are
filled in and the header and footer drawn on every non-cover page.

An element that cannot be drawn -- its data failed, an asset is missing, a column is unknown,
Kaleido is down -- becomes an error box in its place, listed in ``RenderResult.errors``; the
rest renders. Only :class:`~reports_pdf.result.PageLimitExceeded` stops a render.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from portal.errors import PortalError
from portal.pdf.inputs import ElementData, RenderInput
from portal.specs.pdf import (
    ChartElement,
    ImageElement,
    KpiElement,
    LineElement,
    PdfTemplateSpec,
    RectElement,
    SectionElement,
    TableElement,
    TextElement,
    TitleElement,
    TocElement,
)
from portal.viz.formats import number_symbols
from reports_pdf.context import Context, page_areas
from reports_pdf.document import PT_PER_MM, ReportDocument
from reports_pdf.elements import (
    clean_message,
    draw_bands,
    draw_chart,
    draw_error,
    draw_image,
    draw_kpi,
    draw_line,
    draw_paragraph,
    draw_rect,
    fill_tocs,
    place_charts,
    reserve_toc,
    toc_sizes,
)
from reports_pdf.layout import Anchor, Flow, Slot
from reports_pdf.result import PageLimitExceeded, RenderResult, TocEntry
from reports_pdf.sections import BLANK, GroupIndex, section_groups
from reports_pdf.tables import draw_table, table_first_height
from reports_pdf.variables import document_variables, expand

__all__ = ["render"]

#: Levels of headings inside a section band: the band's title is 1, its title children 2.
GROUP_LEVEL = 1
CHILD_TITLE_LEVEL = 2
_KINDS = {
    "title": "title",
    "text": "text",
    "image": "image",
    "chart": "chart",
    "table": "table",
    "kpi": "KPI",
    "section": "section",
    "toc": "contents",
    "line": "line",
    "rect": "rectangle",
}
DataFor = Callable[[Any], ElementData | None]


def render(spec: PdfTemplateSpec, inputs: RenderInput) -> RenderResult:
    """Draw ``spec`` with ``inputs`` (rows per element id, assets, variables, options) as a PDF.

    Never raises for bad data (see the module docstring); raises ``PageLimitExceeded`` when
    the document would pass ``inputs.options.max_pages``.
    """
    options = inputs.options
    created = options.creation_date or datetime.now(UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    pdfa = spec.pdfa if options.pdfa is None else options.pdfa
    theme = spec.theme
    doc = ReportDocument(spec, theme, pdfa=pdfa, creation_date=created, max_pages=options.max_pages)
    ctx = Context(
        spec=spec,
        theme=theme,
        inputs=inputs,
        doc=doc,
        variables=document_variables(spec, inputs, options.creation_date or datetime.now()),
        areas=page_areas(spec, theme),
        preview=options.preview,
        symbols=number_symbols(spec.info.lang),
    )
    for _, el, _ in spec.elements():
        if isinstance(el, SectionElement):
            ctx.groups[el.id] = section_groups(el, inputs.data.get(el.id))

    def top_data(el: Any) -> ElementData | None:
        return inputs.data.get(el.id)

    try:
        for page in spec.pages:
            ctx.kind = page.kind
            first = doc.new_page(page.kind)
            flow = Flow(Anchor(first, 0.0), ctx.area, pinned=True)
            draw_canvas(ctx, page.elements, flow, 0.0, top_data)
        place_charts(ctx)
    finally:
        ctx.exporter.close()
    fill_tocs(ctx)
    draw_bands(ctx)
    pdf = doc.finish()
    marks = sorted(ctx.marks, key=lambda m: (m.page, m.y, m.order))
    toc = [TocEntry(m.title, m.level, m.page) for m in marks]
    errors = sorted(ctx.errors, key=lambda e: e.page)
    return RenderResult(pdf=pdf, pages=doc.pages_count, errors=errors, toc=toc)


def draw_canvas(
    ctx: Context, elements: Sequence[Any], flow: Flow, origin_x: float, data_for: DataFor
) -> None:
    """Draw ``elements`` (of a template page or a section band) in the order of their ``box.y``."""
    order = sorted(enumerate(elements), key=lambda ie: (ie[1].box.y, ie[1].kind != "page_break", ie[0]))
    for _, el in order:
        if el.kind == "page_break":
            flow.page_break(el.box.y)
            continue
        draw_element(ctx, el, flow, origin_x, data_for)


def _message(exc: BaseException) -> str:
    if isinstance(exc, PortalError):
        return exc.message
    text = clean_message(exc)
    return text if isinstance(exc, LookupError | ValueError | _NoData) else f"{type(exc).__name__}: {text}"


class _NoData(Exception):
    """A data element without usable data (its binding failed or gave nothing)."""


def _element_data(el: Any, data_for: DataFor) -> ElementData:
    data = data_for(el)
    if data is None:
        raise _NoData(f"no data was given for element {el.id!r}")
    if data.error:
        raise _NoData(data.error)
    return data


def _first_height(ctx: Context, el: Any) -> float:
    """The room an element needs before it may break (a fixed element: all of it)."""
    doc, theme = ctx.doc, ctx.theme
    if isinstance(el, TitleElement):
        return doc.line_height(el.size or theme.title_size)
    if isinstance(el, TextElement):
        return doc.line_height(el.size or theme.base_size)
    if isinstance(el, TableElement):
        return table_first_height(el, theme)
    if isinstance(el, TocElement):
        _, title_h, lh = toc_sizes(ctx)
        return title_h + lh
    if isinstance(el, SectionElement):
        strip = _strip_height(ctx, el)
        return strip + min(el.box.h, ctx.area.height - strip)
    if isinstance(el, LineElement):
        return max(el.box.h, 0.0)
    return float(el.box.h)


def draw_element(ctx: Context, el: Any, flow: Flow, origin_x: float, data_for: DataFor) -> None:
    """Place one element through ``flow`` and draw it, or an error box in its place."""
    doc = ctx.doc
    x = origin_x + el.box.x
    slot = flow.place(el.box.y, _first_height(ctx, el))
    doc.ensure_page(slot.page)
    bottom = el.box.y + el.box.h
    try:
        end = _draw(ctx, el, flow, x, slot, data_for)
    except PageLimitExceeded:
        raise
    except Exception as exc:
        message = _message(exc)
        doc.use_page(slot.page)
        w = el.box.w
        h = draw_error(ctx, el.id, _KINDS.get(el.kind, el.kind), message, x=x, y=slot.y, w=w, h=el.box.h)
        ctx.fail(el.id, message, slot.page)
        end = Slot(slot.page, slot.y + h)
    flow.reach(end)
    flow.grew(bottom, end)


def _draw(ctx: Context, el: Any, flow: Flow, x: float, slot: Slot, data_for: DataFor) -> Slot:
    theme = ctx.theme
    fixed_end = Slot(slot.page, slot.y + el.box.h)
    if isinstance(el, TitleElement):
        text = expand(el.text, ctx.variables, ctx.symbols)
        first, end = draw_paragraph(
            ctx,
            text,
            x=x,
            width=el.box.w,
            start=slot,
            size=el.size or theme.title_size,
            style="B",
            color=el.color,
            align=el.align,
            line_factor=1.25,
        )
        if el.in_toc:
            level = el.level if flow.pinned else max(el.level, CHILD_TITLE_LEVEL)
            ctx.mark(text.replace("\n", " "), level, first.page, first.y)
        return end
    if isinstance(el, TextElement):
        style = ("B" if el.bold else "") + ("I" if el.italic else "")
        _, end = draw_paragraph(
            ctx,
            expand(el.text, ctx.variables, ctx.symbols),
            x=x,
            width=el.box.w,
            start=slot,
            size=el.size or theme.base_size,
            style=style,
            color=el.color,
            align=el.align,
        )
        return end
    if isinstance(el, ImageElement):
        draw_image(ctx, el, x=x, y=slot.y)
        return fixed_end
    if isinstance(el, ChartElement):
        draw_chart(ctx, el, _element_data(el, data_for), x=x, y=slot.y)
        return fixed_end
    if isinstance(el, KpiElement):
        draw_kpi(ctx, el, _element_data(el, data_for), x=x, y=slot.y)
        return fixed_end
    if isinstance(el, TableElement):
        data = _element_data(el, data_for)
        area = ctx.area
        return draw_table(
            ctx.doc,
            el,
            data,
            theme,
            x=x,
            width=el.box.w,
            start=slot,
            top=area.top,
            bottom=area.bottom,
            symbols=ctx.symbols,
        )
    if isinstance(el, SectionElement):
        return draw_section(ctx, el, x, slot, data_for)
    if isinstance(el, TocElement):
        count = toc_lines(ctx, el.levels)
        return reserve_toc(ctx, el.id, el.title, el.levels, count, x=x, width=el.box.w, start=slot)
    if isinstance(el, LineElement):
        draw_line(ctx, el, x=x, y=slot.y)
        return Slot(slot.page, slot.y + max(el.box.h, 0.0))
    if isinstance(el, RectElement):
        draw_rect(ctx, el, x=x, y=slot.y)
        return fixed_end
    raise ValueError(f"element kind {el.kind!r} is not drawn here")


# --------------------------------------------------------------------------- sections
def _strip_size(ctx: Context) -> float:
    theme = ctx.theme
    return max(theme.base_size + 3, theme.title_size * 0.7)


def _strip_height(ctx: Context, sec: SectionElement) -> float:
    return ctx.doc.line_height(_strip_size(ctx), 1.6) if sec.title.strip() else 0.0


def _group_title(sec: SectionElement, variables: dict[str, Any], label: str, symbols: tuple[str, str]) -> str:
    title = expand(sec.title, variables, symbols).replace("\n", " ").strip()
    return title or label


def draw_section(ctx: Context, sec: SectionElement, x: float, start: Slot, data_for: DataFor) -> Slot:
    """One band per group: optional page break before each group after the first, the group's
    title (a level-1 heading), then the children on rows cut to the group. Returns the end."""
    groups, error = ctx.groups[sec.id]
    if error:
        raise _NoData(error)
    doc, area = ctx.doc, ctx.area
    section_data = data_for(sec)
    index = GroupIndex(sec.group_by)
    strip = _strip_height(ctx, sec)
    size = _strip_size(ctx)
    need = strip + min(sec.box.h, area.height - strip)
    base_vars = ctx.variables
    cur = start
    if not groups:
        doc.use_page(cur.page)
        doc.font(ctx.theme.base_size, "I")
        doc.ink(ctx.theme.muted)
        doc.text(x, cur.y + doc.line_height(ctx.theme.base_size), "No groups in the data")
        doc.ink(ctx.theme.text_color)
        return Slot(cur.page, cur.y + doc.line_height(ctx.theme.base_size, 1.6))
    try:
        for i, group in enumerate(groups):
            fits = cur.y + need <= area.bottom + 0.01 or cur.y <= area.top + 0.01
            if (i > 0 and sec.page_break_before) or not fits:
                cur = Slot(doc.next_page(cur.page), area.top)
            value = group.value if group.value is not None else BLANK
            ctx.variables = {**base_vars, "group.value": value}
            top = cur.y
            doc.use_page(cur.page)
            if strip:
                title = _group_title(sec, ctx.variables, group.label, ctx.symbols)
                doc.font(size, "B")
                doc.ink(ctx.theme.accent)
                doc.text(x, top + size / PT_PER_MM * 1.05, doc.fit(title, sec.box.w))
                doc.ink(ctx.theme.text_color)
                if sec.in_toc:
                    ctx.mark(title, GROUP_LEVEL, cur.page, top)
            band = Flow(Anchor(cur.page, top + strip), area, pinned=False)
            draw_canvas(
                ctx, sec.children, band, x, _child_data(sec, section_data, index, group.value, data_for)
            )
            cur = band.extent(sec.box.h)
    finally:
        ctx.variables = base_vars
    return cur


def _child_data(
    sec: SectionElement, section_data: ElementData | None, index: GroupIndex, value: Any, data_for: DataFor
) -> DataFor:
    def child(el: Any) -> ElementData | None:
        data = data_for(el)
        if data is None and getattr(el, "binding", None) is None:
            data = section_data
        return None if data is None else index.cut(data, value)

    return child


def toc_lines(ctx: Context, levels: int) -> int:
    """How many headings of level < ``levels`` the document will have (known before drawing:
    titles are static and every section's groups are counted up front)."""
    n = 0
    for page in ctx.spec.pages:
        for el in page.elements:
            if isinstance(el, TitleElement) and el.in_toc and el.level < levels:
                n += 1
            elif isinstance(el, SectionElement):
                groups = len(ctx.groups[el.id][0])
                if el.in_toc and el.title.strip() and levels > GROUP_LEVEL:
                    n += groups
                if levels > CHILD_TITLE_LEVEL:
                    titles = sum(1 for c in el.children if isinstance(c, TitleElement) and c.in_toc)
                    n += titles * groups
    return n
