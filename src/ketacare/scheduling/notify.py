"""Messages to the patient about a visit (issue #8): the confirmation with the protocol's preparation
instructions, reminders at the clinic's times, and a notice when a visit moves or is cancelled.

Each is an `AppointmentMessage` outbox row written in the booking's transaction (so a booking that
rolls back leaves no message, and a booking that commits cannot lose one); `send_due_messages`
sends what is due through `measures.outbox.drain`: email with `send_mail`, text messages through the
pluggable SMS sender (`measures.sms.get_sms_sender`). It runs on commit as a background task and
every minute from `manage.py scheduling_sweep`, so nothing is lost while the worker is down: a
failure stays pending with its error and the next run sends it.

What a message says (templates/scheduling/messages/): the patient's first name only; a text message
names no diagnosis and no drug ("your treatment visit"); an email may name the visit type. The
confirmation, the reminders and a move notice carry the patient's reply link `/visit/<token>/`;
only the token's SHA-256 is kept on the appointment (`reply_token_hash`). A move issues a new token:
the old link stops working and the patient confirms the new time.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record_system
from ketacare.clinics.models import Location
from ketacare.measures.outbox import drain
from ketacare.measures.sms import get_sms_sender
from ketacare.scheduling import prep
from ketacare.scheduling.models import (
    Appointment,
    AppointmentMessage,
    AppointmentState,
    Channel,
    MessageKind,
    ScheduleSettings,
    new_token,
    settings_for,
)

logger = logging.getLogger(__name__)


# --- words -------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def reply_url(token: str) -> str:
    return f"{settings.KETACARE_BASE_URL.rstrip('/')}{reverse('scheduling-visit', args=[token])}"


def first_name(appointment: Appointment) -> str:
    patient = appointment.patient
    return patient.preferred_name or patient.legal_first_name


def clock_words(moment: datetime.datetime) -> str:
    """9:00 AM, 2:30 PM."""
    return moment.strftime("%I:%M %p").lstrip("0")


def when_words(appointment: Appointment, moment: datetime.datetime | None = None) -> str:
    """'Tuesday 24 November 2026 at 9:00 AM' in the clinic's zone."""
    local = timezone.localtime(moment or appointment.starts_at, appointment.clinic.zone)
    return f"{local:%A} {local.day} {local:%B %Y} at {clock_words(local)}"


def short_when(appointment: Appointment, moment: datetime.datetime | None = None) -> str:
    """'Tue 24 Nov, 9:00 AM' in the clinic's zone."""
    local = timezone.localtime(moment or appointment.starts_at, appointment.clinic.zone)
    return f"{local:%a} {local.day} {local:%b}, {clock_words(local)}"


def address_of(location: Location) -> str:
    city = " ".join(p for p in (location.state, location.postal_code) if p)
    parts = [location.address_line1, location.address_line2, ", ".join(p for p in (location.city, city) if p)]
    return ", ".join(p for p in parts if p)


def visit_words(appointment: Appointment) -> str:
    """How a text message names the visit: never the drug or the diagnosis."""
    return "treatment visit" if appointment.appointment_type.is_dosing else "visit"


def _context(appointment: Appointment, token: str | None) -> dict[str, Any]:
    return {
        "first_name": first_name(appointment),
        "clinic_name": appointment.clinic.name,
        "when": when_words(appointment),
        "when_short": short_when(appointment),
        "previous_when": when_words(appointment, appointment.rescheduled_from) if appointment.rescheduled_from else "",
        "previous_short": short_when(appointment, appointment.rescheduled_from) if appointment.rescheduled_from else "",
        "zone": str(appointment.clinic.zone),
        "place": appointment.location.name,
        "address": address_of(appointment.location),
        "phone": appointment.location.phone,
        "type_name": appointment.appointment_type.name,
        "visit": visit_words(appointment),
        "is_dosing": appointment.appointment_type.is_dosing,
        "instructions": prep.instructions_for(appointment),
        "sms_instructions": prep.sms_instructions_for(appointment),
        "url": reply_url(token) if token else "",
    }


def render_message(kind: str, channel: str, context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) from templates/scheduling/messages/<kind>_<channel>.txt; an email template's
    first line is `Subject: ...`."""
    text = render_to_string(f"scheduling/messages/{kind}_{channel}.txt", context).strip()
    subject = ""
    if channel == Channel.EMAIL and text.startswith("Subject:"):
        first, _, text = text.partition("\n")
        subject = first.removeprefix("Subject:").strip()
    lines = [line.rstrip() for line in text.strip().splitlines()]
    body = "\n".join(lines)
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return subject[:200], body.strip() + "\n"


# --- queueing ----------------------------------------------------------------------------------


def media_of(appointment: Appointment, rules: ScheduleSettings) -> list[tuple[str, str]]:
    """(channel, address) pairs the patient can be reached on and the clinic sends by."""
    patient = appointment.patient
    found: list[tuple[str, str]] = []
    if rules.remind_by_email and patient.email:
        found.append((Channel.EMAIL.value, patient.email))
    if rules.remind_by_sms and patient.phone_mobile:
        found.append((Channel.SMS.value, patient.phone_mobile))
    return found


def reminder_hours(rules: ScheduleSettings) -> list[int]:
    """The clinic's reminder times, cleaned: whole positive hours, each once, earliest reminder first."""
    hours: set[int] = set()
    for value in rules.reminder_hours or []:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if number > 0:
            hours.add(number)
    return sorted(hours, reverse=True)


def _queue(
    appointment: Appointment,
    kind: MessageKind,
    due_at: datetime.datetime,
    media: list[tuple[str, str]],
    context: dict[str, Any],
) -> list[AppointmentMessage]:
    rows = []
    for channel, to in media:
        subject, body = render_message(kind.value, channel, context)
        rows.append(
            AppointmentMessage.objects.create(
                clinic_id=appointment.clinic_id,
                appointment=appointment,
                kind=kind,
                channel=channel,
                due_at=due_at,
                to=to,
                subject=subject,
                body=body,
            )
        )
    return rows


def _queue_reminders(
    appointment: Appointment, rules: ScheduleSettings, media: list[tuple[str, str]], context: dict[str, Any]
) -> None:
    now = timezone.now()
    for hours in reminder_hours(rules):
        due = appointment.starts_at - datetime.timedelta(hours=hours)
        if due > now:
            _queue(appointment, MessageKind.REMINDER, due, media, {**context, "hours": hours})


def _new_reply_token(appointment: Appointment, *, reset_confirmation: bool = False) -> str:
    token = new_token()
    appointment.reply_token_hash = hash_token(token)
    fields = ["reply_token_hash"]
    if reset_confirmation:
        appointment.patient_confirmed_at = None
        fields.append("patient_confirmed_at")
    Appointment.objects.filter(pk=appointment.pk).update(**{f: getattr(appointment, f) for f in fields})
    return token


def withdraw_unsent(appointment: Appointment) -> int:
    """Withdraw the visit's messages not sent yet (they stay, for the record, with `cancelled_at`)."""
    return AppointmentMessage.objects.filter(
        appointment=appointment, sent_at__isnull=True, cancelled_at__isnull=True
    ).update(cancelled_at=timezone.now())


def booked(appointment: Appointment) -> None:
    """Queue the confirmation (with preparation instructions) and the reminders of a new visit."""
    rules = settings_for(appointment.clinic)
    token = _new_reply_token(appointment)
    media = media_of(appointment, rules)
    if not media:
        return
    context = _context(appointment, token)
    _queue(appointment, MessageKind.CONFIRMATION, timezone.now(), media, context)
    _queue_reminders(appointment, rules, media, context)
    send_after_commit()


def moved(appointment: Appointment) -> None:
    """Withdraw the visit's unsent reminders, queue new ones and a notice of the new time."""
    withdraw_unsent(appointment)
    rules = settings_for(appointment.clinic)
    token = _new_reply_token(appointment, reset_confirmation=True)
    media = media_of(appointment, rules)
    if not media:
        return
    context = _context(appointment, token)
    _queue(appointment, MessageKind.CHANGE, timezone.now(), media, {**context, "change": "moved"})
    _queue_reminders(appointment, rules, media, context)
    send_after_commit()


def cancelled(appointment: Appointment) -> None:
    """Withdraw the visit's unsent reminders and queue a cancellation notice."""
    withdraw_unsent(appointment)
    media = media_of(appointment, settings_for(appointment.clinic))
    if not media:
        return
    context = _context(appointment, None)
    _queue(appointment, MessageKind.CHANGE, timezone.now(), media, {**context, "change": "cancelled"})
    send_after_commit()


# --- sending -----------------------------------------------------------------------------------


def deliver(message: AppointmentMessage) -> None:
    """Send one message; raises on failure (the outbox keeps it pending with the error)."""
    if message.channel == Channel.EMAIL:
        send_mail(message.subject or "About your visit", message.body, None, [message.to])
    else:
        get_sms_sender().send(message.to, message.body)


def withdraw_stale(now: datetime.datetime | None = None) -> int:
    """Withdraw unsent confirmations and reminders of visits that have started or are no longer
    booked (e.g. the worker was down past the visit): a reminder after the fact only confuses."""
    now = now or timezone.now()
    return (
        AppointmentMessage.objects.filter(sent_at__isnull=True, cancelled_at__isnull=True)
        .exclude(kind=MessageKind.CHANGE)
        .filter(Q(appointment__starts_at__lte=now) | ~Q(appointment__state=AppointmentState.BOOKED))
        .update(cancelled_at=now)
    )


def send_due_messages(now: datetime.datetime | None = None, limit: int = 200) -> tuple[int, int]:
    """Send the messages due by `now` (not withdrawn, not sent). Returns (sent, failed)."""
    now = now or timezone.now()

    def sent(message: AppointmentMessage) -> None:
        record_system(
            message.clinic,
            AuditAction.EXECUTE,
            "appointment.message_sent",
            subject=message.appointment,
            patient=message.appointment.patient,
            detail={"message": message.pk, "kind": message.kind, "channel": message.channel},
        )

    def failed(message: AppointmentMessage) -> None:
        record_system(
            message.clinic,
            AuditAction.EXECUTE,
            "appointment.message_failed",
            subject=message.appointment,
            patient=message.appointment.patient,
            outcome=AuditOutcome.SERIOUS_FAILURE,
            detail={
                "message": message.pk,
                "kind": message.kind,
                "channel": message.channel,
                "attempts": message.attempts,
                "error": message.last_error,
            },
        )

    pending = AppointmentMessage.objects.filter(due_at__lte=now, cancelled_at__isnull=True).select_related(
        "clinic", "appointment__patient"
    )
    # `deliver` is looked up when called, so tests (and a future transport) can replace it.
    return drain(pending, lambda m: deliver(m), sent, failed, limit)


def _enqueue_send() -> None:
    from ketacare.scheduling.tasks import send_appointment_messages

    try:
        send_appointment_messages.enqueue()
    except Exception:  # the sweep sends it later; a booking never fails because the queue is down
        logger.exception("Could not enqueue send_appointment_messages; the sweep will send them")


def send_after_commit() -> None:
    """Send after the booking commits (once per transaction, however many visits it booked)."""
    pending = getattr(connection, "run_on_commit", [])
    if any(len(entry) > 1 and entry[1] is _enqueue_send for entry in pending):
        return
    transaction.on_commit(_enqueue_send)
