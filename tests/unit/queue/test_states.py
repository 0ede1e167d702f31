"""The job state machine: every legal transition is accepted and every other pair refused."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.errors import Conflict, InvalidSpec
from portal.queue.states import (
    ACTIVE,
    FINISHED,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    JobState,
    can_transition,
    transition,
)

S = JobState
# Written out again on purpose: a change to the table must be a conscious change here too.
LEGAL = {
    (S.QUEUED, S.RUNNING), (S.QUEUED, S.WAITING), (S.QUEUED, S.DEFERRED), (S.QUEUED, S.CANCELED),
    (S.QUEUED, S.FAILED),
    (S.WAITING, S.QUEUED), (S.WAITING, S.RUNNING), (S.WAITING, S.DEFERRED), (S.WAITING, S.WAITING),
    (S.WAITING, S.CANCELED), (S.WAITING, S.FAILED),
    (S.DEFERRED, S.QUEUED), (S.DEFERRED, S.RUNNING), (S.DEFERRED, S.WAITING), (S.DEFERRED, S.DEFERRED),
    (S.DEFERRED, S.CANCELED), (S.DEFERRED, S.FAILED),
    (S.RUNNING, S.DONE), (S.RUNNING, S.FAILED), (S.RUNNING, S.RETRYING), (S.RUNNING, S.CANCELED),
    (S.RETRYING, S.QUEUED), (S.RETRYING, S.RUNNING), (S.RETRYING, S.WAITING), (S.RETRYING, S.DEFERRED),
    (S.RETRYING, S.FAILED), (S.RETRYING, S.CANCELED),
    (S.FAILED, S.QUEUED),
    (S.CANCELED, S.QUEUED),
}  # fmt: skip


def test_the_eight_states():
    assert {s.value for s in JobState} == {
        "queued", "deferred", "waiting", "running", "retrying", "failed", "done", "canceled",
    }  # fmt: skip
    assert set(TRANSITIONS) == set(JobState)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(JobState, JobState)))
def test_every_pair_of_states(current, target):
    if (current, target) in LEGAL:
        assert transition(current, target) is target
        assert transition(current.value, target.value) is target  # plain strings from the DB
        assert can_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as err:
            transition(current, target)
        assert err.value.field == "state"
        assert f"a {current.value} job cannot become {target.value}" in err.value.message
        assert not can_transition(current, target)


def test_illegal_transition_is_a_409_conflict_naming_what_is_allowed():
    with pytest.raises(Conflict) as err:
        transition("failed", "done")
    assert err.value.status == 409
    assert "allowed from failed: queued" in err.value.message
    with pytest.raises(IllegalTransition, match="none, it is final"):
        transition("done", "queued")


def test_unknown_state_names_the_field_and_the_closest_state():
    with pytest.raises(InvalidSpec) as err:
        transition("queud", "running")
    assert err.value.field == "state"
    assert "'queued'" in err.value.message


def test_terminal_finished_and_active_sets():
    assert {S.DONE} == TERMINAL
    assert {S.DONE, S.FAILED, S.CANCELED} == FINISHED
    assert set(JobState) - FINISHED == ACTIVE
    # Only failed and canceled may be retried by hand, and only into the queue.
    for s in FINISHED - TERMINAL:
        assert TRANSITIONS[s] == {S.QUEUED}


def test_every_active_state_can_still_finish():
    # No job can get stuck: from each active state a finished state is reachable.
    for s in ACTIVE:
        seen, todo = {s}, [s]
        while todo:
            for n in TRANSITIONS[todo.pop()]:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        assert seen & FINISHED, s


@given(st.lists(st.sampled_from(list(JobState)), min_size=1, max_size=12))
def test_a_walk_is_accepted_exactly_when_each_step_is_legal(walk):
    state = S.QUEUED
    for target in walk:
        if (state, target) in LEGAL:
            state = transition(state, target)
        else:
            with pytest.raises(IllegalTransition):
                transition(state, target)
    assert state in JobState
