"""The intake packet: what the patient (by link) or staff record before screening (issue #5 item 1).

Screening facts (the vocabulary of `facts.py`) live in `facts` as a JSON object: name -> true/false/
number, a missing name meaning "not known yet". Free-text history sits beside it. Every change after
submission bumps `version` and sends `signals.intake_changed`, so eligibility decisions taken on an
earlier version are flagged for review.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ketacare.clinics.models import Clinic
from ketacare.patients.models import Patient
from ketacare.screening.facts import FACTS_BY_NAME, Facts


class IntakeStatus(models.TextChoices):
    DRAFT = "draft", "Started by staff"
    SENT = "sent", "Sent to the patient"
    SUBMITTED = "submitted", "Submitted, awaiting staff review"
    REVIEWED = "reviewed", "Reviewed"


class IntakeVia(models.TextChoices):
    LINK = "link", "Patient, by secure link"
    STAFF = "staff", "Staff"


class Intake(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="intakes")
    status = models.CharField(max_length=10, choices=IntakeStatus.choices, default=IntakeStatus.DRAFT)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change after submission.")
    # Referral and history (free text beside the structured facts)
    reason_for_referral = models.TextField(blank=True)
    diagnoses = models.TextField(blank=True, help_text="Working diagnoses, e.g. MDD recurrent severe; PTSD.")
    referring_clinician = models.CharField(max_length=200, blank=True)
    psychiatric_history = models.TextField(blank=True)
    medical_history = models.TextField(blank=True)
    current_medications = models.TextField(blank=True)
    allergies = models.TextField(blank=True)
    substance_use = models.TextField(blank=True)
    # Screening facts: {fact name: bool | number}; absent = unknown (see facts.py)
    facts = models.JSONField(default=dict, blank=True)
    # Height, weight and blood pressure with the date taken (also appended to patients.BodyMeasurement)
    height_cm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    measured_on = models.DateField(null=True, blank=True, help_text="Date height, weight and BP were taken.")
    # Workflow
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_via = models.CharField(max_length=5, choices=IntakeVia.choices, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["clinic", "patient", "created_at"], name="intake_patient")]

    def __str__(self) -> str:
        return f"Intake {self.pk} v{self.version} ({self.get_status_display()})"

    def screening_facts(self) -> Facts:
        """The facts for `evaluate()`: known names only, unknown ones left out."""
        out: dict[str, Any] = {k: v for k, v in (self.facts or {}).items() if k in FACTS_BY_NAME and v is not None}
        # Intake blood pressure feeds the BP rules when no fact was typed separately.
        if "systolic_bp_mmhg" not in out and self.systolic_mmhg is not None:
            out["systolic_bp_mmhg"] = float(self.systolic_mmhg)
        if "diastolic_bp_mmhg" not in out and self.diastolic_mmhg is not None:
            out["diastolic_bp_mmhg"] = float(self.diastolic_mmhg)
        # No benzodiazepine at all is a load of zero (the benzodiazepine-load rule needs the number).
        if out.get("takes_benzodiazepine") is False and "lorazepam_equivalent_mg_per_day" not in out:
            out["lorazepam_equivalent_mg_per_day"] = 0.0
        return out  # type: ignore[return-value]


class Adherence(models.TextChoices):
    GOOD = "good", "Took it as prescribed"
    PARTIAL = "partial", "Missed some doses"
    POOR = "poor", "Missed many doses"


class TrialResponse(models.TextChoices):
    NONE = "none", "No improvement"
    PARTIAL = "partial", "Some improvement"
    RESPONSE = "response", "Clear improvement"
    REMISSION = "remission", "Remission"


class PriorTrial(models.Model):
    """One prior antidepressant trial (drug, dose, duration, adherence, response, reason stopped).
    Counted by `evaluate.count_adequate_failed_trials` with the rule set's adequacy definition."""

    intake = models.ForeignKey(Intake, on_delete=models.CASCADE, related_name="prior_trials")
    position = models.PositiveSmallIntegerField(default=0)
    drug = models.CharField(max_length=120)
    dose = models.CharField(max_length=60, blank=True, help_text="Highest dose taken, e.g. 200 mg/day.")
    dose_adequate = models.BooleanField(null=True, blank=True, help_text="Prescriber's judgement; empty = not judged.")
    duration_weeks = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    adherence = models.CharField(max_length=8, choices=Adherence.choices, blank=True)
    response = models.CharField(max_length=10, choices=TrialResponse.choices, blank=True)
    reason_stopped = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["intake", "position", "id"]

    def __str__(self) -> str:
        return self.drug
