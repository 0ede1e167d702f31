"""Small vectorised helpers of the demo generator: weights, conditional samplers, labels, dates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Arr = npt.NDArray[Any]
Progress = Callable[[str, int, int], None]

_US = 1_000_000
_HOUR_US = 3600 * _US
_NAT = np.iinfo(np.int64).min


def _norm(w: Sequence[float] | Arr) -> Arr:
    a = np.asarray(w, dtype=np.float64)
    total = float(a.sum())
    out: Arr = a / total if total > 0 else np.full(a.shape, 1.0 / max(a.size, 1))
    return out


def _allocate(total: int, weights: Arr) -> Arr:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder, exact sum)."""
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros(w.shape, dtype=np.int64)
    s = float(w.sum())
    if total <= 0 or s <= 0:
        return out
    raw = w / s * total
    out = np.floor(raw).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        flat = out.reshape(-1)
        order = np.argsort(-(raw - out).reshape(-1), kind="stable")[:rest]
        flat[order] += 1
    return out


class _Cond:
    """Sample a column index per row from a row-wise weight matrix (one row per condition key)."""

    def __init__(self, weights: Arr) -> None:
        w = np.asarray(weights, dtype=np.float64)
        m = w.shape[1]
        if np.any(w.sum(axis=1) <= 0):
            raise ValueError("every condition needs a positive weight")
        self._m = m
        self._flat = np.cumsum(w.reshape(-1))
        ends = self._flat[m - 1 :: m]
        self._start = np.concatenate(([0.0], ends[:-1]))
        self._total = ends - self._start
        self._last = (m - 1 - np.argmax((w > 0)[:, ::-1], axis=1)).astype(np.int64)

    def sample(self, rng: np.random.Generator, keys: Arr) -> Arr:
        keys = np.asarray(keys, dtype=np.int64)
        v = self._start[keys] + rng.random(keys.size) * self._total[keys]
        col = np.searchsorted(self._flat, v, side="right") - keys * self._m
        out: Arr = np.minimum(col, self._last[keys]).astype(np.int64)
        return out


class _Labels:
    """Strings addressed by integer index, turned into pandas Categoricals in bulk."""

    def __init__(self, values: Sequence[str]) -> None:
        uniq, inv = np.unique(np.asarray(values, dtype=object), return_inverse=True)
        self.values = list(values)
        self._codes = inv.astype(np.int32)
        self._categories = pd.Index(list(uniq), dtype=object)

    def take(self, idx: Arr) -> pd.Categorical:
        return pd.Categorical.from_codes(self._codes[idx], categories=self._categories)


def _group_cumsum(values: Arr, counts: Arr, starts: Arr) -> Arr:
    cs = np.concatenate(([0], np.cumsum(values)))
    out: Arr = cs[1:] - np.repeat(cs[starts], counts)
    return out


def _ts(us: Arr, valid: Arr | None = None) -> Arr:
    a = np.asarray(us, dtype=np.int64)
    if valid is not None:
        a = np.where(valid, a, _NAT)
    return a.view("datetime64[us]")


def _nullable(values: Arr, valid: Arr) -> Arr:
    return np.where(valid, values, np.nan)


def _add_months(first_of_month: date, n: int) -> date:
    y, m = divmod(first_of_month.year * 12 + first_of_month.month - 1 + n, 12)
    return date(y, m + 1, 1)


def _last_day(first_of_month: date) -> date:
    return _add_months(first_of_month, 1) - timedelta(days=1)
