"""Visualisation: one ``ChartSpec`` → prepared data → bokeh (web) or plotly (Kaleido); cards; Markdown.

:mod:`portal.viz.charts` is the entry point for charts, :mod:`portal.viz.cards` for
tables and KPI cards, :mod:`portal.viz.markdown` for text widgets. Never imports
sqlalchemy, Redis or the database layer (an import-linter contract).
"""

from __future__ import annotations
