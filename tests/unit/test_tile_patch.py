"""Tiles updated in place (issue 8): a chart of the same shape takes the new data into the models
already on screen; anything else is left alone for the caller to replace."""

from __future__ import annotations

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, FactorRange

from components.tile_patch import patch_in_place, reconcile
from components.widget_view import ChartPane
from portal.specs import ChartSpec
from portal.viz import charts

BARS = ChartSpec(viz="bar", x="team", y=["tickets"])
SERIES = ChartSpec(viz="column", x="team", y=["tickets"], series="priority")


def _frame(values: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"team": list(values), "tickets": list(values.values())})


def _sources(fig: object) -> list[ColumnDataSource]:
    return [s for s in fig.select(type=ColumnDataSource) if isinstance(s, ColumnDataSource)]  # type: ignore[attr-defined]


def test_same_shape_takes_the_new_data_into_the_old_models() -> None:
    old = charts.render(BARS, _frame({"a": 1, "b": 2}), "bokeh")
    new = charts.render(BARS, _frame({"c": 5, "a": 3}), "bokeh")
    ids = sorted(m.id for m in old.references())
    assert reconcile(old, new)
    assert sorted(m.id for m in old.references()) == ids  # the same models, nothing new to build
    (src,) = [s for s in _sources(old) if "tickets" in s.data]
    assert sorted(src.data["tickets"]) == [3, 5]
    factors = old.y_range.factors
    assert isinstance(old.y_range, FactorRange) and set(factors) == {"a", "c"}


def test_other_shape_is_refused_and_the_old_chart_untouched() -> None:
    old = charts.render(BARS, _frame({"a": 1, "b": 2}), "bokeh")
    two = pd.DataFrame({"team": ["a", "a"], "priority": ["high", "low"], "tickets": [1, 2]})
    new = charts.render(SERIES, two, "bokeh")
    before = {s.id: dict(s.data) for s in _sources(old)}
    assert not reconcile(old, new)
    assert {s.id: dict(s.data) for s in _sources(old)} == before


def test_chart_pane_patched_with_its_tap_state() -> None:
    old = ChartPane(charts.render(BARS, _frame({"a": 1, "b": 2}), "bokeh"))
    old.tap_state = {"df": "old"}
    new = ChartPane(charts.render(BARS, _frame({"a": 7, "b": 8}), "bokeh"))
    new.tap_state = {"df": "new"}
    assert patch_in_place(old, new)
    assert old.tap_state == {"df": "new"}  # a click on the patched chart drills into the new data


def test_html_patched_only_when_of_the_same_kind() -> None:
    card = pn.pane.HTML("<b>1</b>", css_classes=["cbi-kpi"])
    assert patch_in_place(card, pn.pane.HTML("<b>2</b>", css_classes=["cbi-kpi"]))
    assert card.object == "<b>2</b>"
    skeleton = pn.pane.HTML("...", css_classes=["cbi-loading"])
    assert not patch_in_place(skeleton, pn.pane.HTML("<b>3</b>", css_classes=["cbi-kpi"]))
    assert not patch_in_place(card, pn.pane.Markdown("x"))
