"""In a real browser (Debian's Chromium) on a tablet: the front desk books a six-infusion induction
from a signed plan, confirms the escort, sees the visits on the chair calendar, checks the patient in
on the day, and the treatment session opens (issue #8).

The server's clock is frozen with time-machine (the live server runs in this process) at Monday
23 November 2026, 07:00 in Chicago, so the first proposal is 08:00 the same morning.
"""

from __future__ import annotations

import datetime
import itertools
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import time_machine

from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.consents.queries import MissingConsent
from ketacare.eligibility.queries import EligibilityCheck
from ketacare.plans import actions as plan_actions
from ketacare.plans.models import TreatmentPlan
from ketacare.scheduling.defaults import ensure_default_types
from ketacare.scheduling.models import Appointment, OpeningHours, StaffHours
from ketacare.sessions.models import TreatmentSession
from tests.browser.checks import check_page
from tests.conftest import PASSWORD
from tests.plans.conftest import publish
from tests.protocols.clinic_values import IV_CLINIC_VALUES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
START = datetime.datetime(2026, 11, 23, 7, 0, tzinfo=CHICAGO)  # Monday, before opening


def _eligible(patient: Any, route: str) -> EligibilityCheck:
    return EligibilityCheck(ok=True, message="", decision_id=1)


def _consented(patient: Any, route: str) -> list[MissingConsent]:
    return []


@pytest.fixture
def signed_plan(
    actors: dict[str, Any], clinic: Clinic, personas: dict[str, Any], make_patient: Any, monkeypatch: pytest.MonkeyPatch
) -> TreatmentPlan:
    """Main Street open 08:00-18:00 on weekdays with three chairs, Ben and Ada working; a signed IV
    plan of six infusions, at least 48 hours apart within 21 days, 30 minutes' observation."""
    for target in ("plans.actions", "sessions.checks"):
        monkeypatch.setattr(f"ketacare.{target}.eligibility_for_plan", _eligible)
        monkeypatch.setattr(f"ketacare.{target}.missing_consents", _consented)
    location = Location.objects.get(clinic=clinic, name="Main Street")
    for name in ("Chair 2", "Chair 3"):
        Resource.objects.create(clinic=clinic, location=location, kind=Resource.Kind.CHAIR, name=name)
    for weekday in range(5):
        OpeningHours.objects.create(
            clinic=clinic, location=location, weekday=weekday, opens=datetime.time(8), closes=datetime.time(18)
        )
        for key in ("ben", "ada"):
            StaffHours.objects.create(
                clinic=clinic,
                user=personas[key],
                location=location,
                weekday=weekday,
                starts=datetime.time(8),
                ends=datetime.time(18),
            )
    ensure_default_types(clinic)
    with time_machine.travel(START - datetime.timedelta(days=3), tick=False):  # signed last Friday
        patient = make_patient(legal_first_name="Rosa", legal_last_name="Delgado", sex_at_birth="male")
        version = publish(actors, "iv_racemic_ketamine", IV_CLINIC_VALUES)
        plan_actions.record_weight(actors["ben"], patient, Decimal("82.4"), datetime.date(2026, 11, 20))
        plan = plan_actions.create_plan(
            actors["ada"], patient, protocol_version_id=version.pk, first_session_on=datetime.date(2026, 11, 23)
        )
        return plan_actions.sign_plan(actors["ada"], plan, PASSWORD)


def test_book_a_series_confirm_the_escort_see_it_and_check_in(
    new_page: Callable[[], Any],
    login_as: Callable[[Any, str], None],
    signed_plan: TreatmentPlan,
    settings: Any,
) -> None:
    from playwright.sync_api import expect

    settings.SESSION_COOKIE_AGE = 6 * 3600  # the clock moves on between steps
    plan = signed_plan
    patient = plan.patient
    with time_machine.travel(START, tick=True) as clock:
        # The front desk opens the patient's schedule and books the plan's series.
        desk = new_page()
        login_as(desk, "cy")
        desk.goto(f"/schedule/patients/{patient.pk}/")
        desk.get_by_test_id(f"book-series-{plan.pk}").click()
        expect(desk.get_by_test_id("visits-left")).to_contain_text("6 of 6")
        desk.get_by_test_id("show-series").click()
        table = desk.get_by_test_id("series-table")
        expect(table).to_be_visible()
        first_line = table.locator("tbody tr").first
        expect(first_line).to_contain_text("Mon 23 Nov")
        expect(first_line).to_contain_text("08:00")
        check_page(desk, "schedule series proposals")
        desk.get_by_test_id("series-1").check()
        desk.get_by_test_id("book-series").click()

        # All six are booked, each with its treatment session, at least 48 hours apart.
        expect(desk.locator(".alert-success, .messages, [role=status]").first).to_contain_text("6")
        visits = list(Appointment.objects.filter(patient=patient).order_by("starts_at"))
        assert len(visits) == 6
        assert [v.session.sequence for v in visits] == [1, 2, 3, 4, 5, 6]
        starts = [v.starts_at for v in visits]
        assert all(b - a >= datetime.timedelta(hours=48) for a, b in itertools.pairwise(starts))
        first = visits[0]
        assert desk.url.endswith(f"/schedule/appointments/{first.pk}/")

        # The escort is confirmed for the whole series.
        escort = desk.get_by_test_id("escort-section")
        expect(escort).to_contain_text("Not confirmed")
        escort.get_by_label("Escort or driver").fill("Jordan Ellis")
        escort.get_by_label("Their phone").fill("(312) 555-0142")
        whole = escort.get_by_role("checkbox")
        if whole.count():
            whole.check()
        desk.get_by_test_id("escort-save").click()
        expect(desk.get_by_test_id("escort-section")).to_contain_text("Jordan Ellis")
        expect(desk.get_by_test_id("escort-section")).to_contain_text("Confirmed")
        assert all(v.escort_confirmed for v in Appointment.objects.filter(patient=patient))
        check_page(desk, "schedule appointment booked")

        # The chair calendar shows the visits: this week's three in the week view, Monday's in the day.
        desk.goto(f"/schedule/calendar/?location={first.location_id}&date=2026-11-23&view=week")
        for visit in visits[:3]:
            expect(desk.get_by_test_id(f"bar-{visit.pk}")).to_be_visible()
        check_page(desk, "schedule week calendar")
        desk.goto(f"/schedule/calendar/?location={first.location_id}&date=2026-11-23&view=day")
        block = desk.get_by_test_id(f"block-{first.pk}")
        expect(block).to_contain_text("Delgado")
        expect(block).to_contain_text("Confirmed")
        check_page(desk, "schedule day calendar")

        # On the day, at 07:50, the front desk checks Rosa in: the treatment session opens.
        clock.move_to(datetime.datetime(2026, 11, 23, 7, 50, tzinfo=CHICAGO))
        desk.goto(f"/schedule/today/?location={first.location_id}")
        row = desk.get_by_test_id(f"appt-{first.pk}")
        expect(row).to_contain_text("Delgado")
        check_page(desk, "schedule today front desk")
        desk.get_by_test_id(f"check-in-{first.pk}").click()
        expect(desk.get_by_test_id(f"status-{first.pk}")).to_contain_text("Checked in")
        session = TreatmentSession.objects.get(pk=first.session_id)
        assert session.state == "checked_in"
        assert session.chair_id == first.chair_id
        assert (session.escort_name, session.escort_phone) == ("Jordan Ellis", "(312) 555-0142")

        # The floor board shows her in her chair, and the nurse's chairside page is open for checks.
        desk.goto(f"/sessions/board/?location={first.location_id}")
        expect(desk.get_by_test_id(f"tile-chair-{first.chair_id}")).to_contain_text("Delgado, Rosa")
        expect(desk.get_by_test_id(f"tile-chair-{first.chair_id}")).to_contain_text("Checked in")
        nurse = new_page()
        login_as(nurse, "ben")
        nurse.goto(f"/sessions/{session.pk}/")
        expect(nurse.locator("main")).to_contain_text("Checked in")
        expect(nurse.locator("main")).to_contain_text("Delgado")
