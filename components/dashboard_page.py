"""The dashboard page's pure parts: time presets, the global filters' choices, the permalink
query string, the loading skeleton and when a tile must be fetched again."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from portal.dashboards import DashboardPlan, WidgetPlan, WidgetResult
from portal.data.warehouse import Warehouse
from portal.identity.scope import Scope
from portal.specs import DashboardFilters

TIME_PRESETS = {
    "Last 7 days": "{{now-7d}}..{{now}}",
    "Last 30 days": "{{now-30d}}..{{now}}",
    "Last 90 days": "{{now-90d}}..{{now}}",
    "Last 12 months": "{{now-12M}}..{{now}}",
    "This year": "{{start_of_year}}..{{now}}",
    "All time": "",
}
FILTER_KINDS = {"customer": "customer_name", "location": "location_name", "team": "team_name"}
SKELETON = (
    '<div class="cbi-skeleton" style="height:100%;min-height:60px;border-radius:6px;'
    "background:linear-gradient(90deg,#eef2f7 25%,#e2e8f0 37%,#eef2f7 63%);background-size:400% 100%;"
    'animation:cbi-shimmer 1.4s ease infinite"></div>'
    "<style>@keyframes cbi-shimmer{0%{background-position:100% 50%}100%{background-position:0 50%}}</style>"
)


def plan_changed(a: WidgetPlan | WidgetResult | None, b: WidgetPlan | WidgetResult) -> bool:
    """Whether a tile must be fetched again: its query, previous-period query or shown spec changed."""
    if not isinstance(a, WidgetPlan) or not isinstance(b, WidgetPlan):
        return True
    return (a.query, a.previous, a.spec, a.stored) != (b.query, b.previous, b.spec, b.stored)


def filter_options(warehouse: Warehouse, scope: Scope, customers: list[str]) -> dict[str, list[str]]:
    """The choices of each global filter; locations narrow to the chosen customers."""
    out: dict[str, list[str]] = {}
    for kind, col in FILTER_KINDS.items():
        spec: dict[str, Any] = {
            "source": "tickets",
            "group_by": [col],
            "metrics": [{"agg": "count", "as": "n"}],
            "limit": 2000,
        }
        if kind == "location" and customers:
            spec["filters"] = [{"column": "customer_name", "op": "in", "value": list(customers)}]
        out[kind] = [str(v) for v in warehouse.run(spec, scope).frame[col].dropna()]
    return out


def address_query(dashboard_id: int, f: DashboardFilters) -> str:
    """``?id=…&time_range=…&customer=…``: every filter written, an empty one as ``customer=``, so a
    link means exactly what was on screen whatever the dashboard's saved defaults are later."""
    parts = [f"id={dashboard_id}", f"time_range={quote(f.time_range or '', safe='')}"]
    for kind in FILTER_KINDS:
        values = getattr(f, kind)
        parts += [f"{kind}={quote(str(v), safe='')}" for v in values] or [f"{kind}="]
    return "?" + "&".join(parts)


def planned_scope(plan: DashboardPlan | None) -> Scope:
    """The scope a plan was made for (text widgets need none, but run_plan takes one)."""
    assert plan is not None
    return plan.scope
