"""Refused patient reads are in the audit trail (outcome 4), in the clinic of the one refused."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ADDR = {"REMOTE_ADDR": "198.51.100.7"}


def denial():
    return AuditEvent.objects.get(event_type="patient.access_denied")


@pytest.mark.parametrize(("page", "perm"), [("patients-chart", "patient.view"), ("patients-edit", "patient.edit")])
def test_outsider_on_a_harbor_page_is_recorded(page, perm, client_for, charted, personas, other_clinic):
    # when Dee of Northside opens a Harbor Light chart
    response = client_for("dee").get(reverse(page, args=[charted.pk]), **ADDR)

    # then she gets 404 and the attempt is in her own clinic's trail, naming no patient
    assert response.status_code == 404
    event = denial()
    assert (event.clinic, event.actor, event.actor_role, event.patient) == (
        other_clinic,
        personas["dee"],
        "admin",
        None,
    )
    assert (event.action, event.outcome, event.via, event.remote_addr) == ("R", 4, "web", "198.51.100.7")
    assert event.detail == {"patient_id": charted.pk, "permission": perm, "reason": "not found in clinic"}


def test_outsider_through_the_api_is_recorded(api_client_for, charted, personas, other_clinic):
    response = api_client_for("dee").get(f"/api/v1/patients/{charted.pk}", **ADDR)

    assert response.status_code == 404
    event = denial()
    assert (event.clinic, event.actor, event.patient, event.outcome, event.via) == (
        other_clinic,
        personas["dee"],
        None,
        4,
        "api",
    )
    assert event.detail == {"patient_id": charted.pk, "permission": "patient.view", "reason": "not found in clinic"}


@pytest.mark.parametrize(("method", "who", "perm"), [("get", "ivy", "patient.view"), ("patch", "tess", "patient.edit")])
def test_a_role_refused_through_the_api_is_recorded(method, who, perm, api_client_for, charted, personas, clinic):
    client = api_client_for(who)

    response = getattr(client, method)(
        f"/api/v1/patients/{charted.pk}", data={"city": "X"}, content_type="application/json", **ADDR
    )

    assert response.status_code == 403
    event = denial()
    assert (event.clinic, event.actor, event.outcome, event.via, event.remote_addr) == (
        clinic,
        personas[who],
        4,
        "api",
        "198.51.100.7",
    )
    assert event.detail == {"patient_id": charted.pk, "permission": perm}
