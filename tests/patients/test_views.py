"""The register, chart and edit pages: validation, duplicates, double submits, contacts, audit rows."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import Patient, PatientContact
from tests.patients.helpers import edit_form_data, escort, patient_form_data, state_of, world

pytestmark = pytest.mark.django_db

ADDR = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "TabletBrowser/1.0"}


def form_token_of(response) -> str:
    match = re.search(rb'name="form_token" value="([0-9a-f-]{36})"', response.content)
    assert match, "the register page must carry a one-time form token"
    return match[1].decode()


# --- Register ---------------------------------------------------------------------------------


def test_register_with_field_errors_shows_them_keeps_the_values_and_creates_nothing(client_for, patient):
    # given a form with no last name, an impossible birth date and a bad email
    before = world()
    data = patient_form_data(
        legal_first_name="Riley", legal_last_name="", date_of_birth="1990-13-45", email="not-an-email", city="Peoria"
    )

    # when
    response = client_for("cy").post(reverse("patients-create"), data)

    # then
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert set(errors) == {"legal_last_name", "date_of_birth", "email"}
    content = response.content.decode()
    assert 'id="id_legal_last_name_error"' in content
    assert 'id="id_date_of_birth_error"' in content
    assert 'aria-invalid="true"' in content
    # What was typed is still there.
    assert 'value="Riley"' in content
    assert 'value="Peoria"' in content
    assert 'value="not-an-email"' in content
    assert world() == before


def test_register_needs_a_way_to_reach_the_patient(client_for):
    data = patient_form_data(phone_mobile="", phone_home="", email="")

    response = client_for("cy").post(reverse("patients-create"), data)

    assert response.status_code == 422
    assert "phone_mobile" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_register_refuses_a_future_birth_date_in_the_clinic_zone(client_for, time_machine):
    # given it is 23:30 on 1 March in Chicago (already 2 March in UTC)
    time_machine.move_to("2024-03-02T05:30:00+00:00", tick=False)

    # when a birth date of 2 March (tomorrow in Chicago) is entered
    response = client_for("cy").post(reverse("patients-create"), patient_form_data(date_of_birth="2024-03-02"))

    # then it is refused, and 1 March (today in Chicago) is accepted
    assert response.status_code == 422
    assert "date_of_birth" in response.context["form"].errors
    ok = client_for("cy").post(reverse("patients-create"), patient_form_data(date_of_birth="2024-03-01"))
    assert ok.status_code == 302


def test_register_creates_the_patient_with_contacts_and_its_audit_row(client_for, clinic, personas):
    # given
    data = patient_form_data(
        [escort(), {"role": "emergency", "name": "Pat Kin", "phone": "312-555-0111"}],
        legal_first_name="  Riley ",
        mrn="hl-777",
        primary_clinician=personas["ada"].pk,
    )

    # when
    response = client_for("cy").post(reverse("patients-create"), data, **ADDR)

    # then
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("patients-chart", args=[patient.pk])
    assert (patient.clinic, patient.legal_first_name, patient.mrn) == (clinic, "Riley", "HL-777")
    assert patient.primary_clinician == personas["ada"]
    assert sorted(patient.contacts.values_list("role", "name")) == [("emergency", "Pat Kin"), ("escort", "Sam Driver")]
    event = AuditEvent.objects.get(event_type="patient.created")
    assert (event.action, event.outcome, event.via) == ("C", 0, "web")
    assert (event.clinic, event.actor, event.actor_role, event.patient) == (
        clinic,
        personas["cy"],
        "front_desk",
        patient,
    )
    assert (event.remote_addr, event.user_agent) == ("203.0.113.9", "TabletBrowser/1.0")
    assert (event.subject_type, event.subject_id) == ("patients.patient", str(patient.pk))
    assert event.detail["new"]["legal_last_name"] == "Quinn"
    assert event.detail["new"]["date_of_birth"] == "1990-06-15"
    assert event.detail["new"]["mrn"] == "HL-777"
    assert event.detail["new"]["primary_clinician"] == personas["ada"].pk
    assert sorted(c["name"] for c in event.detail["contacts"]) == ["Pat Kin", "Sam Driver"]
    assert event.detail["confirmed_not_duplicate"] is False


def test_register_refuses_a_clinician_of_another_clinic_or_a_non_clinician(client_for, personas):
    for who in ("dee", "ivy", "cy"):
        response = client_for("cy").post(
            reverse("patients-create"), patient_form_data(primary_clinician=personas[who].pk)
        )
        assert response.status_code == 422, who
        assert "primary_clinician" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_register_refuses_an_mrn_already_used_in_the_clinic(client_for, patient):
    before = world()

    response = client_for("cy").post(reverse("patients-create"), patient_form_data(mrn=patient.mrn.lower()))

    assert response.status_code == 422
    assert "mrn" in response.context["form"].errors
    assert world() == before


def test_possible_duplicate_is_shown_and_can_be_confirmed(client_for, patient):
    # given Jordan Avery, born 1985-04-12, is registered
    client = client_for("cy")
    data = patient_form_data(legal_first_name="JORDAN", legal_last_name="avery", date_of_birth="1985-04-12")
    token = str(uuid.uuid4())

    # when the same person is registered again (other case)
    first = client.post(reverse("patients-create"), {**data, "form_token": token})

    # then a warning names the existing chart, offers the confirm box and nothing is created
    assert first.status_code == 422
    content = first.content.decode()
    assert 'data-testid="duplicate-warning"' in content
    assert reverse("patients-chart", args=[patient.pk]) in content
    assert 'name="confirm_not_duplicate"' in content
    assert 'value="JORDAN"' in content
    assert Patient.objects.count() == 1

    # when the clerk confirms it is a different person (same form, same token)
    second = client.post(reverse("patients-create"), {**data, "form_token": token, "confirm_not_duplicate": "on"})

    # then the patient is registered and the confirmation is in the audit row
    assert second.status_code == 302
    created = Patient.objects.exclude(pk=patient.pk).get()
    assert second["Location"] == reverse("patients-chart", args=[created.pk])
    event = AuditEvent.objects.get(event_type="patient.created", patient=created)
    assert event.detail["confirmed_not_duplicate"] is True


def test_same_form_posted_twice_creates_one_patient(client_for):
    # given a register form, opened once
    client = client_for("cy")
    token = form_token_of(client.get(reverse("patients-create")))
    data = patient_form_data([escort()], form_token=token)

    # when it is submitted twice (double click, or resubmitted after a refresh)
    first = client.post(reverse("patients-create"), data)
    second = client.post(reverse("patients-create"), data)

    # then one patient, and both go to its chart
    patient = Patient.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("patients-chart", args=[patient.pk])
    assert PatientContact.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="patient.created").count() == 1


def test_a_used_form_token_with_other_values_creates_nothing(client_for):
    client = client_for("cy")
    token = str(uuid.uuid4())
    client.post(reverse("patients-create"), patient_form_data(form_token=token))

    response = client.post(
        reverse("patients-create"), patient_form_data(form_token=token, legal_first_name="Other", phone_mobile="1")
    )

    assert response.status_code == 422
    assert "already submitted" in response.content.decode()
    assert list(Patient.objects.values_list("legal_first_name", flat=True)) == ["Riley"]


def test_a_refused_submission_does_not_use_up_its_token(client_for):
    # given a form sent with an error
    client = client_for("cy")
    token = str(uuid.uuid4())
    bad = client.post(reverse("patients-create"), patient_form_data(form_token=token, mrn="HL-1", legal_last_name=""))
    assert bad.status_code == 422

    # when it is corrected and sent again with the same token
    good = client.post(reverse("patients-create"), patient_form_data(form_token=token, mrn="HL-1"))

    # then it is registered
    assert good.status_code == 302
    assert Patient.objects.get().mrn == "HL-1"


# --- Chart ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tab", "view"), [("", "chart:overview"), ("notes", "chart:notes"), ("bogus", "chart:overview")]
)
def test_chart_read_is_audited(tab, view, client_for, charted, clinic, personas):
    url = reverse("patients-chart", args=[charted.pk]) + (f"?tab={tab}" if tab else "")

    response = client_for("tess").get(url, **ADDR)

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type="patient.viewed")
    assert (event.action, event.outcome, event.via, event.detail) == ("R", 0, "web", {"view": view})
    assert (event.clinic, event.actor, event.actor_role, event.patient) == (
        clinic,
        personas["tess"],
        "therapist",
        charted,
    )
    assert event.remote_addr == "203.0.113.9"


# --- Edit -------------------------------------------------------------------------------------


def test_edit_form_read_is_audited(client_for, charted, personas):
    response = client_for("ben").get(reverse("patients-edit", args=[charted.pk]), **ADDR)

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type="patient.viewed")
    assert (event.action, event.actor, event.patient, event.detail) == (
        "R",
        personas["ben"],
        charted,
        {"view": "edit form"},
    )
    assert (event.via, event.remote_addr) == ("web", "203.0.113.9")


def test_edit_changes_a_field_and_adds_changes_and_deletes_contacts(client_for, make_patient, clinic, personas):
    # given a patient with two escorts
    patient = make_patient(contacts=[escort(name="Sam Driver"), escort(name="Lee Ride", phone="312-555-0200")])
    sam, lee = patient.contacts.order_by("name").reverse()
    assert (sam.name, lee.name) == ("Sam Driver", "Lee Ride")
    contacts_before = sorted(
        ({"id": c.pk, "name": c.name, "phone": c.phone} for c in (sam, lee)), key=lambda c: c["id"]
    )
    data = edit_form_data(
        patient,
        contacts=[
            {"id": sam.pk, "role": "escort", "name": "Sam Driver", "phone": "312-555-0999"},  # changed
            {"id": lee.pk, "role": "escort", "name": "Lee Ride", "phone": "312-555-0200", "DELETE": True},  # deleted
            {"role": "escort", "name": "Max New", "phone": "312-555-0300"},  # added
        ],
        pronouns="they/them",
    )

    # when
    response = client_for("ben").post(reverse("patients-edit", args=[patient.pk]), data, **ADDR)

    # then
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.pronouns == "they/them"
    assert sorted(patient.contacts.values_list("name", "phone")) == [
        ("Max New", "312-555-0300"),
        ("Sam Driver", "312-555-0999"),
    ]
    assert patient.contacts.get(name="Sam Driver").pk == sam.pk  # changed in place, not replaced
    event = AuditEvent.objects.get(event_type="patient.updated")
    assert (event.action, event.outcome, event.via, event.remote_addr) == ("U", 0, "web", "203.0.113.9")
    assert (event.clinic, event.actor, event.patient) == (clinic, personas["ben"], patient)
    changes = event.detail["changes"]
    assert set(changes) == {"pronouns", "contacts"}
    assert changes["pronouns"] == {"old": "", "new": "they/them"}
    old = sorted(
        ({"id": c["id"], "name": c["name"], "phone": c["phone"]} for c in changes["contacts"]["old"]),
        key=lambda c: c["id"],
    )
    new = {c["name"]: c["phone"] for c in changes["contacts"]["new"]}
    assert old == contacts_before
    assert new == {"Sam Driver": "312-555-0999", "Max New": "312-555-0300"}
    # The success message names what was saved.
    follow = client_for("ben").get(response["Location"])
    assert follow.status_code == 200


def test_edit_that_changes_nothing_writes_no_update_row(client_for, charted):
    response = client_for("ben").post(reverse("patients-edit", args=[charted.pk]), edit_form_data(charted))

    assert response.status_code == 302
    assert not AuditEvent.objects.filter(event_type="patient.updated").exists()


def test_edit_with_errors_changes_nothing(client_for, charted):
    before, counts = state_of(charted), world()
    data = edit_form_data(charted, legal_first_name="", date_of_birth="2999-01-01", city="Evanston")

    response = client_for("ben").post(reverse("patients-edit", args=[charted.pk]), data)

    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"legal_first_name", "date_of_birth"}
    assert 'value="Evanston"' in response.content.decode()
    assert state_of(charted) == before
    assert world() == counts


def test_edit_refuses_an_mrn_of_another_patient(client_for, charted, make_patient):
    other = make_patient(legal_first_name="Casey", mrn="HL-500")
    before = state_of(charted)

    response = client_for("ben").post(
        reverse("patients-edit", args=[charted.pk]), edit_form_data(charted, mrn="hl-500")
    )

    assert response.status_code == 422
    assert "mrn" in response.context["form"].errors
    assert state_of(charted) == before
    assert other.mrn == "HL-500"


def test_edit_cannot_touch_a_contact_of_another_patient(client_for, charted, make_patient):
    # given someone else's escort id slipped into the formset
    other = make_patient(legal_first_name="Casey", contacts=[escort(name="Not Yours")])
    foreign = other.contacts.get()
    data = edit_form_data(charted, contacts=[{"id": foreign.pk, "role": "escort", "name": "Hijack", "phone": "1"}])
    before = state_of(other)

    response = client_for("ben").post(reverse("patients-edit", args=[charted.pk]), data)

    # then the other patient's escort is untouched; the row is taken as a new contact of this patient
    assert response.status_code == 302
    assert state_of(other) == before
    assert list(charted.contacts.values_list("name", flat=True)) == ["Hijack"]
    assert foreign.pk not in charted.contacts.values_list("pk", flat=True)


# --- List and search --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "event_type", "detail"),
    [
        ({}, "patient.listed", {"query": "", "status": "", "page": 1, "rows_returned": 2, "total_matches": 2}),
        (
            {"q": " avery ", "status": "active"},
            "patient.searched",
            {"query": "avery", "status": "active", "page": 1, "rows_returned": 1, "total_matches": 1},
        ),
        (
            {"q": "nobody", "status": "bogus"},
            "patient.searched",
            {"query": "nobody", "status": "", "page": 1, "rows_returned": 0, "total_matches": 0},
        ),
    ],
)
def test_list_and_search_pages_write_one_row_with_the_query(
    params, event_type, detail, client_for, charted, make_patient, clinic, personas
):
    make_patient(legal_first_name="Casey", legal_last_name="Blake")

    response = client_for("cy").get(reverse("patients-list"), params, **ADDR)

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type__in=["patient.listed", "patient.searched"])
    shown = [p.pk for p in response.context["page"].object_list]
    assert (event.event_type, event.action, event.outcome, event.detail) == (
        event_type,
        "R",
        0,
        {**detail, "patient_ids": shown},
    )
    assert len(shown) == detail["rows_returned"]
    assert (event.clinic, event.actor, event.patient, event.via, event.remote_addr) == (
        clinic,
        personas["cy"],
        None,
        "web",
        "203.0.113.9",
    )


def test_htmx_search_returns_only_the_results(client_for, charted):
    response = client_for("cy").get(
        reverse("patients-list"), {"q": "avery"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results"
    )

    assert response.status_code == 200
    assert response.templates[0].name == "patients/_results.html"
    assert b"<html" not in response.content
    assert b"Avery, Jordan" in response.content
