"""Ready-made demo reports and dashboards, read from the JSON files under ``portal/demo/content/``.

Between them the dashboards use every chart type, tables with subtotals, KPI
cards with targets, variation and traffic lights, Markdown text, named queries
feeding several widgets and a team -> agent drill-down.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from sqlalchemy.orm import Session

from portal import dashboards
from portal.identity.principal import principal_for_user
from portal.models import Dashboard, Tenant, User

Widget = tuple[dict[str, Any], dict[str, int]]
"""A widget spec and its grid position (``x``, ``y``, ``w``, ``h``)."""


def _load(name: str) -> Any:
    return json.loads(files("portal.demo").joinpath("content").joinpath(name).read_text(encoding="utf-8"))


DEMO_REPORTS: list[dict[str, Any]] = _load("reports.json")
"""The public reports of every demo tenant (name, description, query spec)."""

DEMO_DASHBOARDS: list[tuple[dict[str, Any], list[Widget]]] = [
    (d["dashboard"], [(w["spec"], w["position"]) for w in d["widgets"]]) for d in _load("dashboards.json")
]
"""The ready-made dashboards of every demo tenant: (dashboard fields, [(widget spec, position)])."""

_LIVE = _load("live.json")
LIVE_DASHBOARD: tuple[dict[str, Any], list[Widget]] = (
    _LIVE["dashboard"],
    [(w["spec"], w["position"]) for w in _LIVE["widgets"]],
)
"""The "Live operations" dashboard: real-time widgets fed by :mod:`portal.demo.simulator`.

Kept apart from :data:`DEMO_DASHBOARDS` (whose queries answer from the warehouse's rollups):
its tiles show the channels' recent messages, the queries only give their columns.
"""


def seed_demo_dashboards(session: Session, tenant: Tenant, owner: User) -> list[Dashboard]:
    """Create the ready-made public dashboards of :data:`DEMO_DASHBOARDS` for a tenant, owned by ``owner``.

    They go through the dashboard service, so every query and widget is
    validated against the catalog exactly as a user's would be.
    """
    if owner.tenant_id != tenant.id:
        raise ValueError("the owner must belong to the tenant")
    principal = principal_for_user(session, owner)
    created: list[Dashboard] = []
    for fields, widgets in [*DEMO_DASHBOARDS, LIVE_DASHBOARD]:
        d = dashboards.create_dashboard(session, principal, {**fields, "visibility": "public"})
        for spec, position in widgets:
            dashboards.add_widget(session, principal, d.id, spec, position)
        created.append(d)
    return created
