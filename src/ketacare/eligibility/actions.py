"""The only writers of eligibility: store an evaluation, record a prescriber's decision.

- `evaluate_intake(actor, intake, route)`: runs the rule set in effect for the route over the intake's
  facts and stores it, once per (intake version, route, rule set version); a repeat returns the
  stored one.
- `decide(actor, patient, route, ...)`: the prescriber's decision, taken on an evaluation of the
  current intake version. Disagreeing with a rule needs a reason per rule (`override_<rule_id>`);
  the new decision supersedes the current one of the route. Refusals change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.eligibility.access import can_evaluate
from ketacare.eligibility.models import ROUTE_LABELS, Decision, EligibilityDecision, ScreeningEvaluation
from ketacare.eligibility.queries import SCREENED_STATUSES, screened_intake
from ketacare.patients.models import Patient
from ketacare.screening.definitions import UnknownRuleSet, ruleset_for_route
from ketacare.screening.evaluate import Evaluation, FactsError, RuleResult, evaluate
from ketacare.screening.facts import ROUTES, Route
from ketacare.screening.models import Intake


def _result_dict(r: RuleResult, basis: str) -> dict[str, Any]:
    return {
        "id": r.rule_id,
        "title": r.title,
        "severity": r.severity,
        "outcome": r.outcome,
        "reason": r.reason,
        "sources": list(r.sources),
        "section": r.section,
        "basis": basis,
        "missing": list(r.missing),
    }


def run_rules(intake: Intake, route: Route) -> tuple[Evaluation, list[dict[str, Any]]]:
    """The pure evaluation of `route` over the intake (nothing stored), and its results as stored."""
    ruleset = ruleset_for_route(route)
    result = evaluate(ruleset, intake.screening_facts(), route)
    return result, [_result_dict(r, ruleset.rule(r.rule_id).basis) for r in result.results]


def _check_route(route: str, field: str = "route") -> Route:
    if route not in ROUTES:
        raise ValidationError({field: f"Unknown route {route!r}: choose one of {', '.join(ROUTES)}."})
    return route  # type: ignore[return-value]


@transaction.atomic
def evaluate_intake(actor: Actor, intake: Intake, route: str) -> ScreeningEvaluation:
    """Store (or reuse) the evaluation of `route` over the intake's current version."""
    if not can_evaluate(actor):
        raise PermissionDenied("Your role does not allow running the screening.")
    if intake.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This intake belongs to another clinic.")
    checked = _check_route(route)
    if intake.status not in SCREENED_STATUSES:
        raise ValidationError({"intake_id": "The intake has not been submitted yet: nothing to evaluate."})
    try:
        result, results = run_rules(intake, checked)
    except (UnknownRuleSet, FactsError) as exc:
        raise ValidationError({"intake_id": f"The screening cannot run: {exc}"}) from exc
    key = {
        "intake": intake,
        "intake_version": intake.version,
        "route": checked,
        "ruleset_code": result.ruleset,
        "ruleset_version": result.version,
    }
    stored = ScreeningEvaluation.objects.filter(**key).first()
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            evaluation = ScreeningEvaluation.objects.create(
                **key,
                clinic=actor.clinic,
                patient_id=intake.patient_id,
                status=result.status,
                results=results,
                missing_facts=list(result.missing_facts),
                evaluated_at=timezone.now(),
                evaluated_by=actor.user,
            )
    except IntegrityError:
        # Someone stored the same evaluation at the same moment: theirs is the one.
        return ScreeningEvaluation.objects.get(**key)
    record(
        actor,
        AuditAction.CREATE,
        "screening_evaluation.created",
        subject=evaluation,
        patient=intake.patient,
        detail={
            "intake_id": intake.pk,
            "intake_version": intake.version,
            "route": checked,
            "ruleset": f"{result.ruleset} v{result.version}",
            "status": result.status,
            "findings": [r.rule_id for r in result.findings],
            "not_assessed": [r.rule_id for r in result.not_assessed],
        },
    )
    return evaluation


@transaction.atomic
def evaluate_all_routes(actor: Actor, intake: Intake) -> list[ScreeningEvaluation]:
    """`evaluate_intake` for every route, in `ROUTES` order."""
    return [evaluate_intake(actor, intake, route) for route in ROUTES]


def _clean(text: str | None) -> str:
    return (text or "").strip()


def _override_errors(
    evaluation: ScreeningEvaluation, decision: str, overrides: Mapping[str, str]
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Which rules need a reason for this decision, and the overrides to store."""
    errors: dict[str, str] = {}
    results = {r["id"]: r for r in evaluation.results}
    for rule_id in overrides:
        if rule_id not in results:
            errors[f"override_{rule_id}"] = "This rule is not part of the evaluation."
    positive = decision in (Decision.ELIGIBLE, Decision.ELIGIBLE_WITH_PRECAUTIONS)
    for r in evaluation.results:
        given = _clean(overrides.get(r["id"]))
        if given:
            continue
        outcome, field = r["outcome"], f"override_{r['id']}"
        if positive and outcome == "contraindicated":
            errors[field] = f"“{r['title']}” is a contraindication: give your reason for deciding eligible despite it."
        elif decision == Decision.ELIGIBLE and outcome == "caution":
            errors[field] = (
                f"“{r['title']}” is a caution: give your reason for deciding eligible without precautions "
                "(or choose “Eligible with precautions”)."
            )
        elif positive and outcome == "not_assessed" and r["severity"] == "contraindicated":
            missing = ", ".join(r.get("missing") or [])
            errors[field] = (
                f"“{r['title']}” could not be assessed (missing: {missing}): complete the intake, "
                "or give your reason for deciding eligible without it."
            )
    stored = [
        {"rule_id": rid, "title": r["title"], "outcome": r["outcome"], "reason": _clean(overrides.get(rid))}
        for rid, r in results.items()
        if _clean(overrides.get(rid)) and r["outcome"] != "no_concern"
    ]
    for rid in overrides:
        if rid in results and results[rid]["outcome"] == "no_concern" and _clean(overrides.get(rid)):
            errors[f"override_{rid}"] = "This rule raised no concern: there is nothing to override."
    return errors, stored


@transaction.atomic
def decide(
    actor: Actor,
    patient: Patient,
    route: str,
    *,
    decision: str,
    evaluation_id: int | None,
    reason: str = "",
    precautions: str = "",
    overrides: Mapping[str, str] | None = None,
) -> EligibilityDecision:
    """Record the prescriber's eligibility decision for `route`; it supersedes the current one."""
    if not actor.can(Perm.ELIGIBILITY_DECIDE):
        raise PermissionDenied(f"Your role does not allow {Perm.ELIGIBILITY_DECIDE}.")
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("This patient belongs to another clinic.")
    checked = _check_route(route)
    label = ROUTE_LABELS[checked]
    reason, precautions, overrides = _clean(reason), _clean(precautions), dict(overrides or {})
    if decision not in Decision.values:
        raise ValidationError({"decision": "Choose eligible, eligible with precautions or not eligible."})
    # Decisions for one patient are taken one at a time.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    evaluation = (
        ScreeningEvaluation.objects.filter(clinic=actor.clinic, patient=patient, pk=evaluation_id).first()
        if evaluation_id is not None
        else None
    )
    if evaluation is None:
        raise ValidationError({"evaluation_id": "No such screening evaluation for this patient."})
    if evaluation.route != checked:
        raise ValidationError({"evaluation_id": f"This evaluation is for {evaluation.route_label}, not {label}."})
    intake = screened_intake(patient)
    if intake is None or intake.pk != evaluation.intake_id or intake.version != evaluation.intake_version:
        version = f" (now version {intake.version})" if intake is not None and intake.pk == evaluation.intake_id else ""
        raise ValidationError(
            {"evaluation_id": f"The intake changed since this evaluation{version}: re-evaluate before deciding."}
        )
    try:
        in_effect = ruleset_for_route(checked)
    except UnknownRuleSet:  # pragma: no cover - the shipped rule sets cover every route
        in_effect = None
    if in_effect is not None and (in_effect.code, in_effect.version) != (
        evaluation.ruleset_code,
        evaluation.ruleset_version,
    ):
        raise ValidationError(
            {"evaluation_id": f"The screening rules changed (now {in_effect.code} v{in_effect.version}): re-evaluate."}
        )
    errors, stored_overrides = _override_errors(evaluation, decision, overrides)
    if decision == Decision.ELIGIBLE_WITH_PRECAUTIONS and not precautions:
        errors["precautions"] = "Say which precautions apply (e.g. blood pressure checks, a longer observation)."
    if decision == Decision.NOT_ELIGIBLE and not evaluation.findings and not reason:
        errors["reason"] = "No rule found a concern: give your reason for deciding not eligible."
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    previous = list(
        EligibilityDecision.objects.select_for_update().filter(patient=patient, route=checked, is_current=True)
    )
    if previous:
        EligibilityDecision.objects.filter(pk__in=[p.pk for p in previous]).update(is_current=False, superseded_at=now)
    made = EligibilityDecision.objects.create(
        clinic=actor.clinic,
        patient=patient,
        route=checked,
        decision=decision,
        evaluation=evaluation,
        precautions=precautions,
        reason=reason,
        rule_overrides=stored_overrides,
        decided_by=actor.user,
        decided_at=now,
    )
    record(
        actor,
        AuditAction.CREATE,
        "eligibility_decision.recorded",
        subject=made,
        patient=patient,
        detail={
            "route": checked,
            "decision": decision,
            "evaluation_id": evaluation.pk,
            "evaluation_status": evaluation.status,
            "ruleset": f"{evaluation.ruleset_code} v{evaluation.ruleset_version}",
            "intake_version": evaluation.intake_version,
            "precautions": precautions,
            "reason": reason,
            "overrides": stored_overrides,
            "superseded": [p.pk for p in previous],
        },
    )
    return made


def record_review_read(actor: Actor, patient: Patient, *, view: str, decisions: list[int]) -> None:
    """One read row for a page or API read of a patient's screening and decisions."""
    record(
        actor,
        AuditAction.READ,
        "eligibility.viewed",
        patient=patient,
        detail={"view": view, "decisions": decisions},
    )
