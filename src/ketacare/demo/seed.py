"""The demo clinic: staff in every role, rooms and chairs, and synthetic patients.

`seed_demo()` is idempotent: it creates what is missing and changes nothing that exists (not even
a password), so running it twice leaves the database as the first run left it. Patients are
registered through `patients.actions.create_patient` by the front desk (via "cli"), so the audit
trail holds their registrations as it would in life.

Everything here is synthetic (see `ketacare.demo.synthetic`): no real person's data.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import CLINICIAN_ROLES, Role
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.demo.inventory import seed_inventory
from ketacare.demo.mbc import MBC_PATIENTS, seed_measures
from ketacare.demo.pathway import seed_pathway
from ketacare.demo.scheduling import seed_schedule
from ketacare.demo.sessions import remembered_passwords, seed_today
from ketacare.demo.synthetic import CHICAGO, DENVER, PatientGenerator, Region
from ketacare.inventory.models import LedgerEntry
from ketacare.measures.models import AlertStatus, Response, SafetyAlert
from ketacare.patients.actions import create_patient
from ketacare.patients.models import Patient
from ketacare.sessions.models import TreatmentSession

DEMO_PASSWORD = "ketacare-demo"  # noqa: S105 (the published password of synthetic demo accounts)
DEMO_EMAIL_DOMAIN = "demo.ketacare.test"
DEMO_URL = "http://127.0.0.1:8000/"
DEMO_PATIENTS = 64
DEMO_SEED = 20260101


@dataclass(frozen=True)
class StaffSpec:
    role: Role
    email_name: str
    full_name: str
    credentials: str


# One member per role in the demo clinic. Invented names.
STAFF: tuple[StaffSpec, ...] = (
    StaffSpec(Role.ADMIN, "admin", "Maren Lindqvist", "MHA"),
    StaffSpec(Role.PRESCRIBER, "prescriber", "Elena Marchetti", "MD"),
    StaffSpec(Role.NURSE, "nurse", "Jamal Whitaker", "BSN, RN"),
    StaffSpec(Role.THERAPIST, "therapist", "Priya Raman", "LCSW"),
    StaffSpec(Role.FRONT_DESK, "frontdesk", "Sofía Herrera", ""),
    StaffSpec(Role.INVENTORY, "inventory", "Grant Kowalski", "CPhT"),
    StaffSpec(Role.AUDITOR, "auditor", "Naomi Feld", "CHC"),
)

DEMO_CLINIC: dict[str, Any] = {
    "slug": "bluestem",
    "name": "Bluestem Ketamine Clinic",
    "time_zone": "America/Chicago",
    "address_line1": "1840 N Clybourn Ave",
    "address_line2": "Suite 300",
    "city": "Chicago",
    "state": "IL",
    "postal_code": "60614",
    "country": "US",
    "phone": "(312) 555-0100",
    "require_mfa": False,
    "mrn_prefix": "BKC",
}
# (location, address fields, number of treatment chairs)
DEMO_LOCATIONS: tuple[tuple[str, dict[str, str], int], ...] = (
    (
        "Lincoln Park",
        {
            "address_line1": "1840 N Clybourn Ave",
            "address_line2": "Suite 300",
            "city": "Chicago",
            "state": "IL",
            "postal_code": "60614",
            "phone": "(312) 555-0101",
        },
        4,
    ),
    (
        "Oak Park",
        {
            "address_line1": "715 Lake St",
            "address_line2": "Floor 2",
            "city": "Oak Park",
            "state": "IL",
            "postal_code": "60301",
            "phone": "(708) 555-0102",
        },
        3,
    ),
)

OTHER_CLINIC: dict[str, Any] = {
    "slug": "ridgeline",
    "name": "Ridgeline Ketamine Center",
    "time_zone": "America/Denver",
    "address_line1": "2450 Larimer St",
    "city": "Denver",
    "state": "CO",
    "postal_code": "80205",
    "country": "US",
    "phone": "(303) 555-0110",
    "require_mfa": False,
    "mrn_prefix": "RKC",
}
OTHER_LOCATIONS: tuple[tuple[str, dict[str, str], int], ...] = (
    (
        "RiNo",
        {
            "address_line1": "2450 Larimer St",
            "city": "Denver",
            "state": "CO",
            "postal_code": "80205",
            "phone": "(303) 555-0111",
        },
        2,
    ),
)
OTHER_PATIENTS = 3


def demo_email(spec: StaffSpec) -> str:
    return f"{spec.email_name}@{DEMO_EMAIL_DOMAIN}"


@dataclass
class SeedReport:
    clinic: Clinic
    other_clinic: Clinic
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (role, name, email)
    created: dict[str, int] = field(default_factory=dict)
    care_patients: int = 0  # demo patients with scores
    open_alerts: int = 0

    def add(self, what: str, count: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + count


def _clinic(values: dict[str, Any]) -> tuple[Clinic, bool]:
    return Clinic.objects.get_or_create(slug=values["slug"], defaults=values)


def _locations(clinic: Clinic, locations: tuple[tuple[str, dict[str, str], int], ...], report: SeedReport) -> None:
    for name, address, chairs in locations:
        location, created = Location.objects.get_or_create(clinic=clinic, name=name, defaults=address)
        report.add("locations", int(created))
        resources = [
            *(
                (f"Chair {n}", Resource.Kind.CHAIR, "Zero-gravity recliner with monitor arm")
                for n in range(1, chairs + 1)
            ),
            ("Consult Room", Resource.Kind.ROOM, "Intake, medical review and follow-up visits"),
            ("Integration Room", Resource.Kind.ROOM, "Integration therapy sessions, individual or small group"),
        ]
        for resource_name, kind, description in resources:
            _, created = Resource.objects.get_or_create(
                location=location,
                name=resource_name,
                defaults={"clinic": clinic, "kind": kind, "description": description},
            )
            report.add("rooms and chairs", int(created))


def _staff(clinic: Clinic, report: SeedReport) -> dict[Role, User]:
    emails = [demo_email(spec) for spec in STAFF]
    existing = {user.email: user for user in User.objects.filter(email__in=emails)}
    password_hash = ""  # hashed once (PBKDF2 is slow on purpose), only if a user is missing
    users: dict[Role, User] = {}
    for spec in STAFF:
        email = demo_email(spec)
        user = existing.get(email)
        if user is None:
            password_hash = password_hash or make_password(DEMO_PASSWORD)
            user = User.objects.create(
                email=email, full_name=spec.full_name, credentials=spec.credentials, password=password_hash
            )
            report.add("users")
        _, created = Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": spec.role})
        report.add("memberships", int(created))
        users[spec.role] = user
        report.logins.append((spec.role.label, user.display_name, email))
    return users


def _actor(user: User, clinic: Clinic) -> Actor:
    membership = Membership.objects.select_related("user", "clinic").get(user=user, clinic=clinic)
    return Actor.from_membership(membership, None, via="cli")


def _patients(
    actor: Actor, count: int, seed: int, clinician_ids: list[int], region: Region, report: SeedReport
) -> None:
    """Register the first `count` synthetic patients of `seed` that the clinic does not have yet.

    A synthetic patient is known by its legal first and last name (unique within the seed); the
    stream of names does not depend on the date, so a later run finds the same ones.
    """
    existing = set(Patient.objects.filter(clinic=actor.clinic).values_list("first_name_key", "last_name_key"))
    today = timezone.localdate(timezone=actor.clinic.zone)
    generator = PatientGenerator(seed, today=today, clinician_ids=clinician_ids, region=region)
    for synthetic in generator.patients(count, unique_names=True):
        if synthetic.name_key in existing:
            continue
        create_patient(actor, synthetic.values, synthetic.contacts)
        report.add("patients")
        report.add("contacts", len(synthetic.contacts))


def _rems_certified(clinic: Clinic) -> None:
    """Both Bluestem locations are certified Spravato REMS outpatient settings (clinical.md §1.3)."""
    for n, location in enumerate(Location.objects.filter(clinic=clinic).order_by("name"), start=1):
        if location.spravato_rems_certified_on is None:
            location.spravato_rems_setting_id = f"SPR-IL-{6020 + n}"
            location.spravato_rems_certified_on = datetime.date(2025, 3, 3)
            location.save(update_fields=["spravato_rems_setting_id", "spravato_rems_certified_on"])


def seed_demo(patients: int = DEMO_PATIENTS, in_treatment: int = MBC_PATIENTS) -> SeedReport:
    """Create (or complete) the demo clinic and its small neighbour. Idempotent.

    Staff sign plans, witness waste and sign sessions with their passwords all through the demo;
    each password is checked once and the answer reused (`remembered_passwords`).
    """
    with remembered_passwords():
        return _seed_demo(patients, in_treatment)


@transaction.atomic
def _seed_demo(patients: int, in_treatment: int) -> SeedReport:
    clinic, clinic_created = _clinic(DEMO_CLINIC)
    other, other_created = _clinic(OTHER_CLINIC)
    report = SeedReport(clinic=clinic, other_clinic=other)
    report.add("clinics", int(clinic_created) + int(other_created))
    _locations(clinic, DEMO_LOCATIONS, report)
    _locations(other, OTHER_LOCATIONS, report)
    users = _staff(clinic, report)

    # The demo admin also runs the neighbouring clinic, so the clinic switcher shows.
    admin = users[Role.ADMIN]
    _, created = Membership.objects.get_or_create(user=admin, clinic=other, defaults={"role": Role.ADMIN})
    report.add("memberships", int(created))

    clinicians = sorted(user.pk for role, user in users.items() if role in CLINICIAN_ROLES)
    _patients(_actor(users[Role.FRONT_DESK], clinic), patients, DEMO_SEED, clinicians, CHICAGO, report)
    _patients(_actor(admin, other), OTHER_PATIENTS, DEMO_SEED + 1, [], DENVER, report)

    # Months of scores for the patients in treatment, entered by the clinicians who took them.
    actors = {role: _actor(users[role], clinic) for role in (Role.NURSE, Role.PRESCRIBER, Role.THERAPIST)}
    responses, alerts = seed_measures(clinic, actors, in_treatment)
    report.add("responses", responses)
    report.add("safety alerts", alerts)
    pathway_actors = {
        role: _actor(users[role], clinic) for role in (Role.ADMIN, Role.NURSE, Role.PRESCRIBER, Role.FRONT_DESK)
    }
    report.add(
        "patients given intake, screening, consent and plan records", seed_pathway(clinic, pathway_actors, in_treatment)
    )
    stock_actors = {
        role: _actor(users[role], clinic) for role in (Role.INVENTORY, Role.NURSE, Role.PRESCRIBER, Role.FRONT_DESK)
    }
    _rems_certified(clinic)
    entries = LedgerEntry.objects.filter(clinic=clinic)
    sessions = TreatmentSession.objects.filter(clinic=clinic)
    entries_before, sessions_before = entries.count(), sessions.count()
    seed_inventory(clinic, stock_actors)  # the plans' doses, each in a charted, signed session
    seed_today(clinic, stock_actors)
    report.add(
        "appointments (this week and the next two, at both locations)", seed_schedule(clinic, users, DEMO_EMAIL_DOMAIN)
    )
    report.add("controlled-substance ledger entries", entries.count() - entries_before)
    report.add("treatment sessions (past, in progress and expected today)", sessions.count() - sessions_before)
    report.care_patients = Response.objects.filter(clinic=clinic).values("patient").distinct().count()
    report.open_alerts = SafetyAlert.objects.filter(clinic=clinic, status=AlertStatus.OPEN).count()
    return report
