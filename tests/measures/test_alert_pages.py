"""The alert inbox and alert page: who sees them, who acts, and the audit trail of each step."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from ketacare.accounts.models import Membership
from ketacare.audit.models import AuditEvent
from ketacare.measures import actions
from ketacare.measures.models import AlertStatus, SafetyAlert

PHQ9_ITEM9 = {str(i): 0 for i in range(1, 11)} | {"9": 2}


@pytest.fixture
def alert(actors, make_patient, personas, clinic):
    Membership.objects.filter(user=personas["ben"], clinic=clinic).update(on_call=True)
    patient = make_patient(primary_clinician=personas["ada"])
    response = actions.submit_response(actors["ben"], patient, "phq9", PHQ9_ITEM9)
    return SafetyAlert.objects.get(response=response)


@pytest.mark.parametrize(
    ("persona", "inbox", "detail"),
    [
        ("ann", 200, 200),
        ("ada", 200, 200),
        ("ben", 200, 200),
        ("tess", 200, 200),
        ("aud", 200, 200),
        ("cy", 403, 403),
        ("ivy", 403, 403),
        ("dee", 200, 404),
        ("anon", 302, 302),
    ],
)
def test_who_sees_alerts(persona, inbox, detail, client_for, alert):
    client = client_for(persona)
    assert client.get(reverse("measures-alerts")).status_code == inbox
    assert client.get(reverse("measures-alert", args=[alert.pk])).status_code == detail


@pytest.mark.parametrize("persona", ["cy", "ivy", "aud", "dee", "anon"])
def test_who_may_not_acknowledge_or_close(persona, client_for, alert):
    client = client_for(persona)
    client.post(reverse("measures-alert-acknowledge", args=[alert.pk]))
    client.post(
        reverse("measures-alert-close", args=[alert.pk]),
        {"action_taken": "Called the patient and made a safety plan.", "action_at": "2026-01-01T10:00"},
    )
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    assert alert.acknowledged_at is None


def test_badge_inbox_acknowledge_close(client_for, alert):
    client = client_for("ada")

    page = client.get(reverse("patients-list"))
    assert b"1 open" in page.content
    inbox = client.get(reverse("measures-alerts"))
    assert alert.patient.legal_last_name.encode() in inbox.content

    client.post(reverse("measures-alert-acknowledge", args=[alert.pk]))
    refused = client.post(reverse("measures-alert-close", args=[alert.pk]), {"action_taken": "", "action_at": ""})
    assert refused.status_code == 422
    assert b"This field is required" in refused.content
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED

    closed = client.post(
        reverse("measures-alert-close", args=[alert.pk]),
        {
            "action_taken": "Phoned the patient; no plan or intent; safety plan reviewed.",
            "action_at": timezone.localtime(alert.raised_at, alert.clinic.zone).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert closed.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED
    assert b"open</span>" not in client.get(reverse("patients-list")).content
    assert list(
        AuditEvent.objects.filter(event_type__startswith="safety_alert.")
        .values_list("event_type", flat=True)
        .order_by("id")
    ) == [
        "safety_alert.raised",
        "safety_alert.listed",
        "safety_alert.acknowledged",
        "safety_alert.viewed",
        "safety_alert.closed",
    ]
