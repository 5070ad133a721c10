"""The Spravato REMS Patient Monitoring Form of a session (issue #7 item 7; clinical.md §1.3–1.4):
filled from the record, staff answers, the signature gate, the frozen PDF, due dates across DST,
overdue escalation once, and the submission record."""

from __future__ import annotations

import datetime
import hashlib
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions as inventory
from ketacare.sessions import core, pmf
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    Assessment,
    CheckStatus,
    DoseAdministration,
    PreDoseCheck,
    RemsMonitoringForm,
    SessionLockedError,
    TreatmentSession,
    VitalPhase,
    VitalSigns,
)
from tests.sessions.conftest import START, advance

CHICAGO = ZoneInfo("America/Chicago")

STAFF_ANSWERS = {"ready_to_leave_minutes": "90"}


def move(session: TreatmentSession, actor: Any, state: State, **kw: Any) -> TreatmentSession:
    with transaction.atomic():
        locked = core.locked_session(actor, session, "session.chart")
        return core.transition(actor, locked, state, **kw)


def vitals(session: TreatmentSession, actor: Any, phase: str, checkpoint: str = "", **values: Any) -> VitalSigns:
    now = datetime.datetime.now(datetime.UTC)
    return VitalSigns.objects.create(
        clinic=session.clinic,
        session=session,
        phase=phase,
        checkpoint=checkpoint,
        taken_at=now,
        recorded_by=actor.user,
        **values,
    )


def give_device(session: TreatmentSession, actor: Any, lot: Any, number: int) -> DoseAdministration:
    entry = inventory.administer(
        actor, lot, session.patient, quantity_mg=Decimal("28"), quantity_ml=Decimal("0.2"), session_ref=session.ref
    )
    return DoseAdministration.objects.create(
        clinic=session.clinic,
        session=session,
        ledger_entry=entry,
        route=session.route,
        dose_mg=Decimal("28"),
        volume_ml=Decimal("0.2"),
        device_number=number,
        started_at=datetime.datetime.now(datetime.UTC),
        given_by=actor.user,
    )


def dose(session: TreatmentSession, actors: dict[str, Any], lot: Any, location: Any) -> TreatmentSession:
    """Checked in, checks (enrolled, medicines), baseline, two devices: the session is dosing."""
    ben = actors["ben"]
    location.spravato_rems_certified_on = datetime.date(2025, 1, 10)
    location.spravato_rems_setting_id = "SRS-0042"
    location.phone = "312-555-0100"
    location.address_line1 = "12 Main Street"
    location.city = "Chicago"
    location.state = "IL"
    location.save()
    core.check_in(ben, session)
    session = move(session, ben, State.PRE_DOSE_CHECKS)
    for item, value in (("rems_enrolled", {}), ("concomitant_meds", {"drugs": ["benzodiazepines"]})):
        PreDoseCheck.objects.create(
            clinic=session.clinic,
            session=session,
            item=item,
            status=CheckStatus.PASSED,
            value=value,
            recorded_by=ben.user,
        )
    vitals(session, ben, VitalPhase.PRE_DOSE, "bp_pre_dose", systolic_bp=128, diastolic_bp=82, spo2=98)
    session = move(session, ben, State.DOSING)
    give_device(session, ben, lot, 1)
    give_device(session, ben, lot, 2)
    return session


def monitor_and_discharge(
    session: TreatmentSession, actors: dict[str, Any], clock: Any, minutes: int = 120, forty: bool = True
) -> TreatmentSession:
    ben = actors["ben"]
    advance(clock, 40)
    if forty:
        vitals(session, ben, VitalPhase.AFTER, "bp_40_min", systolic_bp=142, diastolic_bp=88, spo2=96)
    else:
        vitals(session, ben, VitalPhase.AFTER, "continuous", spo2=96)
    session = move(session, ben, State.OBSERVATION)
    Assessment.objects.create(
        clinic=session.clinic, session=session, taken_at=START, moaas=4, dissociation="mild", recorded_by=ben.user
    )
    advance(clock, minutes - 41)
    vitals(session, ben, VitalPhase.PRE_DISCHARGE, "bp_pre_discharge", systolic_bp=126, diastolic_bp=80, spo2=98)
    advance(clock, 1)
    session = move(session, ben, State.READY_FOR_DISCHARGE)
    return move(session, ben, State.DISCHARGED)


@pytest.fixture
def dosed(spravato_session, actors, spravato_lot, location):
    return dose(spravato_session, actors, spravato_lot, location)


@pytest.fixture
def discharged(dosed, actors, clock):
    return monitor_and_discharge(dosed, actors, clock)


def sign(session: TreatmentSession, actors: dict[str, Any]) -> TreatmentSession:
    """What signing.sign does at the end: the PMF gate, the freeze, then SIGNED (one transaction)."""
    ada = actors["ada"]
    with transaction.atomic():
        locked = core.locked_session(ada, session, "session.chart")
        assert pmf.signing_blockers(locked) == []
        pmf.freeze_for_signature(ada, locked)
        return core.transition(ada, locked, State.SIGNED)


# --- the form row ---------------------------------------------------------------------------


def test_no_form_for_iv_or_before_dosing(iv_session, spravato_session):
    assert pmf.ensure_form(iv_session) is None
    assert pmf.signing_blockers(iv_session) == []
    assert pmf.ensure_form(spravato_session) is None
    assert RemsMonitoringForm.objects.count() == 0


def test_form_created_once_dosing_began(dosed):
    form = pmf.ensure_form(dosed)
    assert form is not None
    assert (form.form_code, form.form_version) == ("pmf", "1")
    assert form.due_date == datetime.date(2026, 12, 1)  # 2026-11-24 + 7 calendar days
    assert pmf.ensure_form(dosed).pk == form.pk
    assert RemsMonitoringForm.objects.count() == 1


# --- filled from the record ----------------------------------------------------------------


def test_fill_from_record(discharged, actors):
    values = pmf.fill_from_record(discharged)
    patient = discharged.patient
    assert values["patient_first_name"] == patient.legal_first_name
    assert values["patient_last_name"] == patient.legal_last_name
    assert values["patient_date_of_birth"] == patient.date_of_birth.isoformat()
    assert values["patient_sex"]
    assert values["med_benzodiazepines"] is True
    assert values["med_maois"] is False
    assert values["hcp_name"].startswith("Ben Novak")
    assert values["hcp_email"] == actors["ben"].user.email
    assert values["hcp_phone"] == "312-555-0100"
    assert values["setting_name"] == "Main Street"
    assert values["treatment_date"] == "2026-11-24"
    assert values["dose"] == "56 mg"
    assert "dose_other_mg" not in values
    assert values["lot_number"] == "SP2001"
    assert values["monitoring_minutes"] == 120
    assert (values["bp_before_administration_systolic"], values["bp_before_administration_diastolic"]) == (128, 82)
    assert (values["bp_40_minutes_systolic"], values["bp_40_minutes_diastolic"]) == (142, 88)
    assert (values["bp_before_completion_systolic"], values["bp_before_completion_diastolic"]) == (126, 80)
    assert values["vitals_acceptable_before_administration"] is True
    assert values["vitals_acceptable_before_completion"] is True
    assert values["adverse_sedation"] is True  # MOAA/S 4 (clinical.md §3.10)
    assert "ready_to_leave_minutes" not in values  # the REMS evaluation question is staff's answer
    extras = {e["id"]: e["value"] for e in pmf.record_extras(discharged)}
    assert extras["first_treatment"] is True
    assert extras["enrolled"] is True
    assert extras["rems_setting_id"] == "SRS-0042"
    assert extras["spo2_monitored"] is True
    assert extras["adverse_dissociation"] is True
    assert extras["adverse_respiratory_depression"] is False


# --- the signature gate ---------------------------------------------------------------------


def test_required_fields_gate_signature_until_filled(discharged, actors):
    blockers = pmf.signing_blockers(discharged)
    assert any("ready to leave" in b for b in blockers)
    assert all(b.startswith("PMF:") for b in blockers)  # the record gave every hard stop
    pmf.update_values(actors["ben"], discharged, STAFF_ANSWERS)
    assert pmf.signing_blockers(discharged) == []
    assert AuditEvent.objects.filter(event_type="pmf.updated", patient=discharged.patient).exists()


def test_hard_stops_name_what_is_missing(dosed, actors, clock, location):
    session = monitor_and_discharge(dosed, actors, clock, minutes=119, forty=False)
    location.spravato_rems_certified_on = None
    location.save()
    session.refresh_from_db()
    blockers = pmf.signing_blockers(session)
    text = " | ".join(blockers)
    assert "PMF: BP 40 minutes after administration: systolic is missing" in text
    assert "REMS: no blood pressure charted about 40 minutes after the first device" in text
    assert "REMS: monitored 119 of the 120 minutes required" in text
    assert "not recorded as a certified Spravato setting" in text
    assert "no blood pressure charted before the first device" not in text


def test_nothing_given_nothing_on_record(spravato_session, actors):
    # Dosed with no devices, no vitals, no enrolment: every hard stop shows.
    core.check_in(actors["ben"], spravato_session)
    session = move(spravato_session, actors["ben"], State.PRE_DOSE_CHECKS)
    session = move(session, actors["ben"], State.DOSING)
    text = " | ".join(pmf.signing_blockers(session))
    for words in ("enrolment", "before the first device", "pulse oximetry", "lot number", "end of monitoring"):
        assert words in text


# --- staff answers --------------------------------------------------------------------------


def test_update_values_validates_and_refusals_change_nothing(discharged, actors):
    ben = actors["ben"]
    cases = [
        ({"ready_to_leave_minutes": "soon"}, "ready_to_leave_minutes"),
        ({"ready_to_leave_minutes": "-5"}, "ready_to_leave_minutes"),
        ({"dose": "112 mg"}, "dose"),
        ({"not_a_field": "x"}, "not_a_field"),
        ({"lot_number": "OTHER1"}, "lot_number"),  # the record gives it: correct the chart instead
    ]
    for values, field in cases:
        with pytest.raises(ValidationError) as exc:
            pmf.update_values(ben, discharged, values)
        assert field in exc.value.message_dict
    assert not RemsMonitoringForm.objects.filter(session=discharged, values__has_key="lot_number").exists()
    assert all(f.values == {} for f in RemsMonitoringForm.objects.filter(session=discharged))
    assert not AuditEvent.objects.filter(event_type="pmf.updated").exists()


def test_update_values_roles_and_other_clinic(discharged, actors, dee_prescriber):
    for key in ("tess", "cy", "ivy", "aud", "ann"):
        with pytest.raises(PermissionDenied):
            pmf.update_values(actors[key], discharged, STAFF_ANSWERS)
    with pytest.raises(Http404):
        pmf.update_values(dee_prescriber, discharged, STAFF_ANSWERS)
    pmf.update_values(actors["ada"], discharged, STAFF_ANSWERS)  # the prescriber may
    assert RemsMonitoringForm.objects.get(session=discharged).values == {"ready_to_leave_minutes": 90}


def test_blank_clears_an_answer_and_unchanged_writes_nothing(discharged, actors):
    ben = actors["ben"]
    pmf.update_values(ben, discharged, STAFF_ANSWERS)
    pmf.update_values(ben, discharged, STAFF_ANSWERS)
    assert AuditEvent.objects.filter(event_type="pmf.updated").count() == 1
    pmf.update_values(ben, discharged, {"ready_to_leave_minutes": ""})
    assert RemsMonitoringForm.objects.get(session=discharged).values == {}


# --- the freeze and the PDF -----------------------------------------------------------------


def test_pdf_frozen_at_signing_and_stays_identical(discharged, actors):
    pmf.update_values(actors["ben"], discharged, STAFF_ANSWERS)
    session = sign(discharged, actors)
    form = RemsMonitoringForm.objects.get(session=session)
    pdf = bytes(form.pdf)
    assert pdf.startswith(b"%PDF")
    assert form.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert form.frozen_at is not None
    assert form.values["ready_to_leave_minutes"] == 90
    assert form.values["lot_number"] == "SP2001"
    assert AuditEvent.objects.filter(event_type="pmf.frozen", patient=session.patient).exists()
    # A second freeze (a retried signature) changes nothing.
    pmf.freeze_for_signature(actors["ada"], session)
    again = RemsMonitoringForm.objects.get(session=session)
    assert (bytes(again.pdf), again.pdf_sha256, again.frozen_at) == (pdf, form.pdf_sha256, form.frozen_at)
    # Updates after the freeze are refused (409), and the model refuses edits too.
    with pytest.raises(core.SessionLocked):
        pmf.update_values(actors["ben"], session, {"ready_to_leave_minutes": "60"})
    again.values = {**again.values, "ready_to_leave_minutes": 60}
    with pytest.raises(SessionLockedError):
        again.save()
    assert RemsMonitoringForm.objects.get(session=session).pdf_sha256 == form.pdf_sha256
    assert pmf.values_for(session)["ready_to_leave_minutes"] == 90


def test_pdf_html_follows_the_form_sections(discharged, actors):
    from ketacare.sessions import pmf_pdf

    form = pmf.ensure_form(discharged)
    html = pmf_pdf.pdf_html(discharged, form, pmf.values_for(discharged))
    for label in ("Patient", "Healthcare setting", "Blood pressure", "Adverse effects", "SP2001", "56 mg"):
        assert label in html


# --- due dates across daylight-saving changes ----------------------------------------------


@pytest.mark.parametrize(
    ("local_dose", "due", "last_on_time", "first_overdue"),
    [
        # DST starts 2026-03-08 02:00 Chicago: a Saturday evening session is due the next Saturday.
        (
            datetime.datetime(2026, 3, 7, 23, 30, tzinfo=CHICAGO),
            datetime.date(2026, 3, 14),
            datetime.datetime(2026, 3, 14, 23, 59, tzinfo=CHICAGO),
            datetime.datetime(2026, 3, 15, 0, 0, tzinfo=CHICAGO),
        ),
        # DST ends 2026-11-01 02:00 Chicago: a Saturday evening session (05:30 UTC on Sunday) is due Saturday.
        (
            datetime.datetime(2026, 10, 31, 23, 30, tzinfo=CHICAGO),
            datetime.date(2026, 11, 7),
            datetime.datetime(2026, 11, 7, 23, 59, tzinfo=CHICAGO),
            datetime.datetime(2026, 11, 8, 0, 0, tzinfo=CHICAGO),
        ),
    ],
)
def test_due_date_across_dst(
    actors, spravato_plan, chair2, location, spravato_lot, clock, local_dose, due, last_on_time, first_overdue
):
    clock.move_to(local_dose - datetime.timedelta(minutes=30))
    session = core.create_from_plan(
        actors["cy"], spravato_plan, scheduled_at=local_dose - datetime.timedelta(minutes=30), chair=chair2
    )
    core.check_in(actors["ben"], session)
    session = move(session, actors["ben"], State.PRE_DOSE_CHECKS)
    clock.move_to(local_dose)
    session = move(session, actors["ben"], State.DOSING)
    form = pmf.ensure_form(session)
    assert form.due_date == due
    assert pmf.escalate_overdue(last_on_time) == 0
    assert pmf.escalate_overdue(first_overdue) == 1


# --- overdue escalation ----------------------------------------------------------------------


def test_overdue_escalation_once_without_phi(dosed, actors, mailoutbox):
    form = pmf.ensure_form(dosed)
    on_due_date = datetime.datetime(2026, 12, 1, 23, 0, tzinfo=CHICAGO)
    assert pmf.escalate_overdue(on_due_date) == 0
    later = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=CHICAGO)
    assert pmf.escalate_overdue(later) == 1
    assert pmf.escalate_overdue(later + datetime.timedelta(hours=1)) == 0
    form.refresh_from_db()
    assert form.escalated_at == later
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert sorted(message.to) == sorted([actors["ann"].user.email, actors["ada"].user.email])
    body = message.subject + message.body
    assert dosed.patient.legal_last_name not in body
    assert "/sessions/rems/" in body
    event = AuditEvent.objects.get(event_type="pmf.escalated")
    assert event.actor is None


def test_a_dosed_session_without_a_form_row_is_escalated_too(dosed, mailoutbox):
    assert not RemsMonitoringForm.objects.exists()
    assert pmf.escalate_overdue(datetime.datetime(2026, 12, 2, 8, 0, tzinfo=CHICAGO)) == 1
    assert RemsMonitoringForm.objects.get(session=dosed).escalated_at is not None


def test_signing_refused_until_the_form_is_complete(discharged, actors):
    from ketacare.sessions import signing
    from tests.conftest import PASSWORD

    signing.sign(actors["ben"], discharged, password=PASSWORD)
    with pytest.raises(ValidationError) as exc:
        signing.sign(actors["ada"], discharged, password=PASSWORD)
    assert "ready to leave" in str(exc.value)
    discharged.refresh_from_db()
    assert discharged.state == State.DISCHARGED
    assert not RemsMonitoringForm.objects.filter(frozen_at__isnull=False).exists()
    pmf.update_values(actors["ben"], discharged, STAFF_ANSWERS)
    signing.sign(actors["ada"], discharged, password=PASSWORD)
    discharged.refresh_from_db()
    assert discharged.state == State.SIGNED
    form = RemsMonitoringForm.objects.get(session=discharged)
    assert form.frozen_at is not None
    assert form.pdf_sha256 == hashlib.sha256(bytes(form.pdf)).hexdigest()


def test_submitted_forms_are_not_escalated(discharged, actors, mailoutbox):
    pmf.update_values(actors["ben"], discharged, STAFF_ANSWERS)
    session = sign(discharged, actors)
    form = RemsMonitoringForm.objects.get(session=session)
    pmf.record_submission(
        actors["ben"], form, submitted_on=datetime.date(2026, 11, 24), method="online", confirmation_number="C-1"
    )
    assert pmf.escalate_overdue(datetime.datetime(2026, 12, 9, tzinfo=CHICAGO)) == 0
    assert mailoutbox == []


# --- the submission record -------------------------------------------------------------------


@pytest.fixture
def signed_form(discharged, actors):
    pmf.update_values(actors["ben"], discharged, STAFF_ANSWERS)
    session = sign(discharged, actors)
    return RemsMonitoringForm.objects.get(session=session)


def test_submission_rules(signed_form, actors, clock):
    ben = actors["ben"]
    today = datetime.date(2026, 11, 24)
    bad = [
        ({"submitted_on": None, "method": "online", "confirmation_number": "C-1"}, "submitted_on"),
        ({"submitted_on": today, "method": "post", "confirmation_number": "C-1"}, "method"),
        ({"submitted_on": today, "method": "fax", "confirmation_number": "  "}, "confirmation_number"),
        (
            {"submitted_on": today + datetime.timedelta(days=1), "method": "fax", "confirmation_number": "C-1"},
            "submitted_on",
        ),
        (
            {"submitted_on": today - datetime.timedelta(days=1), "method": "fax", "confirmation_number": "C-1"},
            "submitted_on",
        ),
    ]
    for kwargs, field in bad:
        with pytest.raises(ValidationError) as exc:
            pmf.record_submission(ben, signed_form, **kwargs)
        assert field in exc.value.message_dict
    assert RemsMonitoringForm.objects.get(pk=signed_form.pk).submitted_on is None
    advance(clock, 60 * 24 * 2)
    pmf.record_submission(ben, signed_form, submitted_on=today, method="fax", confirmation_number="FX-77")
    pmf.record_submission(ben, signed_form, submitted_on=today, method="fax", confirmation_number="FX-77")  # same
    assert AuditEvent.objects.filter(event_type="pmf.submitted").count() == 1
    with pytest.raises(ValidationError):
        pmf.record_submission(ben, signed_form, submitted_on=today, method="online", confirmation_number="X-1")
    form = RemsMonitoringForm.objects.get(pk=signed_form.pk)
    assert (form.submitted_on, form.submission_method, form.confirmation_number) == (today, "fax", "FX-77")
    assert form.submitted_recorded_by == ben.user


def test_submission_needs_the_signed_form(dosed, actors):
    form = pmf.ensure_form(dosed)
    with pytest.raises(ValidationError) as exc:
        pmf.record_submission(
            actors["ben"], form, submitted_on=datetime.date(2026, 11, 24), method="fax", confirmation_number="C"
        )
    assert "Sign the session first" in str(exc.value)


def test_submission_roles_and_other_clinic(signed_form, actors, dee_prescriber):
    kwargs = {"submitted_on": datetime.date(2026, 11, 24), "method": "online", "confirmation_number": "C-9"}
    for key in ("tess", "cy", "ivy", "aud"):
        with pytest.raises(PermissionDenied):
            pmf.record_submission(actors[key], signed_form, **kwargs)
    with pytest.raises(Http404):
        pmf.record_submission(dee_prescriber, signed_form, **kwargs)
    pmf.record_submission(actors["ann"], signed_form, **kwargs)  # the administrator may record it
    assert RemsMonitoringForm.objects.get(pk=signed_form.pk).confirmation_number == "C-9"
