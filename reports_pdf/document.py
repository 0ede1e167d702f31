"""The fpdf2 document of a render: paper, metadata, PDF/A, fonts, colours, and page switching.

Drawing is not strictly page after page: an element beside a table that ran three pages is
drawn on the table's first page afterwards, the table of contents is filled in once every
title's page is known, and the header and footer ("Página X de Y") are drawn last, when Y is
known, so no ``{nb}`` alias is needed and right-aligned page labels line up exactly.
fpdf2 writes to ``self.page`` and caches the graphics state it believes the page's content
stream has; :meth:`ReportDocument.use_page` keeps that belief true: an existing page is
entered inside ``q``/``Q`` and the line width, colours and font are re-emitted there.

Only this module touches fpdf2 internals (``_out``, ``current_font_is_set_on_page``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from typing import Any

from fpdf import FPDF
from fpdf import __version__ as fpdf_version
from fpdf.drawing_primitives import DeviceRGB

from portal.specs.pdf import PdfTemplateSpec, ThemeSpec
from reports_pdf.fonts import register_font
from reports_pdf.result import PageLimitExceeded

__all__ = ["PT_PER_MM", "ReportDocument", "blend", "pdfa_xmp", "rgb"]

PT_PER_MM = 72 / 25.4
#: Distinct (font, text) pairs remembered for widths and encodings before starting over.
_TEXT_CACHE = 20_000


@lru_cache(maxsize=512)
def rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an ``(r, g, b)`` tuple of 0-255 ints."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@lru_cache(maxsize=512)
def _rg(color: str) -> str:
    r, g, b = rgb(color)
    return f"{r / 255:.3f} {g / 255:.3f} {b / 255:.3f} rg"


@lru_cache(maxsize=512)
def blend(color: str, background: str, amount: float) -> str:
    """``amount`` (0-1) of ``color`` over ``background``, as ``#rrggbb``."""
    c, b = rgb(color), rgb(background)
    mixed = (round(cv * amount + bv * (1 - amount)) for cv, bv in zip(c, b, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def pdfa_xmp(
    *,
    title: str,
    author: str,
    subject: str,
    keywords: str,
    creator: str,
    producer: str,
    created: datetime,
    lang: str,
) -> str:
    """The XMP packet body of a PDF/A-2B document.

    fpdf2 builds one itself but stamps ``xmp:ModifyDate`` with the wall clock, which would make
    two renders with the same fixed creation date differ: here every date is ``created``.
    """

    def esc(text: str) -> str:
        return escape(text, quote=True).replace("'", "&apos;")

    when = esc(created.astimezone(UTC).isoformat(timespec="seconds"))
    parts = [
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="fpdf2">',
        '  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"',
        '    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"',
        '    xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">',
        '    <rdf:Description rdf:about=""',
        f'        xmp:CreatorTool="{esc(creator)}"',
        f'        xmp:CreateDate="{when}"',
        f'        xmp:ModifyDate="{when}"',
        f'        xmp:MetadataDate="{when}"',
        f'        pdf:Producer="{esc(producer)}"',
    ]
    if keywords:
        parts.append(f'        pdf:Keywords="{esc(keywords)}"')
    parts += [
        "      >",
        "      <pdfaid:part>2</pdfaid:part>",
        "      <pdfaid:conformance>B</pdfaid:conformance>",
        f'      <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{esc(title)}</rdf:li></rdf:Alt></dc:title>',
        f"      <dc:language><rdf:Bag><rdf:li>{esc(lang)}</rdf:li></rdf:Bag></dc:language>",
    ]
    if subject:
        parts.append(
            f'      <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc(subject)}</rdf:li>'
            "</rdf:Alt></dc:description>"
        )
    if author:
        parts.append(f"      <dc:creator><rdf:Seq><rdf:li>{esc(author)}</rdf:li></rdf:Seq></dc:creator>")
    parts += ["    </rdf:Description>", "  </rdf:RDF>", "</x:xmpmeta>"]
    return "\n".join(parts)


class ReportDocument(FPDF):
    """An FPDF with the template's paper, metadata and compliance, lazily registered fonts,
    colour setters that do nothing when the colour does not change, and page switching."""

    def __init__(
        self,
        spec: PdfTemplateSpec,
        theme: ThemeSpec,
        *,
        pdfa: bool,
        creation_date: datetime,
        max_pages: int,
    ) -> None:
        width, height = spec.page.dimensions()
        super().__init__(
            orientation="portrait",
            unit="mm",
            format=(width, height),
            enforce_compliance="PDF/A-2B" if pdfa else None,
        )
        m = spec.page.margins
        self.set_margins(m.left, m.top, m.right)
        self.set_auto_page_break(False, margin=m.bottom)
        self.set_creation_date(creation_date)
        info = spec.info
        self.set_title(info.title or spec.name)
        if info.author:
            self.set_author(info.author)
        if info.subject:
            self.set_subject(info.subject)
        if info.keywords:
            self.set_keywords(info.keywords)
        self.set_lang(info.lang)
        self.set_creator("Conductor BI")
        self.set_producer(f"fpdf2 {fpdf_version}")
        if pdfa:
            self.set_xmp_metadata(
                pdfa_xmp(
                    title=info.title or spec.name,
                    author=info.author,
                    subject=info.subject,
                    keywords=info.keywords,
                    creator="Conductor BI",
                    producer=f"fpdf2 {fpdf_version}",
                    created=creation_date,
                    lang=info.lang,
                )
            )
        if theme.mode == "dark" or theme.background.lower() != "#ffffff":
            r, g, b = rgb(theme.background)
            self.set_page_background(DeviceRGB(r / 255, g / 255, b / 255))
        self.theme = theme
        self.family = theme.font
        self.max_pages = max_pages
        #: Per physical page (index 0 = page 1): the kind of its template page.
        self.kinds: list[str] = []
        self._wrapped = False
        self._fill = ""
        self._stroke = ""
        self._ink = ""
        self._font: tuple[str, str, float] = ("", "", 0.0)
        self._encoded: dict[tuple[int, str], str] = {}
        self._units: dict[tuple[int, str], int] = {}
        self.ink(theme.text_color)

    # ------------------------------------------------------------------ pages
    def new_page(self, kind: str) -> int:
        """Add a physical page after the last one (``kind``: the template page's kind) and go there."""
        if self.pages_count >= self.max_pages:
            raise PageLimitExceeded(
                f"options.max_pages: the document needs more than {self.max_pages} pages",
                field="options.max_pages",
            )
        self._leave()
        self.page = self.pages_count
        self.add_page()
        self.kinds.append(kind)
        # add_page re-emitted fpdf2's cached state on the new page: ours is still true.
        return self.page

    def next_page(self, page: int) -> int:
        """The page after ``page`` (created, with ``page``'s kind, when it does not exist yet)."""
        if page + 1 <= self.pages_count:
            self.use_page(page + 1)
        else:
            self.new_page(self.kinds[page - 1] if page >= 1 else "body")
        return page + 1

    def ensure_page(self, page: int) -> None:
        """Go to ``page``, creating the pages up to it (with the last page's kind)."""
        while self.pages_count < page:
            self.new_page(self.kinds[-1] if self.kinds else "body")
        self.use_page(page)

    def use_page(self, page: int) -> None:
        """Draw on the existing ``page`` from now on (see the module docstring)."""
        if page == self.page:
            return
        self._leave()
        self.page = page
        self._out("q")
        self._wrapped = True
        self._out(f"{self.line_width * self.k:.2f} w")
        if self.draw_color is not None:
            self._out(self.draw_color.serialize().upper())
        if self.fill_color is not None:
            self._out(self.fill_color.serialize().lower())
        self.current_font_is_set_on_page = False

    def _leave(self) -> None:
        if self._wrapped:
            self._out("Q")
            self._wrapped = False

    def finish(self) -> bytes:
        """The PDF bytes (closes the page being drawn on)."""
        self._leave()
        self.page = self.pages_count
        return bytes(self.output())

    # ------------------------------------------------------------------ state
    def font(self, size: float, style: str = "", family: str | None = None) -> None:
        """Select the theme font (or ``family``) in ``style`` at ``size`` pt, if not already selected."""
        fam = family or self.family
        want = (fam, style, size)
        if want == self._font and self.current_font is not None:
            return
        key = register_font(self, fam, style)
        self.set_font(key, style, size)
        self._font = want

    def fill(self, color: str) -> None:
        """Set the fill colour (``#rrggbb``) when it changes."""
        if color != self._fill:
            self.set_fill_color(*rgb(color))
            self._fill = color

    def stroke(self, color: str) -> None:
        """Set the line colour (``#rrggbb``) when it changes."""
        if color != self._stroke:
            self.set_draw_color(*rgb(color))
            self._stroke = color

    def ink(self, color: str) -> None:
        """Set the text colour (``#rrggbb``) when it changes."""
        if color != self._ink:
            self.set_text_color(*rgb(color))
            self._ink = color

    # ------------------------------------------------------------------ text
    def width_of(self, text: str) -> float:
        """Width in mm of ``text`` in the current font (a sum of glyph widths: no shaping, no kerning,
        which is what ``text()`` draws)."""
        font: Any = self.current_font
        key = (font.i, text)
        units = self._units.get(key)
        if units is None:
            if len(self._units) > _TEXT_CACHE:
                self._units.clear()
            units = self._units[key] = sum(map(font.cw.__getitem__, map(ord, text)))
        return float(units) * self.font_size_pt / 1000 / PT_PER_MM

    def _encoded_text(self, font: Any, text: str) -> str:
        key = (font.i, text)
        encoded = self._encoded.get(key)
        if encoded is None:
            if len(self._encoded) > _TEXT_CACHE:
                self._encoded.clear()
            # Table columns repeat their values (regions, dates, small counts): encode each once.
            encoded = self._encoded[key] = str(font.encode_text(text))
        return encoded

    def put_row(self, y: float, cells: list[tuple[float, str, str]]) -> None:
        """Texts ``(x, text, colour)`` on one baseline ``y`` as a single text object: the hot path
        of tables (one content-stream write per row instead of one ``text()`` call per cell)."""
        if not cells:
            return
        font: Any = self.current_font
        if not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(font, self.font_size_pt))
        k = self.k
        py = f"{(self.h - y) * k:.2f}"
        parts = ["BT"]
        colour = self._fill
        for x, text, ink in cells:
            if ink != colour:
                parts.append(_rg(ink))
                colour = ink
            parts.append(f"1 0 0 1 {x * k:.2f} {py} Tm {self._encoded_text(font, text)}")
        if colour != self._fill:
            # Colours set inside a text object outlive it: give the fill back.
            parts.append(_rg(self._fill))
        parts.append("ET")
        self._out(" ".join(parts))

    def put_text(self, x: float, y: float, text: str) -> None:
        """``text()`` for the hot path of tables: the same operators without fpdf2's per-call
        checks (core-font encoding, underline, text-mode, quad points), which never apply here."""
        if not self.current_font_is_set_on_page:
            self.text(x, y, text)
            return
        font: Any = self.current_font
        encoded = self._encoded_text(font, text)
        k = self.k
        op = f"BT {x * k:.2f} {(self.h - y) * k:.2f} Td {encoded} ET"
        if self._ink != self._fill:
            op = f"q {_rg(self._ink)} {op} Q"
        self._out(op)

    def fit(self, text: str, width: float) -> str:
        """``text`` cut with an ellipsis so it is at most ``width`` mm wide in the current font."""
        if width <= 0:
            return ""
        if self.width_of(text) <= width:
            return text
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.width_of(text[:mid] + "…") <= width:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + "…" if lo else ""

    def line_height(self, size: float, factor: float = 1.35) -> float:
        """The line pitch in mm of ``size`` pt text."""
        return size / PT_PER_MM * factor
