"""Authorization matrix of the patient pages: every Harbor Light role, Dee of Northside, nobody.

Grants and denials are both asserted with their exact status, and a denied write changes nothing.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.patients.models import Patient
from tests.patients.helpers import (
    CAN_VIEW,
    CAN_WRITE,
    EVERYONE,
    edit_form_data,
    patient_form_data,
    state_of,
    world,
)

pytestmark = pytest.mark.django_db


def login_redirect(url: str) -> str:
    return f"{reverse('accounts-login')}?next={url}"


def missing_id() -> int:
    return (Patient.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_list(who, client_for, charted, outside_patient):
    # given Jordan Avery at Harbor Light and Morgan Outside at Northside
    url = reverse("patients-list")

    # when
    response = client_for(who).get(url)

    # then
    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    elif who == "dee":
        assert response.status_code == 200
        assert b"Outside, Morgan" in response.content
        assert b"Avery" not in response.content
        assert charted.mrn.encode() not in response.content
    elif who in CAN_VIEW:
        assert response.status_code == 200
        assert b"Avery, Jordan" in response.content
        assert b"Outside" not in response.content
    else:
        assert response.status_code == 403
        assert b"Avery" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_create_page(who, client_for):
    url = reverse("patients-create")

    response = client_for(who).get(url)

    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    elif who in CAN_WRITE or who == "dee":
        assert response.status_code == 200
        assert b'name="form_token"' in response.content
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_create_post(who, client_for, clinic, other_clinic, charted):
    # given
    url = reverse("patients-create")
    before = world()
    client = client_for(who)

    # when
    response = client.post(url, patient_form_data())

    # then
    if who in CAN_WRITE or who == "dee":
        created = Patient.objects.get(legal_last_name="Quinn")
        assert response.status_code == 302
        assert response["Location"] == reverse("patients-chart", args=[created.pk])
        # Dee registers in her own clinic, never in Harbor Light.
        assert created.clinic == (other_clinic if who == "dee" else clinic)
        assert Patient.objects.count() == before["patients"] + 1
        return
    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    else:
        assert response.status_code == 403
    assert world() == before
    assert not Patient.objects.filter(legal_last_name="Quinn").exists()


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_chart(who, client_for, charted):
    url = reverse("patients-chart", args=[charted.pk])
    client = client_for(who)

    response = client.get(url)

    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    elif who == "dee":
        # Another clinic's patient is exactly as absent as a patient that does not exist.
        missing = client.get(reverse("patients-chart", args=[missing_id()]))
        assert response.status_code == missing.status_code == 404
        assert b"Avery" not in response.content
        assert response.templates[0].name == missing.templates[0].name == "404.html"
    elif who in CAN_VIEW:
        assert response.status_code == 200
        assert b"Avery, Jordan" in response.content
        assert b"Sam Driver" in response.content
    else:
        assert response.status_code == 403
        assert b"Avery" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_edit_page(who, client_for, charted):
    url = reverse("patients-edit", args=[charted.pk])
    client = client_for(who)

    response = client.get(url)

    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    elif who == "dee":
        missing = client.get(reverse("patients-edit", args=[missing_id()]))
        assert response.status_code == missing.status_code == 404
        assert b"Avery" not in response.content
    elif who in CAN_WRITE:
        assert response.status_code == 200
        assert b'value="Avery"' in response.content
    else:
        assert response.status_code == 403
        assert b"Avery" not in response.content


@pytest.mark.parametrize("who", EVERYONE)
def test_patient_edit_post(who, client_for, charted):
    # given an edit that changes the city and the escort's phone, and adds a contact
    url = reverse("patients-edit", args=[charted.pk])
    contact = charted.contacts.get()
    data = edit_form_data(
        charted,
        contacts=[
            {"id": contact.pk, "role": "escort", "name": "Sam Driver", "phone": "312-555-0999"},
            {"role": "emergency", "name": "Pat Kin", "phone": "312-555-0111"},
        ],
        city="Evanston",
    )
    before, counts = state_of(charted), world()
    client = client_for(who)

    # when
    response = client.post(url, data)

    # then
    if who in CAN_WRITE:
        assert response.status_code == 302
        assert response["Location"] == reverse("patients-chart", args=[charted.pk])
        charted.refresh_from_db()
        assert charted.city == "Evanston"
        assert sorted(charted.contacts.values_list("name", "phone")) == [
            ("Pat Kin", "312-555-0111"),
            ("Sam Driver", "312-555-0999"),
        ]
        return
    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == login_redirect(url)
    elif who == "dee":
        missing = client.post(reverse("patients-edit", args=[missing_id()]), data)
        assert response.status_code == missing.status_code == 404
    else:
        assert response.status_code == 403
    assert state_of(charted) == before
    assert world() == counts
