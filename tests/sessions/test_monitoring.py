"""Monitoring: vitals with plausible ranges and protocol thresholds (one alert, the on-call prescriber
told), the vitals schedule and late alerts from the sweep (never from a GET), MOAA/S and dissociation,
side effects, and who may chart."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.sessions import core, monitoring
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import SessionAlert, SessionAlertNotification, VitalPhase, VitalSigns
from tests.sessions.conftest import START, advance


def move(actor, session, *targets, reason="test"):
    """Walk a session through `targets` with the spine's transition (stamps the step times)."""
    with transaction.atomic():
        s = core.locked_session(actor, session, "session.chart")
        for target in targets:
            core.transition(actor, s, target, reason=reason)
    session.refresh_from_db()
    return session


def dosed(actors, session):
    """Checked in, checks passed, dosing begun now (first dose / first device at the clock's time)."""
    return move(actors["ben"], session, State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING)


def observing(actors, session):
    return move(actors["ben"], dosed(actors, session), State.OBSERVATION)


def with_escort(session, present=False):
    from ketacare.sessions.models import TreatmentSession

    fields = {"escort_name": "Pat Lee", "escort_phone": "312-555-0101", "escort_confirmed_at": START}
    TreatmentSession.objects.filter(pk=session.pk).update(**fields)
    session.refresh_from_db()
    return session


def test_vitals_while_dosing_are_during_and_audited(actors, iv_session):
    dosed(actors, iv_session)
    advance_to = START + datetime.timedelta(minutes=10)
    vitals = monitoring.record_vitals(
        actors["ben"],
        iv_session,
        taken_at=advance_to - datetime.timedelta(minutes=10),
        systolic_bp=128,
        diastolic_bp=82,
    )
    assert vitals.phase == VitalPhase.DURING
    assert iv_session.events.filter(kind="vitals", summary__contains="BP 128/82").exists()
    assert AuditEvent.objects.filter(event_type="session.vitals", patient=iv_session.patient).count() == 1
    assert SessionAlert.objects.count() == 0


def test_phase_follows_the_state(actors, iv_session, clock):
    observing(actors, iv_session)
    assert monitoring.record_vitals(actors["ben"], iv_session, spo2=97).phase == VitalPhase.AFTER
    move(actors["ben"], iv_session, State.READY_FOR_DISCHARGE)
    assert monitoring.record_vitals(actors["ben"], iv_session, spo2=98).phase == VitalPhase.PRE_DISCHARGE


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("systolic_bp", 400, "Systolic BP 400 mmHg is not plausible"),
        ("spo2", 101, "SpO2 101 % is not plausible"),
        ("heart_rate", 5, "Heart rate 5 bpm is not plausible"),
        ("respiratory_rate", "x", "Respiratory rate: enter a whole number"),
    ],
)
def test_implausible_values_are_refused_naming_the_field(actors, iv_session, field, value, words):
    dosed(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        monitoring.record_vitals(actors["ben"], iv_session, **{field: value})
    assert field in exc.value.message_dict
    assert words in " ".join(exc.value.message_dict[field])
    assert VitalSigns.objects.count() == 0


def test_at_least_one_value_and_both_bp_numbers(actors, iv_session):
    dosed(actors, iv_session)
    with pytest.raises(ValidationError, match="at least one value"):
        monitoring.record_vitals(actors["ben"], iv_session)
    with pytest.raises(ValidationError) as exc:
        monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=130)
    assert "diastolic_bp" in exc.value.message_dict


def test_future_time_and_unknown_checkpoint_are_refused(actors, iv_session):
    dosed(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        monitoring.record_vitals(
            actors["ben"], iv_session, taken_at=START + datetime.timedelta(minutes=10), systolic_bp=120, diastolic_bp=80
        )
    assert "taken_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        monitoring.record_vitals(actors["ben"], iv_session, spo2=97, checkpoint="nonsense")
    assert "checkpoint" in exc.value.message_dict


def test_not_before_dosing(actors, iv_session):
    move(actors["ben"], iv_session, State.CHECKED_IN, State.PRE_DOSE_CHECKS)
    with pytest.raises(ValidationError) as exc:
        monitoring.record_vitals(actors["ben"], iv_session, spo2=97)
    assert "state" in exc.value.message_dict


def test_a_vital_beyond_a_threshold_raises_one_alert_and_tells_the_prescriber(
    actors, iv_session, django_capture_on_commit_callbacks
):
    dosed(actors, iv_session)
    with django_capture_on_commit_callbacks(execute=True):
        vitals = monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=192, diastolic_bp=100)
    alert = SessionAlert.objects.get()
    assert alert.kind == "vital_threshold"
    assert alert.source_key == f"sbp_crisis_reference:{vitals.pk}"
    assert alert.summary == "Systolic BP 192 mmHg above the protocol's 180"
    assert SessionAlertNotification.objects.filter(alert=alert).count() == 1
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
    # A second, normal set raises nothing more.
    monitoring.record_vitals(actors["ben"], iv_session, systolic_bp=150, diastolic_bp=90)
    assert SessionAlert.objects.count() == 1


def test_clinic_set_thresholds_alert_and_unset_ones_never_pass_silently(actors, iv_session):
    dosed(actors, iv_session)
    monitoring.record_vitals(actors["ben"], iv_session, heart_rate=130, spo2=90)
    keys = sorted(a.source_key.split(":")[0] for a in SessionAlert.objects.all())
    assert keys == ["heart_rate_high", "spo2_low"]  # 120 bpm and 92 % set by the test clinic
    unset = [t for t in monitoring.thresholds_in_force(iv_session) if t.value is None]
    assert unset == []
    # The library leaves them unset: beyond() never treats "not set" as a pass or a fail.
    from ketacare.protocols.definitions import AlertThreshold

    blank = AlertThreshold(
        id="x",
        measure="heart_rate",
        comparison="above",
        value=None,
        unit="bpm",
        applies_at="any",
        basis="",
        source="",
        clinic_set=("value",),
    )
    assert monitoring.beyond(blank, 300) is False


@pytest.mark.parametrize(
    ("key", "exc"), [("tess", PermissionDenied), ("cy", PermissionDenied), ("aud", PermissionDenied)]
)
def test_roles_without_chart_cannot_record(actors, iv_session, key, exc):
    dosed(actors, iv_session)
    with pytest.raises(exc):
        monitoring.record_vitals(actors[key], iv_session, spo2=97)


def test_other_clinic_gets_404(actors, iv_session, dee_prescriber):
    dosed(actors, iv_session)
    with pytest.raises(Http404):
        monitoring.record_vitals(dee_prescriber, iv_session, spo2=97)


def test_schedule_shows_due_and_late_and_the_sweep_alerts_once(actors, iv_session, clock):
    dosed(actors, iv_session)
    advance(clock, 10)
    slots = monitoring.vitals_schedule(iv_session, core.clinic_now())
    during = [s for s in slots if s.checkpoint == "bp_during"]
    assert during[0].status == "due"
    advance(clock, 6)
    slots = monitoring.vitals_schedule(iv_session, core.clinic_now())
    assert next(s.status for s in slots if s.checkpoint == "bp_during") == "late"
    # Rendering the page writes nothing; the sweep does, once per slot.
    assert SessionAlert.objects.count() == 0
    assert monitoring.raise_late_vitals_alerts() == 1
    assert monitoring.raise_late_vitals_alerts() == 0
    alert = SessionAlert.objects.get()
    assert alert.kind == "late_vitals"
    assert alert.source_key == "late:bp_during:1510"  # due 15:10 UTC (09:10 Chicago), stored as given
    assert alert.notifications.count() == 1
    # The set taken at 09:14 (charted late, at 09:16) answers the slot.
    at = START + datetime.timedelta(minutes=14)
    monitoring.record_vitals(
        actors["ben"], iv_session, taken_at=at, systolic_bp=130, diastolic_bp=80, checkpoint="bp_during"
    )
    slots = monitoring.vitals_schedule(iv_session, core.clinic_now())
    assert next(s.status for s in slots if s.checkpoint == "bp_during") == "done"


def test_assessment_moaas_anchors_and_loss_of_consciousness_alerts(actors, iv_session):
    dosed(actors, iv_session)
    assert [score for score, _ in monitoring.MOAAS_ANCHORS] == [5, 4, 3, 2, 1, 0]
    row = monitoring.record_assessment(actors["ben"], iv_session, moaas=4, dissociation="mild", cadss_total=12)
    assert row.cadss_total == 12
    assert SessionAlert.objects.count() == 0
    monitoring.record_assessment(actors["ben"], iv_session, moaas=0)
    assert SessionAlert.objects.get().kind == "moaas"
    for bad, field in (
        ({"moaas": 6}, "moaas"),
        ({"cadss_total": 93}, "cadss_total"),
        ({"dissociation": "x"}, "dissociation"),
        ({}, "moaas"),
    ):
        with pytest.raises(ValidationError) as exc:
            monitoring.record_assessment(actors["ben"], iv_session, **bad)
        assert field in exc.value.message_dict


def test_side_effects_and_severe_alerts(actors, iv_session):
    dosed(actors, iv_session)
    monitoring.record_side_effect(actors["ben"], iv_session, kind="nausea", severity="mild", action_taken="Ondansetron")
    assert SessionAlert.objects.count() == 0
    monitoring.record_side_effect(actors["ben"], iv_session, kind="bp_rise", severity="severe")
    assert SessionAlert.objects.get().summary == "Severe side effect: Blood-pressure rise"
    with pytest.raises(ValidationError) as exc:
        monitoring.record_side_effect(actors["ben"], iv_session, kind="other", severity="mild")
    assert "other" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        monitoring.record_side_effect(actors["ben"], iv_session, kind="nausea", severity="awful")
    assert "severity" in exc.value.message_dict
    assert iv_session.events.filter(kind="side_effect").count() == 2


def test_late_entries_after_discharge_until_signed(actors, iv_session):
    observing(actors, iv_session)
    move(actors["ben"], iv_session, State.STOPPED_EARLY, reason="Patient request")
    assert monitoring.record_vitals(actors["ben"], iv_session, spo2=98).phase == VitalPhase.AFTER
    move(actors["ben"], iv_session, State.SIGNED)
    with pytest.raises(core.SessionLocked):
        monitoring.record_vitals(actors["ben"], iv_session, spo2=98)
    with pytest.raises(core.SessionLocked):
        monitoring.record_assessment(actors["ben"], iv_session, moaas=5)
    with pytest.raises(core.SessionLocked):
        monitoring.record_side_effect(actors["ben"], iv_session, kind="nausea", severity="mild")
