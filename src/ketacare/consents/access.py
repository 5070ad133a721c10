"""Guarded fetches of consents: the same 404 for a missing consent and another clinic's."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.consents.models import Consent, ConsentQuerySet


def consents_of(actor: Actor) -> ConsentQuerySet:
    """Every staff query of consents starts here: the actor's clinic, and a role that may see consents."""
    if not actor.can(Perm.CONSENT_VIEW):
        raise PermissionDenied(f"Your role does not allow {Perm.CONSENT_VIEW}.")
    queryset: ConsentQuerySet = Consent.objects.filter(clinic=actor.clinic)
    return queryset


def access_consent(actor: Actor, consent_id: int, perm: str = Perm.CONSENT_VIEW) -> Consent:
    """The consent if the actor's role grants `perm` (else 403) and it is in their clinic (else 404)."""
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")
    consent = (
        consents_of(actor)
        .select_related("patient", "patient__clinic", "presented_by", "countersigned_by", "withdrawn_by")
        .filter(pk=consent_id)
        .first()
    )
    if consent is None:
        raise Http404("No such consent.")
    return consent
