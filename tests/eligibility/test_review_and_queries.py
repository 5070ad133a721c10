"""An intake change flags current decisions for review (in the change's transaction), and what
`eligibility_for_plan` and `current_decisions` answer in each case."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import transaction

from ketacare.audit.models import AuditEvent
from ketacare.audit.record import SYSTEM_LABEL
from ketacare.eligibility.models import EligibilityDecision
from ketacare.eligibility.queries import current_decisions, eligibility_for_plan
from ketacare.screening.models import Intake
from ketacare.screening.signals import intake_changed
from tests.eligibility.conftest import make_intake

DECIDED = datetime.datetime(2026, 11, 20, 16, 0, tzinfo=datetime.UTC)  # 10:00 in Chicago


def change_intake(intake: Intake, actor: object, changed: list[str], fail: bool = False) -> None:
    """What the intake code does: bump the version and send the signal inside one transaction."""
    with transaction.atomic():
        Intake.objects.filter(pk=intake.pk).update(version=intake.version + 1)
        intake.refresh_from_db()
        intake_changed.send(sender=Intake, intake=intake, actor=actor, changed=changed)
        if fail:
            raise RuntimeError("the change failed")


@pytest.fixture
def decided(patient, evaluate, decide):
    intake = make_intake(patient, hypertension=True)
    with time_machine.travel(DECIDED, tick=False):
        iv = decide(evaluate(intake, "iv"), "eligible_with_precautions", precautions="BP before each infusion")
        nasal = decide(evaluate(intake, "intranasal_esketamine"), "not_eligible", reason="Prefers IV.")
    return intake, iv, nasal


def test_an_intake_change_flags_every_current_decision_with_what_changed(actors, patient, decided):
    intake, iv, nasal = decided
    change_intake(intake, actors["ben"], ["pregnant", "psychiatric_history", "weight_kg"])
    for d in (iv, nasal):
        d.refresh_from_db()
        assert d.needs_review
        assert d.flagged_at is not None
        assert d.review_reason == "Intake changed (version 2): Pregnant; Psychiatric history; Weight."
        assert d.is_current  # still the current decision, but it no longer allows a plan
    rows = AuditEvent.objects.filter(event_type="eligibility_decision.flagged").order_by("id")
    assert [r.subject_id for r in rows] == [str(nasal.pk), str(iv.pk)]  # by route name
    assert rows[0].actor_role == "nurse"
    assert rows[0].detail["intake_version"] == 2
    assert rows[0].detail["changed"] == ["pregnant", "psychiatric_history", "weight_kg"]


def test_a_change_by_the_patient_is_flagged_by_the_system(patient, decided):
    intake, iv, _ = decided
    change_intake(intake, None, ["facts.sleep_apnoea"])
    iv.refresh_from_db()
    assert iv.needs_review
    row = AuditEvent.objects.filter(event_type="eligibility_decision.flagged").first()
    assert row is not None
    assert row.actor_label == SYSTEM_LABEL
    assert row.actor_id is None


def test_a_second_change_keeps_the_first_flag_time_and_adds_its_items(actors, decided):
    intake, iv, _ = decided
    change_intake(intake, actors["ben"], ["facts.pregnant"])
    iv.refresh_from_db()
    first_flag = iv.flagged_at
    change_intake(intake, actors["ben"], ["facts.breastfeeding"])
    iv.refresh_from_db()
    assert iv.flagged_at == first_flag
    assert "version 2): Pregnant" in iv.review_reason
    assert "version 3): Breastfeeding" in iv.review_reason


def test_a_rolled_back_change_flags_nothing(actors, decided):
    intake, iv, _ = decided
    with pytest.raises(RuntimeError):
        change_intake(intake, actors["ben"], ["facts.pregnant"], fail=True)
    iv.refresh_from_db()
    assert not iv.needs_review
    assert not AuditEvent.objects.filter(event_type="eligibility_decision.flagged").exists()


def test_superseded_decisions_are_not_flagged(actors, patient, evaluate, decide, decided):
    intake, iv, _ = decided
    newer = decide(evaluate(intake, "iv"), "not_eligible", reason="Changed my mind.")
    change_intake(intake, actors["ben"], ["facts.pregnant"])
    iv.refresh_from_db()
    newer.refresh_from_db()
    assert not iv.needs_review
    assert newer.needs_review


# --- eligibility_for_plan ----------------------------------------------------------------------


def test_no_decision_refuses(patient):
    check = eligibility_for_plan(patient, "iv")
    assert not check.ok
    assert check.decision_id is None
    assert "No eligibility decision for IV ketamine yet" in check.message


def test_eligible_with_precautions_allows(decided, patient):
    _, iv, _ = decided
    check = eligibility_for_plan(patient, "iv")
    assert check.ok
    assert check.decision_id == iv.pk
    assert (
        check.message == "Eligible for IV ketamine with precautions (BP before each infusion), 2026-11-20 by Ada Okafor"
    )


def test_eligible_allows(patient, evaluate, decide):
    made = decide(evaluate(make_intake(patient), "oral"), "eligible")
    check = eligibility_for_plan(patient, "oral")
    assert check.ok
    assert check.decision_id == made.pk


def test_not_eligible_refuses_with_who_and_when(decided, patient):
    _, _, nasal = decided
    check = eligibility_for_plan(patient, "intranasal_esketamine")
    assert not check.ok
    assert check.decision_id == nasal.pk
    assert check.message == "Screened not eligible for Spravato (esketamine nasal spray) on 2026-11-20 by Ada Okafor"


def test_a_flagged_decision_refuses_and_says_why(actors, decided, patient):
    intake, iv, _ = decided
    change_intake(intake, actors["ben"], ["facts.pregnant"])
    check = eligibility_for_plan(patient, "iv")
    assert not check.ok
    assert check.decision_id == iv.pk
    assert "flagged for review" in check.message
    assert "Intake changed (version 2): Pregnant." in check.message


def test_a_decision_on_an_intake_that_is_no_longer_current_refuses_even_unflagged(decided, patient):
    intake, _, _ = decided
    Intake.objects.filter(pk=intake.pk).update(version=5)  # no signal sent: defence in depth
    check = eligibility_for_plan(patient, "iv")
    assert not check.ok
    assert "re-evaluate" in check.message


def test_other_routes_and_patients_are_separate(decided, patient, make_patient):
    assert not eligibility_for_plan(patient, "im").ok
    assert not eligibility_for_plan(make_patient(legal_first_name="Sam"), "iv").ok


def test_current_decisions_by_route(decided, patient, evaluate, decide):
    intake, _iv, nasal = decided
    newer = decide(evaluate(intake, "iv"), "eligible_with_precautions", precautions="Longer observation")
    assert current_decisions(patient) == {"iv": newer, "intranasal_esketamine": nasal}
    assert EligibilityDecision.objects.filter(patient=patient).count() == 3
