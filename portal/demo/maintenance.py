"""Demo fact tables ``maintenance_orders`` and ``expenses``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from portal.demo.sampling import (
    _HOUR_US,
    _US,
    Arr,
    _nullable,
    _ts,
)
from portal.demo.vocabulary import (
    _MAINT_TARGET_H,
    _REGION_COST,
)

if TYPE_CHECKING:
    from portal.demo.generator import _Generator


def maintenance_frame(
    g: _Generator, rng: np.random.Generator, tenant: Arr, day: Arr, id0: int
) -> pd.DataFrame:
    d = g.d
    n = tenant.size
    preventive = rng.random(n) < g._prev_p[tenant, day]
    ts = np.where(
        preventive,
        g._timestamps(rng, tenant, day, g.prev_hours),
        g._timestamps(rng, tenant, day, g.hours),
    )
    order = np.argsort(ts, kind="stable")
    tenant, ts, preventive = tenant[order], ts[order], preventive[order]
    contract, customer, location = g._pick_where(rng, tenant, ts)
    asset = g.asset.sample(rng, tenant)
    team = g.maint_team.sample(rng, tenant)
    agent = g.agent.sample(rng, team)
    kind = np.where(preventive, 0, 1)
    prio = g.maint_priority.sample(rng, kind)
    sla_scale = d.con_sla[contract] / 24.0
    target = np.where(preventive, 72.0, _MAINT_TARGET_H[prio] * sla_scale)
    median_h = target * np.where(preventive, 0.35, 0.5) * g.asset_dur[asset] * d.team_mult[team]
    dur_s = np.rint(median_h * 3600 * np.exp(0.8 * rng.standard_normal(n)))
    dur_s = np.maximum(dur_s, 900).astype(np.int64)
    done_us = ts + dur_s * _US
    cancelled = rng.random(n) < 0.02
    completed = (done_us <= g.now_us) & ~cancelled
    started = ts + dur_s * (_US // 4) <= g.now_us
    status = np.where(cancelled, 3, np.where(completed, 2, np.where(started, 1, 0)))
    dur_h = dur_s / 3600.0
    age_h = (g.now_us - ts) / _HOUR_US
    breached = np.where(completed, dur_h > target, ~cancelled & ~completed & (age_h > target))
    years = (ts - g.day_us[0]) / (365.25 * 86400 * _US)
    inflation = 1.05**years
    labor_h = g.asset_labor[asset] * np.where(preventive, 0.6, 1.0)
    labor_h = labor_h * np.exp(0.5 * rng.standard_normal(n))
    region = g.city_region[d.loc_city[location]]
    labor = np.round(labor_h * g.labor_rate[tenant] * _REGION_COST[region] * inflation, 2)
    has_parts = rng.random(n) < np.where(preventive, 0.5, 0.85)
    parts = g.asset_parts[asset] * np.where(preventive, 0.2, 1.0)
    parts = parts * np.exp(0.9 * rng.standard_normal(n))
    parts = np.round(np.where(has_parts, parts * inflation, 0.0), 2)
    labor = np.where(cancelled, 0.0, labor)
    parts = np.where(cancelled, 0.0, parts)

    cols = g._dim_cols(tenant, contract, customer, location, team, agent)
    cols |= {
        "order_id": id0 + np.arange(n, dtype=np.int64),
        "asset_type": g.l_asset.take(asset),
        "kind": g.l_kind.take(kind),
        "priority": g.l_priority.take(prio),
        "status": g.l_maint_status.take(status),
        "opened_at": _ts(ts),
        "completed_at": _ts(done_us, completed),
        "duration_hours": _nullable(dur_h, completed),
        "sla_target_hours": target.astype(np.float64),
        "sla_breached": breached.astype(bool),
        "labor_cost": labor,
        "parts_cost": parts,
        "total_cost": labor + parts,
    }
    return g._frame("maintenance_orders", cols)


def expenses_frame(g: _Generator, rng: np.random.Generator, tenant: Arr, day: Arr, id0: int) -> pd.DataFrame:
    n = tenant.size
    ts = g._timestamps(rng, tenant, day, g.office_hours)
    order = np.argsort(ts, kind="stable")
    tenant, ts = tenant[order], ts[order]
    contract, customer, location = g._pick_where(rng, tenant, ts)
    team = g.exp_team.sample(rng, tenant)
    cat = g.exp_cat.sample(rng, tenant)
    vendor = g.vendor.sample(rng, cat)
    cost_center = np.where(rng.random(n) < 0.15, g.admin_cc[tenant], team)
    years = (ts - g.day_us[0]) / (365.25 * 86400 * _US)
    budget = g.exp_median[cat] * np.exp(0.6 * rng.standard_normal(n)) * 1.04**years
    budget = np.round(budget / 10.0) * 10.0
    budget = np.maximum(budget, 10.0)
    amount = np.round(budget * np.exp(-0.05 + 0.15 * rng.standard_normal(n)), 2)
    cols = g._dim_cols(tenant, contract, customer, location, team, None)
    cols |= {
        "expense_id": id0 + np.arange(n, dtype=np.int64),
        "category": g.l_exp_cat.take(cat),
        "vendor": g.l_vendor.take(vendor),
        "cost_center": g.l_cost_center.take(cost_center),
        "incurred_at": _ts(ts),
        "amount": amount,
        "budget": budget,
    }
    return g._frame("expenses", cols)


# -- small tables -----------------------------------------------------
