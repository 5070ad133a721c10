"""Questionnaire schedules: recurring every N days until a date, anchored to clinical events through
`schedules.clinical_event`, sent by the sweep once per period or event, catching up after downtime
without a flood, and who may create and stop them."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.measures import schedules
from ketacare.measures.models import (
    AnchorEvent,
    MeasureSchedule,
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


# --- Staff pages ---------------------------------------------------------------------------------


def _create_data(**overrides):
    return {
        "kind": "recurring",
        "instruments": ["phq9", "gad7"],
        "every_days": "14",
        "starts_on": (datetime.datetime.now(CHICAGO).date() + datetime.timedelta(days=1)).isoformat(),
        "until": "",
        "anchor_event": "",
        "offset_hours": "",
        **overrides,
    }


@pytest.mark.parametrize(
    ("persona", "allowed", "denied_status"),
    [
        ("ann", True, None),
        ("ada", True, None),
        ("ben", True, None),
        ("tess", True, None),
        ("cy", True, None),
        ("ivy", False, 403),
        ("aud", False, 403),
        ("dee", False, 404),
        ("anon", False, 302),
    ],
)
def test_who_may_create_and_stop_schedules(persona, allowed, denied_status, client_for, actors, jordan):
    existing = anchored(actors["ann"], jordan, AnchorEvent.SESSION_COMPLETED, hours=24)
    audit_before = AuditEvent.objects.filter(event_type__startswith="measure_schedule.").count()
    client = client_for(persona)
    created = client.post(reverse("measures-schedules-create", args=[jordan.pk]), _create_data())
    stopped = client.post(reverse("measures-schedules-stop", args=[existing.pk]))
    existing.refresh_from_db()
    if allowed:
        assert created.status_code == stopped.status_code == 302
        assert MeasureSchedule.objects.count() == 2
        assert not existing.active
        assert existing.stopped_by.email == f"{persona}@example.org"
        made = MeasureSchedule.objects.exclude(pk=existing.pk).get()
        assert (made.kind, made.every_days, made.instrument_codes) == ("recurring", 14, ["phq9", "gad7"])
        events = AuditEvent.objects.filter(event_type__startswith="measure_schedule.").order_by("id")
        assert [(e.event_type, e.actor.email) for e in events[audit_before:]] == [
            ("measure_schedule.created", f"{persona}@example.org"),
            ("measure_schedule.stopped", f"{persona}@example.org"),
        ]
    else:
        assert created.status_code == stopped.status_code == denied_status
        assert MeasureSchedule.objects.count() == 1
        assert existing.active
        assert existing.stopped_at is None
        assert AuditEvent.objects.filter(event_type__startswith="measure_schedule.").count() == audit_before


def test_the_form_names_each_bad_field_and_creates_nothing(client_for, jordan):
    client = client_for("ben")
    url = reverse("measures-schedules-create", args=[jordan.pk])
    page = client.post(url, _create_data(instruments=[], every_days="0", starts_on="2020-01-01"))
    assert page.status_code == 422
    body = page.content.decode()
    assert "The schedule was not created" in body
    assert "Questionnaires: This field is required." in body
    assert "Every (days): Ensure this value is greater than or equal to 1." in body
    past = client.post(url, _create_data(starts_on="2020-01-01"))
    assert past.status_code == 422
    assert "The first send cannot be in the past." in past.content.decode()
    anchored_page = client.post(url, _create_data(kind="anchored", offset_hours=""))
    assert anchored_page.status_code == 422
    text = anchored_page.content.decode()
    assert "Clinical event: Choose the clinical event" in text
    assert "Hours before a session, or after the event: Enter a number of hours" in text
    clinician_rated = client.post(url, _create_data(instruments=["madrs"]))
    assert clinician_rated.status_code == 422
    assert not MeasureSchedule.objects.exists()


def test_the_page_lists_schedules_with_next_due_and_last_sent(client_for, actors, jordan, clinic):
    schedule = recurring(actors["ben"], jordan, every=14, until=datetime.date(2026, 12, 31))
    anchored(actors["ben"], jordan, AnchorEvent.SERIES_COMPLETED, hours=168)
    sweep(at(START.date(), 9, 30))
    with time_machine.travel(at(START.date(), 10), tick=False):
        page = client_for("cy").get(reverse("measures-requests", args=[jordan.pk])).content.decode()
    assert page.count('data-testid="schedule-row"') == 2
    assert "Every 14 days from 2026-03-02 until 2026-12-31" in page
    assert "After the last session of a series: 168 h after" in page
    assert "2026-03-16 09:00" in page  # next due, clinic time
    assert "2026-03-02 09:30" in page  # last sent
    assert "At the next event" in page
    assert "automatically, by a schedule" in page
    listed = AuditEvent.objects.filter(event_type="questionnaire_request.listed").last()
    assert schedule.pk in listed.detail["schedules"]


def test_a_double_clicked_create_makes_one_schedule(client_for, jordan):
    client = client_for("ben")
    data = _create_data(form_token="6f1c2a52-8d7e-4a3b-9c61-1f2e3d4c5b6a")
    client.post(reverse("measures-schedules-create", args=[jordan.pk]), data)
    client.post(reverse("measures-schedules-create", args=[jordan.pk]), data)
    assert MeasureSchedule.objects.count() == 1
