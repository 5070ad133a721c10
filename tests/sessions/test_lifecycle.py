import itertools

import pytest

from ketacare.sessions.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    State,
    TransitionError,
    check_transition,
    is_terminal,
    next_states,
)

MAIN_PATH = [
    State.SCHEDULED,
    State.CHECKED_IN,
    State.PRE_DOSE_CHECKS,
    State.DOSING,
    State.OBSERVATION,
    State.READY_FOR_DISCHARGE,
    State.DISCHARGED,
    State.SIGNED,
]


def test_every_state_has_transitions_and_a_label():
    assert set(TRANSITIONS) == set(State)
    for state in State:
        assert state.label
        assert all(isinstance(t, State) for t in TRANSITIONS[state])


def test_main_path_is_allowed_step_by_step():
    for current, target in itertools.pairwise(MAIN_PATH):
        assert target in next_states(current)
        check_transition(current, target)


def test_signed_and_cancelled_are_terminal():
    assert frozenset({State.SIGNED, State.CANCELLED}) == TERMINAL
    for state in TERMINAL:
        assert next_states(state) == ()
        assert is_terminal(state)
    with pytest.raises(TransitionError, match="signed and cannot change; add an addendum"):
        check_transition(State.SIGNED, State.DISCHARGED)
    with pytest.raises(TransitionError, match="cancelled and cannot change"):
        check_transition("cancelled", "checked_in")


def test_transition_error_is_a_value_error():
    assert issubclass(TransitionError, ValueError)


@pytest.mark.parametrize("state", [State.SCHEDULED, State.CHECKED_IN, State.PRE_DOSE_CHECKS])
def test_cancel_is_allowed_before_dosing_without_reason(state):
    check_transition(state, State.CANCELLED)


@pytest.mark.parametrize("state", [State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE])
def test_after_dosing_cancel_is_refused_and_stop_early_needs_a_reason(state):
    with pytest.raises(TransitionError, match="Dosing has begun: stop the session early"):
        check_transition(state, State.CANCELLED)
    with pytest.raises(TransitionError, match="Stopped early needs a reason"):
        check_transition(state, State.STOPPED_EARLY)
    with pytest.raises(TransitionError, match="needs a reason"):
        check_transition(state, State.STOPPED_EARLY, reason="   ")
    check_transition(state, State.STOPPED_EARLY, reason="Patient asked to stop; BP 190/110")


def test_stopped_early_is_then_signed_only():
    assert next_states(State.STOPPED_EARLY) == (State.SIGNED,)
    check_transition(State.STOPPED_EARLY, State.SIGNED)


@pytest.mark.parametrize(
    ("state", "target"),
    [
        (State.SCHEDULED, State.DOSING),
        (State.CHECKED_IN, State.OBSERVATION),
        (State.OBSERVATION, State.DISCHARGED),  # discharge must pass "ready for discharge"
        (State.DISCHARGED, State.OBSERVATION),
        (State.SCHEDULED, State.SIGNED),
        (State.PRE_DOSE_CHECKS, State.STOPPED_EARLY),  # nothing given yet: cancel instead
    ],
)
def test_skipping_or_going_back_is_refused_with_allowed_steps(state, target):
    with pytest.raises(TransitionError, match=f"cannot go from {state.label.lower()} to {target.label.lower()}"):
        check_transition(state, target)
    with pytest.raises(TransitionError, match="Allowed next: "):
        check_transition(state, target)


def test_ready_for_discharge_may_return_to_observation():
    check_transition(State.READY_FOR_DISCHARGE, State.OBSERVATION)


def test_unknown_state_is_refused_clearly():
    with pytest.raises(TransitionError, match="Unknown session state 'sleeping'"):
        next_states("sleeping")
    with pytest.raises(TransitionError, match="Unknown session state"):
        check_transition(State.SCHEDULED, "sleeping")


def test_every_state_reachable_from_scheduled():
    seen = {State.SCHEDULED}
    frontier = [State.SCHEDULED]
    while frontier:
        for target in next_states(frontier.pop()):
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(State)
