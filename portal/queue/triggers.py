"""Triggers on report results: does the condition hold, should we notify, do run-report chains loop.

A trigger *fires* when its condition held for ``for_consecutive`` evaluations in a row; it
*notifies* (sends its actions) only when armed and out of cooldown, so a value stuck above
a threshold alerts once and a flapping one does not spam. Null values never match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from portal.errors import unknown
from portal.specs.triggers import TriggerSpec


@dataclass(frozen=True)
class TriggerOutcome:
    """One evaluation: ``matched`` = the condition holds on this result; ``fired`` = it held
    for the required consecutive evaluations; ``value`` = what was compared (the row count,
    or the metric's first matching value, else its first value)."""

    fired: bool
    value: Any
    matched: bool
    reason: str


def _plain(value: Any) -> Any:
    # numpy scalars -> Python, so the outcome goes to JSON and compares as users expect.
    return value.item() if hasattr(value, "item") else value


def _shown(value: Any) -> str:
    # 120.0 from a column with nulls reads as 120, as the user wrote it.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce") if values.dtype != bool else values.astype(float)


def _mask(spec: TriggerSpec, values: pd.Series) -> pd.Series:
    """Which values satisfy the condition (False for nulls, whatever the operator)."""
    present = values.notna()
    op, v = spec.op, spec.value
    if op == "EXISTS":
        return present
    if op == "IN":
        return values.isin(list(v)) & present
    if op == "BETWEEN":
        num = _numbers(values)
        return (num >= v[0]) & (num <= v[1]) & present
    if op in ("==", "!="):
        # Text and true/false compare as given; numbers compare numerically ("5" == 5.0 holds).
        equal = values.astype(object) == v if isinstance(v, bool | str) else _numbers(values) == v
        return (equal if op == "==" else ~equal) & present
    num = _numbers(values)
    compare = {">": num > v, ">=": num >= v, "<": num < v, "<=": num <= v}[op]
    return compare & present


def _condition(spec: TriggerSpec) -> str:
    subject = spec.metric or "row count"
    if spec.op == "EXISTS":
        return f"{subject} exists" if spec.metric else "rows exist"
    if spec.op == "BETWEEN":
        return f"{subject} between {spec.value[0]} and {spec.value[1]}"
    if spec.op == "IN":
        return f"{subject} in {list(spec.value)}"
    return f"{subject} {spec.op} {spec.value!r}"


def evaluate(spec: TriggerSpec, frame: pd.DataFrame, history: Sequence[bool]) -> TriggerOutcome:
    """Evaluate ``spec`` on a result ``frame``.

    ``history`` holds the previous evaluations' ``matched``, oldest first; the trigger fires
    when this one and the ``for_consecutive - 1`` before it matched. Raises
    :class:`~portal.errors.InvalidSpec` (field ``metric``) if the result lacks the metric column.
    """
    if spec.metric is None:
        count = len(frame)
        matched = bool(_mask(spec, pd.Series([count]))[0]) if spec.op != "EXISTS" else count > 0
        value: Any = count
    else:
        if spec.metric not in frame.columns:
            raise unknown("result column", spec.metric, map(str, frame.columns), field="metric")
        values = frame[spec.metric]
        hits = _mask(spec, values)
        # "all" over no rows is not a match: an empty result must not trip an "every row" alert.
        every = bool(len(values)) and bool(hits.all())
        matched = every if spec.rows == "all" else bool(hits.any())
        shown = values[hits] if matched and spec.rows == "any" else values
        value = _plain(shown.iloc[0]) if len(shown) else None
    need = spec.for_consecutive
    streak = 0
    if matched:
        streak = 1
        for earlier in reversed(history):
            if not earlier or streak >= need:
                break
            streak += 1
    fired = matched and streak >= need
    words = _condition(spec)
    rows = " in every row" if spec.metric and spec.rows == "all" else ""
    if not matched:
        reason = f"not met: {words}{rows} (value {_shown(value)})"
    elif fired:
        reason = f"{words}{rows} (value {_shown(value)})" + (f", {need} times in a row" if need > 1 else "")
    else:
        reason = f"met {streak} of {need} times in a row: {words}{rows} (value {_shown(value)})"
    return TriggerOutcome(fired=fired, value=value, matched=matched, reason=reason)


def should_notify(last_fired_at: datetime | None, now: datetime, cooldown: timedelta, rearmed: bool) -> bool:
    """Whether a fired trigger sends its actions now.

    Never notified: yes. Otherwise only when it was re-armed (the condition stopped holding
    since the last notification, see :func:`rearm`) and ``cooldown`` has passed since then.
    """
    if last_fired_at is None:
        return True
    return rearmed and now - last_fired_at >= cooldown


def rearm(armed: bool, matched: bool, notified: bool) -> bool:
    """The trigger's next armed flag: disarmed by a notification, re-armed when the condition
    stops holding, otherwise unchanged."""
    if notified:
        return False
    return True if not matched else armed


def detect_cycle(edges: Mapping[int, Sequence[int]], start: int) -> list[int] | None:
    """A cycle reachable from ``start`` in the run-report graph, as ``[a, b, ..., a]``, or None.

    ``edges[r]`` lists the reports that report ``r``'s triggers run. Any loop reachable from
    ``start`` would run forever once started, so it is reported even if it avoids ``start``.
    """
    on_path: dict[int, int] = {}  # node -> position in path
    path: list[int] = []
    done: set[int] = set()
    stack: list[tuple[int, int]] = [(start, 0)]  # (node, index of the next edge to follow)
    while stack:
        node, i = stack.pop()
        if i == 0:
            on_path[node] = len(path)
            path.append(node)
        nexts = edges.get(node, ())
        if i < len(nexts):
            stack.append((node, i + 1))
            child = nexts[i]
            if child in on_path:
                return [*path[on_path[child] :], child]
            if child not in done:
                stack.append((child, 0))
        else:
            done.add(node)
            del on_path[node]
            path.pop()
    return None
