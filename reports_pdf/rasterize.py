"""PDF pages as PNG images (pypdfium2): the designer's preview thumbnails and the visual tests."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable

import pypdfium2 as pdfium

__all__ = ["PDFIUM_LOCK", "rasterize"]

#: PDFium is not thread-safe (two renders at once crash the process): every call holds this.
PDFIUM_LOCK = threading.Lock()


def rasterize(pdf: bytes, pages: Iterable[int] | None = None, width_px: int = 800) -> list[bytes]:
    """PNG bytes of ``pages`` (0-based indices; default: every page), each ``width_px`` wide.

    Raises ``IndexError`` for a page the document does not have.
    """
    with PDFIUM_LOCK:
        return _rasterize(pdf, pages, width_px)


def _rasterize(pdf: bytes, pages: Iterable[int] | None, width_px: int) -> list[bytes]:
    doc = pdfium.PdfDocument(pdf)
    try:
        count = len(doc)
        wanted = list(range(count)) if pages is None else list(pages)
        out: list[bytes] = []
        for index in wanted:
            if not 0 <= index < count:
                raise IndexError(f"page {index} is not in a {count}-page document")
            page = doc[index]
            try:
                width_pt = page.get_width()
                bitmap = page.render(scale=width_px / width_pt)
                try:
                    buf = io.BytesIO()
                    bitmap.to_pil().save(buf, format="PNG")
                    out.append(buf.getvalue())
                finally:
                    bitmap.close()
            finally:
                page.close()
        return out
    finally:
        doc.close()
