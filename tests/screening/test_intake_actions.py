"""Intake actions: start, send a link, submit by the patient, update after submission (version and
`intake_changed`), mark reviewed; each with its audit row, and the prior-trial count."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import BodyMeasurement, LinkPurpose, PatientLink
from ketacare.screening import actions
from ketacare.screening.intake_data import IntakeData, TrialData
from ketacare.screening.models import Intake, IntakeStatus, IntakeVia
from ketacare.screening.queries import current_intake, intake_data, missing_for_review, trial_count
from ketacare.screening.signals import intake_changed

from .conftest import ORIGIN, complete_data, patient_data


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def changes():
    """Every intake_changed sent, as (intake id, version, changed names, actor user id)."""
    seen = []

    def receiver(sender, intake, actor, changed, **kwargs):
        seen.append((intake.pk, intake.version, list(changed), actor.user.pk if actor else None))

    intake_changed.connect(receiver, dispatch_uid="test-intake-changed")
    yield seen
    intake_changed.disconnect(dispatch_uid="test-intake-changed")


def test_start_intake_is_a_draft_with_its_audit_row(actors, patient):
    intake = actions.start_intake(actors["ben"], patient)
    assert intake.status == IntakeStatus.DRAFT
    assert intake.created_by == actors["ben"].user
    event = AuditEvent.objects.get(event_type="intake.created", subject_id=str(intake.pk))
    assert event.actor == actors["ben"].user
    assert event.patient == patient


def test_start_intake_with_data_records_measurement_and_refuses_a_second_open_one(actors, patient):
    intake = actions.start_intake(actors["ada"], patient, complete_data())
    assert intake.prior_trials.count() == 2
    assert intake.facts["hypertension"] is True
    row = BodyMeasurement.objects.get(patient=patient)
    assert (row.weight_kg, row.source, row.recorded_by) == (Decimal("82.4"), "staff", actors["ada"].user)
    with pytest.raises(ValidationError) as exc:
        actions.start_intake(actors["ada"], patient)
    assert "patient_id" in exc.value.message_dict
    assert Intake.objects.filter(patient=patient).count() == 1


@pytest.mark.parametrize("who", ["tess", "cy", "aud", "ivy"])
def test_start_intake_needs_intake_edit(actors, patient, who):
    with pytest.raises(PermissionDenied):
        actions.start_intake(actors[who], patient)
    assert not Intake.objects.exists()


def test_start_intake_for_another_clinic_is_404(actors, outside_patient):
    with pytest.raises(Http404):
        actions.start_intake(actors["ada"], outside_patient)


def test_send_link_by_front_desk_emails_only_the_clinic_and_link(
    actors, make_patient, django_capture_on_commit_callbacks
):
    patient = make_patient(email="jordan@example.org")
    with django_capture_on_commit_callbacks(execute=True):
        intake, link = actions.send_intake_link(actors["cy"], patient)
    assert intake.status == IntakeStatus.SENT
    assert (link.purpose, link.subject_id, link.patient_id) == (LinkPurpose.INTAKE, intake.pk, patient.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jordan@example.org"]
    body = message.subject + message.body
    assert "Harbor Light Clinic" in body
    assert "/intake/" in body
    assert "Jordan" not in body
    assert "Avery" not in body
    assert "1985" not in body
    event = AuditEvent.objects.get(event_type="intake.link_sent")
    assert event.actor == actors["cy"].user
    assert event.detail["emailed"] is True


def test_resending_reuses_the_open_intake_and_cancels_the_old_link(actors, patient):
    first, old = actions.send_intake_link(actors["cy"], patient)
    again, new = actions.send_intake_link(actors["cy"], patient)
    assert first.pk == again.pk
    old.refresh_from_db()
    assert old.cancelled_at is not None
    assert new.cancelled_at is None
    assert Intake.objects.count() == 1


def test_send_link_without_email_sends_nothing(actors, patient, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.send_intake_link(actors["cy"], patient)
    assert mail.outbox == []


@pytest.mark.parametrize("who", ["aud", "ivy"])
def test_send_link_needs_intake_send(actors, patient, who):
    with pytest.raises(PermissionDenied):
        actions.send_intake_link(actors[who], patient)
    assert not Intake.objects.exists()
    assert not PatientLink.objects.exists()


def test_submit_by_patient_saves_answers_measurement_and_uses_the_link(sent, patient):
    intake, link = sent
    data = patient_data().model_copy(
        update={"facts": {**patient_data().facts, "bp_rise_serious_hazard": True}}  # not the patient's to answer
    )
    actions.submit_by_patient(link, data, ORIGIN)
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED
    assert intake.submitted_via == IntakeVia.LINK
    assert intake.submitted_at is not None
    assert "bp_rise_serious_hazard" not in intake.facts
    assert [t.drug for t in intake.prior_trials.all()] == ["Sertraline", "Bupropion"]
    assert all(t.dose_adequate is None for t in intake.prior_trials.all())
    measurement = BodyMeasurement.objects.get(patient=patient)
    assert measurement.source == "intake"
    assert measurement.recorded_by is None
    assert measurement.weight_kg == Decimal("82.4")
    assert measurement.systolic_mmhg == 128
    link.refresh_from_db()
    assert link.completed_at is not None
    event = AuditEvent.objects.get(event_type="intake.submitted")
    assert event.via == "link"
    assert event.actor is None
    assert event.actor_role == "patient"
    assert event.remote_addr == "203.0.113.9"
    assert event.user_agent == "PhoneBrowser/1.0"
    assert event.patient == patient


def test_a_second_submit_on_the_same_link_is_refused(submitted, sent):
    _, link = sent
    with pytest.raises(ValidationError):
        actions.submit_by_patient(link, patient_data(reason_for_referral="changed"), ORIGIN)
    submitted.refresh_from_db()
    assert submitted.reason_for_referral != "changed"
    assert BodyMeasurement.objects.count() == 1


def test_submit_without_measurements_adds_none(sent):
    _, link = sent
    data = patient_data(height_cm=None, weight_kg=None, systolic_mmhg=None, diastolic_mmhg=None, measured_on=None)
    actions.submit_by_patient(link, data, ORIGIN)
    assert not BodyMeasurement.objects.exists()


def test_update_after_submission_bumps_version_and_sends_intake_changed(actors, submitted, changes):
    data = intake_data(submitted)
    new = data.model_copy(
        update={
            "facts": {**data.facts, "pregnant": True, "interacting_medication": False},
            "weight_kg": Decimal("80.0"),
            "diagnoses": "MDD; PTSD",
        }
    )
    actions.update_intake(actors["ben"], submitted, new)
    submitted.refresh_from_db()
    assert submitted.version == 2
    assert changes == [
        (submitted.pk, 2, ["diagnoses", "interacting_medication", "pregnant", "weight_kg"], actors["ben"].user.pk)
    ]
    event = AuditEvent.objects.get(event_type="intake.updated")
    assert event.detail["changes"]["pregnant"] == {"old": False, "new": True}
    assert event.detail["version"] == 2
    latest = BodyMeasurement.objects.order_by("-recorded_at", "-id").first()
    assert latest.weight_kg == Decimal("80.0")
    assert latest.source == "staff"
    assert latest.recorded_by == actors["ben"].user


def test_trial_changes_are_named_prior_trials(actors, submitted, changes):
    data = intake_data(submitted)
    trials = [data.trials[0].model_copy(update={"dose_adequate": True}), data.trials[1]]
    actions.update_intake(actors["ada"], submitted, data.model_copy(update={"trials": trials}))
    assert changes[0][2] == ["prior_trials"]
    assert not BodyMeasurement.objects.filter(source="staff").exists()


def test_update_with_no_change_does_nothing(actors, submitted, changes):
    actions.update_intake(actors["ada"], submitted, intake_data(submitted))
    submitted.refresh_from_db()
    assert submitted.version == 1
    assert changes == []
    assert not AuditEvent.objects.filter(event_type="intake.updated").exists()


def test_update_before_submission_sends_no_signal(actors, patient, changes):
    intake = actions.start_intake(actors["ben"], patient)
    actions.update_intake(actors["ben"], intake, IntakeData(reason_for_referral="TRD"))
    intake.refresh_from_db()
    assert intake.version == 1
    assert changes == []
    assert intake.reason_for_referral == "TRD"


@pytest.mark.parametrize("who", ["tess", "cy", "aud"])
def test_update_needs_intake_edit(actors, submitted, changes, who):
    with pytest.raises(PermissionDenied):
        actions.update_intake(actors[who], submitted, IntakeData(reason_for_referral="x"))
    submitted.refresh_from_db()
    assert submitted.version == 1
    assert submitted.reason_for_referral != "x"
    assert changes == []


def test_mark_reviewed_names_what_is_missing(actors, submitted):
    with pytest.raises(ValidationError) as exc:
        actions.mark_reviewed(actors["ada"], submitted)
    missing = exc.value.message_dict
    assert "bp_rise_serious_hazard" in missing
    assert "interacting_medication" in missing
    assert "pregnant" not in missing
    submitted.refresh_from_db()
    assert submitted.status == IntakeStatus.SUBMITTED


def test_mark_reviewed_when_complete(actors, patient, sent):
    intake, link = sent
    actions.update_intake(actors["ada"], intake, complete_data())
    actions.mark_reviewed(actors["ada"], intake)
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.REVIEWED
    assert intake.reviewed_by == actors["ada"].user
    assert intake.submitted_via == IntakeVia.STAFF
    link.refresh_from_db()
    assert link.cancelled_at is not None  # the patient can no longer send over staff's review
    assert AuditEvent.objects.filter(event_type="intake.reviewed", subject_id=str(intake.pk)).count() == 1
    with pytest.raises(ValidationError):
        actions.mark_reviewed(actors["ada"], intake)
    assert missing_for_review(intake) == {}


def test_benzodiazepine_load_is_required_when_taking_one(actors, patient):
    data = complete_data()
    intake = actions.start_intake(
        actors["ada"], patient, data.model_copy(update={"facts": {**data.facts, "takes_benzodiazepine": True}})
    )
    assert "lorazepam_equivalent_mg_per_day" in missing_for_review(intake)


def test_current_intake_is_the_latest(actors, patient):
    assert current_intake(patient) is None
    first = actions.start_intake(actors["ada"], patient, complete_data())
    actions.mark_reviewed(actors["ada"], first)
    second = actions.start_intake(actors["ada"], patient)
    assert current_intake(patient) == second


def test_trial_count_is_undetermined_while_clinic_thresholds_are_unset(actors, patient):
    """ketamine-v1 leaves min_duration_weeks and min_adherence null (clinical.md defines no adequate
    trial), so no trial is counted either way; the reason is given."""
    intake = actions.start_intake(actors["ada"], patient, complete_data())
    count = trial_count(intake)
    assert (count.count, count.undetermined, count.threshold) == (0, 2, 2)
    assert count.treatment_resistant is None
    assert any("not set by the clinic" in why for why in count.judgements[0].why)


def test_trial_count_not_counted_when_the_trial_plainly_fails_a_criterion(actors, patient):
    trials = [TrialData(drug="Escitalopram", dose_adequate=False, response="none")]
    intake = actions.start_intake(actors["ada"], patient, complete_data(trials=trials))
    count = trial_count(intake)
    assert count.judgements[0].verdict == "not_counted"
    assert "dose not adequate" in count.judgements[0].why
    assert count.treatment_resistant is False


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"weight_kg": Decimal("82.4")}, "measured_on"),
        ({"systolic_mmhg": 120}, "diastolic_mmhg"),
        ({"systolic_mmhg": 80, "diastolic_mmhg": 90, "measured_on": "2026-01-01"}, "diastolic_mmhg"),
        ({"facts": {"pregnant": 1}}, "facts"),
        ({"facts": {"no_such_fact": True}}, "facts"),
    ],
)
def test_data_object_names_the_bad_field(values, field):
    from pydantic import ValidationError as PydanticError

    from ketacare.screening.intake_data import data_errors

    with pytest.raises(PydanticError) as exc:
        IntakeData.model_validate(values)
    assert field in data_errors(exc.value)


def test_no_benzodiazepine_is_a_zero_load_for_the_screening(patient) -> None:
    from ketacare.screening.models import Intake

    intake = Intake(clinic=patient.clinic, patient=patient, facts={"takes_benzodiazepine": False})
    assert intake.screening_facts()["lorazepam_equivalent_mg_per_day"] == 0.0
    intake.facts = {"takes_benzodiazepine": True}
    assert "lorazepam_equivalent_mg_per_day" not in intake.screening_facts()  # unknown until staff enter it
    intake.facts = {"takes_benzodiazepine": False, "lorazepam_equivalent_mg_per_day": 2.0}
    assert intake.screening_facts()["lorazepam_equivalent_mg_per_day"] == 2.0
