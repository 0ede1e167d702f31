"""Fonts served by the portal itself: the pages never ask a font service on the internet.

The page template (Panel's FAST template) would load Open Sans from Google Fonts: a
request to a third party from every page view, and no text at all on a network without
internet. The portal serves Open Sans and an emoji font (so an emoji in a title or a
Markdown widget is drawn on machines that have none) from the system's font packages,
which ``.ci/setup`` installs (``fonts-open-sans``, ``fonts-noto-color-emoji``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tornado.web import HTTPError, RequestHandler

#: Where Debian's font packages put them; the first existing directory of each family wins.
FONT_DIRS = (Path("/usr/share/fonts/truetype/open-sans"), Path("/usr/share/fonts/truetype/noto"))
FONT_FAMILY = "'Open Sans', 'Noto Color Emoji', system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CSS_PATH = "/assets/fonts.css"
FILES_PATH = "/assets/fonts/"
# Emoji and pictographs only: browsers fetch this 10 MB font only for pages that show one.
EMOJI_RANGES = "U+00A9, U+00AE, U+203C-3299, U+1F000-1FAFF, U+FE0F, U+200D"


@dataclass(frozen=True)
class Face:
    """One @font-face: the family, the file and what it covers."""

    family: str
    file: str
    weight: int = 400
    style: str = "normal"
    unicode_range: str | None = None


FACES = (
    Face("Open Sans", "OpenSans-Regular.ttf"),
    Face("Open Sans", "OpenSans-Italic.ttf", style="italic"),
    Face("Open Sans", "OpenSans-Semibold.ttf", weight=600),
    Face("Open Sans", "OpenSans-Bold.ttf", weight=700),
    Face("Noto Color Emoji", "NotoColorEmoji.ttf", unicode_range=EMOJI_RANGES),
)


def font_file(name: str) -> Path | None:
    """The file of a known face (no other name is served), if installed."""
    if name not in {f.file for f in FACES}:
        return None
    for d in FONT_DIRS:
        if (d / name).is_file():
            return d / name
    return None


def stylesheet() -> str:
    """@font-face rules for the installed faces; the system's own copy is preferred when present."""
    rules = []
    for f in FACES:
        if font_file(f.file) is None:
            continue
        local = f.family if f.weight == 400 and f.style == "normal" else f"{f.family} {f.weight}"
        rng = f"unicode-range:{f.unicode_range};" if f.unicode_range else ""
        rules.append(
            f"@font-face{{font-family:'{f.family}';font-style:{f.style};font-weight:{f.weight};"
            f"font-display:swap;{rng}src:local('{local}'),url('{FILES_PATH}{f.file}') format('truetype')}}"
        )
    return "\n".join(rules) + "\n"


class FontCssHandler(RequestHandler):
    """``GET /assets/fonts.css``."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/css; charset=utf-8")
        self.set_header("Cache-Control", "public, max-age=86400")
        self.finish(stylesheet())


class FontFileHandler(RequestHandler):
    """``GET /assets/fonts/<file>``: only the faces listed in :data:`FACES`."""

    def get(self, name: str) -> None:
        path = font_file(name)
        if path is None:
            raise HTTPError(404)
        self.set_header("Content-Type", "font/ttf")
        self.set_header("Cache-Control", "public, max-age=604800, immutable")
        self.finish(path.read_bytes())


def routes() -> list[tuple[str, type[RequestHandler]]]:
    """The font routes, for the web server."""
    return [(CSS_PATH, FontCssHandler), (FILES_PATH + r"([A-Za-z0-9-]+\.ttf)", FontFileHandler)]
