"""Display names and number formats of result columns, one rule for tables, tooltips, axes and KPI cards.

A result column has a *format* (:data:`FORMATS`): ``integer`` (counts: ``186``), ``number``
(``4.21``), ``percent`` (a fraction: ``0.203`` reads ``20.3%``), ``currency`` (``R$ 1,234``),
``duration_h`` / ``duration_min`` / ``duration_s`` (``3.5 h``, ``12 min``, ``45 s``), ``text`` and
``time``. The catalog says which format a column has (or the aggregate implies it: a count is an
integer, the average of a 0/1 flag is a rate); :class:`Display` carries labels and formats of one
result to the renderers, which never read the catalog themselves (``viz`` does not import ``data``).

Every function here is pure: numbers in, text (or a backend's format pattern) out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import pandas as pd
from babel import Locale, UnknownLocaleError
from babel.numbers import get_decimal_symbol, get_group_symbol

__all__ = [
    "CURRENCY",
    "FORMATS",
    "Display",
    "NumberFormat",
    "format_number",
    "humanise",
    "numeral",
    "plotly_format",
    "table_text",
    "tabulator_formatter",
    "unit_suffix",
]

NumberFormat = Literal[
    "integer", "number", "percent", "currency", "duration_h", "duration_min", "duration_s", "text", "time"
]
FORMATS: tuple[str, ...] = (
    "integer",
    "number",
    "percent",
    "currency",
    "duration_h",
    "duration_min",
    "duration_s",
    "text",
    "time",
)
#: The demo data is Brazilian: amounts are reais.
CURRENCY = "R$"
_UNITS = {"duration_h": "h", "duration_min": "min", "duration_s": "s"}
_NUMERIC = frozenset(FORMATS) - {"text", "time"}

# Words that read better in capitals, and trailing unit words shown in brackets.
_ACRONYMS = {"csat", "sla", "mrr", "kpi", "nps", "id", "ids", "api", "url", "sku"}
_UNIT_WORDS = {"h": "(h)", "hours": "(h)", "min": "(min)", "minutes": "(min)", "s": "(s)", "seconds": "(s)"}
_SPECIAL = {"pct": "%", "avg": "Avg", "p50": "P50", "p90": "P90", "p95": "P95", "p99": "P99"}


def humanise(name: str) -> str:
    """A result column name as a header: ``avg_resolution_h`` -> ``Avg resolution (h)``, ``csat`` -> ``CSAT``.

    The same rule as ``portal.data.catalog.humanise`` (``viz`` and ``data`` do not import each other).
    """
    words = [w for w in re.split(r"[_\s]+", str(name).strip()) if w]
    if not words:
        return str(name)
    out: list[str] = []
    for i, w in enumerate(words):
        low = w.lower()
        if i == len(words) - 1 and i > 0 and low in _UNIT_WORDS:
            out.append(_UNIT_WORDS[low])
        elif low in _ACRONYMS:
            out.append(low.upper() if low != "ids" else "IDs")
        elif low in _SPECIAL:
            out.append(_SPECIAL[low])
        else:
            out.append(w)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, str):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _default_decimals(value: float, fmt: str) -> int:
    if fmt == "integer":
        return 0
    if fmt == "percent":
        return 1
    if fmt == "currency":
        return 0 if abs(value) >= 1000 else 2
    # number and durations: fewer decimals as the value grows (4.21, 12.5, 1,234).
    size = abs(value)
    if size >= 100 or float(value).is_integer():
        return 0
    return 1 if size >= 10 else 2


def format_number(value: Any, fmt: str = "number", decimals: int | None = None) -> str:
    """``value`` as a user reads it in format ``fmt`` ("—" for no value).

    ``decimals`` fixes the digits after the point; by default integers have none,
    percents one, and other numbers fewer the larger they are (``4.21``, ``12.5``, ``1,234``).
    Text and times are returned as ``str(value)``.
    """
    if fmt in ("text", "time"):
        return "—" if value is None else str(value)
    v = _finite(value)
    if v is None:
        return "—"
    if fmt == "percent":
        v *= 100
    d = _default_decimals(v, fmt) if decimals is None else decimals
    if fmt == "integer" and decimals is None:
        v = float(round(v))
    body = f"{abs(v):,.{d}f}"
    sign = "-" if v < 0 and float(body.replace(",", "")) != 0 else ""
    if fmt == "percent":
        return f"{sign}{body}%"
    if fmt == "currency":
        return f"{sign}{CURRENCY} {body}"
    if fmt in _UNITS:
        return f"{sign}{body} {_UNITS[fmt]}"
    return f"{sign}{body}"


#: ``(decimal, thousands)`` separators of the numbers this module writes (``1,234.5``).
EN_SYMBOLS: tuple[str, str] = (".", ",")


@lru_cache(maxsize=64)
def number_symbols(lang: str) -> tuple[str, str]:
    """The ``(decimal, thousands)`` separators of a language tag, from CLDR (Babel):
    ``"pt-BR"`` -> ``(",", ".")``, ``"en"`` -> ``(".", ",")``; English ones for a tag it does not know."""
    try:
        loc = Locale.parse(lang.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return EN_SYMBOLS
    return get_decimal_symbol(loc), get_group_symbol(loc)


def localize(text: str, symbols: tuple[str, str]) -> str:
    """A number written by this module (``R$ 1,234.50``, ``-3.5%``) with ``symbols`` as its
    separators (``R$ 1.234,50`` in Portuguese). Only for texts that hold a formatted number and
    words without separators: a ``.`` or ``,`` anywhere in it is swapped."""
    if symbols == EN_SYMBOLS:
        return text
    decimal, group = symbols
    return text.translate({ord(","): group, ord("."): decimal})


def unit_suffix(fmt: str) -> str:
    """What an axis title adds for a format: ``" (R$)"``, ``" (h)"``, ``""``."""
    if fmt == "currency":
        return f" ({CURRENCY})"
    if fmt in _UNITS:
        return f" ({_UNITS[fmt]})"
    return ""


def numeral(fmt: str, *, axis: bool = False) -> str:
    """A numbro pattern (bokeh's ``NumeralTickFormatter`` and ``{...}`` hover formats) for ``fmt``.

    Units are not part of the pattern (numbro has no literal text): axes name them in
    their title (:func:`unit_suffix`), tooltips around the value.
    """
    if fmt == "integer":
        return "0,0"
    if fmt == "percent":
        return "0.[0]%" if axis else "0.0%"
    if fmt == "currency":
        return "0,0" if axis else "0,0.00"
    return "0,0.[0]" if axis else "0,0.[00]"


def plotly_format(fmt: str) -> str:
    """A d3 format (plotly ``tickformat``/``hovertemplate``) for ``fmt``."""
    if fmt == "integer":
        return ",d"
    if fmt == "percent":
        return ".1%"
    if fmt == "currency":
        return ",.0f"
    return ",.2~f"


def table_text(value: Any, fmt: str) -> str:
    """A cell as :func:`tabulator_formatter` shows it ("" for no value): what a column must fit."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    v = _finite(value)
    if fmt not in _NUMERIC or v is None:
        return str(value)
    if fmt == "integer":
        return f"{v:,.0f}"
    if fmt == "percent":
        return f"{v * 100:,.1f}%"
    if fmt == "currency":
        return f"{CURRENCY} {v:,.0f}"
    if fmt in _UNITS:
        return f"{v:,.1f} {_UNITS[fmt]}"
    return f"{v:,.2f}"


def tabulator_formatter(fmt: str) -> dict[str, Any] | None:
    """A Tabulator cell formatter for ``fmt`` (percent cells hold fractions: the table shows them x100).

    ``None`` for text and times (shown as they are).
    """
    if fmt not in _NUMERIC:
        return None
    if fmt == "integer":
        return {"type": "money", "thousand": ",", "decimal": ".", "precision": 0}
    if fmt == "percent":
        return {
            "type": "money",
            "thousand": ",",
            "decimal": ".",
            "precision": 1,
            "symbol": "%",
            "symbolAfter": True,
        }
    if fmt == "currency":
        # Tables of amounts read in whole reais (the cents only widen the columns).
        return {"type": "money", "thousand": ",", "decimal": ".", "precision": 0, "symbol": f"{CURRENCY} "}
    if fmt in _UNITS:
        return {
            "type": "money",
            "thousand": ",",
            "decimal": ".",
            "precision": 1,
            "symbol": f" {_UNITS[fmt]}",
            "symbolAfter": True,
        }
    return {"type": "money", "thousand": ",", "decimal": ".", "precision": 2}


@dataclass(frozen=True)
class Display:
    """How one query result is shown: display labels, number formats, time buckets and data window.

    Built by the dashboard service from the catalog and the query (the renderers never
    read the catalog). ``buckets`` maps time-bucketed result columns to their bucket
    (``"week"``...); ``window`` is the time window the data covers (start, end — the end is
    never after "now"), used to mark partial periods (:mod:`portal.viz.periods`).
    ``colors`` pins label colours (the stable map of :mod:`portal.viz.colors` otherwise).
    """

    labels: Mapping[str, str] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)
    buckets: Mapping[str, str] = field(default_factory=dict)
    window: tuple[datetime | None, datetime | None] = (None, None)
    colors: Mapping[str, str] = field(default_factory=dict)

    def label(self, column: str) -> str:
        """The header/axis name of ``column``: the catalog's label, else the humanised name."""
        return self.labels.get(column) or humanise(column)

    def format(self, column: str, default: str = "number") -> str:
        """The number format of ``column`` (``default`` when the result does not say)."""
        return self.formats.get(column) or default

    def labels_for(self, columns: Sequence[str]) -> dict[str, str]:
        """``{column: label}`` for ``columns``."""
        return {c: self.label(c) for c in columns}

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the REST edge."""
        start, end = self.window
        return {
            "labels": dict(self.labels),
            "formats": dict(self.formats),
            "buckets": dict(self.buckets),
            "window": [start.isoformat() if start else None, end.isoformat() if end else None],
        }
