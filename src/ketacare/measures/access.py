"""Guarded fetches for measures: the same 404 for missing and for another clinic's rows."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.measures.models import Response, SafetyAlert, SafetyAlertQuerySet


def alerts_of(actor: Actor) -> SafetyAlertQuerySet:
    if not actor.can(Perm.ALERT_VIEW):
        raise PermissionDenied(f"Your role does not allow {Perm.ALERT_VIEW}.")
    queryset: SafetyAlertQuerySet = SafetyAlert.objects.filter(clinic=actor.clinic)
    return queryset


def access_alert(actor: Actor, alert_id: int) -> SafetyAlert:
    alert = (
        alerts_of(actor)
        .filter(pk=alert_id)
        .select_related("patient", "patient__primary_clinician", "response", "acknowledged_by", "closed_by")
        .first()
    )
    if alert is None:
        raise Http404("No such alert.")
    return alert


def responses_of(actor: Actor) -> QuerySet[Response]:
    if not actor.can(Perm.MEASURE_VIEW):
        raise PermissionDenied(f"Your role does not allow {Perm.MEASURE_VIEW}.")
    return Response.objects.filter(clinic=actor.clinic)
