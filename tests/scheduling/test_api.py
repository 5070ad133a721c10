"""/api/v1/scheduling with the pages' rules: the token (401), roles (403: the inventory manager sees
nothing, the auditor reads but books nothing), another clinic (404), a slot taken (409 with fresh
proposals, nothing booked; a series all or nothing), refusals per field named as in the request (422),
Idempotency-Key replays, audited reads and a pinned query count for the list."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.scheduling import booking
from ketacare.scheduling.models import (
    Appointment,
    AppointmentState,
    AppointmentType,
    Category,
    Hold,
    ScheduleSettings,
    Series,
    Space,
)
from ketacare.sessions.models import TreatmentSession
from tests.scheduling.conftest import at

API = "/api/v1/scheduling"
pytestmark = pytest.mark.django_db


def post(client, path, body=None, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"{API}{path}", body or {}, content_type="application/json", **headers)


def fields(response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in response.json()["detail"]:
        out.setdefault(entry["field"], []).append(entry["msg"])
    return out


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


def moment(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value)


@pytest.fixture
def follow_up(floor) -> AppointmentType:
    """Follow-up: the consulting room and a prescriber (Ada), 30 minutes."""
    return floor["types"]["follow-up"]


@pytest.fixture
def visit(actors, patient, floor, follow_up) -> Appointment:
    """Jordan's follow-up today (Monday) at 09:00, booked by the front desk."""
    return booking.book_visit(
        actors["cy"], patient=patient, appointment_type=follow_up, location=floor["location"], starts_at=at(0, "09:00")
    )


def book_body(patient, floor, appointment_type, when, **extra) -> dict[str, Any]:
    return {
        "patient": patient.pk,
        "type": appointment_type.pk,
        "location": floor["location"].pk,
        "starts_at": iso(when),
        **extra,
    }


# --- token, roles, clinic: every endpoint -------------------------------------------------------

READS = ["/types", "/slots", "/series-slots", "/appointments", "/appointments/{a}", "/series/{s}"]
ACTIONS = [
    ("/appointments/{a}/reschedule", {"starts_at": "2026-11-24T10:00:00-06:00"}),
    ("/appointments/{a}/cancel", {"reason": "Asked by phone"}),
    ("/appointments/{a}/check-in", {}),
    ("/appointments/{a}/no-show", {}),
    ("/appointments/{a}/complete", {}),
    ("/appointments/{a}/escort", {"name": "Sam Avery", "phone": "(312) 555-0100"}),
]


@pytest.fixture
def booked_series(actors, iv_plan, iv_type, floor) -> Series:
    options = booking.propose_series(
        actors["cy"], plan=iv_plan, appointment_type=iv_type, location=floor["location"], after=at(1, "08:00"), limit=1
    )
    return booking.book_series(  # the first two visits: four are left to propose
        actors["cy"],
        plan=iv_plan,
        appointment_type=iv_type,
        location=floor["location"],
        starts=[p.starts_at for p in options[0][:2]],
    )


@pytest.fixture
def read_params(floor, follow_up, iv_type, iv_plan, visit, booked_series) -> dict[str, Any]:
    return {
        "/types": {},
        "/slots": {"type": follow_up.pk, "location": floor["location"].pk},
        "/series-slots": {"plan": iv_plan.pk, "type": iv_type.pk, "location": floor["location"].pk},
        "/appointments": {"date": "2026-11-23"},
        "/appointments/{a}": {},
        "/series/{s}": {},
    }


def _path(template: str, visit: Appointment, series: Series | None = None) -> str:
    return API + template.format(a=visit.pk, s=series.pk if series else 0)


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize(("key", "status"), [("cy", 200), ("ben", 200), ("aud", 200), ("ivy", 403), ("anon", 401)])
def test_who_may_read(api_client_for, read_params, visit, booked_series, path, key, status):
    response = api_client_for(key).get(_path(path, visit, booked_series), read_params[path])
    assert response.status_code == status, response.content


@pytest.mark.parametrize(("path", "body"), ACTIONS)
@pytest.mark.parametrize(("key", "status"), [("aud", 403), ("ivy", 403), ("dee", 404), ("anon", 401)])
def test_who_may_not_change_a_visit_and_nothing_changes(api_client_for, visit, path, body, key, status):
    before = Appointment.objects.filter(pk=visit.pk).values().get()

    response = post(api_client_for(key), _path(path, visit).removeprefix(API), body)

    assert response.status_code == status, response.content
    assert Appointment.objects.filter(pk=visit.pk).values().get() == before
    assert (
        not AuditEvent.objects.filter(event_type__startswith="appointment.", event_type__endswith="ed")
        .exclude(event_type="appointment.booked")
        .exists()
    )


@pytest.mark.parametrize(("key", "status"), [("aud", 403), ("ivy", 403), ("anon", 401)])
def test_who_may_not_book(api_client_for, patient, floor, follow_up, iv_plan, iv_type, key, status):
    client = api_client_for(key)
    assert post(client, "/appointments", book_body(patient, floor, follow_up, at(0, "10:00"))).status_code == status
    series = {"plan": iv_plan.pk, "type": iv_type.pk, "location": floor["location"].pk, "starts": [iso(at(0, "9:00"))]}
    assert post(client, "/series", series).status_code == status
    assert Appointment.objects.count() == 0
    assert Series.objects.count() == 0


def test_another_clinic_sees_none_of_it(api_client_for, read_params, visit, booked_series, patient, floor, follow_up):
    dee = api_client_for("dee")
    assert dee.get(f"{API}/appointments/{visit.pk}").status_code == 404
    assert dee.get(f"{API}/series/{booked_series.pk}").status_code == 404
    assert dee.get(f"{API}/appointments", {"patient": patient.pk}).status_code == 404
    assert dee.get(f"{API}/series-slots", read_params["/series-slots"]).status_code == 404
    assert dee.get(f"{API}/slots", {**read_params["/slots"], "plan": booked_series.plan_id}).status_code == 404
    assert post(dee, "/appointments", book_body(patient, floor, follow_up, at(0, "10:00"))).status_code == 404
    series = {"plan": booked_series.plan_id, "type": 1, "location": 1, "starts": [iso(at(0, "9:00"))]}
    assert post(dee, "/series", series).status_code == 404
    # Her own clinic's lists are empty; Harbor Light's type and location are unknown to her (422 on the field).
    assert dee.get(f"{API}/types").json() == []
    assert dee.get(f"{API}/appointments", {"date": "2026-11-23"}).json() == []
    assert set(fields(dee.get(f"{API}/slots", read_params["/slots"]))) == {"location"}


# --- what can be booked, and when ----------------------------------------------------------------


def test_types_and_slots(api_client_for, floor, follow_up, visit):
    cy = api_client_for("cy")
    types = cy.get(f"{API}/types").json()
    assert {t["code"] for t in types} >= {"iv-infusion", "spravato", "follow-up", "consultation"}
    assert next(t for t in types if t["code"] == "iv-infusion")["is_dosing"] is True

    slots = cy.get(f"{API}/slots", {"type": follow_up.pk, "location": floor["location"].pk, "limit": 3}).json()
    # 08:00 and 08:15 fit before Jordan's 09:00 visit holds the room; 08:45 would run into it.
    assert [moment(s["starts_at"]) for s in slots] == [at(0, "08:00"), at(0, "08:15"), at(0, "08:30")]
    assert slots[0]["chair"] == "Room A"
    assert slots[0]["chair_id"] == floor["room"].pk
    later = cy.get(
        f"{API}/slots",
        {"type": follow_up.pk, "location": floor["location"].pk, "after": iso(at(0, "08:45")), "limit": 1},
    ).json()
    assert moment(later[0]["starts_at"]) == at(0, "09:30")


def test_slots_for_a_patient_skip_their_own_visits(api_client_for, floor, iv_type, visit, patient):
    cy = api_client_for("cy")
    where = {"type": iv_type.pk, "location": floor["location"].pk, "after": iso(at(0, "08:45")), "limit": 1}
    assert moment(cy.get(f"{API}/slots", where).json()[0]["starts_at"]) == at(0, "08:45")
    # Jordan's follow-up at 09:00 is inside an infusion from 08:45 (60 minutes and 30 of recovery).
    mine = cy.get(f"{API}/slots", {**where, "patient": patient.pk}).json()
    assert moment(mine[0]["starts_at"]) == at(0, "09:30")
    assert AuditEvent.objects.filter(event_type="schedule.slots_proposed", patient=patient).count() == 1
    assert cy.get(f"{API}/slots", {**where, "patient": 999999}).status_code == 404


def test_slots_refuse_bad_input_per_field(api_client_for, floor, follow_up, personas):
    cy = api_client_for("cy")
    where = {"type": follow_up.pk, "location": floor["location"].pk}
    assert set(fields(cy.get(f"{API}/slots", {**where, "after": "2026-11-23T09:00:00"}))) == {"after"}
    assert set(fields(cy.get(f"{API}/slots", {**where, "type": 999999}))) == {"type"}
    assert set(fields(cy.get(f"{API}/slots", {**where, "chair": 999999}))) == {"chair"}
    assert set(fields(cy.get(f"{API}/slots", {**where, "clinician": personas["dee"].pk}))) == {"clinician"}
    assert "limit" in fields(cy.get(f"{API}/slots", {**where, "limit": 0}))


def test_series_slots_are_six_visits_each_and_the_read_is_audited(api_client_for, floor, iv_type, iv_plan):
    cy = api_client_for("cy")
    params = {"plan": iv_plan.pk, "type": iv_type.pk, "location": floor["location"].pk, "limit": 3}
    options = cy.get(f"{API}/series-slots", params).json()
    assert len(options) == 3
    for option in options:
        starts = [datetime.datetime.fromisoformat(v["starts_at"]) for v in option]
        assert len(starts) == 6
        assert all(b - a >= datetime.timedelta(hours=48) for a, b in itertools.pairwise(starts))
        assert all(v["chair_id"] and v["nurse_id"] and moment(v["held_until"]) > moment(v["ends_at"]) for v in option)
    assert moment(options[0][0]["starts_at"]) == at(0, "08:00")
    assert AuditEvent.objects.filter(event_type="schedule.series_proposed", patient=iv_plan.patient).exists()
    assert "count" in fields(cy.get(f"{API}/series-slots", {**params, "count": 7}))


# --- booking one visit -----------------------------------------------------------------------------


def test_book_a_visit_once_per_key(api_client_for, patient, floor, follow_up, personas):
    cy = api_client_for("cy")
    body = book_body(patient, floor, follow_up, at(0, "10:00"), notes="First follow-up")

    first = post(cy, "/appointments", body, key="visit-1")
    again = post(cy, "/appointments", body, key="visit-1")

    assert first.status_code == 201, first.content
    visit = first.json()
    assert moment(visit["starts_at"]) == at(0, "10:00")
    assert (visit["type"], visit["chair"], visit["clinician_id"]) == ("follow-up", "Room A", personas["ada"].pk)
    assert (visit["state"], visit["status"], visit["notes"]) == ("booked", "Confirmed", "First follow-up")
    assert again.status_code == 200
    assert again.json() == visit
    assert Appointment.objects.count() == 1
    assert Hold.objects.count() == 2  # the room and Ada
    assert AuditEvent.objects.filter(event_type="appointment.booked").count() == 1
    # The same key with another body is refused and books nothing.
    other = post(cy, "/appointments", {**body, "starts_at": iso(at(0, "11:00"))}, key="visit-1")
    assert other.status_code == 422
    assert set(fields(other)) == {"Idempotency-Key"}
    assert Appointment.objects.count() == 1


def test_a_dosing_visit_from_a_plan_creates_its_session(api_client_for, floor, iv_type, iv_plan):
    body = book_body(iv_plan.patient, floor, iv_type, at(1, "09:00"), plan=iv_plan.pk)
    response = post(api_client_for("ben"), "/appointments", body)
    assert response.status_code == 201, response.content
    visit = response.json()
    assert visit["session_id"] == TreatmentSession.objects.get(plan=iv_plan).pk
    assert visit["sequence"] == 1
    assert visit["status"] == "Booked: escort not confirmed"
    # Without the plan a dosing visit is refused on the field.
    del body["plan"]
    assert set(fields(post(api_client_for("ben"), "/appointments", {**body, "starts_at": iso(at(3, "9:00"))}))) == {
        "plan"
    }


def test_a_taken_slot_is_409_with_fresh_proposals_and_books_nothing(
    api_client_for, make_patient, patient, floor, follow_up, visit
):
    other = make_patient(legal_first_name="Riley", legal_last_name="Stone")
    cy = api_client_for("cy")

    response = post(cy, "/appointments", book_body(other, floor, follow_up, at(0, "09:00")), key="taken-1")

    assert response.status_code == 409, response.content
    body = response.json()
    assert "not free" in body["detail"]
    assert moment(body["proposals"][0]["starts_at"]) == at(0, "09:30")
    assert Appointment.objects.count() == 1
    # A refusal leaves no trace: the same key books the proposed time.
    retry = post(cy, "/appointments", book_body(other, floor, follow_up, at(0, "09:30")), key="taken-2")
    assert retry.status_code == 201
    # The patient's own overlap is a 409 too.
    mine = post(cy, "/appointments", book_body(patient, floor, follow_up, at(0, "09:15")))
    assert mine.status_code == 409
    assert "already has" in mine.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"starts_at": "2026-11-23T10:00:00"}, "starts_at"),  # no zone
        ({"starts_at": "2026-11-20T10:00:00-06:00"}, "starts_at"),  # passed
        ({"starts_at": "tomorrow"}, "starts_at"),
        ({"type": 999999}, "type"),
        ({"location": 999999}, "location"),
        ({"chair": 999999}, "chair"),
        ({"nurse": 999999}, "nurse"),
        ({"notes": "x" * 501}, "notes"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_books_nothing(api_client_for, patient, floor, follow_up, change, field):
    body = {**book_body(patient, floor, follow_up, at(0, "10:00")), **change}
    response = post(api_client_for("cy"), "/appointments", body)
    assert response.status_code == 422, response.content
    assert field in fields(response)
    assert Appointment.objects.count() == 0


def test_an_unknown_patient_is_404(api_client_for, floor, follow_up, patient):
    body = book_body(patient, floor, follow_up, at(0, "10:00"))
    assert post(api_client_for("cy"), "/appointments", {**body, "patient": 999999}).status_code == 404


# --- changing a visit ---------------------------------------------------------------------------


def test_reschedule_once_per_key_and_409_when_taken(api_client_for, make_patient, floor, follow_up, visit, actors):
    cy = api_client_for("cy")
    other = make_patient(legal_first_name="Riley", legal_last_name="Stone")
    booking.book_visit(
        actors["cy"], patient=other, appointment_type=follow_up, location=floor["location"], starts_at=at(0, "11:00")
    )
    path = f"/appointments/{visit.pk}/reschedule"

    taken = post(cy, path, {"starts_at": iso(at(0, "11:15"))})
    assert taken.status_code == 409
    assert moment(taken.json()["proposals"][0]["starts_at"]) == at(0, "11:30")
    moved = post(cy, path, {"starts_at": iso(at(0, "13:00"))}, key="move-1")
    assert moved.status_code == 200, moved.content
    assert post(cy, path, {"starts_at": iso(at(0, "13:00"))}, key="move-1").json() == moved.json()
    assert moment(moved.json()["starts_at"]) == at(0, "13:00")
    assert moment(moved.json()["rescheduled_from"]) == at(0, "09:00")
    assert AuditEvent.objects.filter(event_type="appointment.rescheduled").count() == 1
    assert set(fields(post(cy, path, {"starts_at": "2026-11-24T10:00:00"}))) == {"starts_at"}


def test_cancel_then_every_change_is_refused_on_the_state(api_client_for, visit):
    cy = api_client_for("cy")
    assert set(fields(post(cy, f"/appointments/{visit.pk}/cancel", {"reason": "  "}))) == {"reason"}
    done = post(cy, f"/appointments/{visit.pk}/cancel", {"reason": "Asked by phone", "by_patient": True})
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["cancel_reason"], done.json()["cancelled_by_patient"]) == (
        "cancelled",
        "Asked by phone",
        True,
    )
    assert done.json()["late_cancel"] is True  # within 24 hours
    assert not Hold.objects.filter(appointment=visit, released_at__isnull=True).exists()
    again = post(cy, f"/appointments/{visit.pk}/check-in")
    assert again.status_code == 422
    assert set(fields(again)) == {"state"}


def test_check_in_then_complete(api_client_for, visit):
    ben = api_client_for("ben")
    assert set(fields(post(ben, f"/appointments/{visit.pk}/complete"))) == {"state"}
    checked = post(ben, f"/appointments/{visit.pk}/check-in", key="in-1")
    assert checked.status_code == 200
    assert checked.json()["state"] == "checked_in"
    assert post(ben, f"/appointments/{visit.pk}/check-in", key="in-1").json() == checked.json()
    done = post(ben, f"/appointments/{visit.pk}/complete")
    assert (done.status_code, done.json()["state"]) == (200, "completed")


def test_no_show_only_after_the_grace(api_client_for, visit, clock):
    cy = api_client_for("cy")
    assert set(fields(post(cy, f"/appointments/{visit.pk}/no-show"))) == {"state"}
    clock.shift(datetime.timedelta(hours=2, minutes=31))  # 09:31
    marked = post(cy, f"/appointments/{visit.pk}/no-show")
    assert (marked.status_code, marked.json()["state"]) == (200, AppointmentState.NO_SHOW)
    assert marked.json()["no_show_at"] is not None


def test_escort_per_field_then_confirmed(api_client_for, visit):
    cy = api_client_for("cy")
    path = f"/appointments/{visit.pk}/escort"
    refused = post(cy, path, {"name": " ", "phone": "12"})
    assert set(fields(refused)) == {"name", "phone"}
    done = post(cy, path, {"name": "Sam Avery", "phone": "(312) 555-0100"})
    assert done.status_code == 200
    assert done.json()["escort_name"] == "Sam Avery"
    assert done.json()["escort_confirmed_at"] is not None


# --- series, all or nothing ---------------------------------------------------------------------


def test_series_all_or_nothing(api_client_for, actors, make_patient, floor, iv_type, iv_plan, clinic, personas):
    cy = api_client_for("cy")
    where = {"plan": iv_plan.pk, "type": iv_type.pk, "location": floor["location"].pk}
    option = cy.get(f"{API}/series-slots", {**where, "limit": 1}).json()[0]
    starts = [v["starts_at"] for v in option]
    # Someone else takes Ben's only place at the time of the third visit (one patient per nurse).
    ScheduleSettings.objects.filter(clinic=clinic).update(patients_per_nurse=1)
    nurse_check = AppointmentType.objects.create(
        clinic=clinic,
        code="nurse-check",
        name="Nurse check",
        category=Category.FOLLOW_UP,
        space=Space.CHAIR,
        needs_nurse=True,
        duration_minutes=30,
        buffer_minutes=0,
    )
    booking.book_visit(
        actors["cy"],
        patient=make_patient(legal_first_name="Riley", legal_last_name="Stone"),
        appointment_type=nurse_check,
        location=floor["location"],
        starts_at=datetime.datetime.fromisoformat(starts[2]),
        nurse=personas["ben"],
    )

    taken = post(cy, "/series", {**where, "starts": starts}, key="series-1")

    assert taken.status_code == 409, taken.content
    assert taken.json()["detail"].startswith("Visit 3 of 6")
    assert "Nothing was booked" in taken.json()["detail"]
    assert Appointment.objects.filter(plan=iv_plan).count() == 0
    assert Series.objects.count() == 0
    assert TreatmentSession.objects.filter(plan=iv_plan).count() == 0
    fresh = taken.json()["proposals"][0]
    assert len(fresh) == 6
    assert moment(fresh[0]["starts_at"]) == moment(starts[0])  # the same first visit, the third moved
    assert moment(fresh[2]["starts_at"]) != moment(starts[2])

    chosen = {**where, "starts": [v["starts_at"] for v in fresh], "chairs": [v["chair_id"] for v in fresh]}
    booked = post(cy, "/series", chosen, key="series-2")
    assert booked.status_code == 201, booked.content
    series = booked.json()
    assert [v["sequence"] for v in series["appointments"]] == [1, 2, 3, 4, 5, 6]
    assert [v["chair_id"] for v in series["appointments"]] == chosen["chairs"]  # the chairs proposed
    assert series["count"] == 6
    assert post(cy, "/series", chosen, key="series-2").json() == series
    assert Series.objects.count() == 1
    assert TreatmentSession.objects.filter(plan=iv_plan).count() == 6
    read = cy.get(f"{API}/series/{series['id']}").json()
    assert read == series
    assert AuditEvent.objects.filter(event_type="series.viewed", patient=iv_plan.patient).count() == 1


def test_series_refusals_name_the_field(api_client_for, floor, iv_type, iv_plan, follow_up):
    cy = api_client_for("cy")
    where = {"plan": iv_plan.pk, "type": iv_type.pk, "location": floor["location"].pk}
    too_close = [iso(at(0, "9:00")), iso(at(1, "9:00"))]
    assert set(fields(post(cy, "/series", {**where, "starts": too_close}))) == {"starts"}
    assert set(fields(post(cy, "/series", {**where, "starts": ["2026-11-23T09:00:00"]}))) == {"starts"}
    assert set(fields(post(cy, "/series", {**where, "type": follow_up.pk, "starts": too_close[:1]}))) == {"type"}
    assert "starts" in fields(post(cy, "/series", {**where, "starts": []}))
    assert Appointment.objects.count() == 0


# --- the list: audited, a fixed number of queries --------------------------------------------------


def _book_many(actors, make_patient, floor, follow_up, n: int) -> None:
    for i in range(n):
        booking.book_visit(
            actors["cy"],
            patient=make_patient(legal_first_name=f"Pat{i}", legal_last_name=f"Many{i}"),
            appointment_type=follow_up,
            location=floor["location"],
            starts_at=at(1, "08:00") + datetime.timedelta(minutes=30 * i),
        )


def test_the_list_has_a_fixed_number_of_queries(
    api_client_for, actors, make_patient, floor, follow_up, visit, patient, django_assert_num_queries
):
    cy = api_client_for("cy")
    cy.get(f"{API}/types")  # the token's last use is written once a minute: not in the count
    counts = []
    for day, expected in (("2026-11-23", 1), ("2026-11-24", 8)):
        if day == "2026-11-24":
            _book_many(actors, make_patient, floor, follow_up, 8)
        with django_assert_num_queries(4) as captured:
            rows = cy.get(f"{API}/appointments", {"date": day, "location": floor["location"].pk}).json()
        assert len(rows) == expected
        counts.append(len(captured))
    assert counts[0] == counts[1]
    mine = cy.get(f"{API}/appointments", {"patient": patient.pk}).json()
    assert [r["id"] for r in mine] == [visit.pk]
    assert AuditEvent.objects.filter(event_type="appointment.listed", patient=patient).count() == 1
    assert AuditEvent.objects.filter(event_type="appointment.listed").count() == 3


def test_the_detail_is_audited(api_client_for, visit):
    body = api_client_for("aud").get(f"{API}/appointments/{visit.pk}").json()
    assert body["id"] == visit.pk
    assert body["patient_name"]
    assert AuditEvent.objects.filter(event_type="appointment.viewed", patient=visit.patient).count() == 1
