"""Safety-alert pages: the inbox every clinician sees until alerts are closed, and one alert."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.measures import actions
from ketacare.measures.access import access_alert, alerts_of
from ketacare.measures.definitions import UnknownInstrument, get_instrument
from ketacare.measures.forms import CloseAlertForm
from ketacare.measures.models import AlertStatus, SafetyAlert


@clinic_view(Perm.ALERT_VIEW)
def alert_inbox(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    week_ago = timezone.now() - datetime.timedelta(days=7)
    base = alerts_of(actor).select_related("patient", "acknowledged_by", "closed_by", "response")
    unresolved = list(base.unresolved().order_by("status", "raised_at"))
    closed = list(base.filter(status=AlertStatus.CLOSED, closed_at__gte=week_ago).order_by("-closed_at")[:20])
    record(
        actor,
        AuditAction.READ,
        "safety_alert.listed",
        detail={"unresolved": [a.pk for a in unresolved], "recently_closed": [a.pk for a in closed]},
    )
    return render(
        request, "measures/alert_inbox.html", {"unresolved": unresolved, "closed": closed, "now": timezone.now()}
    )


def _answers(alert: SafetyAlert) -> list[tuple[str, str, int | None, str]]:
    """(item id, item text, answer, answer label) for the response behind the alert."""
    try:
        instrument = get_instrument(alert.response.instrument_code, alert.response.instrument_version)
    except UnknownInstrument:
        return [(k, "", v, "") for k, v in alert.response.answers.items()]
    rows = []
    for item in instrument.items:
        value = alert.response.answers.get(item.id)
        label = next((o.label for o in item.options if o.value == value), "")
        rows.append((item.id, item.text, value, label))
    return rows


@clinic_view(Perm.ALERT_VIEW)
def alert_detail(request: HttpRequest, alert_id: int, form: CloseAlertForm | None = None) -> HttpResponse:
    actor = actor_of(request)
    alert = access_alert(actor, alert_id)
    record(actor, AuditAction.READ, "safety_alert.viewed", subject=alert, patient=alert.patient)
    context = {
        "alert": alert,
        "answers": _answers(alert),
        "form": form or CloseAlertForm(),
        "can_act": actor.can(Perm.ALERT_ACT),
        "overdue": alert.status == AlertStatus.OPEN and alert.ack_due_at <= timezone.now(),
    }
    return render(request, "measures/alert_detail.html", context, status=422 if form is not None else 200)


@clinic_view(Perm.ALERT_ACT)
@require_POST
def alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    actions.acknowledge_alert(actor_of(request), alert_id)
    messages.success(request, "Acknowledged: escalation is stopped. Close the alert once you have acted.")
    return HttpResponseRedirect(reverse("measures-alert", args=[alert_id]))


@clinic_view(Perm.ALERT_ACT)
@require_POST
def alert_close(request: HttpRequest, alert_id: int) -> HttpResponse:
    actor = actor_of(request)
    form = CloseAlertForm(request.POST)
    if form.is_valid():
        try:
            with transaction.atomic():
                actions.close_alert(actor, alert_id, form.cleaned_data["action_taken"], form.cleaned_data["action_at"])
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Alert closed with the action recorded.")
            return HttpResponseRedirect(reverse("measures-alerts"))
    return alert_detail(request, alert_id, form=form)
