"""Stored screening evaluations and the prescriber's eligibility decision per route (issue #5 item 2).

"The software recommends; a prescriber decides."

- `ScreeningEvaluation`: the rule set's verdict over one intake version for one route, written once
  and never changed (the rule set code and version and every rule's outcome are kept, so the page
  shows what the prescriber saw even after the rules move on).
- `EligibilityDecision`: the prescriber's decision for one route, taken on one evaluation. Never
  edited: a new decision supersedes the current one (`is_current`, one per patient and route, held
  by a unique constraint). When the intake changes, the current decisions are flagged
  (`needs_review`) and stop allowing a plan until a prescriber decides again.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ketacare.clinics.models import Clinic
from ketacare.patients.models import Patient
from ketacare.screening.models import Intake

ROUTE_LABELS: dict[str, str] = {
    "iv": "IV ketamine",
    "im": "IM ketamine",
    "intranasal_esketamine": "Spravato (esketamine nasal spray)",
    "oral": "Oral or sublingual ketamine",
}


class RouteChoice(models.TextChoices):
    """The routes of screening (`screening.facts.ROUTES`)."""

    IV = "iv", ROUTE_LABELS["iv"]
    IM = "im", ROUTE_LABELS["im"]
    INTRANASAL_ESKETAMINE = "intranasal_esketamine", ROUTE_LABELS["intranasal_esketamine"]
    ORAL = "oral", ROUTE_LABELS["oral"]


class EvaluationStatus(models.TextChoices):
    NO_CONCERN = "no_concern", "No concern"
    NOT_ASSESSED = "not_assessed", "Not assessed"
    CAUTION = "caution", "Caution"
    CONTRAINDICATED = "contraindicated", "Contraindicated"


class Decision(models.TextChoices):
    ELIGIBLE = "eligible", "Eligible"
    ELIGIBLE_WITH_PRECAUTIONS = "eligible_with_precautions", "Eligible with precautions"
    NOT_ELIGIBLE = "not_eligible", "Not eligible"


class Immutable(Exception):
    """A stored evaluation or decision was about to be changed or deleted."""


class ScreeningEvaluation(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="screening_evaluations")
    intake = models.ForeignKey(Intake, on_delete=models.PROTECT, related_name="evaluations")
    intake_version = models.PositiveIntegerField()
    route = models.CharField(max_length=24, choices=RouteChoice.choices)
    ruleset_code = models.CharField(max_length=40)
    ruleset_version = models.CharField(max_length=10)
    status = models.CharField(max_length=16, choices=EvaluationStatus.choices)
    # One entry per rule: id, title, severity, outcome, reason, sources, section, basis, missing.
    results = models.JSONField(default=list)
    missing_facts = models.JSONField(default=list)
    evaluated_at = models.DateTimeField()
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-evaluated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["intake", "intake_version", "route", "ruleset_code", "ruleset_version"],
                name="evaluation_once_per_intake_version",
            )
        ]
        indexes = [models.Index(fields=["clinic", "patient", "route"], name="evaluation_patient_route")]

    def __str__(self) -> str:
        return f"Evaluation {self.pk} {self.route} v{self.intake_version}: {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise Immutable("A screening evaluation is never changed; evaluate again instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise Immutable("A screening evaluation is never deleted.")

    @property
    def route_label(self) -> str:
        return ROUTE_LABELS.get(self.route, self.route)

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Rules that fired, contraindications first."""
        return [r for sev in ("contraindicated", "caution") for r in self.results if r.get("outcome") == sev]

    @property
    def unassessed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r.get("outcome") == "not_assessed"]


class EligibilityDecision(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="eligibility_decisions")
    route = models.CharField(max_length=24, choices=RouteChoice.choices)
    decision = models.CharField(max_length=28, choices=Decision.choices)
    evaluation = models.ForeignKey(ScreeningEvaluation, on_delete=models.PROTECT, related_name="decisions")
    precautions = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    # [{rule_id, title, outcome, reason}]: the prescriber's reason for each rule they overrode.
    rule_overrides = models.JSONField(default=list, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()
    is_current = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "route"],
                condition=models.Q(is_current=True),
                name="one_current_decision_per_route",
            )
        ]
        indexes = [
            models.Index(fields=["clinic", "is_current", "needs_review"], name="decision_review_queue"),
            models.Index(fields=["patient", "route", "decided_at"], name="decision_history"),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for {self.route} ({self.decided_at:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Superseding and flagging go through queryset.update() in actions/receivers; nothing else
        # changes a decision once written.
        if not self._state.adding:
            raise Immutable("An eligibility decision is never edited; record a new decision instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise Immutable("An eligibility decision is never deleted.")

    @property
    def route_label(self) -> str:
        return ROUTE_LABELS.get(self.route, self.route)

    @property
    def allows_plan(self) -> bool:
        return (
            self.is_current
            and not self.needs_review
            and self.decision in (Decision.ELIGIBLE, Decision.ELIGIBLE_WITH_PRECAUTIONS)
        )
