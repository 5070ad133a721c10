"""Questionnaire responses and the safety alerts they raise.

A response and its alert are written in one transaction, so neither exists without the other.
Alerts are never deleted; each step (raised, notified, escalated, acknowledged, closed) is a
column here and a row in the audit trail. Notifications go through an outbox (AlertNotification)
so a failed send is retried and a repeated sweep sends nothing twice.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from ketacare.clinics.models import Clinic
from ketacare.patients.models import Patient


class ResponseSource(models.TextChoices):
    STAFF = "staff", "Entered by staff"
    LINK = "link", "Patient, by secure link"
    KIOSK = "kiosk", "Patient, on a clinic tablet"
    API = "api", "API"


class Response(models.Model):
    """One completed questionnaire, scored when it was written. Never edited: a correction is a new response."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="responses")
    instrument_code = models.CharField(max_length=40)
    instrument_version = models.CharField(max_length=10)
    answers = models.JSONField(help_text='Item id -> value, e.g. {"1": 2, "9": 1}.')
    valid = models.BooleanField(help_text="False when a required item is missing: no total is given.")
    total = models.IntegerField(null=True, blank=True)
    severity = models.CharField(max_length=40, blank=True)
    severity_label = models.CharField(max_length=100, blank=True)
    subscales = models.JSONField(default=dict, blank=True)
    risk_level = models.CharField(max_length=40, blank=True)
    score_detail = models.JSONField(default=dict, blank=True, help_text="Everything else the scorer reported.")
    source = models.CharField(max_length=10, choices=ResponseSource.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-completed_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "patient", "instrument_code", "completed_at"], name="response_history"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} {self.total} ({self.patient_id})"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open — not yet acknowledged"
    ACKNOWLEDGED = "acknowledged", "Acknowledged — action pending"
    CLOSED = "closed", "Closed"


class EscalationLevel(models.IntegerChoices):
    NONE = 0, "Primary clinician and on-call list"
    COVERING = 1, "Escalated to the covering clinician"
    ADMIN = 2, "Escalated to the clinic administrators"


class SafetyAlertQuerySet(models.QuerySet["SafetyAlert"]):
    def delete(self) -> NoReturn:  # type: ignore[override]
        raise RuntimeError("Safety alerts are never deleted.")

    def unresolved(self) -> SafetyAlertQuerySet:
        return self.exclude(status=AlertStatus.CLOSED)


class SafetyAlert(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="safety_alerts")
    response = models.OneToOneField(Response, on_delete=models.PROTECT, related_name="alert")
    reasons = models.JSONField(help_text="What raised it: [{item, answer, threshold, text}] or a risk level.")
    status = models.CharField(max_length=15, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    raised_at = models.DateTimeField()
    ack_due_at = models.DateTimeField(help_text="Escalates if not acknowledged by then.")
    escalation_level = models.PositiveSmallIntegerField(choices=EscalationLevel.choices, default=EscalationLevel.NONE)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action_taken = models.TextField(blank=True, help_text="What was done, documented when closing.")
    action_at = models.DateTimeField(null=True, blank=True, help_text="When it was done.")

    objects = SafetyAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "status", "ack_due_at"], name="alert_open_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="closed") | (~models.Q(action_taken="") & models.Q(closed_at__isnull=False)),
                name="alert_closed_with_action",
            ),
        ]

    def __str__(self) -> str:
        return f"Safety alert {self.pk} ({self.get_status_display()})"

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("Safety alerts are never deleted.")


class NotificationKind(models.TextChoices):
    RAISED = "raised", "Alert raised"
    ESCALATED_COVERING = "escalated_covering", "Escalated to covering clinician"
    ESCALATED_ADMIN = "escalated_admin", "Escalated to administrators"


class AlertNotification(models.Model):
    """Outbox: one message to one person about one step of one alert. Sent at most once."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(SafetyAlert, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "recipient", "kind"], name="notification_once_per_step"),
        ]
        indexes = [models.Index(fields=["sent_at", "id"], name="notification_pending")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"
