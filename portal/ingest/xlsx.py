"""XLSX workbooks: checked to be real ones, then one sheet streamed row by row into a UTF-8 CSV.

openpyxl's ``read_only`` mode parses the sheet XML as a stream, so a big workbook never sits
in memory; the CSV it writes is read like any uploaded CSV afterwards.
"""

from __future__ import annotations

import csv
import time
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from portal.errors import InvalidSpec, PortalError
from portal.ingest.schema import MAX_COLUMNS

#: ``progress(rows, bytes_done, bytes_total)``; called at least every ~0.5 s while reading.
Progress = Callable[[int, int, int], None]
Cancelled = Callable[[], bool]


class ImportCanceled(PortalError):
    """The import was canceled: nothing was changed."""

    status = 409


def never() -> bool:
    """A ``cancelled`` callable for a run nobody can cancel."""
    return False


def quiet(rows: int, done: int, total: int) -> None:
    """A ``progress`` callable that reports nowhere."""
    return None


def is_xlsx_name(filename: str) -> bool:
    """Whether the upload's name says it is a spreadsheet."""
    return filename.lower().endswith((".xlsx", ".xlsm", ".xls"))


def _check_xlsx(path: Path, filename: str) -> None:
    if filename.lower().endswith(".xls"):
        raise InvalidSpec(
            "file: .xls (Excel 97-2003) is not supported; save it as .xlsx or CSV", field="file"
        )
    if path.stat().st_size == 0:
        raise InvalidSpec("file: the file is empty (0 bytes)", field="file")
    if not zipfile.is_zipfile(path):
        raise InvalidSpec(f"file: {filename!r} is not an XLSX workbook (not a ZIP container)", field="file")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except zipfile.BadZipFile:
        raise InvalidSpec(
            f"file: {filename!r} is not an XLSX workbook (a damaged ZIP)", field="file"
        ) from None
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        raise InvalidSpec(
            f"file: {filename!r} is a ZIP file but not an XLSX workbook (no xl/workbook.xml)", field="file"
        )


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        # Excel keeps dates as date-times at midnight: those read back as dates.
        return v.date().isoformat() if v.time() == dtime(0) else v.isoformat(sep=" ")
    if isinstance(v, date | dtime):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return str(v)


def xlsx_to_csv(
    path: Path,
    filename: str,
    out: Path,
    *,
    sheet: str | None = None,
    max_rows: int | None = None,
    progress: Progress = quiet,
    cancelled: Cancelled = never,
) -> int:
    """Write the chosen sheet (default: the first) as a UTF-8 CSV row by row; the rows written."""
    _check_xlsx(path, filename)
    import openpyxl

    handle = path.open("rb")  # a file object: openpyxl would judge a path by its extension
    try:
        wb = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        handle.close()
        raise InvalidSpec(
            f"file: {filename!r} cannot be read as XLSX ({type(exc).__name__})", field="file"
        ) from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise InvalidSpec(
                f"sheet: no sheet called {sheet!r} (the workbook has: {', '.join(wb.sheetnames)})",
                field="sheet",
            )
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        total = path.stat().st_size
        rows, last = 0, time.monotonic()
        with out.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            for values in ws.iter_rows(values_only=True):
                if len(values) > MAX_COLUMNS:
                    raise InvalidSpec(
                        f"file: the sheet has {len(values)} columns; an import takes at most {MAX_COLUMNS}",
                        field="file",
                    )
                writer.writerow([_cell(v) for v in values])
                rows += 1
                if max_rows is not None and rows >= max_rows:
                    break
                if rows % 2000 == 0 and time.monotonic() - last > 0.4:
                    if cancelled():
                        raise ImportCanceled("the import was canceled")
                    # openpyxl streams the sheet XML: progress can only be told in rows here.
                    progress(rows, 0, total)
                    last = time.monotonic()
        return rows
    except (PortalError, OSError):
        raise
    except Exception as exc:  # a damaged sheet inside a valid ZIP
        raise InvalidSpec(f"file: the sheet cannot be read ({type(exc).__name__})", field="file") from None
    finally:
        wb.close()
        handle.close()
