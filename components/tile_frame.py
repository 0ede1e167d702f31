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
from portal.alerts.highlight import WidgetAlert
from portal.viz.prepare import FIGURE_VIZ, HV_VIZ

#: Set on a tile while its data is re-fetched (dimmed; browser tests and the benchmark wait for the
#: ``--cbi-updating`` property to read 0). A style, not a CSS class: Panel lays the whole page out
#: again when a layout's classes change (measured: 22 class changes of one filter change cost the
#: browser 8 s on a busy 2-core machine; as styles, 0.2 s).
UPDATING_STYLE = {"--cbi-updating": "1", "opacity": "0.55"}
UPDATED_STYLE = {"--cbi-updating": "0", "opacity": "1"}


#: Colour of a highlighted tile's marker and border, by alert severity.
ALERT_COLORS = {"crit": "#dc2626", "warn": "#d97706", "info": "#2563eb"}
_ALERT_WORDS = {"crit": "Critical", "warn": "Warning", "info": "Info"}


def alert_marker(alert: WidgetAlert) -> str:
    """The marker of a tile an alert highlights: severity colour, the alert's name as tooltip."""
    color = ALERT_COLORS.get(alert.severity, ALERT_COLORS["info"])
    state = "acknowledged" if alert.status == "acked" else "open"
    tip = html.escape(f"{_ALERT_WORDS.get(alert.severity, alert.severity)} alert ({state}): {alert.name}")
    # An acknowledged alert stays visible, quieter: outlined instead of filled.
    fill = f"background:{color};color:white" if alert.status == "open" else f"color:{color}"
    return (
        f'<a class="cbi-alert-marker cbi-alert-{html.escape(alert.severity)}" href="/alerts?alert={alert.alert_id}" '
        f'title="{tip}" aria-label="{tip}" style="{fill};border:1px solid {color};border-radius:10px;'
        'padding:1px 8px;font-size:12px;font-weight:600;text-decoration:none;white-space:nowrap">'
        f"&#9888; {'Alert' if alert.status == 'open' else 'Acked'}</a>"
    )


#: The badge of a real-time tile (its content changes as messages arrive, without a reload).
LIVE_BADGE = (
    '<span class="cbi-live" title="Updates in real time" style="flex:none;color:#15803d;font-size:12px;'
    'font-weight:600;white-space:nowrap"><span style="display:inline-block;width:8px;height:8px;'
    'border-radius:4px;background:#16a34a;margin-right:4px;vertical-align:middle"></span>Live</span>'
)


def tile_frame(
    title: str,
    viz: str,
    body: pn.Column,
    on_remove: Callable[[], None] | None = None,
    alert: WidgetAlert | None = None,
    *,
    live: bool = False,
) -> pn.Column:
    """The tile around ``body``: the (escaped) title, a remove button when ``on_remove`` is given,
    the marker and coloured border of the ``alert`` that highlights the widget, if any, and a
    "Live" badge on a widget fed by a real-time channel."""
    marker = f'<span style="flex:none">{alert_marker(alert)}</span>' if alert is not None else ""
    if live:
        marker = LIVE_BADGE + marker
    head: list[Any] = [
        pn.pane.HTML(
            '<div style="display:flex;align-items:center;gap:8px">'
            f'<div class="widget-title" style="font-weight:600;color:#1e293b;flex:1;min-width:0">'
            f"{html.escape(title)}</div>{marker}</div>",
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
            # A border, not an outline: the grid item clips what is drawn outside the tile.
            **({"border": f"2px solid {ALERT_COLORS.get(alert.severity, '#2563eb')}"} if alert else {}),
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
