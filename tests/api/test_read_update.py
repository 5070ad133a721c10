"""GET and PATCH /api/v1/patients/{id}: audit rows, partial changes, contacts and field errors."""

from __future__ import annotations

import pytest

from ketacare.audit.models import AuditEvent
from tests.patients.helpers import state_of, world

pytestmark = pytest.mark.django_db


def patch(client, patient, body, **extra):
    return client.patch(f"/api/v1/patients/{patient.pk}", body, content_type="application/json", **extra)


def test_read_is_audited(api_client_for, charted, clinic, personas):
    response = api_client_for("tess").get(
        f"/api/v1/patients/{charted.pk}", REMOTE_ADDR="192.0.2.80", HTTP_USER_AGENT="integration/3"
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type="patient.viewed")
    assert (event.action, event.outcome, event.clinic, event.actor, event.actor_role, event.patient) == (
        "R",
        0,
        clinic,
        personas["tess"],
        "therapist",
        charted,
    )
    assert (event.via, event.remote_addr, event.user_agent, event.detail) == (
        "api",
        "192.0.2.80",
        "integration/3",
        {"view": "api"},
    )


def test_read_of_a_missing_patient_is_404_and_reads_nothing(api_client_for, charted):
    response = api_client_for("tess").get(f"/api/v1/patients/{charted.pk + 1000}")

    assert response.status_code == 404
    assert not AuditEvent.objects.filter(event_type="patient.viewed").exists()


def test_patch_changes_only_the_given_fields_and_is_audited(api_client_for, charted, clinic, personas):
    # given
    contact = charted.contacts.get()

    # when the city changes, the MRN is corrected and the escort is replaced by two contacts
    response = patch(
        api_client_for("ben"),
        charted,
        {
            "city": "Evanston",
            "mrn": "hl-77",
            "primary_clinician_id": personas["ada"].pk,
            "contacts": [
                {"role": "escort", "name": "Lee Ride", "phone": "312-555-0200"},
                {"role": "emergency", "name": "Pat Kin", "phone": "312-555-0111", "email": "pat@example.org"},
            ],
        },
        REMOTE_ADDR="192.0.2.81",
    )

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["city"], body["mrn"], body["legal_last_name"]) == ("Evanston", "HL-77", "Avery")
    assert sorted(c["name"] for c in body["contacts"]) == ["Lee Ride", "Pat Kin"]
    charted.refresh_from_db()
    assert (charted.city, charted.mrn, charted.primary_clinician) == ("Evanston", "HL-77", personas["ada"])
    event = AuditEvent.objects.get(event_type="patient.updated")
    assert (event.action, event.clinic, event.actor, event.patient, event.via, event.remote_addr) == (
        "U",
        clinic,
        personas["ben"],
        charted,
        "api",
        "192.0.2.81",
    )
    changes = event.detail["changes"]
    assert set(changes) == {"city", "mrn", "primary_clinician", "contacts"}
    assert changes["mrn"] == {"old": "HL-000001", "new": "HL-77"}
    assert changes["primary_clinician"] == {"old": None, "new": personas["ada"].pk}
    assert [c["id"] for c in changes["contacts"]["old"]] == [contact.pk]
    assert sorted(c["name"] for c in changes["contacts"]["new"]) == ["Lee Ride", "Pat Kin"]


def test_patch_without_contacts_keeps_them(api_client_for, charted):
    response = patch(api_client_for("ben"), charted, {"status": "inactive"})

    assert response.status_code == 200
    assert [c["name"] for c in response.json()["contacts"]] == ["Sam Driver"]
    assert set(AuditEvent.objects.get(event_type="patient.updated").detail["changes"]) == {"status"}


def test_patch_that_changes_nothing_writes_no_update_row(api_client_for, charted):
    response = patch(api_client_for("ben"), charted, {"city": ""})

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(event_type="patient.updated").exists()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"legal_last_name": None}, {"legal_last_name"}),
        ({"date_of_birth": "1985-02-30", "sex_at_birth": "robot"}, {"date_of_birth", "sex_at_birth"}),
        ({"date_of_birth": "2999-01-01"}, {"date_of_birth"}),
        ({"mrn": "taken"}, {"mrn"}),
        ({"mrn": ""}, {"mrn"}),
        ({"primary_clinician_id": "dee"}, {"primary_clinician_id"}),
        ({"primary_clinician_id": "ivy"}, {"primary_clinician_id"}),
        ({"phone_mobile": "", "email": None}, {"phone_mobile"}),
        ({"email": "nope"}, {"email"}),
        ({"contacts": [{"role": "driver", "name": "X", "phone": "1"}]}, {"contacts.0.role"}),
    ],
)
def test_patch_with_bad_values_is_422_naming_them_and_changes_nothing(
    body, fields, api_client_for, charted, make_patient, personas
):
    # given
    other = make_patient(legal_first_name="Casey", mrn="TAKEN")
    body = {k: (personas[v].pk if k == "primary_clinician_id" else v) for k, v in body.items()}
    client = api_client_for("ben")
    before, counts = state_of(charted), world()

    # when
    response = patch(client, charted, {"city": "Evanston", **body})

    # then
    assert response.status_code == 422, response.content
    assert {item["field"] for item in response.json()["detail"]} == fields
    assert state_of(charted) == before
    assert world() == counts
    assert other.mrn == "TAKEN"


def test_list_and_search_are_audited_once_per_request(api_client_for, charted, make_patient, clinic, personas):
    make_patient(legal_first_name="Casey", legal_last_name="Blake")
    client = api_client_for("aud")

    listed = client.get("/api/v1/patients", REMOTE_ADDR="192.0.2.90")
    searched = client.get("/api/v1/patients", {"q": "blake", "status": "active"}, REMOTE_ADDR="192.0.2.90")

    assert [p["legal_last_name"] for p in listed.json()["results"]] == ["Avery", "Blake"]
    assert [p["legal_last_name"] for p in searched.json()["results"]] == ["Blake"]
    events = AuditEvent.objects.filter(event_type__in=["patient.listed", "patient.searched"]).order_by("id")
    assert [(e.event_type, e.action, e.clinic, e.actor, e.via, e.remote_addr) for e in events] == [
        ("patient.listed", "R", clinic, personas["aud"], "api", "192.0.2.90"),
        ("patient.searched", "R", clinic, personas["aud"], "api", "192.0.2.90"),
    ]
    listed_ids = [p["id"] for p in listed.json()["results"]]
    searched_ids = [p["id"] for p in searched.json()["results"]]
    assert events[0].detail == {
        "query": "",
        "status": "",
        "page": 1,
        "rows_returned": 2,
        "total_matches": 2,
        "patient_ids": listed_ids,
    }
    assert events[1].detail == {
        "query": "blake",
        "status": "active",
        "page": 1,
        "rows_returned": 1,
        "total_matches": 1,
        "patient_ids": searched_ids,
    }


def test_list_refuses_a_bad_status_or_page_naming_it(api_client_for):
    client = api_client_for("aud")

    bad_status = client.get("/api/v1/patients", {"status": "bogus"})
    bad_page = client.get("/api/v1/patients", {"page": 0})

    assert bad_status.status_code == bad_page.status_code == 422
    assert [d["field"] for d in bad_status.json()["detail"]] == ["status"]
    assert [d["field"] for d in bad_page.json()["detail"]] == ["page"]
    assert not AuditEvent.objects.filter(event_type__in=["patient.listed", "patient.searched"]).exists()
