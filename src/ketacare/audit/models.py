"""The audit trail: one narrow, append-only table of every read and change of PHI.

Shaped after FHIR AuditEvent (action C/R/U/D/E, outcome 0/4/8/12, agent address, entity or
query) and Zulip's RealmAuditLog (typed event names, JSON detail with old and new values).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CREATE = "C", "Create"
    READ = "R", "Read"
    UPDATE = "U", "Update"
    DELETE = "D", "Delete"
    EXECUTE = "E", "Execute"  # search, export, sign-in and other operations


class AuditOutcome(models.IntegerChoices):
    SUCCESS = 0, "Success"
    MINOR_FAILURE = 4, "Denied or failed"
    SERIOUS_FAILURE = 8, "Serious failure"
    MAJOR_FAILURE = 12, "Major failure"


class AuditImmutableError(RuntimeError):
    pass


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit events are never updated.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AuditImmutableError("Audit events are never deleted.")


class AuditEvent(models.Model):
    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Kept as written at the time, so the trail reads the same if the user is renamed.
    actor_label = models.CharField(max_length=250, blank=True)
    actor_role = models.CharField(max_length=20, blank=True)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    action = models.CharField(max_length=1, choices=AuditAction.choices)
    event_type = models.CharField(max_length=60, help_text="<noun>.<past tense>, e.g. patient.updated")
    subject_type = models.CharField(max_length=60, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    outcome = models.PositiveSmallIntegerField(choices=AuditOutcome.choices, default=AuditOutcome.SUCCESS)
    remote_addr = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    via = models.CharField(max_length=10, blank=True, help_text="web, api, cli or task")
    occurred_at = models.DateTimeField(db_index=False)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["clinic", "occurred_at"], name="audit_clinic_time"),
            models.Index(fields=["clinic", "patient", "occurred_at"], name="audit_clinic_patient_time"),
            models.Index(fields=["clinic", "actor", "occurred_at"], name="audit_clinic_actor_time"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.event_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AuditImmutableError("Audit events are never updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit events are never deleted.")
