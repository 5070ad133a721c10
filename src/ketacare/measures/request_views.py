"""Staff pages for questionnaires sent to a patient: send a link, hand over a tablet, see what came back, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.lib.http import form_token
from ketacare.measures import links, schedules
from ketacare.measures.definitions import get_instrument
from ketacare.measures.forms import ScheduleForm
from ketacare.measures.patient_views import SESSION_KIOSK
from ketacare.patients.access import access_patient


def _choices() -> list[tuple[str, str]]:
    return [
        (code, f"{get_instrument(code).abbreviation} — {get_instrument(code).name}")
        for code in links.self_report_codes()
    ]


@clinic_view(Perm.MEASURE_SEND)
def patient_requests(
    request: HttpRequest,
    patient_id: int,
    errors: list[str] | None = None,
    chosen: list[str] | None = None,
    schedule_form: ScheduleForm | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_SEND)
    rows = list(
        links.requests_of(actor)
        .filter(patient=patient)
        .select_related("created_by", "cancelled_by")
        .order_by("-created_at")[:50]
    )
    schedule_rows = list(
        schedules.schedules_of(actor).filter(patient=patient).select_related("clinic", "created_by", "stopped_by")[:50]
    )
    record(
        actor,
        AuditAction.READ,
        "questionnaire_request.listed",
        patient=patient,
        detail={"requests": [r.pk for r in rows], "schedules": [s.pk for s in schedule_rows]},
    )
    context = {
        "patient": patient,
        "rows": rows,
        "choices": _choices(),
        "chosen": chosen or [],
        "errors": errors or [],
        "form_token": uuid.uuid4(),
        "schedules": schedules.describe(schedule_rows),
        "form": schedule_form or ScheduleForm(instrument_choices=_choices(), initial={"kind": "recurring"}),
    }
    failed = bool(errors) or (schedule_form is not None and bool(schedule_form.errors))
    return render(request, "measures/requests.html", context, status=422 if failed else 200)


def _send(request: HttpRequest, patient_id: int, kiosk: bool) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_SEND)
    codes = request.POST.getlist("instruments")
    try:
        if kiosk:
            row = links.start_kiosk(actor, patient, codes)
        else:
            token = form_token(request)

            def effect() -> tuple[int, Any]:
                sent = links.send_questionnaire(actor, patient, codes)
                return 201, {"request_id": sent.pk}

            if not token:
                effect()
            elif run_once(actor, f"form:questionnaire-send:{token}", fingerprint(request.POST.dict()), effect).replayed:
                # A double click: the questionnaire went out once.
                messages.info(request, "That form was already sent: the patient got one link.")
                return HttpResponseRedirect(reverse("measures-requests", args=[patient.pk]))
    except ValidationError as exc:
        return patient_requests(request, patient_id, errors=exc.messages, chosen=codes)
    except IdempotencyConflict:
        return patient_requests(
            request, patient_id, errors=["This form was already sent. Reload the page to send another."], chosen=codes
        )
    if kiosk:
        # Staff leave the tablet signed out: the patient sees nothing but the questionnaire, and a
        # member of staff signs in again to continue.
        logout(request)
        request.session[SESSION_KIOSK] = row.pk
        return HttpResponseRedirect(reverse("measures-q-kiosk"))
    messages.success(request, "Sent: the patient gets the link by e-mail and text message where we have them.")
    return HttpResponseRedirect(reverse("measures-requests", args=[patient.pk]))


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def send_request(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _send(request, patient_id, kiosk=False)


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def start_kiosk(request: HttpRequest, patient_id: int) -> HttpResponse:
    return _send(request, patient_id, kiosk=True)


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def cancel_request(request: HttpRequest, request_id: int) -> HttpResponse:
    actor = actor_of(request)
    try:
        row = links.cancel_request(actor, request_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        row = links.requests_of(actor).get(pk=request_id)
    else:
        messages.success(request, "Cancelled: the link no longer works.")
    return HttpResponseRedirect(reverse("measures-requests", args=[row.patient_id]))


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def create_schedule(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_SEND)
    form = ScheduleForm(request.POST, instrument_choices=_choices())
    if form.is_valid():
        data = form.cleaned_data
        token = form_token(request)

        def effect() -> tuple[int, Any]:
            schedule = schedules.create_schedule(
                actor,
                patient,
                codes=data["instruments"],
                kind=data["kind"],
                every_days=data["every_days"] if data["kind"] == "recurring" else None,
                starts_on=data["starts_on"] if data["kind"] == "recurring" else None,
                until=data["until"] if data["kind"] == "recurring" else None,
                anchor_event=data["anchor_event"] if data["kind"] == "anchored" else "",
                offset_hours=data["offset_hours"] if data["kind"] == "anchored" else None,
            )
            return 201, {"schedule_id": schedule.pk}

        try:
            if (
                token
                and run_once(actor, f"form:measure-schedule:{token}", fingerprint(request.POST.dict()), effect).replayed
            ):
                messages.info(request, "That schedule was already created once.")
                return HttpResponseRedirect(reverse("measures-requests", args=[patient.pk]))
            if not token:
                effect()
        except ValidationError as exc:
            form.add_error(None, exc)
        except IdempotencyConflict:
            form.add_error(None, "This form was already sent. Reload the page to create another schedule.")
    if form.errors:
        return patient_requests(request, patient_id, schedule_form=form)
    messages.success(request, "Schedule created: questionnaires will be sent automatically.")
    return HttpResponseRedirect(reverse("measures-requests", args=[patient.pk]))


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def stop_schedule(request: HttpRequest, schedule_id: int) -> HttpResponse:
    actor = actor_of(request)
    try:
        schedule = schedules.stop_schedule(actor, schedule_id)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        schedule = schedules.schedules_of(actor).get(pk=schedule_id)
    else:
        messages.success(request, "Schedule stopped: nothing more will be sent by it.")
    return HttpResponseRedirect(reverse("measures-requests", args=[schedule.patient_id]))
