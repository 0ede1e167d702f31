"""Landing page: what the portal holds and where its API lives (the full portal UI comes next)."""

from __future__ import annotations

import panel as pn
from panel.template.base import BaseTemplate
from sqlalchemy import func, select

from portal.context import AppContext
from portal.models import Report, Tenant


def create_page(ctx: AppContext) -> BaseTemplate:
    """Build the page for one browser session."""
    with ctx.sessions() as session:
        tenants = session.scalar(select(func.count()).select_from(Tenant)) or 0
        reports = session.scalar(select(func.count()).select_from(Report)) or 0
    sources = "\n".join(
        f"| `{s.name}` | {s.label} | {len(s.columns)} | {s.description} |"
        for s in ctx.warehouse.catalog.sources
    )
    body = pn.pane.Markdown(
        f"""
# Conductor BI

**{tenants}** tenants · **{reports}** reports · warehouse sources:

| source | label | columns | description |
|---|---|---|---|
{sources}

REST API: `POST /api/tokens` (e-mail + password → API token), `GET /api/catalog`, `POST /api/query`,
`POST /api/reports`, `POST /api/reports/{{id}}/execute`, `GET /api/reports/{{id}}/executions`,
`GET /api/executions/{{id}}/export?format=csv|xlsx|parquet`. Health: [/healthz](/healthz) ·
metrics: [/metrics](/metrics).
""",
        sizing_mode="stretch_width",
    )
    return pn.template.FastListTemplate(title="Conductor BI", main=[body])
