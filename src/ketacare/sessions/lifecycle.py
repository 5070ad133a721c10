"""The treatment-session lifecycle as data: states, allowed transitions, and the check (issue #7).

The steps come from the issue and ../shared/reference/clinical.md §1.5 (Spravato monitoring timeline:
pre-dose checks, first device, observation ≥ 120 min, HCP assessment, discharge) and §2.6 (IV/IM:
recovery, discharge to an escort). A session is scheduled, checked in, passes its pre-dose checks, is
dosed, observed, becomes ready for discharge, is discharged and then signed by nurse and prescriber.
Before dosing it may be cancelled; once dosing has begun it can only end early as `stopped_early`,
which needs a written reason (the patient was dosed, so the record must say why it ended). A stopped
session is still signed. `signed` and `cancelled` are terminal: corrections are addenda, not changes.

Whether the discharge step is allowed clinically is `gates.py`'s question; this module only says
which step may follow which.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class State(enum.StrEnum):
    SCHEDULED = "scheduled"
    CHECKED_IN = "checked_in"
    PRE_DOSE_CHECKS = "pre_dose_checks"
    DOSING = "dosing"
    OBSERVATION = "observation"
    READY_FOR_DISCHARGE = "ready_for_discharge"
    DISCHARGED = "discharged"
    SIGNED = "signed"
    CANCELLED = "cancelled"
    STOPPED_EARLY = "stopped_early"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS: Mapping[State, str] = {
    State.SCHEDULED: "Scheduled",
    State.CHECKED_IN: "Checked in",
    State.PRE_DOSE_CHECKS: "Pre-dose checks",
    State.DOSING: "Dosing",
    State.OBSERVATION: "Observation",
    State.READY_FOR_DISCHARGE: "Ready for discharge",
    State.DISCHARGED: "Discharged",
    State.SIGNED: "Signed",
    State.CANCELLED: "Cancelled",
    State.STOPPED_EARLY: "Stopped early",
}

# Every allowed step. Order within a tuple is the order a page offers them (main path first).
TRANSITIONS: Mapping[State, tuple[State, ...]] = {
    State.SCHEDULED: (State.CHECKED_IN, State.CANCELLED),
    State.CHECKED_IN: (State.PRE_DOSE_CHECKS, State.CANCELLED),
    State.PRE_DOSE_CHECKS: (State.DOSING, State.CANCELLED),
    State.DOSING: (State.OBSERVATION, State.STOPPED_EARLY),
    State.OBSERVATION: (State.READY_FOR_DISCHARGE, State.STOPPED_EARLY),
    State.READY_FOR_DISCHARGE: (State.DISCHARGED, State.OBSERVATION, State.STOPPED_EARLY),
    State.DISCHARGED: (State.SIGNED,),
    State.STOPPED_EARLY: (State.SIGNED,),
    State.SIGNED: (),
    State.CANCELLED: (),
}

TERMINAL: frozenset[State] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
NEEDS_REASON: frozenset[State] = frozenset({State.STOPPED_EARLY})
# Until dosing starts nothing has been given: the visit can still be cancelled.
BEFORE_DOSING: frozenset[State] = frozenset({State.SCHEDULED, State.CHECKED_IN, State.PRE_DOSE_CHECKS})


class TransitionError(ValueError):
    """A step the lifecycle does not allow; the message is meant for the person who tried it."""


def _state(value: State | str) -> State:
    try:
        return State(value)
    except ValueError:
        raise TransitionError(f"Unknown session state {value!r}.") from None


def next_states(state: State | str) -> tuple[State, ...]:
    """The states a session in `state` may move to (empty for signed and cancelled)."""
    return TRANSITIONS[_state(state)]


def is_terminal(state: State | str) -> bool:
    return _state(state) in TERMINAL


def check_transition(state: State | str, target: State | str, *, reason: str = "") -> None:
    """Raise TransitionError unless a session in `state` may move to `target` (with `reason` if needed)."""
    current, wanted = _state(state), _state(target)
    if current in TERMINAL:
        raise TransitionError(
            f"The session is {current.label.lower()} and cannot change; "
            + ("add an addendum instead." if current is State.SIGNED else "book a new session instead.")
        )
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        if wanted is State.CANCELLED and current not in BEFORE_DOSING:
            hint = " Dosing has begun: stop the session early, with a reason, instead."
        else:
            hint = " Allowed next: " + ", ".join(s.label.lower() for s in allowed) + "."
        raise TransitionError(f"A session cannot go from {current.label.lower()} to {wanted.label.lower()}.{hint}")
    if wanted in NEEDS_REASON and not reason.strip():
        raise TransitionError(f"{wanted.label} needs a reason.")
