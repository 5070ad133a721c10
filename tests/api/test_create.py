"""POST /api/v1/patients: field errors, clinic rules, possible duplicates and Idempotency-Key."""

from __future__ import annotations

import datetime

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import Patient
from tests.patients.helpers import api_patient, world

pytestmark = pytest.mark.django_db


@pytest.fixture
def cy(api_client_for):
    return api_client_for("cy")


def post(client, body, **headers):
    return client.post("/api/v1/patients", body, content_type="application/json", **headers)


def fields_of(response) -> set[str]:
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert all(item["msg"] for item in detail)
    return {item["field"] for item in detail}


def test_created_patient_is_returned_and_audited(cy, clinic, personas):
    response = post(cy, api_patient(email="riley@example.org"), REMOTE_ADDR="192.0.2.44")

    assert response.status_code == 201
    body = response.json()
    patient = Patient.objects.get()
    assert body["id"] == patient.pk
    assert (body["mrn"], body["date_of_birth"], body["email"]) == ("HL-000001", "1990-06-15", "riley@example.org")
    assert [(c["role"], c["name"]) for c in body["contacts"]] == [("escort", "Sam Driver")]
    event = AuditEvent.objects.get(event_type="patient.created")
    assert (event.action, event.clinic, event.actor, event.patient, event.via, event.remote_addr) == (
        "C",
        clinic,
        personas["cy"],
        patient,
        "api",
        "192.0.2.44",
    )
    assert event.detail["new"]["legal_last_name"] == "Quinn"
    assert event.detail["new"]["email"] == "riley@example.org"


def test_every_bad_field_is_named(cy):
    before = world()
    body = api_patient(date_of_birth="1990-02-30", sex_at_birth="robot")
    del body["legal_last_name"]
    body["contacts"] = [{"role": "escort", "name": "", "phone": "1"}]

    response = post(cy, body)

    assert fields_of(response) == {"legal_last_name", "date_of_birth", "sex_at_birth", "contacts.0.name"}
    assert world() == before


def test_a_bad_email_is_named(cy):
    assert fields_of(post(cy, api_patient(email="not-an-email"))) == {"email"}


def test_a_body_that_is_not_json_is_400(cy):
    response = cy.post("/api/v1/patients", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mrn": "HL-000001"}, "mrn"),  # already used (the existing patient's)
        ({"mrn": "hl-000001"}, "mrn"),  # the same, typed in lower case
        ({"primary_clinician_id": "ivy"}, "primary_clinician_id"),  # inventory: not a clinician
        ({"primary_clinician_id": "cy"}, "primary_clinician_id"),  # front desk: not a clinician
        ({"primary_clinician_id": "dee"}, "primary_clinician_id"),  # another clinic's staff
        ({"primary_clinician_id": 999999}, "primary_clinician_id"),  # nobody
        ({"date_of_birth": "tomorrow"}, "date_of_birth"),
        ({"date_of_birth": "1890-01-01"}, "date_of_birth"),  # over 120
        ({"phone_mobile": "", "phone_home": "", "email": None}, "phone_mobile"),  # no way to reach them
    ],
)
def test_clinic_rules_are_422_naming_the_field(change, field, cy, patient, personas, clinic):
    # given
    change = dict(change)
    if isinstance(change.get("primary_clinician_id"), str):
        change["primary_clinician_id"] = personas[change["primary_clinician_id"]].pk
    if change.get("date_of_birth") == "tomorrow":
        change["date_of_birth"] = (
            datetime.datetime.now(tz=clinic.zone).date() + datetime.timedelta(days=1)
        ).isoformat()
    before = world()

    # when
    response = post(cy, api_patient(**change))

    # then
    assert fields_of(response) == {field}
    assert world() == before


@pytest.mark.parametrize("who", ["ada", "ben", "tess"])
def test_each_clinician_role_may_be_primary(who, cy, personas):
    response = post(cy, api_patient(primary_clinician_id=personas[who].pk))

    assert response.status_code == 201
    assert response.json()["primary_clinician_id"] == personas[who].pk


def test_possible_duplicate_is_409_then_created_when_confirmed(cy, patient):
    # given Jordan Avery, 1985-04-12, is registered
    body = api_patient(legal_first_name="jordan", legal_last_name="AVERY", date_of_birth="1985-04-12")
    key = {"HTTP_IDEMPOTENCY_KEY": "dup-check-1"}

    # when the same name and birth date are sent
    first = post(cy, body, **key)

    # then 409 lists the possible duplicate and nothing is created
    assert first.status_code == 409
    assert first.json()["possible_duplicates"] == [
        {
            "id": patient.pk,
            "mrn": patient.mrn,
            "legal_first_name": "Jordan",
            "legal_last_name": "Avery",
            "preferred_name": "",
            "date_of_birth": "1985-04-12",
            "status": "active",
        }
    ]
    assert "confirm_not_duplicate" in first.json()["detail"]
    assert Patient.objects.count() == 1

    # when the client confirms (the refused request did not use up its key)
    second = post(cy, {**body, "confirm_not_duplicate": True}, **key)

    # then
    assert second.status_code == 201
    assert Patient.objects.count() == 2
    assert (
        AuditEvent.objects.get(patient_id=second.json()["id"], event_type="patient.created").detail[
            "confirmed_not_duplicate"
        ]
        is True
    )


def test_repeated_post_with_the_same_key_returns_the_first_result_and_creates_nothing(cy):
    # given
    key = {"HTTP_IDEMPOTENCY_KEY": "3f1c2e1a-retry"}
    first = post(cy, api_patient(), **key)
    assert first.status_code == 201
    after_first = world()

    # when the client retries (e.g. after a timeout)
    second = post(cy, api_patient(), **key)

    # then the first result comes back, and nothing more is created or audited
    assert second.status_code == 200
    assert second.json() == first.json()
    assert second.json()["id"] == first.json()["id"]
    assert world() == after_first
    assert Patient.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="patient.created").count() == 1


def test_same_key_with_another_body_is_422(cy):
    key = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    post(cy, api_patient(), **key)
    before = world()

    response = post(cy, api_patient(legal_first_name="Someone", legal_last_name="Else"), **key)

    assert fields_of(response) == {"Idempotency-Key"}
    assert world() == before


def test_keys_belong_to_one_user(api_client_for):
    # Two users may pick the same key: each gets their own result.
    key = {"HTTP_IDEMPOTENCY_KEY": "shared"}
    first = post(api_client_for("cy"), api_patient(), **key)
    second = post(api_client_for("ben"), api_patient(legal_first_name="Other"), **key)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


def test_a_refused_request_does_not_use_up_its_key(cy, patient):
    key = {"HTTP_IDEMPOTENCY_KEY": "fix-and-retry"}
    assert post(cy, api_patient(mrn=patient.mrn), **key).status_code == 422

    response = post(cy, api_patient(mrn="HL-900"), **key)

    assert response.status_code == 201
    assert response.json()["mrn"] == "HL-900"


def test_a_role_without_the_permission_is_403_even_with_a_key(api_client_for):
    before = world()

    response = post(api_client_for("tess"), api_patient(), HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 403
    assert world() == before


def test_a_role_without_the_permission_is_403_before_any_clinic_rule(api_client_for, patient, personas):
    # A role that may not register learns nothing from the clinic's rules (MRNs in use, clinicians).
    body = api_patient(mrn=patient.mrn, primary_clinician_id=personas["dee"].pk, date_of_birth="2999-01-01")

    response = post(api_client_for("tess"), body)

    assert response.status_code == 403
