"""The session spine: booking from a plan or an order, check-in, cancel, stop early, the timeline,
the lock, and the anchor events for the measures domain."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.sessions import core
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import Addendum, SessionEvent, SessionLockedError, TreatmentSession, VitalSigns
from tests.sessions.conftest import START, advance


def test_booking_from_a_signed_plan_takes_its_dose_protocol_and_next_number(actors, iv_plan, iv_session, chair):
    assert iv_session.state == State.SCHEDULED
    assert iv_session.sequence == 1
    assert iv_session.planned_dose_mg == Decimal("40")
    assert iv_session.route == "iv"
    assert iv_session.protocol.route == "intravenous"
    assert iv_session.protocol_snapshot == iv_plan.protocol_snapshot
    second = core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START + datetime.timedelta(days=3))
    assert second.sequence == 2
    with pytest.raises(ValidationError) as err:
        core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START, sequence=1)
    assert "sequence" in err.value.message_dict
    assert [e.kind for e in iv_session.events.all()] == ["created"]


def test_spravato_day_one_is_56_mg(spravato_session):
    assert spravato_session.planned_dose_mg == Decimal("56")
    assert spravato_session.is_spravato


def test_only_signed_plans_and_only_allowed_roles_book(actors, iv_plan, patient, iv_version, dee_prescriber):
    with pytest.raises(PermissionDenied):
        core.create_from_plan(actors["tess"], iv_plan, scheduled_at=START)
    with pytest.raises(PermissionDenied):
        core.order_session(
            actors["ben"], patient, protocol_version=iv_version, dose_mg=Decimal("35"), reason="x", scheduled_at=START
        )
    with pytest.raises(Http404):
        core.create_from_plan(dee_prescriber, iv_plan, scheduled_at=START)


def test_a_prescribers_one_off_order_needs_a_reason_and_a_published_protocol(actors, patient, iv_version):
    with pytest.raises(ValidationError) as err:
        core.order_session(
            actors["ada"], patient, protocol_version=iv_version, dose_mg=Decimal("35"), reason=" ", scheduled_at=START
        )
    assert "reason" in err.value.message_dict
    session = core.order_session(
        actors["ada"],
        patient,
        protocol_version=iv_version,
        dose_mg=Decimal("35"),
        reason="Booster after relapse",
        scheduled_at=START,
    )
    assert session.plan is None
    assert session.ordered_by == actors["ada"].user
    assert session.route == "iv"


def test_check_in_cancel_and_the_timeline(actors, iv_session, clock):
    core.check_in(actors["cy"], iv_session)
    iv_session.refresh_from_db()
    assert iv_session.state == State.CHECKED_IN
    assert iv_session.checked_in_at == START
    advance(clock, 5)
    with pytest.raises(ValidationError):
        core.cancel(actors["cy"], iv_session, "")
    core.cancel(actors["cy"], iv_session, "Patient unwell today")
    iv_session.refresh_from_db()
    assert iv_session.state == State.CANCELLED
    assert iv_session.cancel_reason == "Patient unwell today"
    steps = [(e.from_state, e.to_state) for e in core.timeline(iv_session) if e.kind == "state"]
    assert steps == [("scheduled", "checked_in"), ("checked_in", "cancelled")]
    assert AuditEvent.objects.filter(event_type="session.cancelled").count() == 1
    with pytest.raises(core.SessionLocked):
        core.check_in(actors["cy"], iv_session)


def test_a_dosed_session_cannot_be_cancelled_only_stopped_with_a_reason(actors, iv_session):
    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_session, "session.chart")
        for target in (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING):
            core.transition(actors["ben"], s, target)
    with pytest.raises(ValidationError) as err:
        core.cancel(actors["ben"], iv_session, "changed mind")
    assert "stop the session early" in str(err.value)
    core.stop_early(actors["ben"], iv_session, "Vomiting; infusion stopped at 20 minutes")
    iv_session.refresh_from_db()
    assert iv_session.state == State.STOPPED_EARLY


def test_a_signed_session_refuses_every_change_and_accepts_addenda(actors, iv_session):
    TreatmentSession.objects.filter(pk=iv_session.pk)
    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_session, "session.chart")
        for target in (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.STOPPED_EARLY):
            core.transition(actors["ben"], s, target, reason="test")
        core.transition(actors["ben"], s, State.SIGNED)
    iv_session.refresh_from_db()
    with pytest.raises(core.SessionLocked):
        core.assign_chair(actors["cy"], iv_session, None)
    iv_session.end_reason = "edited"
    with pytest.raises(SessionLockedError):
        iv_session.save()
    with pytest.raises(SessionLockedError):
        VitalSigns.objects.create(
            clinic=iv_session.clinic,
            session=iv_session,
            phase="after",
            taken_at=START,
            heart_rate=80,
            recorded_by=actors["ben"].user,
        )
    Addendum.objects.create(
        clinic=iv_session.clinic, session=iv_session, text="Late entry", author=actors["ben"].user, author_label="Ben"
    )
    event = SessionEvent.objects.filter(session=iv_session).first()
    with pytest.raises(SessionLockedError):
        event.save()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL trigger")
def test_postgresql_refuses_changes_to_a_signed_session_even_bypassing_the_models(actors, iv_session):
    from django.db import DatabaseError

    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_session, "session.chart")
        for target in (State.CHECKED_IN, State.CANCELLED):
            core.transition(actors["ben"], s, target, reason="test")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE treatment_sessions_treatmentsession SET cancel_reason = 'x' WHERE id = %s", [iv_session.pk]
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM treatment_sessions_sessionevent WHERE session_id = %s", [iv_session.pk])


def _complete(actors, session, *, at_state=State.DISCHARGED):
    with transaction.atomic():
        s = core.locked_session(actors["ben"], session, "session.chart")
        path = [State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.OBSERVATION]
        path += [State.READY_FOR_DISCHARGE, State.DISCHARGED] if at_state is State.DISCHARGED else [State.STOPPED_EARLY]
        for target in path:
            core.transition(actors["ben"], s, target, reason="test")


def test_events_feed_the_measures_schedules(actors, iv_plan, iv_session, clock):
    from ketacare.measures.models import ScheduleOccurrence
    from ketacare.measures.schedules import create_schedule

    create_schedule(
        actors["ben"],
        iv_plan.patient,
        codes=["phq9"],
        kind="anchored",
        anchor_event="session.completed",
        offset_hours=24,
    )
    create_schedule(
        actors["ben"],
        iv_plan.patient,
        codes=["phq9"],
        kind="anchored",
        anchor_event="series.completed",
        offset_hours=168,
    )
    booked = core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START + datetime.timedelta(days=2))
    advance(clock, 60)
    _complete(actors, iv_session)
    after_session = ScheduleOccurrence.objects.get(anchor_ref=iv_session.ref)
    assert after_session.due_at == START + datetime.timedelta(minutes=60, hours=24)
    assert not ScheduleOccurrence.objects.filter(anchor_ref=f"treatment-series:{iv_plan.pk}").exists()
    # The last of the six planned sessions completes the series (sessions 2-5 done meanwhile).
    for n in range(3, 7):
        core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START + datetime.timedelta(days=2 * n), sequence=n)
    for s in TreatmentSession.objects.filter(plan=iv_plan).exclude(pk=iv_session.pk).order_by("sequence"):
        _complete(actors, s, at_state=State.DISCHARGED if s.sequence != 4 else State.STOPPED_EARLY)
    assert ScheduleOccurrence.objects.filter(anchor_ref=f"treatment-series:{iv_plan.pk}").count() == 1
    assert booked.sequence == 2


def test_cancelling_withdraws_the_pre_session_questionnaire(actors, iv_plan, clock):
    from ketacare.measures.models import ScheduleOccurrence
    from ketacare.measures.schedules import create_schedule

    create_schedule(
        actors["ben"],
        iv_plan.patient,
        codes=["phq9"],
        kind="anchored",
        anchor_event="session.scheduled",
        offset_hours=24,
    )
    later = core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START + datetime.timedelta(days=3))
    assert ScheduleOccurrence.objects.filter(anchor_ref=later.ref).count() == 1
    core.cancel(actors["cy"], later, "Patient asked to move it")
    assert not ScheduleOccurrence.objects.filter(anchor_ref=later.ref, status="due").exists()
