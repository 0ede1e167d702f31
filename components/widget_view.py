"""Renders one widget's data: chart (bokeh), table (subtotals/totals), KPI card or Markdown text."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource

from components.session import alert
from portal.dashboards.data import KpiResult, WidgetResult, kpi_result
from portal.errors import PortalError
from portal.specs import TableSpec, WidgetSpec
from portal.viz import cards, charts
from portal.viz.markdown import render_markdown

log = logging.getLogger(__name__)
STATUS_COLORS = {"good": "#15803d", "warn": "#b45309", "bad": "#b91c1c", "none": "#475569"}
ARROWS = {"up": "▲", "down": "▼", "flat": "■"}


def render_widget(
    spec: WidgetSpec,
    frame: pd.DataFrame | None = None,
    *,
    kpi: KpiResult | None = None,
    error: str | None = None,
    on_tap: Callable[[Any], None] | None = None,
) -> pn.viewable.Viewable:
    """A Panel object for a widget's result (errors become an inline alert, not an exception).

    ``frame`` is the result (None: still loading); ``kpi`` the card's numbers when the
    service computed them (with the previous period), else they come from ``frame``.
    """
    try:
        if spec.type == "text":
            return pn.pane.HTML(
                render_markdown(spec.text or ""),
                sizing_mode="stretch_both",
                styles={"overflow": "auto"},
                css_classes=["cbi-text"],
            )
        if error:
            return alert(error, "danger", sizing_mode="stretch_width")
        if frame is None:
            return pn.indicators.LoadingSpinner(value=True, size=30)
        if spec.type == "chart" and spec.chart is not None:
            return _chart(spec, frame, on_tap)
        if spec.type == "table":
            return _table(spec, frame)
        if spec.type == "kpi" and spec.kpi is not None:
            return _kpi(spec, frame, kpi)
    except PortalError as exc:
        return alert(exc.message, "warning", sizing_mode="stretch_width")
    except Exception:
        # Unexpected data (e.g. stored before a format change): this widget shows a box, the page stays.
        log.exception("cannot render widget %r", spec.title)
        return alert("This widget cannot be shown.", "warning", sizing_mode="stretch_width")
    return alert(f"cannot show a {spec.type} widget", "warning")


def render_result(
    spec: WidgetSpec, result: WidgetResult, *, on_tap: Callable[[Any], None] | None = None
) -> pn.viewable.Viewable:
    """A widget's :class:`~portal.dashboards.data.WidgetResult` as shown on a dashboard tile."""
    return render_widget(spec, result.frame, kpi=result.kpi, error=result.error, on_tap=on_tap)


def _chart(spec: WidgetSpec, df: pd.DataFrame, on_tap: Callable[[Any], None] | None) -> pn.viewable.Viewable:
    assert spec.chart is not None
    chart = spec.chart
    fig = charts.render(chart, df, "bokeh")
    # Fill the grid tile, whatever size the user drags it to.
    fig.update(sizing_mode="stretch_both", width=None, height=None, min_height=140, min_width=200)
    if on_tap is not None:
        for src in fig.select(type=ColumnDataSource):
            if not isinstance(src, ColumnDataSource):
                continue

            def tapped(_attr: str, _old: Any, new: Any, src: ColumnDataSource = src) -> None:
                # Bars, wedges and markers report `indices`; area patches report `line_indices`.
                picked = list(new) if isinstance(new, list) else []
                if not picked:
                    return
                value = charts.tap_value(chart, df, picked[0], source=src.data)
                src.selected.update(indices=[], line_indices=[])
                if value is not None:
                    on_tap(value)

            src.selected.on_change("indices", tapped)
            src.selected.on_change("line_indices", tapped)
    return pn.pane.Bokeh(fig, sizing_mode="stretch_both")


def _table(spec: WidgetSpec, df: pd.DataFrame) -> pn.viewable.Viewable:
    tspec = spec.table or TableSpec()
    out = cards.table_with_subtotals(df, tspec)
    kinds = out.pop("_row_kind") if "_row_kind" in out.columns else None
    table = pn.widgets.Tabulator(
        out,
        pagination="local",
        page_size=tspec.page_size,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_both",
        layout="fit_data_table",
    )
    if kinds is not None:
        styles = {
            "subtotal": "font-weight: bold; background-color: #eef2ff",
            "total": "font-weight: bold; background-color: #dbeafe",
        }

        def style_rows(row: pd.Series) -> list[str]:
            return [styles.get(str(kinds.iloc[row.name]), "")] * len(row)

        if table.style is not None:
            table.style.apply(style_rows, axis=1)
    return table


def _kpi(spec: WidgetSpec, df: pd.DataFrame, kpi: KpiResult | None) -> pn.viewable.Viewable:
    k = spec.kpi
    assert k is not None
    if k.value not in df.columns:
        raise PortalError(f"kpi.value: the query has no column {k.value!r}", field="kpi.value")
    v = (kpi or kpi_result(k, df)).shown
    color = STATUS_COLORS.get(v.status, "#475569")
    parts = [
        f'<div class="kpi-value" style="font-size:34px;font-weight:700;color:{color}">{html.escape(v.text)}</div>'
    ]
    if v.variation is not None:
        arrow = ARROWS.get(v.arrow, "")
        parts.append(
            f'<div class="kpi-variation" style="font-size:14px;color:#475569">{arrow} '
            f"{v.variation * 100:+.1f}% vs previous period</div>"
        )
    if k.target is not None:
        parts.append(
            f'<div class="kpi-target" style="font-size:13px;color:#64748b">target {html.escape(cards.format_value(k.target, k.format, k.decimals))}</div>'
        )
    light = (
        f'<span class="kpi-light kpi-{v.status}" title="{v.status}" style="display:inline-block;width:14px;'
        f'height:14px;border-radius:7px;background:{color};margin-right:6px"></span>'
    )
    # The tile header already shows the widget title; repeat only a label that says more.
    label = html.escape(k.label if k.label and k.label != spec.title else "")
    return pn.pane.HTML(
        f'<div style="padding:4px 8px">{light}<span style="color:#334155">{label}</span>'
        f"{''.join(parts)}</div>",
        sizing_mode="stretch_both",
        css_classes=["cbi-kpi"],
    )
