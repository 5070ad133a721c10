"""Questionnaire schedules: every N days, or anchored to clinical events other domains report.

- A `MeasureSchedule` owes sends; each send it owes is one `ScheduleOccurrence`, unique per
  (schedule, anchor_ref), so a repeated event or sweep never makes two.
- Recurring: a period is due at `SEND_LOCAL_TIME` (09:00) in the clinic's zone on
  `starts_on + k * every_days`, up to `until` (inclusive); its anchor_ref is "period:YYYY-MM-DD".
- Anchored: `clinical_event(...)` (below) is the one entry point for other domains.
- `schedule_sweep` (called by `tasks.alert_sweep` every minute) materialises recurring periods and
  sends every due occurrence through `links.send_scheduled_questionnaire` (audited as the system).
  After downtime only the latest due period of a recurring schedule is sent and older unsent ones
  are marked skipped (no flood); an anchored occurrence more than `links.LINK_LIFETIME` late is
  skipped too. Every skip says why and is audited.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, QuerySet
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record, record_system
from ketacare.clinics.models import Clinic
from ketacare.measures import links
from ketacare.measures.models import (
    AnchorEvent,
    MeasureSchedule,
    OccurrenceStatus,
    ScheduleKind,
    ScheduleOccurrence,
)
from ketacare.patients.models import Patient, PatientStatus

logger = logging.getLogger(__name__)

SEND_LOCAL_TIME = datetime.time(9, 0)
MAX_EVERY_DAYS = 365
MAX_OFFSET_HOURS = 24 * 60
MAX_REF_LENGTH = 100
PERIOD_PREFIX = "period:"


# --- Staff: create, stop, list ------------------------------------------------------------------


def schedules_of(actor: Actor) -> QuerySet[MeasureSchedule]:
    if not actor.can(Perm.MEASURE_SEND):
        raise PermissionDenied(f"Your role does not allow {Perm.MEASURE_SEND}.")
    return MeasureSchedule.objects.filter(clinic=actor.clinic)


@transaction.atomic
def create_schedule(
    actor: Actor,
    patient: Patient,
    *,
    codes: Sequence[str],
    kind: str,
    every_days: int | None = None,
    starts_on: datetime.date | None = None,
    until: datetime.date | None = None,
    anchor_event: str = "",
    offset_hours: int | None = None,
) -> MeasureSchedule:
    """Create a recurring or an anchored schedule. Bad input: ValidationError naming each field."""
    if not actor.can(Perm.MEASURE_SEND):
        raise PermissionDenied(f"Your role does not allow {Perm.MEASURE_SEND}.")
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    errors: dict[str, str] = {}
    chosen: list[str] = []
    try:
        chosen = links.clean_codes(codes)
    except ValidationError as exc:
        errors["instruments"] = " ".join(exc.messages)
    if patient.status != PatientStatus.ACTIVE:
        errors["__all__"] = "Only active patients can be sent questionnaires."
    values: dict[str, object] = {}
    if kind == ScheduleKind.RECURRING:
        today = timezone.localdate(timezone.now(), actor.clinic.zone)
        if every_days is None or not 1 <= every_days <= MAX_EVERY_DAYS:
            errors["every_days"] = f"Enter a number of days from 1 to {MAX_EVERY_DAYS}."
        if starts_on is None:
            errors["starts_on"] = "Enter the date of the first send."
        elif starts_on < today:
            errors["starts_on"] = "The first send cannot be in the past."
        if until is not None and starts_on is not None and until < starts_on:
            errors["until"] = "The last date cannot be before the first send."
        values = {"every_days": every_days, "starts_on": starts_on, "until": until}
    elif kind == ScheduleKind.ANCHORED:
        if anchor_event not in AnchorEvent.values:
            errors["anchor_event"] = "Choose the clinical event the questionnaire follows."
        if offset_hours is None or not 0 <= offset_hours <= MAX_OFFSET_HOURS:
            errors["offset_hours"] = f"Enter a number of hours from 0 to {MAX_OFFSET_HOURS}."
        values = {"anchor_event": anchor_event, "offset_hours": offset_hours}
    else:
        errors["kind"] = "Choose a recurring or an event-based schedule."
    if errors:
        raise ValidationError(errors)
    schedule = MeasureSchedule.objects.create(
        clinic=actor.clinic,
        patient=patient,
        instrument_codes=chosen,
        kind=kind,
        created_by=actor.user,
        created_at=timezone.now(),
        **values,
    )
    record(
        actor,
        AuditAction.CREATE,
        "measure_schedule.created",
        subject=schedule,
        patient=patient,
        detail={"instruments": chosen, "kind": kind, **values},
    )
    return schedule


@transaction.atomic
def stop_schedule(actor: Actor, schedule_id: int) -> MeasureSchedule:
    """Stop a schedule for good; occurrences not yet sent are skipped. A stopped schedule sends nothing."""
    schedule = schedules_of(actor).select_for_update().select_related("patient").filter(pk=schedule_id).first()
    if schedule is None:
        raise Http404("No such schedule.")
    if not schedule.active:
        raise ValidationError({"__all__": "This schedule is already stopped."})
    schedule.active = False
    schedule.stopped_at = timezone.now()
    schedule.stopped_by = actor.user
    schedule.save(update_fields=["active", "stopped_at", "stopped_by"])
    skipped = ScheduleOccurrence.objects.filter(
        schedule=schedule, status=OccurrenceStatus.DUE, request__isnull=True
    ).update(status=OccurrenceStatus.SKIPPED, note="The schedule was stopped.")
    record(
        actor,
        AuditAction.UPDATE,
        "measure_schedule.stopped",
        subject=schedule,
        patient=schedule.patient,
        detail={"skipped_occurrences": skipped},
    )
    return schedule


@dataclass(frozen=True)
class ScheduleView:
    schedule: MeasureSchedule
    next_due: datetime.datetime | None
    last_sent: datetime.datetime | None
    ended: bool


def describe(schedules: Sequence[MeasureSchedule], now: datetime.datetime | None = None) -> list[ScheduleView]:
    """Next due and last sent for the staff page."""
    now = now or timezone.now()
    ids = [s.pk for s in schedules]
    last_sent = dict(
        ScheduleOccurrence.objects.filter(schedule_id__in=ids, status=OccurrenceStatus.SENT)
        .values("schedule_id")
        .annotate(at=Max("sent_at"))
        .values_list("schedule_id", "at")
    )
    waiting: dict[int, datetime.datetime] = {}
    for schedule_id, due_at in (
        ScheduleOccurrence.objects.filter(schedule_id__in=ids, status=OccurrenceStatus.DUE, request__isnull=True)
        .order_by("due_at")
        .values_list("schedule_id", "due_at")
    ):
        waiting.setdefault(schedule_id, due_at)
    views = []
    for s in schedules:
        next_due: datetime.datetime | None = None
        ended = False
        if s.active:
            next_due = waiting.get(s.pk)
            if next_due is None and s.kind == ScheduleKind.RECURRING:
                day = next_period(s, now)
                next_due = period_due_at(s, day) if day else None
                ended = day is None
        views.append(ScheduleView(s, next_due, last_sent.get(s.pk), ended))
    return views


# --- Recurring periods ----------------------------------------------------------------------------


def period_due_at(schedule: MeasureSchedule, day: datetime.date) -> datetime.datetime:
    """When the period starting on `day` is sent: SEND_LOCAL_TIME in the clinic's zone (DST-aware)."""
    return datetime.datetime.combine(day, SEND_LOCAL_TIME, tzinfo=schedule.clinic.zone)


def next_period(schedule: MeasureSchedule, after: datetime.datetime) -> datetime.date | None:
    """The first period of a recurring schedule due after `after`, or None when `until` is passed."""
    if schedule.starts_on is None or not schedule.every_days:
        return None
    every = schedule.every_days
    local = timezone.localdate(after, schedule.clinic.zone)
    k = max(0, (local - schedule.starts_on).days // every)
    day = schedule.starts_on + datetime.timedelta(days=k * every)
    while period_due_at(schedule, day) <= after:
        day += datetime.timedelta(days=every)
    if schedule.until is not None and day > schedule.until:
        return None
    return day


def materialise_recurring(now: datetime.datetime | None = None) -> int:
    """Create the occurrence of every recurring period due by `now` not created yet. Safe to run twice."""
    now = now or timezone.now()
    created = 0
    schedules = (
        MeasureSchedule.objects.filter(kind=ScheduleKind.RECURRING, active=True)
        .select_related("clinic")
        .annotate(last_due=Max("occurrences__due_at"))
    )
    for schedule in schedules:
        if schedule.starts_on is None or not schedule.every_days:
            continue  # held by the mschedule_kind_fields constraint
        every = datetime.timedelta(days=schedule.every_days)
        last_due: datetime.datetime | None = schedule.last_due  # type: ignore[attr-defined]
        day = schedule.starts_on
        if last_due is not None:
            day = max(day, timezone.localdate(last_due, schedule.clinic.zone) + every)
        rows = []
        while (schedule.until is None or day <= schedule.until) and period_due_at(schedule, day) <= now:
            rows.append(
                ScheduleOccurrence(
                    clinic_id=schedule.clinic_id,
                    schedule=schedule,
                    anchor_ref=f"{PERIOD_PREFIX}{day.isoformat()}",
                    due_at=period_due_at(schedule, day),
                )
            )
            day += every
        if rows:
            created += len(ScheduleOccurrence.objects.bulk_create(rows, ignore_conflicts=True))
    return created


# --- The anchor: clinical events reported by other domains --------------------------------------


@transaction.atomic
def clinical_event(
    clinic: Clinic,
    patient: Patient,
    event_type: str,
    occurred_at: datetime.datetime,
    ref: str,
    starts_at: datetime.datetime | None = None,
) -> list[ScheduleOccurrence]:
    """Report a clinical event; returns the occurrences the patient's schedules owe for it.

    Contract for the domains that emit events (treatments, scheduling):

    - Call it inside the transaction that records the event (it joins it: if that rolls back, so do
      the occurrences; nothing is sent before commit — the sweep sends).
    - `event_type` is one of `AnchorEvent`: "session.scheduled" (a treatment session was booked or
      moved; `starts_at`, the session's start, is required; due `offset_hours` before it),
      "session.completed" (due `offset_hours` after `occurred_at`), "series.completed" (the last
      session of a series; due `offset_hours` after `occurred_at`, e.g. 168 for 7 days).
    - `ref` names the event's source, stable and unique within the clinic, at most 100 characters,
      e.g. "treatment-session:123" or "treatment-series:7".
    - Idempotent: the same (event_type, ref) again never makes a second occurrence. For an
      occurrence not yet sent, a repeat moves its due time (a rescheduled session); once sent or
      skipped, a repeat changes nothing. A cancelled session: `withdraw_clinical_event`.
    - Only the patient's active anchored schedules of that type, in that clinic, are considered;
      none is not an error. Times must be timezone-aware. A session booked later than the offset is
      due at once; one that already started owes nothing.
    - Raises ValueError for an unknown event type, a patient of another clinic, a bad ref or naive
      times: programming errors of the caller, not user input.
    """
    event = _check_event(clinic, patient, event_type, ref)
    if timezone.is_naive(occurred_at) or (starts_at is not None and timezone.is_naive(starts_at)):
        raise ValueError("Event times must be timezone-aware.")
    if event == AnchorEvent.SESSION_SCHEDULED and starts_at is None:
        raise ValueError("session.scheduled needs the session's starts_at.")
    occurrences = []
    for schedule in MeasureSchedule.objects.filter(
        clinic=clinic, patient=patient, kind=ScheduleKind.ANCHORED, anchor_event=event, active=True
    ).order_by("id"):
        hours = datetime.timedelta(hours=schedule.offset_hours or 0)
        if starts_at is not None and event == AnchorEvent.SESSION_SCHEDULED:
            if starts_at <= occurred_at:
                continue
            due_at = max(starts_at - hours, occurred_at)
        else:
            due_at = occurred_at + hours
        try:
            with transaction.atomic():
                occurrence = ScheduleOccurrence.objects.create(
                    clinic=clinic, schedule=schedule, anchor_ref=ref, due_at=due_at
                )
        except IntegrityError:  # the same event again (or at the same moment, elsewhere)
            occurrence = ScheduleOccurrence.objects.select_for_update().get(schedule=schedule, anchor_ref=ref)
            unsent = occurrence.status == OccurrenceStatus.DUE and occurrence.request_id is None
            if unsent and occurrence.due_at != due_at:
                occurrence.due_at = due_at
                occurrence.save(update_fields=["due_at"])
        occurrences.append(occurrence)
    return occurrences


@transaction.atomic
def withdraw_clinical_event(clinic: Clinic, patient: Patient, event_type: str, ref: str) -> int:
    """The event will not happen after all (a cancelled session): unsent occurrences for it are skipped.
    Returns how many. Idempotent; call it in the transaction that cancels."""
    event = _check_event(clinic, patient, event_type, ref)
    return ScheduleOccurrence.objects.filter(
        clinic=clinic,
        schedule__patient=patient,
        schedule__anchor_event=event,
        anchor_ref=ref,
        status=OccurrenceStatus.DUE,
        request__isnull=True,
    ).update(status=OccurrenceStatus.SKIPPED, note="The event was withdrawn.")


def _check_event(clinic: Clinic, patient: Patient, event_type: str, ref: str) -> AnchorEvent:
    if event_type not in AnchorEvent.values:
        raise ValueError(f"Unknown clinical event {event_type!r}; expected one of {AnchorEvent.values}.")
    if patient.clinic_id != clinic.pk:
        raise ValueError("The patient is not in this clinic.")
    if not ref or len(ref) > MAX_REF_LENGTH or ref.startswith(PERIOD_PREFIX):
        raise ValueError(f"ref must be 1 to {MAX_REF_LENGTH} characters and name the event's source.")
    return AnchorEvent(event_type)


# --- The sweep -------------------------------------------------------------------------------------


def send_due_occurrences(now: datetime.datetime | None = None) -> tuple[int, int]:
    """Send every due occurrence of an active schedule (or skip it, saying why). Returns (sent, skipped).

    Safe to run twice and concurrently: each occurrence is locked and re-checked before acting."""
    now = now or timezone.now()
    due = list(
        ScheduleOccurrence.objects.filter(
            status=OccurrenceStatus.DUE, request__isnull=True, due_at__lte=now, schedule__active=True
        )
        .order_by("schedule_id", "due_at", "id")
        .values_list("pk", "schedule_id", "schedule__kind", "due_at")
    )
    latest: dict[int, datetime.datetime] = {}
    for _, schedule_id, kind, due_at in due:
        if kind == ScheduleKind.RECURRING:
            latest[schedule_id] = due_at
    sent = skipped = 0
    for pk, schedule_id, kind, due_at in due:
        skip = None
        if kind == ScheduleKind.RECURRING and due_at < latest[schedule_id]:
            skip = "A later period was due by the time it could be sent."
        elif kind == ScheduleKind.ANCHORED and due_at < now - links.LINK_LIFETIME:
            skip = "More than the link's lifetime late (the sweep was not running)."
        outcome = _settle(pk, now, skip=skip)
        sent += outcome == OccurrenceStatus.SENT
        skipped += outcome == OccurrenceStatus.SKIPPED
    return sent, skipped


def _settle(pk: int, now: datetime.datetime, skip: str | None) -> str:
    """Send one occurrence (skip=None), or skip it saying why. Returns the new status, "" if none."""
    with transaction.atomic():
        rows = ScheduleOccurrence.objects.filter(pk=pk, status=OccurrenceStatus.DUE, request__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        else:
            rows = rows.select_for_update()
        occurrence = rows.select_related("schedule__clinic", "schedule__patient").first()
        if occurrence is None or not occurrence.schedule.active:
            return ""
        schedule = occurrence.schedule
        patient = schedule.patient
        if skip is None and patient.status != PatientStatus.ACTIVE:
            skip = f"The patient is {patient.get_status_display().lower()}."
        if skip is None:
            try:
                row = links.send_scheduled_questionnaire(
                    patient, schedule.instrument_codes, schedule_id=schedule.pk, anchor_ref=occurrence.anchor_ref
                )
            except ValidationError as exc:
                skip = " ".join(exc.messages)[:200]
            else:
                occurrence.request = row
                occurrence.status = OccurrenceStatus.SENT
                occurrence.sent_at = now
                occurrence.save(update_fields=["request", "status", "sent_at"])
                return OccurrenceStatus.SENT
        occurrence.status = OccurrenceStatus.SKIPPED
        occurrence.note = skip[:200]
        occurrence.save(update_fields=["status", "note"])
        record_system(
            schedule.clinic,
            AuditAction.UPDATE,
            "measure_schedule.occurrence_skipped",
            subject=schedule,
            patient=patient,
            outcome=AuditOutcome.MINOR_FAILURE,
            detail={"anchor_ref": occurrence.anchor_ref, "due_at": occurrence.due_at, "reason": occurrence.note},
        )
        return OccurrenceStatus.SKIPPED


def schedule_sweep(now: datetime.datetime | None = None) -> dict[str, int]:
    """Materialise recurring periods, then send (or skip) everything due. Run by `tasks.alert_sweep`."""
    now = now or timezone.now()
    materialised = materialise_recurring(now)
    sent, skipped = send_due_occurrences(now)
    return {"occurrences_created": materialised, "scheduled_sent": sent, "scheduled_skipped": skipped}
