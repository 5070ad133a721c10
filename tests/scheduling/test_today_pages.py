"""Today's list for the front desk (issue #8): the day's visits in time order, check in (which opens a
dosing visit's treatment session), escort, no-show after the grace, cancel; query count pinned."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.scheduling import booking
from ketacare.scheduling.models import Appointment, AppointmentReply
from tests.scheduling.conftest import at

TODAY = "/schedule/today/"
TOKEN = "33333333-3333-4333-8333-333333333333"


def book_iv(actors: Any, floor: Any, plan: Any, hhmm: str = "09:00", day: int = 0) -> Appointment:
    return booking.book_visit(
        actors["cy"],
        patient=plan.patient,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        starts_at=at(day, hhmm),
        plan=plan,
    )


def book_tele(actors: Any, floor: Any, patient: Any, hhmm: str, day: int = 0) -> Appointment:
    return booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=floor["types"]["telehealth"],
        location=floor["location"],
        starts_at=at(day, hhmm),
    )


def test_today_lists_the_visits_in_time_order(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    iv = book_iv(actors, floor, iv_plan, "10:00")
    tele = book_tele(actors, floor, iv_plan.patient, "08:00")
    book_tele(actors, floor, iv_plan.patient, "08:00", day=1)  # tomorrow: not listed
    AppointmentReply.objects.create(clinic=tele.clinic, appointment=tele, reply="confirm", channel="sms")
    page = client_for("cy").get(TODAY)
    assert page.status_code == 200
    text = page.content.decode()
    assert text.index(f'data-testid="appt-{tele.pk}"') < text.index(f'data-testid="appt-{iv.pk}"')
    assert text.count('class="kc-sched-row') == 2
    assert "Avery, Jordan" in text
    assert iv_plan.patient.mrn in text
    assert "held until 11:30" in text  # 60 minutes' visit, 30 minutes' recovery
    assert "Booked: escort not confirmed" in text
    assert "Patient replied “confirmed”" in text
    assert "Chair 1" in text
    assert "Ben Novak" in text
    assert AuditEvent.objects.filter(event_type="appointment.day_viewed").count() == 1


def test_check_in_opens_the_session_and_links_to_it(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visit = book_iv(actors, floor, iv_plan)
    cy = client_for("cy")
    response = cy.post(f"/schedule/appointments/{visit.pk}/check-in/", {"form_token": TOKEN, "next": "today"})
    assert response.status_code == 302
    assert response["Location"] == f"{TODAY}?location={floor['location'].pk}"
    visit.refresh_from_db()
    assert visit.state == "checked_in"
    assert visit.session is not None
    assert visit.session.state == "checked_in"
    page = cy.get(response["Location"]).content.decode()
    assert "Checked in: the treatment session is open." in page
    assert f'href="/sessions/board/?location={floor["location"].pk}"' in page  # the front desk: the floor board


def test_nurse_check_in_links_to_the_chairside_page(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visit = book_iv(actors, floor, iv_plan)
    ben = client_for("ben")
    response = ben.post(f"/schedule/appointments/{visit.pk}/check-in/", {"form_token": TOKEN, "next": "today"})
    visit.refresh_from_db()
    page = ben.get(response["Location"]).content.decode()
    assert f'href="/sessions/{visit.session_id}/"' in page


def test_escort_confirmed_from_the_list(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visit = book_iv(actors, floor, iv_plan)
    cy = client_for("cy")
    url = f"/schedule/appointments/{visit.pk}/escort/"
    bad = cy.post(url, {"form_token": TOKEN, "next": "today", "escort_name": "Lee Avery", "escort_phone": "12"})
    assert bad.status_code == 422
    assert "at least 7 digits" in bad.content.decode()
    assert 'value="Lee Avery"' in bad.content.decode()  # what was typed is kept
    good = cy.post(
        url, {"form_token": TOKEN, "next": "today", "escort_name": "Lee Avery", "escort_phone": "(312) 555-0199"}
    )
    assert good.status_code == 302
    visit.refresh_from_db()
    assert visit.escort_confirmed
    page = cy.get(TODAY).content.decode()
    assert f'data-testid="status-{visit.pk}">Confirmed<' in page


def test_no_show_only_after_the_grace(client_for: Any, floor: Any, iv_plan: Any, actors: Any, clock: Any) -> None:
    visit = book_iv(actors, floor, iv_plan, "08:00")
    cy = client_for("cy")
    url = f"/schedule/appointments/{visit.pk}/no-show/"
    page = cy.get(TODAY).content.decode()
    assert "No-show from 08:30" in page
    early = cy.post(url, {"form_token": TOKEN, "next": "today"})
    assert early.status_code == 422
    assert "Wait 91 more minutes before marking a no-show." in early.content.decode()
    visit.refresh_from_db()
    assert visit.state == "booked"
    clock.shift(datetime.timedelta(minutes=90))  # 08:30
    cy = client_for("cy")  # signed in again: 90 minutes is past the idle timeout
    assert f'data-testid="no-show-{visit.pk}"' in cy.get(TODAY).content.decode()
    late = cy.post(url, {"form_token": TOKEN, "next": "today"})
    assert late.status_code == 302
    visit.refresh_from_db()
    assert visit.state == "no_show"
    assert visit.session is not None
    assert visit.session.state == "cancelled"


def test_cancel_needs_a_reason_says_late_and_frees_the_place(
    client_for: Any, floor: Any, patient: Any, actors: Any
) -> None:
    visit = book_tele(actors, floor, patient, "08:00")
    cy = client_for("cy")
    page = cy.get(TODAY).content.decode()
    assert "this counts as a late cancellation" in page
    url = f"/schedule/appointments/{visit.pk}/cancel/"
    refused = cy.post(url, {"form_token": TOKEN, "next": "today", "reason": "  "})
    assert refused.status_code == 422
    assert "Say why the visit is cancelled." in refused.content.decode()
    done = cy.post(url, {"form_token": TOKEN, "next": "today", "reason": "Unwell", "by_patient": "on"})
    assert done.status_code == 302
    visit.refresh_from_db()
    assert visit.state == "cancelled"
    assert visit.late_cancel
    assert visit.cancelled_by_patient
    assert "It counts as a late cancellation." in cy.get(done["Location"]).content.decode()
    assert "Late cancellation" in cy.get(TODAY).content.decode()
    # The same time is proposed again.
    again = cy.get(
        "/schedule/book/",
        {
            "patient": patient.pk,
            "appointment_type": floor["types"]["telehealth"].pk,
            "location": floor["location"].pk,
            "after": "2026-11-23",
        },
    )
    assert f'value="{at(0, "08:00").isoformat()}|' in again.content.decode()


def test_today_query_count_is_the_same_for_1_and_20_rows(
    client_for: Any, floor: Any, patient: Any, actors: Any, make_patient: Any, django_assert_num_queries: Any
) -> None:
    """Session, user, membership, two-factor device, locations, visits, replies, the audit row, the
    clinic's settings, and the session's save (3): 12 whatever the number of rows."""
    cy = client_for("cy")
    book_tele(actors, floor, patient, "08:00")
    cy.get(TODAY)  # warm the session
    with django_assert_num_queries(12):
        assert cy.get(TODAY).status_code == 200
    for n in range(1, 20):
        visit = book_tele(actors, floor, make_patient(legal_first_name=f"P{n}"), f"{8 + n // 2:02d}:{30 * (n % 2):02d}")
        AppointmentReply.objects.create(clinic=visit.clinic, appointment=visit, reply="confirm", channel="link")
    with django_assert_num_queries(12):
        page = cy.get(TODAY)
    assert page.content.decode().count('class="kc-sched-row') == 20


def test_schedule_in_the_navigation(client_for: Any, floor: Any, iv_plan: Any) -> None:
    page = client_for("cy").get(TODAY).content.decode()
    assert re.search(
        r'class="nav-link active" aria-current="page" href="/schedule/today/" data-testid="schedule-nav"', page
    )
    assert 'data-testid="schedule-nav"' in client_for("aud").get(TODAY).content.decode()
    assert 'data-testid="schedule-nav"' not in client_for("ivy").get("/inventory/").content.decode()
    got = client_for("cy").get(reverse("sessions-today"))
    sessions = got.content.decode()
    assert got.status_code == 200, got
    assert 'data-testid="book-in-schedule"' in sessions
    assert 'href="/schedule/book/"' in sessions
    assert 'data-testid="book"' not in sessions  # booking is the schedule's alone
