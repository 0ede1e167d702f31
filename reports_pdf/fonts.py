"""The TTF fonts shipped with the renderer and fast text measuring.

The three families of :data:`portal.specs.pdf.FONT_FAMILIES` live in ``reports_pdf/fonts``
(DejaVu Sans, DejaVu Serif, Open Sans, each regular/bold/italic/bold-italic, with their
licence texts), so a render never depends on the fonts of the machine and every font is
embedded: fpdf2 subsets and embeds a TTF, and the renderer never selects a PDF base-14 font.

Fonts are registered with a document lazily, per style, on first use: parsing one DejaVu
file costs ~75 ms, and most documents never use the italic styles.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = ["FONT_DIR", "FONT_FILES", "STYLES", "font_path", "register_font"]

#: Where the shipped TTF files are.
FONT_DIR = Path(__file__).resolve().parent / "fonts"
#: fpdf2 style letters: regular, bold, italic, bold-italic.
STYLES: tuple[str, ...] = ("", "B", "I", "BI")
#: Family -> style -> file name in :data:`FONT_DIR`.
FONT_FILES: dict[str, dict[str, str]] = {
    "DejaVu Sans": {
        "": "DejaVuSans.ttf",
        "B": "DejaVuSans-Bold.ttf",
        "I": "DejaVuSans-Oblique.ttf",
        "BI": "DejaVuSans-BoldOblique.ttf",
    },
    "DejaVu Serif": {
        "": "DejaVuSerif.ttf",
        "B": "DejaVuSerif-Bold.ttf",
        "I": "DejaVuSerif-Italic.ttf",
        "BI": "DejaVuSerif-BoldItalic.ttf",
    },
    "Open Sans": {
        "": "OpenSans-Regular.ttf",
        "B": "OpenSans-Bold.ttf",
        "I": "OpenSans-Italic.ttf",
        "BI": "OpenSans-BoldItalic.ttf",
    },
}
_DEFAULT_FAMILY = "DejaVu Sans"


def font_path(family: str, style: str = "") -> Path:
    """The TTF file of ``family`` in ``style`` ("", "B", "I" or "BI"); unknown families give DejaVu Sans."""
    files = FONT_FILES.get(family, FONT_FILES[_DEFAULT_FAMILY])
    return FONT_DIR / files["".join(sorted(style.upper()))]


def register_font(pdf: FPDF, family: str, style: str = "") -> str:
    """Make ``family``/``style`` usable by ``pdf.set_font`` (once per document); returns the
    fpdf2 family key (lower case), which is what ``set_font`` takes."""
    style = "".join(sorted(style.upper()))
    key = family.lower()
    if key + style not in pdf.fonts:
        pdf.add_font(key, style, str(font_path(family, style)))
    return key
