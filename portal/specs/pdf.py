"""The PDF template spec: page setup, theme, pages of elements boxed in millimetres, data bindings.

One versioned JSON document, edited by the designer (``/designer``), stored per version in
``pdf_template_versions`` and drawn by the pure renderer in ``reports_pdf``.

Layout model (what the renderer does with it):

* Each entry of ``pages`` is a *template page*: a canvas whose elements sit at their ``box``
  (mm from the paper's top-left corner). A ``cover`` page shows no header and footer.
* Tables and sections *flow*: when their rows do not fit the box they continue on the next
  physical page (the table header repeated), and every element of the same template page
  that starts below the grown element moves down by the growth. ``page_break`` starts a new
  physical page at its ``box.y``.
* A ``section`` is a band repeated once per distinct value of ``group_by`` in its binding's
  result; its ``children`` have boxes relative to the band's top-left corner, see only the
  rows of their group, and may say ``{{group.value}}``.
* Text may hold variables: ``{{customer.name}}``, ``{{period.start|date}}``,
  ``{{now|datetime}}``, ``{{brand.company}}``, ``{{params.region}}``, ``{{vars.note}}``,
  ``{{group.value}}``, ``{{template.name}}``, ``{{user.name}}``; filters ``date``,
  ``datetime``, ``number``, ``integer``, ``percent``, ``currency``, ``upper``, ``lower``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from portal.specs.base import Name, Scalar, _Spec, invalid_from_validation
from portal.specs.dashboard import DashboardFilters
from portal.specs.query import QuerySpec
from portal.specs.widget import ChartSpec, KpiSpec

#: Paper sizes in millimetres, portrait (width, height).
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "Letter": (215.9, 279.4),
    "Legal": (215.9, 355.6),
}
#: The TTF families shipped in ``reports_pdf/fonts`` (they cover Portuguese accents).
FONT_FAMILIES: tuple[str, ...] = ("DejaVu Sans", "DejaVu Serif", "Open Sans")
FontFamily = Literal["DejaVu Sans", "DejaVu Serif", "Open Sans"]
#: Every element kind, in the order the designer's palette lists them.
ELEMENT_KINDS: tuple[str, ...] = (
    "title",
    "text",
    "image",
    "chart",
    "table",
    "kpi",
    "section",
    "toc",
    "page_break",
    "line",
    "rect",
)
#: ``{{ name }}`` or ``{{ name | filter }}``: the variable syntax of template text.
VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\|\s*([a-z_]+)\s*)?\}\}")
VARIABLE_FILTERS: tuple[str, ...] = (
    "date",
    "datetime",
    "number",
    "integer",
    "percent",
    "currency",
    "upper",
    "lower",
)
MAX_ELEMENTS = 300  #: elements in one template, section children included
MAX_PAGES = 100  #: template pages (a render may produce many more physical pages)
MAX_TEXT = 20_000  #: characters in one text element

Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="#rrggbb")]
Mm = Annotated[float, Field(ge=0, le=2000)]
ElementId = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")]
Align = Literal["left", "center", "right"]


def _check_variables(text: str) -> str:
    """Reject unknown filters in ``{{ x | filter }}`` (unknown *names* render as the placeholder)."""
    for m in VARIABLE_RE.finditer(text):
        if m.group(2) and m.group(2) not in VARIABLE_FILTERS:
            raise ValueError(
                f"unknown filter {m.group(2)!r} in {m.group(0)!r} (use one of {', '.join(VARIABLE_FILTERS)})"
            )
    return text


# --------------------------------------------------------------------------- page and theme
class Margins(_Spec):
    """Page margins in mm."""

    top: float = Field(default=15, ge=0, le=100)
    right: float = Field(default=15, ge=0, le=100)
    bottom: float = Field(default=15, ge=0, le=100)
    left: float = Field(default=15, ge=0, le=100)


class PageSetup(_Spec):
    """Paper size (``custom`` takes ``width_mm``/``height_mm``), orientation, margins, snap grid."""

    size: Literal["A4", "Letter", "Legal", "custom"] = "A4"
    width_mm: float | None = Field(default=None, ge=50, le=2000)
    height_mm: float | None = Field(default=None, ge=50, le=2000)
    orientation: Literal["portrait", "landscape"] = "portrait"
    margins: Margins = Margins()
    grid_mm: float = Field(default=5, ge=0, le=50, description="snap grid; 0 turns snapping off")

    @model_validator(mode="after")
    def _custom(self) -> PageSetup:
        if self.size == "custom" and (self.width_mm is None or self.height_mm is None):
            raise ValueError("a custom page size needs width_mm and height_mm")
        w, h = self.dimensions()
        m = self.margins
        if m.left + m.right >= w - 20 or m.top + m.bottom >= h - 20:
            raise ValueError("margins leave less than 20 mm of content width or height")
        return self

    def dimensions(self) -> tuple[float, float]:
        """``(width, height)`` of the paper in mm, orientation applied."""
        if self.size == "custom":
            w, h = float(self.width_mm or 0), float(self.height_mm or 0)
        else:
            w, h = PAGE_SIZES[self.size]
        if (self.orientation == "landscape") != (w > h):
            w, h = h, w
        return w, h


class Band(_Spec):
    """A header or footer: text with variables, an optional logo asset, page numbers."""

    text: str = Field(default="", max_length=500)
    logo: str | None = Field(default=None, max_length=120, description="asset name")
    page_numbers: bool = False
    page_label: str = Field(default="Página {page} de {pages}", max_length=80)
    height_mm: float = Field(default=12, ge=0, le=60)
    align: Align = "left"

    _vars = field_validator("text")(classmethod(lambda cls, v: _check_variables(v)))

    @field_validator("page_label")
    @classmethod
    def _label(cls, v: str) -> str:
        rest = v.replace("{page}", "").replace("{pages}", "")
        if "{" in rest or "}" in rest:
            raise ValueError("the page label may only hold {page} and {pages}")
        return v


DEFAULT_PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16", "#ec4899"]


class ThemeSpec(_Spec):
    """Colours, fonts, header and footer, brand variables; saved and reused by name."""

    name: str = Field(default="Light", min_length=1, max_length=80)
    mode: Literal["light", "dark"] = "light"
    font: FontFamily = "DejaVu Sans"
    base_size: float = Field(default=10, ge=6, le=24, description="pt")
    title_size: float = Field(default=20, ge=8, le=72, description="pt")
    text_color: Color = "#1e293b"
    background: Color = "#ffffff"
    accent: Color = "#2563eb"
    muted: Color = "#64748b"
    border: Color = "#cbd5e1"
    table_header_bg: Color = "#1e3a8a"
    table_header_fg: Color = "#ffffff"
    table_stripe: Color = "#f1f5f9"
    palette: list[Color] = Field(default_factory=lambda: list(DEFAULT_PALETTE), min_length=1, max_length=20)
    header: Band = Band()
    footer: Band = Band(page_numbers=True, align="right")
    brand: dict[VarName, Annotated[str, Field(max_length=500)]] = Field(default_factory=dict, max_length=30)


DARK_THEME = ThemeSpec(
    name="Dark",
    mode="dark",
    text_color="#e2e8f0",
    background="#0f172a",
    accent="#38bdf8",
    muted="#94a3b8",
    border="#334155",
    table_header_bg="#1e293b",
    table_header_fg="#f8fafc",
    table_stripe="#1e293b",
)


# --------------------------------------------------------------------------- data
class Binding(_Spec):
    """Where a data element's rows come from: a saved report or an inline query.

    The caller's row scope is always applied; the template's ``filters`` and run-time
    ``params`` too. ``params`` here are fixed values for this binding's query params.
    """

    report_id: int | None = Field(default=None, ge=1)
    query: QuerySpec | None = None
    params: dict[VarName, Scalar | list[Scalar]] = Field(default_factory=dict, max_length=50)

    @model_validator(mode="after")
    def _one(self) -> Binding:
        if (self.report_id is None) == (self.query is None):
            raise ValueError("give exactly one of report_id or query")
        return self


class Box(_Spec):
    """Position and size in mm from the paper's top-left corner (a section child: the band's)."""

    x: Mm = 0
    y: Mm = 0
    w: float = Field(default=50, gt=0, le=2000)
    h: float = Field(default=20, gt=0, le=2000)


class ColorRule(_Spec):
    """Conditional colour of a table cell: ``value <op> than`` paints ``color`` / ``fill``."""

    op: Literal["<", "<=", ">", ">=", "=", "!="]
    than: float | str
    color: Color | None = None
    fill: Color | None = None


class TableColumn(_Spec):
    """One table column: label, number/date format, relative width, alignment, colour rules."""

    name: Name
    label: str | None = Field(default=None, max_length=120)
    format: Literal[
        "auto", "text", "number", "integer", "percent", "currency", "date", "datetime",
        "duration_h", "duration_min", "duration_s",
    ] = "auto"  # fmt: skip
    decimals: int | None = Field(default=None, ge=0, le=6)
    width: float = Field(default=1, gt=0, le=100, description="relative width")
    align: Literal["auto", "left", "center", "right"] = "auto"
    rules: list[ColorRule] = Field(default_factory=list, max_length=10)


# --------------------------------------------------------------------------- elements
class _Element(_Spec):
    id: ElementId
    box: Box = Box()


class TitleElement(_Element):
    """A heading; listed in the table of contents at ``level``."""

    kind: Literal["title"] = "title"
    text: str = Field(min_length=1, max_length=500)
    size: float | None = Field(default=None, ge=6, le=96, description="pt; default: theme.title_size")
    align: Align = "left"
    color: Color | None = None
    level: int = Field(default=0, ge=0, le=2)
    in_toc: bool = True

    _vars = field_validator("text")(classmethod(lambda cls, v: _check_variables(v)))


class TextElement(_Element):
    """A paragraph (wrapped in its box) with variables; ``**bold**`` is not parsed: use ``bold``."""

    kind: Literal["text"] = "text"
    text: str = Field(default="", max_length=MAX_TEXT)
    size: float | None = Field(default=None, ge=5, le=72)
    align: Literal["left", "center", "right", "justify"] = "left"
    color: Color | None = None
    bold: bool = False
    italic: bool = False

    _vars = field_validator("text")(classmethod(lambda cls, v: _check_variables(v)))


class ImageElement(_Element):
    """An uploaded image (a logo) by asset name, fitted into its box."""

    kind: Literal["image"] = "image"
    asset: str = Field(min_length=1, max_length=120)
    fit: Literal["contain", "stretch"] = "contain"


class ChartElement(_Element):
    """A chart of a binding's result: the same ``ChartSpec`` the dashboards draw."""

    kind: Literal["chart"] = "chart"
    binding: Binding | None = None
    chart: ChartSpec


class TableElement(_Element):
    """Rows of a binding's result; flows over pages with the header repeated; subtotals and
    totals re-aggregated by each metric's own rule (re-run by the warehouse, never summed)."""

    kind: Literal["table"] = "table"
    binding: Binding | None = None
    columns: list[TableColumn] = Field(default_factory=list, max_length=50, description="empty: every column")
    subtotals_by: str | None = None
    totals: bool = True
    repeat_header: bool = True
    font_size: float | None = Field(default=None, ge=5, le=24)
    max_rows: int = Field(default=100_000, ge=1, le=1_000_000)


class KpiElement(_Element):
    """A KPI card: the value of the ungrouped result, the previous period and the status
    (the web card's rule, ``portal.viz.cards.kpi_values``)."""

    kind: Literal["kpi"] = "kpi"
    binding: Binding | None = None
    kpi: KpiSpec


class TocElement(_Element):
    """The table of contents: titles and sections with their page numbers, linked."""

    kind: Literal["toc"] = "toc"
    title: str = Field(default="Sumário", max_length=120)
    levels: int = Field(default=2, ge=1, le=3)


class PageBreakElement(_Element):
    """Content from ``box.y`` on goes to a new physical page."""

    kind: Literal["page_break"] = "page_break"


class LineElement(_Element):
    """A line from the box's top-left to its bottom-right corner (``h=0``: horizontal)."""

    kind: Literal["line"] = "line"
    box: Box = Box(h=0.001)
    color: Color | None = None
    width_mm: float = Field(default=0.3, gt=0, le=10)


class RectElement(_Element):
    """A rectangle: stroke, fill, rounded corners."""

    kind: Literal["rect"] = "rect"
    stroke: Color | None = None
    fill: Color | None = None
    width_mm: float = Field(default=0.3, ge=0, le=10)
    radius_mm: float = Field(default=0, ge=0, le=50)


ChildElement = Annotated[
    TitleElement
    | TextElement
    | ImageElement
    | ChartElement
    | TableElement
    | KpiElement
    | LineElement
    | RectElement,
    Field(discriminator="kind"),
]


class SectionElement(_Element):
    """A band repeated per value of ``group_by`` in the binding's result (``box.h`` is the
    band's height; ``children`` sit relative to it and see only their group's rows).

    A child without a binding shows the section's own rows; a child with one gets the
    section's column added to its grouping, then filtered to the group.
    """

    kind: Literal["section"] = "section"
    binding: Binding
    group_by: Name
    title: str = Field(default="{{group.value}}", max_length=200)
    page_break_before: bool = True
    in_toc: bool = True
    sort_desc: bool = False
    max_groups: int = Field(default=500, ge=1, le=5000)
    children: list[ChildElement] = Field(default_factory=list, max_length=60)

    _vars = field_validator("title")(classmethod(lambda cls, v: _check_variables(v)))


Element = Annotated[
    TitleElement
    | TextElement
    | ImageElement
    | ChartElement
    | TableElement
    | KpiElement
    | SectionElement
    | TocElement
    | PageBreakElement
    | LineElement
    | RectElement,
    Field(discriminator="kind"),
]
DataElement = ChartElement | TableElement | KpiElement | SectionElement


class PageSpec(_Spec):
    """One template page (a canvas); ``cover`` pages show no header or footer."""

    kind: Literal["cover", "body"] = "body"
    name: str = Field(default="", max_length=80)
    elements: list[Element] = Field(default_factory=list, max_length=MAX_ELEMENTS)


# --------------------------------------------------------------------------- template
class TemplateParam(_Spec):
    """A run-time parameter the template asks for (``{{params.name}}``, query ``:name``)."""

    name: VarName
    label: str = Field(default="", max_length=120)
    type: Literal["text", "number", "date"] = "text"
    default: Scalar = None
    required: bool = False


class Override(_Spec):
    """What changes for one customer or contract: variables, logo, colours, header text."""

    match: Literal["customer", "contract", "location"]
    value: str = Field(min_length=1, max_length=200)
    variables: dict[VarName, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=30
    )
    logo: str | None = Field(default=None, max_length=120)
    accent: Color | None = None
    palette: list[Color] | None = Field(default=None, max_length=20)
    header_text: str | None = Field(default=None, max_length=500)


class DocumentInfo(_Spec):
    """PDF metadata (``title`` defaults to the template name) and the document language."""

    title: str = Field(default="", max_length=200)
    author: str = Field(default="", max_length=200)
    subject: str = Field(default="", max_length=500)
    keywords: str = Field(default="", max_length=500)
    lang: str = Field(default="pt-BR", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")


class PdfTemplateSpec(_Spec):
    """A PDF template, version 1 of the format."""

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    page: PageSetup = PageSetup()
    theme: ThemeSpec = ThemeSpec()
    pages: list[PageSpec] = Field(default_factory=lambda: [PageSpec()], min_length=1, max_length=MAX_PAGES)
    parameters: list[TemplateParam] = Field(default_factory=list, max_length=30)
    filters: DashboardFilters = DashboardFilters()
    variables: dict[VarName, Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=50
    )
    overrides: list[Override] = Field(default_factory=list, max_length=500)
    info: DocumentInfo = DocumentInfo()
    pdfa: bool = Field(default=False, description="PDF/A-2B")

    @model_validator(mode="after")
    def _ids(self) -> PdfTemplateSpec:
        seen: set[str] = set()
        count = 0
        for page in self.pages:
            for el in page.elements:
                children = el.children if isinstance(el, SectionElement) else []
                for e in [el, *children]:
                    count += 1
                    if e.id in seen:
                        raise ValueError(f"element id {e.id!r} is used twice")
                    seen.add(e.id)
                    if (
                        isinstance(e, ChartElement | TableElement | KpiElement)
                        and e.binding is None
                        and e is el
                    ):
                        raise ValueError(f"element {e.id!r} needs a binding (report_id or query)")
        if count > MAX_ELEMENTS:
            raise ValueError(f"at most {MAX_ELEMENTS} elements, got {count}")
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameter names must be unique")
        return self

    def elements(self) -> list[tuple[int, Any, SectionElement | None]]:
        """Every element as ``(page index, element, its section or None)``, sections' children included."""
        out: list[tuple[int, Any, SectionElement | None]] = []
        for i, page in enumerate(self.pages):
            for el in page.elements:
                out.append((i, el, None))
                if isinstance(el, SectionElement):
                    out.extend((i, c, el) for c in el.children)
        return out

    def element(self, element_id: str) -> Any:
        """The element with ``element_id`` (KeyError if none)."""
        for _, el, _ in self.elements():
            if el.id == element_id:
                return el
        raise KeyError(element_id)


def parse_template(data: Any) -> PdfTemplateSpec:
    """A template spec from JSON data; ``InvalidSpec`` naming the field when it is not one."""
    if isinstance(data, PdfTemplateSpec):
        return data
    try:
        return PdfTemplateSpec.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc, PdfTemplateSpec.__name__) from None


def parse_theme(data: Any) -> ThemeSpec:
    """A theme from JSON data; ``InvalidSpec`` naming the field when it is not one."""
    if isinstance(data, ThemeSpec):
        return data
    try:
        return ThemeSpec.model_validate(data)
    except ValidationError as exc:
        raise invalid_from_validation(exc, ThemeSpec.__name__) from None


def template_variables(text: str) -> list[str]:
    """The variable names ``text`` uses, in order (``{{period.start|date}}`` → ``period.start``)."""
    return [m.group(1) for m in VARIABLE_RE.finditer(text)]


def schema() -> dict[str, Any]:
    """The JSON schema of a template (for the designer and the API docs)."""
    return PdfTemplateSpec.model_json_schema()
