"""What the data page writes about an upload and an import (pure: tested without a browser)."""

from __future__ import annotations

from typing import Any

from portal.ingest.sniff import column_name


def progress_line(info: dict[str, Any]) -> str:
    """ "1,234 rows read · 12.5 MB of 40.0 MB · 8,000 rows/s · about 3 s left" (plain text)."""
    parts = [f"{info.get('rows_read', 0):,} rows read"]
    size = info.get("size_bytes") or 0
    if size:
        parts.append(f"{size_text(info.get('bytes_done') or 0)} of {size_text(size)}")
    rate = info.get("rate_rows_s") or 0
    if rate:
        parts.append(f"{rate:,.0f} rows/s")
    eta = info.get("eta_s")
    if eta is not None and info.get("status") == "running":
        parts.append(f"about {eta:,.0f} s left")
    return " · ".join(parts)


def size_text(n: float) -> str:
    """Bytes as people read them: "820 B", "12.5 KB", "3.4 MB"."""
    if n < 1000:
        return f"{n:,.0f} B"
    return f"{n / 1e3:,.1f} KB" if n < 1e6 else f"{n / 1e6:,.1f} MB"


def percent(info: dict[str, Any]) -> int:
    """How far the import is, 0..100 (by bytes read; 100 once finished)."""
    if info.get("status") in ("done", "failed", "canceled"):
        return 100
    size = info.get("size_bytes") or 0
    return int(min(99, 100 * (info.get("bytes_done") or 0) / size)) if size else 0


def suggested_name(filename: str) -> str:
    """A table name from a file name: "Vendas 2026 (1).csv" -> "vendas_2026_1"."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    name = column_name(stem, 0)  # an identifier; "c_..." when the stem starts with a digit
    return name if name[:1].isalpha() else f"t_{name}"[:63]
