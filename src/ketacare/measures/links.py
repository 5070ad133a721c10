"""Questionnaires sent to patients: single-use expiring links checked by date of birth, and kiosk mode.

- A link lives `LINK_LIFETIME` (72 hours, the same in every clinic); a kiosk session `KIOSK_LIFETIME`.
- The token is 256 bits derived from a random per-request salt with SECRET_KEY (HMAC-SHA256); only
  its SHA-256 is stored, and rotating SECRET_KEY invalidates every open link.
- `MAX_DOB_ATTEMPTS` wrong dates of birth lock the link for good.
- Invitations and one reminder (`REMINDER_BEFORE` the expiry) are an outbox (`QuestionnaireMessage`)
  sent by `tasks.send_questionnaire_messages` on commit and retried by `alert_sweep`, which also marks
  overdue requests expired (shown to staff as missed). No message carries PHI: only the link.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.models import User
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record, record_patient, record_system
from ketacare.measures.definitions import UnknownInstrument, get_instrument
from ketacare.measures.models import (
    MessageKind,
    MessageMedium,
    QuestionnaireMessage,
    QuestionnaireRequest,
    RequestChannel,
    RequestStatus,
)
from ketacare.measures.outbox import drain
from ketacare.measures.sms import get_sms_sender
from ketacare.patients.models import Patient

logger = logging.getLogger(__name__)

LINK_LIFETIME = datetime.timedelta(hours=72)
KIOSK_LIFETIME = datetime.timedelta(hours=2)
REMINDER_BEFORE = datetime.timedelta(hours=24)
MAX_DOB_ATTEMPTS = 3


def token_for(salt: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"ketacare.q:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(row: QuestionnaireRequest) -> str:
    return f"{settings.KETACARE_BASE_URL.rstrip('/')}/q/{token_for(row.token_salt)}/"


def requests_of(actor: Actor) -> QuerySet[QuestionnaireRequest]:
    if not actor.can(Perm.MEASURE_SEND):
        raise PermissionDenied(f"Your role does not allow {Perm.MEASURE_SEND}.")
    return QuestionnaireRequest.objects.filter(clinic=actor.clinic)


def self_report_codes() -> list[str]:
    from ketacare.measures.definitions import list_instruments

    return [i.code for i in list_instruments() if i.rater == "self"]


def clean_codes(codes: Sequence[str]) -> list[str]:
    chosen = list(dict.fromkeys(c for c in codes if c))
    if not chosen:
        raise ValidationError({"instruments": "Choose at least one questionnaire."})
    for code in chosen:
        try:
            instrument = get_instrument(code)
        except UnknownInstrument:
            raise ValidationError({"instruments": f"There is no instrument {code!r}."}) from None
        if instrument.rater != "self":
            raise ValidationError({"instruments": f"{instrument.abbreviation} is clinician-rated: staff enter it."})
    return chosen


def _create(actor: Actor, patient: Patient, codes: Sequence[str], channel: RequestChannel) -> QuestionnaireRequest:
    if not actor.can(Perm.MEASURE_SEND):
        raise PermissionDenied(f"Your role does not allow {Perm.MEASURE_SEND}.")
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    return _new_request(patient, codes, channel, created_by=actor.user)


def _new_request(
    patient: Patient, codes: Sequence[str], channel: RequestChannel, *, created_by: User | None
) -> QuestionnaireRequest:
    chosen = clean_codes(codes)
    salt = secrets.token_hex(16)
    now = timezone.now()
    return QuestionnaireRequest.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        instrument_codes=chosen,
        channel=channel,
        token_salt=salt,
        token_hash=hash_token(token_for(salt)),
        created_by=created_by,
        created_at=now,
        expires_at=now + (LINK_LIFETIME if channel == RequestChannel.LINK else KIOSK_LIFETIME),
    )


def _link_media(patient: Patient) -> list[MessageMedium]:
    media = [m for m, have in ((MessageMedium.EMAIL, patient.email), (MessageMedium.SMS, patient.phone_mobile)) if have]
    if not media:
        raise ValidationError(
            {"instruments": "The patient has no e-mail address or mobile phone: use the clinic tablet instead."}
        )
    return media


def _queue_invites(row: QuestionnaireRequest, media: Sequence[MessageMedium]) -> None:
    for medium in media:
        QuestionnaireMessage.objects.create(
            clinic_id=row.clinic_id, request=row, kind=MessageKind.INVITE, medium=medium
        )


@transaction.atomic
def send_questionnaire(actor: Actor, patient: Patient, codes: Sequence[str]) -> QuestionnaireRequest:
    """Send a link by e-mail and text (whichever the patient has); both go out after commit."""
    media = _link_media(patient)
    row = _create(actor, patient, codes, RequestChannel.LINK)
    _queue_invites(row, media)
    record(
        actor,
        AuditAction.CREATE,
        "questionnaire_request.created",
        subject=row,
        patient=patient,
        detail={
            "instruments": row.instrument_codes,
            "channel": row.channel,
            "media": media,
            "expires_at": row.expires_at,
        },
    )
    _after_commit_send()
    return row


@transaction.atomic
def send_scheduled_questionnaire(
    patient: Patient, codes: Sequence[str], *, schedule_id: int, anchor_ref: str
) -> QuestionnaireRequest:
    """The same link as `send_questionnaire`, sent by KetaCare itself for a schedule (no staff member):
    `created_by` is empty and the audit row is the system's, naming the schedule and its anchor.
    Raises ValidationError when the patient cannot get a link (no e-mail or mobile)."""
    media = _link_media(patient)
    row = _new_request(patient, codes, RequestChannel.LINK, created_by=None)
    _queue_invites(row, media)
    record_system(
        patient.clinic,
        AuditAction.CREATE,
        "questionnaire_request.created",
        subject=row,
        patient=patient,
        detail={
            "instruments": row.instrument_codes,
            "channel": row.channel,
            "media": media,
            "expires_at": row.expires_at,
            "schedule": schedule_id,
            "anchor_ref": anchor_ref,
        },
    )
    _after_commit_send()
    return row


@transaction.atomic
def start_kiosk(actor: Actor, patient: Patient, codes: Sequence[str]) -> QuestionnaireRequest:
    """Staff hand a clinic tablet to the patient: no date-of-birth check, nothing sent."""
    row = _create(actor, patient, codes, RequestChannel.KIOSK)
    record(
        actor,
        AuditAction.CREATE,
        "questionnaire_request.created",
        subject=row,
        patient=patient,
        detail={"instruments": row.instrument_codes, "channel": row.channel, "expires_at": row.expires_at},
    )
    return row


@transaction.atomic
def cancel_request(actor: Actor, request_id: int) -> QuestionnaireRequest:
    row = requests_of(actor).select_for_update().filter(pk=request_id).first()
    if row is None:
        raise Http404("No such request.")
    if row.status != RequestStatus.PENDING:
        raise ValidationError({"__all__": f"This request is already {row.get_status_display().lower()}."})
    row.status = RequestStatus.CANCELLED
    row.cancelled_at = timezone.now()
    row.cancelled_by = actor.user
    row.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    record(actor, AuditAction.UPDATE, "questionnaire_request.cancelled", subject=row, patient=row.patient)
    return row


def usable_by_token(token: str) -> QuestionnaireRequest | None:
    """The request behind a link, or None when unknown, expired, used, cancelled or locked."""
    if not token or len(token) > 100:
        return None
    row = QuestionnaireRequest.objects.select_related("clinic", "patient").filter(token_hash=hash_token(token)).first()
    if row is None or row.channel != RequestChannel.LINK or not is_usable(row):
        return None
    return row


def is_usable(row: QuestionnaireRequest) -> bool:
    return (
        row.status == RequestStatus.PENDING
        and row.expires_at > timezone.now()
        and row.failed_dob_attempts < MAX_DOB_ATTEMPTS
    )


@transaction.atomic
def check_date_of_birth(request_id: int, date_of_birth: datetime.date, *, origin: Origin) -> tuple[bool, int]:
    """(matched, tries left). The third wrong date locks the link for good."""
    row = QuestionnaireRequest.objects.select_for_update().select_related("clinic", "patient").get(pk=request_id)
    if not is_usable(row):
        return False, 0
    if row.patient.date_of_birth == date_of_birth:
        record_patient(
            row.clinic, row.patient, AuditAction.READ, "questionnaire_request.opened", via="link", subject=row,
            remote_addr=origin.remote_addr, user_agent=origin.user_agent,
        )  # fmt: skip
        return True, MAX_DOB_ATTEMPTS - row.failed_dob_attempts
    row.failed_dob_attempts += 1
    row.save(update_fields=["failed_dob_attempts"])
    locked = row.failed_dob_attempts >= MAX_DOB_ATTEMPTS
    record_patient(
        row.clinic,
        row.patient,
        AuditAction.READ,
        "questionnaire_request.dob_failed",
        via="link",
        subject=row,
        outcome=AuditOutcome.MINOR_FAILURE,
        detail={"attempts": row.failed_dob_attempts, "locked": locked},
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )
    return False, MAX_DOB_ATTEMPTS - row.failed_dob_attempts


# --- Sweep: expiry, reminders, outbox ---------------------------------------------------------


def expire_overdue_requests(now: datetime.datetime | None = None) -> int:
    """Mark pending requests past their expiry as expired (missed). Safe to run twice."""
    now = now or timezone.now()
    expired = 0
    for pk in list(
        QuestionnaireRequest.objects.filter(status=RequestStatus.PENDING, expires_at__lte=now).values_list(
            "pk", flat=True
        )
    ):
        with transaction.atomic():
            row = QuestionnaireRequest.objects.select_related("clinic", "patient").get(pk=pk)
            if not QuestionnaireRequest.objects.filter(pk=pk, status=RequestStatus.PENDING).update(
                status=RequestStatus.EXPIRED
            ):
                continue
            record_system(
                row.clinic,
                AuditAction.UPDATE,
                "questionnaire_request.expired",
                subject=row,
                patient=row.patient,
                detail={"instruments": row.instrument_codes, "answered": list(row.answered)},
            )
            expired += 1
    return expired


def queue_reminders(now: datetime.datetime | None = None) -> int:
    """Queue one reminder per medium for links expiring within REMINDER_BEFORE. Never twice."""
    now = now or timezone.now()
    reminded = QuestionnaireMessage.objects.filter(request=OuterRef("pk"), kind=MessageKind.REMINDER)
    due = (
        QuestionnaireRequest.objects.filter(
            status=RequestStatus.PENDING,
            channel=RequestChannel.LINK,
            expires_at__gt=now,
            expires_at__lte=now + REMINDER_BEFORE,
            failed_dob_attempts__lt=MAX_DOB_ATTEMPTS,
        )
        .exclude(Exists(reminded))
        .prefetch_related("messages")
    )
    queued = 0
    for row in due:
        for medium in sorted({m.medium for m in row.messages.all() if m.kind == MessageKind.INVITE}):
            _, created = QuestionnaireMessage.objects.get_or_create(
                clinic_id=row.clinic_id, request=row, kind=MessageKind.REMINDER, medium=medium
            )
            queued += int(created)
    return queued


def _deliver(message: QuestionnaireMessage) -> None:
    row = message.request
    url = link_url(row)
    until = timezone.localtime(row.expires_at, row.clinic.zone).strftime("%b %d at %I:%M %p").replace(" 0", " ")
    again = "A reminder: y" if message.kind == MessageKind.REMINDER else "Y"
    if message.medium == MessageMedium.EMAIL:
        send_mail(
            "A short questionnaire from your care team",
            f"{again}our care team has asked you to answer a short questionnaire.\n\n"
            f"Open it here: {url}\n\n"
            f"You will be asked for your date of birth. The link works once and expires on {until}.\n",
            None,
            [row.patient.email],
        )
    else:
        get_sms_sender().send(row.patient.phone_mobile, f"{again}our care team sent a short questionnaire: {url}")


def send_pending_messages(limit: int = 200) -> tuple[int, int]:
    """Send queued invitations and reminders of pending requests. Returns (sent, failed)."""

    def sent(message: QuestionnaireMessage) -> None:
        row = message.request
        event = (
            "questionnaire_request.reminded" if message.kind == MessageKind.REMINDER else "questionnaire_request.sent"
        )
        record_system(
            row.clinic, AuditAction.EXECUTE, event, subject=row, patient=row.patient, detail={"medium": message.medium}
        )

    def failed(message: QuestionnaireMessage) -> None:
        row = message.request
        record_system(
            row.clinic, AuditAction.EXECUTE, "questionnaire_request.send_failed",
            subject=row, patient=row.patient, outcome=AuditOutcome.SERIOUS_FAILURE,
            detail={"medium": message.medium, "kind": message.kind, "error": message.last_error},
        )  # fmt: skip

    pending = QuestionnaireMessage.objects.filter(request__status=RequestStatus.PENDING).select_related(
        "request__clinic", "request__patient"
    )
    # `_deliver` is looked up when called, so tests can replace it.
    return drain(pending, lambda m: _deliver(m), sent, failed, limit)


def _after_commit_send() -> None:
    from ketacare.measures.tasks import send_questionnaire_messages

    transaction.on_commit(lambda: send_questionnaire_messages.enqueue())
