"""Demo fact table ``revenue``: monthly recurring revenue per contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from portal.demo.sampling import (
    _add_months,
    _Labels,
)
from portal.demo.vocabulary import (
    _PLANS,
    _SLA_TIERS,
)

if TYPE_CHECKING:
    from portal.demo.generator import _Generator


def revenue_frame(g: _Generator) -> pd.DataFrame:
    d = g.d
    rng = np.random.default_rng((g.size.seed, 17))
    rows: dict[str, list[Any]] = {k: [] for k in ("c", "m", "mrr", "new", "exp", "churn", "active")}
    for c in range(d.con_tenant.size):
        start, end = int(d.con_start_m[c]), int(d.con_end_m[c])
        mrr = float(d.con_value[c])
        for m in range(start, min(end + 1, g.months - 1) + 1):
            new = expansion = churned = 0.0
            if m > end:  # the month after the last active one: churn
                churned, mrr = mrr, 0.0
            elif m == start:
                new = mrr
            else:
                if (m - start) % 12 == 0:  # yearly price adjustment
                    expansion += round(mrr * float(rng.uniform(0.035, 0.065)), 2)
                if rng.random() < 0.025:
                    expansion += round(mrr * float(rng.uniform(0.1, 0.35)), 2)
                if rng.random() < 0.012:
                    churned = round(mrr * float(rng.uniform(0.05, 0.2)), 2)
                mrr = round(mrr + expansion - churned, 2)
            if m >= 0:
                rows["c"].append(c)
                rows["m"].append(m)
                rows["mrr"].append(mrr)
                rows["new"].append(new)
                rows["exp"].append(expansion)
                rows["churn"].append(churned)
                rows["active"].append(m <= end)
    con = np.asarray(rows["c"], dtype=np.int64)
    customer = d.con_customer[con]
    cols = g._dim_cols(d.con_tenant[con], con, customer, d.con_location[con], None, None)
    sla_rank = np.searchsorted(_SLA_TIERS, d.con_sla[con])
    cols |= {
        "month": np.array([_add_months(g.first_month, m) for m in rows["m"]], dtype=object),
        "plan": _Labels(_PLANS).take(sla_rank),
        "mrr": np.asarray(rows["mrr"], dtype=np.float64),
        "new_mrr": np.asarray(rows["new"], dtype=np.float64),
        "expansion_mrr": np.asarray(rows["exp"], dtype=np.float64),
        "churned_mrr": np.asarray(rows["churn"], dtype=np.float64),
        "active": np.asarray(rows["active"], dtype=bool),
    }
    return g._frame("revenue", cols)
