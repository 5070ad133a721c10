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
from ketacare.measures.definitions import UnknownInstrument, get_instrument
from ketacare.measures.outbox import OutboxMessage
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

    @property
    def instrument_abbreviation(self) -> str:
        """ "PHQ-9" for "phq9": the instrument's own short name, from its versioned data."""
        try:
            return get_instrument(self.instrument_code, self.instrument_version).abbreviation
        except UnknownInstrument:
            return self.instrument_code.upper()


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


class AlertNotification(OutboxMessage):
    """Outbox: one message to one person about one step of one alert. Sent at most once."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(SafetyAlert, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "recipient", "kind"], name="notification_once_per_step"),
        ]
        indexes = [models.Index(fields=["sent_at", "id"], name="notification_pending")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class RequestChannel(models.TextChoices):
    LINK = "link", "Secure link (e-mail and text)"
    KIOSK = "kiosk", "Clinic tablet (kiosk)"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for answers"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "Missed (link expired)"
    CANCELLED = "cancelled", "Cancelled"


class QuestionnaireRequest(models.Model):
    """Questionnaires sent to a patient: one instrument or a bundle, answered once, by link or on a tablet.

    The link's token is never stored: only its SHA-256 (`token_hash`). The token is derived from
    `token_salt` with the server's SECRET_KEY (`links.token_for`), so reminders can carry the same link.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="questionnaire_requests")
    instrument_codes = models.JSONField(help_text='Codes in the order asked, e.g. ["phq9", "gad7"].')
    channel = models.CharField(max_length=10, choices=RequestChannel.choices)
    token_salt = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    answered = models.JSONField(default=dict, blank=True, help_text="Instrument code -> Response id, as answered.")
    alert_raised = models.BooleanField(default=False)
    failed_dob_attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when a schedule sent it (see ScheduleOccurrence.request).",
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "patient", "created_at"], name="qrequest_patient"),
            models.Index(fields=["status", "expires_at"], name="qrequest_due"),
        ]

    def __str__(self) -> str:
        return f"Questionnaire request {self.pk} ({self.get_status_display()})"


class MessageKind(models.TextChoices):
    INVITE = "invite", "Invitation"
    REMINDER = "reminder", "Reminder"


class MessageMedium(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"


class QuestionnaireMessage(OutboxMessage):
    """Outbox: one invitation or reminder to a patient by one medium. Sent at most once; no PHI in it."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    request = models.ForeignKey(QuestionnaireRequest, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    medium = models.CharField(max_length=10, choices=MessageMedium.choices)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "kind", "medium"], name="qmessage_once"),
        ]
        indexes = [models.Index(fields=["sent_at", "id"], name="qmessage_pending")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.medium} for request {self.request_id}"


# --- Schedules: recurring, or anchored to clinical events (schedules.py) -----------------------


class ScheduleKind(models.TextChoices):
    RECURRING = "recurring", "Every few days"
    ANCHORED = "anchored", "Around clinical events"


class AnchorEvent(models.TextChoices):
    """Clinical events other domains report through `schedules.clinical_event`. Fixed list: a new
    event type is a code change, so the sender and the schedule agree on what it means."""

    SESSION_SCHEDULED = "session.scheduled", "Before every treatment session"
    SESSION_COMPLETED = "session.completed", "After every treatment session"
    SERIES_COMPLETED = "series.completed", "After the last session of a series"


class MeasureSchedule(models.Model):
    """Questionnaires sent to a patient without anybody pressing "send": every N days from a date
    (until a date, or until stopped), or a fixed number of hours before/after a clinical event."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measure_schedules")
    instrument_codes = models.JSONField(help_text='Self-report codes in the order asked, e.g. ["phq9", "gad7"].')
    kind = models.CharField(max_length=10, choices=ScheduleKind.choices)
    every_days = models.PositiveSmallIntegerField(null=True, blank=True)
    starts_on = models.DateField(null=True, blank=True, help_text="First send, in the clinic's time zone.")
    until = models.DateField(null=True, blank=True, help_text="Last possible send (inclusive); empty: until stopped.")
    anchor_event = models.CharField(max_length=30, choices=AnchorEvent.choices, blank=True)
    offset_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Hours before a session starts, or after the event."
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-active", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "patient", "active"], name="mschedule_patient"),
            models.Index(fields=["kind", "active"], name="mschedule_kind"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind="recurring", every_days__gte=1, starts_on__isnull=False, anchor_event="")
                    | (
                        models.Q(kind="anchored", offset_hours__isnull=False, every_days__isnull=True)
                        & ~models.Q(anchor_event="")
                    )
                ),
                name="mschedule_kind_fields",
            ),
            models.CheckConstraint(
                condition=models.Q(until__isnull=True) | models.Q(until__gte=models.F("starts_on")),
                name="mschedule_until_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Schedule {self.pk} ({self.get_kind_display()})"


class OccurrenceStatus(models.TextChoices):
    DUE = "due", "Due"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"


class ScheduleOccurrence(models.Model):
    """One send a schedule owes: a recurring period (`anchor_ref` "period:YYYY-MM-DD") or one clinical
    event (`anchor_ref` as the emitting domain names its source, e.g. "treatment-session:123").
    Unique per schedule and anchor, so a repeated event or sweep never makes two."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    schedule = models.ForeignKey(MeasureSchedule, on_delete=models.PROTECT, related_name="occurrences")
    anchor_ref = models.CharField(max_length=100)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=OccurrenceStatus.choices, default=OccurrenceStatus.DUE)
    request = models.OneToOneField(
        QuestionnaireRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="occurrence"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why it was skipped.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "anchor_ref"], name="occurrence_once_per_anchor"),
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(request__isnull=False, sent_at__isnull=False),
                name="occurrence_sent_has_request",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="occurrence_due")]

    def __str__(self) -> str:
        return f"{self.anchor_ref} of schedule {self.schedule_id} ({self.status})"
