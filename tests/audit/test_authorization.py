"""Authorization matrix of the audit pages: admins and auditors only, each of their own clinic."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from tests.patients.helpers import CAN_AUDIT, EVERYONE

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbor_trail(client_for, charted):
    """Harbor Light's trail holds a chart read of Jordan Avery."""
    assert client_for("tess").get(reverse("patients-chart", args=[charted.pk])).status_code == 200
    return charted


@pytest.mark.parametrize("who", EVERYONE)
def test_audit_list(who, client_for, harbor_trail, outside_patient):
    url = reverse("audit-list")
    before = AuditEvent.objects.filter(event_type="audit.viewed").count()

    response = client_for(who).get(url)

    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('accounts-login')}?next={url}"
    elif who == "dee":
        assert response.status_code == 200
        rows = response.context["page"].object_list
        assert rows
        assert {e.clinic.slug for e in rows} == {"northside"}
        assert b"Avery" not in response.content
        assert b"Tess Rivera" not in response.content
    elif who in CAN_AUDIT:
        assert response.status_code == 200
        assert b"Avery, Jordan" in response.content
        assert b"Tess Rivera" in response.content
        assert {e.clinic.slug for e in response.context["page"].object_list} == {"harbor"}
    else:
        assert response.status_code == 403
        assert b"Avery" not in response.content
    granted = who in CAN_AUDIT or who == "dee"
    assert AuditEvent.objects.filter(event_type="audit.viewed").count() == before + granted


@pytest.mark.parametrize("who", EVERYONE)
def test_audit_export(who, client_for, harbor_trail, outside_patient):
    url = reverse("audit-export")

    response = client_for(who).get(url)

    if who == "anon":
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('accounts-login')}?next={url}"
        return
    if who not in CAN_AUDIT and who != "dee":
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(event_type="audit.exported").exists()
        return
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    if who == "dee":
        assert "Avery" not in body
        assert "Tess Rivera" not in body
        assert harbor_trail.mrn not in body
        assert "NS-000001" in body  # her own clinic's trail
    else:
        assert "Tess Rivera" in body
        assert harbor_trail.mrn in body
        assert "NS-000001" not in body
        assert "Dee Walsh" not in body


def test_an_outsider_cannot_reach_harbor_events_by_filtering_for_them(client_for, harbor_trail, personas):
    client = client_for("dee")
    filters = [
        {"patient_id": harbor_trail.pk},
        {"patient": harbor_trail.mrn},
        {"event_type": "patient.viewed"},
    ]

    for params in filters:
        page = client.get(reverse("audit-list"), params)
        export = client.get(reverse("audit-export"), params)

        assert page.status_code == export.status_code == 200
        assert list(page.context["page"].object_list) == [], params
        assert b"Avery" not in page.content
        assert b"".join(export.streaming_content).decode().count("\n") == 1, params  # the header only
    # and a Harbor Light user is not one of her filter's choices
    assert client.get(reverse("audit-list"), {"actor": personas["tess"].pk}).status_code == 422


def test_audit_page_query_count_does_not_grow_with_events(client_for, make_patient, django_assert_num_queries):
    client = client_for("aud")
    client.get(reverse("audit-list"))  # warm up

    make_patient()
    with django_assert_num_queries(AUDIT_PAGE_QUERIES):
        few = client.get(reverse("audit-list"))
    for i in range(30):
        make_patient(legal_first_name=f"P{i}", contacts=[{"role": "escort", "name": "E", "phone": "1"}])
    with django_assert_num_queries(AUDIT_PAGE_QUERIES):
        many = client.get(reverse("audit-list"))

    assert len(few.context["page"].object_list) < len(many.context["page"].object_list) == 34


# session, user, membership, OTP devices, filter choices (users), count, page (with patients),
# one audit row, the header's open safety-alert count, then the session save (SAVEPOINT, UPDATE,
# RELEASE).
AUDIT_PAGE_QUERIES = 12
