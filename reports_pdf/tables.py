"""Table elements: columns with formats and colour rules, subtotal and total rows, rows over pages.

Rows come from :func:`portal.viz.cards.table_with_subtotals` (the web table's rule: groups kept
together, a "Subtotal <group>" row after each group, a "Total" row at the end) with summary
values taken only from ``ElementData.subtotals`` / ``ElementData.totals`` -- the warehouse's
re-aggregation; the renderer never sums (``numeric=[]``). Without a ``subtotals`` frame the
rows are not grouped; without ``totals`` there is no total row.

Speed (a 5,000-row table is written in ~0.5 s): fpdf2's ``table()`` took 25 s and ``cell()``
3 s for 30,000 cells here, ``text()`` 0.5 s. So rows are drawn with ``text()`` at computed
positions, cells are formatted column-wise per chunk of rows (:data:`CHUNK`), colour rules are
evaluated vectorised per chunk, widths come from the font's glyph-width table, and the font
and colours are set only when they change. Only one chunk of formatted text exists at a
time: a 100,000-row table does not hold 100,000 rows of strings.

Cells read like the web table's (:func:`portal.viz.formats.table_text`: whole reais, one decimal
for percents and durations) unless the column fixes ``decimals``; dates are ISO. Cells are one
line: text wider than its column is cut with an ellipsis.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from portal.errors import unknown
from portal.pdf.inputs import ElementData
from portal.specs import TableSpec
from portal.specs.pdf import ColorRule, TableColumn, TableElement, ThemeSpec
from portal.viz.cards import table_with_subtotals
from portal.viz.formats import EN_SYMBOLS, Display, format_number, localize, table_text
from reports_pdf.document import PT_PER_MM, ReportDocument, blend
from reports_pdf.layout import Slot

__all__ = [
    "CHUNK",
    "Column",
    "TableRows",
    "draw_table",
    "format_cells",
    "plan_columns",
    "rule_colors",
    "table_first_height",
    "table_rows",
]

#: Rows formatted at a time.
CHUNK = 512
_PAD = 1.2  # mm of padding left and right in a cell
_NUMERIC = frozenset({"number", "integer", "percent", "currency", "duration_h", "duration_min", "duration_s"})
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Column:
    """A table column as drawn: label, resolved format, width and x offset in mm, alignment."""

    name: str
    label: str
    format: str
    decimals: int | None
    x: float
    width: float
    align: str  # "L", "C" or "R"
    rules: tuple[ColorRule, ...]


def _auto_format(series: pd.Series, display: Display | None, name: str) -> str:
    given = display.formats.get(name) if display is not None else None
    if given:
        return "text" if given == "time" else given
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "text"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = series.dropna()
        return "datetime" if bool((values != values.dt.normalize()).any()) else "date"
    return "text"


def plan_columns(
    el: TableElement, frame: pd.DataFrame, display: Display | None, width: float
) -> list[Column]:
    """The columns of ``el`` over ``frame``, ``width`` mm shared by their relative widths.

    Raises ``InvalidSpec`` naming a column (or ``subtotals_by``) the frame does not have.
    """
    names = [str(c) for c in frame.columns]
    specs = list(el.columns)
    for i, col in enumerate(specs):
        if col.name not in frame.columns:
            raise unknown("column", col.name, names, field=f"columns[{i}]")
    if el.subtotals_by is not None and el.subtotals_by not in frame.columns:
        raise unknown("column", el.subtotals_by, names, field="subtotals_by")
    if not specs:
        specs = [TableColumn(name=n) for n in names if n != "_row_kind"]
    total = sum(c.width for c in specs) or 1.0
    out: list[Column] = []
    x = 0.0
    for col in specs:
        fmt = _auto_format(frame[col.name], display, col.name) if col.format == "auto" else col.format
        if col.align == "auto":
            align = "R" if fmt in _NUMERIC else "L"
        else:
            align = {"left": "L", "center": "C", "right": "R"}[col.align]
        label = col.label if col.label is not None else (display.label(col.name) if display else col.name)
        w = width * col.width / total
        out.append(Column(col.name, label, fmt, col.decimals, x, w, align, tuple(col.rules)))
        x += w
    return out


def _cell_text(value: Any, fmt: str, decimals: int | None) -> str:
    if fmt in _NUMERIC:
        if isinstance(value, bool | str) or not isinstance(value, int | float | np.number):
            return str(value)
        # Without decimals a column reads like the web table (whole reais, 1 decimal for
        # percents and durations): one width for the whole column.
        return table_text(value, fmt) if decimals is None else format_number(value, fmt, decimals)
    if fmt in ("date", "datetime"):
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M" if fmt == "datetime" else "%Y-%m-%d")
        if isinstance(value, date):
            return value.isoformat()
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_cells(
    values: pd.Series, fmt: str, decimals: int | None, symbols: tuple[str, str] = EN_SYMBOLS
) -> list[str]:
    """The cell texts of ``values`` in format ``fmt`` ("" for missing values); numbers with the
    document language's decimal and thousands ``symbols``."""
    missing = values.isna().to_numpy()
    out: list[str] = []
    append = out.append
    for value, empty in zip(values.tolist(), missing.tolist(), strict=True):
        append("" if empty else _cell_text(value, fmt, decimals))
    if symbols != EN_SYMBOLS and fmt in _NUMERIC:
        out = [localize(t, symbols) for t in out]
    return out


def _rule_mask(rule: ColorRule, values: pd.Series, texts: Sequence[str], fmt: str) -> np.ndarray:
    op = _OPS[rule.op]
    than: Any = rule.than
    if isinstance(than, str):
        with contextlib.suppress(ValueError):
            than = float(than)
    if isinstance(than, float | int) and fmt not in ("text", "date", "datetime"):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            mask: np.ndarray = np.asarray(op(numbers, float(than)), dtype=bool)
        hits: np.ndarray = mask & ~np.isnan(numbers)
        return hits
    # Text and dates compare as shown (ISO dates order as text).
    arr = np.asarray(texts, dtype=object)
    shown: np.ndarray = np.asarray(op(arr, str(than)), dtype=bool) & (arr != "")
    return shown


def rule_colors(
    col: Column, values: pd.Series, texts: Sequence[str], body: np.ndarray
) -> tuple[list[str | None], list[str | None]] | None:
    """Per row of the chunk: text colour and fill of the first rule that matches (body rows only)."""
    if not col.rules:
        return None
    n = len(texts)
    color: list[str | None] = [None] * n
    fill: list[str | None] = [None] * n
    taken = ~body.copy()
    for rule in col.rules:
        hit = _rule_mask(rule, values, texts, col.format) & ~taken
        for i in np.flatnonzero(hit).tolist():
            color[i] = rule.color
            fill[i] = rule.fill
        taken |= hit
    return color, fill


@dataclass(frozen=True)
class TableRows:
    """The rows to draw (body, subtotals, totals) and how many data rows were left out by ``max_rows``."""

    frame: pd.DataFrame
    kinds: np.ndarray
    hidden: int


def table_rows(el: TableElement, data: ElementData, columns: list[Column]) -> TableRows:
    """The rows of the table in order, with ``_row_kind`` "row"/"subtotal"/"total"."""
    frame = data.frame if data.frame is not None else pd.DataFrame()
    hidden = max(0, len(frame) - el.max_rows)
    if hidden:
        frame = frame.iloc[: el.max_rows]
    names = [c.name for c in columns]
    by = el.subtotals_by if data.subtotals is not None else None
    totals = data.totals if el.totals and data.totals is not None and len(data.totals) else None
    spec = TableSpec(columns=names, subtotals_by=by, totals=totals is not None)
    rows = table_with_subtotals(frame, spec, numeric=[], totals=totals, subtotals=data.subtotals)
    return TableRows(rows, rows["_row_kind"].to_numpy(dtype=object), hidden)


@dataclass(frozen=True)
class _Style:
    size: float
    row_h: float
    baseline: float
    text: str
    muted: str
    stripe: str
    head_bg: str
    head_fg: str
    subtotal: str
    total: str
    rule: str


def _style(el: TableElement, theme: ThemeSpec) -> _Style:
    size = el.font_size or max(6.0, theme.base_size - 1)
    size_mm = size / PT_PER_MM
    row_h = size_mm * 1.75
    return _Style(
        size=size,
        row_h=row_h,
        baseline=(row_h + size_mm * 0.7) / 2,
        text=theme.text_color,
        muted=theme.muted,
        stripe=theme.table_stripe,
        head_bg=theme.table_header_bg,
        head_fg=theme.table_header_fg,
        subtotal=blend(theme.accent, theme.background, 0.12),
        total=blend(theme.accent, theme.background, 0.24),
        rule=theme.border,
    )


def table_first_height(el: TableElement, theme: ThemeSpec) -> float:
    """What a table needs on a page before it can break: its header and one row."""
    return _style(el, theme).row_h * 2


def _cell_x(doc: ReportDocument, text: str, x: float, w: float, align: str) -> tuple[float, str]:
    """Where ``text`` starts in a cell at ``x`` of width ``w`` (and the text, cut to fit)."""
    room = w - 2 * _PAD
    width = doc.width_of(text)
    if width > room:
        text = doc.fit(text, room)
        width = doc.width_of(text)
    if align == "R":
        return x + w - _PAD - width, text
    if align == "C":
        return x + (w - width) / 2, text
    return x + _PAD, text


def _draw_text(doc: ReportDocument, text: str, x: float, w: float, align: str, baseline: float) -> None:
    tx, text = _cell_x(doc, text, x, w, align)
    doc.put_text(tx, baseline, text)


def draw_table(
    doc: ReportDocument,
    el: TableElement,
    data: ElementData,
    theme: ThemeSpec,
    *,
    x: float,
    width: float,
    start: Slot,
    top: float,
    bottom: float,
    symbols: tuple[str, str] = EN_SYMBOLS,
) -> Slot:
    """Draw the table from ``start``; rows continue on the next pages (``top`` to ``bottom`` mm)
    with the header repeated, numbers with ``symbols`` as separators. Returns where the table ends."""
    frame = data.frame if data.frame is not None else pd.DataFrame()
    columns = plan_columns(el, frame, data.display, width)
    rows = table_rows(el, data, columns)
    st = _style(el, theme)
    rh = st.row_h
    page, y = start.page, start.y
    doc.use_page(page)
    if y + 2 * rh > bottom + 1e-6 and y > top + 1e-6:
        # Not even the header and one row fit: a header alone at the foot of a page helps no one.
        page = doc.next_page(page)
        y = top

    def header() -> None:
        nonlocal y
        doc.fill(st.head_bg)
        doc.rect(x, y, width, rh, "F")
        doc.font(st.size, "B")
        doc.ink(st.head_fg)
        doc.fill(st.head_fg)
        base = y + st.baseline
        for col in columns:
            _draw_text(doc, col.label, x + col.x, col.width, col.align, base)
        y += rh

    def close_page() -> None:
        doc.stroke(st.rule)
        doc.set_line_width(0.2)
        doc.line(x, y, x + width, y)

    header()
    n = len(rows.frame)
    if n == 0:
        doc.font(st.size, "I")
        doc.ink(st.muted)
        doc.text(x + _PAD, y + st.baseline, "No rows")
        y += rh
    kinds = rows.kinds
    stripe = False
    for lo in range(0, n, CHUNK):
        chunk = rows.frame.iloc[lo : lo + CHUNK]
        ck = kinds[lo : lo + CHUNK].tolist()
        body = kinds[lo : lo + CHUNK] == "row"
        cells = [format_cells(chunk[c.name], c.format, c.decimals, symbols) for c in columns]
        colours = [rule_colors(c, chunk[c.name], cells[j], body) for j, c in enumerate(columns)]
        ruled = [(j, c) for j, c in enumerate(colours) if c is not None and any(c[1])]
        i, m = 0, len(ck)
        while i < m:
            if y + rh > bottom + 1e-6:
                close_page()
                page = doc.next_page(page)
                y = top
                if el.repeat_header:
                    header()
            # The rows of this chunk that fit on this page: their backgrounds first, then all
            # their text with the fill colour set to the ink, so the colour changes twice per
            # page instead of twice per row (and fpdf2 needs no q/colour/Q around each text).
            fit = max(1, int((bottom + 1e-6 - y) // rh))
            stop = min(m, i + fit)
            y0 = y
            for r in range(i, stop):
                kind = ck[r]
                if kind == "row":
                    if stripe:
                        doc.fill(st.stripe)
                        doc.rect(x, y, width, rh, "F")
                    stripe = not stripe
                else:
                    doc.fill(st.subtotal if kind == "subtotal" else st.total)
                    doc.rect(x, y, width, rh, "F")
                    stripe = False
                for j, painted in ruled:
                    fill = painted[1][r]
                    if fill:
                        col = columns[j]
                        doc.fill(fill)
                        doc.rect(x + col.x, y, col.width, rh, "F")
                y += rh
            doc.fill(st.text)
            y = y0
            for r in range(i, stop):
                doc.font(st.size, "" if ck[r] == "row" else "B")
                line: list[tuple[float, str, str]] = []
                for j, col in enumerate(columns):
                    text = cells[j][r]
                    if not text:
                        continue
                    coloured = colours[j]
                    tx, text = _cell_x(doc, text, x + col.x, col.width, col.align)
                    line.append((tx, text, (coloured[0][r] if coloured is not None else None) or st.text))
                doc.put_row(y + st.baseline, line)
                y += rh
            i = stop
    if rows.hidden:
        if y + rh > bottom + 1e-6:
            close_page()
            page = doc.next_page(page)
            y = top
        doc.font(st.size, "I")
        doc.ink(st.muted)
        note = f"First {el.max_rows:,} of {el.max_rows + rows.hidden:,} rows (max_rows)"
        doc.text(x + _PAD, y + st.baseline, note)
        y += rh
    close_page()
    doc.ink(theme.text_color)
    return Slot(page, y)
