"""Stored evaluations and the prescriber's decisions: the rules of issue #5 item 2, each refusal naming
its field and changing nothing, superseding, and the audit rows."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketacare.audit.models import AuditEvent
from ketacare.eligibility import actions
from ketacare.eligibility.models import EligibilityDecision, Immutable, ScreeningEvaluation
from tests.eligibility.conftest import make_intake

NOW = datetime.datetime(2026, 11, 20, 15, 0, tzinfo=datetime.UTC)


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def _nothing_decided(patient: object) -> None:
    assert not EligibilityDecision.objects.filter(patient=patient).exists()
    assert not AuditEvent.objects.filter(event_type="eligibility_decision.recorded").exists()


# --- evaluations -------------------------------------------------------------------------------


def test_evaluation_stores_every_rule_with_its_source_and_is_reused(actors, patient, evaluate):
    intake = make_intake(patient, hypertension_uncontrolled=True)
    first = evaluate(intake, "iv")
    assert first.status == "contraindicated"
    assert (first.ruleset_code, first.ruleset_version, first.intake_version) == ("ketamine", "1", 1)
    fired = {r["id"]: r for r in first.findings}
    assert fired["hypertension_uncontrolled"]["sources"] == ["PMC10812090"]
    assert fired["hypertension_uncontrolled"]["section"] == "2.4"
    assert set(fired["hypertension_uncontrolled"]) >= {"id", "title", "severity", "outcome", "reason", "missing"}
    # given the same intake version, route and rule set version: the stored one, no second row
    again = evaluate(intake, "iv")
    assert again.pk == first.pk
    assert ScreeningEvaluation.objects.count() == 1
    rows = AuditEvent.objects.filter(event_type="screening_evaluation.created")
    assert rows.count() == 1
    assert rows.get().detail["findings"] == ["hypertension_uncontrolled"]
    assert rows.get().detail["ruleset"] == "ketamine v1"


def test_a_new_intake_version_gets_a_new_evaluation(patient, evaluate):
    intake = make_intake(patient)
    first = evaluate(intake, "iv")
    Intake = type(intake)
    Intake.objects.filter(pk=intake.pk).update(version=2)
    intake.refresh_from_db()
    second = evaluate(intake, "iv")
    assert second.pk != first.pk
    assert second.intake_version == 2


def test_unknown_facts_are_not_assessed_with_the_missing_facts(patient, evaluate):
    intake = make_intake(patient, pregnant=None)
    evaluation = evaluate(intake, "iv")
    assert evaluation.status == "not_assessed"
    assert evaluation.missing_facts == ["pregnant"]
    (row,) = evaluation.unassessed
    assert row["id"] == "pregnancy"
    assert row["missing"] == ["pregnant"]


def test_all_routes_use_the_rule_set_of_each_route(actors, patient):
    intake = make_intake(patient, takes_opioid=True)
    stored = actions.evaluate_all_routes(actors["ben"], intake)
    assert [(e.route, e.ruleset_code, e.status) for e in stored] == [
        ("iv", "ketamine", "no_concern"),
        ("im", "ketamine", "no_concern"),
        ("intranasal_esketamine", "spravato", "caution"),
        ("oral", "ketamine", "no_concern"),
    ]


def test_evaluation_refuses_an_intake_not_submitted_and_roles_that_do_not_complete_intakes(actors, patient):
    intake = make_intake(patient)
    type(intake).objects.filter(pk=intake.pk).update(status="sent")
    intake.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        actions.evaluate_intake(actors["ada"], intake, "iv")
    assert "intake_id" in _errors(exc)
    for key in ("tess", "aud", "cy", "ivy"):
        with pytest.raises(PermissionDenied):
            actions.evaluate_intake(actors[key], intake, "iv")
    with pytest.raises(ValidationError) as exc:
        actions.evaluate_intake(actors["ada"], intake, "nasal")
    assert "route" in _errors(exc)
    assert not ScreeningEvaluation.objects.exists()


def test_evaluations_and_decisions_are_never_edited_or_deleted(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient), "iv")
    evaluation.status = "caution"
    with pytest.raises(Immutable):
        evaluation.save()
    with pytest.raises(Immutable):
        evaluation.delete()
    made = decide(evaluation, "eligible")
    made.reason = "changed"
    with pytest.raises(Immutable):
        made.save()
    with pytest.raises(Immutable):
        made.delete()


# --- decisions: who, and on what -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["ann", "ben", "tess", "cy", "ivy", "aud"])
def test_only_a_prescriber_decides(key, patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient), "iv")
    with pytest.raises(PermissionDenied):
        decide(evaluation, "eligible", as_=key)
    _nothing_decided(patient)


def test_a_decision_on_an_earlier_intake_version_is_refused(patient, evaluate, decide):
    intake = make_intake(patient)
    evaluation = evaluate(intake, "iv")
    type(intake).objects.filter(pk=intake.pk).update(version=2)
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, "eligible")
    assert "the intake changed" in _errors(exc)["evaluation_id"][0].lower()
    assert "re-evaluate" in _errors(exc)["evaluation_id"][0]
    _nothing_decided(patient)


def test_a_decision_on_an_older_intake_is_refused(patient, evaluate, decide):
    old = evaluate(make_intake(patient), "iv")
    make_intake(patient)  # a newer submitted intake
    with pytest.raises(ValidationError) as exc:
        decide(old, "eligible")
    assert "evaluation_id" in _errors(exc)
    _nothing_decided(patient)


def test_the_evaluation_must_be_of_the_route_and_the_patient(actors, patient, make_patient, evaluate):
    evaluation = evaluate(make_intake(patient), "im")
    with pytest.raises(ValidationError) as exc:
        actions.decide(actors["ada"], patient, "iv", decision="eligible", evaluation_id=evaluation.pk)
    assert "evaluation_id" in _errors(exc)
    other = make_patient(legal_first_name="Sam")
    with pytest.raises(ValidationError) as exc:
        actions.decide(actors["ada"], other, "im", decision="eligible", evaluation_id=evaluation.pk)
    assert "evaluation_id" in _errors(exc)
    with pytest.raises(ValidationError) as exc:
        actions.decide(actors["ada"], patient, "im", decision="maybe", evaluation_id=evaluation.pk)
    assert "decision" in _errors(exc)
    _nothing_decided(patient)


def test_another_clinics_patient_is_refused(actors, outside_patient, patient, evaluate):
    evaluation = evaluate(make_intake(patient), "iv")
    with pytest.raises(PermissionDenied):
        actions.decide(actors["ada"], outside_patient, "iv", decision="eligible", evaluation_id=evaluation.pk)


# --- decisions: disagreeing with a rule needs a reason ----------------------------------------------


@pytest.mark.parametrize("decision", ["eligible", "eligible_with_precautions"])
def test_deciding_eligible_over_a_contraindication_needs_a_reason_for_it(patient, evaluate, decide, decision):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True, pregnant=True), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, decision, precautions="BP before each session", overrides={"pregnancy": "   "})
    assert set(_errors(exc)) == {"override_hypertension_uncontrolled", "override_pregnancy"}
    assert "contraindication" in _errors(exc)["override_pregnancy"][0]
    _nothing_decided(patient)


def test_an_override_reason_per_contraindication_records_the_decision_with_them(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient, hypertension_uncontrolled=True), "iv")
    with time_machine.travel(NOW, tick=False):
        made = decide(
            evaluation,
            "eligible_with_precautions",
            precautions="Blood pressure checked before and every 15 minutes.",
            overrides={"hypertension_uncontrolled": "Controlled since the intake: 128/82 today on amlodipine."},
        )
    assert made.is_current
    assert made.decided_at == NOW
    assert made.decided_by.email == "ada@example.org"
    assert made.rule_overrides == [
        {
            "rule_id": "hypertension_uncontrolled",
            "title": "Uncontrolled hypertension",
            "outcome": "contraindicated",
            "reason": "Controlled since the intake: 128/82 today on amlodipine.",
        }
    ]
    event = AuditEvent.objects.get(event_type="eligibility_decision.recorded")
    assert event.actor_role == "prescriber"
    assert event.patient_id == patient.pk
    assert event.subject_id == str(made.pk)
    assert event.detail["decision"] == "eligible_with_precautions"
    assert event.detail["overrides"] == made.rule_overrides
    assert event.detail["evaluation_status"] == "contraindicated"


def test_plain_eligible_needs_a_reason_for_each_caution_too(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient, hypertension=True, sleep_apnoea=True), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, "eligible", overrides={"sleep_apnoea": "CPAP every night; STOP-BANG 2."})
    assert set(_errors(exc)) == {"override_hypertension_history"}
    _nothing_decided(patient)
    made = decide(
        evaluation,
        "eligible",
        overrides={"sleep_apnoea": "CPAP every night.", "hypertension_history": "Normotensive off treatment."},
    )
    assert {o["rule_id"] for o in made.rule_overrides} == {"sleep_apnoea", "hypertension_history"}


def test_eligible_with_precautions_needs_the_precautions_but_no_caution_reasons(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient, hypertension=True), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, "eligible_with_precautions", precautions="  ")
    assert set(_errors(exc)) == {"precautions"}
    _nothing_decided(patient)
    made = decide(evaluation, "eligible_with_precautions", precautions="BP before each infusion.")
    assert made.rule_overrides == []
    assert made.precautions == "BP before each infusion."


def test_not_eligible_when_nothing_fired_needs_a_reason(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, "not_eligible")
    assert set(_errors(exc)) == {"reason"}
    _nothing_decided(patient)
    assert decide(evaluation, "not_eligible", reason="Prefers to wait for Spravato.").decision == "not_eligible"


def test_not_eligible_agreeing_with_a_finding_needs_no_reason(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient, pregnant=True), "iv")
    assert decide(evaluation, "not_eligible").decision == "not_eligible"


@pytest.mark.parametrize("decision", ["eligible", "eligible_with_precautions"])
def test_eligible_while_a_contraindication_is_not_assessed_needs_a_reason_for_it(patient, evaluate, decide, decision):
    # pregnancy (a contraindication) unknown; sleep apnoea (a caution) unknown needs nothing
    evaluation = evaluate(make_intake(patient, pregnant=None, sleep_apnoea=None), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, decision, precautions="Observation 2 h")
    assert set(_errors(exc)) == {"override_pregnancy"}
    assert "could not be assessed" in _errors(exc)["override_pregnancy"][0]
    _nothing_decided(patient)
    made = decide(evaluation, decision, precautions="Observation 2 h", overrides={"pregnancy": "Post-menopausal."})
    assert made.rule_overrides[0]["outcome"] == "not_assessed"


def test_overrides_must_name_a_rule_that_raised_something(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient), "iv")
    with pytest.raises(ValidationError) as exc:
        decide(evaluation, "eligible", overrides={"no_such_rule": "x", "pregnancy": "y"})
    assert set(_errors(exc)) == {"override_no_such_rule", "override_pregnancy"}
    _nothing_decided(patient)


# --- superseding -----------------------------------------------------------------------------------


def test_a_new_decision_supersedes_the_current_one(patient, evaluate, decide):
    evaluation = evaluate(make_intake(patient, hypertension=True), "iv")
    first = decide(evaluation, "not_eligible", reason="Wants to think about it.")
    second = decide(evaluation, "eligible_with_precautions", precautions="BP checks")
    first.refresh_from_db()
    assert not first.is_current
    assert first.superseded_at is not None
    assert EligibilityDecision.objects.filter(patient=patient, route="iv", is_current=True).get() == second
    event = AuditEvent.objects.filter(event_type="eligibility_decision.recorded").order_by("-id").first()
    assert event is not None
    assert event.detail["superseded"] == [first.pk]
    # another route is untouched
    other = decide(evaluate(make_intake_again(evaluation), "oral"), "eligible_with_precautions", precautions="x")
    assert other.is_current
    assert EligibilityDecision.objects.filter(is_current=True).count() == 2


def make_intake_again(evaluation: ScreeningEvaluation):  # the same intake, read again
    return type(evaluation.intake).objects.get(pk=evaluation.intake_id)


def test_the_database_keeps_one_current_decision_per_patient_and_route(patient, evaluate, decide, personas):
    made = decide(evaluate(make_intake(patient), "iv"), "eligible")
    with pytest.raises(IntegrityError), transaction.atomic():
        EligibilityDecision.objects.create(
            clinic=made.clinic,
            patient=patient,
            route="iv",
            decision="not_eligible",
            evaluation=made.evaluation,
            decided_by=personas["ada"],
            decided_at=timezone.now(),
        )
