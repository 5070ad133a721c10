"""What other domains ask of eligibility (plans, sessions). Stable signatures; bodies by the eligibility app.

Also the reads the eligibility pages and API share: the intake being screened, the current decision
per route, and how a rule's source is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from ketacare.eligibility.models import ROUTE_LABELS, Decision, EligibilityDecision
from ketacare.patients.models import Patient
from ketacare.screening.facts import FACTS_BY_NAME, Route
from ketacare.screening.models import Intake, IntakeStatus

SCREENED_STATUSES = (IntakeStatus.SUBMITTED, IntakeStatus.REVIEWED)


@dataclass(frozen=True)
class EligibilityCheck:
    ok: bool  # True only when a current, unflagged decision allows the route
    message: str  # why not, in words a prescriber reads ("Screened not eligible for IV on 2026-11-20 by ...")
    decision_id: int | None = None


def screened_intake(patient: Patient) -> Intake | None:
    """The intake the screening runs on: the patient's latest submitted or reviewed intake."""
    return Intake.objects.filter(patient=patient, status__in=SCREENED_STATUSES).order_by("-created_at", "-id").first()


def current_decisions(patient: Patient) -> dict[str, EligibilityDecision]:
    """The current decision of each route that has one: {route: decision}."""
    rows = (
        EligibilityDecision.objects.filter(patient=patient, is_current=True)
        .select_related("decided_by", "evaluation")
        .order_by("route")
    )
    return {d.route: d for d in rows}


def _when(decision: EligibilityDecision, patient: Patient) -> str:
    return timezone.localtime(decision.decided_at, patient.clinic.zone).date().isoformat()


def eligibility_for_plan(patient: Patient, route: Route) -> EligibilityCheck:
    """May a plan for `route` be signed? No decision, "not eligible", or a decision flagged for
    review (the intake changed since) all refuse."""
    label = ROUTE_LABELS.get(route, route)
    decision = (
        EligibilityDecision.objects.filter(patient=patient, route=route, is_current=True)
        .select_related("decided_by", "evaluation")
        .first()
    )
    if decision is None:
        return EligibilityCheck(
            False, f"No eligibility decision for {label} yet: a prescriber must review the screening and decide."
        )
    who, when = decision.decided_by.display_name, _when(decision, patient)
    if decision.needs_review:
        return EligibilityCheck(
            False,
            f"The eligibility decision for {label} ({decision.get_decision_display().lower()}, {when} by {who}) "
            f"is flagged for review: {decision.review_reason} A prescriber must decide again.",
            decision.pk,
        )
    if decision.decision == Decision.NOT_ELIGIBLE:
        return EligibilityCheck(False, f"Screened not eligible for {label} on {when} by {who}", decision.pk)
    # Defence in depth: the intake-changed receiver flags decisions, but a decision taken on an
    # intake version that is no longer the current one never allows a plan.
    intake = screened_intake(patient)
    evaluation = decision.evaluation
    if intake is None or intake.pk != evaluation.intake_id or intake.version != evaluation.intake_version:
        return EligibilityCheck(
            False,
            f"The intake changed after the eligibility decision for {label} of {when}: a prescriber must "
            "re-evaluate and decide again.",
            decision.pk,
        )
    if decision.decision == Decision.ELIGIBLE_WITH_PRECAUTIONS:
        return EligibilityCheck(
            True,
            f"Eligible for {label} with precautions ({decision.precautions}), {when} by {who}",
            decision.pk,
        )
    return EligibilityCheck(True, f"Eligible for {label}, {when} by {who}", decision.pk)


# --- how findings are shown --------------------------------------------------------------------


def source_label(result: dict[str, Any]) -> str:
    """A rule's citation: its source keys (clinical.md section 10) and its clinical.md section."""
    keys = ", ".join(result.get("sources") or [])
    section = result.get("section") or ""
    where = f"clinical.md §{section}" if section else "clinical.md"
    return f"{keys} · {where}" if keys else where


def fact_label(name: str) -> str:
    spec = FACTS_BY_NAME.get(name)
    return spec.label if spec is not None else name.replace("_", " ")
