"""Reads of the intake other code calls: the current intake, its data as `IntakeData`, the prior-trial
count under the ketamine rule set's adequacy definition, and what is still missing before review."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ketacare.patients.models import Patient
from ketacare.screening import evaluate
from ketacare.screening.definitions import get_ruleset
from ketacare.screening.facts import FACTS
from ketacare.screening.intake_data import IntakeData, TrialData
from ketacare.screening.models import Intake, PriorTrial

TRIAL_RULESET = "ketamine"  # its `trial_adequacy` defines an adequate failed trial (see evaluate.py)


def current_intake(patient: Patient) -> Intake | None:
    """The patient's latest intake (whatever its status), or None."""
    return Intake.objects.filter(patient=patient).order_by("-created_at", "-id").first()


def trials_of(intake: Intake) -> list[PriorTrial]:
    # Uses the prefetch cache when the caller prefetched `prior_trials`.
    return sorted(intake.prior_trials.all(), key=lambda t: (t.position, t.pk))


def to_prior_trial(row: PriorTrial) -> evaluate.PriorTrial:
    """The pure evaluation value of one stored trial (blank choices become unknown)."""
    return evaluate.PriorTrial(
        drug=row.drug,
        dose=row.dose,
        dose_adequate=row.dose_adequate,
        duration_weeks=float(row.duration_weeks) if row.duration_weeks is not None else None,
        adherence=row.adherence or None,  # type: ignore[arg-type]
        response=row.response or None,  # type: ignore[arg-type]
        reason_stopped=row.reason_stopped,
    )


def count_trials(rows: Iterable[PriorTrial]) -> evaluate.TrialCount:
    ruleset = get_ruleset(TRIAL_RULESET)
    if ruleset.trial_adequacy is None:  # pragma: no cover - the shipped rule set defines it
        raise LookupError(f"rule set {ruleset.code} v{ruleset.version} defines no trial adequacy")
    return evaluate.count_adequate_failed_trials([to_prior_trial(r) for r in rows], ruleset.trial_adequacy)


def trial_count(intake: Intake) -> evaluate.TrialCount:
    """Adequate failed antidepressant trials of the intake. With the clinic thresholds unset (null in
    the rule set) trials are "undetermined" with the reason, by design (evaluate.TrialAdequacy)."""
    return count_trials(trials_of(intake))


def trial_adequacy_note() -> str:
    ruleset = get_ruleset(TRIAL_RULESET)
    adequacy = ruleset.trial_adequacy
    return adequacy.basis if adequacy else ""


def intake_data(intake: Intake) -> IntakeData:
    """The intake's current values as the typed data object (the starting point of a change)."""
    return IntakeData.model_validate(
        {
            "reason_for_referral": intake.reason_for_referral,
            "diagnoses": intake.diagnoses,
            "referring_clinician": intake.referring_clinician,
            "psychiatric_history": intake.psychiatric_history,
            "medical_history": intake.medical_history,
            "current_medications": intake.current_medications,
            "allergies": intake.allergies,
            "substance_use": intake.substance_use,
            "facts": dict(intake.facts or {}),
            "height_cm": intake.height_cm,
            "weight_kg": intake.weight_kg,
            "systolic_mmhg": intake.systolic_mmhg,
            "diastolic_mmhg": intake.diastolic_mmhg,
            "measured_on": intake.measured_on,
            "trials": [trial_data(t) for t in trials_of(intake)],
        }
    )


def trial_data(row: PriorTrial) -> TrialData:
    return TrialData(
        drug=row.drug,
        dose=row.dose,
        dose_adequate=row.dose_adequate,
        duration_weeks=Decimal(row.duration_weeks) if row.duration_weeks is not None else None,
        adherence=row.adherence or None,  # type: ignore[arg-type]
        response=row.response or None,  # type: ignore[arg-type]
        reason_stopped=row.reason_stopped,
    )


def missing_for_review(intake: Intake) -> dict[str, str]:
    """{field or fact name: label} of what must be answered before staff mark the intake reviewed:
    the reason for referral, weight and blood pressure with their date, every yes/no fact, and the
    benzodiazepine load when the patient takes one. Empty when it may be reviewed."""
    missing: dict[str, str] = {}
    if not intake.reason_for_referral.strip():
        missing["reason_for_referral"] = "Reason for referral"
    if intake.weight_kg is None:
        missing["weight_kg"] = "Weight"
    if intake.systolic_mmhg is None or intake.diastolic_mmhg is None:
        missing["systolic_mmhg"] = "Blood pressure"
    if intake.measured_on is None and (intake.weight_kg is not None or intake.systolic_mmhg is not None):
        missing["measured_on"] = "Date height, weight and blood pressure were taken"
    facts = intake.facts or {}
    for spec in FACTS:
        if spec.kind == "bool" and facts.get(spec.name) is None:
            missing[spec.name] = spec.label
    if facts.get("takes_benzodiazepine") is True and facts.get("lorazepam_equivalent_mg_per_day") is None:
        missing["lorazepam_equivalent_mg_per_day"] = "Benzodiazepine load, lorazepam-equivalent (mg/day)"
    return missing
