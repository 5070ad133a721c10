"""What other domains ask of consents (plans, sessions). Stable signatures; bodies by the consents app."""

from __future__ import annotations

from dataclasses import dataclass

from ketacare.accounts.context import Actor
from ketacare.consents import access
from ketacare.consents.definitions import documents_required_for
from ketacare.consents.models import Consent, ConsentQuerySet, ConsentStatus
from ketacare.patients.models import Patient
from ketacare.screening.facts import Route


@dataclass(frozen=True)
class MissingConsent:
    code: str  # document code, e.g. "spravato_rems_enrolment"
    title: str  # e.g. "Spravato REMS patient enrolment"
    why: str  # "never signed" / "withdrawn on 2026-11-20" / "awaiting countersignature"


def consents_of(actor: Actor) -> ConsentQuerySet:
    """The consents of the actor's clinic (403 without CONSENT_VIEW)."""
    return access.consents_of(actor)


def consent_in_force(patient: Patient, code: str) -> Consent | None:
    """The newest consent to document `code` that the patient signed, that is fully signed
    (countersigned where the document requires it) and not withdrawn; None if there is none."""
    return (
        Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient, document_code=code)
        .filter(status=ConsentStatus.IN_FORCE)
        .order_by("-signed_at", "-id")
        .first()
    )


def _why(latest: Consent | None, patient: Patient) -> str:
    if latest is None:
        return "never signed"
    if latest.status == ConsentStatus.AWAITING_COUNTERSIGN:
        return "awaiting countersignature"
    if latest.status == ConsentStatus.WITHDRAWN and latest.withdrawn_at is not None:
        day = latest.withdrawn_at.astimezone(patient.clinic.zone).date()
        return f"withdrawn on {day.isoformat()}"
    return "never signed"


def missing_consents(patient: Patient, route: Route) -> list[MissingConsent]:
    """Consents the route requires that are not in force for the patient (empty = all in force).
    Spravato (intranasal_esketamine) requires the REMS patient enrolment."""
    missing: list[MissingConsent] = []
    for document in documents_required_for(route):
        rows = list(
            Consent.objects.filter(clinic_id=patient.clinic_id, patient=patient, document_code=document.code)
            .exclude(status=ConsentStatus.SUPERSEDED)
            .order_by("-signed_at", "-id")
        )
        if any(r.status == ConsentStatus.IN_FORCE for r in rows):
            continue
        missing.append(MissingConsent(document.code, document.title, _why(rows[0] if rows else None, patient)))
    return missing
