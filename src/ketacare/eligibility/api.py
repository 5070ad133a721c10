"""/api/v1/eligibility: stored screening evaluations and the prescriber's decisions, with the same
rules as the pages (the same actions; errors name the same fields, `overrides.<rule_id>` for a rule)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.eligibility import actions
from ketacare.eligibility.access import access_intake_for_evaluation, decisions_of, evaluations_of
from ketacare.eligibility.models import ROUTE_LABELS, EligibilityDecision, ScreeningEvaluation
from ketacare.eligibility.queries import screened_intake, source_label
from ketacare.eligibility.schemas import DecisionCreateIn, DecisionOut, EligibilityOut, EvaluateIn, EvaluationOut
from ketacare.patients.access import access_patient
from ketacare.screening.facts import ROUTES
from ketacare.screening.models import Intake

router = Router()


def _evaluation_out(e: ScreeningEvaluation, intake: Intake | None) -> dict[str, Any]:
    return {
        "id": e.pk,
        "patient_id": e.patient_id,
        "intake_id": e.intake_id,
        "intake_version": e.intake_version,
        "route": e.route,
        "ruleset": e.ruleset_code,
        "ruleset_version": e.ruleset_version,
        "status": e.status,
        "results": [{**r, "citation": source_label(r)} for r in e.results],
        "missing_facts": list(e.missing_facts),
        "evaluated_at": e.evaluated_at,
        "current": intake is not None and intake.pk == e.intake_id and intake.version == e.intake_version,
    }


def _decision_out(d: EligibilityDecision) -> dict[str, Any]:
    data = {
        "id": d.pk,
        "patient_id": d.patient_id,
        "route": d.route,
        "decision": d.decision,
        "evaluation_id": d.evaluation_id,
        "precautions": d.precautions,
        "reason": d.reason,
        "overrides": d.rule_overrides,
        "decided_by": d.decided_by.display_name,
        "decided_at": d.decided_at,
        "is_current": d.is_current,
        "superseded_at": d.superseded_at,
        "needs_review": d.needs_review,
        "review_reason": d.review_reason,
        "flagged_at": d.flagged_at,
        "allows_plan": d.allows_plan,
    }
    # JSON values (dates as strings): an Idempotency-Key stores the body in a JSONField.
    out: dict[str, Any] = DecisionOut.model_validate(data).model_dump(mode="json")
    return out


@router.get("", response=EligibilityOut, summary="A patient's current evaluations and decisions per route")
def get_eligibility(request: HttpRequest, patient_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    # Not inside a transaction: a refusal's audit row must outlive the 404 or 403 it raises.
    patient = access_patient(actor, patient_id, Perm.ELIGIBILITY_VIEW)
    with transaction.atomic():
        intake = screened_intake(patient)
        evaluations: dict[str, ScreeningEvaluation] = {}
        if intake is not None:
            for e in (
                evaluations_of(actor).filter(intake=intake, intake_version=intake.version).order_by("evaluated_at")
            ):
                evaluations[e.route] = e  # the newest rule set version wins
        decisions = {
            d.route: d
            for d in decisions_of(actor).filter(patient=patient, is_current=True).select_related("decided_by")
        }
        actions.record_review_read(actor, patient, view="api", decisions=[d.pk for d in decisions.values()])
    return {
        "patient_id": patient.pk,
        "intake": {"id": intake.pk, "version": intake.version, "status": intake.status} if intake else None,
        "routes": [
            {
                "route": route,
                "label": ROUTE_LABELS[route],
                "evaluation": _evaluation_out(evaluations[route], intake) if route in evaluations else None,
                "decision": _decision_out(decisions[route]) if route in decisions else None,
            }
            for route in ROUTES
        ],
    }


@router.post("/evaluations", response={200: list[EvaluationOut]}, summary="Run (or reuse) the screening of an intake")
def create_evaluations(request: HttpRequest, payload: EvaluateIn) -> list[dict[str, Any]]:
    actor = actor_of(request)
    intake = access_intake_for_evaluation(actor, payload.intake_id)
    with transaction.atomic():
        if payload.route is None:
            stored = actions.evaluate_all_routes(actor, intake)
        else:
            stored = [actions.evaluate_intake(actor, intake, payload.route)]
        current = screened_intake(intake.patient)
    return [_evaluation_out(e, current) for e in stored]


def _api_errors(exc: ValidationError) -> ValidationError:
    renamed: dict[str, list[str]] = {}
    for name, messages in exc.message_dict.items():
        key = f"overrides.{name.removeprefix('override_')}" if name.startswith("override_") else name
        renamed[key] = messages
    return ValidationError(renamed)


@router.post("/decisions", response={201: DecisionOut, 200: DecisionOut}, summary="Record a prescriber's decision")
def create_decision(
    request: HttpRequest,
    payload: DecisionCreateIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    if not actor.can(Perm.ELIGIBILITY_DECIDE):
        # Refused before anything else: a role that may not decide learns nothing from the rules.
        raise PermissionDenied(f"Your role does not allow {Perm.ELIGIBILITY_DECIDE}.")
    patient = access_patient(actor, payload.patient_id, Perm.ELIGIBILITY_DECIDE)

    def effect() -> tuple[int, Any]:
        try:
            made = actions.decide(
                actor,
                patient,
                payload.route,
                decision=payload.decision,
                evaluation_id=payload.evaluation_id,
                reason=payload.reason,
                precautions=payload.precautions,
                overrides=payload.overrides,
            )
        except ValidationError as exc:
            raise _api_errors(exc) from exc
        made = EligibilityDecision.objects.select_related("decided_by").get(pk=made.pk)
        return 201, _decision_out(made)

    if idempotency_key:
        outcome = run_once(actor, f"api:eligibility.decide:{idempotency_key}", fingerprint(payload.dict()), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return effect()
