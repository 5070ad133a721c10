import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ketacare.protocols.definitions import Protocol, get_protocol, with_clinic_values
from ketacare.sessions.gates import (
    SPRAVATO_MINIMUM_MINUTES,
    Gate,
    discharge_gates,
    may_discharge,
    observation_ends_at,
    unmet,
)

CHICAGO = ZoneInfo("America/Chicago")
FIRST_DEVICE = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=CHICAGO)
GOOD_VITALS = {"systolic_bp": 132, "diastolic_bp": 84, "heart_rate": 78, "spo2": 97}


def _with_thresholds(protocol: Protocol, **values: int) -> Protocol:
    """The protocol with the clinic's values for its clinic-set alert thresholds (by threshold id)."""
    thresholds = tuple(
        with_clinic_values(t, "Clinic medical director, policy 4.2", value=values[t.id]) if t.id in values else t
        for t in protocol.alert_thresholds
    )
    return protocol.model_copy(update={"alert_thresholds": thresholds})


def _set_clinic_block(protocol: Protocol, block: str, **values: object) -> Protocol:
    updated = with_clinic_values(getattr(protocol, block), "Clinic medical director, policy 4.2", **values)
    return protocol.model_copy(update={block: updated})


@pytest.fixture
def spravato() -> Protocol:
    return _with_thresholds(get_protocol("spravato_trd", "1"), spo2_low=92)


@pytest.fixture
def iv() -> Protocol:
    protocol = _with_thresholds(get_protocol("iv_racemic_ketamine", "1"), heart_rate_high=110, spo2_low=92)
    return _set_clinic_block(protocol, "observation", minimum_minutes=30)


def _spravato_gates(protocol: Protocol, minutes: float, **overrides: object) -> list[Gate]:
    kwargs: dict[str, object] = {
        "route": "intranasal",
        "protocol": protocol,
        "first_dose_at": FIRST_DEVICE,
        "dose_ended_at": FIRST_DEVICE + datetime.timedelta(minutes=10),
        "now": FIRST_DEVICE + datetime.timedelta(minutes=minutes),
        "checklist_done": {i.id for i in protocol.discharge_checklist},
        "latest_vitals": GOOD_VITALS,
        "escort_present": True,
    }
    kwargs.update(overrides)
    return discharge_gates(**kwargs)  # type: ignore[arg-type]


def _gate(gates: list[Gate], gate_id: str) -> Gate:
    return next(g for g in gates if g.id == gate_id)


def test_spravato_119_minutes_is_refused_with_the_time_left(spravato):
    gates = _spravato_gates(spravato, 119)
    assert not may_discharge(gates)
    assert [g.id for g in unmet(gates)] == ["observation"]
    assert _gate(gates, "observation").reason == "Observation: 119 of 120 minutes from the first device — 1 minute left"


def test_spravato_just_short_of_120_minutes_is_refused(spravato):
    gates = _spravato_gates(spravato, 119 + 59 / 60)
    assert not may_discharge(gates)
    assert _gate(gates, "observation").reason.endswith("119 of 120 minutes from the first device — 1 minute left")


def test_spravato_120_minutes_with_everything_met_is_allowed(spravato):
    gates = _spravato_gates(spravato, 120)
    assert may_discharge(gates), unmet(gates)
    assert _gate(gates, "observation").reason == "Observation: 120 of 120 minutes from the first device — met"


def test_spravato_counts_from_the_first_device_not_the_end_of_dosing(spravato):
    # The end of dosing is 10 minutes after the first device; 120 minutes after the first device is enough.
    gates = _spravato_gates(spravato, 120, dose_ended_at=FIRST_DEVICE + datetime.timedelta(minutes=10))
    assert _gate(gates, "observation").met


def test_spravato_floor_is_120_even_if_a_protocol_says_less(spravato):
    shorter = spravato.model_copy(
        update={"observation": spravato.observation.model_copy(update={"minimum_minutes": 60})}
    )
    assert not _gate(_spravato_gates(shorter, 90), "observation").met
    longer = spravato.model_copy(
        update={"observation": spravato.observation.model_copy(update={"minimum_minutes": 150})}
    )
    gates = _spravato_gates(longer, 140)
    assert _gate(gates, "observation").reason.endswith("140 of 150 minutes from the first device — 10 minutes left")
    assert SPRAVATO_MINIMUM_MINUTES == 120


def test_spravato_without_a_first_device_time_is_refused(spravato):
    gates = _spravato_gates(spravato, 500, first_dose_at=None)
    assert _gate(gates, "observation") == Gate(
        "observation", False, "Observation: the first device's time is not recorded"
    )


def test_every_checklist_item_must_be_ticked(spravato):
    all_items = {i.id for i in spravato.discharge_checklist}
    gates = _spravato_gates(spravato, 130, checklist_done=all_items - {"hcp_stable"})
    assert not may_discharge(gates)
    blocking = unmet(gates)
    assert [g.id for g in blocking] == ["checklist.hcp_stable"]
    assert blocking[0].reason == "HCP assessment: clinically stable and ready to leave — not yet ticked"
    assert _gate(gates, "checklist.resolved").met


def test_unknown_checklist_item_is_an_error(spravato):
    with pytest.raises(ValueError, match="not in protocol spravato_trd: made_up"):
        _spravato_gates(spravato, 130, checklist_done={"made_up"})


def test_escort_required_and_absent_is_refused(spravato):
    gates = _spravato_gates(spravato, 130, escort_present=False)
    assert [g.reason for g in unmet(gates)] == ["Escort: not present yet"]


def test_escort_requirement_unset_by_clinic_blocks_and_false_passes(spravato):
    unset = spravato.model_copy(
        update={"escort": spravato.escort.model_copy(update={"required": None, "clinic_set": ("required",)})}
    )
    gates = _spravato_gates(unset, 130, escort_present=True)
    assert _gate(gates, "escort") == Gate(
        "escort", False, "Escort: whether one is required is not set by the clinic for this protocol"
    )
    not_required = spravato.model_copy(update={"escort": spravato.escort.model_copy(update={"required": False})})
    gates = _spravato_gates(not_required, 130, escort_present=False)
    assert _gate(gates, "escort") == Gate("escort", True, "Escort: not required by this protocol")


def test_threshold_not_set_by_clinic_is_reported_not_passed():
    raw = get_protocol("spravato_trd", "1")  # spo2_low has no value until the clinic enters one
    gates = _spravato_gates(raw, 130)
    assert not may_discharge(gates)
    gate = _gate(gates, "vitals.spo2_low")
    assert not gate.met
    assert gate.reason == "SpO2: the discharge limit is not set by the clinic for this protocol"


def test_low_spo2_blocks_and_recovered_spo2_passes(spravato):
    gates = _spravato_gates(spravato, 130, latest_vitals={**GOOD_VITALS, "spo2": 90})
    assert _gate(gates, "vitals.spo2_low").reason == (
        "SpO2 90 % — outside the limit (alert below 92 %); recheck before discharge"
    )
    assert not may_discharge(gates)
    gates = _spravato_gates(spravato, 130, latest_vitals={**GOOD_VITALS, "spo2": Decimal("92")})
    assert _gate(gates, "vitals.spo2_low").met  # the limit itself is not an alert


def test_pre_dose_thresholds_are_not_discharge_limits(spravato):
    # Baseline > 140/90 is a pre-dosing decision (clinical.md §1.5), not a discharge rule.
    gates = _spravato_gates(spravato, 130, latest_vitals={**GOOD_VITALS, "systolic_bp": 150})
    assert not any(g.id == "vitals.baseline_sbp" for g in gates)
    assert may_discharge(gates)


def test_no_vitals_or_missing_measure_is_refused(spravato):
    gates = _spravato_gates(spravato, 130, latest_vitals=None)
    assert _gate(gates, "vitals") == Gate("vitals", False, "Vital signs: none recorded before discharge")
    assert _gate(gates, "vitals.spo2_low").reason == "SpO2: no value recorded (alert below 92 %)"
    gates = _spravato_gates(spravato, 130, latest_vitals={"systolic_bp": 130})
    assert not _gate(gates, "vitals.spo2_low").met


def _iv_gates(protocol: Protocol, minutes_after_end: float, **overrides: object) -> list[Gate]:
    end = FIRST_DEVICE + datetime.timedelta(minutes=40)
    kwargs: dict[str, object] = {
        "route": "intravenous",
        "protocol": protocol,
        "first_dose_at": FIRST_DEVICE,
        "dose_ended_at": end,
        "now": end + datetime.timedelta(minutes=minutes_after_end),
        "checklist_done": {i.id for i in protocol.discharge_checklist},
        "latest_vitals": GOOD_VITALS,
        "escort_present": True,
    }
    kwargs.update(overrides)
    return discharge_gates(**kwargs)  # type: ignore[arg-type]


def test_iv_counts_the_clinic_minimum_from_the_end_of_dosing(iv):
    gates = _iv_gates(iv, 29)
    assert [g.id for g in unmet(gates)] == ["observation"]
    assert _gate(gates, "observation").reason == "Observation: 29 of 30 minutes from the end of dosing — 1 minute left"
    assert may_discharge(_iv_gates(iv, 30))


def test_iv_without_a_clinic_observation_time_is_refused():
    protocol = _with_thresholds(get_protocol("iv_racemic_ketamine", "1"), heart_rate_high=110, spo2_low=92)
    assert protocol.observation.minimum_minutes is None
    gates = _iv_gates(protocol, 600)
    assert [g.id for g in unmet(gates)] == ["observation"]
    assert _gate(gates, "observation").reason == (
        "Observation: the minimum observation time is not set by the clinic for this protocol"
    )


def test_iv_without_an_end_of_dosing_is_refused(iv):
    gates = _iv_gates(iv, 60, dose_ended_at=None)
    assert _gate(gates, "observation").reason == "Observation: the end of dosing is not recorded"


def test_iv_blood_pressure_above_the_reference_blocks(iv):
    gates = _iv_gates(iv, 60, latest_vitals={**GOOD_VITALS, "systolic_bp": 185, "heart_rate": 112})
    assert [g.id for g in unmet(gates)] == ["vitals.sbp_crisis_reference", "vitals.heart_rate_high"]
    assert _gate(gates, "vitals.dbp_crisis_reference").met
    assert _gate(gates, "vitals.sbp_crisis_reference").reason.startswith("Systolic BP 185 mmHg — outside the limit")


def test_route_must_match_the_protocol(iv):
    with pytest.raises(ValueError, match="route intranasal does not match protocol iv_racemic_ketamine"):
        _iv_gates(iv, 60, route="intranasal")


def test_naive_datetimes_are_refused(spravato):
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        _spravato_gates(spravato, 130, now=datetime.datetime(2026, 3, 10, 12, 0))


def test_observation_ends_at(spravato, iv):
    assert observation_ends_at(
        route="intranasal", protocol=spravato, first_dose_at=FIRST_DEVICE, dose_ended_at=None
    ) == FIRST_DEVICE + datetime.timedelta(minutes=120)
    end = FIRST_DEVICE + datetime.timedelta(minutes=40)
    assert observation_ends_at(
        route="intravenous", protocol=iv, first_dose_at=FIRST_DEVICE, dose_ended_at=end
    ) == end + datetime.timedelta(minutes=30)
    assert observation_ends_at(route="intravenous", protocol=iv, first_dose_at=FIRST_DEVICE, dose_ended_at=None) is None


def test_may_discharge_needs_gates():
    assert not may_discharge([])
    assert may_discharge([Gate("a", True, "ok")])
    assert not may_discharge([Gate("a", True, "ok"), Gate("b", False, "no")])
