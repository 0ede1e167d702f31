"""A readable display (issue 8): labels and number formats from the catalog, partial periods, stable
colours, empty charts that say so, treemap labels that fit, readable time axes."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from bokeh.models import BoxAnnotation, DatetimeAxis, DatetimeTickFormatter, HoverTool, Title
from bokeh.models.glyphs import Line, Quad, Text, VBar

from portal.data.catalog import DEMO_CATALOG
from portal.specs import ChartSpec, QuerySpec
from portal.viz import charts
from portal.viz.colors import ColorMap, preferred_slot, stable_colors
from portal.viz.formats import Display, format_number, humanise, numeral, tabulator_formatter
from portal.viz.periods import bucket_end, bucket_start, is_partial, partial_flags
from portal.viz.prepare import NO_DATA_MESSAGE, PALETTE


# --------------------------------------------------------------------------- number formats
@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (186.0, "integer", "186"),
        (1234567, "integer", "1,234,567"),
        (0.203315, "percent", "20.3%"),
        (1.0, "percent", "100.0%"),
        (4.21337, "number", "4.21"),
        (12.54, "number", "12.5"),
        (1234.5, "number", "1,234"),
        (82737.16, "currency", "R$ 82,737"),
        (27.5, "currency", "R$ 27.50"),
        (-5, "currency", "-R$ 5.00"),
        (17.530718, "duration_h", "17.5 h"),
        (43.83, "duration_min", "43.8 min"),
        (2448.2, "duration_s", "2,448 s"),
        (None, "integer", "—"),
        (float("nan"), "percent", "—"),
        ("x", "number", "—"),
    ],
)
def test_format_number(value, fmt, text):
    assert format_number(value, fmt) == text


def test_fixed_decimals_and_patterns():
    assert format_number(0.953, "percent", 1) == "95.3%"
    assert format_number(4.1, "number", 2) == "4.10"
    assert numeral("percent") == "0.0%" and numeral("integer") == "0,0"
    assert (
        tabulator_formatter("percent")["symbol"] == "%" and tabulator_formatter("integer")["precision"] == 0
    )
    assert tabulator_formatter("text") is None


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("avg_resolution_h", "Avg resolution (h)"),
        ("breach_rate", "Breach rate"),
        ("csat", "CSAT"),
        ("first_response_s", "First response (s)"),
        ("handle_min", "Handle (min)"),
        ("team_name", "Team name"),
    ],
)
def test_humanise(name, label):
    assert humanise(name) == label


def test_catalog_labels_and_formats_follow_the_aggregate():
    q = QuerySpec.model_validate(
        {
            "source": "tickets",
            "metrics": [
                {"agg": "count", "as": "tickets"},
                {"agg": "avg", "column": "sla_breached", "as": "breach_rate"},
                {"agg": "sum", "column": "sla_breached", "as": "breaches"},
                {"agg": "avg", "column": "resolution_hours"},
                {"agg": "count_distinct", "column": "customer_id"},
                {"agg": "percentile", "column": "first_response_minutes", "p": 0.9},
            ],
            "group_by": ["team_name", {"column": "opened_at", "bucket": "week"}, "customer_id"],
        }
    )
    cols = DEMO_CATALOG.source("tickets").describe(q)
    got = {name: (c.label, c.format) for name, c in cols.items()}
    assert got == {
        "team_name": ("Team", "text"),
        "opened_at_week": ("Opened at (week)", "time"),
        "customer_id": ("Customer id", "text"),
        "tickets": ("Tickets", "integer"),
        "breach_rate": ("Breach rate", "percent"),
        "breaches": ("Breaches", "integer"),
        "avg_resolution_hours": ("Avg Resolution (h)", "duration_h"),
        "count_distinct_customer_id": ("Distinct Customer id", "integer"),
        "p90_first_response_minutes": ("P90 First response (min)", "duration_min"),
    }
    assert cols["opened_at_week"].bucket == "week"
    money = QuerySpec.model_validate(
        {
            "source": "expenses",
            "metrics": [{"agg": "sum", "column": "amount", "as": "amount"}],
            "group_by": ["vendor"],
        }
    )
    assert DEMO_CATALOG.source("expenses").describe(money)["amount"].format == "currency"


# --------------------------------------------------------------------------- partial periods
NOW = datetime(2026, 12, 2, 12, 0)  # a Wednesday


def test_the_period_in_progress_is_partial():
    assert is_partial(datetime(2026, 11, 30), "week", None, NOW)  # this week: Mon 30 Nov..
    assert not is_partial(datetime(2026, 11, 23), "week", None, NOW)
    assert is_partial(date(2026, 12, 1), "month", None, NOW)
    assert not is_partial(date(2026, 11, 1), "month", None, NOW)
    assert is_partial(datetime(2026, 10, 1), "quarter", None, NOW)
    assert is_partial(datetime(2026, 12, 2, 12), "hour", None, NOW)
    assert not is_partial(datetime(2026, 12, 2, 11), "hour", None, NOW)


def test_a_window_start_cuts_the_first_period_and_an_end_a_moment_before_covers():
    start = datetime(2026, 9, 3, 12)  # now-90d: a Thursday
    assert is_partial(datetime(2026, 8, 31), "week", start, NOW)
    assert not is_partial(datetime(2026, 9, 7), "week", start, NOW)
    assert not is_partial(date(2026, 11, 1), "month", None, datetime(2026, 11, 30, 23, 59, 59, 999999))
    assert not is_partial(datetime(2026, 11, 30), "hour_of_day", None, NOW)  # not a period
    assert not is_partial(datetime(2026, 11, 30), "week", None, None)


def test_bucket_arithmetic_and_flags():
    assert bucket_start(datetime(2026, 12, 2, 15, 30), "week") == datetime(2026, 11, 30)
    assert bucket_end(datetime(2026, 11, 1), "month") == datetime(2026, 12, 1)
    assert bucket_end(datetime(2026, 12, 1), "month") == datetime(2027, 1, 1)
    assert bucket_end(datetime(2026, 10, 1), "quarter") == datetime(2027, 1, 1)
    assert bucket_start(pd.Timestamp("2026-12-02T10:00", tz="America/Sao_Paulo"), "day") == datetime(
        2026, 12, 2
    )
    weeks = pd.date_range("2026-11-09", periods=4, freq="W-MON")
    assert partial_flags(weeks, "week", None, NOW) == [False, False, False, True]
    assert partial_flags([None, pd.NaT], "week", None, NOW) == [False, False]
    assert partial_flags(weeks, None, None, NOW) == [False] * 4


# --------------------------------------------------------------------------- stable colours
def test_a_label_keeps_its_colour_whatever_the_order_and_the_other_labels():
    labels = ["low", "normal", "high", "urgent"]
    full = stable_colors(labels, PALETTE)
    assert len(set(full.values())) == 4  # distinct within a chart
    assert stable_colors(list(reversed(labels)), PALETTE) == full
    alone = stable_colors(["urgent"], PALETTE)
    assert alone["urgent"] == PALETTE[preferred_slot("urgent", len(PALETTE))]
    # A filter that leaves fewer labels does not repaint the others (unless they collided).
    fewer = stable_colors(["urgent", "low"], PALETTE)
    assert all(fewer[k] == full[k] for k in fewer if full[k] == PALETTE[preferred_slot(k, len(PALETTE))])
    assert stable_colors(labels, PALETTE, {"urgent": "#123456"})["urgent"] == "#123456"


def test_a_colour_map_never_moves_a_colour_once_given():
    cm = ColorMap(PALETTE)
    first = cm.assign(["North", "South", "East"])
    again = cm.assign(["East", "West"])
    assert again["East"] == first["East"] and again["West"] not in (first["East"],)
    assert cm.assign(["South"])["South"] == first["South"] and "West" in cm


def test_charts_keep_category_colours_when_filters_change():
    frame = pd.DataFrame(
        {
            "team_name": ["A", "A", "A", "B", "B", "B"],
            "priority": ["low", "high", "urgent"] * 2,
            "n": range(6),
        }
    )
    spec = ChartSpec(viz="column", x="team_name", y=["n"], series="priority", stacked=True)

    def colours(df: pd.DataFrame) -> dict[str, str]:
        fig = charts.render(spec, df, "plotly")
        return {t["name"]: t["marker"]["color"] for t in fig["data"]}

    full = colours(frame)
    # "high" gone and the rows in another order: the others keep their colour.
    assert colours(frame[frame.priority != "high"].iloc[::-1]) == {k: full[k] for k in ("low", "urgent")}
    pinned = Display(colors={"low": "#000001", "high": "#000002", "urgent": "#000003"})
    fig = charts.render(spec, frame, "plotly", display=pinned)
    assert {t["name"]: t["marker"]["color"] for t in fig["data"]}["urgent"] == "#000003"


def test_a_view_colour_map_keeps_colours_across_renders_and_known_values():
    from portal.viz.prepare import CATEGORY_PALETTE

    spec = ChartSpec(viz="pie", x="team_name", y=["n"])
    cm = ColorMap(CATEGORY_PALETTE)

    def slices(df: pd.DataFrame, display: Display | None = None) -> dict[str, str]:
        p = charts.render(spec, df, "bokeh", colors=cm, display=display)
        (wedges,) = [r for r in p.renderers if "color" in r.data_source.data]
        return dict(zip(wedges.data_source.data["label"], wedges.data_source.data["color"], strict=True))

    first = slices(pd.DataFrame({"team_name": ["A", "B", "C"], "n": [3, 2, 1]}))
    later = slices(pd.DataFrame({"team_name": ["C", "D"], "n": [5, 1]}))
    assert later["C"] == first["C"] and later["D"] not in (later["C"],)
    known = slices(pd.DataFrame({"team_name": ["E"], "n": [1]}), Display(colors={"E": "#000009"}))
    assert known == {"E": "#000009"}


# --------------------------------------------------------------------------- charts
WEEKS = pd.DataFrame(
    {
        "week": pd.to_datetime(["2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]),
        "tickets": [60, 55, 62, 9],
        "breach_rate": [0.21, 0.18, 0.2, 0.25],
    }
)
WEEKLY = Display(
    labels={"week": "Week", "tickets": "Tickets", "breach_rate": "Breach rate"},
    formats={"week": "time", "tickets": "integer", "breach_rate": "percent"},
    buckets={"week": "week"},
    window=(datetime(2026, 9, 3, 12), NOW),
)


def _glyphs(p, kind):
    return [r for r in p.renderers if isinstance(r.glyph, kind)]


@pytest.mark.parametrize("viz", ["bar", "column", "line", "area", "pie", "donut", "treemap", "heatmap"])
def test_an_empty_result_says_no_data_instead_of_bare_axes(viz):
    spec = ChartSpec(viz=viz, x="week", y=["tickets"], series="p" if viz == "heatmap" else None)
    empty = pd.DataFrame({"week": [], "tickets": [], "p": []})
    p = charts.render(spec, empty, "bokeh")
    texts = [t for r in _glyphs(p, Text) for t in r.data_source.data["text"]]
    assert texts == [NO_DATA_MESSAGE]
    assert all(not ax.visible for ax in p.axis) and not p.select(type=HoverTool)
    fig = charts.render(spec, empty, "plotly")
    assert [a["text"] for a in fig["layout"]["annotations"]] == [NO_DATA_MESSAGE]
    assert fig["layout"]["xaxis"]["visible"] is False


def test_the_partial_last_week_is_faded_and_says_so():
    spec = ChartSpec(viz="column", x="week", y=["tickets"])
    p = charts.render(spec, WEEKS, "bokeh", display=WEEKLY)
    (bars,) = _glyphs(p, VBar)
    data = bars.data_source.data
    assert data["_alpha"] == [1.0, 1.0, 1.0, 0.35]
    assert data["_period"][-1] == "(partial period)" and not any(data["_period"][:-1])
    assert any("partial period" in t.text for t in p.select(type=Title))
    hover = p.select_one(HoverTool)
    assert ("Week", "@{week} @{_period}") in hover.tooltips and (
        "Tickets",
        "@{tickets}{0,0}",
    ) in hover.tooltips
    assert p.yaxis[0].axis_label == "Tickets"
    assert p.yaxis[0].formatter.format == "0,0" and p.yaxis[0].ticker.min_interval == 1  # no "10, 10"
    fig = charts.render(spec, WEEKS, "plotly", display=WEEKLY)
    assert fig["data"][0]["marker"]["opacity"] == [1.0, 1.0, 1.0, 0.35]
    # The note sits below the x axis's title ("Week"), not on it (seen overlapping in a PDF).
    (note,) = [a for a in fig["layout"]["annotations"] if "partial period" in a["text"]]
    assert fig["layout"]["xaxis"]["title"]["text"] and note["yshift"] <= -56
    assert fig["layout"]["margin"]["b"] >= -note["yshift"] + 12
    # Stacked by priority, the first week cut too: legend swatches come from bars drawn in full.
    cut_start = Display(**{**WEEKLY.__dict__, "window": (datetime(2026, 11, 10), NOW)})
    stacked = ChartSpec(viz="column", x="week", y=["tickets"], series="priority", stacked=True)
    two = pd.concat([WEEKS.assign(priority=p) for p in ("low", "high")])
    p = charts.render(stacked, two, "bokeh", display=cut_start)
    (bars,) = _glyphs(p, VBar)
    items = list(p.legend[0].items)
    assert [i.label.value for i in items] == ["low", "high"]
    assert all(bars.data_source.data["_alpha"][i.index] == 1.0 for i in items)


def test_the_partial_last_point_of_a_line_is_dashed_and_shaded():
    spec = ChartSpec(viz="line", x="week", y=["breach_rate"])
    p = charts.render(spec, WEEKS, "bokeh", display=WEEKLY)
    solid = [r for r in _glyphs(p, Line) if r.glyph.line_dash == []]
    dashed = [r for r in _glyphs(p, Line) if r.glyph.line_dash == [6]]
    (line,) = solid
    assert np.isnan(line.data_source.data["breach_rate"][-1])  # the collapse is not drawn solid
    assert len(dashed) == 1 and dashed[0].data_source.data["y"][:2] == [0.2, 0.25]
    (band,) = p.select(type=BoxAnnotation, name="partial-period")
    assert pd.Timestamp(band.left) == pd.Timestamp("2026-11-23") and pd.Timestamp(band.right) == pd.Timestamp(
        "2026-11-30"
    )
    hover = p.select_one(HoverTool)
    assert ("Breach rate", "@{breach_rate}{0.0%}") in hover.tooltips
    assert p.yaxis[0].formatter.format == "0.[0]%"
    # Without a window nothing is marked.
    plain = charts.render(spec, WEEKS, "bokeh")
    assert not plain.select(type=BoxAnnotation, name="partial-period") and not any(
        r.glyph.line_dash for r in _glyphs(plain, Line)
    )


def test_month_ticks_are_short_and_few():
    months = pd.DataFrame({"month": pd.date_range("2026-01-01", periods=12, freq="MS"), "orders": range(12)})
    p = charts.render(ChartSpec(viz="line", x="month", y=["orders"]), months, "bokeh")
    (axis,) = p.xaxis
    assert isinstance(axis, DatetimeAxis) and isinstance(axis.formatter, DatetimeTickFormatter)
    assert axis.formatter.months == "%b" and axis.ticker.desired_num_ticks <= 5


def test_many_category_labels_are_turned_and_thinned():
    weeks = pd.DataFrame({"week": [f"2026-W{i:02d}" for i in range(1, 53)], "tickets": range(52)})
    p = charts.render(ChartSpec(viz="column", x="week", y=["tickets"]), weeks, "bokeh")
    overrides = p.xaxis[0].major_label_overrides
    shown = [f for f in p.x_range.factors if overrides.get(f, f) != ""]
    # At most one label per ~28 px of a half-width tile (420 px): readable, not touching.
    assert p.xaxis[0].major_label_orientation > 0 and 5 <= len(shown) <= 16


def test_treemap_labels_fit_their_tiles():
    vendors = [f"Vendor with a rather long name {i}" for i in range(30)]
    frame = pd.DataFrame(
        {
            "vendor": vendors,
            "category": ["A"] * 10 + ["B"] * 10 + ["C"] * 10,
            "amount": np.geomspace(90_000, 500, 30),
        }
    )
    spec = ChartSpec(viz="treemap", x="vendor", y=["amount"], series="category")
    p = charts.render(spec, frame, "bokeh", display=Display(formats={"amount": "currency"}))
    (quads,) = _glyphs(p, Quad)
    q = quads.data_source.data
    tiles = list(zip(q["left"], q["right"], q["bottom"], q["top"], strict=True))
    px = 420 / 160  # the plot width a half-width tile has at 1024 px, per treemap unit
    labels = [r for r in _glyphs(p, Text) if r.glyph.text_color == "white"]
    (text,) = labels
    t = text.data_source.data
    assert 0 < len(t["text"]) < 30  # the small tiles stay unlabelled
    for x, y, words in zip(t["x"], t["y"], t["text"], strict=True):
        (tile,) = [b for b in tiles if b[0] < x < b[1] and b[2] < y < b[3]]
        widest = max(len(line) for line in words.split("\n"))
        assert x + widest * 6.6 / px <= tile[1] + 0.5, words  # the label ends inside its own tile
    assert any(w.startswith("R$ ") for w in "\n".join(t["text"]).split("\n"))


# --------------------------------------------------------------------------- the table widget
def test_table_widget_names_formats_and_fits_its_columns():
    import panel as pn

    from components.widget_view import render_widget
    from portal.specs import TableSpec, WidgetSpec

    frame = pd.DataFrame(
        {
            "team_name": ["Plantão Noturno", "Elétrica e Energia", "Climatização"],
            "tickets": [49, 75, 73],
            "breach_rate": [0.285714, 0.2, 0.178082],
            "avg_resolution_h": [17.530718, 19.773193, None],
        }
    )
    totals = pd.DataFrame({"tickets": [197], "breach_rate": [0.2132], "avg_resolution_h": [18.1]})
    display = Display(
        labels={"team_name": "Team", "tickets": "Tickets", "breach_rate": "Breach rate"},
        formats={
            "team_name": "text",
            "tickets": "integer",
            "breach_rate": "percent",
            "avg_resolution_h": "duration_h",
        },
    )
    spec = WidgetSpec(
        type="table",
        title="SLA by team",
        query={"source": "tickets", "metrics": [{"agg": "count"}]},
        table=TableSpec(sort_by="breach_rate", sort_desc=True, page_size=20),
    )
    table = render_widget(spec, frame, totals=totals, display=display, height=6 * 90 - 40)
    assert isinstance(table, pn.widgets.Tabulator)
    assert table.titles["team_name"] == "Team" and table.titles["avg_resolution_h"] == "Avg resolution (h)"
    assert table.formatters["breach_rate"]["symbol"] == "%" and table.formatters["tickets"]["precision"] == 0
    shown = table.value
    assert shown["breach_rate"].tolist()[-1] == pytest.approx(21.32)  # the total, shown x100 with "%"
    assert shown["tickets"].tolist() == [49, 75, 73, 197] and shown["team_name"].tolist()[-1] == "Total"
    assert shown["avg_resolution_h"].tolist()[2] is None  # an empty cell, not "NaN"
    assert table.sortable is False  # sorting would scatter the total row
    assert table.page_size <= 13  # what a 6-row tile shows without cutting rows off
    assert table.widths["team_name"] >= len("Elétrica e Energia") * 8
    empty = render_widget(spec, frame.iloc[0:0], display=display)
    assert NO_DATA_MESSAGE in empty.object
