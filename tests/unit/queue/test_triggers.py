"""Trigger evaluation, cooldown and re-arm, and run-report cycle detection."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import InvalidSpec
from portal.queue.triggers import detect_cycle, evaluate, rearm, should_notify
from portal.specs.base import parse_spec
from portal.specs.triggers import TriggerSpec


def trig(**kw) -> TriggerSpec:
    return parse_spec(TriggerSpec, {"actions": [{"type": "in_app"}], **kw})


FRAME = pd.DataFrame({"team": ["ops", "dev", None], "backlog": [120, 30, None], "ok": [True, False, True]})


@pytest.mark.parametrize(
    ("kw", "matched", "value"),
    [
        ({"op": ">", "value": 2}, True, 3),
        ({"op": "<=", "value": 2}, False, 3),
        ({"op": "==", "value": 3}, True, 3),
        ({"op": "!=", "value": 3}, False, 3),
        ({"op": "IN", "value": [0, 3]}, True, 3),
        ({"op": "BETWEEN", "value": [3, 10]}, True, 3),
        ({"op": "EXISTS"}, True, 3),
        ({"metric": "backlog", "op": ">", "value": 100}, True, 120),
        ({"metric": "backlog", "op": ">=", "value": 121}, False, 120),
        ({"metric": "backlog", "op": "<", "value": 50}, True, 30),
        ({"metric": "backlog", "op": "BETWEEN", "value": [25, 35]}, True, 30),
        ({"metric": "backlog", "op": ">", "value": 10, "rows": "all"}, False, 120),  # a null row
        ({"metric": "team", "op": "==", "value": "dev"}, True, "dev"),
        ({"metric": "team", "op": "!=", "value": "ops"}, True, "dev"),  # null is not "not ops"
        ({"metric": "team", "op": "IN", "value": ["qa", "dev"]}, True, "dev"),
        ({"metric": "team", "op": "EXISTS", "rows": "all"}, False, "ops"),
        ({"metric": "ok", "op": "==", "value": False}, True, False),
    ],
)
def test_operators(kw, matched, value):
    out = evaluate(trig(**kw), FRAME, [])
    assert out.matched is matched and out.fired is matched
    assert out.value == value


def test_empty_result():
    empty = FRAME.iloc[0:0]
    assert not evaluate(trig(op="EXISTS"), empty, []).matched
    assert evaluate(trig(op="==", value=0), empty, []).matched
    assert not evaluate(trig(metric="backlog", op=">", value=0, rows="all"), empty, []).matched


def test_missing_metric_column_names_the_field():
    with pytest.raises(InvalidSpec) as err:
        evaluate(trig(metric="backlgo", op=">", value=1), FRAME, [])
    assert err.value.field == "metric"
    assert "'backlog'" in err.value.message


def test_for_n_consecutive_evaluations():
    t = trig(metric="backlog", op=">", value=100, for_consecutive=3)
    first = evaluate(t, FRAME, [])
    assert first.matched and not first.fired and first.reason.startswith("met 1 of 3")
    assert not evaluate(t, FRAME, [True]).fired
    assert not evaluate(t, FRAME, [True, False, True]).fired  # the streak broke
    fired = evaluate(t, FRAME, [False, True, True])
    assert fired.fired and fired.reason == "backlog > 100 (value 120), 3 times in a row"
    low = FRAME.assign(backlog=[1, 2, 3])
    assert not evaluate(t, low, [True, True, True]).fired


@given(st.lists(st.booleans(), max_size=10), st.integers(1, 5), st.booleans())
def test_fired_means_the_last_n_matched(history, n, now_matches):
    t = trig(op=">", value=0, for_consecutive=n)
    frame = FRAME if now_matches else FRAME.iloc[0:0]
    out = evaluate(t, frame, history)
    assert out.fired == (now_matches and len(history) >= n - 1 and all(history[len(history) - (n - 1) :]))


T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_cooldown_and_rearm():
    assert should_notify(None, T0, HOUR, rearmed=False)  # first time
    assert not should_notify(T0, T0 + 2 * HOUR, HOUR, rearmed=False)  # still the same incident
    assert not should_notify(T0, T0 + HOUR / 2, HOUR, rearmed=True)  # flapping within the cooldown
    assert should_notify(T0, T0 + HOUR, HOUR, rearmed=True)


def test_flapping_value_notifies_once_per_cooldown():
    armed, last, sent = True, None, []
    for minute, matched in enumerate([True, False, True, False, True] * 6):  # flips every minute
        now = T0 + timedelta(minutes=minute)
        notify = matched and armed and should_notify(last, now, timedelta(minutes=10), armed)
        if notify:
            sent.append(minute)
            last = now
        armed = rearm(armed, matched, notify)
    assert sent == [0, 10, 20]


def test_detect_cycle():
    assert detect_cycle({1: [2], 2: [3]}, 1) is None
    assert detect_cycle({1: [2], 2: [3], 3: [1]}, 1) == [1, 2, 3, 1]
    assert detect_cycle({1: [1]}, 1) == [1, 1]
    assert detect_cycle({1: [2], 2: [3], 3: [2]}, 1) == [2, 3, 2]  # a loop further down the chain
    assert detect_cycle({1: [2, 3], 2: [4], 3: [4], 4: []}, 1) is None  # a diamond is not a loop
    assert detect_cycle({1: [2], 2: [1]}, 5) is None


@given(
    st.dictionaries(st.integers(0, 6), st.lists(st.integers(0, 6), max_size=3), max_size=7), st.integers(0, 6)
)
def test_detect_cycle_agrees_with_brute_force(edges, start):
    cycle = detect_cycle(edges, start)
    reach, todo = {start}, [start]
    while todo:
        for n in edges.get(todo.pop(), []):
            if n not in reach:
                reach.add(n)
                todo.append(n)

    def on_cycle(node):  # node can reach itself
        seen, stack = set(), list(edges.get(node, []))
        while stack:
            n = stack.pop()
            if n == node:
                return True
            if n not in seen:
                seen.add(n)
                stack.extend(edges.get(n, []))
        return False

    expected = any(on_cycle(n) for n in reach)
    assert (cycle is not None) == expected
    if cycle:
        assert cycle[0] == cycle[-1] and cycle[0] in reach
        assert all(b in edges.get(a, []) for a, b in itertools.pairwise(cycle))
