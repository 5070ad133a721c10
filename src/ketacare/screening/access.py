"""Guarded fetches of intakes: 403 for a role without the permission, the same 404 for a missing
intake and another clinic's. The front desk (`intake.send` only) sees intakes' status, never answers:
pages and the API show answers only to roles holding `intake.view`."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record
from ketacare.screening.models import Intake


def intakes_of(actor: Actor) -> QuerySet[Intake]:
    """Every intake query starts here: the actor's clinic, for a role that may see intakes at all."""
    if not (actor.can(Perm.INTAKE_VIEW) or actor.can(Perm.INTAKE_SEND)):
        raise PermissionDenied(f"Your role does not allow {Perm.INTAKE_VIEW}.")
    return Intake.objects.filter(clinic=actor.clinic)


def access_intake(actor: Actor, intake_id: int, perm: str = Perm.INTAKE_VIEW) -> Intake:
    """The intake if the role grants `perm` and it belongs to the actor's clinic; refusals are audited."""
    if not actor.can(perm):
        record(
            actor,
            AuditAction.READ,
            "intake.access_denied",
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"intake_id": intake_id, "permission": perm},
        )
        raise PermissionDenied(f"Your role does not allow {perm}.")
    intake = (
        Intake.objects.filter(clinic=actor.clinic, pk=intake_id)
        .select_related("patient", "patient__clinic", "reviewed_by", "created_by")
        .first()
    )
    if intake is None:
        record(
            actor,
            AuditAction.READ,
            "intake.access_denied",
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"intake_id": intake_id, "permission": perm, "reason": "not found in clinic"},
        )
        raise Http404("No such intake.")
    return intake
