"""Guarded fetches for eligibility: 403 when the role lacks the permission, 404 for a row that is
missing or belongs to another clinic (indistinguishable)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.eligibility.models import EligibilityDecision, ScreeningEvaluation
from ketacare.screening.models import Intake


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def can_evaluate(actor: Actor) -> bool:
    """Running the rules stores an evaluation: those who complete the intake or decide may."""
    return actor.can(Perm.INTAKE_EDIT) or actor.can(Perm.ELIGIBILITY_DECIDE)


def evaluations_of(actor: Actor) -> QuerySet[ScreeningEvaluation]:
    _require(actor, Perm.ELIGIBILITY_VIEW)
    return ScreeningEvaluation.objects.filter(clinic=actor.clinic)


def decisions_of(actor: Actor) -> QuerySet[EligibilityDecision]:
    _require(actor, Perm.ELIGIBILITY_VIEW)
    return EligibilityDecision.objects.filter(clinic=actor.clinic)


def access_intake_for_evaluation(actor: Actor, intake_id: int) -> Intake:
    """The intake to evaluate, if the actor may run the screening and it is in their clinic."""
    if not can_evaluate(actor):
        raise PermissionDenied("Your role does not allow running the screening.")
    intake = Intake.objects.filter(clinic=actor.clinic, pk=intake_id).select_related("patient").first()
    if intake is None:
        raise Http404("No such intake.")
    return intake
