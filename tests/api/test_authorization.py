"""Authorization matrix of /api/v1/patients: every Harbor Light role, Dee of Northside, no token."""

from __future__ import annotations

import pytest

from ketacare.patients.models import Patient
from tests.patients.helpers import CAN_VIEW, CAN_WRITE, EVERYONE, api_patient, state_of, world

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"detail": "Missing, unknown or revoked API token."}


def missing_id() -> int:
    return (Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


@pytest.mark.parametrize("who", EVERYONE)
def test_list(who, api_client_for, charted, outside_patient):
    response = api_client_for(who).get("/api/v1/patients")

    if who == "anon":
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
        assert response["WWW-Authenticate"] == 'Bearer realm="ketacare"'
    elif who == "dee":
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["results"]] == [outside_patient.pk]
    elif who in CAN_VIEW:
        assert response.status_code == 200
        assert [p["id"] for p in response.json()["results"]] == [charted.pk]
    else:
        assert response.status_code == 403
        assert "results" not in response.json()


@pytest.mark.parametrize("who", EVERYONE)
def test_create(who, api_client_for, clinic, other_clinic, charted):
    client = api_client_for(who)
    before = world()

    response = client.post("/api/v1/patients", api_patient(), content_type="application/json")

    if who in CAN_WRITE or who == "dee":
        assert response.status_code == 201
        created = Patient.objects.get(pk=response.json()["id"])
        assert created.clinic == (other_clinic if who == "dee" else clinic)
        assert created.contacts.count() == 1
        assert world()["patients"] == before["patients"] + 1
        return
    assert response.status_code == (401 if who == "anon" else 403)
    if who == "anon":
        assert response.json() == UNAUTHORIZED
    assert world() == before


@pytest.mark.parametrize("who", EVERYONE)
def test_read(who, api_client_for, charted):
    client = api_client_for(who)

    response = client.get(f"/api/v1/patients/{charted.pk}")

    if who == "anon":
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
    elif who == "dee":
        missing = client.get(f"/api/v1/patients/{missing_id()}")
        assert response.status_code == missing.status_code == 404
        assert response.json() == missing.json()
        assert b"Avery" not in response.content
    elif who in CAN_VIEW:
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["legal_last_name"], body["mrn"]) == (charted.pk, "Avery", charted.mrn)
        assert [c["name"] for c in body["contacts"]] == ["Sam Driver"]
    else:
        assert response.status_code == 403
        assert b"Avery" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_update(who, api_client_for, charted):
    client = api_client_for(who)
    change = {"city": "Evanston", "contacts": [{"role": "emergency", "name": "Pat Kin", "phone": "312-555-0111"}]}
    before, counts = state_of(charted), world()

    response = client.patch(f"/api/v1/patients/{charted.pk}", change, content_type="application/json")

    if who in CAN_WRITE:
        assert response.status_code == 200
        assert response.json()["city"] == "Evanston"
        charted.refresh_from_db()
        assert charted.city == "Evanston"
        assert list(charted.contacts.values_list("name", flat=True)) == ["Pat Kin"]
        return
    if who == "anon":
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
    elif who == "dee":
        missing = client.patch(f"/api/v1/patients/{missing_id()}", change, content_type="application/json")
        assert response.status_code == missing.status_code == 404
        assert response.json() == missing.json()
    else:
        assert response.status_code == 403
    assert state_of(charted) == before
    assert world() == counts
