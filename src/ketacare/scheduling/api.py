"""/api/v1/scheduling: appointment types, free slots and series, bookings and their changes (issue #8).

schema -> access -> `booking` action -> schema, with the pages' rules. Every operation needs the
bearer token (401). Reading needs `schedule.view` (clinical roles, front desk, auditor), every POST
`schedule.book` (clinical roles, front desk): 403 otherwise. Another clinic's patient, plan,
appointment or series is 404; an unknown type, location, chair or staff member is 422 on that field.

What was asked for and is no longer free (someone booked it meanwhile; the database's exclusion
constraints decide on PostgreSQL) is **409** `{"detail": ..., "proposals": [...]}` with the next free
times, and nothing is booked: a series is all or nothing. A refusal (`ValidationError`: a time
without its zone, a time passed, a plan not signed) is **422** with one entry per field, named as in
the request. POSTs honour `Idempotency-Key`: a repeat with the same body returns the first result and
books nothing twice; the same key with another body is 422; a refused request leaves no trace.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Header, Query, Router, Schema
from pydantic import Field

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.patients.models import Patient
from ketacare.plans.models import TreatmentPlan
from ketacare.scheduling import booking
from ketacare.scheduling.availability import Pinned
from ketacare.scheduling.models import Appointment, AppointmentType, Series, local_day_bounds
from ketacare.scheduling.schemas import (
    AppointmentOut,
    AppointmentTypeOut,
    BookIn,
    CancelIn,
    EscortIn,
    ProposalOut,
    RescheduleIn,
    SeriesIn,
    SeriesOut,
)

router = Router()

KEY = Header(None, alias="Idempotency-Key", max_length=200)  # type: ignore[type-arg]
Body = dict[str, Any]
LIST_MAX = 500
RELATED = ("patient", "appointment_type", "location", "chair", "nurse", "clinician")
APPOINTMENT_RESPONSES: dict[int, Any] = {200: AppointmentOut, 201: AppointmentOut, 409: Body, 422: Body}
SERIES_RESPONSES: dict[int, Any] = {200: SeriesOut, 201: SeriesOut, 409: Body, 422: Body}
# The actions name fields as the models do; the API's requests name them as below.
FIELD_NAMES = {"appointment_type": "type", "escort_name": "name", "escort_phone": "phone"}


# --- JSON ----------------------------------------------------------------------------------------


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def appointment_out(a: Appointment) -> Body:
    """The appointment as JSON values (an Idempotency-Key stores the body in a JSONField)."""
    return {
        "id": a.pk,
        "patient_id": a.patient_id,
        "patient_name": a.patient.display_name,
        "location_id": a.location_id,
        "location": a.location.name,
        "type_id": a.appointment_type_id,
        "type": a.appointment_type.code,
        "type_name": a.appointment_type.name,
        "series_id": a.series_id,
        "sequence": a.sequence,
        "plan_id": a.plan_id,
        "session_id": a.session_id,
        "starts_at": _iso(a.starts_at),
        "ends_at": _iso(a.ends_at),
        "held_until": _iso(a.held_until),
        "chair_id": a.chair_id,
        "chair": a.chair.name if a.chair else None,
        "nurse_id": a.nurse_id,
        "nurse": a.nurse.full_name if a.nurse else None,
        "clinician_id": a.clinician_id,
        "clinician": a.clinician.full_name if a.clinician else None,
        "state": a.state,
        "status": a.status_label,
        "confirmed": a.is_confirmed,
        "notes": a.notes,
        "escort_name": a.escort_name,
        "escort_phone": a.escort_phone,
        "escort_confirmed_at": _iso(a.escort_confirmed_at),
        "checked_in_at": _iso(a.checked_in_at),
        "cancelled_at": _iso(a.cancelled_at),
        "cancel_reason": a.cancel_reason,
        "cancelled_by_patient": a.cancelled_by_patient,
        "late_cancel": a.late_cancel,
        "no_show_at": _iso(a.no_show_at),
        "rescheduled_from": _iso(a.rescheduled_from),
    }


def _with_related(rows: QuerySet[Appointment]) -> QuerySet[Appointment]:
    return rows.select_related(*RELATED)


def _fresh(pk: int) -> Appointment:
    return _with_related(Appointment.objects.all()).get(pk=pk)


def series_out(series: Series) -> Body:
    appointments = _with_related(Appointment.objects.filter(series=series)).order_by("starts_at", "id")
    return {
        "id": series.pk,
        "patient_id": series.patient_id,
        "plan_id": series.plan_id,
        "type_id": series.appointment_type_id,
        "location_id": series.location_id,
        "count": series.count,
        "min_interval_hours": series.min_interval_hours,
        "window_days": series.window_days,
        "created_at": _iso(series.created_at),
        "appointments": [appointment_out(a) for a in appointments],
    }


def _proposals(actor: Actor, options: Iterable[booking.Proposal]) -> list[Body]:
    options = list(options)
    chair_ids = {p.chair_id for p in options if p.chair_id is not None}
    names = dict(Resource.objects.filter(clinic=actor.clinic, pk__in=chair_ids).values_list("pk", "name"))
    return [
        {
            "starts_at": _iso(p.starts_at),
            "ends_at": _iso(p.ends_at),
            "held_until": _iso(p.held_until),
            "chair_id": p.chair_id,
            "chair": names.get(p.chair_id) if p.chair_id is not None else None,
            "nurse_id": p.nurse_id,
            "clinician_id": p.clinician_id,
            "prescriber_on_site_id": p.prescriber_on_site_id,
        }
        for p in options
    ]


# --- the clinic's objects named in a request ------------------------------------------------------


def _renamed(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({FIELD_NAMES.get(field, field): msgs for field, msgs in exc.message_dict.items()})


def _type(actor: Actor, pk: int) -> AppointmentType:
    found = AppointmentType.objects.filter(clinic=actor.clinic, pk=pk, is_active=True).first()
    if found is None:
        raise ValidationError({"type": "Choose one of the clinic's active appointment types (GET /types)."})
    return found


def _location(actor: Actor, pk: int) -> Location:
    found = Location.objects.filter(clinic=actor.clinic, pk=pk, is_active=True).select_related("clinic").first()
    if found is None:
        raise ValidationError({"location": "Choose one of the clinic's active locations."})
    return found


def _chair(actor: Actor, pk: int | None, location: Location) -> Resource | None:
    if pk is None:
        return None
    found = Resource.objects.filter(clinic=actor.clinic, location=location, pk=pk).first()
    if found is None:
        raise ValidationError({"chair": "Choose a chair or room at this location."})
    return found


def _member(actor: Actor, pk: int | None, field: str) -> User | None:
    if pk is None:
        return None
    if not Membership.objects.filter(clinic=actor.clinic, user_id=pk, is_active=True).exists():
        raise ValidationError({field: "Choose a member of this clinic's staff."})
    return User.objects.get(pk=pk)


def _patient(actor: Actor, pk: int) -> Patient:
    found = Patient.objects.filter(clinic=actor.clinic, pk=pk).select_related("clinic").first()
    if found is None:
        raise Http404("No such patient.")
    return found


def _plan(actor: Actor, pk: int | None) -> TreatmentPlan | None:
    return None if pk is None else _the_plan(actor, pk)


def _the_plan(actor: Actor, pk: int) -> TreatmentPlan:
    found = TreatmentPlan.objects.filter(clinic=actor.clinic, pk=pk).select_related("patient").first()
    if found is None:
        raise Http404("No such plan.")
    return found


def _audit_plan_read(actor: Actor, plan: TreatmentPlan | None, event: str, detail: Body) -> None:
    if plan is not None:
        record(actor, AuditAction.READ, event, subject=plan, patient=plan.patient, detail={**detail, "via_api": True})


# --- the pattern of every POST --------------------------------------------------------------------


def _once(actor: Actor, key: str | None, name: str, payload: Any, effect: Callable[[], tuple[int, Any]]) -> Any:
    def guarded() -> tuple[int, Any]:
        try:
            return effect()
        except ValidationError as exc:
            raise _renamed(exc) from exc

    if key:
        outcome = run_once(actor, f"api:{name}:{key}", fingerprint(payload), guarded)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return guarded()


def _taken(exc: booking.SlotTaken, proposals: Callable[[], Any] | None = None) -> tuple[int, Body]:
    body: Body = {"detail": str(exc)}
    if proposals is not None:
        try:
            body["proposals"] = proposals()
        except ValidationError:
            body["proposals"] = []
    return 409, body


def _act(
    request: HttpRequest,
    appointment_id: int,
    name: str,
    payload: Any,
    key: str | None,
    do: Callable[[Actor, Appointment], Any],
    proposals: Callable[[Actor, Appointment], Any] | None = None,
) -> Any:
    """Access (403 without `schedule.book`, 404), then the action once per key: 409, 422, or the visit."""
    actor = actor_of(request)
    appointment = booking.access_appointment(actor, appointment_id, Perm.SCHEDULE_BOOK)

    def effect() -> tuple[int, Any]:
        try:
            do(actor, appointment)
        except booking.SlotTaken as exc:
            return _taken(exc, (lambda: proposals(actor, appointment)) if proposals else None)
        return 200, appointment_out(_fresh(appointment.pk))

    return _once(actor, key, f"scheduling.{name}.{appointment.pk}", payload, effect)


# --- what can be booked, and when ---------------------------------------------------------------


@router.get("/types", response=list[AppointmentTypeOut], summary="The clinic's active appointment types")
def list_types(request: HttpRequest) -> list[Body]:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_VIEW)
    return [
        {
            "id": t.pk,
            "code": t.code,
            "name": t.name,
            "category": t.category,
            "duration_minutes": t.duration_minutes,
            "buffer_minutes": t.buffer_minutes,
            "space": t.space,
            "needs_nurse": t.needs_nurse,
            "clinician_role": t.clinician_role,
            "needs_prescriber_on_site": t.needs_prescriber_on_site,
            "is_dosing": t.is_dosing,
        }
        for t in AppointmentType.objects.filter(clinic=actor.clinic, is_active=True)
    ]


class SlotsQuery(Schema):
    type: int
    location: int
    after: datetime.datetime | None = None
    until: datetime.datetime | None = None
    patient: int | None = None
    plan: int | None = None
    chair: int | None = None
    nurse: int | None = None
    clinician: int | None = None
    limit: int = Field(10, ge=1, le=50)


@router.get("/slots", response=list[ProposalOut], summary="The first free starts for one visit")
def slots(request: HttpRequest, query: Query[SlotsQuery]) -> list[Body]:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_VIEW)
    plan = _plan(actor, query.plan)
    patient = _patient(actor, query.patient) if query.patient is not None else None
    location = _location(actor, query.location)
    pinned = Pinned(
        chair_id=c.pk if (c := _chair(actor, query.chair, location)) else None,
        nurse_id=n.pk if (n := _member(actor, query.nurse, "nurse")) else None,
        clinician_id=d.pk if (d := _member(actor, query.clinician, "clinician")) else None,
    )
    try:
        found = booking.propose_visits(
            actor,
            appointment_type=_type(actor, query.type),
            location=location,
            after=query.after or timezone.now(),
            until=query.until,
            plan=plan,
            pinned=pinned,
            limit=query.limit,
            patient=patient,
        )
    except ValidationError as exc:
        raise _renamed(exc) from exc
    if plan is None and patient is not None:
        record(
            actor,
            AuditAction.READ,
            "schedule.slots_proposed",
            subject=patient,
            patient=patient,
            detail={"type": query.type, "found": len(found), "via_api": True},
        )
    _audit_plan_read(actor, plan, "schedule.slots_proposed", {"type": query.type, "found": len(found)})
    return _proposals(actor, found)


class SeriesSlotsQuery(Schema):
    plan: int
    type: int
    location: int
    after: datetime.datetime | None = None
    until: datetime.datetime | None = None
    count: int | None = None
    limit: int = Field(20, ge=1, le=50)


@router.get("/series-slots", response=list[list[ProposalOut]], summary="The first ways to book a signed plan's series")
def series_slots(request: HttpRequest, query: Query[SeriesSlotsQuery]) -> list[list[Body]]:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_VIEW)
    plan = _the_plan(actor, query.plan)
    try:
        found = booking.propose_series(
            actor,
            plan=plan,
            appointment_type=_type(actor, query.type),
            location=_location(actor, query.location),
            after=query.after or timezone.now(),
            until=query.until,
            count=query.count,
            limit=query.limit,
        )
    except ValidationError as exc:
        raise _renamed(exc) from exc
    _audit_plan_read(actor, plan, "schedule.series_proposed", {"type": query.type, "found": len(found)})
    every = _proposals(actor, [p for option in found for p in option])
    out, at = [], 0
    for option in found:
        out.append(every[at : at + len(option)])
        at += len(option)
    return out


# --- appointments ----------------------------------------------------------------------------------


@router.post("/appointments", response=APPOINTMENT_RESPONSES, summary="Book one visit at exactly starts_at")
def book(request: HttpRequest, payload: BookIn, idempotency_key: str | None = KEY) -> Any:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_BOOK)
    patient = _patient(actor, payload.patient)
    plan = _plan(actor, payload.plan)

    def effect() -> tuple[int, Any]:
        appointment_type = _type(actor, payload.type)
        location = _location(actor, payload.location)
        chair = _chair(actor, payload.chair, location)
        nurse = _member(actor, payload.nurse, "nurse")
        clinician = _member(actor, payload.clinician, "clinician")
        try:
            appointment = booking.book_visit(
                actor,
                patient=patient,
                appointment_type=appointment_type,
                location=location,
                starts_at=payload.starts_at,
                plan=plan,
                chair=chair,
                nurse=nurse,
                clinician=clinician,
                notes=payload.notes,
            )
        except booking.SlotTaken as exc:
            return _taken(
                exc,
                lambda: _proposals(
                    actor,
                    booking.propose_visits(
                        actor,
                        appointment_type=appointment_type,
                        location=location,
                        after=payload.starts_at,
                        plan=plan,
                        limit=5,
                        patient=patient,
                    ),
                ),
            )
        return 201, appointment_out(_fresh(appointment.pk))

    return _once(actor, idempotency_key, "scheduling.book", payload.dict(), effect)


@router.get("/appointments", response=list[AppointmentOut], summary="Visits of a local day, or of a patient")
def list_appointments(
    request: HttpRequest,
    location: int | None = None,
    date: datetime.date | None = None,
    patient: int | None = None,
) -> list[Body]:
    """A patient's visits (all of them, or that day's), or the clinic's visits of one local day
    (today when no date is given); `location` narrows either."""
    actor = actor_of(request)
    rows = _with_related(booking.appointments_of(actor))
    who = _patient(actor, patient) if patient is not None else None
    if who is not None:
        rows = rows.filter(patient=who)
    if date is not None or who is None:
        day = date or timezone.localtime(timezone.now(), actor.clinic.zone).date()
        start, end = local_day_bounds(actor.clinic, day)
        rows = rows.filter(starts_at__gte=start, starts_at__lt=end)
    if location is not None:
        rows = rows.filter(location_id=location)
    found = list(rows.order_by("starts_at", "id")[:LIST_MAX])
    record(
        actor,
        AuditAction.READ,
        "appointment.listed",
        patient=who,
        detail={
            "appointments": [a.pk for a in found],
            "location": location,
            "date": date.isoformat() if date else None,
            "patient": patient,
            "via_api": True,
        },
    )
    return [appointment_out(a) for a in found]


@router.get("/appointments/{int:appointment_id}", response=AppointmentOut, summary="One visit")
def get_appointment(request: HttpRequest, appointment_id: int) -> Body:
    actor = actor_of(request)
    appointment = booking.access_appointment(actor, appointment_id)
    record(
        actor,
        AuditAction.READ,
        "appointment.viewed",
        subject=appointment,
        patient=appointment.patient,
        detail={"via_api": True},
    )
    return appointment_out(appointment)


@router.post(
    "/appointments/{int:appointment_id}/reschedule",
    response=APPOINTMENT_RESPONSES,
    summary="Move a booked visit (its places move with it)",
)
def reschedule(
    request: HttpRequest, appointment_id: int, payload: RescheduleIn, idempotency_key: str | None = KEY
) -> Any:
    def do(actor: Actor, appointment: Appointment) -> Appointment:
        chair = _chair(actor, payload.chair, appointment.location)
        nurse = _member(actor, payload.nurse, "nurse")
        clinician = _member(actor, payload.clinician, "clinician")
        return booking.reschedule(
            actor, appointment, starts_at=payload.starts_at, chair=chair, nurse=nurse, clinician=clinician
        )

    def proposals(actor: Actor, appointment: Appointment) -> list[Body]:
        return _proposals(
            actor,
            booking.propose_visits(
                actor,
                appointment_type=appointment.appointment_type,
                location=appointment.location,
                after=payload.starts_at,
                limit=5,
                moving=appointment,
            ),
        )

    return _act(request, appointment_id, "reschedule", payload.dict(), idempotency_key, do, proposals)


@router.post("/appointments/{int:appointment_id}/cancel", response=APPOINTMENT_RESPONSES, summary="Cancel a visit")
def cancel(request: HttpRequest, appointment_id: int, payload: CancelIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        appointment_id,
        "cancel",
        payload.dict(),
        idempotency_key,
        lambda actor, a: booking.cancel(actor, a, reason=payload.reason, by_patient=payload.by_patient),
    )


@router.post(
    "/appointments/{int:appointment_id}/check-in", response=APPOINTMENT_RESPONSES, summary="The patient is here"
)
def check_in(request: HttpRequest, appointment_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, appointment_id, "check-in", {}, idempotency_key, booking.check_in)


@router.post(
    "/appointments/{int:appointment_id}/no-show", response=APPOINTMENT_RESPONSES, summary="The patient did not come"
)
def no_show(request: HttpRequest, appointment_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, appointment_id, "no-show", {}, idempotency_key, booking.mark_no_show)


@router.post(
    "/appointments/{int:appointment_id}/complete",
    response=APPOINTMENT_RESPONSES,
    summary="A checked-in visit is over",
)
def complete(request: HttpRequest, appointment_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, appointment_id, "complete", {}, idempotency_key, booking.complete)


@router.post(
    "/appointments/{int:appointment_id}/escort",
    response=APPOINTMENT_RESPONSES,
    summary="The escort or driver taking the patient home",
)
def escort(request: HttpRequest, appointment_id: int, payload: EscortIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        appointment_id,
        "escort",
        payload.dict(),
        idempotency_key,
        lambda actor, a: booking.confirm_escort(actor, a, name=payload.name, phone=payload.phone),
    )


# --- series ------------------------------------------------------------------------------------------


@router.post("/series", response=SERIES_RESPONSES, summary="Book a signed plan's next visits, all or nothing")
def book_series(request: HttpRequest, payload: SeriesIn, idempotency_key: str | None = KEY) -> Any:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_BOOK)
    plan = _the_plan(actor, payload.plan)

    def effect() -> tuple[int, Any]:
        appointment_type = _type(actor, payload.type)
        location = _location(actor, payload.location)
        try:
            series = booking.book_series(
                actor,
                plan=plan,
                appointment_type=appointment_type,
                location=location,
                starts=payload.starts,
                chairs=payload.chairs,
                notes=payload.notes,
            )
        except booking.SlotTaken as exc:
            return _taken(
                exc,
                lambda: [
                    _proposals(actor, option)
                    for option in booking.propose_series(
                        actor,
                        plan=plan,
                        appointment_type=appointment_type,
                        location=location,
                        after=payload.starts[0],
                        count=len(payload.starts),
                        limit=3,
                    )
                ],
            )
        return 201, series_out(series)

    return _once(actor, idempotency_key, "scheduling.series", payload.dict(), effect)


@router.get("/series/{int:series_id}", response=SeriesOut, summary="One series with its visits")
def get_series(request: HttpRequest, series_id: int) -> Body:
    actor = actor_of(request)
    booking.require(actor, Perm.SCHEDULE_VIEW)
    series = Series.objects.filter(clinic=actor.clinic, pk=series_id).select_related("patient").first()
    if series is None:
        raise Http404("No such series.")
    record(actor, AuditAction.READ, "series.viewed", subject=series, patient=series.patient, detail={"via_api": True})
    return series_out(series)
