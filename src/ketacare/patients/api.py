"""/api/v1/patients: schema -> access -> action -> schema.

Input is checked twice over one path: types by the Ninja schema, then clinic rules by the same
PatientForm the HTML pages use, so both front doors accept and refuse the same things.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Header, Query, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.patients import actions
from ketacare.patients.access import access_patient
from ketacare.patients.forms import PatientForm
from ketacare.patients.models import Patient, PatientStatus
from ketacare.patients.schemas import (
    DuplicateOut,
    PatientDetailOut,
    PatientIn,
    PatientPageOut,
    PatientPatch,
    PatientSummaryOut,
)

router = Router()


def _form_data(values: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in values.items():
        if key == "primary_clinician_id":
            data["primary_clinician"] = value or ""
        elif value is None:
            data[key] = ""
        elif hasattr(value, "isoformat"):
            data[key] = value.isoformat()
        else:
            data[key] = str(getattr(value, "value", value))
    return data


def _validated(actor: Actor, values: dict[str, Any], instance: Patient | None = None) -> dict[str, Any]:
    form = PatientForm(_form_data(values), clinic=actor.clinic, instance=instance)
    if not form.is_valid():
        errors = {("primary_clinician_id" if k == "primary_clinician" else k): v for k, v in form.errors.items()}
        raise ValidationError(errors)
    return form.patient_values()


# JSON values (dates as strings), since an Idempotency-Key stores the body in a JSONField.
def _detail(patient: Patient) -> dict[str, Any]:
    data: dict[str, Any] = PatientDetailOut.from_orm(patient).model_dump(mode="json")
    return data


def _summary(patient: Patient) -> dict[str, Any]:
    data: dict[str, Any] = PatientSummaryOut.from_orm(patient).model_dump(mode="json")
    return data


@router.get("", response=PatientPageOut, summary="List or search patients")
def list_patients(
    request: HttpRequest,
    q: str = Query("", description="Name prefix(es), MRN, date of birth (YYYY-MM-DD) or phone digits", max_length=100),  # type: ignore[type-arg]
    status: PatientStatus | None = None,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
) -> dict[str, Any]:
    actor = actor_of(request)
    result = actions.search_patients(actor, q, status.value if status else "", page)
    return {
        "count": result.paginator.count,
        "page": result.number,
        "pages": result.paginator.num_pages,
        "results": list(result.object_list),
    }


@router.post(
    "",
    response={201: PatientDetailOut, 200: PatientDetailOut, 409: DuplicateOut},
    summary="Register a patient",
)
def create_patient(
    request: HttpRequest,
    payload: PatientIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    if not actor.can(Perm.PATIENT_CREATE):
        # Refused before the clinic rules run: a role that may not register learns nothing from them.
        raise PermissionDenied(f"Your role does not allow {Perm.PATIENT_CREATE}.")
    body = payload.dict()
    contacts = [{**c, "email": c.get("email") or ""} for c in body.pop("contacts")]
    confirm = body.pop("confirm_not_duplicate")

    def effect() -> tuple[int, Any]:
        values = _validated(actor, body)
        try:
            patient = actions.create_patient(actor, values, contacts, confirm_not_duplicate=confirm)
        except actions.PossibleDuplicate as dup:
            return 409, {
                "detail": "A patient with the same legal name and date of birth exists. "
                "Send confirm_not_duplicate=true if this is a different person.",
                "possible_duplicates": [_summary(p) for p in dup.matches],
            }
        return 201, _detail(patient)

    if idempotency_key:
        outcome = run_once(actor, f"api:patients.create:{idempotency_key}", fingerprint(payload.dict()), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return effect()


@router.get("/{patient_id}", response=PatientDetailOut, summary="Read a patient")
def get_patient(request: HttpRequest, patient_id: int) -> Patient:
    actor = actor_of(request)
    # Not inside a transaction: a refusal's audit row must outlive the 404 or 403 it raises.
    patient = access_patient(actor, patient_id)
    actions.record_patient_read(actor, patient, view="api")
    return patient


@router.patch("/{patient_id}", response=PatientDetailOut, summary="Change some of a patient's details")
def patch_patient(request: HttpRequest, patient_id: int, payload: PatientPatch) -> Patient:
    actor = actor_of(request)
    changes = payload.dict(exclude_unset=True)
    contacts = changes.pop("contacts", None)
    if contacts is not None:
        contacts = [{**c, "email": c.get("email") or ""} for c in contacts]
    # The guarded fetch comes first, outside the transaction, so a refusal stays in the audit trail.
    patient = access_patient(actor, patient_id, Perm.PATIENT_EDIT)
    with transaction.atomic():
        current = {name: getattr(patient, name) for name in PatientForm.Meta.fields if name != "primary_clinician"}
        current["primary_clinician_id"] = patient.primary_clinician_id
        merged = {**current, **changes}
        values = _validated(actor, merged, instance=patient)
        changed = {
            k: v for k, v in values.items() if (k if k != "primary_clinician" else "primary_clinician_id") in changes
        }
        actions.update_patient(actor, patient, changed, contacts)
    return patient
