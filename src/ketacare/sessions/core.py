"""The session's spine: guarded fetches, the one place the state changes, the timeline, and the
session-level actions every part shares (create from a plan or an order, check in, cancel, stop early).

Every other action of the domain (pre-dose checks, dosing, monitoring, discharge, signing, REMS)
takes the session through `locked_session` (row lock, refuses a signed or cancelled session with
`SessionLocked`, which pages and the API turn into 409) and moves it only with `transition`, which
checks `lifecycle`, stamps the step's time, writes the timeline event and the audit row, and emits
the measures domain's anchor events (session scheduled / completed, series completed).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.measures.schedules import clinical_event, withdraw_clinical_event
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus
from ketacare.sessions.lifecycle import LABELS, State, TransitionError, check_transition
from ketacare.sessions.models import PROTOCOL_ROUTE, SessionEvent, TreatmentSession

LOCKED_MESSAGE = "This session is signed and read-only; add an addendum instead."


class SessionLocked(Exception):
    """The session is signed or cancelled: nothing of it may change (pages and API answer 409)."""


# --- access ---------------------------------------------------------------------------------


def require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def sessions_of(actor: Actor, perm: str = Perm.SESSION_VIEW) -> QuerySet[TreatmentSession]:
    """The clinic's sessions (403 without `perm`)."""
    require(actor, perm)
    return TreatmentSession.objects.filter(clinic=actor.clinic)


def access_session(actor: Actor, session_id: Any, perm: str = Perm.SESSION_VIEW) -> TreatmentSession:
    """One session of the actor's clinic: 403 without `perm`, 404 for another clinic's or none."""
    try:
        pk = int(session_id)
    except (TypeError, ValueError):
        raise Http404("No such session.") from None
    session = (
        sessions_of(actor, perm)
        .select_related("clinic", "patient", "location", "chair", "plan", "nurse", "protocol_version", "created_by")
        .filter(pk=pk)
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    return session


def locked_session(actor: Actor, session: TreatmentSession, perm: str) -> TreatmentSession:
    """Re-read `session` under a row lock for a change; refuses a signed or cancelled one.

    Call inside a transaction. Raises PermissionDenied without `perm`, SessionLocked when locked.
    """
    require(actor, perm)
    if session.clinic_id != actor.clinic.pk:
        raise Http404("No such session.")
    fresh = (
        TreatmentSession.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient", "location", "chair", "plan")
        .get(pk=session.pk)
    )
    if fresh.state == State.SIGNED:
        raise SessionLocked(LOCKED_MESSAGE)
    if fresh.state == State.CANCELLED:
        raise SessionLocked("This session was cancelled and cannot change; book a new session instead.")
    return fresh


# --- time -----------------------------------------------------------------------------------


def clinic_now() -> datetime.datetime:
    return timezone.now()


def clinic_today(actor: Actor) -> datetime.date:
    return timezone.localdate(timezone=actor.clinic.zone)


def aware(value: datetime.datetime | None, field: str) -> datetime.datetime | None:
    if value is not None and timezone.is_naive(value):
        raise ValidationError({field: "Give a time with its time zone."})
    return value


def not_future(value: datetime.datetime, field: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """Charted times may not be in the future (a minute's clock drift allowed)."""
    now = now or timezone.now()
    if value > now + datetime.timedelta(minutes=1):
        raise ValidationError({field: "This time is in the future."})
    return value


# --- timeline -------------------------------------------------------------------------------


def add_event(
    actor: Actor,
    session: TreatmentSession,
    kind: str,
    summary: str,
    *,
    detail: dict[str, Any] | None = None,
    at: datetime.datetime | None = None,
    from_state: str = "",
    to_state: str = "",
) -> SessionEvent:
    """One line of the session's timeline (call inside the action's transaction)."""
    return SessionEvent.objects.create(
        clinic=session.clinic,
        session=session,
        kind=kind,
        summary=summary[:300],
        detail=detail or {},
        at=at or timezone.now(),
        actor=actor.user,
        from_state=from_state,
        to_state=to_state,
    )


_STAMPS: dict[State, str] = {
    State.CHECKED_IN: "checked_in_at",
    State.PRE_DOSE_CHECKS: "checks_started_at",
    State.DOSING: "first_dose_at",
    State.OBSERVATION: "dose_ended_at",
    State.READY_FOR_DISCHARGE: "ready_at",
    State.DISCHARGED: "discharged_at",
    State.SIGNED: "signed_at",
    State.CANCELLED: "cancelled_at",
    State.STOPPED_EARLY: "ended_early_at",
}


def transition(
    actor: Actor,
    session: TreatmentSession,
    target: State,
    *,
    reason: str = "",
    at: datetime.datetime | None = None,
    summary: str = "",
    detail: dict[str, Any] | None = None,
) -> TreatmentSession:
    """Move a locked session (from `locked_session`) to `target`: the only place `state` changes.

    Stamps the step's time (kept if already set, e.g. the first device's time), writes the timeline
    event and the audit row, and emits the anchor events. TransitionError becomes a ValidationError
    on "state" so pages and the API show it as the refusal it is.
    """
    try:
        check_transition(session.state, target, reason=reason)
    except TransitionError as exc:
        raise ValidationError({"state": str(exc)}) from None
    at = at or timezone.now()
    previous = State(session.state)
    stamp = _STAMPS.get(target)
    if stamp and getattr(session, stamp) is None:
        setattr(session, stamp, at)
    if target is State.STOPPED_EARLY:
        session.end_reason = reason.strip()
    if target is State.CANCELLED:
        session.cancel_reason = reason.strip()
    text = summary or f"{LABELS[target]}" + (f": {reason.strip()}" if reason.strip() else "")
    # The event first: a signed or cancelled session accepts only timeline rows and addenda.
    add_event(
        actor,
        session,
        "state",
        text,
        detail={"reason": reason.strip(), **(detail or {})},
        at=at,
        from_state=previous.value,
        to_state=target.value,
    )
    session.state = target.value
    session.state_changed_at = at
    session.save()
    record(
        actor,
        AuditAction.UPDATE,
        f"session.{target.value}",
        subject=session,
        patient=session.patient,
        detail={"from": previous.value, "to": target.value, "reason": reason.strip(), **(detail or {})},
    )
    _emit(session, target, at)
    return session


def _emit(session: TreatmentSession, target: State, at: datetime.datetime) -> None:
    """Anchor events for the measures domain (measures.schedules.clinical_event's contract)."""
    if target is State.CANCELLED:
        withdraw_clinical_event(session.clinic, session.patient, "session.scheduled", session.ref)
        return
    if target not in (State.DISCHARGED, State.STOPPED_EARLY):
        return
    clinical_event(session.clinic, session.patient, "session.completed", at, session.ref)
    plan = session.plan
    if plan is None or session.sequence is None:
        return
    planned = len(plan.planned_sessions)
    if planned and session.sequence >= planned:
        done = (
            TreatmentSession.objects.filter(plan=plan, state__in=[State.DISCHARGED, State.STOPPED_EARLY, State.SIGNED])
            .values("sequence")
            .distinct()
            .count()
        )
        if done >= planned:
            clinical_event(session.clinic, session.patient, "series.completed", at, f"treatment-series:{plan.pk}")


# --- creating sessions ----------------------------------------------------------------------


def _location(actor: Actor, location: Location | None) -> Location:
    if location is None:
        found = Location.objects.filter(clinic=actor.clinic, is_active=True).order_by("pk").first()
        if found is None:
            raise ValidationError({"location": "The clinic has no active location."})
        return found
    if location.clinic_id != actor.clinic.pk or not location.is_active:
        raise ValidationError({"location": "Choose one of the clinic's active locations."})
    return location


def _chair(actor: Actor, location: Location, chair: Resource | None) -> Resource | None:
    if chair is None:
        return None
    if chair.clinic_id != actor.clinic.pk or chair.location_id != location.pk or not chair.is_active:
        raise ValidationError({"chair": "Choose an active chair or room at this location."})
    return chair


def planned_dose(plan: TreatmentPlan, sequence: int) -> Decimal:
    """The plan's dose for session `sequence` (Spravato: 56 mg on day 1, then the selected dose)."""
    by_session = plan.dose_applied.get("doses_by_session", []) if isinstance(plan.dose_applied, dict) else []
    if 1 <= sequence <= len(by_session):
        return Decimal(str(by_session[sequence - 1]))
    return Decimal(plan.dose_selected_mg or plan.dose_final_mg)


@transaction.atomic
def create_from_plan(
    actor: Actor,
    plan: TreatmentPlan,
    *,
    scheduled_at: datetime.datetime,
    sequence: int | None = None,
    location: Location | None = None,
    chair: Resource | None = None,
) -> TreatmentSession:
    """A session of a signed plan: the next one in its series unless `sequence` says which."""
    require(actor, Perm.SESSION_CHECK_IN)
    if plan.clinic_id != actor.clinic.pk:
        raise Http404("No such plan.")
    plan = TreatmentPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.status != PlanStatus.SIGNED:
        raise ValidationError({"plan": "Sessions are booked from a signed plan (this one is not signed)."})
    aware(scheduled_at, "scheduled_at")
    live = TreatmentSession.objects.filter(plan=plan).exclude(state=State.CANCELLED)
    if sequence is None:
        used = set(live.values_list("sequence", flat=True))
        sequence = next(n for n in range(1, len(used) + 2) if n not in used)
    elif sequence < 1:
        raise ValidationError({"sequence": "The session number starts at 1."})
    elif live.filter(sequence=sequence).exists():
        raise ValidationError({"sequence": f"Session {sequence} of this plan is already booked."})
    dose = planned_dose(plan, sequence)
    where = _location(actor, location)
    session = TreatmentSession.objects.create(
        clinic=actor.clinic,
        location=where,
        chair=_chair(actor, where, chair),
        patient=plan.patient,
        plan=plan,
        sequence=sequence,
        route=plan.route,
        protocol_version=plan.protocol_version,
        protocol_snapshot=plan.protocol_snapshot,
        planned_dose_mg=dose,
        scheduled_at=scheduled_at,
        created_by=actor.user,
    )
    _created(actor, session, f"Booked: session {sequence} of plan v{plan.plan_version}")
    return session


@transaction.atomic
def order_session(
    actor: Actor,
    patient: Patient,
    *,
    protocol_version: ClinicProtocolVersion,
    dose_mg: Decimal,
    reason: str,
    scheduled_at: datetime.datetime,
    location: Location | None = None,
    chair: Resource | None = None,
) -> TreatmentSession:
    """A prescriber's one-off order (no plan): a published protocol, a dose and why."""
    require(actor, Perm.SESSION_ORDER)
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    if protocol_version.clinic_protocol.clinic_id != actor.clinic.pk:
        raise ValidationError({"protocol_version": "Choose one of the clinic's protocols."})
    if protocol_version.status != VersionStatus.PUBLISHED:
        raise ValidationError({"protocol_version": "Only a published protocol version may be ordered."})
    if not reason.strip():
        raise ValidationError({"reason": "Say why this one-off session is ordered."})
    try:
        dose = Decimal(str(dose_mg))
    except ArithmeticError:
        raise ValidationError({"dose_mg": "Enter the dose in mg."}) from None
    if not dose.is_finite() or dose <= 0:
        raise ValidationError({"dose_mg": "Enter a dose above 0 mg."})
    aware(scheduled_at, "scheduled_at")
    route_by_protocol = {v: k for k, v in PROTOCOL_ROUTE.items()}
    route = route_by_protocol[protocol_version.protocol.route]
    where = _location(actor, location)
    session = TreatmentSession.objects.create(
        clinic=actor.clinic,
        location=where,
        chair=_chair(actor, where, chair),
        patient=patient,
        ordered_by=actor.user,
        order_reason=reason.strip(),
        route=route,
        protocol_version=protocol_version,
        protocol_snapshot=protocol_version.data,
        planned_dose_mg=dose,
        scheduled_at=scheduled_at,
        created_by=actor.user,
    )
    _created(actor, session, f"Ordered by {actor.user.full_name}: {reason.strip()}")
    return session


def _created(actor: Actor, session: TreatmentSession, summary: str) -> None:
    add_event(actor, session, "created", summary, to_state=State.SCHEDULED.value)
    record(
        actor,
        AuditAction.CREATE,
        "session.created",
        subject=session,
        patient=session.patient,
        detail={"plan": session.plan_id, "sequence": session.sequence, "scheduled_at": session.scheduled_at},
    )
    if session.scheduled_at > timezone.now():
        clinical_event(
            session.clinic, session.patient, "session.scheduled", timezone.now(), session.ref, session.scheduled_at
        )


@transaction.atomic
def reschedule(
    actor: Actor,
    session: TreatmentSession,
    *,
    scheduled_at: datetime.datetime,
    location: Location | None = None,
    chair: Resource | None = None,
) -> TreatmentSession:
    """Move a session that has not started (the schedule moved its visit): time, place and chair."""
    session = locked_session(actor, session, Perm.SESSION_CHECK_IN)
    if session.lifecycle_state != State.SCHEDULED:
        raise ValidationError({"scheduled_at": "Only a session that has not started can be moved."})
    aware(scheduled_at, "scheduled_at")
    before = session.scheduled_at
    where = _location(actor, location or session.location)
    session.location, session.chair, session.scheduled_at = where, _chair(actor, where, chair), scheduled_at
    session.save(update_fields=["location", "chair", "scheduled_at"])
    add_event(actor, session, "moved", f"Moved from {timezone.localtime(before, actor.clinic.zone):%a %d %b %H:%M}")
    record(
        actor,
        AuditAction.UPDATE,
        "session.rescheduled",
        subject=session,
        patient=session.patient,
        detail={"from": before, "to": scheduled_at, "location": where.pk, "chair": session.chair_id},
    )
    if scheduled_at > timezone.now():  # a repeat moves the pre-session questionnaire's due time
        clinical_event(session.clinic, session.patient, "session.scheduled", timezone.now(), session.ref, scheduled_at)
    return session


@transaction.atomic
def note_escort(actor: Actor, session: TreatmentSession, *, name: str, phone: str) -> TreatmentSession:
    """The escort the schedule confirmed, ready for the nurse's pre-dose check (which confirms it)."""
    session = locked_session(actor, session, Perm.SESSION_CHECK_IN)
    if session.escort_confirmed_at is None:
        session.escort_name, session.escort_phone = name[:200], phone[:40]
        session.save(update_fields=["escort_name", "escort_phone"])
    return session


# --- front-desk steps -----------------------------------------------------------------------


@transaction.atomic
def check_in(actor: Actor, session: TreatmentSession, *, chair: Resource | None = None) -> TreatmentSession:
    """The patient has arrived (front desk, nurse or prescriber); optionally seat them in a chair."""
    session = locked_session(actor, session, Perm.SESSION_CHECK_IN)
    if chair is not None:
        session.chair = _chair(actor, session.location, chair)
    return transition(actor, session, State.CHECKED_IN)


@transaction.atomic
def assign_chair(actor: Actor, session: TreatmentSession, chair: Resource | None) -> TreatmentSession:
    session = locked_session(actor, session, Perm.SESSION_CHECK_IN)
    before = session.chair.name if session.chair else "no chair"
    session.chair = _chair(actor, session.location, chair)
    after = session.chair.name if session.chair else "no chair"
    session.save(update_fields=["chair"])
    add_event(actor, session, "chair", f"Moved from {before} to {after}")
    record(
        actor, AuditAction.UPDATE, "session.chair", subject=session, patient=session.patient, detail={"chair": after}
    )
    return session


@transaction.atomic
def cancel(actor: Actor, session: TreatmentSession, reason: str) -> TreatmentSession:
    """Cancel before dosing (a reason is kept; after dosing began it must be stopped early instead)."""
    session = locked_session(actor, session, Perm.SESSION_CANCEL)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the session is cancelled."})
    return transition(actor, session, State.CANCELLED, reason=reason)


@transaction.atomic
def stop_early(actor: Actor, session: TreatmentSession, reason: str) -> TreatmentSession:
    """End a session after dosing began, before normal discharge (a reason is required)."""
    session = locked_session(actor, session, Perm.SESSION_CHART)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the session is stopped early."})
    return transition(actor, session, State.STOPPED_EARLY, reason=reason)


def timeline(session: TreatmentSession) -> QuerySet[SessionEvent]:
    return session.events.select_related("actor").order_by("at", "id")
