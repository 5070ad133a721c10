"""The patient's answers to a confirmation or reminder (issue #8): from the reply link
(`/visit/<token>/`) or a text message back ("C" or "X") through the SMS provider's webhook.

- Confirm stamps `appointment.patient_confirmed_at`.
- Cancel is a *request*: the front desk cancels (a patient cannot free a chair by themselves), so it
  is recorded and shown to staff, and the patient is told "We have your request and will confirm
  the cancellation".
- Every answer is an `AppointmentReply` row, append-only, audited as the patient's own act. The same
  answer twice (a double tap, a resent text) makes one row.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.context import Origin
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record_patient, record_system
from ketacare.lib.text import phone_key
from ketacare.scheduling.models import Appointment, AppointmentReply, AppointmentState, ReplyKind
from ketacare.scheduling.notify import hash_token

CONFIRM_WORDS = frozenset({"C", "Y", "YES", "CONFIRM", "CONFIRMED", "OK"})
CANCEL_WORDS = frozenset({"X", "N", "NO", "CANCEL"})
CHANNELS = ("link", "sms")


def find_by_token(token: str) -> Appointment | None:
    """The visit behind a reply link, or None for an unknown (or replaced) token."""
    if not token or len(token) > 100:
        return None
    return (
        Appointment.objects.select_related("clinic", "patient", "location", "appointment_type", "session", "plan")
        .filter(reply_token_hash=hash_token(token))
        .first()
    )


def is_open(appointment: Appointment) -> bool:
    """Can the patient still answer? Booked and not yet started."""
    return appointment.state == AppointmentState.BOOKED and appointment.starts_at > timezone.now()


def latest_reply(appointment: Appointment) -> AppointmentReply | None:
    return appointment.replies.order_by("-received_at", "-id").first()


def cancel_requested(appointment: Appointment) -> bool:
    """The patient's last answer asks to cancel (and the front desk has not cancelled yet)."""
    last = latest_reply(appointment)
    return last is not None and last.reply == ReplyKind.CANCEL and appointment.state == AppointmentState.BOOKED


@transaction.atomic
def record_reply(
    appointment: Appointment, reply: str, channel: str, raw: str = "", *, origin: Origin | None = None
) -> AppointmentReply:
    """Record the patient's answer; returns the new row, or the existing one for a repeat."""
    if reply not in ReplyKind.values:
        raise ValidationError({"reply": "Answer confirm or cancel."})
    if channel not in CHANNELS:
        raise ValidationError({"channel": "Replies come by link or text message."})
    current = Appointment.objects.select_for_update().select_related("clinic", "patient").get(pk=appointment.pk)
    if not is_open(current):
        raise ValidationError({"reply": "This visit can no longer be confirmed or cancelled here."})
    last = latest_reply(current)
    repeat = last is not None and last.reply == reply
    if reply == ReplyKind.CONFIRM:
        repeat = repeat and current.patient_confirmed_at is not None
    if repeat and last is not None:
        return last
    now = timezone.now()
    row = AppointmentReply.objects.create(
        clinic=current.clinic, appointment=current, reply=reply, channel=channel, received_at=now, raw=raw.strip()[:500]
    )
    if reply == ReplyKind.CONFIRM:
        current.patient_confirmed_at = now
        current.save(update_fields=["patient_confirmed_at", "updated_at"])
    origin = origin or Origin(via=channel)
    record_patient(
        current.clinic,
        current.patient,
        AuditAction.UPDATE if reply == ReplyKind.CONFIRM else AuditAction.CREATE,
        "appointment.patient_confirmed" if reply == ReplyKind.CONFIRM else "appointment.cancel_requested",
        via=channel,
        subject=current,
        detail={"reply": reply, "channel": channel, "raw": row.raw, "reply_id": row.pk},
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )
    appointment.patient_confirmed_at = current.patient_confirmed_at
    return row


def parse_sms(body: str) -> str | None:
    """'C', 'yes', 'Y.' -> confirm; 'X', 'cancel', 'no' -> cancel; anything else -> None."""
    words = re.findall(r"[A-Za-z]+", body or "")
    if not words:
        return None
    word = words[0].upper()
    if word in CONFIRM_WORDS:
        return ReplyKind.CONFIRM.value
    if word in CANCEL_WORDS:
        return ReplyKind.CANCEL.value
    return None


def next_visit_for_phone(number: str) -> Appointment | None:
    """The soonest upcoming booked visit of a patient with this phone number (Patient.phone_key)."""
    key = phone_key(number or "")
    if len(key) < 7:
        return None
    return (
        Appointment.objects.filter(patient__phone_key=key, state=AppointmentState.BOOKED, starts_at__gt=timezone.now())
        .select_related("clinic", "patient")
        .order_by("starts_at", "id")
        .first()
    )


def handle_sms(sender: str, body: str) -> tuple[str, AppointmentReply | None]:
    """A text message back from a patient: (what happened, the reply row if one was recorded).
    A message that records nothing is audited too (without the number or the text)."""
    appointment = next_visit_for_phone(sender)
    if appointment is None:
        record_system(None, AuditAction.EXECUTE, "sms_reply.unmatched", detail={"reason": "no upcoming visit"})
        return "ignored: no upcoming visit for this number", None
    reply = parse_sms(body)
    note = ""
    if reply is None:
        note = "ignored: not a confirm (C) or cancel (X) reply"
    else:
        try:
            return f"recorded: {reply}", record_reply(appointment, reply, "sms", raw=body)
        except ValidationError:
            note = "ignored: the visit can no longer be answered"
    record_system(
        appointment.clinic,
        AuditAction.EXECUTE,
        "sms_reply.ignored",
        subject=appointment,
        patient=appointment.patient,
        detail={"reason": note, "raw": (body or "")[:160]},
    )
    return note, None
