"""Treatment plans: a published clinic protocol version, the dose from a dated weight, the series.

A plan keeps a copy of its protocol version (`protocol_snapshot`) and the numbers computed from it,
so a later protocol edit never changes it. Signed plans are locked: `save` refuses any change to
their content (only the status may move on to superseded or cancelled); a change is a new plan
version (`previous` points at the one it replaces). At most one signed plan is in force per patient
and route (a partial unique constraint).
"""

from __future__ import annotations

import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.patients.models import BodyMeasurement, Patient
from ketacare.protocols.models import ClinicProtocolVersion


class PlanLockedError(RuntimeError):
    """A signed (or closed) plan was about to change."""


class PlanStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"
    SUPERSEDED = "superseded", "Superseded"
    CANCELLED = "cancelled", "Cancelled"


class PlanRoute(models.TextChoices):
    """The routes of screening (`screening.facts.Route`), which eligibility and consents ask about."""

    IV = "iv", "IV ketamine"
    IM = "im", "IM ketamine"
    INTRANASAL_ESKETAMINE = "intranasal_esketamine", "Intranasal esketamine (Spravato)"
    ORAL = "oral", "Oral or sublingual ketamine"


# Fields that never change once a plan leaves draft.
_CONTENT_FIELDS = (
    "clinic_id",
    "patient_id",
    "route",
    "protocol_version_id",
    "protocol_snapshot",
    "plan_version",
    "previous_id",
    "weight_measurement_id",
    "weight_kg",
    "weighed_on",
    "dose_raw_mg",
    "dose_final_mg",
    "dose_applied",
    "dose_selected_mg",
    "planned_sessions",
    "first_session_on",
    "interval_days",
    "notes",
    "created_by_id",
    "created_at",
    "signed_by_id",
    "signed_at",
    "signature_meaning",
)
_ALLOWED_MOVES = {
    (PlanStatus.DRAFT, PlanStatus.DRAFT),
    (PlanStatus.DRAFT, PlanStatus.SIGNED),
    (PlanStatus.DRAFT, PlanStatus.CANCELLED),
    (PlanStatus.SIGNED, PlanStatus.SIGNED),
    (PlanStatus.SIGNED, PlanStatus.SUPERSEDED),
    (PlanStatus.SIGNED, PlanStatus.CANCELLED),
    (PlanStatus.SUPERSEDED, PlanStatus.SUPERSEDED),
    (PlanStatus.CANCELLED, PlanStatus.CANCELLED),
}


class TreatmentPlan(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_plans")
    route = models.CharField(max_length=30, choices=PlanRoute.choices)
    protocol_version = models.ForeignKey(ClinicProtocolVersion, on_delete=models.PROTECT, related_name="plans")
    protocol_snapshot = models.JSONField(help_text="The protocol version's data when the plan was made.")
    plan_version = models.PositiveIntegerField(default=1)
    previous = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="revisions")
    status = models.CharField(max_length=12, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    weight_measurement = models.ForeignKey(
        BodyMeasurement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    weighed_on = models.DateField(null=True, blank=True)
    dose_raw_mg = models.DecimalField(max_digits=9, decimal_places=3)
    dose_final_mg = models.DecimalField(max_digits=9, decimal_places=3)
    dose_applied = models.JSONField(default=dict, help_text="Constraints applied, the working and doses by session.")
    dose_selected_mg = models.DecimalField(max_digits=9, decimal_places=3, null=True, blank=True)
    planned_sessions = models.JSONField(default=list, help_text="Planned session dates (ISO), in order.")
    first_session_on = models.DateField()
    interval_days = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signature_meaning = models.TextField(blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "route", "status"], name="plan_patient_route_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "route"],
                condition=models.Q(status="signed"),
                name="plan_one_signed_per_route",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft")
                | models.Q(status="cancelled", signed_at__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="plan_signed_has_signer",
            ),
            models.CheckConstraint(condition=models.Q(dose_final_mg__gt=0), name="plan_dose_positive"),
        ]

    def __str__(self) -> str:
        return f"Plan {self.pk} v{self.plan_version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values(*_CONTENT_FIELDS, "status").first()
            if stored is not None:
                if stored["status"] != PlanStatus.DRAFT:
                    changed = [f for f in _CONTENT_FIELDS if stored[f] != getattr(self, f)]
                    if changed:
                        raise PlanLockedError(
                            f"This plan is {stored['status']} and locked ({', '.join(changed)}); "
                            "revise it to make a new version."
                        )
                if (stored["status"], self.status) not in _ALLOWED_MOVES:
                    raise PlanLockedError(f"A {stored['status']} plan cannot become {self.status}.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PlanLockedError("Treatment plans are never deleted; cancel them instead.")

    @property
    def session_dates(self) -> list[datetime.date]:
        return [datetime.date.fromisoformat(d) for d in self.planned_sessions]

    @property
    def is_locked(self) -> bool:
        return self.status != PlanStatus.DRAFT

    @property
    def status_class(self) -> str:
        """The badge class showing the status (with its word, never colour alone)."""
        return (
            "kc-status-"
            + {"draft": "inactive", "signed": "active", "superseded": "discharged", "cancelled": "revoked"}[self.status]
        )
