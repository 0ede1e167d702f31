"""The frame of every page: the FAST list template with the portal's header, colours and fonts."""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.template.base import BaseTemplate
from panel.theme.fast import Fast

from components.session import header_links

#: Served by the web entry point (``portal.web.fonts``): Open Sans and an emoji font, from the
#: portal itself — the template's default asks Google Fonts on every page view.
FONT_CSS_URL = "/assets/fonts.css"
#: Served by the web entry point (``portal.web.scripts``): BokehJS without its per-paint CSS lookups.
#: Relative: Panel prefixes the page's way back to the root (``../..`` on ``/pub/dashboard/…``), and a
#: leading slash after that prefix made ``//assets/…``, a 404 on every nested page.
BOKEH_TWEAKS_URL = "assets/bokeh-tweaks.js"
FONT_FAMILY = "'Open Sans', 'Noto Color Emoji', system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
ACCENT = "#0b5cad"


def use_portal_fonts() -> None:
    """Stop Panel's FAST design from linking Google Fonts (done when this module loads).

    The design lists Open Sans from fonts.googleapis.com as a class-level resource whatever the
    template's ``font_url`` says, and accepts only absolute URLs there: the list is emptied and
    each page imports the portal's own stylesheet instead (:func:`page`).
    """
    Fast._resources = {**Fast._resources, "font": {}}


use_portal_fonts()


def page(active: str, who: str, main: list[Any]) -> BaseTemplate:
    """A page with the navigation (``active`` highlighted), the signed-in user ``who`` and ``main``."""
    template = pn.template.FastListTemplate(
        title="Conductor BI",
        header=[header_links(active, who)],
        main=main,
        accent=ACCENT,
        font=FONT_FAMILY,
        font_url=FONT_CSS_URL,
        # FAST's design provider sets its own body font token (aktiv-grotesk…): the portal's wins.
        raw_css=[
            f"@import url('{FONT_CSS_URL}');",
            f"body{{--body-font:{FONT_FAMILY};font-family:{FONT_FAMILY}}}",
        ],
    )
    template.config.js_files = {**template.config.js_files, "cbi_bokeh_tweaks": BOKEH_TWEAKS_URL}
    return template


def shared_page(title: str, main: list[Any], *, kiosk: bool = False) -> BaseTemplate:
    """The frame of a share link's page: no navigation, no account; ``kiosk`` shows only ``main``."""
    template = pn.template.FastListTemplate(
        title="Conductor BI",
        main=main,
        accent=ACCENT,
        font=FONT_FAMILY,
        font_url=FONT_CSS_URL,
        header_background=ACCENT,
        raw_css=[
            f"@import url('{FONT_CSS_URL}');",
            f"body{{--body-font:{FONT_FAMILY};font-family:{FONT_FAMILY}}}",
            # A kiosk (a wall screen, an iframe) shows the content alone.
            "#header{display:none}" if kiosk else "",
        ],
    )
    del title  # user text stays out of the template's title (the title bar escapes it instead)
    template.config.js_files = {**template.config.js_files, "cbi_bokeh_tweaks": BOKEH_TWEAKS_URL}
    return template
