"""Guarded fetches of patients: the same 404 for a missing patient and another clinic's."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record
from ketacare.patients.models import Patient


def patients_of(actor: Actor) -> QuerySet[Patient]:
    """Every patient query starts here: scoped to the actor's clinic."""
    return Patient.objects.filter(clinic=actor.clinic)


def access_patient(actor: Actor, patient_id: int, perm: str = Perm.PATIENT_VIEW) -> Patient:
    """Return the patient if the actor's role grants `perm` and the patient is in their clinic.

    A role without the permission gets PermissionDenied (403); a patient that is missing or in
    another clinic gets Http404, indistinguishably. Refusals are recorded in the audit trail.
    """
    if not actor.can(perm):
        record(
            actor,
            AuditAction.READ,
            "patient.access_denied",
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"patient_id": patient_id, "permission": perm},
        )
        raise PermissionDenied(f"Your role does not allow {perm}.")
    patient = patients_of(actor).select_related("primary_clinician", "clinic").filter(pk=patient_id).first()
    if patient is None:
        record(
            actor,
            AuditAction.READ,
            "patient.access_denied",
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"patient_id": patient_id, "permission": perm, "reason": "not found in clinic"},
        )
        raise Http404("No such patient.")
    return patient
