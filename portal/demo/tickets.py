"""Demo fact table ``tickets``: service tickets with SLA targets, first response and resolution."""

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
    _FR_PRIORITY,
    _RES_RATIO,
    _SLA_FACTOR,
    _TICKET_FR_MIN,
)

if TYPE_CHECKING:
    from portal.demo.generator import _Generator


def tickets_frame(g: _Generator, rng: np.random.Generator, tenant: Arr, day: Arr, id0: int) -> pd.DataFrame:
    d = g.d
    ts = g._timestamps(rng, tenant, day, g.hours)
    order = np.argsort(ts, kind="stable")
    tenant, day, ts = tenant[order], day[order], ts[order]
    n = ts.size
    contract, customer, location = g._pick_where(rng, tenant, ts)
    cat = g.ticket_cat.sample(rng, tenant)
    team = g.ticket_team.sample(rng, cat)
    agent = g.agent.sample(rng, team)
    prio = g.priority.sample(rng, tenant)
    channel = g.ticket_channel.sample(rng, tenant)

    target = d.con_sla[contract] * _SLA_FACTOR[prio]
    dow = g.dow[day]
    hour = (ts // _HOUR_US) % 24
    off_hours = (dow >= 5) | ((dow == 4) & (hour >= 18))
    median_h = (
        target
        * _RES_RATIO[prio]
        * d.team_mult[team]
        * d.agent_mult[agent]
        * g.cat_mult[cat]
        * np.where(off_hours, g.weekend_res[tenant], 1.0)
    )
    res_s = np.rint(median_h * 3600 * np.exp(0.85 * rng.standard_normal(n)))
    res_s = np.maximum(res_s, 60).astype(np.int64)
    fr_median_s = _TICKET_FR_MIN[channel] * 60 * _FR_PRIORITY[prio] * np.sqrt(d.team_mult[team])
    fr_s = np.rint(fr_median_s * np.exp(rng.standard_normal(n)))
    fr_s = np.minimum(np.maximum(fr_s, 5), np.floor(res_s * 0.8)).astype(np.int64)
    closed_us = ts + res_s * _US
    fr_us = ts + fr_s * _US
    stuck = rng.random(n) < 0.003  # forgotten backlog
    closed = (closed_us <= g.now_us) & ~stuck
    responded = fr_us <= g.now_us
    status = np.where(closed, 2, np.where(responded, 1, 0))
    res_h = res_s / 3600.0
    age_h = (g.now_us - ts) / _HOUR_US
    breached = np.where(closed, res_h > target, age_h > target)
    reopened = closed & (rng.random(n) < 0.04 + 0.07 * breached)
    cols = g._dim_cols(tenant, contract, customer, location, team, agent)
    cols |= {
        "ticket_id": id0 + np.arange(n, dtype=np.int64),
        "category": g.l_category.take(cat),
        "priority": g.l_priority.take(prio),
        "channel": g.l_channel.take(channel),
        "status": g.l_ticket_status.take(status),
        "opened_at": _ts(ts),
        "first_response_at": _ts(fr_us, responded),
        "closed_at": _ts(closed_us, closed),
        "first_response_minutes": _nullable(fr_s / 60.0, responded),
        "resolution_hours": _nullable(res_h, closed),
        "sla_target_hours": target.astype(np.float64),
        "sla_breached": breached.astype(bool),
        "reopened": reopened,
    }
    return g._frame("tickets", cols)
