"""What other domains ask of consents (plans, sessions). Stable signatures; bodies by the consents app."""

from __future__ import annotations

from dataclasses import dataclass

from ketacare.patients.models import Patient
from ketacare.screening.facts import Route


@dataclass(frozen=True)
class MissingConsent:
    code: str  # document code, e.g. "spravato_rems_enrolment"
    title: str  # e.g. "Spravato REMS patient enrolment"
    why: str  # "never signed" / "withdrawn on 2026-11-20" / "awaiting countersignature"


def missing_consents(patient: Patient, route: Route) -> list[MissingConsent]:
    """Consents the route requires that are not in force for the patient (empty = all in force).
    Spravato (intranasal_esketamine) requires the REMS patient enrolment."""
    raise NotImplementedError
