"""Flag eligibility decisions for review when the intake they were taken on changes.

`screening.signals.intake_changed` is sent inside the intake change's transaction, so the flag and
its audit row commit (or roll back) with the change itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.dispatch import receiver
from django.utils import timezone

from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_system
from ketacare.eligibility.models import EligibilityDecision
from ketacare.screening.facts import FACTS_BY_NAME
from ketacare.screening.models import Intake
from ketacare.screening.signals import intake_changed

_FIELD_LABELS = {
    "height_cm": "Height",
    "weight_kg": "Weight",
    "systolic_mmhg": "Systolic blood pressure",
    "diastolic_mmhg": "Diastolic blood pressure",
    "measured_on": "Date of the measurements",
    "prior_trials": "Prior antidepressant trials",
}


def _item_label(name: str) -> str:
    """A changed item in words: a fact's label, or the intake field's name."""
    bare = name.removeprefix("facts.")
    spec = FACTS_BY_NAME.get(bare)
    if spec is not None:
        return spec.label
    if bare in _FIELD_LABELS:
        return _FIELD_LABELS[bare]
    try:
        verbose = getattr(Intake._meta.get_field(bare), "verbose_name", "") or bare.replace("_", " ")
    except FieldDoesNotExist:
        verbose = bare.replace("_", " ")
    return str(verbose).capitalize()


def review_reason(intake: Intake, changed: list[str]) -> str:
    items = "; ".join(_item_label(c) for c in changed) or "details not given"
    return f"Intake changed (version {intake.version}): {items}."


@receiver(intake_changed, dispatch_uid="eligibility.flag_decisions_for_review")
def flag_decisions_for_review(sender: Any, intake: Intake, actor: Any = None, changed: Any = (), **kwargs: Any) -> None:
    changed_names = [str(c) for c in (changed or [])]
    decisions = list(
        EligibilityDecision.objects.select_for_update()
        .filter(patient_id=intake.patient_id, is_current=True)
        .order_by("route")
    )
    if not decisions:
        return
    now = timezone.now()
    reason = review_reason(intake, changed_names)
    for decision in decisions:
        # A decision already flagged keeps its first flag time and gathers every change since.
        combined = f"{decision.review_reason} {reason}" if decision.needs_review and decision.review_reason else reason
        EligibilityDecision.objects.filter(pk=decision.pk).update(
            needs_review=True, review_reason=combined, flagged_at=decision.flagged_at or now
        )
        detail = {
            "route": decision.route,
            "intake_id": intake.pk,
            "intake_version": intake.version,
            "changed": changed_names,
            "review_reason": combined,
        }
        if actor is not None:
            record(
                actor,
                AuditAction.UPDATE,
                "eligibility_decision.flagged",
                subject=decision,
                patient=intake.patient,
                detail=detail,
            )
        else:
            # Changed without a staff member (the patient's own link): KetaCare flags it by itself.
            record_system(
                intake.clinic,
                AuditAction.UPDATE,
                "eligibility_decision.flagged",
                subject=decision,
                patient=intake.patient,
                detail={**detail, "changed_by": "no staff member (patient link or system)"},
            )
