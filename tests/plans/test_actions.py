"""Treatment plan actions: dose from the latest weight, signing gates, locking, revisions, protocol edits."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketacare.audit.models import AuditEvent
from ketacare.consents.queries import MissingConsent
from ketacare.patients.models import BodyMeasurement
from ketacare.plans import actions
from ketacare.plans.models import PlanLockedError, PlanStatus, TreatmentPlan
from ketacare.protocols import actions as protocol_actions
from ketacare.protocols.models import VersionStatus
from tests.conftest import PASSWORD
from tests.plans.conftest import TODAY

FIRST = TODAY + datetime.timedelta(days=1)  # Wednesday 2026-11-25


def new_plan(actors, patient, version, as_="ben", **kw):
    return actions.create_plan(actors[as_], patient, version.pk, first_session_on=kw.pop("first", FIRST), **kw)


def test_iv_plan_dose_from_latest_weight_with_working_and_series(actors, weighed, iv_version):
    plan = new_plan(actors, weighed, iv_version)

    assert plan.status == PlanStatus.DRAFT
    assert plan.route == "iv"
    assert (plan.weight_kg, plan.weighed_on) == (Decimal("82.4"), TODAY - datetime.timedelta(days=2))
    assert plan.weight_measurement == BodyMeasurement.objects.get(patient=weighed)
    assert plan.dose_raw_mg == Decimal("41.2")
    assert plan.dose_final_mg == Decimal("40")
    assert plan.dose_applied["working"] == (
        "0.5 mg/kg × 82.4 kg = 41.2 mg → rounded down to 40 mg (step 5 mg) → within min 10 mg, max 60 mg = 40 mg"
    )
    # Twice weekly (days 0 and 3 of each week), six infusions within 21 days (library, clinical.md §2.3).
    assert plan.planned_sessions == [
        "2026-11-25",
        "2026-11-28",
        "2026-12-02",
        "2026-12-05",
        "2026-12-09",
        "2026-12-12",
    ]
    assert plan.protocol_snapshot == iv_version.data
    event = AuditEvent.objects.get(event_type="plan.created")
    assert (event.patient_id, event.subject_id, event.actor_id) == (weighed.pk, str(plan.pk), actors["ben"].user.pk)


def test_maximum_applies_to_a_heavy_patient(actors, patient, iv_version):
    actions.record_weight(actors["ben"], patient, Decimal("150.0"), TODAY)
    plan = new_plan(actors, patient, iv_version)

    assert (plan.dose_raw_mg, plan.dose_final_mg) == (Decimal("75.0"), Decimal("60"))
    assert "held at the maximum 60 mg" in plan.dose_applied["working"]


def test_plan_refused_without_a_weight(actors, patient, iv_version):
    with pytest.raises(ValidationError) as exc:
        new_plan(actors, patient, iv_version)

    assert "weight" in exc.value.message_dict
    assert not TreatmentPlan.objects.exists()


def test_plan_refused_with_a_weight_older_than_the_protocol_allows(actors, patient, iv_version):
    actions.record_weight(actors["ben"], patient, Decimal("82.4"), TODAY - datetime.timedelta(days=31))

    with pytest.raises(ValidationError) as exc:
        new_plan(actors, patient, iv_version)

    assert "re-measure" in exc.value.message_dict["weight"][0]
    # Recording today's weight lets the plan be made from it.
    actions.record_weight(actors["ben"], patient, Decimal("80.0"), TODAY)
    assert new_plan(actors, patient, iv_version).dose_final_mg == Decimal("40")


def test_record_weight_is_audited_and_checked(actors, patient):
    measurement = actions.record_weight(actors["ada"], patient, Decimal("82.4"), TODAY)

    assert (measurement.source, measurement.recorded_by) == ("staff", actors["ada"].user)
    event = AuditEvent.objects.get(event_type="body_measurement.recorded")
    assert event.patient_id == patient.pk
    assert event.detail["weight_kg"] == "82.4"
    with pytest.raises(ValidationError) as exc:
        actions.record_weight(actors["ada"], patient, Decimal("5"), TODAY + datetime.timedelta(days=1))
    assert set(exc.value.message_dict) == {"weight_kg", "measured_on"}
    with pytest.raises(PermissionDenied):
        actions.record_weight(actors["tess"], patient, Decimal("80"), TODAY)


def test_only_published_versions_make_plans(actors, weighed, iv_version):
    draft = protocol_actions.edit_protocol(actors["ada"], iv_version.clinic_protocol, {"dose.max_mg": "50"}, "lower")

    with pytest.raises(ValidationError) as exc:
        new_plan(actors, weighed, draft)
    assert "protocol_version" in exc.value.message_dict


def test_spravato_plan_needs_a_chosen_dose_and_gives_56_mg_on_day_1(actors, patient, spravato_version):
    with pytest.raises(ValidationError) as exc:
        new_plan(actors, patient, spravato_version)
    assert "56 mg or 84 mg" in exc.value.message_dict["selected_mg"][0]

    plan = new_plan(actors, patient, spravato_version, selected_mg=Decimal("84"))

    assert plan.route == "intranasal_esketamine"
    assert (plan.dose_final_mg, plan.dose_selected_mg) == (Decimal("84"), Decimal("84"))
    assert plan.dose_applied["doses_by_session"] == ["56", *["84"] * 7]
    assert len(plan.planned_sessions) == 8  # twice weekly for 4 weeks (clinical.md §1.2)


def test_roles_that_may_not_draft_are_refused(actors, weighed, iv_version):
    for key in ("tess", "cy", "aud", "ann"):
        with pytest.raises(PermissionDenied):
            new_plan(actors, weighed, iv_version, as_=key)
    assert not TreatmentPlan.objects.exists()


def test_prescriber_signs_with_password_and_the_plan_locks(actors, weighed, iv_version, gate):
    plan = new_plan(actors, weighed, iv_version)

    signed = actions.sign_plan(actors["ada"], plan, PASSWORD)

    assert signed.status == PlanStatus.SIGNED
    assert signed.signed_by == actors["ada"].user
    assert "Ada Okafor" in signed.signature_meaning
    assert "40 mg" in signed.signature_meaning
    assert gate.calls == [("eligibility", "iv"), ("consents", "iv")]
    event = AuditEvent.objects.get(event_type="plan.signed")
    assert event.patient_id == weighed.pk
    assert event.detail["eligibility_decision"] == 7
    # Locked: no action or save changes it.
    with pytest.raises(actions.PlanLocked, match="signed and locked"):
        actions.update_draft(actors["ada"], signed, protocol_version_id=iv_version.pk, first_session_on=FIRST)
    with pytest.raises(actions.PlanLocked):
        actions.sign_plan(actors["ada"], signed, PASSWORD)
    signed.dose_final_mg = Decimal("45")
    with pytest.raises(PlanLockedError):
        signed.save()
    with pytest.raises(PlanLockedError):
        signed.delete()
    assert TreatmentPlan.objects.get(pk=plan.pk).dose_final_mg == Decimal("40")


def test_wrong_password_nurse_and_other_roles_cannot_sign(actors, weighed, iv_version, gate):
    plan = new_plan(actors, weighed, iv_version)

    with pytest.raises(ValidationError) as exc:
        actions.sign_plan(actors["ada"], plan, "wrong")
    assert "password" in exc.value.message_dict
    for key in ("ben", "ann", "tess"):
        with pytest.raises(PermissionDenied):
            actions.sign_plan(actors[key], plan, PASSWORD)
    assert TreatmentPlan.objects.get(pk=plan.pk).status == PlanStatus.DRAFT
    assert not AuditEvent.objects.filter(event_type="plan.signed").exists()


def test_sign_refused_while_screened_not_eligible(actors, weighed, iv_version, gate):
    gate.eligible = False
    gate.message = "Screened not eligible for IV on 2026-11-20 by Ada Okafor"
    plan = new_plan(actors, weighed, iv_version)

    with pytest.raises(ValidationError) as exc:
        actions.sign_plan(actors["ada"], plan, PASSWORD)

    assert exc.value.message_dict["eligibility"] == ["Screened not eligible for IV on 2026-11-20 by Ada Okafor"]
    assert TreatmentPlan.objects.get(pk=plan.pk).status == PlanStatus.DRAFT


def test_spravato_sign_refused_without_rems_enrolment(actors, patient, spravato_version, gate):
    gate.missing = [MissingConsent("spravato_rems_enrolment", "Spravato REMS patient enrolment", "never signed")]
    plan = new_plan(actors, patient, spravato_version, selected_mg=Decimal("56"))

    with pytest.raises(ValidationError) as exc:
        actions.sign_plan(actors["ada"], plan, PASSWORD)

    assert exc.value.message_dict["consents"] == ["Missing consent: Spravato REMS patient enrolment (never signed)."]
    assert ("consents", "intranasal_esketamine") in gate.calls
    gate.missing = []
    assert actions.sign_plan(actors["ada"], plan, PASSWORD).status == PlanStatus.SIGNED


def test_sign_refused_when_the_weight_has_aged_past_the_protocol_limit(actors, patient, iv_version, gate):
    import time_machine

    actions.record_weight(actors["ben"], patient, Decimal("82.4"), TODAY - datetime.timedelta(days=29))
    plan = new_plan(actors, patient, iv_version, first=TODAY + datetime.timedelta(days=5))

    later = datetime.datetime(2026, 11, 27, 15, 0, tzinfo=datetime.UTC)
    with time_machine.travel(later, tick=False), pytest.raises(ValidationError) as exc:
        actions.sign_plan(actors["ada"], plan, PASSWORD)
    assert "re-measure" in exc.value.message_dict["weight"][0]


def test_revise_makes_a_linked_draft_and_signing_it_supersedes_the_old(actors, weighed, iv_version, gate):
    v1 = actions.sign_plan(actors["ada"], new_plan(actors, weighed, iv_version), PASSWORD)

    v2 = actions.revise_plan(actors["ben"], v1)

    assert (v2.status, v2.plan_version, v2.previous_id) == (PlanStatus.DRAFT, 2, v1.pk)
    assert actions.revise_plan(actors["ben"], v1).pk == v2.pk  # one draft revision at a time
    assert TreatmentPlan.objects.get(pk=v1.pk).status == PlanStatus.SIGNED  # still in force
    v2 = actions.update_draft(
        actors["ben"], v2, protocol_version_id=iv_version.pk, first_session_on=FIRST, interval_days=4
    )
    actions.sign_plan(actors["ada"], v2, PASSWORD)

    old = TreatmentPlan.objects.get(pk=v1.pk)
    assert old.status == PlanStatus.SUPERSEDED
    assert old.superseded_at is not None
    assert old.planned_sessions[1] == "2026-11-28"  # the old version's content is untouched
    assert TreatmentPlan.objects.get(pk=v2.pk).planned_sessions[1] == "2026-11-29"
    assert AuditEvent.objects.filter(event_type="plan.revised", subject_id=str(v2.pk)).count() == 1
    assert AuditEvent.objects.filter(event_type="plan.updated").count() == 1


def test_a_second_unrelated_plan_for_the_route_cannot_be_signed(actors, weighed, iv_version, gate):
    actions.sign_plan(actors["ada"], new_plan(actors, weighed, iv_version), PASSWORD)
    other = new_plan(actors, weighed, iv_version)

    with pytest.raises(ValidationError, match="revise or cancel"):
        actions.sign_plan(actors["ada"], other, PASSWORD)


def test_cancel_draft_and_signed(actors, weighed, iv_version, gate):
    draft = new_plan(actors, weighed, iv_version)
    with pytest.raises(ValidationError):
        actions.cancel_plan(actors["ben"], draft, " ")
    assert actions.cancel_plan(actors["ben"], draft, "wrong protocol").status == PlanStatus.CANCELLED

    signed = actions.sign_plan(actors["ada"], new_plan(actors, weighed, iv_version), PASSWORD)
    with pytest.raises(PermissionDenied):
        actions.cancel_plan(actors["ben"], signed, "stop")
    cancelled = actions.cancel_plan(actors["ada"], signed, "Patient stopped treatment")
    assert (cancelled.status, cancelled.dose_final_mg) == (PlanStatus.CANCELLED, Decimal("40"))
    assert AuditEvent.objects.filter(event_type="plan.cancelled").count() == 2


def test_protocol_edit_after_signing_leaves_the_signed_plan_unchanged(actors, weighed, iv_version, gate):
    """Issue #5 item 5: editing a protocol never changes a plan built on an earlier version."""
    signed = actions.sign_plan(actors["ada"], new_plan(actors, weighed, iv_version), PASSWORD)
    before = TreatmentPlan.objects.values(
        "dose_raw_mg", "dose_final_mg", "planned_sessions", "protocol_snapshot", "dose_applied", "protocol_version"
    ).get(pk=signed.pk)

    # The clinic changes the dose to 0.75 mg/kg, the maximum to 70 mg and the series to 4 sessions, and publishes.
    v3 = protocol_actions.edit_protocol(
        actors["ada"],
        iv_version.clinic_protocol,
        {"dose.amount": "0.75", "dose.max_mg": "70", "series.count": 4},
        "Clinic decision 2026-11-24: 0.75 mg/kg, four infusions",
    )
    protocol_actions.publish_version(actors["ada"], v3)

    after = TreatmentPlan.objects.values(
        "dose_raw_mg", "dose_final_mg", "planned_sessions", "protocol_snapshot", "dose_applied", "protocol_version"
    ).get(pk=signed.pk)
    assert after == before
    assert after["dose_final_mg"] == Decimal("40")
    assert len(after["planned_sessions"]) == 6
    iv_version.refresh_from_db()
    assert iv_version.status == VersionStatus.RETIRED
    assert iv_version.data == before["protocol_snapshot"]

    # A new plan (a revision) uses the new version: 0.75 × 82.4 = 61.8 -> 60 mg (step 5, down), 4 sessions.
    revision = actions.revise_plan(actors["ben"], signed)
    revision = actions.update_draft(actors["ben"], revision, protocol_version_id=v3.pk, first_session_on=FIRST)
    assert (revision.dose_raw_mg, revision.dose_final_mg) == (Decimal("61.800"), Decimal("60"))
    assert len(revision.planned_sessions) == 4
    # The retired version cannot start a new plan.
    with pytest.raises(ValidationError):
        new_plan(actors, weighed, iv_version)
