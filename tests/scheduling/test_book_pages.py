"""Booking pages (issue #8): one visit, a plan's series, double submissions, a slot taken meanwhile,
and who may do what."""

from __future__ import annotations

import datetime
import html
import re
from typing import Any

from ketacare.plans import actions as plan_actions
from ketacare.scheduling import booking
from ketacare.scheduling.models import Appointment, AppointmentType, Closure
from ketacare.sessions.models import TreatmentSession
from tests.scheduling.conftest import MONDAY, at

BOOK = "/schedule/book/"
TOKEN_A = "11111111-1111-4111-8111-111111111111"
TOKEN_B = "22222222-2222-4222-8222-222222222222"


def choices(page: Any, name: str = "starts_at") -> list[str]:
    text = page.content.decode()
    return [html.unescape(v) for v in re.findall(rf'name="{name}"[^>]*?value="([^"]+)"', text)]


def search(client: Any, patient: Any, kind: AppointmentType, location: Any, **extra: Any) -> Any:
    params = {
        "patient": patient.pk,
        "appointment_type": kind.pk,
        "location": location.pk,
        "after": "2026-11-23",
        **extra,
    }
    return client.get(BOOK, params)


def post_choice(
    client: Any, patient: Any, kind: AppointmentType, location: Any, value: str, token: str, **extra: Any
) -> Any:
    data = {
        "form_token": token,
        "patient": patient.pk,
        "appointment_type": kind.pk,
        "location": location.pk,
        "after": "2026-11-23",
        "starts_at": value,
        **extra,
    }
    return client.post(BOOK, data)


def test_book_one_visit_through_the_page(client_for: Any, floor: Any, patient: Any) -> None:
    cy = client_for("cy")
    consult = floor["types"]["consultation"]
    page = search(cy, patient, consult, floor["location"])
    assert page.status_code == 200
    found = choices(page)
    assert len(found) == 10
    text = page.content.decode()
    assert re.search(
        r"Mon 23 Nov <strong>08:00</strong></span>\s*<span class=\"kc-sched-held\">Room A, Ada Okafor", text
    )
    response = post_choice(cy, patient, consult, floor["location"], found[1], TOKEN_A)
    assert response.status_code == 302
    made = Appointment.objects.get()
    assert response["Location"] == f"/schedule/appointments/{made.pk}/"
    assert made.starts_at == at(0, "08:15")
    assert made.chair == floor["room"]
    shown = cy.get(response["Location"])
    assert "Booked Consultation for Avery, Jordan: Mon 23 Nov 08:15, Room A." in shown.content.decode()


def test_patient_search_by_name(client_for: Any, floor: Any, patient: Any) -> None:
    page = client_for("cy").get(BOOK, {"q": "aver"})
    assert page.status_code == 200
    assert f"?patient={patient.pk}" in page.content.decode()
    assert client_for("cy").get(BOOK).status_code == 200


def test_double_post_books_once(client_for: Any, floor: Any, patient: Any) -> None:
    cy = client_for("cy")
    consult = floor["types"]["consultation"]
    value = choices(search(cy, patient, consult, floor["location"]))[0]
    first = post_choice(cy, patient, consult, floor["location"], value, TOKEN_A)
    second = post_choice(cy, patient, consult, floor["location"], value, TOKEN_A)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Appointment.objects.count() == 1


def test_slot_taken_meanwhile_is_409_and_books_nothing(
    client_for: Any, floor: Any, patient: Any, make_patient: Any, actors: Any, personas: Any
) -> None:
    cy = client_for("cy")
    consult = floor["types"]["consultation"]
    stale = choices(search(cy, patient, consult, floor["location"]))[0]
    other = make_patient(legal_first_name="Robin", legal_last_name="Quinn")
    booking.book_visit(
        actors["ben"],
        patient=other,
        appointment_type=consult,
        location=floor["location"],
        starts_at=at(0, "08:00"),
        chair=floor["room"],
        clinician=personas["ada"],
    )
    response = post_choice(cy, patient, consult, floor["location"], stale, TOKEN_A)
    assert response.status_code == 409
    text = response.content.decode()
    assert "is not free" in text
    assert Appointment.objects.filter(patient=patient).count() == 0
    assert stale not in choices(response)  # fresh proposals, without the taken time
    assert len(choices(response)) == 10


def test_dosing_type_without_plan_explains_and_links_to_series(
    client_for: Any, floor: Any, iv_type: Any, iv_plan: Any
) -> None:
    page = search(client_for("cy"), iv_plan.patient, iv_type, floor["location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="needs-plan"' in text
    assert f"/schedule/book/series/{iv_plan.pk}/" in text
    assert choices(page) == []


def test_one_dosing_visit_from_a_plan(client_for: Any, floor: Any, iv_type: Any, iv_plan: Any) -> None:
    cy = client_for("cy")
    page = search(cy, iv_plan.patient, iv_type, floor["location"], plan=iv_plan.pk)
    value = choices(page)[0]
    response = post_choice(cy, iv_plan.patient, iv_type, floor["location"], value, TOKEN_A, plan=iv_plan.pk)
    assert response.status_code == 302
    made = Appointment.objects.get()
    assert made.session is not None
    assert made.session.state == "scheduled"


def test_bad_choice_names_the_field(client_for: Any, floor: Any, patient: Any) -> None:
    consult = floor["types"]["consultation"]
    response = post_choice(client_for("cy"), patient, consult, floor["location"], "not a time", TOKEN_A)
    assert response.status_code == 422
    assert Appointment.objects.count() == 0


def series_page(client: Any, plan: Any, **params: Any) -> Any:
    return client.get(f"/schedule/book/series/{plan.pk}/", params)


def test_book_a_six_visit_series(client_for: Any, floor: Any, iv_type: Any, iv_plan: Any) -> None:
    cy = client_for("cy")
    page = series_page(cy, iv_plan)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="visits-left">6 of 6' in text
    options = choices(page, "starts")
    assert len(options) == 20
    assert "Book these 6 visits" in text
    first_row = text[text.index('data-testid="series-1"') : text.index("</tr>", text.index('data-testid="series-1"'))]
    days = re.findall(r'kc-series-day">([^<]+)</span> <strong class="kc-series-time">([^<]+)</strong>', first_row)
    assert days == [
        ("Mon 23 Nov", "08:00"),
        ("Wed 25 Nov", "08:00"),
        ("Fri 27 Nov", "08:00"),
        ("Mon 30 Nov", "08:00"),
        ("Wed 2 Dec", "08:00"),
        ("Fri 4 Dec", "08:00"),
    ]  # the whole series on one line
    response = cy.post(
        f"/schedule/book/series/{iv_plan.pk}/",
        {
            "form_token": TOKEN_A,
            "appointment_type": iv_type.pk,
            "location": floor["location"].pk,
            "after": "2026-11-23",
            "starts": options[0],
        },
    )
    assert response.status_code == 302
    visits = list(Appointment.objects.filter(plan=iv_plan).order_by("starts_at"))
    assert len(visits) == 6
    assert TreatmentSession.objects.filter(plan=iv_plan).count() == 6
    assert response["Location"] == f"/schedule/appointments/{visits[0].pk}/"
    shown = cy.get(response["Location"]).content.decode()
    assert "Booked 6 visits. Confirm the escort for each dosing visit." in shown
    assert "Visit 1 of 6" in shown
    # The same form again books nothing more.
    again = cy.post(
        f"/schedule/book/series/{iv_plan.pk}/",
        {
            "form_token": TOKEN_A,
            "appointment_type": iv_type.pk,
            "location": floor["location"].pk,
            "after": "2026-11-23",
            "starts": options[0],
        },
    )
    assert again.status_code == 302
    assert Appointment.objects.filter(plan=iv_plan).count() == 6
    # Nothing left to book.
    assert 'data-testid="all-booked"' in series_page(cy, iv_plan).content.decode()


def test_series_slot_taken_is_409_with_fresh_proposals(
    client_for: Any, floor: Any, iv_type: Any, iv_plan: Any, personas: Any
) -> None:
    cy = client_for("cy")
    stale = choices(series_page(cy, iv_plan), "starts")[0]
    first = datetime.datetime.fromisoformat(stale.split(",")[0].partition("@")[0])
    # Meanwhile the location closes for the morning of the first visit: nothing of the series is booked.
    Closure.objects.create(
        clinic=floor["location"].clinic,
        location=floor["location"],
        starts_at=first,
        ends_at=first + datetime.timedelta(hours=4),
        reason="Power cut",
        created_by=personas["ann"],
    )
    response = cy.post(
        f"/schedule/book/series/{iv_plan.pk}/",
        {
            "form_token": TOKEN_B,
            "appointment_type": iv_type.pk,
            "location": floor["location"].pk,
            "after": "2026-11-23",
            "starts": stale,
        },
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert "Visit 1 of 6" in text
    assert "Nothing was booked." in text
    assert Appointment.objects.count() == 0
    assert TreatmentSession.objects.count() == 0
    fresh = choices(response, "starts")
    assert fresh
    assert stale not in fresh


def test_unsigned_plan_is_explained(
    client_for: Any, floor: Any, iv_type: Any, weighed: Any, iv_version: Any, actors: Any, gate: Any
) -> None:
    draft = plan_actions.create_plan(actors["ada"], weighed, protocol_version_id=iv_version.pk, first_session_on=MONDAY)
    cy = client_for("cy")
    page = series_page(cy, draft)
    assert page.status_code == 200
    assert 'data-testid="not-signed"' in page.content.decode()
    assert choices(page, "starts") == []
    response = cy.post(
        f"/schedule/book/series/{draft.pk}/",
        {
            "form_token": TOKEN_A,
            "appointment_type": iv_type.pk,
            "location": floor["location"].pk,
            "starts": at(0, "08:00").isoformat(),
        },
    )
    assert response.status_code == 422
    assert Appointment.objects.count() == 0


# --- who may do what -------------------------------------------------------------------------------


def test_denials(client_for: Any, floor: Any, iv_type: Any, iv_plan: Any, actors: Any) -> None:
    made = booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=at(0, "09:00"),
        plan=iv_plan,
    )
    gets = [
        "/schedule/today/",
        f"{BOOK}?patient={iv_plan.patient.pk}",
        BOOK,
        f"/schedule/book/series/{iv_plan.pk}/",
        f"/schedule/appointments/{made.pk}/",
    ]
    posts = [
        BOOK,
        f"/schedule/book/series/{iv_plan.pk}/",
        *(
            f"/schedule/appointments/{made.pk}/{action}/"
            for action in ("check-in", "escort", "no-show", "cancel", "reschedule")
        ),
    ]
    ivy = client_for("ivy")
    for url in gets:
        assert ivy.get(url).status_code == 403, url
    for url in posts:
        assert ivy.post(url, {"form_token": TOKEN_A}).status_code == 403, url
    aud = client_for("aud")
    assert aud.get("/schedule/today/").status_code == 200
    assert aud.get(f"/schedule/appointments/{made.pk}/").status_code == 200
    assert aud.get(BOOK).status_code == 403
    for url in posts:
        assert aud.post(url, {"form_token": TOKEN_A, "reason": "x"}).status_code == 403, url
    dee = client_for("dee")
    assert dee.get(f"/schedule/appointments/{made.pk}/").status_code == 404
    assert dee.get(f"/schedule/book/series/{iv_plan.pk}/").status_code == 404
    assert dee.post(f"/schedule/appointments/{made.pk}/cancel/", {"reason": "x"}).status_code == 404
    assert dee.get(f"{BOOK}?patient={iv_plan.patient.pk}").status_code == 404
    anon = client_for("anon")
    for url in gets:
        response = anon.get(url)
        assert response.status_code == 302, url
        assert "/login" in response["Location"], url
    assert Appointment.objects.get(pk=made.pk).state == "booked"


def test_therapist_cannot_book_an_iv_series(client_for: Any, floor: Any, iv_type: Any, iv_plan: Any) -> None:
    tess = client_for("tess")
    page = series_page(tess, iv_plan)
    assert page.status_code == 200
    options = choices(page, "starts")
    response = tess.post(
        f"/schedule/book/series/{iv_plan.pk}/",
        {
            "form_token": TOKEN_A,
            "appointment_type": iv_type.pk,
            "location": floor["location"].pk,
            "after": "2026-11-23",
            "starts": options[0],
        },
    )
    assert response.status_code == 403
    assert Appointment.objects.count() == 0
    assert TreatmentSession.objects.count() == 0
