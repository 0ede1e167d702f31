"""What the PDF renderer is given besides the template: each data element's rows, and assets.

Pure data (pandas and ``portal.viz`` only): built by :mod:`portal.pdf.bindings` in the
caller's scope and handed to ``reports_pdf.render``, which never reads a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from portal.viz.formats import Display


@dataclass(frozen=True)
class ElementData:
    """One data element's result (a chart, table, KPI or section), scope already applied.

    ``frame`` holds the rows (for a KPI: the ungrouped result, one row); ``totals`` (one row)
    and ``subtotals`` (one row per ``subtotals_by`` value) are the same query re-run with
    less grouping, so every metric is re-aggregated by its own rule; ``previous`` is a
    KPI's previous-period result. For an element inside a section every frame also holds
    the section's ``group_by`` column and the renderer keeps the group's rows (``totals``
    then holds one row per group). ``error`` says why there is no data: the renderer draws
    an error box in the element's place and goes on.
    """

    frame: pd.DataFrame | None = None
    totals: pd.DataFrame | None = None
    subtotals: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    display: Display | None = None
    error: str | None = None

    @staticmethod
    def failed(message: str) -> ElementData:
        """No data, and why."""
        return ElementData(error=message)


@dataclass(frozen=True)
class Asset:
    """An uploaded image (``image/png``, ``image/jpeg`` or ``image/svg+xml``), already sniffed."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class RenderOptions:
    """How to render: a fixed ``creation_date`` gives byte-identical output for the same inputs;
    ``pdfa`` overrides the template's PDF/A-2B flag; ``preview`` trades chart resolution for speed."""

    creation_date: datetime | None = None
    pdfa: bool | None = None
    preview: bool = False
    max_pages: int = 5000


@dataclass(frozen=True)
class RenderInput:
    """Everything one render needs besides the template spec.

    ``variables`` is the flat mapping text variables read (``customer.name``, ``period.start``,
    ``now``, ``brand.company``, ``params.x``, ``vars.x``, ``template.name``, ``user.name``);
    values may be str, numbers, dates or datetimes (the ``|date`` filters format them).
    """

    data: Mapping[str, ElementData] = field(default_factory=dict)
    assets: Mapping[str, Asset] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)
    options: RenderOptions = RenderOptions()
