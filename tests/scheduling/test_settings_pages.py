"""Scheduling settings pages (issue #8): administrators only (everyone else 403, Dee 404 for Harbor
Light's rows); each change audited with its values before and after; bad input names the field and
changes nothing; a double submit changes nothing twice; closures and opening hours change what the
slot finder proposes."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.clinics.models import Location, Resource
from ketacare.scheduling import booking
from ketacare.scheduling.models import AppointmentType, Closure, OpeningHours, StaffHours, TimeOff, settings_for
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db

PAGES = [
    "scheduling-settings",
    "scheduling-settings-types",
    "scheduling-settings-hours",
    "scheduling-settings-closures",
]


def token() -> str:
    return str(uuid.uuid4())


@pytest.mark.parametrize("name", PAGES)
def test_only_the_admin_gets_the_settings_pages(client_for: Any, floor: dict[str, Any], name: str) -> None:
    url = reverse(name)
    assert client_for("ann").get(url).status_code == 200
    for key in ("ada", "ben", "tess", "cy", "ivy", "aud"):
        assert client_for(key).get(url).status_code == 403, key
        assert client_for(key).post(url, {"action": "defaults"}).status_code == 403, key
    assert client_for("anon").get(url).status_code == 302


def test_type_edit_is_admin_only_and_another_clinic_gets_404(client_for: Any, floor: dict[str, Any]) -> None:
    iv = floor["types"]["iv-infusion"]
    url = reverse("scheduling-settings-type", args=[iv.pk])
    assert client_for("ann").get(url).status_code == 200
    for key in ("ben", "cy", "aud", "ivy"):
        assert client_for(key).get(url).status_code == 403, key
    assert client_for("dee").get(url).status_code == 404
    assert client_for("dee").post(url, {"name": "Hacked", "duration_minutes": 10}).status_code == 404
    iv.refresh_from_db()
    assert iv.name == "IV ketamine infusion"


def test_rules_save_with_an_audit_row_of_before_and_after(client_for: Any, floor: dict[str, Any], clinic: Any) -> None:
    client = client_for("ann")
    data = {
        "form_token": token(),
        "patients_per_nurse": 3,
        "slot_minutes": 30,
        "late_cancel_hours": 48,
        "no_show_after_minutes": 20,
        "reminder_hours": "4, 48, 48",
        "remind_by_email": "on",
    }
    response = client.post(reverse("scheduling-settings"), data)
    assert response.status_code == 302
    rules = settings_for(clinic)
    assert rules.reminder_hours == [48, 4]
    assert rules.patients_per_nurse == 3
    assert rules.remind_by_sms is False
    event = AuditEvent.objects.get(event_type="schedule_settings.updated")
    assert event.detail["changes"]["reminder_hours"] == {"old": [72, 24], "new": [48, 4]}
    assert event.detail["changes"]["patients_per_nurse"] == {"old": 2, "new": 3}
    assert 'value="48, 4"' in client.get(reverse("scheduling-settings")).content.decode()


def test_bad_rules_name_the_field_and_change_nothing(client_for: Any, floor: dict[str, Any], clinic: Any) -> None:
    data = {
        "form_token": token(),
        "patients_per_nurse": 2,
        "slot_minutes": 15,
        "late_cancel_hours": 24,
        "no_show_after_minutes": 30,
        "reminder_hours": "72, soon",
    }
    response = client_for("ann").post(reverse("scheduling-settings"), data)
    assert response.status_code == 422
    assert "“soon” is not a whole number of hours" in response.content.decode()
    assert "Reminder times" in response.content.decode()
    assert settings_for(clinic).reminder_hours == [72, 24]
    assert not AuditEvent.objects.filter(event_type="schedule_settings.updated").exists()


def test_appointment_type_edit_and_defaults(client_for: Any, clinic: Any, personas: Any) -> None:
    client = client_for("ann")
    response = client.post(reverse("scheduling-settings-types"), {"action": "defaults", "form_token": token()})
    assert response.status_code == 302
    assert AppointmentType.objects.filter(clinic=clinic).count() == 8
    assert AuditEvent.objects.get(event_type="appointment_type.defaults_added").detail["added"]
    page = client.get(reverse("scheduling-settings-types")).content.decode()
    assert "From the protocol" not in page  # every default has its own fallback buffer
    spravato = AppointmentType.objects.get(clinic=clinic, code="spravato")
    edit = reverse("scheduling-settings-type", args=[spravato.pk])
    assert "protocol" in client.get(edit).content.decode()  # the buffer help says where it comes from
    data = {
        "form_token": token(),
        "name": "Spravato session",
        "duration_minutes": 40,
        "buffer_minutes": "",
        "space": "chair",
        "needs_nurse": "on",
        "clinician_role": "",
        "needs_prescriber_on_site": "on",
        "is_active": "on",
    }
    assert client.post(edit, data).status_code == 302
    spravato.refresh_from_db()
    assert spravato.name == "Spravato session"
    assert spravato.duration_minutes == 40
    assert spravato.buffer_minutes is None
    event = AuditEvent.objects.get(event_type="appointment_type.updated")
    assert event.detail["changes"]["buffer_minutes"] == {"old": 120, "new": None}
    bad = client.post(edit, {**data, "form_token": token(), "duration_minutes": 2})
    assert bad.status_code == 422
    assert "Visit length" in bad.content.decode()
    # Limited to some chairs: a room is refused for a chair type, a chair is kept (and audited).
    room = Resource.objects.create(
        clinic=clinic, location=Location.objects.get(clinic=clinic, name="Main Street"), kind="room", name="Room B"
    )
    chair = Resource.objects.get(clinic=clinic, name="Chair 1")
    wrong = client.post(edit, {**data, "form_token": token(), "resources": [room.pk]})
    assert wrong.status_code == 422
    assert "Room B is a room; this type occupies a treatment chair." in wrong.content.decode()
    assert client.post(edit, {**data, "form_token": token(), "resources": [chair.pk]}).status_code == 302
    assert list(spravato.resources.all()) == [chair]
    last = AuditEvent.objects.filter(event_type="appointment_type.updated").order_by("-id").first()
    assert last is not None
    assert last.detail["changes"]["resources"] == {"old": [], "new": [chair.pk]}


def test_opening_hours_add_validate_and_double_submit(client_for: Any, floor: dict[str, Any], clinic: Any) -> None:
    client = client_for("ann")
    url = reverse("scheduling-settings-hours")
    location = floor["location"]
    before = OpeningHours.objects.count()
    wrong = {
        "action": "add-opening",
        "form_token": token(),
        "opening-location": location.pk,
        "opening-weekday": 5,
        "opening-opens": "12:00",
        "opening-closes": "09:00",
    }
    response = client.post(url, wrong)
    assert response.status_code == 422
    assert "Closing time must be after opening time." in response.content.decode()
    assert OpeningHours.objects.count() == before

    good = {**wrong, "opening-opens": "09:00", "opening-closes": "13:00", "form_token": token()}
    assert client.post(url, good).status_code == 302
    assert client.post(url, good).status_code == 302  # the same form again: nothing twice
    assert OpeningHours.objects.count() == before + 1
    row = OpeningHours.objects.get(location=location, weekday=5)
    event = AuditEvent.objects.get(event_type="opening_hours.created")
    assert event.detail["new"]["opens"] == "09:00:00"

    assert (
        client_for("dee").post(url, {"action": "remove-opening", "id": row.pk, "form_token": token()}).status_code
        == 404
    )
    assert client_for("cy").post(url, {"action": "remove-opening", "id": row.pk}).status_code == 403
    assert OpeningHours.objects.filter(pk=row.pk).exists()
    assert client.post(url, {"action": "remove-opening", "id": row.pk, "form_token": token()}).status_code == 302
    assert not OpeningHours.objects.filter(pk=row.pk).exists()
    assert AuditEvent.objects.get(event_type="opening_hours.deleted").detail["old"]["weekday"] == 5


def test_staff_hours_need_a_member_of_the_clinic(client_for: Any, floor: dict[str, Any], personas: Any) -> None:
    client = client_for("ann")
    url = reverse("scheduling-settings-hours")
    data = {
        "action": "add-staff",
        "form_token": token(),
        "staff-user": personas["dee"].pk,
        "staff-location": floor["location"].pk,
        "staff-weekday": 5,
        "staff-starts": "09:00",
        "staff-ends": "08:00",
    }
    response = client.post(url, data)
    assert response.status_code == 422
    text = response.content.decode()
    assert "Choose a member of this clinic&#x27;s staff." in text
    assert "The end must be after the start." in text
    ok = {**data, "staff-user": personas["ben"].pk, "staff-ends": "13:00", "form_token": token()}
    assert client.post(url, ok).status_code == 302
    row = StaffHours.objects.get(user=personas["ben"], weekday=5)
    assert (
        client_for("dee").post(url, {"action": "remove-staff", "id": row.pk, "form_token": token()}).status_code == 404
    )
    assert client.post(url, {"action": "remove-staff", "id": row.pk, "form_token": token()}).status_code == 302
    assert not StaffHours.objects.filter(pk=row.pk).exists()


def test_a_closure_must_name_a_chair_at_the_chosen_location(
    client_for: Any, floor: dict[str, Any], clinic: Any
) -> None:
    other = Location.objects.create(clinic=clinic, name="Lakeside")
    lake_chair = Resource.objects.create(clinic=clinic, location=other, kind=Resource.Kind.CHAIR, name="Lake 1")
    data = {
        "action": "add-closure",
        "form_token": token(),
        "closure-location": floor["location"].pk,
        "closure-resource": lake_chair.pk,
        "closure-starts_at": "2026-11-24T08:00",
        "closure-ends_at": "2026-11-24T07:00",
        "closure-reason": "Repair",
    }
    response = client_for("ann").post(reverse("scheduling-settings-closures"), data)
    assert response.status_code == 422
    text = response.content.decode()
    assert "Lake 1 is not at Main Street" in text
    assert "The end must be after the start." in text
    assert not Closure.objects.exists()


def test_a_closure_removes_slots_from_the_proposals(
    client_for: Any, floor: dict[str, Any], actors: dict[str, Any], iv_type: Any
) -> None:
    location = floor["location"]

    def first_days() -> set[datetime.date]:
        found = booking.propose_visits(
            actors["cy"], appointment_type=iv_type, location=location, after=at(1, "00:00"), limit=40
        )
        return {p.starts_at.astimezone(at(0, "00:00").tzinfo).date() for p in found}

    assert at(1, "00:00").date() in first_days()
    data = {
        "action": "add-closure",
        "form_token": token(),
        "closure-location": location.pk,
        "closure-starts_at": "2026-11-24T00:00",
        "closure-ends_at": "2026-11-25T00:00",
        "closure-reason": "Staff training day",
    }
    client = client_for("ann")
    assert client.post(reverse("scheduling-settings-closures"), data).status_code == 302
    closure = Closure.objects.get()
    assert closure.starts_at == at(1, "00:00")  # entered in the clinic's zone
    assert at(1, "00:00").date() not in first_days()
    page = client.get(reverse("scheduling-settings-closures")).content.decode()
    assert "Staff training day" in page
    assert AuditEvent.objects.filter(event_type="closure.created").count() == 1

    assert (
        client_for("dee")
        .post(
            reverse("scheduling-settings-closures"),
            {"action": "remove-closure", "id": closure.pk, "form_token": token()},
        )
        .status_code
        == 404
    )
    assert (
        client.post(
            reverse("scheduling-settings-closures"),
            {"action": "remove-closure", "id": closure.pk, "form_token": token()},
        ).status_code
        == 302
    )
    assert at(1, "00:00").date() in first_days()


def test_time_off_is_added_and_removed(client_for: Any, floor: dict[str, Any], personas: Any) -> None:
    client = client_for("ann")
    url = reverse("scheduling-settings-closures")
    data = {
        "action": "add-timeoff",
        "form_token": token(),
        "off-user": personas["ben"].pk,
        "off-starts_at": "2026-11-24T08:00",
        "off-ends_at": "2026-11-24T18:00",
        "off-reason": "Leave",
    }
    assert client.post(url, data).status_code == 302
    row = TimeOff.objects.get()
    assert row.ends_at == at(1, "18:00")
    assert "Leave" in client.get(url).content.decode()
    assert (
        client_for("dee").post(url, {"action": "remove-timeoff", "id": row.pk, "form_token": token()}).status_code
        == 404
    )
    assert client.post(url, {"action": "remove-timeoff", "id": row.pk, "form_token": token()}).status_code == 302
    assert not TimeOff.objects.exists()
    assert AuditEvent.objects.filter(event_type__startswith="time_off.").count() == 2


def test_removing_opening_hours_changes_the_proposals(
    client_for: Any, floor: dict[str, Any], actors: dict[str, Any], iv_type: Any
) -> None:
    location = floor["location"]
    first = booking.propose_visits(actors["cy"], appointment_type=iv_type, location=location, after=at(0, "07:00"))
    assert first[0].starts_at == at(0, "08:00")
    monday = OpeningHours.objects.get(location=location, weekday=0)
    response = client_for("ann").post(
        reverse("scheduling-settings-hours"), {"action": "remove-opening", "id": monday.pk, "form_token": token()}
    )
    assert response.status_code == 302
    again = booking.propose_visits(actors["cy"], appointment_type=iv_type, location=location, after=at(0, "07:00"))
    assert again[0].starts_at == at(1, "08:00")


def test_hours_and_closures_pages_do_not_grow_queries_with_rows(
    client_for: Any,
    floor: dict[str, Any],
    clinic: Any,
    personas: Any,
    django_assert_max_num_queries: Any,
) -> None:
    client = client_for("ann")
    with django_assert_max_num_queries(20):
        assert client.get(reverse("scheduling-settings-hours")).status_code == 200
    for n in range(10):
        Closure.objects.create(
            clinic=clinic,
            location=floor["location"],
            resource=floor["chairs"][n % 3],
            starts_at=at(1, "08:00") + datetime.timedelta(days=n),
            ends_at=at(1, "12:00") + datetime.timedelta(days=n),
            reason=f"Repair {n}",
            created_by=personas["ann"],
        )
        TimeOff.objects.create(
            clinic=clinic,
            user=personas["ben"],
            starts_at=at(1, "08:00") + datetime.timedelta(days=n),
            ends_at=at(1, "12:00") + datetime.timedelta(days=n),
            created_by=personas["ann"],
        )
    with django_assert_max_num_queries(20):
        assert client.get(reverse("scheduling-settings-hours")).status_code == 200  # 15 staff rows, 5 opening
    with django_assert_max_num_queries(20):
        assert client.get(reverse("scheduling-settings-closures")).status_code == 200
