"""A dashboard tile's frame: title bar, body, the skeleton while loading and the dimmed state.

The dashboard page (:mod:`components.dashboard_builder`) decides what goes in a tile and when;
this module holds how a tile looks.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import panel as pn

from components.dashboard_page import SKELETON
from components.widget_view import CHART_MIN_SIZE
from portal.viz.prepare import FIGURE_VIZ, HV_VIZ

#: Set on a tile while its data is re-fetched (dimmed; browser tests and the benchmark wait for the
#: ``--cbi-updating`` property to read 0). A style, not a CSS class: Panel lays the whole page out
#: again when a layout's classes change (measured: 22 class changes of one filter change cost the
#: browser 8 s on a busy 2-core machine; as styles, 0.2 s).
UPDATING_STYLE = {"--cbi-updating": "1", "opacity": "0.55"}
UPDATED_STYLE = {"--cbi-updating": "0", "opacity": "1"}


def tile_frame(
    title: str, viz: str, body: pn.Column, on_remove: Callable[[], None] | None = None
) -> pn.Column:
    """The tile around ``body``: the (escaped) title, a remove button when ``on_remove`` is given."""
    head: list[Any] = [
        pn.pane.HTML(
            f'<div class="widget-title" style="font-weight:600;color:#1e293b">{html.escape(title)}</div>',
            sizing_mode="stretch_width",
            margin=(2, 8),
        )
    ]
    if on_remove is not None:
        rm = pn.widgets.Button(
            name="✕",
            width=32,
            height=28,
            button_type="light",
            description="Remove widget",
            css_classes=["remove-widget"],
        )
        rm.on_click(lambda _: on_remove())
        head.append(rm)
    return pn.Column(
        pn.Row(*head, sizing_mode="stretch_width", height=32),
        body,
        sizing_mode="stretch_both",
        css_classes=["cbi-widget", f"cbi-widget-{viz}"],
        styles={
            "background": "white",
            "border-radius": "8px",
            "box-shadow": "0 1px 3px rgba(15,23,42,.15)",
            "overflow": "hidden",
        },
    )


def skeleton(viz: str) -> pn.pane.HTML:
    """What a tile shows until its data arrives; a chart's keeps the chart's minimum size, so the
    page need not be laid out again when the chart replaces it."""
    size = CHART_MIN_SIZE if viz in HV_VIZ | FIGURE_VIZ else {}
    return pn.pane.HTML(SKELETON, sizing_mode="stretch_both", css_classes=["cbi-loading"], **size)


def mark_updating(tile: pn.Column, updating: bool) -> None:
    """Dim a tile while its data is re-fetched, or show it normally again.

    Values that say "done" rather than removed keys: the browser keeps a style the server no
    longer sends.
    """
    tile.styles = {**tile.styles, **(UPDATING_STYLE if updating else UPDATED_STYLE)}
