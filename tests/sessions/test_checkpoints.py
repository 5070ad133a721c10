"""Vitals due times from the protocol's checkpoints: IV every 10 min during and 15 min after,
Spravato at 40 min; done, due, late and upcoming."""

from __future__ import annotations

import datetime

from ketacare.protocols.definitions import get_protocol
from ketacare.sessions.checkpoints import Taken, late, next_due, schedule

T0 = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)
BP = frozenset({"systolic_bp", "diastolic_bp"})
FULL = frozenset({"systolic_bp", "diastolic_bp", "heart_rate", "spo2"})


def m(minutes: float) -> datetime.datetime:
    return T0 + datetime.timedelta(minutes=minutes)


def test_iv_before_dosing_only_the_baseline_is_due():
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=[],
        now=m(-10),
        first_dose_at=None,
        dose_ended_at=None,
        observation_ends_at=None,
    )
    assert [(s.checkpoint, s.status) for s in slots] == [("baseline_bp", "due")]
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=[Taken(m(-5), BP, before_dosing=True)],
        now=m(-1),
        first_dose_at=None,
        dose_ended_at=None,
        observation_ends_at=None,
    )
    assert [(s.checkpoint, s.status) for s in slots] == [("baseline_bp", "done")]


def test_iv_every_10_minutes_during_the_infusion_with_late_flags():
    taken = [Taken(m(-5), BP, before_dosing=True), Taken(m(10), BP), Taken(m(21), BP)]
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=taken,
        now=m(36),
        first_dose_at=T0,
        dose_ended_at=None,
        observation_ends_at=None,
    )
    during = [(s.due_at, s.status) for s in slots if s.checkpoint == "bp_during"]
    assert during == [(m(10), "done"), (m(20), "done"), (m(30), "late"), (m(40), "due"), (m(50), "upcoming")]
    assert [s.due_at for s in late(slots)] == [m(30)]
    assert next_due(slots).due_at == m(30)


def test_iv_after_the_infusion_every_15_minutes_and_before_discharge():
    taken = [Taken(m(-5), BP, True), *(Taken(m(k * 10), BP) for k in range(1, 5)), Taken(m(55), BP)]
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=taken,
        now=m(66),
        first_dose_at=T0,
        dose_ended_at=m(40),
        observation_ends_at=m(70),
    )
    after = [(s.due_at, s.status) for s in slots if s.checkpoint == "bp_after"]
    assert after == [(m(55), "done"), (m(70), "due"), (m(85), "upcoming")]
    pre = [s for s in slots if s.checkpoint == "pre_discharge"]
    assert pre[0].due_at == m(70)
    assert pre[0].status == "due"
    assert pre[0].measures == ("systolic_bp", "diastolic_bp", "heart_rate", "spo2")


def test_spravato_bp_at_40_minutes_after_the_first_device():
    slots = schedule(
        get_protocol("spravato_trd"),
        taken=[Taken(m(-10), BP, True)],
        now=m(46),
        first_dose_at=T0,
        dose_ended_at=m(5),
        observation_ends_at=m(120),
    )
    forty = next(s for s in slots if s.checkpoint == "bp_40_min")
    assert forty.due_at == m(40)
    assert forty.status == "late"
    done = schedule(
        get_protocol("spravato_trd"),
        taken=[Taken(m(-10), BP, True), Taken(m(41), BP)],
        now=m(46),
        first_dose_at=T0,
        dose_ended_at=m(5),
        observation_ends_at=m(120),
    )
    assert next(s for s in done if s.checkpoint == "bp_40_min").status == "done"


def test_a_set_without_the_needed_measures_does_not_count():
    slots = schedule(
        get_protocol("spravato_trd"),
        taken=[Taken(m(-10), frozenset({"heart_rate"}), True)],
        now=m(-1),
        first_dose_at=None,
        dose_ended_at=None,
        observation_ends_at=None,
    )
    assert slots[0].status == "due"


def test_no_recurring_slot_after_discharge():
    taken = [Taken(m(-5), BP, True), *(Taken(m(k * 10), BP) for k in range(1, 5)), Taken(m(55), FULL)]
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=taken,
        now=m(200),
        first_dose_at=T0,
        dose_ended_at=m(40),
        observation_ends_at=m(70),
        ended_at=m(58),
    )
    assert all(s.due_at is None or s.due_at <= m(58) for s in slots)


def test_a_slot_whose_window_passed_is_missed_and_the_next_is_what_is_due():
    taken = [Taken(m(-5), BP, before_dosing=True), Taken(m(10), BP)]
    slots = schedule(
        get_protocol("iv_racemic_ketamine"),
        taken=taken,
        now=m(37),
        first_dose_at=T0,
        dose_ended_at=None,
        observation_ends_at=None,
    )
    during = [(s.due_at, s.status) for s in slots if s.checkpoint == "bp_during"]
    assert during == [(m(10), "done"), (m(20), "missed"), (m(30), "late"), (m(40), "due"), (m(50), "upcoming")]
    assert next_due(slots).due_at == m(30)
    assert [s.due_at for s in late(slots)] == [m(30)]
