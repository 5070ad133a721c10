"""Session pages: today's sessions per location (book, check in), the chairside page, and the
session-level steps (check in, seat, cancel, stop early).

Form -> access -> action -> render. The chairside page is one page per session; each area (pre-dose
and dosing, monitoring/discharge/signing, REMS) supplies its part through `section_context` and its
own partial templates under templates/sessions/chair/. A signed or cancelled session answers every
change with 409 and the reason.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.lib.http import form_token
from ketacare.sessions import core, gates, monitor_views, rems_views, start_views
from ketacare.sessions.lifecycle import State, next_states
from ketacare.sessions.models import ACTIVE_STATES, TreatmentSession


def run_form(actor: Actor, request: HttpRequest, key: str, effect: Any) -> Any:
    """Run `effect` once per form token (a double click or a resubmission makes nothing twice)."""
    token = form_token(request)
    if token:
        payload = {k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "password")}
        return run_once(actor, f"form:{key}:{token}", fingerprint(payload), effect).body
    return effect()[1]


def chair_url(session: TreatmentSession, anchor: str = "") -> str:
    return reverse("sessions-chair", args=[session.pk]) + (f"#{anchor}" if anchor else "")


def refused(request: HttpRequest, session: TreatmentSession, message: str, status: int = 409) -> HttpResponse:
    """Render the chairside page with a refusal banner (409 locked, 422 invalid)."""
    return render_chair(request, session, refusal=message, status=status)


def errors_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{m}" for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def locations_of(actor: Actor) -> list[Location]:
    return list(Location.objects.filter(clinic=actor.clinic, is_active=True).order_by("name"))


def pick_location(actor: Actor, request: HttpRequest) -> Location | None:
    places = locations_of(actor)
    wanted = request.GET.get("location") or request.POST.get("location")
    for place in places:
        if str(place.pk) == wanted:
            return place
    return places[0] if places else None


def _progress(session: TreatmentSession) -> list[dict[str, Any]]:
    """The main path as steps for the progress bar (done / current / to do)."""
    path = [
        State.SCHEDULED,
        State.CHECKED_IN,
        State.PRE_DOSE_CHECKS,
        State.DOSING,
        State.OBSERVATION,
        State.READY_FOR_DISCHARGE,
        State.DISCHARGED,
        State.SIGNED,
    ]
    current = State(session.state)
    if current is State.STOPPED_EARLY:
        reached = path.index(State.DOSING)
    elif current is State.CANCELLED:
        reached = -1
    else:
        reached = path.index(current)
    return [
        {"label": s.label, "state": s.value, "done": i < reached, "current": i == reached} for i, s in enumerate(path)
    ]


def header_context(session: TreatmentSession, now: datetime.datetime) -> dict[str, Any]:
    """Times every part of the page shows: elapsed since the first dose, observation left."""
    protocol = session.protocol
    ends = None
    if session.first_dose_at:
        try:
            ends = gates.observation_ends_at(
                route=session.protocol_route,  # type: ignore[arg-type]
                protocol=protocol,
                first_dose_at=session.first_dose_at,
                dose_ended_at=session.dose_ended_at,
            )
        except ValueError:
            ends = None
    end = session.discharged_at or session.ended_early_at or now
    elapsed = int((end - session.first_dose_at).total_seconds() // 60) if session.first_dose_at else None
    finished = session.discharged_at or session.ended_early_at or session.is_locked
    left = max(0, int(-(-(ends - now).total_seconds() // 60))) if ends and not finished else None
    return {
        "protocol": protocol,
        "observation_ends_at": ends,
        "elapsed_minutes": elapsed,
        "observation_left_minutes": left,
        "progress": _progress(session),
        "next_states": [s.value for s in next_states(session.state)] if not session.is_locked else [],
    }


def render_chair(
    request: HttpRequest, session: TreatmentSession, *, refusal: str = "", status: int = 200, **extra: Any
) -> HttpResponse:
    actor = actor_of(request)
    now = timezone.now()
    context: dict[str, Any] = {
        "session": session,
        "patient": session.patient,
        "now": now,
        "refusal": refusal,
        "timeline": list(core.timeline(session)),
        "chairs": Resource.objects.filter(location=session.location, is_active=True).order_by("kind", "name"),
        "can_chart": actor.can(Perm.SESSION_CHART) and not session.is_locked,
        "can_order": actor.can(Perm.SESSION_ORDER) and not session.is_locked,
        "can_check_in": actor.can(Perm.SESSION_CHECK_IN) and not session.is_locked,
        "can_cancel": actor.can(Perm.SESSION_CANCEL) and session.state in (s.value for s in core_before_dosing()),
        "form_token": uuid.uuid4(),
        **header_context(session, now),
    }
    sheets: list[str] = []
    for area in (start_views, monitor_views, rems_views):
        part = area.section_context(request, actor, session)
        sheets.extend(part.pop("stylesheets", []))
        context.update(part)
    context["section_stylesheets"] = sheets
    context.update(extra)
    return render(request, "sessions/chairside.html", context, status=status)


def core_before_dosing() -> tuple[State, ...]:
    return (State.SCHEDULED, State.CHECKED_IN, State.PRE_DOSE_CHECKS)


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def chairside(request: HttpRequest, session_id: int) -> HttpResponse:
    actor = actor_of(request)
    session = core.access_session(actor, session_id)
    record(actor, AuditAction.READ, "session.viewed", subject=session, patient=session.patient)
    return render_chair(request, session)


@clinic_view(Perm.SESSION_BOARD)
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """Today's sessions at a location, in time order, with check-in (booking is the schedule's: issue #8)."""
    actor = actor_of(request)
    location = pick_location(actor, request)
    day = core.clinic_today(actor)
    zone = actor.clinic.zone
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=zone)
    sessions = (
        TreatmentSession.objects.filter(
            clinic=actor.clinic,
            location=location,
            scheduled_at__gte=start,
            scheduled_at__lt=start + datetime.timedelta(days=1),
        )
        .select_related("patient", "chair", "plan")
        .order_by("scheduled_at", "id")
    )
    record(
        actor, AuditAction.READ, "session.day_viewed", detail={"location": getattr(location, "pk", None), "day": day}
    )
    return render(
        request,
        "sessions/today.html",
        {
            "sessions": sessions,
            "location": location,
            "locations": locations_of(actor),
            "day": day,
            "chairs": Resource.objects.filter(location=location, is_active=True).order_by("kind", "name")
            if location
            else [],
            "active_states": [s.value for s in ACTIVE_STATES],
            "can_view_chart": actor.can(Perm.SESSION_VIEW),
            "can_check_in": actor.can(Perm.SESSION_CHECK_IN),
            "form_token": uuid.uuid4(),
            "default_time": timezone.localtime(timezone=zone).strftime("%H:%M"),
        },
    )


def _step(
    request: HttpRequest, session_id: int, perm: str, do: Any, done: str, back_to_list: bool = False
) -> HttpResponse:
    actor = actor_of(request)
    session = core.access_session(actor, session_id, perm)
    try:
        do(actor, session)
    except core.SessionLocked as exc:
        return refused(request, session, str(exc), 409)
    except ValidationError as exc:
        session.refresh_from_db()
        return refused(request, session, errors_text(exc), 422)
    messages.success(request, done)
    if back_to_list and request.POST.get("next") == "today":
        return HttpResponseRedirect(reverse("sessions-today") + f"?location={session.location_id}")
    return HttpResponseRedirect(chair_url(session))


@clinic_view(Perm.SESSION_CHECK_IN)
@require_POST
def check_in(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> None:
        chair = Resource.objects.filter(clinic=actor.clinic, pk=request.POST.get("chair") or 0).first()
        core.check_in(actor, session, chair=chair)

    return _step(request, session_id, Perm.SESSION_CHECK_IN, do, "Checked in.", back_to_list=True)


@clinic_view(Perm.SESSION_CHECK_IN)
@require_POST
def seat(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> None:
        chair = Resource.objects.filter(clinic=actor.clinic, pk=request.POST.get("chair") or 0).first()
        core.assign_chair(actor, session, chair)

    return _step(request, session_id, Perm.SESSION_CHECK_IN, do, "Chair updated.")


@clinic_view(Perm.SESSION_CANCEL)
@require_POST
def cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> None:
        core.cancel(actor, session, request.POST.get("reason", ""))

    return _step(request, session_id, Perm.SESSION_CANCEL, do, "Session cancelled.")


@clinic_view(Perm.SESSION_CHART)
@require_POST
def stop_early(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> None:
        core.stop_early(actor, session, request.POST.get("reason", ""))

    return _step(
        request, session_id, Perm.SESSION_CHART, do, "Session stopped early; sign it when the record is complete."
    )


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def patient_sessions(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's sessions, newest first (the chart's Sessions list)."""
    from ketacare.patients.access import access_patient

    actor = actor_of(request)
    patient = access_patient(actor, patient_id)
    sessions = (
        core.sessions_of(actor)
        .filter(patient=patient)
        .select_related("location", "chair", "plan")
        .order_by("-scheduled_at", "-id")
    )
    record(actor, AuditAction.READ, "session.list_viewed", patient=patient)
    return render(request, "sessions/patient.html", _patient_context(actor, patient, sessions))


def _patient_context(actor: Actor, patient: Any, sessions: Any, **extra: Any) -> dict[str, Any]:
    from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus

    versions = (
        list(
            ClinicProtocolVersion.objects.filter(
                clinic_protocol__clinic=actor.clinic, status=VersionStatus.PUBLISHED
            ).select_related("clinic_protocol")
        )
        if actor.can(Perm.SESSION_ORDER)
        else []
    )
    return {
        "patient": patient,
        "sessions": sessions,
        "order_versions": [(v, v.protocol.name) for v in versions],
        "locations": locations_of(actor),
        "form_token": uuid.uuid4(),
        "today": core.clinic_today(actor),
        "order_errors": {},
        "order_values": {},
        **extra,
    }


@clinic_view(Perm.SESSION_ORDER)
@require_POST
def order(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A prescriber's one-off order: a published protocol, a dose in mg, why, when and where."""
    from ketacare.patients.access import access_patient
    from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus

    actor = actor_of(request)
    patient = access_patient(actor, patient_id)
    post = request.POST
    errors: dict[str, str] = {}
    version = ClinicProtocolVersion.objects.filter(
        clinic_protocol__clinic=actor.clinic, status=VersionStatus.PUBLISHED, pk=post.get("protocol_version") or 0
    ).first()
    if version is None:
        errors["protocol_version"] = "Choose one of the clinic's published protocols."
    try:
        dose = Decimal(post.get("dose_mg", "").strip())
    except ArithmeticError:
        errors["dose_mg"] = "Enter the dose in mg, e.g. 35."
        dose = Decimal(0)
    try:
        day = datetime.date.fromisoformat(post.get("date", ""))
        at = datetime.time.fromisoformat(post.get("time", ""))
        when = datetime.datetime.combine(day, at, tzinfo=actor.clinic.zone)
    except ValueError:
        errors["scheduled_at"] = "Enter the date and time of the session."
        when = None
    location = next((loc for loc in locations_of(actor) if str(loc.pk) == post.get("location")), None)
    if location is None:
        errors["location"] = "Choose a location."
    if version is not None and when is not None and location is not None and not errors:

        def effect() -> tuple[int, Any]:
            made = core.order_session(
                actor,
                patient,
                protocol_version=version,
                dose_mg=dose,
                reason=post.get("reason", ""),
                scheduled_at=when,
                location=location,
            )
            return 201, made.pk

        try:
            made_pk = run_form(actor, request, f"session-order-{patient.pk}", effect)
        except ValidationError as exc:
            errors.update({k: " ".join(v) for k, v in exc.message_dict.items()})
        except IdempotencyConflict:
            errors["form"] = "This form was already submitted with other values; reload the page."
        else:
            messages.success(request, "One-off session ordered.")
            return HttpResponseRedirect(reverse("sessions-chair", args=[made_pk]))
    sessions = core.sessions_of(actor).filter(patient=patient).select_related("location", "chair", "plan")
    context = _patient_context(actor, patient, sessions.order_by("-scheduled_at", "-id"))
    context.update(order_errors=errors, order_values=post, order_open=True)
    return render(request, "sessions/patient.html", context, status=422)


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The chart's Sessions tab (loaded by HTMX): the patient's latest sessions."""
    from ketacare.patients.access import access_patient

    actor = actor_of(request)
    patient = access_patient(actor, patient_id)
    sessions = (
        core.sessions_of(actor)
        .filter(patient=patient)
        .select_related("location", "chair", "plan")
        .order_by("-scheduled_at", "-id")[:20]
    )
    record(actor, AuditAction.READ, "session.list_viewed", patient=patient, detail={"where": "chart"})
    return render(
        request,
        "sessions/_chart.html",
        {"patient": patient, "sessions": sessions, "can_order": actor.can(Perm.SESSION_ORDER)},
    )
