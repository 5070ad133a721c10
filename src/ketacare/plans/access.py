"""Guarded fetches of treatment plans: 403 without the permission, 404 for another clinic's plans."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.plans.models import TreatmentPlan


def plans_of(actor: Actor, perm: str = Perm.PLAN_VIEW) -> QuerySet[TreatmentPlan]:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")
    return TreatmentPlan.objects.filter(clinic=actor.clinic)


def access_plan(actor: Actor, plan_id: int, perm: str = Perm.PLAN_VIEW) -> TreatmentPlan:
    plan = (
        plans_of(actor, perm)
        .select_related(
            "patient", "protocol_version", "protocol_version__clinic_protocol", "created_by", "signed_by", "previous"
        )
        .filter(pk=plan_id)
        .first()
    )
    if plan is None:
        raise Http404("No such plan.")
    return plan
