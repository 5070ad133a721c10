"""One appointment's page (issue #8): what, when, where, who; its series; the session; the escort; the
messages and replies; check in, move, cancel, no-show, each with its refusal on the field."""

from __future__ import annotations

import datetime
import re
from typing import Any

from ketacare.audit.models import AuditEvent
from ketacare.scheduling import booking
from ketacare.scheduling.models import Appointment, AppointmentReply, Series
from tests.scheduling.conftest import at

TOKEN = "44444444-4444-4444-8444-444444444444"
SERIES_DAYS = [0, 2, 4, 7, 9, 11]  # Mon, Wed, Fri, Mon, Wed, Fri: 48 hours apart, within 21 days


def url(visit: Appointment, action: str = "") -> str:
    return f"/schedule/appointments/{visit.pk}/" + (f"{action}/" if action else "")


def book_series(actors: Any, floor: Any, plan: Any) -> list[Appointment]:
    series = booking.book_series(
        actors["cy"],
        plan=plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        starts=[at(day, "08:00") for day in SERIES_DAYS],
    )
    return list(Series.objects.get(pk=series.pk).appointments.order_by("starts_at"))


def test_the_page_shows_the_visit_its_series_and_session(
    client_for: Any, floor: Any, iv_plan: Any, actors: Any
) -> None:
    visits = book_series(actors, floor, iv_plan)
    third = visits[2]
    AppointmentReply.objects.create(clinic=third.clinic, appointment=third, reply="cancel", channel="sms")
    ben = client_for("ben")
    page = ben.get(url(third))
    assert page.status_code == 200
    text = page.content.decode()
    assert "IV ketamine infusion · Fri 27 Nov 2026 08:00" in text
    assert "Visit 3 of 6" in text
    assert "08:00–09:00" in text
    assert "30 minutes, until 09:30" in text
    assert "Chair 1" in text
    assert "Ben Novak" in text
    assert f'href="/patients/{iv_plan.patient.pk}/"' in text
    assert f'href="/sessions/{third.session_id}/"' in text
    for other in visits:
        if other.pk != third.pk:
            assert f'href="/schedule/appointments/{other.pk}/"' in text
    assert "“Asked to cancel”" in text
    assert "Booked: escort not confirmed" in text
    assert 'data-testid="check-in"' not in text  # not today
    assert AuditEvent.objects.filter(event_type="appointment.viewed", subject_id=str(third.pk)).count() == 1
    # The front desk does not see the chart, so no chairside link; the auditor sees no buttons.
    assert f'href="/sessions/{third.session_id}/"' not in client_for("cy").get(url(third)).content.decode()
    aud = client_for("aud").get(url(third)).content.decode()
    assert 'data-testid="cancel"' not in aud
    assert 'data-testid="escort-save"' not in aud


def test_escort_from_the_page_names_the_field(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visit = book_series(actors, floor, iv_plan)[0]
    cy = client_for("cy")
    bad = cy.post(url(visit, "escort"), {"form_token": TOKEN, "escort_name": "", "escort_phone": "312 555 0199"})
    assert bad.status_code == 422
    text = bad.content.decode()
    assert re.search(
        r'id="id_escort_name_error"><li><span class="visually-hidden">Error: </span>Enter the escort', text
    )
    assert 'value="312 555 0199"' in text
    good = cy.post(url(visit, "escort"), {"form_token": TOKEN, "escort_name": "Lee", "escort_phone": "312 555 0199"})
    assert good.status_code == 302
    visit.refresh_from_db()
    assert visit.escort_confirmed
    assert visit.status_label == "Confirmed"


def test_check_in_is_for_today_only(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visits = book_series(actors, floor, iv_plan)
    cy = client_for("cy")
    refused = cy.post(url(visits[1], "check-in"), {"form_token": TOKEN})
    assert refused.status_code == 422
    assert "Only today&#x27;s visits can be checked in." in refused.content.decode()
    assert 'data-testid="check-in"' in cy.get(url(visits[0])).content.decode()
    done = cy.post(url(visits[0], "check-in"), {"form_token": TOKEN})
    assert done.status_code == 302
    visits[0].refresh_from_db()
    assert visits[0].session is not None
    assert visits[0].session.state == "checked_in"


def test_reschedule_a_single_visit(client_for: Any, floor: Any, patient: Any, actors: Any) -> None:
    visit = booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=floor["types"]["consultation"],
        location=floor["location"],
        starts_at=at(1, "10:00"),
    )
    cy = client_for("cy")
    page = cy.get(url(visit), {"reschedule_from": "2026-11-25"})
    values = re.findall(r'name="starts_at" value="([^"]+)"', page.content.decode())
    assert len(values) == 10
    assert values[0].startswith(at(2, "08:00").isoformat())
    moved = cy.post(url(visit, "reschedule"), {"form_token": TOKEN, "starts_at": values[0]})
    assert moved.status_code == 302
    visit.refresh_from_db()
    assert visit.starts_at == at(2, "08:00")
    assert visit.rescheduled_from == at(1, "10:00")
    assert "Moved to Wed 25 Nov 08:00." in cy.get(url(visit)).content.decode()


def test_series_visit_moved_too_close_is_refused_on_the_field(
    client_for: Any, floor: Any, iv_plan: Any, actors: Any
) -> None:
    visits = book_series(actors, floor, iv_plan)
    second = visits[1]
    response = client_for("cy").post(
        url(second, "reschedule"),
        {"form_token": TOKEN, "starts_at": at(1, "08:00").isoformat(), "reschedule_from": "2026-11-24"},
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "Too close to the visit before it in the series (at least 48 hours)." in text
    assert 'data-testid="reschedule-error"' in text
    second.refresh_from_db()
    assert second.starts_at == at(2, "08:00")


def test_reschedule_to_a_taken_time_is_409(
    client_for: Any, floor: Any, patient: Any, make_patient: Any, actors: Any, personas: Any
) -> None:
    consult = floor["types"]["consultation"]
    visit = booking.book_visit(
        actors["cy"], patient=patient, appointment_type=consult, location=floor["location"], starts_at=at(1, "10:00")
    )
    cy = client_for("cy")
    page = cy.get(url(visit), {"reschedule_from": "2026-11-25"})
    stale = re.findall(r'name="starts_at" value="([^"]+)"', page.content.decode())[0]
    booking.book_visit(
        actors["ben"],
        patient=make_patient(legal_first_name="Robin"),
        appointment_type=consult,
        location=floor["location"],
        starts_at=at(2, "08:00"),
        chair=floor["room"],
        clinician=personas["ada"],
    )
    response = cy.post(
        url(visit, "reschedule"), {"form_token": TOKEN, "starts_at": stale, "reschedule_from": "2026-11-25"}
    )
    assert response.status_code == 409
    assert "is not free" in response.content.decode()
    visit.refresh_from_db()
    assert visit.starts_at == at(1, "10:00")


def test_cancel_from_the_page(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visits = book_series(actors, floor, iv_plan)
    cy = client_for("cy")
    refused = cy.post(url(visits[3], "cancel"), {"form_token": TOKEN, "reason": ""})
    assert refused.status_code == 422
    assert 'id="id_reason_error"' in refused.content.decode()
    ahead = cy.get(url(visits[3])).content.decode()  # a week ahead
    assert 'data-testid="late-warning"' not in ahead
    assert "Cancelling from Sun 29 Nov 08:00 (24 hours before the visit) counts as a late cancellation." in ahead
    done = cy.post(url(visits[3], "cancel"), {"form_token": TOKEN, "reason": "Travelling"})
    assert done.status_code == 302
    visits[3].refresh_from_db()
    assert visits[3].state == "cancelled"
    assert not visits[3].late_cancel
    assert visits[3].session is not None
    assert visits[3].session.state == "cancelled"
    text = cy.get(url(visits[3])).content.decode()
    assert "Travelling" in text
    assert 'data-testid="cancel"' not in text  # nothing more to do


def test_no_show_from_the_page(client_for: Any, floor: Any, iv_plan: Any, actors: Any, clock: Any) -> None:
    visit = book_series(actors, floor, iv_plan)[0]
    refused = client_for("cy").post(url(visit, "no-show"), {"form_token": TOKEN})
    assert refused.status_code == 422
    assert "more minutes before marking a no-show" in refused.content.decode()
    clock.shift(datetime.timedelta(hours=2))
    done = client_for("cy").post(url(visit, "no-show"), {"form_token": TOKEN})
    assert done.status_code == 302
    visit.refresh_from_db()
    assert visit.state == "no_show"


def test_one_escort_for_the_whole_series(client_for: Any, floor: Any, iv_plan: Any, actors: Any) -> None:
    visits = book_series(actors, floor, iv_plan)
    cy = client_for("cy")
    booking.cancel(actors["cy"], visits[5], reason="Travelling")
    page = cy.get(url(visits[0])).content.decode()
    assert "The same escort for the 4 other booked visits of this series" in page
    response = cy.post(
        url(visits[0], "escort"),
        {"form_token": TOKEN, "escort_name": "Lee Avery", "escort_phone": "312 555 0199", "whole_series": "on"},
    )
    assert response.status_code == 302
    assert "this visit and 4 more of the series" in cy.get(response["Location"]).content.decode()
    states = [
        (v.state, v.escort_confirmed) for v in Appointment.objects.filter(series=visits[0].series).order_by("starts_at")
    ]
    assert states == [("booked", True)] * 5 + [("cancelled", False)]
