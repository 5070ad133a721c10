"""Questionnaire schedules: recurring every N days until a date, anchored to clinical events through
`schedules.clinical_event`, sent by the sweep once per period or event, catching up after downtime
without a flood, and who may create and stop them."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine
from django.core import mail

from ketacare.audit.models import AuditEvent
from ketacare.measures import schedules
from ketacare.measures.models import (
    AnchorEvent,
    OccurrenceStatus,
    QuestionnaireRequest,
    ScheduleKind,
    ScheduleOccurrence,
)
from ketacare.measures.tasks import alert_sweep

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
START = datetime.datetime(2026, 3, 2, 8, 0, tzinfo=CHICAGO)  # a Monday, before 09:00 local


def at(day: datetime.date, hour: int = 9, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=CHICAGO)


def sweep(when: datetime.datetime, times: int = 1) -> None:
    with time_machine.travel(when, tick=False):
        for _ in range(times):
            alert_sweep.enqueue()


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.KETACARE_SMS_SENDER = "tests.measures.test_links.CollectingSender"


@pytest.fixture
def jordan(make_patient):
    return make_patient(email="jordan@example.net")


def recurring(actor, patient, *, every=14, starts_on=None, until=None, codes=("phq9",)):
    with time_machine.travel(START, tick=False):
        return schedules.create_schedule(
            actor,
            patient,
            codes=list(codes),
            kind=ScheduleKind.RECURRING,
            every_days=every,
            starts_on=starts_on or START.date(),
            until=until,
        )


def anchored(actor, patient, event=AnchorEvent.SESSION_SCHEDULED, hours=24, codes=("phq9",)):
    return schedules.create_schedule(
        actor, patient, codes=list(codes), kind=ScheduleKind.ANCHORED, anchor_event=event, offset_hours=hours
    )


def sent_requests(patient):
    return QuestionnaireRequest.objects.filter(patient=patient).order_by("created_at")


# --- Recurring -----------------------------------------------------------------------------------


def test_recurring_sends_once_per_period_at_nine_local(actors, jordan):
    schedule = recurring(actors["ben"], jordan, every=14, until=datetime.date(2026, 4, 30))
    sweep(at(START.date(), 8, 59), times=2)
    assert not sent_requests(jordan).exists()
    sweep(at(START.date(), 9, 0), times=2)
    assert sent_requests(jordan).count() == 1
    assert len(mail.outbox) == 1  # the invitation went out in the same sweep
    sweep(at(START.date() + datetime.timedelta(days=13), 23, 0), times=2)
    assert sent_requests(jordan).count() == 1
    sweep(at(START.date() + datetime.timedelta(days=14), 9, 5), times=2)
    assert sent_requests(jordan).count() == 2
    occurrences = list(ScheduleOccurrence.objects.filter(schedule=schedule))
    assert [o.anchor_ref for o in occurrences] == ["period:2026-03-02", "period:2026-03-16"]
    assert all(o.status == OccurrenceStatus.SENT and o.request_id for o in occurrences)
    # 09:00 Chicago is 15:00 UTC before DST (8 March 2026) and 14:00 UTC after it.
    assert [o.due_at.astimezone(datetime.UTC).hour for o in occurrences] == [15, 14]
    request = occurrences[0].request
    assert request.created_by is None
    created = AuditEvent.objects.get(event_type="questionnaire_request.created", subject_id=str(request.pk))
    assert created.actor is None
    assert created.actor_label == "KetaCare (automatic)"
    assert created.detail["schedule"] == schedule.pk
    assert created.detail["anchor_ref"] == "period:2026-03-02"


def test_recurring_stops_after_until(actors, jordan):
    recurring(actors["ben"], jordan, every=14, until=datetime.date(2026, 3, 20))
    for week in range(0, 10):
        sweep(at(START.date() + datetime.timedelta(days=7 * week), 10))
    assert sent_requests(jordan).count() == 2  # 2 March and 16 March; 30 March is after `until`
    assert ScheduleOccurrence.objects.count() == 2


def test_after_downtime_only_the_latest_period_is_sent_and_older_ones_skipped(actors, jordan):
    schedule = recurring(actors["ben"], jordan, every=7)
    sweep(at(START.date(), 9, 1))
    assert sent_requests(jordan).count() == 1
    # The worker is down for three and a half weeks.
    sweep(at(START.date() + datetime.timedelta(days=24), 12), times=2)
    assert sent_requests(jordan).count() == 2
    statuses = dict(ScheduleOccurrence.objects.filter(schedule=schedule).values_list("anchor_ref", "status"))
    assert statuses == {
        "period:2026-03-02": "sent",
        "period:2026-03-09": "skipped",
        "period:2026-03-16": "skipped",
        "period:2026-03-23": "sent",
    }
    assert AuditEvent.objects.filter(event_type="measure_schedule.occurrence_skipped").count() == 2


def test_a_stopped_schedule_sends_nothing(actors, jordan):
    schedule = recurring(actors["ben"], jordan, every=7)
    sweep(at(START.date(), 9, 1))
    with time_machine.travel(at(START.date(), 12), tick=False):
        schedules.stop_schedule(actors["tess"], schedule.pk)
    sweep(at(START.date() + datetime.timedelta(days=30), 12), times=2)
    assert sent_requests(jordan).count() == 1
    stop = AuditEvent.objects.get(event_type="measure_schedule.stopped")
    assert stop.actor.email == "tess@example.org"
    assert stop.subject_id == str(schedule.pk)


def test_a_patient_without_contact_details_is_skipped_and_audited(actors, make_patient):
    patient = make_patient(phone_mobile="")
    recurring(actors["ben"], patient, every=7)
    sweep(at(START.date(), 9, 1), times=2)
    occurrence = ScheduleOccurrence.objects.get()
    assert occurrence.status == OccurrenceStatus.SKIPPED
    assert "no e-mail address or mobile phone" in occurrence.note
    assert not sent_requests(patient).exists()
    assert AuditEvent.objects.filter(event_type="measure_schedule.occurrence_skipped", patient=patient).count() == 1


# --- Anchored ------------------------------------------------------------------------------------


def test_session_scheduled_twice_with_the_same_ref_makes_one_occurrence_due_24h_before(actors, jordan, clinic):
    schedule = anchored(actors["ben"], jordan, AnchorEvent.SESSION_SCHEDULED, hours=24)
    starts = at(datetime.date(2026, 3, 10), 10)
    booked = at(datetime.date(2026, 3, 2), 11)
    first = schedules.clinical_event(clinic, jordan, "session.scheduled", booked, "treatment-session:123", starts)
    again = schedules.clinical_event(clinic, jordan, "session.scheduled", booked, "treatment-session:123", starts)
    assert [o.pk for o in first] == [o.pk for o in again]
    occurrence = ScheduleOccurrence.objects.get()
    assert occurrence.schedule == schedule
    assert occurrence.due_at == starts - datetime.timedelta(hours=24)

    sweep(occurrence.due_at - datetime.timedelta(minutes=1))
    assert not sent_requests(jordan).exists()
    sweep(occurrence.due_at + datetime.timedelta(minutes=1), times=2)
    assert sent_requests(jordan).count() == 1
    occurrence.refresh_from_db()
    assert occurrence.status == OccurrenceStatus.SENT
    # The same event after the send changes nothing and sends nothing.
    schedules.clinical_event(clinic, jordan, "session.scheduled", booked, "treatment-session:123", starts)
    sweep(starts, times=2)
    assert sent_requests(jordan).count() == 1


def test_a_rescheduled_session_moves_the_unsent_occurrence(actors, jordan, clinic):
    anchored(actors["ben"], jordan, AnchorEvent.SESSION_SCHEDULED, hours=24)
    booked = at(datetime.date(2026, 3, 2), 11)
    schedules.clinical_event(clinic, jordan, "session.scheduled", booked, "s:1", at(datetime.date(2026, 3, 10), 10))
    moved = at(datetime.date(2026, 3, 12), 10)
    schedules.clinical_event(clinic, jordan, "session.scheduled", booked, "s:1", moved)
    assert ScheduleOccurrence.objects.get().due_at == moved - datetime.timedelta(hours=24)
    assert schedules.withdraw_clinical_event(clinic, jordan, "session.scheduled", "s:1") == 1
    sweep(moved, times=2)
    assert not sent_requests(jordan).exists()


def test_after_a_session_and_after_a_series(actors, jordan, clinic):
    anchored(actors["ben"], jordan, AnchorEvent.SESSION_COMPLETED, hours=24)
    anchored(actors["ben"], jordan, AnchorEvent.SERIES_COMPLETED, hours=168, codes=("phq9", "gad7"))
    done = at(datetime.date(2026, 3, 2), 13)
    schedules.clinical_event(clinic, jordan, AnchorEvent.SESSION_COMPLETED, done, "treatment-session:9")
    schedules.clinical_event(clinic, jordan, AnchorEvent.SERIES_COMPLETED, done, "treatment-series:4")
    sweep(done + datetime.timedelta(hours=24, minutes=1))
    assert [r.instrument_codes for r in sent_requests(jordan)] == [["phq9"]]
    sweep(done + datetime.timedelta(days=7, minutes=1), times=2)
    assert [r.instrument_codes for r in sent_requests(jordan)] == [["phq9"], ["phq9", "gad7"]]


def test_events_for_other_patients_clinics_or_types_are_ignored(actors, jordan, make_patient, clinic, other_clinic):
    anchored(actors["ben"], jordan, AnchorEvent.SESSION_COMPLETED, hours=0)
    other = make_patient(legal_first_name="Casey", email="casey@example.net")
    outsider = make_patient(as_="dee", legal_first_name="Morgan", email="m@example.net")
    anchored(actors["dee"], outsider, AnchorEvent.SESSION_COMPLETED, hours=0)
    now = at(datetime.date(2026, 3, 2), 13)
    assert schedules.clinical_event(clinic, other, "session.completed", now, "treatment-session:1") == []
    assert schedules.clinical_event(clinic, jordan, "series.completed", now, "treatment-series:1") == []
    with pytest.raises(ValueError, match="not in this clinic"):
        schedules.clinical_event(clinic, outsider, "session.completed", now, "treatment-session:2")
    with pytest.raises(ValueError, match="Unknown clinical event"):
        schedules.clinical_event(clinic, jordan, "session.cancelled", now, "treatment-session:3")
    sweep(now + datetime.timedelta(hours=1), times=2)
    assert not QuestionnaireRequest.objects.exists()


def test_an_anchored_send_more_than_a_link_lifetime_late_is_skipped(actors, jordan, clinic):
    anchored(actors["ben"], jordan, AnchorEvent.SESSION_COMPLETED, hours=24)
    done = at(datetime.date(2026, 3, 2), 13)
    schedules.clinical_event(clinic, jordan, "session.completed", done, "treatment-session:5")
    sweep(done + datetime.timedelta(days=5))
    occurrence = ScheduleOccurrence.objects.get()
    assert occurrence.status == OccurrenceStatus.SKIPPED
    assert not sent_requests(jordan).exists()


def test_a_stopped_anchored_schedule_owes_nothing(actors, jordan, clinic):
    schedule = anchored(actors["ben"], jordan, AnchorEvent.SESSION_COMPLETED, hours=1)
    done = at(datetime.date(2026, 3, 2), 13)
    schedules.clinical_event(clinic, jordan, "session.completed", done, "treatment-session:5")
    schedules.stop_schedule(actors["ben"], schedule.pk)
    assert schedules.clinical_event(clinic, jordan, "session.completed", done, "treatment-session:6") == []
    sweep(done + datetime.timedelta(hours=2), times=2)
    assert not QuestionnaireRequest.objects.exists()
    assert ScheduleOccurrence.objects.get().status == OccurrenceStatus.SKIPPED


def test_the_event_joins_the_callers_transaction(actors, jordan, clinic):
    from django.db import transaction

    anchored(actors["ben"], jordan, AnchorEvent.SESSION_COMPLETED, hours=1)

    @transaction.atomic
    def complete_session_then_fail() -> None:
        schedules.clinical_event(clinic, jordan, "session.completed", at(START.date(), 13), "treatment-session:7")
        raise RuntimeError("the session's own write failed")

    with pytest.raises(RuntimeError):
        complete_session_then_fail()
    assert not ScheduleOccurrence.objects.exists()
