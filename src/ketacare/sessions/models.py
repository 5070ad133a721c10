"""Treatment sessions: what happened at the chair, step by step (issue #7).

A `TreatmentSession` is one visit at which a dose is (or was meant to be) given. It comes from a signed
`TreatmentPlan` (the usual case) or from a prescriber's one-off order, and carries a snapshot of the
protocol it follows. Its `state` moves only through `lifecycle.TRANSITIONS` (see `actions.transition`);
every step is a `SessionEvent` row, which the session's timeline shows.

What is charted hangs off the session as rows that are only ever added: pre-dose check results, vital
signs, sedation and dissociation ratings, side effects, doses (each pointing to its controlled-substance
ledger entry), alerts, signatures and addenda. Once the session is signed nothing of it changes
(`SessionLockedError` from the model guards here; a PostgreSQL trigger in the migrations as well);
corrections are `Addendum` rows.

Sources for the clinical content: ../shared/reference/clinical.md §1.3–1.5 (Spravato REMS, PMF,
monitoring timeline), §2.5–2.7 (vital signs, discharge, escort, NPO), §3.8 (CADSS), §3.10 (MOAA/S).
"""

from __future__ import annotations

import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.measures.outbox import OutboxMessage
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanRoute, TreatmentPlan
from ketacare.protocols.definitions import Protocol
from ketacare.protocols.models import ClinicProtocolVersion
from ketacare.sessions.lifecycle import LABELS, State

USER = settings.AUTH_USER_MODEL

# The protocol's route for each plan route (protocols.definitions.Route).
PROTOCOL_ROUTE = {
    PlanRoute.IV: "intravenous",
    PlanRoute.IM: "intramuscular",
    PlanRoute.INTRANASAL_ESKETAMINE: "intranasal",
    PlanRoute.ORAL: "oral_or_sublingual",
}


class SessionLockedError(RuntimeError):
    """A change to a signed (or cancelled) session, or to a row that is never edited."""


STATE_CHOICES = [(s.value, LABELS[s]) for s in State]

# States in which the patient is at the clinic and the session is live (the floor board's rows).
ACTIVE_STATES = (
    State.CHECKED_IN,
    State.PRE_DOSE_CHECKS,
    State.DOSING,
    State.OBSERVATION,
    State.READY_FOR_DISCHARGE,
)
LOCKED_STATES = (State.SIGNED, State.CANCELLED)


class TreatmentSessionQuerySet(models.QuerySet["TreatmentSession"]):
    def active(self) -> TreatmentSessionQuerySet:
        return self.filter(state__in=[s.value for s in ACTIVE_STATES])


class TreatmentSession(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    chair = models.ForeignKey(Resource, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="treatment_sessions")
    # From a signed plan, or (plan None) a prescriber's one-off order.
    plan = models.ForeignKey(TreatmentPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="sessions")
    sequence = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Session number within the plan.")
    ordered_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    order_reason = models.TextField(blank=True)
    route = models.CharField(max_length=30, choices=PlanRoute.choices)
    protocol_version = models.ForeignKey(ClinicProtocolVersion, on_delete=models.PROTECT, related_name="+")
    protocol_snapshot = models.JSONField(help_text="The protocol the session follows, as it was when created.")
    planned_dose_mg = models.DecimalField(max_digits=9, decimal_places=3)
    scheduled_at = models.DateTimeField()
    state = models.CharField(max_length=24, choices=STATE_CHOICES, default=State.SCHEDULED.value)
    state_changed_at = models.DateTimeField(default=timezone.now)
    nurse = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    # Step times (the timeline keeps who and why; these make the board and the gates cheap to read).
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checks_started_at = models.DateTimeField(null=True, blank=True)
    first_dose_at = models.DateTimeField(null=True, blank=True, help_text="Start of dosing (Spravato: first device).")
    dose_ended_at = models.DateTimeField(null=True, blank=True, help_text="End of dosing (infusion stop, last device).")
    ready_at = models.DateTimeField(null=True, blank=True)
    discharged_at = models.DateTimeField(null=True, blank=True)
    ended_early_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)

    # Escort: name and phone confirmed before dosing; present at discharge (clinical.md §2.6).
    escort_name = models.CharField(max_length=200, blank=True)
    escort_phone = models.CharField(max_length=40, blank=True)
    escort_confirmed_at = models.DateTimeField(null=True, blank=True)
    escort_present_at = models.DateTimeField(null=True, blank=True)
    # Discharge checklist ticks: {item_id: {"by": user_id, "at": iso}} for the protocol's items.
    discharge_checklist = models.JSONField(default=dict, blank=True)

    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TreatmentSessionQuerySet.as_manager()

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [
            models.Index(fields=["clinic", "location", "state"], name="session_floor"),
            models.Index(fields=["clinic", "scheduled_at"], name="session_day"),
            models.Index(fields=["patient", "scheduled_at"], name="session_patient"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(planned_dose_mg__gt=0), name="session_dose_positive"),
            models.CheckConstraint(
                condition=models.Q(plan__isnull=False) | models.Q(ordered_by__isnull=False),
                name="session_plan_or_order",
            ),
            # One session per plan and series position (a rebooked visit cancels the old one first).
            models.UniqueConstraint(
                fields=["plan", "sequence"],
                condition=~models.Q(state="cancelled"),
                name="session_one_live_per_plan_sequence",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="stopped_early") | ~models.Q(end_reason=""),
                name="session_stopped_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"Session {self.pk} ({self.state})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("state", flat=True).first()
            if stored in LOCKED_STATES:
                raise SessionLockedError(
                    f"This session is {LABELS[State(stored)].lower()} and read-only; add an addendum instead."
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionLockedError("Treatment sessions are never deleted; cancel them instead.")

    @property
    def lifecycle_state(self) -> State:
        return State(self.state)

    @property
    def state_label(self) -> str:
        return LABELS[State(self.state)]

    @property
    def is_locked(self) -> bool:
        return self.state in LOCKED_STATES

    @property
    def is_spravato(self) -> bool:
        return self.route == PlanRoute.INTRANASAL_ESKETAMINE

    @property
    def protocol_route(self) -> str:
        return PROTOCOL_ROUTE[PlanRoute(self.route)]

    @property
    def protocol(self) -> Protocol:
        cached: Protocol | None = getattr(self, "_protocol_cache", None)
        if cached is None:
            cached = Protocol.model_validate(self.protocol_snapshot)
            self._protocol_cache = cached
        return cached

    @property
    def ref(self) -> str:
        """The session's reference in other domains (ledger `session_ref`, measures anchor events)."""
        return f"treatment-session:{self.pk}"

    @property
    def status_class(self) -> str:
        """The badge class showing the state (with its word, never colour alone)."""
        return (
            "kc-status-"
            + {
                "scheduled": "inactive",
                "checked_in": "active",
                "pre_dose_checks": "active",
                "dosing": "pending",
                "observation": "pending",
                "ready_for_discharge": "active",
                "discharged": "discharged",
                "signed": "discharged",
                "cancelled": "revoked",
                "stopped_early": "revoked",
            }[self.state]
        )


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise SessionLockedError("Charted rows are never updated: record a new one or an addendum.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise SessionLockedError("Charted rows are never deleted: record a new one or an addendum.")


class AppendOnly(models.Model):
    """A charted row: written once, never edited or deleted (the PG trigger in migration 0002 too).

    Nothing is added to a signed or cancelled session either, except what says so (`Addendum`).
    """

    allowed_when_locked = False
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and type(self).objects.filter(pk=self.pk).exists():
            raise SessionLockedError(f"{type(self).__name__} rows are never edited: record a new one.")
        if not self.allowed_when_locked:
            state = TreatmentSession.objects.filter(pk=self.session_id).values_list("state", flat=True).first()  # type: ignore[attr-defined]
            if state in LOCKED_STATES:
                raise SessionLockedError(
                    f"This session is {LABELS[State(state)].lower()} and read-only; add an addendum instead."
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionLockedError(f"{type(self).__name__} rows are never deleted.")


class SessionEvent(AppendOnly):
    """One step of the session's timeline: a state change or a charted event, attributed and timed."""

    allowed_when_locked = True  # signing, cancelling and addenda are steps of the timeline too

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=40, help_text="'state' for a step, else what was charted, e.g. 'vitals'.")
    from_state = models.CharField(max_length=24, blank=True)
    to_state = models.CharField(max_length=24, blank=True)
    summary = models.CharField(max_length=300, help_text="What happened, in words the timeline shows.")
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M} {self.summary}"


class CheckStatus(models.TextChoices):
    PASSED = "passed", "Passed"
    FAILED = "failed", "Not met"
    NOT_APPLICABLE = "not_applicable", "Not applicable"


class PreDoseCheck(AppendOnly):
    """The result of one pre-dose check (identity, consent, REMS, fasting, escort...). Latest row wins."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="checks")
    item = models.CharField(max_length=40)
    status = models.CharField(max_length=16, choices=CheckStatus.choices)
    value = models.JSONField(default=dict, blank=True, help_text="What was checked (e.g. last food time).")
    note = models.TextField(blank=True)
    automatic = models.BooleanField(default=False, help_text="Derived from the record (consent, plan, REMS).")
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]
        indexes = [models.Index(fields=["session", "item"], name="predose_check_item")]

    def __str__(self) -> str:
        return f"{self.item}: {self.status}"


class VitalPhase(models.TextChoices):
    PRE_DOSE = "pre_dose", "Before dosing"
    DURING = "during", "During dosing"
    AFTER = "after", "After dosing"
    PRE_DISCHARGE = "pre_discharge", "Before discharge"


class VitalSigns(AppendOnly):
    """One set of vital signs. Any measure may be missing; at least one is present (constraint)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="vitals")
    phase = models.CharField(max_length=16, choices=VitalPhase.choices)
    checkpoint = models.CharField(max_length=60, blank=True, help_text="The protocol checkpoint it answers, if any.")
    taken_at = models.DateTimeField()
    systolic_bp = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(40), MaxValueValidator(300)]
    )
    diastolic_bp = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(200)]
    )
    heart_rate = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(20), MaxValueValidator(250)]
    )
    spo2 = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(50), MaxValueValidator(100)]
    )
    respiratory_rate = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(4), MaxValueValidator(60)]
    )
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(systolic_bp__isnull=False)
                | models.Q(diastolic_bp__isnull=False)
                | models.Q(heart_rate__isnull=False)
                | models.Q(spo2__isnull=False)
                | models.Q(respiratory_rate__isnull=False),
                name="vitals_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"Vitals at {self.taken_at:%H:%M}"

    def as_measures(self) -> dict[str, int]:
        """The values under the protocol's measure names (`protocols.definitions.Measure`)."""
        values = {
            "systolic_bp": self.systolic_bp,
            "diastolic_bp": self.diastolic_bp,
            "heart_rate": self.heart_rate,
            "spo2": self.spo2,
        }
        return {k: v for k, v in values.items() if v is not None}


class DissociationRating(models.TextChoices):
    NONE = "none", "None"
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class Assessment(AppendOnly):
    """Sedation (MOAA/S 0–5, clinical.md §3.10) and dissociation (brief rating, or a CADSS total §3.8)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="assessments")
    taken_at = models.DateTimeField()
    moaas = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(5)])
    dissociation = models.CharField(max_length=10, choices=DissociationRating.choices, blank=True)
    cadss_total = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(92)])
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["taken_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(moaas__lte=5), name="assessment_moaas_0_5"),
            models.CheckConstraint(condition=models.Q(cadss_total__lte=92), name="assessment_cadss_0_92"),
        ]

    def __str__(self) -> str:
        return f"Assessment at {self.taken_at:%H:%M}"


class SideEffectKind(models.TextChoices):
    NAUSEA = "nausea", "Nausea"
    VOMITING = "vomiting", "Vomiting"
    DIZZINESS = "dizziness", "Dizziness"
    DISSOCIATION = "dissociation", "Dissociation"
    BP_RISE = "bp_rise", "Blood-pressure rise"
    VISION = "vision", "Vision changes"
    HEADACHE = "headache", "Headache"
    ANXIETY = "anxiety", "Anxiety"
    SEDATION = "sedation", "Sedation"
    RESPIRATORY = "respiratory", "Respiratory depression"
    OTHER = "other", "Other"


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class SideEffect(AppendOnly):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="side_effects")
    kind = models.CharField(max_length=20, choices=SideEffectKind.choices)
    other = models.CharField(max_length=200, blank=True, help_text="What it was, when the kind is 'other'.")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    onset_at = models.DateTimeField()
    action_taken = models.TextField(blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["onset_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(kind="other") | ~models.Q(other=""), name="side_effect_other")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.severity})"


class DoseAdministration(AppendOnly):
    """One dose given (an infusion, an injection, one Spravato device, a lozenge) and its ledger entry.

    The ledger entry's `session_ref` is the session's `ref`: each points to the other.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="doses")
    ledger_entry = models.OneToOneField("inventory.LedgerEntry", on_delete=models.PROTECT, related_name="session_dose")
    route = models.CharField(max_length=30, choices=PlanRoute.choices)
    dose_mg = models.DecimalField(max_digits=9, decimal_places=3)
    volume_ml = models.DecimalField(max_digits=9, decimal_places=2)
    device_number = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Spravato: 1, 2 or 3.")
    rate_ml_per_hour = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Infusion stop; None until stopped.")
    # A dose other than the plan's: the prescriber who approved it and why.
    deviation_reason = models.TextField(blank=True)
    deviation_approved_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    given_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(dose_mg__gt=0), name="dose_positive"),
            models.UniqueConstraint(
                fields=["session", "device_number"],
                condition=models.Q(device_number__isnull=False),
                name="dose_one_per_device_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dose_mg} mg at {self.started_at:%H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The one field that may be set after the fact: an infusion's stop time, once.
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values("ended_at").first()
            if stored is not None:
                if stored["ended_at"] is not None:
                    raise SessionLockedError("This dose is complete and cannot change.")
                models.Model.save(self, *args, **kwargs)
                return
        super().save(*args, **kwargs)


class BaselineDecision(AppendOnly):
    """A prescriber's documented decision on a baseline above the protocol's threshold (before dosing)."""

    class Decision(models.TextChoices):
        PROCEED = "proceed", "Proceed with dosing"
        HOLD = "hold", "Do not dose today"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="baseline_decisions")
    vitals = models.ForeignKey(VitalSigns, on_delete=models.PROTECT, related_name="+")
    thresholds = models.JSONField(default=list, help_text="The threshold ids the baseline exceeded.")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.TextField()
    decided_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [models.CheckConstraint(condition=~models.Q(reason=""), name="baseline_decision_reason")]

    def __str__(self) -> str:
        return f"Baseline decision: {self.decision}"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class SessionAlert(models.Model):
    """A value beyond a protocol threshold (or a severe side effect): the prescriber on call is told."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(max_length=30, help_text="vital_threshold, moaas, side_effect, late_vitals...")
    source_key = models.CharField(max_length=80, help_text="What raised it, unique per session (no duplicates).")
    summary = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=14, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    raised_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["raised_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "source_key"], name="session_alert_once"),
            models.CheckConstraint(
                condition=~models.Q(status="resolved") | ~models.Q(resolution=""), name="session_alert_resolution"
            ),
        ]
        indexes = [models.Index(fields=["clinic", "status"], name="session_alert_open")]

    def __str__(self) -> str:
        return self.summary


class SessionAlertNotification(OutboxMessage):
    """A message to one prescriber about one alert; sent by the task after commit, never lost."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    alert = models.ForeignKey(SessionAlert, on_delete=models.PROTECT, related_name="notifications")
    recipient = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "recipient"], name="session_alert_notify_once")]


class SignerRole(models.TextChoices):
    NURSE = "nurse", "Nurse"
    PRESCRIBER = "prescriber", "Prescriber"


class SessionSignature(AppendOnly):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="signatures")
    role = models.CharField(max_length=12, choices=SignerRole.choices)
    signed_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    signer_label = models.CharField(max_length=250, help_text="Name and credentials as they were.")
    meaning = models.TextField(help_text="What the signer attests.")
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["session", "role"], name="session_signature_once_per_role")]

    def __str__(self) -> str:
        return f"Signed by {self.signer_label} ({self.role})"


class Addendum(AppendOnly):
    """A correction or late entry to a signed session: the note itself never changes."""

    allowed_when_locked = True

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(TreatmentSession, on_delete=models.PROTECT, related_name="addenda")
    text = models.TextField()
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    author_label = models.CharField(max_length=250)
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["written_at", "id"]
        constraints = [models.CheckConstraint(condition=~models.Q(text=""), name="addendum_not_empty")]

    def __str__(self) -> str:
        return f"Addendum by {self.author_label}"


class SubmissionMethod(models.TextChoices):
    ONLINE = "online", "Online (spravatorems.com)"
    FAX = "fax", "Fax"


class RemsMonitoringForm(models.Model):
    """The Spravato REMS Patient Monitoring Form of one session (clinical.md §1.4).

    `values` is filled from the session record against the versioned field list (`rems.get_form`);
    what the record cannot give is entered by staff. Its required fields gate the session's
    signature; once the session is signed the values and the PDF are frozen. Submission to the REMS
    (within 7 calendar days, `due_date`) is recorded here.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    session = models.OneToOneField(TreatmentSession, on_delete=models.PROTECT, related_name="rems_form")
    form_code = models.CharField(max_length=20, default="pmf")
    form_version = models.CharField(max_length=20)
    values = models.JSONField(default=dict, blank=True)
    due_date = models.DateField(help_text="Session date (clinic time zone) + 7 calendar days.")
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    submitted_on = models.DateField(null=True, blank=True)
    submission_method = models.CharField(max_length=10, choices=SubmissionMethod.choices, blank=True)
    confirmation_number = models.CharField(max_length=100, blank=True)
    submitted_recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    submitted_recorded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="When the overdue escalation went out.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["clinic", "submitted_on", "due_date"], name="pmf_due_queue")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(submitted_on__isnull=True)
                | (~models.Q(submission_method="") & ~models.Q(confirmation_number="")),
                name="pmf_submission_complete",
            )
        ]

    def __str__(self) -> str:
        return f"PMF for session {self.session_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values("values", "pdf_sha256", "frozen_at").first()
            frozen = stored is not None and stored["frozen_at"] is not None
            if frozen and (stored["values"] != self.values or stored["pdf_sha256"] != self.pdf_sha256):  # type: ignore[index]
                raise SessionLockedError("This Patient Monitoring Form is final (the session is signed).")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionLockedError("Patient Monitoring Forms are never deleted.")


def local_date(session: TreatmentSession) -> datetime.date:
    """The session's date on the clinic's calendar."""
    from zoneinfo import ZoneInfo

    when = session.first_dose_at or session.checked_in_at or session.scheduled_at
    return when.astimezone(ZoneInfo(session.clinic.time_zone)).date()
