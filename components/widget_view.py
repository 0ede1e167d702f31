"""Renders one widget's data: chart (bokeh), table (subtotals/totals), KPI card or Markdown text.

Labels and number formats come from the result's :class:`~portal.viz.formats.Display` (the
catalog's, via the dashboard service), the same in table headers and cells, chart axes and
tooltips and KPI cards.
"""

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
from portal.specs import QuerySpec, TableSpec, WidgetSpec
from portal.viz import cards, charts
from portal.viz.colors import ColorMap
from portal.viz.formats import Display, table_text, tabulator_formatter
from portal.viz.markdown import render_markdown
from portal.viz.prepare import NO_DATA_MESSAGE

log = logging.getLogger(__name__)
STATUS_COLORS = {"good": "#15803d", "warn": "#b45309", "bad": "#b91c1c", "none": "#475569"}
ARROWS = {"up": "▲", "down": "▼", "flat": "■"}
#: Height of one dashboard grid row (``components.dashboard_builder.ROW_HEIGHT``) and of a tile's
#: title bar: what a tile of ``h`` rows leaves for its body.
TILE_ROW_PX = 90
TILE_HEAD_PX = 40
#: Tabulator's row, header and pager heights (px), to show only the rows a tile has room for.
#: The smallest a chart is drawn (also given to a chart tile's skeleton: the tile's layout keeps its
#: size constraints when the chart replaces it, and the browser need not lay the page out again).
CHART_MIN_SIZE = {"min_height": 140, "min_width": 200}
_TABLE_ROW_PX = 30
_TABLE_CHROME_PX = 100
_CELL_PAD_PX = 16
# Widths (px) of 14 px characters in the portal's table font (DejaVu Sans, as Chromium draws it),
# normal and bold, by kind: measured once, within a few percent (widths add 5 % to be safe).
_NARROW = frozenset("iljtfrI.,:;'!|() ")
_WIDE = frozenset("mwMW%")


def text_px(text: str, bold: bool = False) -> float:
    """About how many pixels ``text`` takes in a table cell (bold: a header or a summary row)."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 5.3 if bold else 4.6
        elif ch in _WIDE:
            width += 14.0 if bold else 12.5
        elif ch.isdigit():
            width += 9.8 if bold else 8.9
        elif ch.isupper():
            width += 10.5 if bold else 9.6
        else:
            width += 9.3 if bold else 8.4
    return width * 1.05


def render_widget(
    spec: WidgetSpec,
    frame: pd.DataFrame | None = None,
    *,
    kpi: KpiResult | None = None,
    error: str | None = None,
    on_tap: Callable[[Any], None] | None = None,
    totals: pd.DataFrame | None = None,
    subtotals: pd.DataFrame | None = None,
    display: Display | None = None,
    query: QuerySpec | None = None,
    height: int | None = None,
    colors: ColorMap | None = None,
) -> pn.viewable.Viewable:
    """A Panel object for a widget's result (errors become an inline alert, not an exception).

    ``frame`` is the result (None: still loading); ``kpi`` the card's numbers when the
    service computed them (with the previous period), else they come from ``frame``.
    ``totals``/``subtotals`` are a table's summary rows re-aggregated by the warehouse,
    ``display`` the columns' labels and formats, ``query`` the query that ran (which of its
    columns add up), ``height`` the pixels the body has (a table shows no more rows a page
    than fit), ``colors`` a colour map shared by the charts of one view.
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
            return _chart(spec, frame, on_tap, display, colors)
        if spec.type == "table":
            return _table(spec, frame, totals, subtotals, display or Display(), query, height)
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
    spec: WidgetSpec,
    result: WidgetResult,
    *,
    on_tap: Callable[[Any], None] | None = None,
    colors: ColorMap | None = None,
    height: int | None = None,
) -> pn.viewable.Viewable:
    """A widget's :class:`~portal.dashboards.data.WidgetResult` as shown on a dashboard tile.

    ``height`` (the tile body's pixels) defaults to what the widget's grid position gives.
    """
    if height is None:
        rows = int((result.widget.position or {}).get("h", 0) or 0)
        height = rows * TILE_ROW_PX - TILE_HEAD_PX if rows else None
    return render_widget(
        spec,
        result.frame,
        kpi=result.kpi,
        error=result.error,
        on_tap=on_tap,
        totals=result.totals,
        subtotals=result.subtotals,
        display=result.display,
        query=result.query,
        height=height,
        colors=colors,
    )


def no_data() -> pn.viewable.Viewable:
    """What an empty result shows instead of bare axes or an empty grid."""
    return pn.pane.HTML(
        f'<div class="cbi-no-data" style="display:flex;align-items:center;justify-content:center;'
        f'height:100%;min-height:60px;color:#64748b;font-size:13px">{NO_DATA_MESSAGE}</div>',
        sizing_mode="stretch_both",
    )


def _chart(
    spec: WidgetSpec,
    df: pd.DataFrame,
    on_tap: Callable[[Any], None] | None,
    display: Display | None,
    colors: ColorMap | None,
) -> pn.viewable.Viewable:
    assert spec.chart is not None
    chart = spec.chart
    fig = charts.render(chart, df, "bokeh", display=display, colors=colors)
    if fig.select_one({"name": "no-data"}) is not None:
        return no_data()  # the message as text, not a canvas of empty axes
    # Fill the grid tile, whatever size the user drags it to.
    fig.update(sizing_mode="stretch_both", width=None, height=None, **CHART_MIN_SIZE)
    pane = ChartPane(fig, sizing_mode="stretch_both")
    pane.tap_state = {"chart": chart, "df": df, "on_tap": on_tap}
    if on_tap is not None:
        state = pane.tap_state
        for src in fig.select(type=ColumnDataSource):
            if not isinstance(src, ColumnDataSource):
                continue

            def tapped(_attr: str, _old: Any, new: Any, src: ColumnDataSource = src) -> None:
                # Bars, wedges and markers report `indices`; area patches report `line_indices`.
                picked = list(new) if isinstance(new, list) else []
                if not picked:
                    return
                # From the pane's state: a chart patched in place (filter change) has new data.
                value = charts.tap_value(state["chart"], state["df"], picked[0], source=src.data)
                src.selected.update(indices=[], line_indices=[])
                if value is not None and state["on_tap"] is not None:
                    state["on_tap"](value)

            src.selected.on_change("indices", tapped)
            src.selected.on_change("line_indices", tapped)
    return pane


class ChartPane(pn.pane.Bokeh):
    """A chart tile's Bokeh pane; ``tap_state`` holds what a click on it drills into (the chart
    spec, the frame and the callback), replaced when the chart is updated in place."""

    priority: Any = 0  # never chosen by pn.panel() for a bare figure

    def __init__(self, obj: Any = None, **params: Any) -> None:
        super().__init__(obj, **params)
        self.tap_state: dict[str, Any] = {}


def _time_text(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values, errors="coerce")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)
    valid = stamps.dropna()
    fmt = "%Y-%m-%d" if (valid == valid.dt.normalize()).all() else "%Y-%m-%d %H:%M"
    return pd.Series(
        [t.strftime(fmt) if not pd.isna(t) else v for t, v in zip(stamps, values, strict=True)],
        index=values.index,
        dtype=object,
    )


def table_frame(
    spec: WidgetSpec,
    df: pd.DataFrame,
    totals: pd.DataFrame | None,
    subtotals: pd.DataFrame | None,
    display: Display,
    query: QuerySpec | None,
) -> tuple[pd.DataFrame, pd.Series | None, dict[str, tuple[float, float]]]:
    """The table as shown: rows with subtotal/total rows, the kind of each row, and per column
    the width (px) of its widest cell text as the user reads it, in plain rows and in the bold
    subtotal/total rows (for the column widths)."""
    tspec = spec.table or TableSpec()
    numeric = cards.additive_columns(query, [str(c) for c in df.columns])
    out = cards.table_with_subtotals(df, tspec, numeric, totals=totals, subtotals=subtotals)
    kinds = out.pop("_row_kind") if "_row_kind" in out.columns else None
    widest: dict[str, tuple[float, float]] = {}
    bold = (kinds != "row").tolist() if kinds is not None else [False] * len(out)
    for c in out.columns:
        fmt = display.formats.get(str(c)) or (
            "number" if pd.api.types.is_float_dtype(out[c].dtype) else "text"
        )
        if fmt == "time":
            out[c] = _time_text(out[c])
        sizes = [
            (text_px(table_text(v, fmt), strong), strong) for v, strong in zip(out[c], bold, strict=True)
        ]
        widest[str(c)] = (
            max((n for n, strong in sizes if not strong), default=0.0),
            max((n for n, strong in sizes if strong), default=0.0),
        )
    return out, kinds, widest


def _table(
    spec: WidgetSpec,
    df: pd.DataFrame,
    totals: pd.DataFrame | None,
    subtotals: pd.DataFrame | None,
    display: Display,
    query: QuerySpec | None,
    height: int | None,
) -> pn.viewable.Viewable:
    if df.empty:
        return no_data()
    tspec = spec.table or TableSpec()
    out, kinds, widest = table_frame(spec, df, totals, subtotals, display, query)
    formatters: dict[str, Any] = {}
    for c in out.columns:
        fmt = display.formats.get(str(c))
        if fmt is None and pd.api.types.is_float_dtype(out[c].dtype):
            fmt = "number"  # no "186.000000" for a column the result does not describe
        formatter = tabulator_formatter(fmt) if fmt else None
        if formatter is None:
            continue
        values = pd.to_numeric(out[c], errors="coerce")
        if fmt == "percent":
            # Tabulator's formatter adds the sign: the cells hold the fraction x 100.
            values = values * 100
        # Missing values are empty cells (not "NaN").
        out[c] = values.astype(object).where(values.notna(), None) if values.isna().any() else values
        formatters[str(c)] = formatter
    page_size = tspec.page_size
    if height:
        # Never more rows a page than the tile shows: the last ones would be cut off at its bottom.
        page_size = max(3, min(page_size, (height - _TABLE_CHROME_PX) // _TABLE_ROW_PX))
    titles = display.labels_for([str(c) for c in out.columns])
    summary = kinds is not None and bool((kinds != "row").any())
    # Columns as wide as their widest text (bold summary rows, the header with its sort arrow):
    # nothing is cut off.
    head = 16 if summary else 32  # header padding, and the sort arrow when there is one
    widths = {
        c: min(440, int(max(plain + _CELL_PAD_PX, strong + _CELL_PAD_PX, text_px(titles[c], True) + head)))
        for c, (plain, strong) in widest.items()
    }
    table = pn.widgets.Tabulator(
        out,
        pagination="local",
        page_size=page_size,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_both",
        layout="fit_data_table",
        titles=titles,
        formatters=formatters,
        widths=widths,
        header_align=dict.fromkeys(formatters, "right"),
        text_align=dict.fromkeys(formatters, "right"),
        # Sorting by a header would scatter the subtotal and total rows through the table.
        sortable=not summary,
        css_classes=["cbi-table"],
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
    # One line whatever the tile's width: the value's font follows the card's width (container
    # query units), so "R$ 261,299" neither wraps nor runs out of a narrow tile.
    line = "white-space:nowrap;overflow:hidden;text-overflow:ellipsis"
    parts = [
        f'<div class="kpi-value" style="font-size:clamp(18px, 13cqw, 34px);font-weight:700;'
        f'line-height:1.15;color:{color};{line}">{html.escape(v.text)}</div>'
    ]
    if v.variation is not None:
        arrow = ARROWS.get(v.arrow, "")
        parts.append(
            f'<div class="kpi-variation" style="font-size:clamp(11px, 5.5cqw, 14px);color:#475569;{line}" '
            f'title="{v.variation * 100:+.1f}% vs previous period">{arrow} '
            f"{v.variation * 100:+.1f}% vs previous period</div>"
        )
    if k.target is not None:
        target = html.escape(cards.format_value(k.target, k.format, k.decimals))
        parts.append(
            f'<div class="kpi-target" style="font-size:clamp(11px, 5cqw, 13px);color:#64748b;{line}">'
            f"target {target}</div>"
        )
    light = (
        f'<span class="kpi-light kpi-{v.status}" title="{v.status}" style="display:inline-block;width:14px;'
        f'height:14px;border-radius:7px;background:{color};margin-right:6px"></span>'
    )
    # The tile header already shows the widget title; repeat only a label that says more.
    label = html.escape(k.label if k.label and k.label != spec.title else "")
    return pn.pane.HTML(
        f'<div class="cbi-kpi-card" style="padding:4px 8px;container-type:inline-size;overflow:hidden">'
        f'{light}<span style="color:#334155">{label}</span>{"".join(parts)}</div>',
        sizing_mode="stretch_both",
        css_classes=["cbi-kpi"],
    )
