"""portal.viz.charts without servers: every viz on both backends, validation, drill-down, tables and KPIs."""

from __future__ import annotations

import base64
import math

import numpy as np
import pandas as pd
import pytest
from bokeh.embed import json_item
from bokeh.models import DatetimeAxis, HoverTool, TapTool
from bokeh.models.glyphs import AnnularWedge, HBar, Line, Patch, Quad, Rect, Scatter, VBar, Wedge

from portal.errors import InvalidSpec
from portal.specs import VIZ_TYPES, ChartSpec, KpiSpec, TableSpec
from portal.viz import cards, charts
from portal.viz.colors import stable_colors
from portal.viz.prepare import CATEGORY_PALETTE

TEAMS = ["North", "South", "East"]
PRIOS = ["high", "normal", "low"]


@pytest.fixture
def cat() -> pd.DataFrame:
    rows = [(t, p, (i + 1) * 10 + j) for i, t in enumerate(TEAMS) for j, p in enumerate(PRIOS)]
    return pd.DataFrame(rows, columns=["team_name", "priority", "tickets"]).assign(
        cost=lambda d: d.tickets * 1.5
    )


@pytest.fixture
def daily() -> pd.DataFrame:
    days = pd.date_range("2024-03-01", periods=5, freq="D")
    rows = [(d, c, i * 2 + k) for i, d in enumerate(days) for k, c in enumerate(["web", "phone"])]
    return pd.DataFrame(rows, columns=["opened_at", "channel", "tickets"])


def spec(viz: str, series: str | None = "priority", stacked: bool = False, **kw) -> ChartSpec:
    if viz == "heatmap" and series is None:
        series = "priority"
    return ChartSpec(viz=viz, x="team_name", y=["tickets"], series=series, stacked=stacked, **kw)


def arr(values) -> np.ndarray:
    """A plotly array: plotly 7 ships numeric numpy arrays base64-encoded ({"dtype", "bdata", "shape"})."""
    if isinstance(values, dict) and "bdata" in values:
        out = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        shape = values.get("shape")
        return out.reshape([int(n) for n in str(shape).split(",")]) if shape else out
    return np.asarray(values)


def stable(labels) -> list[str]:
    """The stable colours of ``labels`` (portal.viz.colors), in their order."""
    colours = stable_colors([str(v) for v in labels], CATEGORY_PALETTE)
    return [colours[str(v)] for v in labels]


def glyphs(p, kind) -> list:
    return [r for r in p.renderers if isinstance(r.glyph, kind)]


def tool(p, kind):
    found = [t for t in p.tools if isinstance(t, kind)]
    assert len(found) == 1, p.tools
    return found[0]


CASES = [
    (viz, series, stacked)
    for viz in VIZ_TYPES
    for series in (None, "priority")
    for stacked in (False, True)
    if not (viz == "heatmap" and series is None) and not (stacked and viz not in ("bar", "column", "area"))
]


# --------------------------------------------------------------------------- bokeh
@pytest.mark.parametrize(("viz", "series", "stacked"), CASES)
def test_bokeh_every_viz(cat, viz, series, stacked):
    s = spec(viz, series, stacked, title="T")
    p = charts.render(s, cat, "bokeh")
    json_item(p)  # serialisable for the browser
    assert p.sizing_mode == "stretch_width" and p.height == s.height
    assert p.title.text == "T"
    n_series = 3 if series else 1
    tap, hover = tool(p, TapTool), tool(p, HoverTool)
    assert tap.renderers and hover.renderers == tap.renderers

    if viz in ("bar", "column"):
        kind = HBar if viz == "bar" else VBar
        (bars,) = glyphs(p, kind)
        assert len(bars.data_source.data["team_name"]) == 3 * n_series
        if stacked and series:
            # One stacked glyph: each row spans bottom..top (vbar) / left..right (hbar).
            data = bars.data_source.data
            low, high = ("left", "right") if viz == "bar" and "left" in data else ("bottom", "top")
            assert np.allclose(np.asarray(data[high]) - np.asarray(data[low]), data["tickets"])
        if series:
            mapper = bars.glyph.fill_color.transform
            assert list(mapper.palette) == stable(mapper.factors)
            assert [str(i.label.value) if hasattr(i.label, "value") else i.label for i in p.legend[0].items]
    elif viz == "line":
        assert len(glyphs(p, Line)) == n_series and len(glyphs(p, Scatter)) == n_series
        assert tap.renderers == glyphs(p, Scatter)
        if series:  # the tooltip's "$name" is the series of the hovered marker
            assert [r.name for r in glyphs(p, Scatter)] == PRIOS
            assert [r.glyph.fill_color for r in glyphs(p, Scatter)] == stable(PRIOS)
    elif viz == "area":
        assert len(glyphs(p, Patch)) == n_series and len(glyphs(p, Line)) == n_series
        if series:
            assert [r.name for r in glyphs(p, Line)] == PRIOS
    elif viz in ("pie", "donut"):
        (wedges,) = glyphs(p, Wedge if viz == "pie" else AnnularWedge)
        data = wedges.data_source.data
        assert len(data["label"]) == 3
        sweep = np.asarray(data["start"]) - np.asarray(data["end"])
        assert math.isclose(sweep.sum(), 2 * math.pi)
        assert (sweep > 0).all()
        assert data["color"] == stable(data["label"])
    elif viz == "treemap":
        (quads,) = glyphs(p, Quad)
        data = quads.data_source.data
        assert len(data["label"]) == 9 if series else 3
        area = (np.asarray(data["right"]) - np.asarray(data["left"])) * (
            np.asarray(data["top"]) - np.asarray(data["bottom"])
        )
        share = np.asarray(data["value"]) / np.sum(data["value"])
        # Tiles are proportional to their values (the group insets only shrink them a little).
        assert np.allclose(area / area.sum(), share, atol=0.03)
    elif viz == "heatmap":
        (cells,) = glyphs(p, Rect)
        assert len(cells.data_source.data["team_name"]) == 9


def test_bokeh_hover_names_columns_and_formats_values(cat):
    p = charts.render(spec("column"), cat, "bokeh")
    assert tool(p, HoverTool).tooltips == [
        ("Team name", "@{team_name}"),
        ("Priority", "@{priority}"),
        ("Tickets", "@{tickets}{0,0.[00]}"),
    ]


def test_bokeh_custom_labels_and_colors(cat):
    s = spec("column", x_label="Team", y_label="Count", colors=["#111111", "#222222", "#333333"])
    p = charts.render(s, cat, "bokeh")
    assert p.xaxis[0].axis_label == "Team" and p.yaxis[0].axis_label == "Count"
    (bars,) = glyphs(p, VBar)
    assert list(bars.glyph.fill_color.transform.palette) == ["#111111", "#222222", "#333333"]


def test_bar_reads_top_down(cat):
    p = charts.render(spec("bar", series=None), cat, "bokeh")
    assert list(p.y_range.factors) == ["East", "South", "North"]  # bokeh's first factor is the bottom one


# --------------------------------------------------------------------------- plotly
@pytest.mark.parametrize(("viz", "series", "stacked"), CASES)
def test_plotly_every_viz(cat, viz, series, stacked):
    s = spec(viz, series, stacked, title="T")
    fig = charts.render(s, cat, "plotly")
    assert isinstance(fig, dict)
    assert fig["layout"]["title"]["text"] == "T" and fig["layout"]["height"] == s.height
    traces = fig["data"]
    n_series = 3 if series else 1
    types = {t["type"] for t in traces}
    if viz in ("bar", "column"):
        assert types == {"bar"} and len(traces) == n_series
        assert all(len(arr(t["y" if viz == "column" else "x"])) == 3 for t in traces)
        assert {t.get("orientation") for t in traces} == {"h" if viz == "bar" else "v"}
        assert fig["layout"]["barmode"] == ("stack" if stacked and series else "group")
        if series:
            assert [t["name"] for t in traces] == PRIOS
            assert [t["marker"]["color"] for t in traces] == stable(PRIOS)
    elif viz == "line":
        assert types == {"scatter"} and len(traces) == n_series
        assert all(t["mode"] == "lines+markers" and len(arr(t["x"])) == 3 for t in traces)
    elif viz == "area":
        filled = [t for t in traces if t.get("fill")]
        assert types == {"scatter"} and len(filled) == n_series
        assert all(len(arr(t["x"])) == 3 for t in filled)
    elif viz in ("pie", "donut"):
        (pie,) = traces
        assert pie["type"] == "pie" and list(pie["labels"]) == TEAMS
        assert sum(pie["values"]) == cat.tickets.sum()
        assert (pie["hole"] > 0) == (viz == "donut")
    elif viz == "treemap":
        (tm,) = traces
        assert tm["type"] == "treemap"
        assert len(tm["labels"]) == (9 + 3 if series else 3)
        if series:
            assert set(tm["parents"]) == {"", *(f"p/{p}" for p in PRIOS)}
    elif viz == "heatmap":
        (hm,) = traces
        assert hm["type"] == "heatmap"
        assert arr(hm["z"]).size == 9


def test_multiple_y_columns_are_series(cat):
    s = ChartSpec(viz="column", x="team_name", y=["tickets", "cost"])
    fig = charts.render(s, cat, "plotly")
    assert [t["name"] for t in fig["data"]] == ["Tickets", "Cost"]
    p = charts.render(s, cat, "bokeh")
    (bars,) = glyphs(p, VBar)
    assert len(bars.data_source.data["team_name"]) == 6
    line = charts.render(s.model_copy(update={"viz": "line"}), cat, "bokeh")
    assert len(glyphs(line, Line)) == 2


def test_duplicate_rows_are_summed(cat):
    doubled = pd.concat([cat, cat])
    fig = charts.render(spec("column", series=None), doubled, "plotly")
    assert list(arr(fig["data"][0]["y"])) == list(cat.groupby("team_name", sort=False).tickets.sum() * 2)


# --------------------------------------------------------------------------- time axis
@pytest.mark.parametrize("viz", ["line", "area"])
def test_datetime_x_is_a_datetime_axis(daily, viz):
    s = ChartSpec(viz=viz, x="opened_at", y=["tickets"], series="channel", stacked=True)
    p = charts.render(s, daily, "bokeh")
    assert isinstance(p.xaxis[0], DatetimeAxis)
    hover = tool(p, HoverTool)
    assert ("Opened at", "@{opened_at}{%F}") in hover.tooltips and hover.formatters == {
        "@{opened_at}": "datetime"
    }
    fig = charts.render(s, daily, "plotly")
    assert fig["layout"]["xaxis"]["type"] == "date"


def test_dates_and_time_zones_become_datetimes(daily):
    as_dates = daily.assign(opened_at=daily.opened_at.dt.date)
    zoned = daily.assign(opened_at=daily.opened_at.dt.tz_localize("America/Sao_Paulo"))
    s = ChartSpec(viz="line", x="opened_at", y=["tickets"], series="channel")
    for frame in (as_dates, zoned):
        assert isinstance(charts.render(s, frame, "bokeh").xaxis[0], DatetimeAxis)


def test_time_buckets_on_bars_are_readable_labels(daily):
    s = ChartSpec(viz="column", x="opened_at", y=["tickets"])
    fig = charts.render(s, daily, "plotly")
    assert list(arr(fig["data"][0]["x"])) == [f"2024-03-0{d}" for d in range(1, 6)]


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kw", "field", "hint"),
    [
        ({"x": "team"}, "chart.x", "team_name"),
        ({"y": ["tickets", "costs"]}, "chart.y[1]", "cost"),
        ({"series": "priorty"}, "chart.series", "priority"),
    ],
)
@pytest.mark.parametrize("backend", ["bokeh", "plotly"])
def test_missing_column_names_field_and_closest(cat, kw, field, hint, backend):
    s = ChartSpec(**{"viz": "column", "x": "team_name", "y": ["tickets"], **kw})
    with pytest.raises(InvalidSpec) as err:
        charts.render(s, cat, backend)
    assert err.value.field == field
    assert repr(hint) in err.value.message


def test_non_numeric_y_is_invalid(cat):
    s = ChartSpec(viz="column", x="priority", y=["team_name"])
    with pytest.raises(InvalidSpec) as err:
        charts.build_chart(s, cat)
    assert err.value.field == "chart.y[0]"


def test_decimal_and_bool_y_are_numeric(cat):
    from decimal import Decimal

    frame = cat.assign(tickets=[Decimal(v) for v in cat.tickets], flag=cat.tickets > 20)
    fig = charts.render(ChartSpec(viz="column", x="team_name", y=["tickets", "flag"]), frame, "plotly")
    assert len(fig["data"]) == 2


@pytest.mark.parametrize("viz", VIZ_TYPES)
@pytest.mark.parametrize("backend", ["bokeh", "plotly"])
def test_empty_frame_gives_empty_chart(cat, viz, backend):
    for frame in (cat.iloc[0:0], pd.DataFrame()):
        out = charts.render(spec(viz, title="Tickets"), frame, backend)
        title = out.title.text if backend == "bokeh" else out["layout"]["title"]["text"]
        assert title == "Tickets — No data"
        if backend == "bokeh":
            json_item(out)
    untitled = charts.render(spec(viz), cat.iloc[0:0], backend)
    assert (untitled.title.text if backend == "bokeh" else untitled["layout"]["title"]["text"]) == "No data"


def test_build_chart_returns_holoviews_and_refuses_figure_viz(cat):
    import holoviews as hv

    assert isinstance(charts.build_chart(spec("column"), cat), hv.Bars)
    assert isinstance(charts.build_chart(spec("line"), cat), hv.Overlay)
    assert isinstance(charts.build_chart(spec("heatmap"), cat), hv.HeatMap)
    with pytest.raises(ValueError, match="render"):
        charts.build_chart(spec("pie"), cat)


# --------------------------------------------------------------------------- drill-down
@pytest.mark.parametrize(
    ("viz", "series", "stacked"),
    [
        case
        for case in CASES
        if case[0] in ("bar", "column", "pie", "donut", "treemap", "heatmap", "line", "area")
    ],
)
def test_tap_value_matches_every_tappable_row(cat, viz, series, stacked):
    s = spec(viz, series, stacked)
    frame = cat.iloc[:-1]  # one (x, series) pair missing: grids must still line up
    p = charts.render(s, frame, "bokeh")
    for r in tool(p, TapTool).renderers:
        shown = list(r.data_source.data["team_name"])
        assert [charts.tap_value(s, frame, i) for i in range(len(shown))] == shown
        assert [charts.tap_value(s, frame, i, source=r.data_source.data) for i in range(len(shown))] == shown


def test_tap_value_returns_raw_values_and_none_out_of_range(cat, daily):
    numeric = cat.assign(team_name=cat.team_name.map({"North": 10, "South": 20, "East": 30}))
    s = spec("column", series=None)
    assert charts.tap_value(s, numeric, 0) == 10 and isinstance(charts.tap_value(s, numeric, 0), int)
    assert charts.tap_value(s, numeric, 3) is None
    assert charts.tap_value(s, numeric, -1) is None
    pie = spec("pie", series=None)
    assert [charts.tap_value(pie, cat, i) for i in range(3)] == TEAMS
    line = ChartSpec(viz="line", x="opened_at", y=["tickets"], series="channel")
    p = charts.render(line, daily, "bokeh")
    src = tool(p, TapTool).renderers[1].data_source.data
    assert charts.tap_value(line, daily, 2, source=src) == pd.Timestamp("2024-03-03")
    assert charts.tap_value(line, daily, 2) == pd.Timestamp("2024-03-03")


# --------------------------------------------------------------------------- tables
@pytest.fixture
def sales() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": ["North", "South", "North", "South", "East"],
            "city": ["A", "B", "C", "D", "E"],
            "customer_id": [1, 2, 3, 4, 5],
            "orders": [3, 5, 2, 1, 4],
            "amount": [100.0, 50.0, 300.0, 25.0, 80.0],
        }
    )


def test_table_subtotals_and_total(sales):
    out = cards.table_with_subtotals(
        sales, TableSpec(subtotals_by="region", sort_by="amount", sort_desc=True)
    )
    assert list(out.columns) == ["region", "city", "customer_id", "orders", "amount", "_row_kind"]
    assert out["_row_kind"].tolist() == [
        "row",
        "row",
        "subtotal",
        "row",
        "subtotal",
        "row",
        "row",
        "subtotal",
        "total",
    ]
    # Groups by subtotal of the sort column (North 400, East 80, South 75), rows sorted inside.
    assert out["region"].tolist()[:3] == ["North", "North", "Subtotal North"]
    assert out["city"].tolist() == ["C", "A", None, "E", None, "B", "D", None, None]
    assert out["amount"].tolist() == [300.0, 100.0, 400.0, 80.0, 80.0, 50.0, 25.0, 75.0, 555.0]
    assert out["orders"].tolist() == [2, 3, 5, 4, 4, 5, 1, 6, 15]
    assert out.loc[out._row_kind == "total", "region"].item() == "Total"
    # Keys are not summed; ints stay ints.
    assert out["customer_id"].isna().sum() == 4 and str(out["customer_id"].dtype) == "Int64"


def test_table_columns_label_in_first_text_column_and_explicit_numeric(sales):
    out = cards.table_with_subtotals(
        sales, TableSpec(columns=["city", "region", "amount"], subtotals_by="region"), numeric=["amount"]
    )
    sub = out[out._row_kind == "subtotal"]
    assert sub["city"].tolist() == ["Subtotal North", "Subtotal South", "Subtotal East"]
    assert sub["region"].tolist() == ["North", "South", "East"]  # the group stays visible
    assert sub["amount"].tolist() == [400.0, 75.0, 80.0]
    assert out.iloc[-1].tolist() == ["Total", None, 555.0, "total"]


def test_table_plain_sort_without_totals(sales):
    out = cards.table_with_subtotals(sales, TableSpec(sort_by="orders", totals=False))
    assert out["orders"].tolist() == [1, 2, 3, 4, 5] and set(out._row_kind) == {"row"}


def test_table_errors_and_empty(sales):
    with pytest.raises(InvalidSpec) as err:
        cards.table_with_subtotals(sales, TableSpec(sort_by="amout"))
    assert err.value.field == "table.sort_by" and "'amount'" in err.value.message
    with pytest.raises(InvalidSpec):
        cards.table_with_subtotals(sales, TableSpec(subtotals_by="regio"))
    empty = cards.table_with_subtotals(sales.iloc[0:0], TableSpec())
    assert empty["_row_kind"].tolist() == ["total"] and empty["amount"].tolist() == [0.0]


# --------------------------------------------------------------------------- KPIs
def test_kpi_formats():
    assert cards.kpi_values(1234567.4, None, KpiSpec(value="v")).text == "1,234,567"
    assert (
        cards.kpi_values(1234.564, None, KpiSpec(value="v", format="currency", decimals=2)).text
        == "R$ 1,234.56"
    )
    assert cards.kpi_values(-5, None, KpiSpec(value="v", format="currency")).text == "-R$ 5"
    assert cards.kpi_values(0.953, None, KpiSpec(value="v", format="percent", decimals=1)).text == "95.3%"
    assert cards.kpi_values(3.46, None, KpiSpec(value="v", format="duration_h", decimals=1)).text == "3.5 h"
    assert cards.kpi_values(None, 3, KpiSpec(value="v")).text == "—"


def test_kpi_variation_and_arrow():
    k = KpiSpec(value="v")
    v = cards.kpi_values(120, 100, k)
    assert v.variation == pytest.approx(0.2) and v.arrow == "up" and v.variation_text == "+20.0%"
    v = cards.kpi_values(-30, -20, k)
    assert v.variation == pytest.approx(-0.5) and v.arrow == "down"
    v = cards.kpi_values(5, 0, k)
    assert v.variation is None and v.arrow == "up"
    assert cards.kpi_values(5, None, k).variation is None
    assert cards.kpi_values(5, 5, k).arrow == "flat"
    assert cards.kpi_values(120, 100, KpiSpec(value="v", compare_previous=False)).variation is None


@pytest.mark.parametrize(
    ("value", "status"),
    [(96, "good"), (95, "good"), (90, "warn"), (85, "warn"), (84.9, "bad"), (None, "none")],
)
def test_kpi_status_against_target_higher_is_better(value, status):
    k = KpiSpec(value="v", target=100, good_at=0.95, warn_at=0.85)
    v = cards.kpi_values(value, None, k)
    assert v.status == status
    assert v.ratio == (None if value is None else pytest.approx(value / 100))


@pytest.mark.parametrize(
    ("value", "status"), [(2, "good"), (4, "good"), (6, "warn"), (8, "warn"), (9, "bad")]
)
def test_kpi_status_lower_is_better_without_target(value, status):
    k = KpiSpec(value="v", higher_is_better=False, good_at=4, warn_at=8)
    assert cards.kpi_values(value, None, k).status == status


def test_kpi_status_without_thresholds_or_with_zero_target():
    assert cards.kpi_values(5, None, KpiSpec(value="v")).status == "none"
    zero = cards.kpi_values(5, None, KpiSpec(value="v", target=0, good_at=1))
    assert zero.ratio is None and zero.status == "none"
