"""Discharge gates enforced on the server: Spravato 120 minutes from the first device (119 refused,
120 with every gate met accepted), IV the clinic-set 30 minutes from the end of dosing, checklist,
vitals within limits, escort present; every unmet gate's reason in the refusal."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.sessions import discharge, monitoring
from ketacare.sessions.lifecycle import State
from tests.sessions.conftest import advance
from tests.sessions.test_monitoring import dosed, move, observing, with_escort


def tick_all(actor, session):
    for item in session.protocol.discharge_checklist:
        discharge.tick_checklist(actor, session, item.id, True)


def test_spravato_119_minutes_refused_120_accepted(actors, spravato_session, clock):
    with_escort(spravato_session)
    dosed(actors, spravato_session)  # first device 09:00
    advance(clock, 5)
    move(actors["ben"], spravato_session, State.OBSERVATION)  # second device 09:05 ends dosing
    advance(clock, 35)
    monitoring.record_vitals(actors["ben"], spravato_session, systolic_bp=138, diastolic_bp=86, spo2=97)
    advance(clock, 75)  # 115 minutes after the first device
    monitoring.record_vitals(actors["ben"], spravato_session, systolic_bp=128, diastolic_bp=80, spo2=98)
    tick_all(actors["ben"], spravato_session)
    discharge.escort_present(actors["ben"], spravato_session)
    discharge.mark_ready(actors["ben"], spravato_session)
    advance(clock, 4)  # 119 minutes after the first device
    with pytest.raises(ValidationError) as exc:
        discharge.discharge(actors["ben"], spravato_session)
    reasons = exc.value.message_dict["discharge"]
    assert reasons == ["Observation: 119 of 120 minutes from the first device — 1 minute left"]
    spravato_session.refresh_from_db()
    assert spravato_session.state == State.READY_FOR_DISCHARGE
    assert spravato_session.discharged_at is None
    advance(clock, 1)  # 120 minutes
    done = discharge.discharge(actors["ben"], spravato_session)
    assert done.state == State.DISCHARGED
    assert done.discharged_at is not None
    assert AuditEvent.objects.filter(event_type="session.discharged", patient=spravato_session.patient).exists()


def test_iv_refused_while_the_clinic_set_observation_has_not_passed(actors, iv_session, clock):
    with_escort(iv_session)
    dosed(actors, iv_session)
    advance(clock, 40)
    move(actors["ben"], iv_session, State.OBSERVATION)  # infusion over at 09:40
    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=130, diastolic_bp=80, heart_rate=80, spo2=98)
    tick_all(actors["ben"], iv_session)
    discharge.escort_present(actors["ben"], iv_session)
    advance(clock, 29)
    with pytest.raises(ValidationError) as exc:
        discharge.discharge(actors["ben"], iv_session)
    assert exc.value.message_dict["discharge"] == [
        "Observation: 29 of 30 minutes from the end of dosing — 1 minute left"
    ]
    advance(clock, 1)
    # Straight from observation: ready and discharged in one step.
    assert discharge.discharge(actors["ben"], iv_session).state == State.DISCHARGED
    assert [e.to_state for e in iv_session.events.filter(kind="state")][-2:] == ["ready_for_discharge", "discharged"]


def test_every_unmet_gate_is_named(actors, iv_session, clock):
    observing(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        discharge.discharge(actors["ben"], iv_session)
    reasons = exc.value.message_dict["discharge"]
    assert reasons[0].startswith("Observation: 0 of 30 minutes")
    assert any("Alert and oriented — not yet ticked" in r for r in reasons)
    assert "Vital signs: none recorded before discharge" in reasons
    assert "Escort: not present yet" in reasons
    # A vital outside a limit blocks too, with the value.
    monitoring.record_vitals(actors["ben"], iv_session, spo2=90)
    gates = {g.id: g for g in discharge.discharge_status(iv_session, iv_session.dose_ended_at)}
    assert not gates["vitals.spo2_low"].met
    assert "SpO2 90 % — outside the limit" in gates["vitals.spo2_low"].reason


def test_checklist_ticks_with_who_and_when_and_untick(actors, iv_session):
    observing(actors, iv_session)
    discharge.tick_checklist(actors["ben"], iv_session, "alert_oriented", True)
    discharge.tick_checklist(actors["ben"], iv_session, "alert_oriented", True)  # double click
    iv_session.refresh_from_db()
    assert iv_session.discharge_checklist["alert_oriented"]["by"] == actors["ben"].user.pk
    assert discharge.ticked(iv_session) == {"alert_oriented"}
    assert iv_session.events.filter(kind="checklist").count() == 1
    discharge.tick_checklist(actors["ben"], iv_session, "alert_oriented", False)
    iv_session.refresh_from_db()
    assert discharge.ticked(iv_session) == set()
    with pytest.raises(ValidationError) as exc:
        discharge.tick_checklist(actors["ben"], iv_session, "made_up", True)
    assert "item" in exc.value.message_dict


def test_escort_present_needs_a_confirmed_escort(actors, iv_session):
    observing(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        discharge.escort_present(actors["ben"], iv_session)
    assert "escort" in exc.value.message_dict
    with_escort(iv_session)
    assert discharge.escort_present(actors["ben"], iv_session).escort_present_at is not None
    assert iv_session.events.filter(kind="escort", summary__contains="Pat Lee").exists()


def test_who_may_discharge(actors, iv_session, dee_prescriber):
    observing(actors, iv_session)
    for key in ("tess", "cy", "aud", "ivy"):
        with pytest.raises(PermissionDenied):
            discharge.discharge(actors[key], iv_session)
    with pytest.raises(Http404):
        discharge.discharge(dee_prescriber, iv_session)


def test_discharge_only_from_observation(actors, iv_session):
    dosed(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        discharge.discharge(actors["ben"], iv_session)
    assert "discharge" in exc.value.message_dict
