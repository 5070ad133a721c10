from django.urls import reverse

from ketacare.audit.models import AuditEvent


def test_front_desk_sees_patient_chart_and_it_is_audited(client_for, patient):
    response = client_for("cy").get(reverse("patients-chart", args=[patient.pk]))
    assert response.status_code == 200
    assert b"Avery, Jordan" in response.content
    event = AuditEvent.objects.filter(event_type="patient.viewed").get()
    assert event.patient == patient
    assert event.actor.email == "cy@example.org"


def test_outsider_gets_404(client_for, patient):
    response = client_for("dee").get(reverse("patients-chart", args=[patient.pk]))
    assert response.status_code == 404
