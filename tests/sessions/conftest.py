"""Fixtures for treatment-session tests: a clock, signed IV and Spravato plans, sessions booked from
them in Chair 1 at Main Street, and the controlled-substance lots the doses are drawn from.

The clinic is Harbor Light (America/Chicago). `clock` starts at 2026-11-24 09:00 Chicago (15:00 UTC)
and stands still; move it with `clock.shift(datetime.timedelta(minutes=40))` or `advance(clock, 40)`.
Eligibility and consent answers for plan signing come from the plans tests' `Gate` stand-in; the
pre-dose checks of sessions ask the real queries, which tests may monkeypatch the same way.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from ketacare.clinics.models import Resource
from ketacare.inventory.models import Lot
from ketacare.plans import actions as plan_actions
from ketacare.plans.models import TreatmentPlan
from ketacare.sessions import core
from ketacare.sessions.models import TreatmentSession
from tests.conftest import PASSWORD
from tests.inventory.conftest import dee_nurse, ketamine_50, location, receive, second_location, spravato  # noqa: F401
from tests.plans.conftest import Gate, iv_version, spravato_version, weighed  # noqa: F401

START = datetime.datetime(2026, 11, 24, 15, 0, tzinfo=datetime.UTC)  # 09:00 in Chicago
TODAY = datetime.date(2026, 11, 24)
__all__ = ["PASSWORD", "START", "TODAY", "advance"]


@pytest.fixture
def dee_prescriber(personas: dict[str, Any], other_clinic: Any) -> Any:
    """Dee is a prescriber at Northside: she holds every session permission, only elsewhere (→ 404 here)."""
    from ketacare.accounts.models import Membership
    from ketacare.accounts.roles import Role
    from tests.conftest import actor_for

    Membership.objects.filter(user=personas["dee"], clinic=other_clinic).update(role=Role.PRESCRIBER)
    return actor_for(personas["dee"])


def advance(clock: Any, minutes: float) -> None:
    clock.shift(datetime.timedelta(minutes=minutes))


@pytest.fixture(autouse=True)
def clock() -> Any:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    """Plan signing's eligibility and consent answers (see tests/plans/conftest.py)."""
    g = Gate()
    monkeypatch.setattr("ketacare.plans.actions.eligibility_for_plan", g.eligibility)
    monkeypatch.setattr("ketacare.plans.actions.missing_consents", g.consents)
    return g


@pytest.fixture
def chair(clinic: Any, location: Any) -> Resource:  # noqa: F811
    return Resource.objects.get(clinic=clinic, location=location, name="Chair 1")


@pytest.fixture
def chair2(clinic: Any, location: Any) -> Resource:  # noqa: F811
    return Resource.objects.create(clinic=clinic, location=location, kind=Resource.Kind.CHAIR, name="Chair 2")


def _signed(actors: dict[str, Any], patient: Any, version: Any, **extra: Any) -> TreatmentPlan:
    plan = plan_actions.create_plan(
        actors["ada"], patient, protocol_version_id=version.pk, first_session_on=TODAY, **extra
    )
    return plan_actions.sign_plan(actors["ada"], plan, PASSWORD)


@pytest.fixture
def iv_plan(actors: dict[str, Any], weighed: Any, iv_version: Any, gate: Gate) -> TreatmentPlan:  # noqa: F811
    """Signed: IV ketamine 0.5 mg/kg × 82.4 kg → 40 mg, six sessions from today."""
    return _signed(actors, weighed, iv_version)


@pytest.fixture
def spravato_patient(make_patient: Any) -> Any:
    return make_patient(legal_first_name="Sam", legal_last_name="Reyes")


@pytest.fixture
def spravato_plan(actors: dict[str, Any], spravato_patient: Any, spravato_version: Any, gate: Gate) -> TreatmentPlan:  # noqa: F811
    """Signed: Spravato TRD, 56 mg on day 1 (two 28 mg devices)."""
    return _signed(actors, spravato_patient, spravato_version, selected_mg=Decimal("56"))


@pytest.fixture
def iv_session(actors: dict[str, Any], iv_plan: TreatmentPlan, chair: Resource, location: Any) -> TreatmentSession:  # noqa: F811
    """Session 1 of the IV plan, booked for 09:00 today in Chair 1 (scheduled, not yet checked in)."""
    return core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START, location=location, chair=chair)


@pytest.fixture
def spravato_session(
    actors: dict[str, Any],
    spravato_plan: TreatmentPlan,
    chair2: Resource,
    location: Any,  # noqa: F811
) -> TreatmentSession:
    return core.create_from_plan(actors["cy"], spravato_plan, scheduled_at=START, location=location, chair=chair2)


@pytest.fixture
def ketamine_lot(actors: dict[str, Any], location: Any, ketamine_50: Any) -> Lot:  # noqa: F811
    """Lot KX1001: 3 sealed 10 mL vials of ketamine 50 mg/mL at Main Street."""
    return receive(actors["ivy"], location, ketamine_50, packages=3).lot


@pytest.fixture
def spravato_lot(actors: dict[str, Any], location: Any, spravato: Any) -> Lot:  # noqa: F811
    """Lot SP2001: 4 kits of two 28 mg devices (8 devices) at Main Street."""
    return receive(actors["ivy"], location, spravato, lot_number="SP2001", packages=4).lot
