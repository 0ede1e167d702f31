"""The demo generator state for one (size, end): dimensions, per-day plans and samplers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from portal.demo.dimensions import _build_dims, dimension_frames
from portal.demo.revenue import revenue_frame
from portal.demo.sampling import (
    _US,
    Arr,
    _add_months,
    _allocate,
    _Cond,
    _Labels,
    _norm,
)
from portal.demo.schema import (
    TABLE_COLUMNS,
    TENANTS,
    DemoSize,
    DemoTenant,
)
from portal.demo.vocabulary import (
    _CHANNELS,
    _CITIES,
    _DIRECTIONS,
    _HOLIDAYS,
    _KINDS,
    _MAINT_STATUS,
    _PRIORITIES,
    _PROFILES,
    _REGIONS,
    _TICKET_STATUS,
    _VENDORS,
)

_T_TICKETS, _T_CONV, _T_MAINT, _T_EXP = 1, 2, 3, 4
_ChunkBuilder = Callable[[np.random.Generator, Arr, Arr, int], pd.DataFrame]
_Loaded = dict[str, int]
_Chunk = tuple[str, pd.DataFrame]


class _Generator:
    """Dimensions, per-day plans and chunk builders for one (size, end)."""

    def __init__(self, size: DemoSize, end: date | None, tenants: Sequence[DemoTenant] = TENANTS) -> None:
        self.size = size
        self.tenants = tuple(tenants)
        self.profiles = [_PROFILES[t.profile] for t in self.tenants]
        end = end or date.today()
        self.first_month = _add_months(end.replace(day=1), -(size.months - 1))
        self.end = end
        self.months = size.months
        n_t = len(self.tenants)
        self.n_t = n_t

        days = np.arange(np.datetime64(self.first_month, "D"), np.datetime64(end + timedelta(days=1), "D"))
        self.n_days = days.size
        day_int = days.astype(np.int64)
        self.dow = (day_int + 3) % 7  # Monday = 0
        self.day_us = day_int * 86400 * _US
        self.now_us = int(self.day_us[-1] + 86400 * _US)
        month0 = np.datetime64(self.first_month, "M")
        self.day_month = (days.astype("datetime64[M]") - month0).astype(np.int64)
        doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
        month_num = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dom = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
        holiday = np.zeros(self.n_days, dtype=bool)
        for hm, hd in _HOLIDAYS:
            holiday |= (month_num == hm) & (dom == hd)
        years = (day_int - day_int[0]) / 365.25

        self.d = _build_dims(np.random.default_rng((size.seed, 7)), self.tenants, self.months)
        d = self.d
        self._build_labels()

        # contracts active per (tenant, month) -> sampling table and portfolio weight
        months = np.arange(self.months)
        active = (d.con_start_m[None, :] <= months[:, None]) & (d.con_end_m[None, :] >= months[:, None])
        w = np.zeros((n_t * self.months, d.con_tenant.size))
        for t in range(n_t):
            mine = d.con_tenant == t
            rows = slice(t * self.months, (t + 1) * self.months)
            w[rows] = np.where(active & mine[None, :], d.con_weight[None, :], 0.0)
        self.contract = _Cond(w)
        portfolio = w.sum(axis=1).reshape(n_t, self.months)
        portfolio = portfolio / portfolio.mean(axis=1, keepdims=True)

        n_loc = d.loc_customer.size
        lw = np.zeros((d.cust_tenant.size, n_loc))
        lw[d.loc_customer, np.arange(n_loc)] = d.loc_weight
        self.location = _Cond(lw)

        # day weights per tenant
        prng = np.random.default_rng((size.seed, 11))
        base = np.zeros((n_t, self.n_days))
        preventive = np.zeros((n_t, self.n_days))
        expense = np.zeros((n_t, self.n_days))
        for t, prof in enumerate(self.profiles):
            weekly = np.asarray(prof.weekly)[self.dow]
            weekly = np.where(holiday, prof.weekly[6], weekly)
            yearly = 1.0 + prof.yearly_amp * np.cos(2 * np.pi * (doy - prof.yearly_peak_doy) / 365.25)
            trend = (1.0 + prof.growth) ** years
            noise = prng.lognormal(0.0, 0.07, self.n_days)
            spikes = np.ones(self.n_days)
            n_spikes = prng.poisson(prof.spikes_per_year * self.n_days / 365.25)
            spikes[prng.integers(0, self.n_days, n_spikes)] = prng.uniform(1.8, 3.0, n_spikes)
            pf = portfolio[t][self.day_month]
            base[t] = weekly * yearly * trend * noise * spikes * pf
            workday = (self.dow < 5) & ~holiday
            preventive[t] = np.where(workday, 1.0, 0.0) * pf * (1.0 + 0.5 * prof.growth * years)
            month_end = np.where(dom >= 25, 1.6, 1.0)
            noise = prng.lognormal(0, 0.1, self.n_days)
            expense[t] = np.where(workday, 1.0, 0.04) * month_end * trend * pf * noise
        self._prev_p = np.zeros((n_t, self.n_days))

        # per-tenant totals (exact sums)
        shares = np.array([t.share for t in self.tenants])
        n_tickets = _allocate(size.tickets, shares)
        n_conv = _allocate(round(size.tickets * 0.8), shares * [p.conv_ratio for p in self.profiles])
        n_msgs = _allocate(round(size.tickets * size.messages_per_ticket), n_conv.astype(np.float64))
        n_maint = _allocate(round(size.tickets * 0.15), shares * [p.maint_ratio for p in self.profiles])
        n_exp = _allocate(round(size.tickets * 0.2), shares * [p.expense_ratio for p in self.profiles])

        maint_w = np.zeros((n_t, self.n_days))
        for t, prof in enumerate(self.profiles):
            pv = prof.preventive_share * _norm(preventive[t])
            cv = (1.0 - prof.preventive_share) * _norm(base[t])
            maint_w[t] = pv + cv
            self._prev_p[t] = np.divide(pv, pv + cv, out=np.zeros_like(pv), where=(pv + cv) > 0)

        self.ticket_days = self._plan(_T_TICKETS, n_tickets, base)
        self.conv_days = self._plan(_T_CONV, n_conv, base)
        self.msg_days = np.zeros_like(self.conv_days)
        for t in range(n_t):
            self.msg_days[t] = _allocate(int(n_msgs[t]), self.conv_days[t].astype(np.float64))
        self.maint_days = self._plan(_T_MAINT, n_maint, maint_w)
        self.exp_days = self._plan(_T_EXP, n_exp, expense)

        self._build_samplers()
        self.revenue = revenue_frame(self)

    # -- set-up -----------------------------------------------------------

    def _plan(self, code: int, totals: Arr, weights: Arr) -> Arr:
        rng = np.random.default_rng((self.size.seed, 13, code))
        out = np.zeros((self.n_t, self.n_days), dtype=np.int64)
        for t in range(self.n_t):
            if totals[t] > 0:
                out[t] = rng.multinomial(int(totals[t]), _norm(weights[t]))
        return out

    def _build_labels(self) -> None:
        d = self.d
        self.l_tenant = d.tenant_labels
        self.l_cust_name = _Labels(d.cust_name)
        self.l_cust_segment = _Labels(d.cust_segment)
        self.l_loc_name = _Labels(d.loc_name)
        self.l_city = _Labels([c[0] for c in _CITIES])
        self.l_state = _Labels([c[1] for c in _CITIES])
        self.l_region = _Labels([_REGIONS[c[2]] for c in _CITIES])
        self.city_region = np.array([c[2] for c in _CITIES])
        self.l_con_name = _Labels(d.con_name)
        self.l_team = _Labels(d.team_name)
        self.l_agent = _Labels(d.agent_name)
        self.l_priority = _Labels(_PRIORITIES)
        self.l_channel = _Labels(_CHANNELS)
        self.l_ticket_status = _Labels(_TICKET_STATUS)
        self.l_maint_status = _Labels(_MAINT_STATUS)
        self.l_kind = _Labels(_KINDS)
        self.l_direction = _Labels(_DIRECTIONS)

    def _tenant_table(self, per_tenant: Sequence[Sequence[Any]]) -> tuple[Arr, list[Any]]:
        """Global index space over per-tenant lists: (tenant of each global index, flat list)."""
        owner: list[int] = []
        flat: list[Any] = []
        for t, items in enumerate(per_tenant):
            owner.extend([t] * len(items))
            flat.extend(items)
        return np.asarray(owner, dtype=np.int64), flat

    def _build_samplers(self) -> None:
        d, n_t, profs = self.d, self.n_t, self.profiles
        n_team, n_agent = d.team_tenant.size, d.agent_team.size

        def by_tenant(rows: Sequence[Sequence[float]]) -> _Cond:
            return _Cond(np.asarray(rows, dtype=np.float64))

        def block(owner: Arr, weights: Sequence[float]) -> _Cond:
            w = np.zeros((n_t, owner.size))
            w[owner, np.arange(owner.size)] = weights
            return _Cond(w)

        self.hours = by_tenant([p.hourly for p in profs])
        self.priority = by_tenant([p.priority_weights for p in profs])
        self.ticket_channel = by_tenant([p.ticket_channels for p in profs])
        self.conv_channel = by_tenant([p.conv_channels for p in profs])
        prev_hours = np.zeros(24)
        prev_hours[7:11] = (1.0, 1.4, 1.2, 0.8)
        self.prev_hours = _Cond(np.tile(prev_hours, (n_t, 1)))
        office = np.zeros(24)
        office[8:19] = 1.0
        self.office_hours = _Cond(np.tile(office, (n_t, 1)))

        # ticket categories and the teams that handle them
        cat_owner, cats = self._tenant_table([p.categories for p in profs])
        self.cat_tenant = cat_owner
        self.l_category = _Labels(cats)
        self.ticket_cat = block(cat_owner, [w for p in profs for w in p.category_weights])
        self.cat_mult = np.array([m for p in profs for m in p.category_mult])
        kind_w = {"desk": 1.0, "field": 0.8, "specialist": 0.3}
        tw = np.zeros((len(cats), n_team))
        for c, name in enumerate(cats):
            for j in np.flatnonzero(d.team_tenant == cat_owner[c]):
                tw[c, j] = kind_w[d.team_kind[j]] + (4.0 if name in d.team_affinity[j] else 0.0)
        self.ticket_team = _Cond(tw)

        cw = np.zeros((n_t, n_team))
        mw = np.zeros((n_t, n_team))
        for k in range(n_team):
            cw[d.team_tenant[k], k] = {"desk": 1.0, "field": 0.12, "specialist": 0.1}[d.team_kind[k]]
            mw[d.team_tenant[k], k] = {"desk": 0.05, "field": 1.0, "specialist": 0.7}[d.team_kind[k]]
        self.conv_team = _Cond(cw)
        self.maint_team = _Cond(mw)
        self.exp_team = block(d.team_tenant, [1.0] * n_team)

        aw = np.zeros((n_team, n_agent))
        aw[d.agent_team, np.arange(n_agent)] = d.agent_weight
        self.agent = _Cond(aw)

        tag_owner, tags = self._tenant_table([p.tags for p in profs])
        self.l_tag = _Labels(tags)
        self.tag = block(tag_owner, [w for p in profs for w in p.tag_weights])

        asset_owner, assets = self._tenant_table([p.assets for p in profs])
        self.l_asset = _Labels([a[0] for a in assets])
        self.asset = block(asset_owner, [a[1] for a in assets])
        self.asset_dur = np.array([a[2] for a in assets])
        self.asset_labor = np.array([a[3] for a in assets])
        self.asset_parts = np.array([a[4] for a in assets])
        mp = np.zeros((2, 4))
        mp[0] = (0.55, 0.45, 0.0, 0.0)
        mp[1] = (0.15, 0.45, 0.28, 0.12)
        self.maint_priority = _Cond(mp)
        self.labor_rate = np.array([p.labor_rate for p in profs])

        exp_owner, exp_cats = self._tenant_table([p.expense_categories for p in profs])
        self.l_exp_cat = _Labels([c[0] for c in exp_cats])
        self.exp_cat = block(exp_owner, [c[1] for c in exp_cats])
        self.exp_median = np.array([c[2] for c in exp_cats])
        vendors = sorted({v for c in exp_cats for v in _VENDORS[c[0]]})
        self.l_vendor = _Labels(vendors)
        vw = np.zeros((len(exp_cats), len(vendors)))
        for c, cat in enumerate(exp_cats):
            for rank, v in enumerate(_VENDORS[cat[0]]):
                vw[c, vendors.index(v)] = 1.0 / (1 + rank)
        self.vendor = _Cond(vw)
        cc = list(d.team_cost_center) + [f"CC-900 Administrativo ({t.name})" for t in self.tenants]
        self.l_cost_center = _Labels([c.split(" (")[0] for c in cc])
        self.admin_cc = np.arange(n_t) + n_team
        self.weekend_res = np.array([p.weekend_res for p in profs])

    # -- shared column builders -------------------------------------------

    def _timestamps(self, rng: np.random.Generator, tenant: Arr, day: Arr, hours: _Cond) -> Arr:
        hour = hours.sample(rng, tenant)
        secs = hour * 3600 + rng.integers(0, 3600, tenant.size)
        return self.day_us[day] + secs * _US

    def _rows(self, counts: Arr, d0: int, d1: int) -> tuple[Arr, Arr]:
        block = counts[:, d0:d1]
        n_t, n_d = block.shape
        tenant = np.repeat(np.repeat(np.arange(n_t), n_d), block.reshape(-1))
        day = np.repeat(np.tile(np.arange(d0, d1), n_t), block.reshape(-1))
        return tenant, day

    def _pick_where(self, rng: np.random.Generator, tenant: Arr, ts: Arr) -> tuple[Arr, Arr, Arr]:
        day = np.clip((ts - self.day_us[0]) // (86400 * _US), 0, self.n_days - 1)
        month = self.day_month[day]
        contract = self.contract.sample(rng, tenant * self.months + month)
        customer = self.d.con_customer[contract]
        location = self.location.sample(rng, customer)
        return contract, customer, location

    def _dim_cols(
        self, tenant: Arr, contract: Arr, customer: Arr, location: Arr, team: Arr | None, agent: Arr | None
    ) -> dict[str, Any]:
        city = self.d.loc_city[location]
        cols: dict[str, Any] = {
            "tenant_key": self.l_tenant.take(tenant),
            "customer_id": customer + 1,
            "customer_name": self.l_cust_name.take(customer),
            "customer_segment": self.l_cust_segment.take(customer),
            "location_id": location + 1,
            "location_name": self.l_loc_name.take(location),
            "city": self.l_city.take(city),
            "state": self.l_state.take(city),
            "region": self.l_region.take(city),
            "contract_id": contract + 1,
            "contract_name": self.l_con_name.take(contract),
        }
        if team is not None:
            cols["team_id"] = team + 1
            cols["team_name"] = self.l_team.take(team)
        if agent is not None:
            cols["agent_id"] = agent + 1
            cols["agent_name"] = self.l_agent.take(agent)
        return cols

    @staticmethod
    def _frame(table: str, cols: dict[str, Any]) -> pd.DataFrame:
        names = [c for c, _ in TABLE_COLUMNS[table]]
        if set(names) != set(cols):
            raise AssertionError(f"{table}: columns {sorted(set(names) ^ set(cols))} mismatch")
        return pd.DataFrame({c: cols[c] for c in names})

    def totals(self) -> dict[str, int]:
        dims = {name: len(df) for name, df in dimension_frames(self).items()}
        return {
            **dims,
            "revenue": len(self.revenue),
            "tickets": int(self.ticket_days.sum()),
            "conversations": int(self.conv_days.sum()),
            "messages": int(self.msg_days.sum()),
            "maintenance_orders": int(self.maint_days.sum()),
            "expenses": int(self.exp_days.sum()),
        }
