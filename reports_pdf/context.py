"""The state of one render shared by the element painters: document, theme, variables, errors, contents.

Where the header and footer go: inside the margins. The header band runs from ``margins.top``
down ``header.height_mm``, the footer band ends at ``margins.bottom``; content that flows onto
a new body page (table rows, text, section bands) starts 2 mm below the header and stops 2 mm
above the footer. Elements keep their designed boxes (mm from the paper's corner): the
designer keeps them off the bands. A band that draws nothing (no text, logo or page numbers)
takes no room; cover pages have no bands.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from portal.pdf.inputs import RenderInput
from portal.specs.pdf import Band, PdfTemplateSpec, ThemeSpec
from portal.viz.formats import EN_SYMBOLS
from reports_pdf.charts import Exporter
from reports_pdf.document import ReportDocument
from reports_pdf.layout import Area, Slot
from reports_pdf.result import ElementError

__all__ = [
    "BAND_GAP",
    "Context",
    "PendingChart",
    "TocMark",
    "TocReservation",
    "band_visible",
    "page_areas",
]

#: Space (mm) between a header/footer band and the content.
BAND_GAP = 2.0


def band_visible(band: Band) -> bool:
    """Whether a header/footer band draws anything (and so takes room on body pages)."""
    return band.height_mm > 0 and bool(band.text.strip() or band.logo or band.page_numbers)


def page_areas(spec: PdfTemplateSpec, theme: ThemeSpec) -> dict[str, Area]:
    """The content area of cover and body pages: body pages leave room for the header and footer."""
    _, height = spec.page.dimensions()
    m = spec.page.margins
    cover = Area(m.top, height - m.bottom)
    top = m.top + (theme.header.height_mm + BAND_GAP if band_visible(theme.header) else 0)
    bottom = height - m.bottom - (theme.footer.height_mm + BAND_GAP if band_visible(theme.footer) else 0)
    # A band taller than the page leaves at least 10 mm of content (the spec allows 60 mm bands).
    if bottom - top < 10:
        top, bottom = cover.top, cover.bottom
    return {"cover": cover, "body": Area(top, bottom)}


@dataclass(frozen=True)
class TocMark:
    """A heading as drawn: its text, level, where it is (for the page number and the link)."""

    title: str
    level: int
    page: int
    y: float
    order: int


@dataclass
class TocReservation:
    """The lines a table-of-contents element reserved, filled once every heading's page is known."""

    element_id: str
    x: float
    width: float
    levels: int
    line_height: float
    slots: list[Slot] = field(default_factory=list)


@dataclass(frozen=True)
class PendingChart:
    """A chart whose image is being exported: placed at the end, in document order."""

    element_id: str
    page: int
    x: float
    y: float
    w: float
    h: float
    image: Future[bytes]


@dataclass
class Context:
    """Everything the painters share during one render."""

    spec: PdfTemplateSpec
    theme: ThemeSpec
    inputs: RenderInput
    doc: ReportDocument
    variables: dict[str, Any]
    areas: dict[str, Area]
    preview: bool = False
    kind: str = "body"
    #: Decimal and thousands separators of the document's language (``info.lang``).
    symbols: tuple[str, str] = EN_SYMBOLS
    errors: list[ElementError] = field(default_factory=list)
    marks: list[TocMark] = field(default_factory=list)
    tocs: list[TocReservation] = field(default_factory=list)
    #: Section id -> its groups (computed once: the table of contents counts them up front).
    groups: dict[str, Any] = field(default_factory=dict)
    exporter: Exporter = field(default_factory=Exporter)
    charts: list[PendingChart] = field(default_factory=list)

    @property
    def area(self) -> Area:
        """The content area of the template page being drawn."""
        return self.areas[self.kind]

    def fail(self, element_id: str, message: str, page: int) -> None:
        """Record that ``element_id`` was drawn as an error box on ``page``."""
        self.errors.append(ElementError(element_id, message, page))

    def mark(self, title: str, level: int, page: int, y: float) -> None:
        """Record a heading for the table of contents and the PDF outline."""
        self.marks.append(TocMark(title, level, page, y, len(self.marks)))
        doc = self.doc
        doc.use_page(page)
        doc.set_y(y)
        # No section_title_styles are set, so fpdf2 only records the outline entry here.
        doc.start_section(title[:200], level=level, strict=False)
