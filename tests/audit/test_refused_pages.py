"""A page refused for the role (403) leaves a trace: who tried which page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent


@pytest.mark.parametrize(
    ("persona", "url_name", "permission"),
    [
        ("ivy", "patients-list", "patient.view"),
        ("tess", "patients-create", "patient.create"),
        ("ben", "audit-list", "audit.view"),
    ],
)
def test_a_refused_page_is_recorded(persona, url_name, permission, client_for, personas, clinic):
    response = client_for(persona).get(reverse(url_name), REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 403
    event = AuditEvent.objects.get(event_type="access.refused")
    assert (event.actor, event.clinic, event.action, event.outcome, event.remote_addr) == (
        personas[persona],
        clinic,
        "R",
        4,
        "198.51.100.7",
    )
    assert event.detail == {"permission": permission, "path": reverse(url_name)}


def test_a_granted_page_records_no_refusal(client_for):
    assert client_for("cy").get(reverse("patients-list")).status_code == 200
    assert not AuditEvent.objects.filter(event_type="access.refused").exists()
