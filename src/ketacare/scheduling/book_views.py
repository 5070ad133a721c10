"""Booking pages (issue #8): today's list for the front desk, booking a visit, booking a plan's series,
and one appointment (escort, messages, check in, move, cancel, no-show).

Form -> access (`booking.access_appointment` / `appointments_of`, clinic-scoped querysets) -> one
action of `scheduling.booking` (the only writer) -> redirect or render. Every POST form carries a
one-time `form_token` and goes through `run_once`, so a double click books once. A refusal naming a
field re-renders the form with that field's message (422); a slot someone else took meanwhile is a
409 with fresh proposals.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.accounts.models import User
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.patients.access import patients_of
from ketacare.patients.actions import search_patients
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols.definitions import Protocol
from ketacare.scheduling import booking
from ketacare.scheduling.availability import Pinned
from ketacare.scheduling.booking import Proposal, SlotTaken
from ketacare.scheduling.forms import (
    BookSeriesForm,
    BookVisitForm,
    CancelForm,
    EscortForm,
    RescheduleForm,
    SeriesSearchForm,
    VisitSearchForm,
)
from ketacare.scheduling.models import (
    LIVE_STATES,
    Appointment,
    AppointmentReply,
    AppointmentState,
    AppointmentType,
    local_day_bounds,
    settings_for,
)
from ketacare.sessions.views import locations_of, run_form

ALREADY_SENT = "This form was already submitted with other values; reload the page and try again."


# --- small helpers ------------------------------------------------------------------------------------


def _today(actor: Actor) -> datetime.date:
    return timezone.localdate(timezone=actor.clinic.zone)


def _day_start(actor: Actor, day: datetime.date | None) -> datetime.datetime:
    return datetime.datetime.combine(day or _today(actor), datetime.time.min, tzinfo=actor.clinic.zone)


def _error_dict(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _add_errors(form: Any, exc: ValidationError) -> None:
    """Put an action's refusal on the form: on its field when the form has it, else on the form."""
    for field, msgs in _error_dict(exc).items():
        form.add_error(field if field in form.fields else None, msgs)


def _flat(errors: dict[str, list[str]]) -> str:
    return " ".join(m for msgs in errors.values() for m in msgs)


@dataclasses.dataclass(frozen=True)
class Names:
    """Chair, room and staff names of the clinic, for labelling proposals without a query per row."""

    resources: dict[int, str]
    staff: dict[int, str]

    @classmethod
    def of(cls, actor: Actor) -> Names:
        resources = dict(Resource.objects.filter(clinic=actor.clinic).values_list("pk", "name"))
        staff = {
            pk: (name or email)
            for pk, name, email in User.objects.filter(memberships__clinic=actor.clinic).values_list(
                "pk", "full_name", "email"
            )
        }
        return cls(resources=resources, staff=staff)

    def of_proposal(self, p: Proposal) -> list[str]:
        found = [self.resources.get(p.chair_id or 0, "")]
        found += [self.staff.get(pk or 0, "") for pk in (p.nurse_id, p.clinician_id)]
        return [name for name in found if name]


@dataclasses.dataclass(frozen=True)
class Choice:
    """A proposal as a button: its words and the value posted back."""

    label: str
    value: str
    when: datetime.datetime
    where: str


def _choices(actor: Actor, proposals: Iterable[Proposal], names: Names | None = None) -> list[Choice]:
    names = names or Names.of(actor)
    zone = actor.clinic.zone
    found = []
    for p in proposals:
        local = p.starts_at.astimezone(zone)
        where = ", ".join(names.of_proposal(p))
        found.append(
            Choice(
                label=f"{local:%a %d %b %H:%M}" + (f" – {where}" if where else ""),
                value=f"{p.starts_at.isoformat()}|{p.chair_id or ''}|{p.nurse_id or ''}|{p.clinician_id or ''}",
                when=local,
                where=where,
            )
        )
    return found


@dataclasses.dataclass(frozen=True)
class SeriesChoice:
    visits: list[Choice]
    value: str


def _series_choices(actor: Actor, options: list[list[Proposal]]) -> list[SeriesChoice]:
    names = Names.of(actor)
    zone = actor.clinic.zone
    found = []
    for placed in options:
        visits = []
        for p in placed:
            local = p.starts_at.astimezone(zone)
            chair = names.resources.get(p.chair_id or 0, "")
            visits.append(
                Choice(label=f"{local:%a %d %b %H:%M}", value=p.starts_at.isoformat(), when=local, where=chair)
            )
        # Each visit as "start@chair": the booking takes exactly the chairs shown.
        value = ",".join(f"{p.starts_at.isoformat()}@{p.chair_id or ''}" for p in placed)
        found.append(SeriesChoice(visits=visits, value=value))
    return found


def _resource(actor: Actor, pk: int | None) -> Resource | None:
    return Resource.objects.filter(clinic=actor.clinic, pk=pk).first() if pk else None


def _member(actor: Actor, pk: int | None) -> User | None:
    return User.objects.filter(memberships__clinic=actor.clinic, pk=pk).distinct().first() if pk else None


def _late_cancel(actor: Actor, appointment: Appointment, now: datetime.datetime) -> bool:
    window = datetime.timedelta(hours=settings_for(actor.clinic).late_cancel_hours)
    return appointment.starts_at - now < window


# --- today's list ---------------------------------------------------------------------------------------


STATUS_CLASS = {
    "Booked: escort not confirmed": "kc-sched-escort",
    "Confirmed": "kc-sched-confirmed",
    "Checked in": "kc-sched-in",
    "Completed": "kc-sched-done",
    "Cancelled": "kc-sched-cancelled",
    "Late cancellation": "kc-sched-cancelled",
    "No-show": "kc-sched-noshow",
}


def _row(
    appointment: Appointment, now: datetime.datetime, grace: datetime.timedelta, late: datetime.timedelta
) -> dict[str, Any]:
    replies = list(appointment.replies.all())  # prefetched
    return {
        "a": appointment,
        "status": appointment.status_label,
        "status_class": STATUS_CLASS.get(appointment.status_label, "kc-sched-confirmed"),
        "reply": replies[-1] if replies else None,
        "booked": appointment.state == AppointmentState.BOOKED,
        "needs_escort": appointment.state == AppointmentState.BOOKED
        and appointment.is_dosing
        and not appointment.escort_confirmed,
        "no_show_from": appointment.starts_at + grace,
        "no_show_ok": now >= appointment.starts_at + grace,
        "late_cancel": appointment.starts_at - now < late,
    }


def _render_today(
    request: HttpRequest,
    actor: Actor,
    location: Location | None,
    *,
    row_errors: dict[int, dict[str, Any]] | None = None,
    status: int = 200,
    places: list[Location] | None = None,
) -> HttpResponse:
    day = _today(actor)
    start, end = local_day_bounds(actor.clinic, day)
    rows = list(
        booking.appointments_of(actor)
        .filter(location=location, starts_at__gte=start, starts_at__lt=end)
        .select_related("patient", "appointment_type", "chair", "nurse", "clinician")
        .prefetch_related(Prefetch("replies", queryset=AppointmentReply.objects.order_by("received_at", "id")))
        .order_by("starts_at", "id")
    )
    record(
        actor,
        AuditAction.READ,
        "appointment.day_viewed",
        detail={
            "location": getattr(location, "pk", None),
            "day": day,
            "rows_returned": len(rows),
            "patient_ids": sorted({a.patient_id for a in rows}),
        },
    )
    rules = settings_for(actor.clinic)
    now = timezone.now()
    grace = datetime.timedelta(minutes=rules.no_show_after_minutes)
    late = datetime.timedelta(hours=rules.late_cancel_hours)
    errors = row_errors or {}
    return render(
        request,
        "scheduling/today.html",
        {
            "rows": [{**_row(a, now, grace, late), "errors": errors.get(a.pk)} for a in rows],
            "location": location,
            "locations": places if places is not None else locations_of(actor),
            "day": day,
            "can_book": actor.can(Perm.SCHEDULE_BOOK),
            "can_open_session": actor.can(Perm.SESSION_CHECK_IN),
            "can_view_session": actor.can(Perm.SESSION_VIEW),
            "late_cancel_hours": rules.late_cancel_hours,
            "form_token": uuid.uuid4(),
        },
        status=status,
    )


@clinic_view(Perm.SCHEDULE_VIEW)
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """Today's visits at a location, in time order, with check in, escort, no-show and cancel."""
    actor = actor_of(request)
    places = locations_of(actor)
    wanted = request.GET.get("location", "")
    location = next((p for p in places if str(p.pk) == wanted), places[0] if places else None)
    return _render_today(request, actor, location, places=places)


# --- actions on one appointment (from today's list or its own page) ---------------------------------


def _act(
    request: HttpRequest,
    appointment_id: int,
    key: str,
    do: Callable[[Actor, Appointment], Appointment],
    done: Callable[[Actor, Appointment], str],
    *,
    form_name: str = "",
) -> HttpResponse:
    actor = actor_of(request)
    appointment = booking.access_appointment(actor, appointment_id, Perm.SCHEDULE_BOOK)
    from_today = request.POST.get("next") == "today"

    def effect() -> tuple[int, Any]:
        return 200, do(actor, appointment).pk

    status = 200
    errors: dict[str, list[str]] = {}
    try:
        run_form(actor, request, f"appointment-{key}-{appointment.pk}", effect)
    except ValidationError as exc:
        status, errors = 422, _error_dict(exc)
    except SlotTaken as exc:
        status, errors = 409, {"__all__": [str(exc)]}
    except IdempotencyConflict:
        status, errors = 409, {"__all__": [ALREADY_SENT]}
    if status != 200:
        appointment = booking.access_appointment(actor, appointment.pk)
        if from_today:
            row = {"action": key, "messages": [m for msgs in errors.values() for m in msgs], "values": request.POST}
            location = Location.objects.get(pk=appointment.location_id)
            return _render_today(request, actor, location, row_errors={appointment.pk: row}, status=status)
        return _render_appointment(
            request, actor, appointment, errors={form_name or key: errors}, values=request.POST, status=status
        )
    appointment = booking.access_appointment(actor, appointment.pk)
    messages.success(request, done(actor, appointment))
    if from_today:
        return HttpResponseRedirect(reverse("scheduling-today") + f"?location={appointment.location_id}")
    return HttpResponseRedirect(reverse("scheduling-appointment", args=[appointment.pk]))


def _checked_in_message(actor: Actor, appointment: Appointment) -> str:
    if appointment.session_id is None:
        return f"Checked in: {appointment.patient.display_name}."
    if actor.can(Perm.SESSION_VIEW):
        url, words = reverse("sessions-chair", args=[appointment.session_id]), "Open the chairside page"
    else:
        url, words = reverse("sessions-board") + f"?location={appointment.location_id}", "Open the floor board"
    return format_html(  # type: ignore[no-any-return]
        'Checked in: the treatment session is open. <a href="{}" data-testid="session-link">{}</a>', url, words
    )


@clinic_view(Perm.SCHEDULE_BOOK)
@require_POST
def check_in(request: HttpRequest, appointment_id: int) -> HttpResponse:
    return _act(request, appointment_id, "check_in", booking.check_in, _checked_in_message)


@clinic_view(Perm.SCHEDULE_BOOK)
@require_POST
def no_show(request: HttpRequest, appointment_id: int) -> HttpResponse:
    return _act(
        request,
        appointment_id,
        "no_show",
        booking.mark_no_show,
        lambda actor, a: f"Marked a no-show: {a.patient.display_name}. The chair and staff are free again.",
    )


@clinic_view(Perm.SCHEDULE_BOOK)
@require_POST
def cancel(request: HttpRequest, appointment_id: int) -> HttpResponse:
    form = CancelForm(request.POST)
    reason = form.data.get("reason", "") or ""
    by_patient = form.data.get("by_patient") in ("on", "true", "1")

    def do(actor: Actor, appointment: Appointment) -> Appointment:
        return booking.cancel(actor, appointment, reason=str(reason), by_patient=by_patient)

    def done(actor: Actor, a: Appointment) -> str:
        late = " It counts as a late cancellation." if a.late_cancel else ""
        when = timezone.localtime(a.starts_at, actor.clinic.zone)
        return f"Cancelled: {a.patient.display_name}, {when:%a %d %b %H:%M}.{late}"

    return _act(request, appointment_id, "cancel", do, done)


@clinic_view(Perm.SCHEDULE_BOOK)
@require_POST
def escort(request: HttpRequest, appointment_id: int) -> HttpResponse:
    name, phone = request.POST.get("escort_name", ""), request.POST.get("escort_phone", "")
    whole_series = request.POST.get("whole_series") in ("on", "true", "1")
    others: list[int] = []

    def do(actor: Actor, appointment: Appointment) -> Appointment:
        done = booking.confirm_escort(actor, appointment, name=name, phone=phone)
        if whole_series and appointment.series_id is not None:
            # The same escort for the series' other booked visits, in the same transaction (run_once's).
            for other in _series_to_confirm(actor, appointment):
                booking.confirm_escort(actor, other, name=name, phone=phone)
                others.append(other.pk)
        return done

    def message(actor: Actor, a: Appointment) -> str:
        more = f" (this visit and {len(others)} more of the series)" if others else ""
        return f"Escort confirmed: {a.escort_name}, {a.escort_phone}{more}."

    return _act(request, appointment_id, "escort", do, message)


def _series_to_confirm(actor: Actor, appointment: Appointment) -> list[Appointment]:
    """The other booked dosing visits of the appointment's series."""
    if appointment.series_id is None:
        return []
    return list(
        booking.appointments_of(actor, Perm.SCHEDULE_BOOK)
        .filter(series_id=appointment.series_id, state=AppointmentState.BOOKED)
        .exclude(pk=appointment.pk)
        .select_related("appointment_type")
        .order_by("starts_at")
    )


@clinic_view(Perm.SCHEDULE_BOOK)
@require_POST
def reschedule(request: HttpRequest, appointment_id: int) -> HttpResponse:
    actor = actor_of(request)
    appointment = booking.access_appointment(actor, appointment_id, Perm.SCHEDULE_BOOK)
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        errors = {f: [str(m) for m in msgs] for f, msgs in form.errors.items()}
        return _render_appointment(request, actor, appointment, errors={"reschedule": errors}, status=422)
    chosen = form.cleaned_data["starts_at"]

    def do(actor: Actor, current: Appointment) -> Appointment:
        return booking.reschedule(
            actor,
            current,
            starts_at=chosen["starts_at"],
            chair=_resource(actor, chosen["chair"]),
            nurse=_member(actor, chosen["nurse"]),
            clinician=_member(actor, chosen["clinician"]),
        )

    def done(actor: Actor, a: Appointment) -> str:
        return f"Moved to {timezone.localtime(a.starts_at, actor.clinic.zone):%a %d %b %H:%M}."

    return _act(request, appointment_id, "reschedule", do, done)


# --- one appointment ----------------------------------------------------------------------------------


def _reschedule_choices(
    actor: Actor, appointment: Appointment, after: datetime.date | None
) -> tuple[list[Choice], dict[str, list[str]]]:
    try:
        proposals = booking.propose_visits(
            actor,
            appointment_type=appointment.appointment_type,
            location=appointment.location,
            after=_day_start(actor, after),
            limit=10,
            moving=appointment,
        )
    except ValidationError as exc:
        return [], _error_dict(exc)
    return _choices(actor, proposals), {}


def _render_appointment(
    request: HttpRequest,
    actor: Actor,
    appointment: Appointment,
    *,
    errors: dict[str, dict[str, list[str]]] | None = None,
    values: Any = None,
    status: int = 200,
) -> HttpResponse:
    errors = errors or {}
    now = timezone.now()
    zone = actor.clinic.zone
    rules = settings_for(actor.clinic)
    series = []
    position = None
    if appointment.series_id is not None:
        series = list(
            Appointment.objects.filter(clinic=actor.clinic, series_id=appointment.series_id)
            .select_related("chair")
            .order_by("starts_at", "id")
        )
        position = next((n for n, a in enumerate(series, start=1) if a.pk == appointment.pk), None)
    reschedule_from = None
    choices: list[Choice] = []
    raw_from = request.GET.get("reschedule_from") or (values.get("reschedule_from") if values else None)
    booked = appointment.state == AppointmentState.BOOKED
    can_book = actor.can(Perm.SCHEDULE_BOOK)
    if booked and can_book and (raw_from or "reschedule" in errors):
        try:
            reschedule_from = datetime.date.fromisoformat(raw_from or "")
        except ValueError:
            reschedule_from = _today(actor)
        choices, proposal_errors = _reschedule_choices(actor, appointment, reschedule_from)
        if proposal_errors:
            errors.setdefault("reschedule", {}).update(proposal_errors)
    escort_form = EscortForm(
        values
        if "escort" in errors
        else {"escort_name": appointment.escort_name, "escort_phone": appointment.escort_phone}
    )
    cancel_form = CancelForm(values) if "cancel" in errors else CancelForm()
    shown = {key: dict(found) for key, found in errors.items()}
    for key, form in (("escort", escort_form), ("cancel", cancel_form)):
        if key in errors:
            form.is_valid()
            for field, msgs in errors[key].items():
                if field in form.fields:
                    fresh = [m for m in msgs if m not in form.errors.get(field, [])]
                    if fresh:
                        form.add_error(field, fresh)
                    shown[key].pop(field, None)
    local_day = timezone.localtime(appointment.starts_at, zone).date()
    others = sum(1 for a in series if a.pk != appointment.pk and a.state == AppointmentState.BOOKED)
    context = {
        "a": appointment,
        "patient": appointment.patient,
        "status_class": STATUS_CLASS.get(appointment.status_label, "kc-sched-confirmed"),
        "series": series,
        "position": position,
        "series_booked_others": others,
        "whole_series_label": f"The same escort for the {others} other booked visit{'s' if others != 1 else ''} "
        "of this series",
        "messages_out": list(appointment.messages.all().order_by("due_at", "id")),
        "replies": list(appointment.replies.all().order_by("received_at", "id")),
        "errors": errors,
        "flat_errors": {k: [m for msgs in v.values() for m in msgs] for k, v in shown.items()},
        "escort_form": escort_form,
        "cancel_form": cancel_form,
        "booked": booked,
        "is_today": local_day == _today(actor),
        "can_book": can_book,
        "can_open_session": actor.can(Perm.SESSION_CHECK_IN),
        "can_view_session": actor.can(Perm.SESSION_VIEW),
        "can_view_patient": actor.can(Perm.PATIENT_VIEW),
        "no_show_from": appointment.starts_at + datetime.timedelta(minutes=rules.no_show_after_minutes),
        "no_show_ok": booked and now >= appointment.starts_at + datetime.timedelta(minutes=rules.no_show_after_minutes),
        "late_cancel": booked and _late_cancel(actor, appointment, now),
        "late_cancel_hours": rules.late_cancel_hours,
        "late_from": appointment.starts_at - datetime.timedelta(hours=rules.late_cancel_hours),
        "reschedule_from": reschedule_from or _today(actor),
        "reschedule_open": reschedule_from is not None,
        "reschedule_choices": choices,
        "buffer_minutes": int((appointment.held_until - appointment.ends_at).total_seconds() // 60),
        "form_token": uuid.uuid4(),
    }
    return render(request, "scheduling/appointment.html", context, status=status)


@clinic_view(Perm.SCHEDULE_VIEW)
@require_GET
def appointment_page(request: HttpRequest, appointment_id: int) -> HttpResponse:
    actor = actor_of(request)
    appointment = booking.access_appointment(actor, appointment_id)
    record(actor, AuditAction.READ, "appointment.viewed", subject=appointment, patient=appointment.patient)
    return _render_appointment(request, actor, appointment)


# --- book a visit ------------------------------------------------------------------------------------


def _patient_param(actor: Actor, raw: str | None) -> Patient | None:
    if not raw:
        return None
    if not str(raw).isdigit():
        raise Http404("No such patient.")
    found = patients_of(actor).filter(pk=int(raw)).first()
    if found is None:
        raise Http404("No such patient.")
    return found


def _visit_proposals(actor: Actor, form: VisitSearchForm, patient: Patient) -> tuple[list[Choice] | None, bool]:
    """The first 10 free times for the form's choices: (choices, or None when refused; dosing visit
    without a plan)."""
    data = form.cleaned_data
    kind: AppointmentType = data["appointment_type"]
    if kind.is_dosing and not data.get("plan") and not data.get("order"):
        return None, True
    chair, nurse, clinician = data.get("chair"), data.get("nurse"), data.get("clinician")
    try:
        proposals = booking.propose_visits(
            actor,
            appointment_type=kind,
            location=data["location"],
            after=_day_start(actor, data.get("after")),
            plan=data.get("plan"),
            order=data.get("order"),
            pinned=Pinned(
                chair_id=chair.pk if chair else None,
                nurse_id=nurse.pk if nurse else None,
                clinician_id=clinician.pk if clinician else None,
            ),
            limit=10,
            patient=patient,
        )
    except ValidationError as exc:
        _add_errors(form, exc)
        return None, False
    return _choices(actor, proposals), False


def _render_book(
    request: HttpRequest, actor: Actor, patient: Patient, form: VisitSearchForm, *, status: int = 200
) -> HttpResponse:
    choices: list[Choice] | None = None
    needs_plan = False
    searched = False
    if form.is_bound:
        form.is_valid()
        # A refusal added to the form (e.g. 409) keeps the fields it did not name: propose again.
        if {"appointment_type", "location"} <= set(form.cleaned_data):
            searched = True
            choices, needs_plan = _visit_proposals(actor, form, patient)
    signed_plans = list(
        TreatmentPlan.objects.filter(clinic=actor.clinic, patient=patient, status=PlanStatus.SIGNED).order_by(
            "-signed_at", "-id"
        )
    )
    chosen_type = form.cleaned_data.get("appointment_type") if searched else None
    if form.errors and status == 200:
        status = 422
    return render(
        request,
        "scheduling/book.html",
        {
            "patient": patient,
            "form": form,
            "searched": searched and choices is not None,
            "choices": choices or [],
            "needs_plan": needs_plan,
            "chosen_type": chosen_type,
            "signed_plans": [
                (p, (p.protocol_snapshot or {}).get("name", ""))
                for p in signed_plans
                if chosen_type is None or chosen_type.route in (None, p.route)
            ],
            "can_view_patient": actor.can(Perm.PATIENT_VIEW),
            "form_token": uuid.uuid4(),
        },
        status=status,
    )


def _patient_search(request: HttpRequest, actor: Actor) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = search_patients(actor, query, status="", per_page=15) if query else None
    return render(
        request,
        "scheduling/book_patient.html",
        {"query": query, "patients": list(page.object_list) if page is not None else None},
    )


@clinic_view(Perm.SCHEDULE_BOOK)
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest) -> HttpResponse:
    """Book one visit: pick the patient, the type, where and from when; choose one of 10 proposals."""
    actor = actor_of(request)
    if request.method == "POST":
        return _book_post(request, actor)
    patient = _patient_param(actor, request.GET.get("patient"))
    if patient is None:
        return _patient_search(request, actor)
    record(actor, AuditAction.READ, "patient.viewed", subject=patient, patient=patient, detail={"view": "book"})
    if "appointment_type" in request.GET:
        form = VisitSearchForm(actor, patient, data=request.GET)
    else:
        places = locations_of(actor)
        form = VisitSearchForm(
            actor, patient, initial={"location": places[0] if places else None, "after": _today(actor)}
        )
    return _render_book(request, actor, patient, form)


def _book_post(request: HttpRequest, actor: Actor) -> HttpResponse:
    patient = _patient_param(actor, request.POST.get("patient"))
    if patient is None:
        raise Http404("No such patient.")
    form = BookVisitForm(actor, patient, data=request.POST)
    if not form.is_valid():
        return _render_book(request, actor, patient, _search_again(actor, patient, request), status=422)
    data = form.cleaned_data
    chosen = data["starts_at"]

    def effect() -> tuple[int, Any]:
        made = booking.book_visit(
            actor,
            patient=patient,
            appointment_type=data["appointment_type"],
            location=data["location"],
            starts_at=chosen["starts_at"],
            plan=data.get("plan"),
            order=data.get("order"),
            chair=_resource(actor, chosen["chair"]) or data.get("chair"),
            nurse=_member(actor, chosen["nurse"]) or data.get("nurse"),
            clinician=_member(actor, chosen["clinician"]) or data.get("clinician"),
        )
        return 201, made.pk

    again = _search_again(actor, patient, request)
    try:
        made_pk = run_form(actor, request, f"schedule-book-{patient.pk}", effect)
    except ValidationError as exc:
        again.is_valid()
        _add_errors(again, exc)
        return _render_book(request, actor, patient, again, status=422)
    except SlotTaken as exc:
        again.is_valid()
        again.add_error(None, f"{exc} Here are the free times now.")
        return _render_book(request, actor, patient, again, status=409)
    except IdempotencyConflict:
        again.is_valid()
        again.add_error(None, ALREADY_SENT)
        return _render_book(request, actor, patient, again, status=409)
    made = booking.access_appointment(actor, made_pk)
    when = timezone.localtime(made.starts_at, actor.clinic.zone)
    where = made.chair.name if made.chair else made.location.name
    messages.success(
        request, f"Booked {made.appointment_type.name} for {patient.display_name}: {when:%a %d %b %H:%M}, {where}."
    )
    return HttpResponseRedirect(reverse("scheduling-appointment", args=[made.pk]))


def _search_again(actor: Actor, patient: Patient, request: HttpRequest) -> VisitSearchForm:
    """The search form with what was posted (less the chosen time), to show fresh proposals."""
    data = request.POST.copy()
    data.pop("starts_at", None)
    return VisitSearchForm(actor, patient, data=data)


# --- book a series from a signed plan -----------------------------------------------------------------


def _plan(actor: Actor, plan_id: int) -> TreatmentPlan:
    plan = TreatmentPlan.objects.filter(clinic=actor.clinic, pk=plan_id).select_related("patient").first()
    if plan is None:
        raise Http404("No such plan.")
    return plan


def _default_type(actor: Actor, plan: TreatmentPlan) -> AppointmentType | None:
    for kind in AppointmentType.objects.filter(clinic=actor.clinic, is_active=True):
        if kind.route == plan.route:
            return kind
    return None


def _render_series(
    request: HttpRequest,
    actor: Actor,
    plan: TreatmentPlan,
    form: SeriesSearchForm,
    *,
    status: int = 200,
    chosen: str = "",
) -> HttpResponse:
    signed = plan.status == PlanStatus.SIGNED
    rule = booking.series_rule(plan) if signed else None
    protocol = Protocol.model_validate(plan.protocol_snapshot)
    options: list[SeriesChoice] = []
    searched = False
    ready = form.is_bound and (form.is_valid() or {"appointment_type", "location"} <= set(form.cleaned_data))
    if signed and rule is not None and rule.count > 0 and ready:
        data = form.cleaned_data
        try:
            found = booking.propose_series(
                actor,
                plan=plan,
                appointment_type=data["appointment_type"],
                location=data["location"],
                after=_day_start(actor, data.get("after")),
                limit=20,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            searched = True
            options = _series_choices(actor, found)
    if form.errors and status == 200:
        status = 422
    booked = list(
        booking.appointments_of(actor)
        .filter(plan=plan, state__in=[s.value for s in LIVE_STATES])
        .select_related("chair", "appointment_type")
        .order_by("starts_at")
    )
    return render(
        request,
        "scheduling/book_series.html",
        {
            "plan": plan,
            "patient": plan.patient,
            "signed": signed,
            "rule": rule,
            "interval_hours": int(rule.min_interval.total_seconds() // 3600) if rule else None,
            "protocol_name": protocol.name,
            "total": len(plan.planned_sessions) or protocol.series.count or 1,
            "booked": booked,
            "form": form,
            "options": options,
            "searched": searched,
            "chosen": chosen,
            "can_open_session": actor.can(Perm.SESSION_CHECK_IN),
            "can_view_patient": actor.can(Perm.PATIENT_VIEW),
            "form_token": uuid.uuid4(),
        },
        status=status,
    )


@clinic_view(Perm.SCHEDULE_BOOK)
@require_http_methods(["GET", "POST"])
def book_series(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Book a signed plan's remaining visits at once: one of 20 proposed series, all or nothing."""
    actor = actor_of(request)
    plan = _plan(actor, plan_id)
    if request.method == "POST":
        return _series_post(request, actor, plan)
    record(actor, AuditAction.READ, "plan.viewed", subject=plan, patient=plan.patient, detail={"view": "book series"})
    if "appointment_type" in request.GET:
        form = SeriesSearchForm(actor, data=request.GET)
    else:
        kind = _default_type(actor, plan)
        places = locations_of(actor)
        form = SeriesSearchForm(
            actor,
            data={
                "appointment_type": kind.pk if kind else "",
                "location": places[0].pk if places else "",
                "after": _today(actor).isoformat(),
            },
        )
    return _render_series(request, actor, plan, form)


def _series_post(request: HttpRequest, actor: Actor, plan: TreatmentPlan) -> HttpResponse:
    form = BookSeriesForm(actor, data=request.POST)
    data = request.POST.copy()
    data.pop("starts", None)
    again = SeriesSearchForm(actor, data=data)
    if not form.is_valid():
        again.is_valid()
        for field, msgs in form.errors.items():
            if field not in again.errors:
                again.add_error(field if field in again.fields else None, msgs)
        return _render_series(request, actor, plan, again, status=422)
    cd = form.cleaned_data

    def effect() -> tuple[int, Any]:
        series = booking.book_series(
            actor,
            plan=plan,
            appointment_type=cd["appointment_type"],
            location=cd["location"],
            starts=[start for start, _ in cd["starts"]],
            chairs=[chair for _, chair in cd["starts"]],
        )
        first = series.appointments.order_by("starts_at", "id").first()
        return 201, {"series": series.pk, "first": first.pk if first else None, "count": len(cd["starts"])}

    try:
        body = run_form(actor, request, f"schedule-series-{plan.pk}", effect)
    except ValidationError as exc:
        again.is_valid()
        _add_errors(again, exc)
        return _render_series(request, actor, plan, again, status=422, chosen=request.POST.get("starts", ""))
    except SlotTaken as exc:
        again.is_valid()
        again.add_error(None, f"{exc} Here are the free series now.")
        return _render_series(request, actor, plan, again, status=409)
    except IdempotencyConflict:
        again.is_valid()
        again.add_error(None, ALREADY_SENT)
        return _render_series(request, actor, plan, again, status=409)
    count = body["count"]
    messages.success(
        request,
        f"Booked {count} visit{'s' if count != 1 else ''}. Confirm the escort for each dosing visit.",
    )
    if body.get("first"):
        return HttpResponseRedirect(reverse("scheduling-appointment", args=[body["first"]]))
    return HttpResponseRedirect(reverse("scheduling-today"))
