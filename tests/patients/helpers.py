"""Helpers shared by the patient, audit and API tests (no fixtures here: see each conftest)."""

from __future__ import annotations

import datetime
from typing import Any

from django.forms.models import model_to_dict

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import Patient, PatientContact

# The Harbor Light personas and who else is tried in every authorization matrix.
HARBOR = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud"]
EVERYONE = [*HARBOR, "dee", "anon"]

# What issue #3 grants, written out by hand so that a wrong roles table fails the matrix.
CAN_VIEW = {"ann", "ada", "ben", "tess", "cy", "aud"}
CAN_WRITE = {"ann", "ada", "ben", "cy"}
CAN_AUDIT = {"ann", "aud"}


def patient_form_data(contacts: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """The POST body of the register / edit page, with a contacts formset."""
    data: dict[str, Any] = {
        "legal_first_name": "Riley",
        "legal_middle_name": "",
        "legal_last_name": "Quinn",
        "preferred_name": "",
        "date_of_birth": "1990-06-15",
        "sex_at_birth": "male",
        "gender_identity": "",
        "pronouns": "",
        "mrn": "",
        "phone_mobile": "(312) 555-0199",
        "phone_home": "",
        "email": "",
        "address_line1": "",
        "address_line2": "",
        "city": "",
        "state": "",
        "postal_code": "",
        "primary_clinician": "",
        "status": "active",
    }
    data.update(fields)
    contacts = contacts or []
    initial = sum(1 for c in contacts if c.get("id"))
    data.update(
        {
            "contacts-TOTAL_FORMS": str(len(contacts)),
            "contacts-INITIAL_FORMS": str(initial),
            "contacts-MIN_NUM_FORMS": "0",
            "contacts-MAX_NUM_FORMS": "10",
        }
    )
    # Existing contacts first (as the formset renders them), then new ones.
    ordered = [c for c in contacts if c.get("id")] + [c for c in contacts if not c.get("id")]
    for i, contact in enumerate(ordered):
        for key, value in contact.items():
            if key == "DELETE":
                if value:
                    data[f"contacts-{i}-DELETE"] = "on"
            else:
                data[f"contacts-{i}-{key}"] = "" if value is None else value
    return data


def edit_form_data(patient: Patient, contacts: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    """The edit page's POST body as the browser sends it for `patient`, with `changes` applied."""
    values: dict[str, Any] = {}
    for name in patient_form_data():
        if name.startswith("contacts-"):
            continue
        if name == "primary_clinician":
            values[name] = patient.primary_clinician_id or ""
        else:
            value = getattr(patient, name)
            values[name] = value.isoformat() if isinstance(value, datetime.date) else value
    if contacts is None:
        contacts = [
            {
                "id": c.pk,
                "role": c.role,
                "name": c.name,
                "relationship": c.relationship,
                "phone": c.phone,
                "email": c.email,
                "notes": c.notes,
            }
            for c in patient.contacts.all()
        ]
    return patient_form_data(contacts, **{**values, **changes})


def state_of(patient: Patient) -> dict[str, Any]:
    """Everything an edit could change: the stored fields and contacts of a patient."""
    fresh = Patient.objects.get(pk=patient.pk)
    return {
        "patient": model_to_dict(fresh),
        "updated_at": fresh.updated_at,
        "contacts": list(PatientContact.objects.filter(patient=fresh).order_by("id").values()),
    }


def world() -> dict[str, int]:
    """Counts that a denied request must leave unchanged."""
    return {
        "patients": Patient.objects.count(),
        "contacts": PatientContact.objects.count(),
        "changes": AuditEvent.objects.filter(event_type__startswith="patient.", action__in=["C", "U", "D"]).count(),
    }


def escort(**fields: Any) -> dict[str, Any]:
    return {
        "role": "escort",
        "name": "Sam Driver",
        "relationship": "partner",
        "phone": "312-555-0100",
        "email": "",
        "notes": "",
        **fields,
    }


def api_patient(**fields: Any) -> dict[str, Any]:
    """A valid POST /api/v1/patients body."""
    return {
        "legal_first_name": "Riley",
        "legal_last_name": "Quinn",
        "date_of_birth": "1990-06-15",
        "sex_at_birth": "male",
        "phone_mobile": "(312) 555-0199",
        "contacts": [{"role": "escort", "name": "Sam Driver", "phone": "312-555-0100"}],
        **fields,
    }
