"""What other domains ask of eligibility (plans, sessions). Stable signatures; bodies by the eligibility app."""

from __future__ import annotations

from dataclasses import dataclass

from ketacare.patients.models import Patient
from ketacare.screening.facts import Route


@dataclass(frozen=True)
class EligibilityCheck:
    ok: bool  # True only when a current, unflagged decision allows the route
    message: str  # why not, in words a prescriber reads ("Screened not eligible for IV on 2026-11-20 by ...")
    decision_id: int | None = None


def eligibility_for_plan(patient: Patient, route: Route) -> EligibilityCheck:
    """May a plan for `route` be signed? No decision, "not eligible", or a decision flagged for
    review (the intake changed since) all refuse."""
    raise NotImplementedError
