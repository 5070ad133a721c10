"""Shared personas and helpers for every test.

One clinic (Harbor Light) with a member in each role, and Dee, who works at another clinic and
must see nothing of Harbor Light:

    ann   admin          ada   prescriber     ben   nurse        tess  therapist
    cy    front desk     ivy   inventory      aud   auditor      dee   admin of Northside (outsider)

Data is set up through the real actions (as Zulip's tests do), so audit rows exist as in life.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from ketacare.accounts.actions import create_api_token
from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.patients import actions as patient_actions
from ketacare.patients.models import Patient

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _tasks_run_immediately(settings: Any) -> None:
    """Background tasks run at once in tests (the database backend and its worker in production)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests sign people in all the time; the production hasher's cost buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# persona key -> (full name, role, clinic key)
PERSONAS: dict[str, tuple[str, Role, str]] = {
    "ann": ("Ann Admin", Role.ADMIN, "harbor"),
    "ada": ("Ada Okafor", Role.PRESCRIBER, "harbor"),
    "ben": ("Ben Novak", Role.NURSE, "harbor"),
    "tess": ("Tess Rivera", Role.THERAPIST, "harbor"),
    "cy": ("Cy Patel", Role.FRONT_DESK, "harbor"),
    "ivy": ("Ivy Chen", Role.INVENTORY, "harbor"),
    "aud": ("Aud Itor", Role.AUDITOR, "harbor"),
    "dee": ("Dee Walsh", Role.ADMIN, "northside"),
}
# Staff persona for each role in Harbor Light, for authorization matrices.
ROLE_PERSONA: dict[Role, str] = {role: key for key, (_, role, clinic) in PERSONAS.items() if clinic == "harbor"}
ALL_PERSONAS = list(PERSONAS)


@pytest.fixture
def clinic(db: Any) -> Clinic:
    harbor = Clinic.objects.create(
        slug="harbor", name="Harbor Light Clinic", time_zone="America/Chicago", require_mfa=False, mrn_prefix="HL"
    )
    location = Location.objects.create(clinic=harbor, name="Main Street")
    Resource.objects.create(clinic=harbor, location=location, kind=Resource.Kind.CHAIR, name="Chair 1")
    return harbor


@pytest.fixture
def other_clinic(db: Any) -> Clinic:
    return Clinic.objects.create(
        slug="northside", name="Northside Clinic", time_zone="America/Denver", require_mfa=False, mrn_prefix="NS"
    )


@pytest.fixture
def personas(clinic: Clinic, other_clinic: Clinic) -> dict[str, User]:
    clinics = {"harbor": clinic, "northside": other_clinic}
    users: dict[str, User] = {}
    for key, (name, role, clinic_key) in PERSONAS.items():
        user = User.objects.create_user(f"{key}@example.org", PASSWORD, full_name=name)
        Membership.objects.create(user=user, clinic=clinics[clinic_key], role=role)
        users[key] = user
    return users


def actor_for(user: User, clinic: Clinic | None = None, via: str = "web") -> Actor:
    membership = Membership.objects.select_related("clinic", "user").get(
        user=user, **({"clinic": clinic} if clinic else {})
    )
    return Actor.from_membership(membership, None, via=via)


@pytest.fixture
def actors(personas: dict[str, User]) -> dict[str, Actor]:
    return {key: actor_for(user) for key, user in personas.items()}


@pytest.fixture
def client_for(personas: dict[str, User]) -> Callable[[str], Client]:
    """A signed-in browser-like client for a persona key ('anon' for nobody)."""

    def make(key: str) -> Client:
        client = Client()
        if key != "anon":
            client.force_login(personas[key])
        return client

    return make


@pytest.fixture
def api_client_for(personas: dict[str, User]) -> Callable[[str], Client]:
    """A client sending `Authorization: Bearer` with a fresh token of the persona ('anon': none)."""

    def make(key: str) -> Client:
        if key == "anon":
            return Client()
        user = personas[key]
        membership = Membership.objects.get(user=user)
        _, raw = create_api_token(user, membership.clinic, "tests")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


PATIENT_DEFAULTS: dict[str, Any] = {
    "legal_first_name": "Jordan",
    "legal_last_name": "Avery",
    "date_of_birth": datetime.date(1985, 4, 12),
    "sex_at_birth": "female",
    "phone_mobile": "(312) 555-0142",
    "status": "active",
}


@pytest.fixture
def make_patient(actors: dict[str, Actor]) -> Callable[..., Patient]:
    """Register a patient through the real action (as Ann the admin, or `as_=`)."""

    def make(as_: str = "ann", contacts: list[dict[str, Any]] | None = None, **fields: Any) -> Patient:
        values = {**PATIENT_DEFAULTS, **fields}
        return patient_actions.create_patient(actors[as_], values, contacts or [], confirm_not_duplicate=True)

    return make


@pytest.fixture
def patient(make_patient: Callable[..., Patient]) -> Patient:
    return make_patient()


@pytest.fixture
def outside_patient(make_patient: Callable[..., Patient]) -> Patient:
    """A patient of Northside, which no Harbor Light user may see."""
    return make_patient(as_="dee", legal_first_name="Morgan", legal_last_name="Outside")
