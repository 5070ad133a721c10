"""The only writers of patients. Each runs in one transaction with its audit row."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db import IntegrityError, transaction

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import diff, record
from ketacare.clinics.models import Clinic
from ketacare.patients.access import patients_of
from ketacare.patients.models import Patient, PatientContact
from ketacare.patients.search import parse_query, search_queryset

# The patient fields an action may set (everything but keys, clinic and timestamps).
PATIENT_FIELDS = (
    "mrn",
    "legal_first_name",
    "legal_middle_name",
    "legal_last_name",
    "preferred_name",
    "date_of_birth",
    "sex_at_birth",
    "gender_identity",
    "pronouns",
    "phone_mobile",
    "phone_home",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "postal_code",
    "primary_clinician",
    "status",
)
CONTACT_FIELDS = ("role", "name", "relationship", "phone", "email", "notes")


class PossibleDuplicate(Exception):
    """A patient with the same legal name and date of birth exists in this clinic."""

    def __init__(self, matches: list[Patient]) -> None:
        super().__init__("A patient with the same name and date of birth already exists.")
        self.matches = matches


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def _snapshot(patient: Patient) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in PATIENT_FIELDS:
        if name == "primary_clinician":
            values[name] = patient.primary_clinician_id
        else:
            values[name] = getattr(patient, name)
    return values


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k in PATIENT_FIELDS}
    if "primary_clinician" in values:
        clinician = values.pop("primary_clinician")
        values["primary_clinician_id"] = getattr(clinician, "pk", clinician)
    return values


def _contacts_snapshot(contacts: Iterable[PatientContact]) -> list[dict[str, Any]]:
    return [{"id": c.pk, **{f: getattr(c, f) for f in CONTACT_FIELDS}} for c in contacts]


def find_possible_duplicates(
    clinic: Clinic, first_name: str, last_name: str, date_of_birth: datetime.date, exclude_id: int | None = None
) -> list[Patient]:
    from ketacare.lib.text import fold

    matches = Patient.objects.filter(
        clinic=clinic,
        first_name_key=fold(first_name),
        last_name_key=fold(last_name),
        date_of_birth=date_of_birth,
    )
    if exclude_id is not None:
        matches = matches.exclude(pk=exclude_id)
    return list(matches.order_by("id")[:5])


def _next_mrn(clinic: Clinic) -> str:
    """Take the clinic's next free MRN, holding the clinic row's lock until commit."""
    locked = Clinic.objects.select_for_update().get(pk=clinic.pk)
    number = locked.next_mrn_number
    while True:
        mrn = f"{locked.mrn_prefix}-{number:06d}"
        number += 1
        if not Patient.objects.filter(clinic=locked, mrn=mrn).exists():
            break
    Clinic.objects.filter(pk=locked.pk).update(next_mrn_number=number)
    return mrn


def _replace_contacts(patient: Patient, contacts: Sequence[Mapping[str, Any]]) -> None:
    existing = {c.pk: c for c in patient.contacts.all()}
    keep: set[int] = set()
    for item in contacts:
        values = {f: item.get(f, "") or "" for f in CONTACT_FIELDS}
        contact_id = item.get("id")
        if contact_id and contact_id in existing:
            contact = existing[contact_id]
            for field, value in values.items():
                setattr(contact, field, value)
            contact.save()
            keep.add(contact_id)
        else:
            PatientContact.objects.create(clinic=patient.clinic, patient=patient, **values)
    for contact_id, contact in existing.items():
        if contact_id not in keep:
            contact.delete()


@transaction.atomic
def create_patient(
    actor: Actor,
    data: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]] | None = None,
    *,
    confirm_not_duplicate: bool = False,
) -> Patient:
    """Register a patient in the actor's clinic. Validated input only (a form or API schema)."""
    _require(actor, Perm.PATIENT_CREATE)
    values = _normalise(data)
    # Registrations in one clinic run one at a time (the clinic row is locked until commit), so
    # two simultaneous registrations of the same person cannot both pass the duplicate check.
    Clinic.objects.select_for_update().filter(pk=actor.clinic.pk).first()
    if not confirm_not_duplicate:
        matches = find_possible_duplicates(
            actor.clinic, values["legal_first_name"], values["legal_last_name"], values["date_of_birth"]
        )
        if matches:
            raise PossibleDuplicate(matches)
    if not values.get("mrn"):
        values["mrn"] = _next_mrn(actor.clinic)
    elif patients_of(actor).filter(mrn=values["mrn"]).exists():
        raise ValidationError({"mrn": "This MRN is already used by another patient in this clinic."})
    patient = Patient(clinic=actor.clinic, **values)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:
        raise ValidationError({"mrn": "This MRN is already used by another patient in this clinic."}) from exc
    _replace_contacts(patient, list(contacts or []))
    record(
        actor,
        AuditAction.CREATE,
        "patient.created",
        subject=patient,
        patient=patient,
        detail={
            "new": _snapshot(patient),
            "contacts": _contacts_snapshot(patient.contacts.all()),
            "confirmed_not_duplicate": confirm_not_duplicate,
        },
    )
    return patient


@transaction.atomic
def update_patient(
    actor: Actor,
    patient: Patient,
    data: Mapping[str, Any],
    contacts: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Change a patient's details (only the fields given). Returns the audited changes."""
    _require(actor, Perm.PATIENT_EDIT)
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("The patient belongs to another clinic.")
    # Lock the row so two concurrent edits are applied one after the other.
    locked = Patient.objects.select_for_update().get(pk=patient.pk)
    before = _snapshot(locked)
    contacts_before = _contacts_snapshot(locked.contacts.all())
    values = _normalise(data)
    new_mrn = values.get("mrn")
    if new_mrn is not None and new_mrn != locked.mrn:
        if not new_mrn:
            raise ValidationError({"mrn": "An MRN cannot be blank."})
        if patients_of(actor).filter(mrn=new_mrn).exclude(pk=locked.pk).exists():
            raise ValidationError({"mrn": "This MRN is already used by another patient in this clinic."})
    for field, value in values.items():
        setattr(locked, field, value)
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError as exc:
        # Another request took the MRN after the check above.
        raise ValidationError({"mrn": "This MRN is already used by another patient in this clinic."}) from exc
    changes = diff(before, _snapshot(locked))
    if contacts is not None:
        _replace_contacts(locked, contacts)
        contacts_after = _contacts_snapshot(locked.contacts.all())
        if contacts_after != contacts_before:
            changes["contacts"] = {"old": contacts_before, "new": contacts_after}
    if changes:
        record(
            actor, AuditAction.UPDATE, "patient.updated", subject=locked, patient=locked, detail={"changes": changes}
        )
    # Keep the caller's object current.
    patient.refresh_from_db()
    return changes


def record_patient_read(actor: Actor, patient: Patient, view: str) -> None:
    """Log that the actor looked at a patient's record (chart tab, edit form, API read)."""
    record(actor, AuditAction.READ, "patient.viewed", subject=patient, patient=patient, detail={"view": view})


@transaction.atomic
def search_patients(
    actor: Actor, query: str = "", status: str = "", page_number: int | str = 1, per_page: int = 25
) -> Page[Patient]:
    """One page of the clinic's patients matching `query`; records what was searched and found."""
    _require(actor, Perm.PATIENT_VIEW)
    parsed = parse_query(query)
    qs = search_queryset(patients_of(actor), parsed, status).select_related("primary_clinician")
    paginator = Paginator(qs, per_page)
    page = paginator.get_page(page_number)
    record(
        actor,
        AuditAction.READ,
        "patient.searched" if query else "patient.listed",
        detail={
            "query": query,
            "status": status,
            "page": page.number,
            "rows_returned": len(page.object_list),
            "total_matches": paginator.count,
            # Which patients appeared on screen, so an auditor can tell who was seen in a list.
            "patient_ids": [patient.pk for patient in page.object_list],
        },
    )
    return page
