"""Marks and labels of the bokeh charts: partial periods, fitted and thinned labels, short axes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import (
    DatetimeTickFormatter,
    NumeralTickFormatter,
)
from bokeh.models.annotations import BoxAnnotation
from bokeh.models.renderers import GlyphRenderer
from bokeh.plotting import figure

from portal.viz.formats import CURRENCY, format_number, numeral
from portal.viz.prepare import (
    Prepared,
)

PLOT_PX = 420
CHAR_PX = 6.6  # average width of an 11 px character


def fit(text: str, px: float, *, bold: bool = False) -> str:
    """``text`` shortened with "…" to fit ``px`` pixels; "" when not even three letters fit."""
    per = CHAR_PX * (1.1 if bold else 1.0)
    room = int(px // per)
    if room >= len(text):
        return text
    if room < 4:
        return ""
    return text[: room - 1].rstrip() + "…"


def short(value: float, fmt: str = "number") -> str:
    """A tile value in a few characters: ``82.7k``, ``R$ 1.2M``, ``35%``."""
    if fmt == "percent":
        return format_number(value, "percent", 0)
    prefix = f"{CURRENCY} " if fmt == "currency" else ""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{prefix}{value / limit:.1f}{suffix}"
    return prefix + (f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}")


def partial_rows(values: Any, data: Prepared) -> list[bool]:
    """Per value of a time column in a data source: is it a partial period of ``data``?"""
    cut = {pd.Timestamp(x) for x in data.partial_xs}
    out = []
    for v in np.asarray(values).ravel():
        try:
            out.append(pd.Timestamp(v) in cut)
        except (TypeError, ValueError):
            out.append(False)
    return out


def mark_partial(p: figure, r: GlyphRenderer[Any], data: Prepared) -> GlyphRenderer[Any] | None:
    """Draw a line's segments into partial periods dashed: the solid line leaves those points out
    (its full values kept in ``_full`` for the markers) and a dashed line on ``p`` bridges to them.
    Returns the dashed line (None when nothing of this line is partial)."""
    glyph: Any = r.glyph
    source: Any = r.data_source
    src = source.data
    xs = np.asarray(src.get(glyph.x, []))
    ys = np.asarray(src.get(glyph.y, []), dtype=float)
    cut = partial_rows(xs, data)
    if not any(cut) or len(ys) < 2:
        return None
    bridge_x: list[Any] = []
    bridge_y: list[float] = []
    for i, c in enumerate(cut):
        if not c or np.isnan(ys[i]):
            continue
        for j in (i - 1, i + 1):
            if 0 <= j < len(ys) and not cut[j] and not np.isnan(ys[j]):
                lo, hi = min(i, j), max(i, j)
                bridge_x += [xs[lo], xs[hi], xs[hi]]
                bridge_y += [ys[lo], ys[hi], np.nan]
    src["_full"] = ys.tolist()
    src[glyph.y] = np.where(cut, np.nan, ys).tolist()
    if not bridge_x:
        return None
    out: GlyphRenderer[Any] = p.line(
        x=bridge_x,
        y=bridge_y,
        line_color=glyph.line_color,
        line_width=2,
        line_dash="dashed",
        name="partial-period",
    )
    return out


def shade_partial(p: figure, data: Prepared) -> None:
    """A grey band over the stretch of the time axis that leads into a partial period."""
    xs = [pd.Timestamp(x) for x in data.xs]
    for i, cut in enumerate(data.partial):
        if not cut or len(xs) < 2:
            continue
        lo, hi = (xs[i - 1], xs[i]) if i > 0 else (xs[i], xs[i + 1])
        p.add_layout(
            BoxAnnotation(
                left=lo.to_pydatetime(),
                right=hi.to_pydatetime(),
                fill_color="#94a3b8",
                fill_alpha=0.15,
                line_alpha=0,
                name="partial-period",
            )
        )


def value_axis(axis: Any, fmt: str) -> None:
    """Ticks of a value axis in the values' format; counts tick at whole numbers only (no "10, 10")."""
    axis.formatter = NumeralTickFormatter(format=numeral(fmt, axis=True))
    if fmt == "integer" and hasattr(axis.ticker, "min_interval"):
        axis.ticker.min_interval = 1


def short_dates(p: figure) -> None:
    """Short tick labels on a time axis (``Sep``, ``Oct 05``) and fewer ticks, with the year once
    underneath: month labels no longer collide in a half-width tile at 1024 px."""
    for axis in p.xaxis:
        axis.formatter = DatetimeTickFormatter(
            hours="%H:%M",
            days="%b %d",
            months="%b",
            years="%Y",
            context=DatetimeTickFormatter(hours="%b %d", days="%Y", months="%Y", years=""),
            context_which="start",
        )
        ticker: Any = axis.ticker
        if hasattr(ticker, "desired_num_ticks"):
            ticker.desired_num_ticks = 5


def thinned(factors: list[Any]) -> dict[str, str]:
    """Label overrides that blank all but every k-th category, so turned labels do not overlap."""
    # A label turned 45° needs ~16 px across for its text, and as much again between labels to
    # stay readable: with 16 px, 52 weeks showed 26 labels touching each other.
    step = math.ceil(len(factors) * 28 / PLOT_PX)
    if step <= 1:
        return {}
    last = len(factors) - 1
    return {str(f): "" for i, f in enumerate(factors) if i % step and i != last and not isinstance(f, tuple)}


def time_tip(columns: Iterable[Any]) -> str:
    values = [v for c in columns for v in np.asarray(c).ravel()]
    stamps = pd.to_datetime(pd.Series(values), errors="coerce").dropna()
    return "{%F}" if (stamps == stamps.dt.normalize()).all() else "{%F %H:%M}"


def crowded(factors: Sequence[Any]) -> bool:
    # Bokeh does not rotate labels by itself; the chart may be a 4-column dashboard tile
    # (~450 px, ~7 px a character), so turn long label rows before they overlap.
    return sum(len(str(f)) + 2 for f in factors) > 60
