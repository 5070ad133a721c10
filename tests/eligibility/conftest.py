"""Intakes with known screening facts, and helpers to evaluate and decide, for eligibility tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ketacare.accounts.context import Actor
from ketacare.eligibility import actions
from ketacare.eligibility.models import EligibilityDecision, ScreeningEvaluation
from ketacare.patients.models import Patient
from ketacare.screening.facts import FACTS
from ketacare.screening.models import Intake

# Every fact known and harmless: every rule of every route is assessed and raises no concern.
CLEAN_FACTS: dict[str, Any] = {
    **{f.name: False for f in FACTS if f.kind == "bool"},
    "systolic_bp_mmhg": 122,
    "diastolic_bp_mmhg": 78,
    "lorazepam_equivalent_mg_per_day": 0,
}


def make_intake(patient: Patient, **facts: Any) -> Intake:
    """A submitted intake: the clean facts with `facts` changed (a value of None removes the fact)."""
    merged = {**CLEAN_FACTS, **facts}
    return Intake.objects.create(
        clinic=patient.clinic,
        patient=patient,
        status="submitted",
        facts={k: v for k, v in merged.items() if v is not None},
    )


@pytest.fixture
def intake_for() -> Callable[..., Intake]:
    return make_intake


@pytest.fixture
def evaluate(actors: dict[str, Actor]) -> Callable[..., ScreeningEvaluation]:
    def run(intake: Intake, route: str = "iv", as_: str = "ada") -> ScreeningEvaluation:
        return actions.evaluate_intake(actors[as_], intake, route)

    return run


@pytest.fixture
def decide(actors: dict[str, Actor]) -> Callable[..., EligibilityDecision]:
    def run(
        evaluation: ScreeningEvaluation, decision: str = "eligible", as_: str = "ada", **kw: Any
    ) -> EligibilityDecision:
        return actions.decide(
            actors[as_],
            evaluation.patient,
            evaluation.route,
            decision=decision,
            evaluation_id=evaluation.pk,
            reason=kw.get("reason", ""),
            precautions=kw.get("precautions", ""),
            overrides=kw.get("overrides", {}),
        )

    return run


@pytest.fixture
def outside_prescriber(other_clinic: Any) -> Any:
    """A prescriber at Northside: may decide, but never on a Harbor Light patient."""
    from ketacare.accounts.models import Membership, User
    from tests.conftest import PASSWORD

    user = User.objects.create_user("pia@example.org", PASSWORD, full_name="Pia Northside")
    Membership.objects.create(user=user, clinic=other_clinic, role="prescriber")
    return user
