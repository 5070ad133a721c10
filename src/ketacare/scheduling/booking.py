"""Booking: propose, book (one visit or a whole series, all or nothing), move, cancel, check in,
no-show, escort (issue #8). Pages and the API call these and nothing else writes appointments.

The guarantee that nothing is double-booked lives in the database (models.Hold, migration 0002):
every booking runs in one transaction that recomputes the free calendars *inside* it and inserts
the holds. On SQLite that transaction holds the write lock from BEGIN, so no other booking can
interleave; on PostgreSQL two bookings may both see a place free, and the exclusion constraint
refuses the second insert. That refusal is retried (a nurse has other places, there may be another
chair) and, if the slot is really gone, reported as `SlotTaken` (pages and API: 409, with the
next free slots offered again).

A dosing visit booked from a signed plan creates its treatment session (state "scheduled") in the
same transaction, so the session's number in the series, its dose and the measures domain's
"session scheduled" event follow from the booking; checking the visit in opens the session;
cancelling it cancels the session.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols.definitions import Protocol
from ketacare.scheduling import notify, slots
from ketacare.scheduling.availability import Pinned, VisitShape, needs_for, parse_key, shape_of
from ketacare.scheduling.models import (
    DOSING_ROUTE,
    Appointment,
    AppointmentState,
    AppointmentType,
    Category,
    Hold,
    Series,
    settings_for,
)
from ketacare.sessions import core as sessions
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession

T = TypeVar("T")

SEARCH_DAYS = 28  # how far ahead proposals look by default
RETRIES = 4
# PostgreSQL advisory-lock namespace of bookings (with the clinic's id as the second key).
BOOKING_LOCK = 0x4B430008
# Proposed series start at least this far apart, so the choice covers several times and days.
SERIES_SPREAD = datetime.timedelta(hours=2)


class SlotTaken(Exception):
    """What was asked for is no longer free (someone booked it meanwhile): 409, propose again."""


# --- access ---------------------------------------------------------------------------------


def require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def appointments_of(actor: Actor, perm: str = Perm.SCHEDULE_VIEW) -> QuerySet[Appointment]:
    require(actor, perm)
    return Appointment.objects.filter(clinic=actor.clinic)


def access_appointment(actor: Actor, appointment_id: Any, perm: str = Perm.SCHEDULE_VIEW) -> Appointment:
    """One appointment of the actor's clinic: 403 without `perm`, 404 for another clinic's or none."""
    require(actor, perm)
    try:
        pk = int(appointment_id)
    except (TypeError, ValueError):
        raise Http404("No such appointment.") from None
    found = (
        Appointment.objects.filter(clinic=actor.clinic, pk=pk)
        .select_related("patient", "appointment_type", "location", "chair", "nurse", "clinician", "session", "series")
        .first()
    )
    if found is None:
        raise Http404("No such appointment.")
    return found


def _locked(actor: Actor, appointment: Appointment, perm: str = Perm.SCHEDULE_BOOK) -> Appointment:
    require(actor, perm)
    if appointment.clinic_id != actor.clinic.pk:
        raise Http404("No such appointment.")
    # Lock the appointment row only (of=self): its nullable relations cannot be locked in a join.
    return (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("appointment_type", "location", "patient", "session", "chair")
        .get(pk=appointment.pk)
    )


def _require_booked(appointment: Appointment, field: str = "state") -> None:
    if appointment.state != AppointmentState.BOOKED:
        raise ValidationError(
            {field: f"This visit is {appointment.get_state_display().lower()}: it can no longer change."}
        )


# --- what is being booked -----------------------------------------------------------------------


def _protocol_of(plan: TreatmentPlan | None, session: TreatmentSession | None) -> Protocol | None:
    if session is not None:
        return session.protocol
    if plan is not None:
        return Protocol.model_validate(plan.protocol_snapshot)
    return None


def _check_type(actor: Actor, appointment_type: AppointmentType) -> AppointmentType:
    if appointment_type.clinic_id != actor.clinic.pk or not appointment_type.is_active:
        raise ValidationError({"appointment_type": "Choose one of the clinic's active appointment types."})
    return appointment_type


def _check_location(actor: Actor, location: Location) -> Location:
    if location.clinic_id != actor.clinic.pk or not location.is_active:
        raise ValidationError({"location": "Choose one of the clinic's active locations."})
    return location


def _check_plan(actor: Actor, plan: TreatmentPlan, appointment_type: AppointmentType) -> TreatmentPlan:
    if plan.clinic_id != actor.clinic.pk:
        raise Http404("No such plan.")
    if plan.status != PlanStatus.SIGNED:
        raise ValidationError({"plan": "Dosing visits are booked from a signed plan (this one is not signed)."})
    route = DOSING_ROUTE.get(Category(appointment_type.category))
    if route is None or route != plan.route:
        raise ValidationError(
            {"appointment_type": f"The plan is for {plan.get_route_display()}; choose a matching dosing visit type."}
        )
    return plan


def _check_order(actor: Actor, order: TreatmentSession, appointment_type: AppointmentType) -> TreatmentSession:
    """A prescriber's one-off order (a session without a plan) waiting for its visit."""
    if order.clinic_id != actor.clinic.pk:
        raise Http404("No such order.")
    if order.plan_id is not None or order.state != State.SCHEDULED.value:
        raise ValidationError({"order": "Choose a prescriber's order that has not started."})
    if DOSING_ROUTE.get(Category(appointment_type.category)) != order.route:
        raise ValidationError(
            {"appointment_type": f"The order is for {order.get_route_display()}; choose a matching dosing visit type."}
        )
    return order


def open_orders(patient: Patient) -> QuerySet[TreatmentSession]:
    """The patient's one-off orders not yet on the schedule (a session with no plan and no visit)."""
    return TreatmentSession.objects.filter(
        clinic=patient.clinic,
        patient=patient,
        plan__isnull=True,
        state=State.SCHEDULED.value,
        appointment__isnull=True,
    ).order_by("created_at", "pk")


def _check_spravato_setting(appointment_type: AppointmentType, location: Location, when: datetime.datetime) -> None:
    """clinical.md §1.3 [REMS-FDA, REMS-OUT]: only a certified setting may administer Spravato."""
    if appointment_type.category != Category.SPRAVATO:
        return
    certified = location.spravato_rems_certified_on
    day = when.astimezone(location.clinic.zone).date()
    if certified is None or certified > day:
        raise ValidationError({"location": f"{location.name} is not Spravato REMS-certified on {day:%d %b %Y}."})


def _step(actor: Actor) -> datetime.timedelta:
    return datetime.timedelta(minutes=settings_for(actor.clinic).slot_minutes)


def _aware(value: datetime.datetime, field: str) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError({field: "Give the time with its time zone."})
    return value


@dataclasses.dataclass(frozen=True)
class SeriesRule:
    count: int
    min_interval: datetime.timedelta
    window_days: int | None


def series_rule(plan: TreatmentPlan, count: int | None = None) -> SeriesRule:
    """The plan's induction series: how many visits are still to book, how far apart, within how long."""
    protocol = Protocol.model_validate(plan.protocol_snapshot)
    total = len(plan.planned_sessions) or protocol.series.count or 1
    booked = (
        TreatmentSession.objects.filter(plan=plan).exclude(state=State.CANCELLED.value).count()
        if plan.pk is not None
        else 0
    )
    remaining = max(total - booked, 0)
    if count is not None:
        if count < 1 or count > remaining:
            raise ValidationError({"count": f"Between 1 and {remaining} visits of this plan are left to book."})
        remaining = count
    hours = protocol.series.min_interval_hours
    if hours is None:  # a signed plan has every clinic-set value; never invent a clinical interval here
        raise ValidationError({"plan": "The plan's protocol sets no minimum interval between sessions."})
    return SeriesRule(
        count=remaining,
        min_interval=datetime.timedelta(hours=hours),
        window_days=protocol.series.window_days,
    )


def _deadline(actor: Actor, window_days: int | None) -> Callable[[datetime.datetime], datetime.datetime] | None:
    """The last moment a series starting at `first` may start a visit: the window counts the first
    visit's local day as day 0 and every visit falls before day `window_days` (protocols.SeriesRule)."""
    if window_days is None:
        return None
    zone = actor.clinic.zone

    def deadline(first: datetime.datetime) -> datetime.datetime:
        day = first.astimezone(zone).date() + datetime.timedelta(days=window_days)
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=zone) - datetime.timedelta(microseconds=1)

    return deadline


# --- proposals ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Proposal:
    """One visit the finder proposes: when, and which chair or room and staff would hold it."""

    starts_at: datetime.datetime
    ends_at: datetime.datetime
    held_until: datetime.datetime
    chair_id: int | None
    nurse_id: int | None
    clinician_id: int | None
    prescriber_on_site_id: int | None


def _proposal(shape: VisitShape, fit: slots.Fit) -> Proposal:
    found: dict[str, int | None] = {"chair": None, "nurse": None, "clinician": None, "onsite": None}
    for key, label in zip(fit.resources, _labels(shape), strict=True):
        found[label] = parse_key(key)[1]
    zone = shape.location.clinic.zone  # the finder works in UTC; proposals are shown in local time
    return Proposal(
        starts_at=fit.start.astimezone(zone),
        ends_at=(fit.start + shape.duration).astimezone(zone),
        held_until=(fit.start + shape.held).astimezone(zone),
        chair_id=found["chair"],
        nurse_id=found["nurse"],
        clinician_id=found["clinician"],
        prescriber_on_site_id=found["onsite"],
    )


def _labels(shape: VisitShape) -> list[str]:
    """The needs' order in `needs_for`, by the names used here."""
    t = shape.appointment_type
    labels = []
    if t.space != "none":
        labels.append("chair")
    if t.clinician_role:
        labels.append("clinician")
    if t.needs_nurse:
        labels.append("nurse")
    if t.needs_prescriber_on_site:
        labels.append("onsite")
    return labels


def propose_visits(
    actor: Actor,
    *,
    appointment_type: AppointmentType,
    location: Location,
    after: datetime.datetime,
    until: datetime.datetime | None = None,
    plan: TreatmentPlan | None = None,
    pinned: Pinned | None = None,
    limit: int = 10,
    patient: Patient | None = None,
    moving: Appointment | None = None,
    order: TreatmentSession | None = None,
) -> list[Proposal]:
    """The first `limit` free starts for one visit, from `after` (now at the earliest).

    With `patient`, times when the patient already has a visit are skipped. With `moving` (a booked
    visit to move), its own places count as free, its patient's other visits are skipped, and for a
    visit of a series only times that keep the series' interval and window are proposed: what is
    offered is what `reschedule` accepts.
    """
    require(actor, Perm.SCHEDULE_VIEW)
    _check_type(actor, appointment_type)
    _check_location(actor, location)
    after = max(_aware(after, "after"), timezone.now())
    until = until or after + datetime.timedelta(days=SEARCH_DAYS)
    if moving is not None:
        patient = moving.patient
        plan = moving.plan
        order = moving.session
    protocol = _protocol_of(plan, order) if plan is not None or order is not None else None
    shape = shape_of(appointment_type, location, protocol)
    exclude = (moving.pk,) if moving is not None else ()
    needs = needs_for(shape, start=after, end=until, pinned=pinned or Pinned(), exclude_appointment_ids=exclude)
    busy_patient: list[tuple[datetime.datetime, datetime.datetime]] = []
    if patient is not None:
        busy_patient = list(
            Appointment.objects.live()
            .filter(patient=patient, held_until__gt=after, starts_at__lt=until + shape.held)
            .exclude(pk__in=list(exclude))
            .values_list("starts_at", "held_until")
        )

    keeps_series = _series_keeper(actor, moving) if moving is not None else None

    def acceptable(fit: slots.Fit) -> bool:
        if any(s < fit.end and fit.start < e for s, e in busy_patient):
            return False
        return keeps_series is None or keeps_series(fit.start)

    step = _step(actor)
    found: list[Proposal] = []
    cursor = after
    while len(found) < limit:
        fit = slots.first_fit(needs, shape.held, after=cursor, until=until, step=step)
        if fit is None:
            break
        if acceptable(fit):
            found.append(_proposal(shape, fit))
        cursor = fit.start + step
    return found


def propose_series(
    actor: Actor,
    *,
    plan: TreatmentPlan,
    appointment_type: AppointmentType,
    location: Location,
    after: datetime.datetime,
    until: datetime.datetime | None = None,
    count: int | None = None,
    limit: int = 20,
    spread: datetime.timedelta | None = SERIES_SPREAD,
) -> list[list[Proposal]]:
    """The first `limit` ways to book the plan's remaining visits, by the first visit's start, each
    starting at least `spread` after the one before (None: every free start on the grid)."""
    require(actor, Perm.SCHEDULE_VIEW)
    _check_type(actor, appointment_type)
    _check_location(actor, location)
    _check_plan(actor, plan, appointment_type)
    rule = series_rule(plan, count)
    if rule.count == 0:
        raise ValidationError({"plan": "Every visit of this plan is already booked."})
    after = max(_aware(after, "after"), timezone.now())
    until = until or after + datetime.timedelta(days=SEARCH_DAYS)
    shape = shape_of(appointment_type, location, _protocol_of(plan, None))
    window = datetime.timedelta(days=rule.window_days or SEARCH_DAYS * 4)
    needs = needs_for(shape, start=after, end=until + window)
    found = slots.first_series(
        needs,
        shape.held,
        count=rule.count,
        after=after,
        until=until,
        min_interval=rule.min_interval,
        window=None if rule.window_days else window,
        limit=limit,
        step=_step(actor),
        deadline=_deadline(actor, rule.window_days),
        spread=spread,
    )
    return [[_proposal(shape, fit) for fit in placed] for placed in found]


# --- placing: the one place holds are written ---------------------------------------------------


def _is_exclusion(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in ("23P01", "40P01") or "deadlock" in str(exc).lower()


def _retrying(attempt: Callable[[], T]) -> T:
    """Run `attempt` in a savepoint; a lost race on PostgreSQL (exclusion violation, deadlock) is
    tried again with freshly read calendars, then reported as SlotTaken."""
    for n in range(RETRIES):
        try:
            with transaction.atomic():
                return attempt()
        except (IntegrityError, OperationalError) as exc:
            if not _is_exclusion(exc):
                raise
            if n == RETRIES - 1:
                raise SlotTaken("That time was just booked by someone else; choose another.") from exc
    raise AssertionError("unreachable")


def _patient_free(patient: Patient, start: datetime.datetime, end: datetime.datetime, exclude: Sequence[int]) -> None:
    clash = (
        Appointment.objects.live()
        .filter(patient=patient, starts_at__lt=end, held_until__gt=start)
        .exclude(pk__in=list(exclude))
        .select_related("appointment_type")
        .first()
    )
    if clash is not None:
        when = timezone.localtime(clash.starts_at, patient.clinic.zone)
        raise SlotTaken(f"The patient already has {clash.appointment_type.name} at {when:%a %d %b %H:%M}.")


def _fit(
    shape: VisitShape,
    starts_at: datetime.datetime,
    pinned: Pinned,
    exclude: Sequence[int] = (),
) -> slots.Fit:
    """What would hold the visit at exactly `starts_at`, read inside the booking's transaction."""
    needs = needs_for(
        shape,
        start=starts_at,
        end=starts_at + datetime.timedelta(minutes=1),
        exclude_appointment_ids=exclude,
        pinned=pinned,
    )
    fit = slots.fit_at(needs, starts_at, shape.held)
    if fit is None:
        missing = [
            n.label for n in needs if not any(c.is_free(starts_at, starts_at + shape.held) for c in n.candidates)
        ]
        when = timezone.localtime(starts_at, shape.location.clinic.zone)
        what = ", ".join(_NEED_WORDS.get(m, m) for m in missing) or "a place"
        raise SlotTaken(f"{when:%a %d %b %H:%M} is not free: no {what} for the whole visit and its recovery.")
    return fit


_NEED_WORDS = {
    "chair": "treatment chair",
    "room": "room",
    "nurse": "nurse",
    "clinician": "clinician",
    "prescriber_on_site": "prescriber on site",
}


def _hold(appointment: Appointment, fit: slots.Fit) -> None:
    rows = []
    for key in fit.resources:
        kind, ident, lane = parse_key(key)
        if kind == "onsite":
            continue  # presence, not a hold: one prescriber on site covers every patient
        rows.append(
            Hold(
                clinic=appointment.clinic,
                appointment=appointment,
                resource_id=ident if kind == "resource" else None,
                staff_id=ident if kind == "staff" else None,
                lane=lane,
                starts_at=appointment.starts_at,
                ends_at=appointment.held_until,
            )
        )
    for row in rows:  # one by one, in the needs' order, so concurrent bookings lock alike
        row.save()


def _assign(appointment: Appointment, shape: VisitShape, fit: slots.Fit) -> None:
    proposal = _proposal(shape, fit)
    appointment.chair_id = proposal.chair_id
    appointment.nurse_id = proposal.nurse_id
    appointment.clinician_id = proposal.clinician_id
    appointment.prescriber_on_site_id = proposal.prescriber_on_site_id


def _release(appointment: Appointment, now: datetime.datetime) -> int:
    return Hold.objects.filter(appointment=appointment, released_at__isnull=True).update(released_at=now)


def _pinned(
    actor: Actor, location: Location, chair: Resource | None, nurse: User | None, clinician: User | None
) -> Pinned:
    if chair is not None and (chair.clinic_id != actor.clinic.pk or chair.location_id != location.pk):
        raise ValidationError({"chair": "Choose a chair or room at this location."})
    for field, user in (("nurse", nurse), ("clinician", clinician)):
        if user is not None and not Membership.objects.filter(clinic=actor.clinic, user=user, is_active=True).exists():
            raise ValidationError({field: "Choose a member of this clinic's staff."})
    if nurse is not None and not Membership.objects.filter(clinic=actor.clinic, user=nurse, role=Role.NURSE).exists():
        raise ValidationError({"nurse": "Choose one of the clinic's nurses."})
    return Pinned(
        chair_id=chair.pk if chair else None,
        nurse_id=nurse.pk if nurse else None,
        clinician_id=clinician.pk if clinician else None,
    )


def _new_visit(
    actor: Actor,
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    pinned: Pinned,
    plan: TreatmentPlan | None,
    order: TreatmentSession | None,
    series: Series | None,
    notes: str,
) -> Appointment:
    """One visit inside the caller's transaction: placed, held, its session created or linked."""
    protocol = _protocol_of(plan, order)
    shape = shape_of(appointment_type, location, protocol)
    _check_spravato_setting(appointment_type, location, starts_at)
    _patient_free(patient, starts_at, starts_at + shape.held, ())
    fit = _fit(shape, starts_at, pinned)
    appointment = Appointment(
        clinic=actor.clinic,
        location=location,
        patient=patient,
        appointment_type=appointment_type,
        series=series,
        plan=plan,
        protocol_version_id=(order.protocol_version_id if order else plan.protocol_version_id if plan else None),
        starts_at=starts_at,
        ends_at=starts_at + shape.duration,
        held_until=starts_at + shape.held,
        notes=notes.strip()[:500],
        created_by=actor.user,
    )
    _assign(appointment, shape, fit)
    appointment.save()
    _hold(appointment, fit)
    chair = (
        Resource.objects.get(pk=appointment.chair_id)
        if appointment.chair_id and appointment_type.space == "chair"
        else None
    )
    if order is not None:
        if order.patient_id != patient.pk or order.clinic_id != actor.clinic.pk:
            raise ValidationError({"session": "That order is for another patient."})
        if Appointment.objects.filter(session=order).exists():
            raise ValidationError({"session": "That order already has a visit booked."})
        session = sessions.reschedule(actor, order, scheduled_at=starts_at, location=location, chair=chair)
    elif plan is not None:
        session = sessions.create_from_plan(actor, plan, scheduled_at=starts_at, location=location, chair=chair)
    else:
        session = None
    if session is not None:
        appointment.session = session
        appointment.sequence = session.sequence
        appointment.save(update_fields=["session", "sequence"])
    return appointment


def _audit_booked(actor: Actor, appointment: Appointment) -> None:
    record(
        actor,
        AuditAction.CREATE,
        "appointment.booked",
        subject=appointment,
        patient=appointment.patient,
        detail={
            "type": appointment.appointment_type.code,
            "starts_at": appointment.starts_at,
            "held_until": appointment.held_until,
            "location": appointment.location_id,
            "chair": appointment.chair_id,
            "nurse": appointment.nurse_id,
            "clinician": appointment.clinician_id,
            "series": appointment.series_id,
            "session": appointment.session_id,
        },
    )


# --- booking --------------------------------------------------------------------------------------


def book_visit(
    actor: Actor,
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime.datetime,
    plan: TreatmentPlan | None = None,
    order: TreatmentSession | None = None,
    chair: Resource | None = None,
    nurse: User | None = None,
    clinician: User | None = None,
    notes: str = "",
) -> Appointment:
    """Book one visit at exactly `starts_at`. A dosing visit needs a signed plan (or a prescriber's
    one-off order): its treatment session is created in the same transaction. SlotTaken when the
    time is not free (for the patient, or for any chair, room or staff place it needs)."""
    require(actor, Perm.SCHEDULE_BOOK)
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    _check_type(actor, appointment_type)
    _check_location(actor, location)
    _aware(starts_at, "starts_at")
    if starts_at < timezone.now() - datetime.timedelta(minutes=5):
        raise ValidationError({"starts_at": "That time has passed; choose a time from now on."})
    if appointment_type.is_dosing:
        if plan is None and order is None:
            raise ValidationError({"plan": "A dosing visit is booked from a signed plan or a prescriber's order."})
        if order is not None:
            _check_order(actor, order, appointment_type)
        if plan is not None:
            _check_plan(actor, plan, appointment_type)
            if plan.patient_id != patient.pk:
                raise ValidationError({"plan": "That plan is another patient's."})
    elif plan is not None or order is not None:
        raise ValidationError({"appointment_type": "Only a dosing visit is booked from a plan or an order."})
    pinned = _pinned(actor, location, chair, nurse, clinician)

    def attempt() -> Appointment:
        appointment = _new_visit(
            actor,
            patient=patient,
            appointment_type=appointment_type,
            location=location,
            starts_at=starts_at,
            pinned=pinned,
            plan=plan,
            order=order,
            series=None,
            notes=notes,
        )
        _audit_booked(actor, appointment)
        notify.booked(appointment)
        return appointment

    return _book(actor, attempt)


def _serialise(actor: Actor) -> None:
    """On PostgreSQL, one booking of the clinic at a time (a transaction-scoped advisory lock, taken
    before the calendars are read). Without it, two bookings inserting overlapping holds at the same
    instant can deadlock inside the exclusion constraints' check (each waits for the other's
    uncommitted row; PostgreSQL kills one after deadlock_timeout, 1 s); the victim's retries can run
    out on deadlocks with bookings that then fail themselves, and a free time is refused as taken.
    The constraints stay the guarantee; SQLite already serialises writers (BEGIN IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [BOOKING_LOCK, actor.clinic.pk])


def _book(actor: Actor, attempt: Callable[[], T]) -> T:
    with transaction.atomic():
        _serialise(actor)
        try:
            return _retrying(attempt)
        except IntegrityError as exc:  # the patient's own overlap on PostgreSQL
            raise SlotTaken("The patient already has a visit at that time.") from exc


def book_series(
    actor: Actor,
    *,
    plan: TreatmentPlan,
    appointment_type: AppointmentType,
    location: Location,
    starts: Sequence[datetime.datetime],
    chairs: Sequence[int | None] | None = None,
    notes: str = "",
) -> Series:
    """Book the plan's next `len(starts)` visits at those times, all or nothing; with `chairs`, each
    visit in that chair or room (as proposed), else any free one.

    Each start must be at least the protocol's minimum interval after the one before, and all within
    its window (the first visit's local day is day 0). If any visit is not free, nothing is booked
    and SlotTaken names the visit.
    """
    require(actor, Perm.SCHEDULE_BOOK)
    _check_type(actor, appointment_type)
    _check_location(actor, location)
    _check_plan(actor, plan, appointment_type)
    if not starts:
        raise ValidationError({"starts": "Choose the visits' times."})
    if chairs is not None and len(chairs) != len(starts):
        raise ValidationError({"chairs": "Give one chair (or none) for each visit."})
    pins = [Pinned(chair_id=c) for c in chairs] if chairs is not None else [Pinned()] * len(starts)
    for pin in pins:
        if (
            pin.chair_id is not None
            and not Resource.objects.filter(pk=pin.chair_id, clinic=actor.clinic, location=location).exists()
        ):
            raise ValidationError({"chairs": "Choose chairs or rooms at this location."})
    starts = [_aware(s, "starts") for s in starts]
    if any(b <= a for a, b in itertools.pairwise(starts)):
        raise ValidationError({"starts": "The visits must be in order, each after the one before."})
    if starts[0] < timezone.now() - datetime.timedelta(minutes=5):
        raise ValidationError({"starts": "The first visit's time has passed."})
    rule = series_rule(plan, len(starts))
    zone = actor.clinic.zone
    for n, (a, b) in enumerate(itertools.pairwise(starts), start=2):
        if b - a < rule.min_interval:
            hours = rule.min_interval.total_seconds() / 3600
            raise ValidationError({"starts": f"Visit {n} is less than {hours:g} hours after visit {n - 1}."})
    deadline = _deadline(actor, rule.window_days)
    if deadline is not None and starts[-1] > deadline(starts[0]):
        raise ValidationError(
            {
                "starts": f"All {len(starts)} visits must fall within {rule.window_days} days of the first "
                f"(the last may be on {deadline(starts[0]).astimezone(zone):%a %d %b} at the latest)."
            }
        )

    def attempt() -> Series:
        series = Series.objects.create(
            clinic=actor.clinic,
            patient=plan.patient,
            plan=plan,
            appointment_type=appointment_type,
            location=location,
            count=len(starts),
            min_interval_hours=int(rule.min_interval.total_seconds() // 3600),
            window_days=rule.window_days,
            created_by=actor.user,
        )
        visits = []
        for n, start in enumerate(starts, start=1):
            try:
                visits.append(
                    _new_visit(
                        actor,
                        patient=plan.patient,
                        appointment_type=appointment_type,
                        location=location,
                        starts_at=start,
                        pinned=pins[n - 1],
                        plan=plan,
                        order=None,
                        series=series,
                        notes=notes,
                    )
                )
            except SlotTaken as exc:
                raise SlotTaken(f"Visit {n} of {len(starts)}: {exc} Nothing was booked.") from exc
        record(
            actor,
            AuditAction.CREATE,
            "series.booked",
            subject=series,
            patient=plan.patient,
            detail={"plan": plan.pk, "appointments": [v.pk for v in visits], "starts": list(starts)},
        )
        for visit in visits:
            _audit_booked(actor, visit)
            notify.booked(visit)
        return series

    return _book(actor, attempt)


# --- changing a booked visit -----------------------------------------------------------------------


def _series_neighbours(appointment: Appointment) -> tuple[Appointment | None, Appointment | None]:
    if appointment.series_id is None:
        return None, None
    live = Appointment.objects.live().filter(series_id=appointment.series_id).exclude(pk=appointment.pk)
    before = live.filter(starts_at__lt=appointment.starts_at).order_by("-starts_at").first()
    after = live.filter(starts_at__gt=appointment.starts_at).order_by("starts_at").first()
    return before, after


def _check_series_move(actor: Actor, appointment: Appointment, starts_at: datetime.datetime) -> None:
    """Moving one visit of a series keeps the rest valid: the minimum interval to its neighbours and
    the window from the series' first visit."""
    series = appointment.series
    if series is None:
        return
    before, after = _series_neighbours(appointment)
    interval = datetime.timedelta(hours=series.min_interval_hours or 0)
    if before is not None and starts_at < before.starts_at + interval:
        raise ValidationError(
            {
                "starts_at": "Too close to the visit before it in the series "
                f"(at least {series.min_interval_hours} hours)."
            }
        )
    if after is not None and after.starts_at < starts_at + interval:
        raise ValidationError(
            {
                "starts_at": "Too close to the visit after it in the series "
                f"(at least {series.min_interval_hours} hours)."
            }
        )
    if before is not None and after is not None and not (before.starts_at < starts_at < after.starts_at):
        raise ValidationError({"starts_at": "A visit of a series keeps its place between the visits around it."})
    if series.window_days:
        live = list(
            Appointment.objects.live()
            .filter(series=series)
            .exclude(pk=appointment.pk)
            .values_list("starts_at", flat=True)
        )
        all_starts = sorted([*live, starts_at])
        deadline = _deadline(actor, series.window_days)
        if deadline is not None and all_starts[-1] > deadline(all_starts[0]):
            raise ValidationError(
                {"starts_at": f"The series must stay within {series.window_days} days of its first visit."}
            )


def _series_keeper(actor: Actor, appointment: Appointment) -> Callable[[datetime.datetime], bool] | None:
    """Whether a new start keeps the visit's series valid (the rule `_check_series_move` enforces),
    read once for many candidate starts."""
    series = appointment.series
    if series is None:
        return None
    before, after = _series_neighbours(appointment)
    interval = datetime.timedelta(hours=series.min_interval_hours or 0)
    others = list(
        Appointment.objects.live().filter(series=series).exclude(pk=appointment.pk).values_list("starts_at", flat=True)
    )
    deadline = _deadline(actor, series.window_days)

    def keeps(start: datetime.datetime) -> bool:
        if before is not None and start < before.starts_at + interval:
            return False
        if after is not None and after.starts_at < start + interval:
            return False
        if deadline is not None:
            starts = sorted([*others, start])
            if starts[-1] > deadline(starts[0]):
                return False
        return True

    return keeps


def reschedule(
    actor: Actor,
    appointment: Appointment,
    *,
    starts_at: datetime.datetime,
    chair: Resource | None = None,
    nurse: User | None = None,
    clinician: User | None = None,
) -> Appointment:
    """Move a booked visit (its holds move with it; the rest of its series stays valid)."""
    _aware(starts_at, "starts_at")
    if starts_at < timezone.now() - datetime.timedelta(minutes=5):
        raise ValidationError({"starts_at": "That time has passed; choose a time from now on."})

    def attempt() -> Appointment:
        current = _locked(actor, appointment)
        _require_booked(current)
        _check_series_move(actor, current, starts_at)
        pinned = _pinned(actor, current.location, chair, nurse, clinician)
        shape = shape_of(current.appointment_type, current.location, _protocol_of(current.plan, current.session))
        _patient_free(current.patient, starts_at, starts_at + shape.held, (current.pk,))
        fit = _fit(shape, starts_at, pinned, exclude=(current.pk,))
        before = current.starts_at
        now = timezone.now()
        _release(current, now)
        current.rescheduled_from = before
        current.starts_at, current.ends_at, current.held_until = (
            starts_at,
            starts_at + shape.duration,
            starts_at + shape.held,
        )
        _assign(current, shape, fit)
        current.save()
        _hold(current, fit)
        if current.session is not None:
            chair_obj = current.chair if current.appointment_type.space == "chair" else None
            sessions.reschedule(
                actor, current.session, scheduled_at=starts_at, location=current.location, chair=chair_obj
            )
        record(
            actor,
            AuditAction.UPDATE,
            "appointment.rescheduled",
            subject=current,
            patient=current.patient,
            detail={"from": before, "to": starts_at, "chair": current.chair_id, "nurse": current.nurse_id},
        )
        notify.moved(current)
        return current

    return _book(actor, attempt)


@transaction.atomic
def cancel(actor: Actor, appointment: Appointment, *, reason: str, by_patient: bool = False) -> Appointment:
    """Cancel a booked visit: its chair, room and staff places are free again at once; a dosing visit's
    session is cancelled too. Within the clinic's late-cancel window it counts as a late cancellation."""
    current = _locked(actor, appointment)
    _require_booked(current)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the visit is cancelled."})
    now = timezone.now()
    window = datetime.timedelta(hours=settings_for(actor.clinic).late_cancel_hours)
    current.state = AppointmentState.CANCELLED
    current.cancelled_at, current.cancelled_by, current.cancel_reason = now, actor.user, reason.strip()[:500]
    current.cancelled_by_patient = by_patient
    current.late_cancel = current.starts_at - now < window
    current.save()
    released = _release(current, now)
    if current.session is not None and current.session.state == State.SCHEDULED.value:
        sessions.cancel(actor, current.session, f"Visit cancelled: {reason.strip()}")
    record(
        actor,
        AuditAction.UPDATE,
        "appointment.cancelled",
        subject=current,
        patient=current.patient,
        detail={
            "reason": current.cancel_reason,
            "late": current.late_cancel,
            "by_patient": by_patient,
            "released": released,
        },
    )
    notify.cancelled(current)
    return current


@transaction.atomic
def check_in(actor: Actor, appointment: Appointment) -> Appointment:
    """The patient is here. A dosing visit opens its treatment session (checked in, in its chair)."""
    current = _locked(actor, appointment)
    _require_booked(current)
    zone = actor.clinic.zone
    if timezone.localtime(current.starts_at, zone).date() != timezone.localtime(timezone.now(), zone).date():
        raise ValidationError({"state": "Only today's visits can be checked in."})
    now = timezone.now()
    current.state = AppointmentState.CHECKED_IN
    current.checked_in_at, current.checked_in_by = now, actor.user
    current.save()
    if current.session is not None:
        session = current.session
        if current.escort_confirmed_at is not None:
            sessions.note_escort(actor, session, name=current.escort_name, phone=current.escort_phone)
        chair = current.chair if current.appointment_type.space == "chair" else None
        sessions.check_in(actor, session, chair=chair)
    record(actor, AuditAction.UPDATE, "appointment.checked_in", subject=current, patient=current.patient, detail={})
    return current


@transaction.atomic
def mark_no_show(actor: Actor, appointment: Appointment) -> Appointment:
    """The patient did not come: recorded, places freed, the session cancelled as a no-show."""
    current = _locked(actor, appointment)
    _require_booked(current)
    grace = datetime.timedelta(minutes=settings_for(actor.clinic).no_show_after_minutes)
    now = timezone.now()
    if now < current.starts_at + grace:
        minutes = int((current.starts_at + grace - now).total_seconds() // 60) + 1
        raise ValidationError({"state": f"Wait {minutes} more minutes before marking a no-show."})
    current.state = AppointmentState.NO_SHOW
    current.no_show_at = now
    current.save()
    _release(current, now)
    if current.session is not None and current.session.state == State.SCHEDULED.value:
        sessions.cancel(actor, current.session, "No-show")
    record(actor, AuditAction.UPDATE, "appointment.no_show", subject=current, patient=current.patient, detail={})
    return current


@transaction.atomic
def complete(actor: Actor, appointment: Appointment) -> Appointment:
    """A checked-in visit is over (a dosing visit also completes when its session is discharged)."""
    current = _locked(actor, appointment)
    if current.state != AppointmentState.CHECKED_IN:
        raise ValidationError({"state": "Only a checked-in visit can be completed."})
    current.state = AppointmentState.COMPLETED
    current.save(update_fields=["state", "updated_at"])
    record(actor, AuditAction.UPDATE, "appointment.completed", subject=current, patient=current.patient, detail={})
    return current


@transaction.atomic
def confirm_escort(actor: Actor, appointment: Appointment, *, name: str, phone: str) -> Appointment:
    """The escort or driver taking the patient home (clinical.md §2.6): with it a dosing visit is confirmed."""
    current = _locked(actor, appointment)
    _require_booked(current)
    name, phone = name.strip(), phone.strip()
    errors = {}
    if not name:
        errors["escort_name"] = "Enter the escort's or driver's name."
    if len([c for c in phone if c.isdigit()]) < 7:
        errors["escort_phone"] = "Enter the escort's phone number (at least 7 digits)."
    if errors:
        raise ValidationError(errors)
    current.escort_name, current.escort_phone = name[:200], phone[:40]
    current.escort_confirmed_at, current.escort_confirmed_by = timezone.now(), actor.user
    current.save()
    record(
        actor,
        AuditAction.UPDATE,
        "appointment.escort_confirmed",
        subject=current,
        patient=current.patient,
        detail={"name": current.escort_name, "phone": current.escort_phone},
    )
    return current
