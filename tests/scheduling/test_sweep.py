"""The sweep (issue #8): sends only what is due (move the clock), once; a failing SMS sender leaves
the message pending with its error and the next sweep sends it; the pluggable sender is used;
booking enqueues sending on commit; a reminder whose visit has started is withdrawn, not sent late;
`manage.py scheduling_sweep` prints its counts and can hand the sweep to the worker."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import Patient
from ketacare.scheduling import booking, notify
from ketacare.scheduling.models import MessageKind
from tests.scheduling.conftest import at
from tests.scheduling.test_notify import RecordingSms, book_iv, emailed, messages_of, recording_sms  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


def test_the_sweep_sends_only_what_is_due_and_audits_each(
    actors: dict[str, Any],
    iv_plan: Any,
    iv_type: Any,
    floor: dict[str, Any],
    emailed: Patient,  # noqa: F811
    clock: Any,
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    assert notify.send_due_messages() == (2, 0)
    assert len(mail.outbox) == 1
    assert len(RecordingSms.sent) == 1
    assert RecordingSms.sent[0][0] == "(312) 555-0142"
    assert notify.send_due_messages() == (0, 0)  # nothing else due yet
    clock.move_to(at(1, "09:00"))  # 72 hours before
    assert notify.send_due_messages() == (2, 0)
    assert "Reminder" in mail.outbox[1].subject
    clock.move_to(at(3, "09:00"))
    buffer = StringIO()
    call_command("scheduling_sweep", stdout=buffer)
    assert "sent 2, failed 0" in buffer.getvalue()
    buffer = StringIO()
    call_command("scheduling_sweep", stdout=buffer)  # run again: nothing twice
    assert "sent 0, failed 0" in buffer.getvalue()
    assert all(m.sent_at for m in messages_of(visit))
    events = AuditEvent.objects.filter(event_type="appointment.message_sent", subject_id=str(visit.pk))
    assert events.count() == 6
    assert events.first().actor_label == "KetaCare (automatic)"  # type: ignore[union-attr]


def test_a_failing_sms_stays_pending_with_its_error_and_the_next_sweep_sends_it(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], settings: Any
) -> None:
    settings.KETACARE_SMS_SENDER = "tests.scheduling.test_notify.FailingSms"
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    assert notify.send_due_messages() == (0, 1)
    row = messages_of(visit, kind=MessageKind.CONFIRMATION)[0]
    assert row.sent_at is None
    assert row.attempts == 1
    assert "provider down" in row.last_error
    assert AuditEvent.objects.filter(event_type="appointment.message_failed", subject_id=str(visit.pk)).count() == 1

    settings.KETACARE_SMS_SENDER = "tests.scheduling.test_notify.RecordingSms"
    assert notify.send_due_messages() == (1, 0)
    row.refresh_from_db()
    assert row.sent_at is not None
    assert row.attempts == 2
    assert len(RecordingSms.sent) == 1


def test_booking_enqueues_sending_on_commit(
    actors: dict[str, Any],
    iv_plan: Any,
    iv_type: Any,
    floor: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        booking.book_series(
            actors["cy"],
            plan=iv_plan,
            appointment_type=iv_type,
            location=floor["location"],
            starts=[at(1, "09:00"), at(3, "09:00")],
        )
    assert len(callbacks) == 1  # one send for the whole series
    assert len(RecordingSms.sent) == 2  # both confirmations went at once (tests run tasks immediately)
    assert all("Reply C to confirm" in body for _, body in RecordingSms.sent)


def test_stale_reminders_are_withdrawn_not_sent_late(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], clock: Any
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    clock.move_to(at(4, "10:00"))  # the worker was down for days: the visit has started
    buffer = StringIO()
    call_command("scheduling_sweep", stdout=buffer)
    assert "sent 0, failed 0, withdrawn 3" in buffer.getvalue()
    assert RecordingSms.sent == []
    assert all(m.cancelled_at for m in messages_of(visit))


def test_the_configured_sender_class_is_the_one_used(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], settings: Any
) -> None:
    settings.KETACARE_SMS_SENDER = "tests.scheduling.test_sweep.OtherSms"
    OtherSms.sent = []
    book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    assert notify.send_due_messages() == (1, 0)
    assert len(OtherSms.sent) == 1
    assert RecordingSms.sent == []


def test_the_command_can_hand_the_sweep_to_the_worker(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any]
) -> None:
    book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    buffer = StringIO()
    call_command("scheduling_sweep", "--enqueue", stdout=buffer)  # tests run tasks immediately
    assert "scheduling sweep enqueued" in buffer.getvalue()
    assert len(RecordingSms.sent) == 1


class OtherSms:
    sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> None:
        OtherSms.sent.append((to, body))
