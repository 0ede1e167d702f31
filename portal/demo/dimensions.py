"""Demo dimension tables: customers, locations, teams, agents and contracts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portal.demo.sampling import (
    Arr,
    _add_months,
    _Labels,
    _last_day,
    _norm,
)
from portal.demo.schema import (
    DemoTenant,
)
from portal.demo.vocabulary import (
    _CITIES,
    _COMPANY_SUFFIXES,
    _COMPANY_WORDS,
    _FIRST_NAMES,
    _LAST_NAMES,
    _PROFILES,
    _REGIONS,
    _SITE_KINDS,
    _SLA_TIERS,
)

if TYPE_CHECKING:
    from portal.demo.generator import _Generator


# ---------------------------------------------------------------------------
# Dimensions


@dataclass
class _Dims:
    tenant_labels: _Labels
    # customers
    cust_tenant: Arr
    cust_name: list[str]
    cust_segment: list[str]
    cust_city: Arr
    cust_weight: Arr
    cust_base_value: Arr
    # locations
    loc_tenant: Arr
    loc_customer: Arr
    loc_name: list[str]
    loc_city: Arr
    loc_weight: Arr
    # teams
    team_tenant: Arr
    team_name: list[str]
    team_mult: Arr
    team_kind: list[str]
    team_affinity: list[tuple[str, ...]]
    team_cost_center: list[str]
    # agents
    agent_tenant: Arr
    agent_team: Arr
    agent_name: list[str]
    agent_mult: Arr
    agent_weight: Arr
    # contracts (months relative to the first month of the window)
    con_tenant: Arr
    con_customer: Arr
    con_name: list[str]
    con_start_m: Arr
    con_end_m: Arr  # inclusive last active month; large when ongoing
    con_sla: Arr
    con_value: Arr
    con_weight: Arr
    con_location: Arr


_ONGOING = 1_000_000


def _company_name(rng: np.random.Generator, prefixes: tuple[str, ...], city: str) -> str:
    prefix = str(rng.choice(prefixes))
    if prefix.endswith(" de"):
        return f"{prefix} {city}"
    if prefix.endswith("Saúde"):
        return f"{prefix} de {city}"
    word = str(rng.choice(_COMPANY_WORDS))
    suffix = str(rng.choice(_COMPANY_SUFFIXES))
    return f"{prefix} {word} {suffix}".strip()


def _build_dims(rng: np.random.Generator, tenants: Sequence[DemoTenant], n_months: int) -> _Dims:
    cust: dict[str, list[Any]] = {k: [] for k in ("tenant", "name", "segment", "city", "weight", "value")}
    loc: dict[str, list[Any]] = {k: [] for k in ("tenant", "customer", "name", "city", "weight")}
    team: dict[str, list[Any]] = {k: [] for k in ("tenant", "name", "mult", "kind", "affinity", "cc")}
    agent: dict[str, list[Any]] = {k: [] for k in ("tenant", "team", "name", "mult", "weight")}
    con: dict[str, list[Any]] = {
        k: [] for k in ("tenant", "customer", "name", "start", "end", "sla", "value", "weight", "location")
    }
    people = [f"{f} {s}" for f in _FIRST_NAMES for s in _LAST_NAMES]
    people_order = rng.permutation(len(people))
    people_used = 0

    for t, tenant in enumerate(tenants):
        prof = _PROFILES[tenant.profile]
        seg_w = _norm([s[1] for s in prof.segments])
        city_w = _norm(prof.city_weights)
        n_cust = int(rng.integers(30, 61))
        names: set[str] = set()
        site_names: set[str] = set()
        for i in range(n_cust):
            seg = int(rng.choice(len(prof.segments), p=seg_w))
            seg_name, _, base_value, prefixes = prof.segments[seg]
            city = int(rng.choice(len(_CITIES), p=city_w))
            name = _company_name(rng, prefixes, _CITIES[city][0])
            for _ in range(20):
                if name not in names:
                    break
                name = _company_name(rng, prefixes, _CITIES[int(rng.choice(len(_CITIES), p=city_w))][0])
            k = 2
            base_name = name
            while name in names:
                name = f"{base_name} {k}"
                k += 1
            names.add(name)
            size_w = float(rng.lognormal(0.0, 0.8)) * (0.4 if seg_name == "SMB" else 1.0)
            cust_idx = len(cust["name"])
            cust["tenant"].append(t)
            cust["name"].append(name)
            cust["segment"].append(seg_name)
            cust["city"].append(city)
            cust["weight"].append(size_w)
            cust["value"].append(base_value)

            # locations: headquarters first, then branches
            n_loc = 1 + min(int(rng.poisson(1.9)), 1 if seg_name == "SMB" else 6)
            first_loc = len(loc["name"])
            for j in range(n_loc):
                lcity = city if j == 0 or rng.random() < 0.4 else int(rng.choice(len(_CITIES), p=city_w))
                hoods = _CITIES[lcity][3]
                kind = "Sede" if j == 0 else str(rng.choice(_SITE_KINDS))
                lname = f"{kind} {rng.choice(hoods)}"
                for _ in range(10):
                    if lname not in site_names:
                        break
                    lname = f"{rng.choice(_SITE_KINDS)} {rng.choice(hoods)}"
                k = 2
                base_lname = lname
                while lname in site_names:
                    lname = f"{base_lname} {k}"
                    k += 1
                site_names.add(lname)
                loc["tenant"].append(t)
                loc["customer"].append(cust_idx)
                loc["name"].append(lname)
                loc["city"].append(lcity)
                loc["weight"].append(float(rng.lognormal(0.0, 0.5)) * (1.6 if j == 0 else 1.0))

            # contracts: established (started before the window) or new, some churn
            established = i < 5 or rng.random() < 0.72
            if established or n_months < 2:
                start_m = -int(rng.integers(1, 49))
            else:
                start_m = int(rng.integers(1, n_months))
            churn_p = 0.0 if i < 5 else (0.14 if established else 0.08)
            end_m = _ONGOING
            if n_months >= 4 and rng.random() < churn_p and max(start_m + 3, 1) <= n_months - 2:
                end_m = int(rng.integers(max(start_m + 3, 1), n_months - 1))
            sla = int(rng.choice(_SLA_TIERS, p=_norm(prof.sla_weights)))
            value = base_value * size_w**0.7 * float(rng.lognormal(0.0, 0.2))
            primary = int(rng.integers(0, 2))
            services = [primary]
            if rng.random() < 0.45:  # a second, add-on contract
                services.append(int(rng.choice([s for s in range(len(prof.services)) if s != primary])))
            short = name.removesuffix(" S.A.").removesuffix(" Ltda.")
            for c, svc in enumerate(services):
                c_start, c_end, c_value = start_m, end_m, value
                if c == 1:
                    c_start = max(start_m, int(rng.integers(start_m, max(start_m + 1, n_months))))
                    c_value = value * float(rng.uniform(0.2, 0.5))
                    if c_start > min(end_m, n_months - 1):
                        c_start = start_m
                con["tenant"].append(t)
                con["customer"].append(cust_idx)
                con["name"].append(f"{prof.services[svc]} - {short}")
                con["start"].append(c_start)
                con["end"].append(c_end)
                con["sla"].append(sla if c == 0 else int(rng.choice(_SLA_TIERS, p=_norm(prof.sla_weights))))
                con["value"].append(round(c_value / 50.0) * 50.0)
                con["weight"].append(size_w * (1.0 if c == 0 else 0.4))
                con["location"].append(first_loc)

        # teams and agents
        n_teams = int(rng.integers(6, min(10, len(prof.teams)) + 1))
        for j, spec in enumerate(prof.teams[:n_teams]):
            team_idx = len(team["name"])
            team["tenant"].append(t)
            team["name"].append(spec.name)
            team["mult"].append(spec.mult * float(rng.lognormal(0.0, 0.08)))
            team["kind"].append(spec.kind)
            team["affinity"].append(spec.affinity)
            team["cc"].append(f"CC-{110 + 10 * j} {spec.name}")
            for _ in range(int(rng.integers(5, 13))):
                agent["tenant"].append(t)
                agent["team"].append(team_idx)
                agent["name"].append(people[int(people_order[people_used % len(people)])])
                people_used += 1
                agent["mult"].append(float(rng.lognormal(0.0, 0.15)))
                agent["weight"].append(float(rng.uniform(0.5, 1.5)))

    def arr(xs: list[Any], dtype: Any = np.int64) -> Arr:
        return np.asarray(xs, dtype=dtype)

    return _Dims(
        tenant_labels=_Labels([t.key for t in tenants]),
        cust_tenant=arr(cust["tenant"]),
        cust_name=cust["name"],
        cust_segment=cust["segment"],
        cust_city=arr(cust["city"]),
        cust_weight=arr(cust["weight"], np.float64),
        cust_base_value=arr(cust["value"], np.float64),
        loc_tenant=arr(loc["tenant"]),
        loc_customer=arr(loc["customer"]),
        loc_name=loc["name"],
        loc_city=arr(loc["city"]),
        loc_weight=arr(loc["weight"], np.float64),
        team_tenant=arr(team["tenant"]),
        team_name=team["name"],
        team_mult=arr(team["mult"], np.float64),
        team_kind=team["kind"],
        team_affinity=team["affinity"],
        team_cost_center=team["cc"],
        agent_tenant=arr(agent["tenant"]),
        agent_team=arr(agent["team"]),
        agent_name=agent["name"],
        agent_mult=arr(agent["mult"], np.float64),
        agent_weight=arr(agent["weight"], np.float64),
        con_tenant=arr(con["tenant"]),
        con_customer=arr(con["customer"]),
        con_name=con["name"],
        con_start_m=arr(con["start"]),
        con_end_m=arr(con["end"]),
        con_sla=arr(con["sla"]),
        con_value=arr(con["value"], np.float64),
        con_weight=arr(con["weight"], np.float64),
        con_location=arr(con["location"]),
    )


# ---------------------------------------------------------------------------
# The generator


_T_TICKETS, _T_CONV, _T_MAINT, _T_EXP = 1, 2, 3, 4
_ChunkBuilder = Callable[[np.random.Generator, Arr, Arr, int], pd.DataFrame]
_Loaded = dict[str, int]
_Chunk = tuple[str, pd.DataFrame]


def dimension_frames(g: _Generator) -> dict[str, pd.DataFrame]:
    d = g.d
    keys = [t.key for t in g.tenants]

    def city_cols(city: Arr) -> dict[str, list[str]]:
        return {
            "city": [_CITIES[i][0] for i in city],
            "state": [_CITIES[i][1] for i in city],
            "region": [_REGIONS[_CITIES[i][2]] for i in city],
        }

    def frame(table: str, cols: dict[str, Any]) -> pd.DataFrame:
        return g._frame(table, cols)

    n_cust, n_loc = d.cust_tenant.size, d.loc_tenant.size
    contracts_end = [
        None if e >= _ONGOING else _last_day(_add_months(g.first_month, int(e))) for e in d.con_end_m
    ]
    return {
        "customers": frame(
            "customers",
            {
                "customer_id": np.arange(1, n_cust + 1),
                "tenant_key": [keys[t] for t in d.cust_tenant],
                "name": d.cust_name,
                "segment": d.cust_segment,
                **city_cols(d.cust_city),
            },
        ),
        "locations": frame(
            "locations",
            {
                "location_id": np.arange(1, n_loc + 1),
                "tenant_key": [keys[t] for t in d.loc_tenant],
                "customer_id": d.loc_customer + 1,
                "name": d.loc_name,
                **city_cols(d.loc_city),
            },
        ),
        "teams": frame(
            "teams",
            {
                "team_id": np.arange(1, d.team_tenant.size + 1),
                "tenant_key": [keys[t] for t in d.team_tenant],
                "name": d.team_name,
            },
        ),
        "agents": frame(
            "agents",
            {
                "agent_id": np.arange(1, d.agent_team.size + 1),
                "tenant_key": [keys[t] for t in d.agent_tenant],
                "team_id": d.agent_team + 1,
                "name": d.agent_name,
            },
        ),
        "contracts": frame(
            "contracts",
            {
                "contract_id": np.arange(1, d.con_tenant.size + 1),
                "tenant_key": [keys[t] for t in d.con_tenant],
                "customer_id": d.con_customer + 1,
                "name": d.con_name,
                "start_date": pd.array(
                    [_add_months(g.first_month, int(s)) for s in d.con_start_m], dtype=object
                ),
                "end_date": pd.array(contracts_end, dtype=object),
                "sla_hours": d.con_sla.astype(np.int64),
                "monthly_value": d.con_value,
            },
        ),
    }


# -- chunking ---------------------------------------------------------
