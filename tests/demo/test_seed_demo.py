"""`manage.py seed_demo`: the demo clinic, its staff and synthetic patients; safe to run twice."""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.utils import timezone

from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import CLINICIAN_ROLES, Role
from ketacare.audit.models import AuditEvent
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.demo.seed import DEMO_CLINIC, DEMO_PASSWORD, DEMO_URL, OTHER_CLINIC
from ketacare.demo.synthetic import PatientGenerator
from ketacare.patients.forms import PatientForm
from ketacare.patients.models import Patient, PatientContact

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "clinics": Clinic.objects.count(),
        "locations": Location.objects.count(),
        "resources": Resource.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "patients": Patient.objects.count(),
        "contacts": PatientContact.objects.count(),
        "audit events": AuditEvent.objects.count(),
    }


def test_seed_demo_creates_a_member_per_role_rooms_and_patients() -> None:
    output = seed()

    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    assert clinic.time_zone == "America/Chicago"
    assert not clinic.require_mfa
    assert clinic.phone
    assert clinic.address_line1
    roles = sorted(Membership.objects.filter(clinic=clinic).values_list("role", flat=True))
    assert roles == sorted(Role.values)  # exactly one member per role
    for membership in Membership.objects.filter(clinic=clinic).select_related("user"):
        user = membership.user
        assert user.email == f"{user.email.split('@')[0]}@demo.ketacare.test"
        assert user.email in output
        assert check_password(DEMO_PASSWORD, user.password)
    assert Membership.objects.get(clinic=clinic, role=Role.PRESCRIBER).user.credentials == "MD"

    locations = Location.objects.filter(clinic=clinic)
    assert locations.count() == 2
    for location in locations:
        names = set(location.resources.values_list("name", flat=True))
        assert {"Consult Room", "Integration Room"} <= names
        assert location.resources.filter(kind=Resource.Kind.CHAIR).count() >= 3

    assert Patient.objects.filter(clinic=clinic).count() >= 50
    # The admin also belongs to the small second clinic (so the clinic switcher shows).
    other = Clinic.objects.get(slug=OTHER_CLINIC["slug"])
    admin = Membership.objects.get(clinic=clinic, role=Role.ADMIN).user
    assert Membership.objects.filter(user=admin, clinic=other, role=Role.ADMIN).exists()
    assert 2 <= Patient.objects.filter(clinic=other).count() <= 3
    assert DEMO_PASSWORD in output
    assert DEMO_URL in output


def _form_data(patient: Patient) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in PatientForm.Meta.fields:
        value = patient.primary_clinician_id if name == "primary_clinician" else getattr(patient, name)
        data[name] = value.isoformat() if isinstance(value, datetime.date) else ("" if value is None else value)
    return data


def test_every_seeded_patient_is_valid_and_synthetic() -> None:
    seed()
    patients = list(Patient.objects.select_related("clinic", "primary_clinician").prefetch_related("contacts"))
    assert len(patients) >= 50
    mrns = set()
    for patient in patients:
        patient.full_clean()
        form = PatientForm(_form_data(patient), instance=patient, clinic=patient.clinic)
        assert form.is_valid(), (patient.mrn, form.errors)
        today = timezone.localdate(timezone=patient.clinic.zone)
        age = (
            today.year
            - patient.date_of_birth.year
            - ((today.month, today.day) < (patient.date_of_birth.month, patient.date_of_birth.day))
        )
        assert 19 <= age <= 80, patient
        assert patient.mrn.startswith(patient.clinic.mrn_prefix + "-")
        mrns.add((patient.clinic_id, patient.mrn))
        assert patient.last_name_key
        assert patient.first_name_key
        # Clearly synthetic: fictional phone numbers and reserved email domains only.
        for phone in (patient.phone_mobile, patient.phone_home):
            assert not phone or "555-01" in phone
        assert not patient.email or patient.email.rsplit("@", 1)[1] in {"example.com", "example.net", "example.org"}
        if patient.primary_clinician is not None:
            assert Membership.objects.get(user=patient.primary_clinician, clinic=patient.clinic).role in CLINICIAN_ROLES
        for contact in patient.contacts.all():
            contact.full_clean()
            assert contact.clinic_id == patient.clinic_id
            assert "555-01" in contact.phone
        # Registered through the action, by a person, from the command line.
        event = AuditEvent.objects.get(event_type="patient.created", patient=patient)
        assert event.via == "cli"
        assert event.clinic_id == patient.clinic_id
    assert len(mrns) == len(patients)

    demo = [p for p in patients if p.clinic.slug == DEMO_CLINIC["slug"]]
    # Varied: statuses, preferred names, pronouns, accents, clinicians, contacts of both kinds.
    assert {p.status for p in demo} == {"active", "inactive", "discharged"}
    assert sum(p.status == "active" for p in demo) > len(demo) / 2
    assert any(p.preferred_name for p in demo)
    assert any(p.pronouns for p in demo)
    assert any(p.gender_identity for p in demo)
    assert any(not p.legal_last_name.isascii() or not p.legal_first_name.isascii() for p in demo)
    assert sum(p.primary_clinician_id is not None for p in demo) > len(demo) / 2
    with_emergency = sum(any(c.role == "emergency" for c in p.contacts.all()) for p in demo)
    with_escort = sum(any(c.role == "escort" for c in p.contacts.all()) for p in demo)
    assert with_emergency > len(demo) / 2
    assert with_escort > len(demo) / 2


def test_second_run_changes_nothing() -> None:
    seed()
    before = counts()
    passwords = dict(User.objects.values_list("email", "password"))
    next_mrns = dict(Clinic.objects.values_list("slug", "next_mrn_number"))

    output = seed()

    assert counts() == before
    assert dict(User.objects.values_list("email", "password")) == passwords
    assert dict(Clinic.objects.values_list("slug", "next_mrn_number")) == next_mrns
    assert "already there" in output


def test_synthetic_names_do_not_depend_on_the_date() -> None:
    """The seed recognises its patients by name on a later run, so the names must not drift."""

    def names(today: datetime.date) -> list[tuple[str, str]]:
        generator = PatientGenerator(7, today=today, clinician_ids=[1, 2, 3])
        return [p.name_key for p in generator.patients(40, unique_names=True)]

    assert names(datetime.date(2026, 3, 1)) == names(datetime.date(2028, 2, 29))
