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
from ketacare.measures import rules
from ketacare.measures.actions import escalate_overdue_alerts
from ketacare.measures.definitions import get_instrument
from ketacare.measures.models import AlertNotification, AlertStatus, Response, SafetyAlert
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


def test_seed_demo_creates_a_member_per_role_rooms_and_patients(seeded: str) -> None:
    output = seeded

    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    assert clinic.time_zone == "America/Chicago"
    assert not clinic.require_mfa
    assert clinic.phone
    assert clinic.address_line1
    members = list(Membership.objects.filter(clinic=clinic).select_related("user"))
    logins = [m for m in members if m.user.has_usable_password()]
    assert sorted(m.role for m in logins) == sorted(Role.values)  # exactly one login per role
    for membership in logins:
        user = membership.user
        assert user.email == f"{user.email.split('@')[0]}@demo.ketacare.test"
        assert user.email in output
        assert check_password(DEMO_PASSWORD, user.password)
    # The rest of the staff are on the schedule (nurses, a second prescriber) and cannot sign in.
    others = [m for m in members if not m.user.has_usable_password()]
    assert {m.role for m in others} <= {Role.NURSE, Role.PRESCRIBER}
    assert all(m.user.email not in output for m in others)
    prescriber = next(m for m in logins if m.role == Role.PRESCRIBER)
    assert prescriber.user.credentials == "MD"

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


def test_every_seeded_patient_is_valid_and_synthetic(seeded: str) -> None:
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


def test_second_run_changes_nothing(seeded: str) -> None:
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


def _latest_vs_baseline(code: str) -> dict[int, tuple[int, int]]:
    """Patient id -> (first total, latest total) for one instrument."""
    series: dict[int, list[int]] = {}
    for patient_id, total in (
        Response.objects.filter(instrument_code=code, valid=True)
        .order_by("completed_at", "pk")
        .values_list("patient_id", "total")
    ):
        series.setdefault(patient_id, []).append(total)
    return {pid: (totals[0], totals[-1]) for pid, totals in series.items() if len(totals) > 1}


def test_seed_demo_gives_months_of_scores_with_responders_remitters_and_one_open_alert(seeded: str) -> None:
    output = seeded
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    now = timezone.now()

    responses = Response.objects.filter(clinic=clinic)
    assert responses.values("patient").distinct().count() >= 20
    assert not responses.filter(completed_at__gt=now).exists()
    assert responses.filter(valid=True).count() == responses.count()
    codes = set(responses.values_list("instrument_code", flat=True))
    assert {"phq9", "gad7", "qids_sr16", "pcl5", "madrs", "cadss"} <= codes
    # Entered from the command line by clinicians, never by the front desk.
    events = AuditEvent.objects.filter(event_type="response.created", clinic=clinic)
    assert events.count() == responses.count()
    assert set(events.values_list("via", flat=True)) == {"cli"}
    for response in responses.select_related("entered_by"):
        role = Membership.objects.get(user=response.entered_by, clinic=clinic).role
        assert role in CLINICIAN_ROLES
    # Months: some histories reach back more than two months, with maintenance visits.
    first = responses.order_by("completed_at").first()
    assert first is not None
    assert now - first.completed_at > datetime.timedelta(days=60)

    # Every stored score is the real scorer's.
    for response in responses:
        score = rules.score(get_instrument(response.instrument_code), response.answers)
        assert score.total == response.total

    # Outcomes by the instrument's own definitions.
    phq9 = get_instrument("phq9")
    response_def = next(d for d in phq9.outcome_definitions if d.kind == "response")
    remission_def = next(d for d in phq9.outcome_definitions if d.kind == "remission")
    pairs = _latest_vs_baseline("phq9")
    assert len(pairs) >= 20
    responders = [pid for pid, (base, last) in pairs.items() if rules.is_response(base, last, response_def)]
    remitters = [pid for pid, (_, last) in pairs.items() if rules.is_remission(last, remission_def)]
    non_responders = [pid for pid, (base, last) in pairs.items() if (base - last) * 4 < base]  # < 25 % drop
    assert len(responders) >= 5
    assert len(remitters) >= 3
    assert len(non_responders) >= 2
    assert len(responders) < len(pairs)

    # Safety: exactly one open alert (the latest PHQ-9 of its patient, a few days ago, item 9 = 1)
    # and one closed with a documented action; no other response endorses a safety item.
    open_alert = SafetyAlert.objects.get(clinic=clinic, status=AlertStatus.OPEN)
    assert open_alert.acknowledged_at is None
    latest = Response.objects.filter(patient=open_alert.patient, instrument_code="phq9").latest("completed_at")
    assert latest == open_alert.response
    assert latest.answers["9"] == 1
    assert datetime.timedelta(days=1) < now - latest.completed_at < datetime.timedelta(days=8)
    closed = SafetyAlert.objects.get(clinic=clinic, status=AlertStatus.CLOSED)
    assert closed.patient_id != open_alert.patient_id
    assert "safety plan" in closed.action_taken.lower()
    assert closed.acknowledged_at is not None
    assert closed.closed_by is not None
    assert closed.action_at is not None
    assert closed.raised_at <= closed.action_at <= closed.closed_at < now - datetime.timedelta(days=14)
    assert not AlertNotification.objects.filter(alert=closed, sent_at__isnull=True).exists()
    assert SafetyAlert.objects.count() == 2
    endorsed = [
        r
        for r in Response.objects.filter(instrument_code__in=["phq9", "qids_sr16", "madrs"])
        if r.answers.get({"phq9": "9", "qids_sr16": "12", "madrs": "10"}[r.instrument_code], 0)
    ]
    assert sorted(r.pk for r in endorsed) == sorted([open_alert.response_id, closed.response_id])
    assert AuditEvent.objects.filter(event_type="safety_alert.closed", subject_id=str(closed.pk)).exists()
    # The sweep leaves the closed alert alone.
    escalate_overdue_alerts(now)
    closed.refresh_from_db()
    assert closed.escalation_level == 0

    assert f"added {responses.count()} responses and 2 safety alerts" in output


def test_second_run_adds_no_scores_or_alerts(seeded: str) -> None:
    before = (Response.objects.count(), SafetyAlert.objects.count(), AlertNotification.objects.count())
    output = seed()
    assert (Response.objects.count(), SafetyAlert.objects.count(), AlertNotification.objects.count()) == before
    assert "added 0 responses and 0 safety alerts" in output


def test_seed_demo_puts_patients_at_each_stage_before_treatment(seeded: str) -> None:
    from ketacare.consents.queries import missing_consents
    from ketacare.eligibility.models import EligibilityDecision
    from ketacare.eligibility.queries import eligibility_for_plan
    from ketacare.plans.models import TreatmentPlan
    from ketacare.protocols.models import ClinicProtocolVersion
    from ketacare.screening.models import Intake

    # given / when
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])

    # then: the clinic's IV and Spravato protocols are published, with every clinic value set
    published = ClinicProtocolVersion.objects.filter(clinic=clinic, status="published")
    assert {v.clinic_protocol.based_on_code for v in published} == {"iv_racemic_ketamine", "spravato_trd"}
    assert all(v.protocol.ready_for_use for v in published)
    # intake pending (link sent), submitted awaiting review, and reviewed
    statuses = set(Intake.objects.filter(clinic=clinic).values_list("status", flat=True))
    assert statuses == {"sent", "submitted", "reviewed"}
    # screened with a caution and decided eligible with precautions; not eligible; flagged for review
    current = EligibilityDecision.objects.filter(clinic=clinic, is_current=True)
    assert current.filter(decision="eligible_with_precautions").exclude(precautions="").exists()
    assert current.filter(decision="not_eligible").exclude(reason="").exists()
    assert current.filter(needs_review=True).count() == 1
    # every signed plan passes the gates it was signed through, and its dose came from a dated weight
    signed = TreatmentPlan.objects.filter(clinic=clinic, status="signed").select_related("patient")
    assert signed.filter(route="iv").exists()
    assert signed.filter(route="intranasal_esketamine").exists()
    for plan in signed:
        assert eligibility_for_plan(plan.patient, plan.route).ok, plan.patient
        assert missing_consents(plan.patient, plan.route) == [], plan.patient
        assert plan.signed_by is not None
        assert plan.dose_final_mg is not None
        assert plan.route != "iv" or (plan.weight_kg is not None and plan.weighed_on is not None)
    # the care pathway happened before the first session, not on the day the demo was made
    assert signed.filter(signed_at__date__lt=timezone.now().date() - datetime.timedelta(days=30)).exists()
    assert signed.filter(first_session_on__gt=timezone.localdate(timezone=clinic.zone)).exists()
