"""Fixtures for scheduling tests: Harbor Light's Main Street open Monday to Friday 08:00-18:00
(America/Chicago) with three chairs and a consulting room; Ben (nurse), Ada (prescriber) and Tess
(therapist) working there 08:00-18:00 on weekdays; two patients per nurse; the default appointment
types; signed IV and Spravato plans.

`clock` starts at Monday 2026-11-23 07:00 Chicago (13:00 UTC) and stands still; move it with
`clock.shift(...)`. `at(day, "09:00")` is a local time that week (day 0 = Monday 23 November).
"""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from ketacare.clinics.models import Location, Resource
from ketacare.plans import actions as plan_actions
from ketacare.plans.models import TreatmentPlan
from ketacare.scheduling.defaults import ensure_default_types
from ketacare.scheduling.models import AppointmentType, OpeningHours, StaffHours, settings_for
from tests.conftest import PASSWORD
from tests.plans.conftest import Gate, iv_version, spravato_version  # noqa: F401

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
MONDAY = datetime.date(2026, 11, 23)
START = datetime.datetime(2026, 11, 23, 7, 0, tzinfo=CHICAGO)
__all__ = ["CHICAGO", "MONDAY", "PASSWORD", "START", "at"]


def at(day: int, hhmm: str) -> datetime.datetime:
    """Local time on MONDAY + day (e.g. at(1, "09:30") is Tuesday 09:30 Chicago)."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime.datetime.combine(MONDAY + datetime.timedelta(days=day), datetime.time(hour, minute), tzinfo=CHICAGO)


@pytest.fixture(autouse=True)
def clock() -> Any:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    g = Gate()
    monkeypatch.setattr("ketacare.plans.actions.eligibility_for_plan", g.eligibility)
    monkeypatch.setattr("ketacare.plans.actions.missing_consents", g.consents)
    return g


@pytest.fixture
def main_street(clinic: Any) -> Location:
    location = Location.objects.get(clinic=clinic, name="Main Street")
    location.spravato_rems_setting_id = "RS-100200"
    location.spravato_rems_certified_on = datetime.date(2026, 1, 5)
    location.save()
    return location


@pytest.fixture
def floor(clinic: Any, main_street: Location, personas: dict[str, Any]) -> dict[str, Any]:
    """Opening and staff hours, three chairs and a room, the default types; returns what tests use."""
    for weekday in range(5):
        OpeningHours.objects.create(
            clinic=clinic, location=main_street, weekday=weekday, opens=datetime.time(8), closes=datetime.time(18)
        )
        for key in ("ben", "ada", "tess"):
            StaffHours.objects.create(
                clinic=clinic,
                user=personas[key],
                location=main_street,
                weekday=weekday,
                starts=datetime.time(8),
                ends=datetime.time(18),
            )
    chairs = [Resource.objects.get(clinic=clinic, location=main_street, name="Chair 1")]
    for name in ("Chair 2", "Chair 3"):
        chairs.append(Resource.objects.create(clinic=clinic, location=main_street, kind=Resource.Kind.CHAIR, name=name))
    room = Resource.objects.create(clinic=clinic, location=main_street, kind=Resource.Kind.ROOM, name="Room A")
    settings_for(clinic)
    ensure_default_types(clinic)
    types = {t.code: t for t in AppointmentType.objects.filter(clinic=clinic)}
    return {"location": main_street, "chairs": chairs, "room": room, "types": types}


@pytest.fixture
def iv_type(floor: dict[str, Any]) -> AppointmentType:
    return floor["types"]["iv-infusion"]


@pytest.fixture
def weighed(patient: Any, actors: dict[str, Any]) -> Any:
    plan_actions.record_weight(actors["ben"], patient, Decimal("82.4"), MONDAY - datetime.timedelta(days=2))
    return patient


def signed_plan(
    actors: dict[str, Any], patient: Any, version: Any, first: datetime.date = MONDAY, **extra: Any
) -> TreatmentPlan:
    plan = plan_actions.create_plan(
        actors["ada"], patient, protocol_version_id=version.pk, first_session_on=first, **extra
    )
    return plan_actions.sign_plan(actors["ada"], plan, PASSWORD)


@pytest.fixture
def iv_plan(actors: dict[str, Any], weighed: Any, iv_version: Any, gate: Gate) -> TreatmentPlan:  # noqa: F811
    """Signed IV plan: six infusions, at least 48 hours apart, within 21 days; 30 minutes' observation."""
    return signed_plan(actors, weighed, iv_version)


@pytest.fixture
def spravato_plan(actors: dict[str, Any], make_patient: Any, spravato_version: Any, gate: Gate) -> TreatmentPlan:  # noqa: F811
    patient = make_patient(legal_first_name="Sam", legal_last_name="Reyes")
    return signed_plan(actors, patient, spravato_version, selected_mg=Decimal("56"))
