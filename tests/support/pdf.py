"""PDF checks for the tests: text through ``pdftotext`` (per page), fonts through ``pdffonts``."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path


def pdf_text(pdf: bytes, *, page: int | None = None) -> str:
    """The text of a PDF (or of one 1-based page), as poppler's ``pdftotext -layout`` reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.pdf"
        path.write_bytes(pdf)
        args = ["pdftotext", "-layout", "-enc", "UTF-8"]
        if page is not None:
            args += ["-f", str(page), "-l", str(page)]
        return subprocess.run(
            [*args, str(path), "-"], check=True, capture_output=True, timeout=60
        ).stdout.decode()


def pdf_pages(pdf: bytes) -> list[str]:
    """The text of each page (``pdftotext`` separates pages with form feeds)."""
    pages = pdf_text(pdf).split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages
