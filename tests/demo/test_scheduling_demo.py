"""The demo schedule: hours and staff, holidays, a busy fortnight booked through the real actions,
today's floor sessions on the calendar, and never two live holds of one chair or place at once."""

from __future__ import annotations

import datetime
import itertools
from collections import defaultdict

import pytest
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.demo.seed import DEMO_CLINIC
from ketacare.scheduling.models import Appointment, Closure, Hold, OpeningHours, StaffHours
from ketacare.sessions.models import TreatmentSession

pytestmark = pytest.mark.django_db


def test_the_schedule_is_busy_and_never_double_booked(seeded: str) -> None:
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    assert "appointments" in seeded
    assert OpeningHours.objects.filter(clinic=clinic).count() >= 11
    assert StaffHours.objects.filter(clinic=clinic).values("user").distinct().count() >= 6
    assert Closure.objects.filter(clinic=clinic, reason__startswith="Thanksgiving").exists()
    now = timezone.now()
    upcoming = Appointment.objects.filter(clinic=clinic, starts_at__gt=now, state="booked")
    assert upcoming.count() >= 30
    assert upcoming.filter(series__isnull=False).exists()
    assert {a.appointment_type.code for a in upcoming.select_related("appointment_type")} >= {
        "consultation",
        "integration",
    }
    assert upcoming.filter(session__isnull=False, escort_confirmed_at__isnull=True).exists()  # flagged
    holds: dict[str, list[tuple[datetime.datetime, datetime.datetime]]] = defaultdict(list)
    for h in Hold.objects.filter(clinic=clinic, released_at__isnull=True):
        holds[h.key].append((h.starts_at, h.ends_at))
    for key, spans in holds.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"{key} is double-booked at {start}"


def test_todays_floor_is_on_the_calendar(seeded: str) -> None:
    clinic = Clinic.objects.get(slug=DEMO_CLINIC["slug"])
    midnight = datetime.datetime.combine(
        timezone.localdate(timezone=clinic.zone), datetime.time.min, tzinfo=clinic.zone
    )
    sessions = TreatmentSession.objects.filter(
        clinic=clinic, scheduled_at__gte=midnight, scheduled_at__lt=midnight + datetime.timedelta(days=1)
    ).exclude(state="cancelled")
    assert sessions.exists()
    for session in sessions:
        appointment = Appointment.objects.get(session=session)
        assert appointment.chair_id is not None
        assert appointment.location_id == session.location_id
