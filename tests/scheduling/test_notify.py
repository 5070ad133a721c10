"""Visit messages (issue #8): the confirmation with the protocol's preparation instructions, the
reminders at the clinic's times, withdrawal and notices on move and cancel, and the sweep that sends
what is due (email and the pluggable SMS sender), keeping failures for the next run."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core import mail

from ketacare.patients.models import Patient
from ketacare.scheduling import booking, notify, prep
from ketacare.scheduling.models import AppointmentMessage, Channel, MessageKind, settings_for
from tests.scheduling.conftest import at

pytestmark = pytest.mark.django_db


class RecordingSms:
    sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> None:
        RecordingSms.sent.append((to, body))


class FailingSms:
    def send(self, to: str, body: str) -> None:
        raise ConnectionError("provider down")


@pytest.fixture(autouse=True)
def recording_sms(settings: Any) -> type[RecordingSms]:
    RecordingSms.sent = []
    settings.KETACARE_SMS_SENDER = "tests.scheduling.test_notify.RecordingSms"
    return RecordingSms


@pytest.fixture
def emailed(iv_plan: Any) -> Patient:
    patient: Patient = iv_plan.patient
    Patient.objects.filter(pk=patient.pk).update(email="jordan@example.org")
    patient.refresh_from_db()
    iv_plan.patient = patient
    return patient


def book_iv(actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], when: datetime.datetime) -> Any:
    return booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=when,
        plan=iv_plan,
    )


def messages_of(appointment: Any, **filters: Any) -> list[AppointmentMessage]:
    return list(AppointmentMessage.objects.filter(appointment=appointment, **filters).order_by("due_at", "channel"))


def test_booking_a_dosing_visit_queues_confirmation_with_protocol_values_and_two_reminders(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], emailed: Patient
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))  # Friday 09:00, 98 hours ahead
    rows = messages_of(visit)
    kinds = sorted((m.kind, m.channel) for m in rows)
    assert kinds == sorted(
        [(k, c) for k in ("confirmation", "reminder", "reminder") for c in (Channel.EMAIL, Channel.SMS)]
    )
    confirmation = [m for m in rows if m.kind == MessageKind.CONFIRMATION]
    assert all(m.due_at == at(0, "07:00") for m in confirmation)
    reminders = sorted({m.due_at for m in rows if m.kind == MessageKind.REMINDER})
    assert reminders == [at(4, "09:00") - datetime.timedelta(hours=72), at(4, "09:00") - datetime.timedelta(hours=24)]

    email = next(m for m in confirmation if m.channel == Channel.EMAIL)
    assert email.to == "jordan@example.org"
    assert "Friday 27 November 2026 at 9:00 AM" in email.body
    assert "Main Street" in email.body
    assert "No food for 6 hours before your visit." in email.body  # 360 minutes
    assert "No liquids for 2 hours before your visit." in email.body  # 120 minutes
    assert prep.ESCORT in email.body
    assert prep.MEDICINES in email.body
    assert "IV ketamine infusion" in email.body  # an email may name the visit type
    assert email.subject.startswith("Your visit on Fri 27 Nov")
    assert "Jordan" in email.body
    assert "Avery" not in email.body

    sms = next(m for m in confirmation if m.channel == Channel.SMS)
    assert sms.to == "(312) 555-0142"
    assert "your treatment visit" in sms.body
    assert "ketamine" not in sms.body.lower()
    assert "infusion" not in sms.body.lower()
    assert "Reply C to confirm or X to cancel" in sms.body
    assert "No food for 6 hours" in sms.body

    # The reply link: only its SHA-256 is stored on the visit.
    visit.refresh_from_db()
    token = email.body.split("/visit/")[1].split("/")[0]
    assert notify.hash_token(token) == visit.reply_token_hash
    assert token not in visit.reply_token_hash
    assert f"/visit/{token}/" in sms.body


def test_a_visit_booked_hours_ahead_gets_no_reminder_in_the_past(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], emailed: Patient
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(0, "16:30"))  # 9.5 hours after 07:00: the 24 h reminder is past
    rows = messages_of(visit)
    assert {m.kind for m in rows} == {MessageKind.CONFIRMATION}
    assert len(rows) == 2


def test_clinic_switches_and_missing_contacts_limit_the_channels(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], clinic: Any
) -> None:
    rules = settings_for(clinic)
    rules.remind_by_sms = False
    rules.reminder_hours = [48]
    rules.save()
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    assert messages_of(visit) == []  # no e-mail address, SMS switched off

    rules.remind_by_sms = True
    rules.save()
    booking.cancel(actors["cy"], visit, reason="test")
    other = book_iv(actors, iv_plan, iv_type, floor, at(4, "11:00"))
    assert sorted((m.kind, m.channel) for m in messages_of(other)) == [
        ("confirmation", "sms"),
        ("reminder", "sms"),
    ]


def test_moving_withdraws_the_unsent_and_queues_a_notice_and_fresh_reminders(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], emailed: Patient
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    notify.send_due_messages()  # the confirmations go
    visit.refresh_from_db()
    old_hash = visit.reply_token_hash
    booking.reschedule(actors["cy"], visit, starts_at=at(4, "13:00"))
    rows = messages_of(visit)
    sent = [m for m in rows if m.sent_at]
    withdrawn = [m for m in rows if m.cancelled_at]
    live = [m for m in rows if not m.sent_at and not m.cancelled_at]
    assert {m.kind for m in sent} == {MessageKind.CONFIRMATION}
    assert len(sent) == 2
    assert {m.kind for m in withdrawn} == {MessageKind.REMINDER}
    assert len(withdrawn) == 4
    assert sorted((m.kind, m.due_at) for m in live if m.channel == Channel.EMAIL) == [
        (MessageKind.CHANGE, at(0, "07:00")),
        (MessageKind.REMINDER, at(4, "13:00") - datetime.timedelta(hours=72)),
        (MessageKind.REMINDER, at(4, "13:00") - datetime.timedelta(hours=24)),
    ]
    change = next(m for m in live if m.kind == MessageKind.CHANGE and m.channel == Channel.SMS)
    assert "your visit has moved to Fri 27 Nov, 1:00 PM" in change.body
    visit.refresh_from_db()
    assert visit.reply_token_hash
    assert visit.reply_token_hash != old_hash


def test_cancelling_withdraws_and_notifies(
    actors: dict[str, Any], iv_plan: Any, iv_type: Any, floor: dict[str, Any], emailed: Patient
) -> None:
    visit = book_iv(actors, iv_plan, iv_type, floor, at(4, "09:00"))
    booking.cancel(actors["cy"], visit, reason="Patient called")
    rows = messages_of(visit)
    assert all(m.cancelled_at for m in rows if m.kind != MessageKind.CHANGE)
    changes = [m for m in rows if m.kind == MessageKind.CHANGE]
    assert len(changes) == 2
    assert not any(m.cancelled_at for m in changes)
    email = next(m for m in changes if m.channel == Channel.EMAIL)
    assert "is cancelled" in email.body
    assert "/visit/" not in email.body
    sent, failed = notify.send_due_messages()
    assert (sent, failed) == (2, 0)
    assert len(mail.outbox) == 1
    assert "cancelled" in mail.outbox[0].subject


def test_spravato_preparation_says_who_drives_and_never_invents_hold_instructions(
    spravato_plan: Any, floor: dict[str, Any]
) -> None:
    from ketacare.protocols.definitions import Protocol

    protocol = Protocol.model_validate(spravato_plan.protocol_snapshot)
    lines = prep.instructions_from(protocol)
    assert prep.SPRAVATO_ESCORT in lines
    assert lines[-1] == prep.MEDICINES
    assert not any("stop taking" in line.lower() or "hold" in line.lower() for line in lines)


def test_without_clinic_fasting_values_the_clinic_will_tell() -> None:
    from ketacare.protocols.definitions import Fasting

    class Fake:
        fasting = Fasting(no_food_minutes=None, no_liquids_minutes=None, source="x", clinic_set=("no_food_minutes",))

    assert prep.fasting_lines(Fake()) == [prep.NO_FASTING_VALUES]  # type: ignore[arg-type]
    assert prep.duration_words(90) == "1 hour 30 minutes"
    assert prep.duration_words(45) == "45 minutes"


def test_a_spravato_confirmation_gives_the_driving_rule_and_no_drug_name_by_text(
    actors: dict[str, Any], spravato_plan: Any, floor: dict[str, Any]
) -> None:
    Patient.objects.filter(pk=spravato_plan.patient_id).update(email="sam@example.org")
    visit = booking.book_visit(
        actors["cy"],
        patient=Patient.objects.get(pk=spravato_plan.patient_id),
        appointment_type=floor["types"]["spravato"],
        location=floor["location"],
        starts_at=at(2, "10:00"),
        plan=spravato_plan,
    )
    confirmation = messages_of(visit, kind=MessageKind.CONFIRMATION)
    email = next(m for m in confirmation if m.channel == Channel.EMAIL)
    sms = next(m for m in confirmation if m.channel == Channel.SMS)
    assert prep.SPRAVATO_ESCORT in email.body
    assert prep.SPRAVATO_ESCORT in sms.body
    assert "Hello Sam" in email.body
    for word in ("spravato", "esketamine", "ketamine", "depression"):
        assert word not in sms.body.lower()
    assert prep.MEDICINES in email.body
