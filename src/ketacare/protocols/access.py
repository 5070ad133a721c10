"""Guarded fetches of the clinic's protocols: 403 without the permission, 404 for another clinic's rows."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def protocols_of(actor: Actor, perm: str = Perm.PROTOCOL_VIEW) -> QuerySet[ClinicProtocol]:
    _require(actor, perm)
    return ClinicProtocol.objects.filter(clinic=actor.clinic)


def versions_of(actor: Actor, perm: str = Perm.PROTOCOL_VIEW) -> QuerySet[ClinicProtocolVersion]:
    _require(actor, perm)
    return ClinicProtocolVersion.objects.filter(clinic=actor.clinic)


def access_clinic_protocol(actor: Actor, clinic_protocol_id: int, perm: str = Perm.PROTOCOL_VIEW) -> ClinicProtocol:
    found = protocols_of(actor, perm).filter(pk=clinic_protocol_id).first()
    if found is None:
        raise Http404("No such protocol.")
    return found


def access_protocol_version(actor: Actor, version_id: int, perm: str = Perm.PROTOCOL_VIEW) -> ClinicProtocolVersion:
    found = (
        versions_of(actor, perm)
        .select_related("clinic_protocol", "created_by", "published_by")
        .filter(pk=version_id)
        .first()
    )
    if found is None:
        raise Http404("No such protocol version.")
    return found
