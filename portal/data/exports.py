"""Exports of result frames: CSV, XLSX (typed columns) and Parquet."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

from portal.errors import InvalidSpec

FORMATS = ("csv", "xlsx", "parquet")


@dataclass(frozen=True)
class Export:
    """Bytes of an exported file plus how to serve it."""

    data: bytes
    content_type: str
    extension: str

    def filename(self, stem: str) -> str:
        """A safe download name."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:80] or "export"
        return f"{safe}.{self.extension}"


def _naive(frame: pd.DataFrame) -> pd.DataFrame:
    # Excel has no time zones; export wall-clock UTC.
    out = frame.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.DatetimeTZDtype):
            out[c] = out[c].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


#: A text cell starting with one of these is read as a formula by spreadsheets (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _defuse(value: object) -> object:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # OWASP's advice: a leading quote makes the cell plain text
    return value


def defuse_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas (numbers are left alone)."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_object_dtype(out[c]) or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(_defuse)
    out.columns = [str(_defuse(str(c))) for c in out.columns]
    return out


def to_csv(frame: pd.DataFrame) -> Export:
    """UTF-8 CSV with a BOM (so spreadsheets read accents), ISO timestamps, no live formulas."""
    text = defuse_formulas(frame).to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
    return Export(text.encode("utf-8-sig"), "text/csv; charset=utf-8", "csv")


def to_xlsx(frame: pd.DataFrame, sheet: str = "Data") -> Export:
    """An XLSX with typed cells: numbers as numbers, dates as dates, booleans as booleans."""
    buf = io.BytesIO()
    df = _naive(frame)
    with pd.ExcelWriter(
        buf,
        engine="xlsxwriter",
        datetime_format="yyyy-mm-dd hh:mm:ss",
        date_format="yyyy-mm-dd",
        # Text stays text: xlsxwriter would otherwise turn "=..." into a formula and URLs into links.
        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}},
    ) as writer:
        df.to_excel(writer, sheet_name=sheet[:31], index=False, freeze_panes=(1, 0))
        ws = writer.sheets[sheet[:31]]
        book = writer.book
        num = book.add_format({"num_format": "#,##0.00##"})
        integer = book.add_format({"num_format": "#,##0"})
        for i, c in enumerate(df.columns):
            s = df[c]
            width = min(50, max(len(str(c)), *(len(str(v)) for v in s.head(200)), 8) + 2)
            if pd.api.types.is_bool_dtype(s):
                ws.set_column(i, i, width)
            elif pd.api.types.is_integer_dtype(s):
                ws.set_column(i, i, width, integer)
            elif pd.api.types.is_float_dtype(s):
                ws.set_column(i, i, width, num)
            elif pd.api.types.is_datetime64_any_dtype(s):
                ws.set_column(i, i, 20)
            else:
                ws.set_column(i, i, width)
        if len(df.columns):
            ws.autofilter(0, 0, max(len(df), 1), len(df.columns) - 1)
    return Export(buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")


def to_parquet(frame: pd.DataFrame) -> Export:
    """Parquet (pyarrow, snappy)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, engine="pyarrow")
    return Export(buf.getvalue(), "application/vnd.apache.parquet", "parquet")


def export_frame(frame: pd.DataFrame, fmt: str) -> Export:
    """Export in ``fmt`` (csv, xlsx or parquet)."""
    if fmt == "csv":
        return to_csv(frame)
    if fmt == "xlsx":
        return to_xlsx(frame)
    if fmt == "parquet":
        return to_parquet(frame)
    raise InvalidSpec(
        f"format: unknown export format {fmt!r}; use one of {', '.join(FORMATS)}", field="format"
    )
