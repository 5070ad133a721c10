"""The only writers of responses and safety alerts.

`submit_response` scores the answers and, when they endorse risk, raises the alert and queues its
notifications in the same transaction: a response that endorses risk cannot be stored without
its alert, and an alert cannot be lost with a failed e-mail (the outbox is retried).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.models import Membership, User
from ketacare.accounts.roles import CLINICIAN_ROLES, Perm, Role
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_system
from ketacare.clinics.models import Clinic
from ketacare.measures import rules
from ketacare.measures.definitions import Instrument, UnknownInstrument, get_instrument
from ketacare.measures.models import (
    AlertNotification,
    AlertStatus,
    EscalationLevel,
    NotificationKind,
    Response,
    ResponseSource,
    SafetyAlert,
)
from ketacare.patients.models import Patient


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def clinic_thresholds(clinic: Clinic, instrument: Instrument) -> dict[str, int]:
    """The clinic's values for the instrument's clinic-configurable safety items."""
    thresholds: dict[str, int] = {}
    for safety in instrument.safety_items:
        if (
            safety.clinic_configurable
            and instrument.code == "madrs"
            and safety.item == "10"
            and clinic.madrs_item10_alert_at is not None
        ):
            thresholds[safety.item] = clinic.madrs_item10_alert_at
    return thresholds


def _instrument(code: str) -> Instrument:
    try:
        return get_instrument(code)
    except UnknownInstrument:
        raise ValidationError({"instrument": f"There is no instrument {code!r}."}) from None


def _reasons(score: rules.Score) -> list[dict[str, Any]]:
    return [
        {"item": f.item, "answer": f.value, "risk_level": f.level, "rule": f.rule, "source": f.source}
        for f in score.safety
    ]


def _recipients(clinic: Clinic, patient: Patient) -> list[User]:
    """Primary clinician and the on-call list; the administrators if there is nobody else."""
    people: dict[int, User] = {}
    primary = patient.primary_clinician
    if (
        primary is not None
        and primary.is_active
        and Membership.objects.filter(user=primary, clinic=clinic, is_active=True).exists()
    ):
        people[primary.pk] = primary
    on_call = Membership.objects.filter(
        clinic=clinic, is_active=True, on_call=True, user__is_active=True, role__in=[*CLINICIAN_ROLES, Role.ADMIN]
    ).select_related("user")
    for membership in on_call:
        people.setdefault(membership.user_id, membership.user)
    if not people:
        return _members(clinic, admin=True)
    return list(people.values())


def _members(clinic: Clinic, *, admin: bool = False, covering: bool = False) -> list[User]:
    memberships = Membership.objects.filter(clinic=clinic, is_active=True, user__is_active=True)
    if admin:
        memberships = memberships.filter(role=Role.ADMIN)
    if covering:
        memberships = memberships.filter(covering=True)
    return [m.user for m in memberships.select_related("user").order_by("user_id")]


def _queue(alert: SafetyAlert, people: list[User], kind: NotificationKind) -> list[int]:
    queued: list[int] = []
    for person in people:
        _, created = AlertNotification.objects.get_or_create(
            clinic=alert.clinic, alert=alert, recipient=person, kind=kind
        )
        if created:
            queued.append(person.pk)
    return queued


def _after_commit_send() -> None:
    from ketacare.measures.tasks import send_alert_notifications

    transaction.on_commit(lambda: send_alert_notifications.enqueue())


@transaction.atomic
def submit_response(
    actor: Actor,
    patient: Patient,
    instrument_code: str,
    answers: Mapping[str, int],
    *,
    source: ResponseSource = ResponseSource.STAFF,
    completed_at: datetime.datetime | None = None,
) -> Response:
    """Score and store a completed questionnaire; raise its safety alert in the same transaction."""
    _require(actor, Perm.MEASURE_ENTER)
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")

    def audit(response: Response, detail: dict[str, Any]) -> None:
        record(actor, AuditAction.CREATE, "response.created", subject=response, patient=patient, detail=detail)

    return _store_response(
        actor.clinic,
        patient,
        instrument_code,
        answers,
        source=source,
        entered_by=actor.user,
        completed_at=completed_at,
        audit=audit,
    )


def _store_response(
    clinic: Clinic,
    patient: Patient,
    instrument_code: str,
    answers: Mapping[str, int],
    *,
    source: str,
    entered_by: User | None,
    completed_at: datetime.datetime | None,
    audit: Callable[[Response, dict[str, Any]], None],
) -> Response:
    """The one core of every way answers arrive (staff, API, patient link, kiosk): score, store,
    audit (by `audit`, as whoever answered) and raise the alert, all in the caller's transaction."""
    instrument = _instrument(instrument_code)
    try:
        score = rules.score(instrument, answers, safety_thresholds=clinic_thresholds(clinic, instrument))
    except rules.AnswerError as exc:
        raise ValidationError({f"answers.{item}": message for item, message in exc.item_errors.items()}) from None
    now = timezone.now()
    response = Response.objects.create(
        clinic=clinic,
        patient=patient,
        instrument_code=instrument.code,
        instrument_version=instrument.version,
        answers=dict(answers),
        valid=score.valid,
        total=score.total,
        severity=score.severity.code if score.severity else "",
        severity_label=score.severity.label if score.severity else "",
        subscales=score.subscales,
        risk_level=score.risk_level or "",
        score_detail={
            "missing": list(score.missing),
            "skipped": list(score.skipped),
            "provisional": _provisional(score),
        },
        source=source,
        entered_by=entered_by,
        completed_at=completed_at or now,
    )
    audit(
        response,
        {
            "instrument": instrument.code,
            "version": instrument.version,
            "valid": score.valid,
            "total": score.total,
            "source": source,
        },
    )
    if score.needs_alert:
        raise_alert(clinic, patient, response, _reasons(score), now=now)
    return response


def _provisional(score: rules.Score) -> dict[str, Any] | None:
    p = score.provisional
    if p is None:
        return None
    return {"cutoff": p.cutoff, "dsm5_rule_met": p.dsm5_rule_met, "endorsed": p.endorsed}


def raise_alert(
    clinic: Clinic, patient: Patient, response: Response, reasons: list[dict[str, Any]], *, now: datetime.datetime
) -> SafetyAlert:
    """Create the alert and queue its first notifications. Call inside the response's transaction."""
    alert = SafetyAlert.objects.create(
        clinic=clinic,
        patient=patient,
        response=response,
        reasons=reasons,
        raised_at=now,
        ack_due_at=now + datetime.timedelta(minutes=clinic.alert_ack_minutes),
    )
    recipients = _queue(alert, _recipients(clinic, patient), NotificationKind.RAISED)
    record_system(
        clinic,
        AuditAction.CREATE,
        "safety_alert.raised",
        subject=alert,
        patient=patient,
        detail={"reasons": reasons, "ack_due_at": alert.ack_due_at, "notify": recipients},
    )
    _after_commit_send()
    return alert


@transaction.atomic
def acknowledge_alert(actor: Actor, alert_id: int) -> SafetyAlert:
    """Say "I have it". Stops escalation. Acknowledging twice changes nothing."""
    _require(actor, Perm.ALERT_ACT)
    alert = SafetyAlert.objects.select_for_update().filter(clinic=actor.clinic, pk=alert_id).first()
    if alert is None:
        raise Http404("No such alert.")
    if alert.status != AlertStatus.OPEN:
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor.user
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    record(
        actor,
        AuditAction.UPDATE,
        "safety_alert.acknowledged",
        subject=alert,
        patient=alert.patient,
        detail={"minutes_after_raised": round((alert.acknowledged_at - alert.raised_at).total_seconds() / 60, 1)},
    )
    return alert


@transaction.atomic
def close_alert(actor: Actor, alert_id: int, action_taken: str, action_at: datetime.datetime) -> SafetyAlert:
    """Close with the documented action: what was done and when. Closing an open alert also acknowledges it."""
    _require(actor, Perm.ALERT_ACT)
    alert = SafetyAlert.objects.select_for_update().filter(clinic=actor.clinic, pk=alert_id).first()
    if alert is None:
        raise Http404("No such alert.")
    action_taken = action_taken.strip()
    errors: dict[str, str] = {}
    if alert.status == AlertStatus.CLOSED:
        errors["__all__"] = "This alert is already closed."
    if len(action_taken) < 10:
        errors["action_taken"] = (
            "Describe what was done (at least a sentence), e.g. who called the patient and the plan."
        )
    now = timezone.now()
    if action_at > now + datetime.timedelta(minutes=5):
        errors["action_at"] = "The action cannot be in the future."
    elif action_at < alert.raised_at - datetime.timedelta(minutes=5):
        errors["action_at"] = "The action cannot be before the alert was raised."
    if errors:
        raise ValidationError(errors)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by = actor.user
    alert.status = AlertStatus.CLOSED
    alert.closed_at = now
    alert.closed_by = actor.user
    alert.action_taken = action_taken
    alert.action_at = action_at
    alert.save(
        update_fields=[
            "status",
            "acknowledged_at",
            "acknowledged_by",
            "closed_at",
            "closed_by",
            "action_taken",
            "action_at",
        ]
    )
    record(
        actor,
        AuditAction.UPDATE,
        "safety_alert.closed",
        subject=alert,
        patient=alert.patient,
        detail={"action_taken": action_taken, "action_at": action_at},
    )
    return alert


def escalate_overdue_alerts(now: datetime.datetime | None = None) -> int:
    """Escalate every open alert whose acknowledgement is overdue. Safe to run twice, or late.

    One acknowledgement window after `ack_due_at` goes to the covering clinician(s); a second
    window to the administrators. After downtime an alert past both windows reaches both at once.
    Each step is a compare-and-set on `escalation_level`, so two sweeps never escalate one step twice.
    """
    now = now or timezone.now()
    escalated = 0
    due = SafetyAlert.objects.filter(
        status=AlertStatus.OPEN, ack_due_at__lte=now, escalation_level__lt=EscalationLevel.ADMIN
    ).select_related("clinic", "patient")
    for alert in due.order_by("id"):
        window = datetime.timedelta(minutes=alert.clinic.alert_ack_minutes)
        target = EscalationLevel.ADMIN if now >= alert.ack_due_at + window else EscalationLevel.COVERING
        if target <= alert.escalation_level:
            continue
        with transaction.atomic():
            claimed = SafetyAlert.objects.filter(
                pk=alert.pk, status=AlertStatus.OPEN, escalation_level=alert.escalation_level
            ).update(escalation_level=target, escalated_at=now)
            if not claimed:
                continue  # acknowledged meanwhile, or another sweep took this step
            notified: list[int] = []
            for level in range(alert.escalation_level + 1, target + 1):
                if level == EscalationLevel.COVERING:
                    people = _members(alert.clinic, covering=True)
                    kind = NotificationKind.ESCALATED_COVERING
                else:
                    people = _members(alert.clinic, admin=True)
                    kind = NotificationKind.ESCALATED_ADMIN
                notified += _queue(alert, people, kind)
            record_system(
                alert.clinic,
                AuditAction.UPDATE,
                "safety_alert.escalated",
                subject=alert,
                patient=alert.patient,
                detail={"from_level": alert.escalation_level, "to_level": int(target), "notify": notified},
            )
            escalated += 1
    if escalated:
        _after_commit_send()
    return escalated


@transaction.atomic
def submit_patient_response(
    request_id: int, instrument_code: str, answers: Mapping[str, int], *, origin: Origin
) -> tuple[Response, bool]:
    """The patient's own answers to one instrument of a questionnaire request (link or kiosk).

    Shares the scoring, storing and alert core with `submit_response`; the audit row names the
    patient and the channel. Answering an instrument twice (double tap, back button) stores nothing
    new. When the last instrument is answered the request is completed and can never be used again.
    Returns the response and whether it raised a safety alert.
    """
    from ketacare.audit.record import record_patient
    from ketacare.measures.models import QuestionnaireRequest, RequestChannel, RequestStatus

    row = QuestionnaireRequest.objects.select_for_update().select_related("clinic", "patient").get(pk=request_id)
    now = timezone.now()
    if row.status != RequestStatus.PENDING or row.expires_at <= now:
        raise ValidationError({"__all__": "This questionnaire can no longer be answered."})
    if instrument_code not in row.instrument_codes:
        raise ValidationError({"instrument": "This questionnaire was not sent to you."})
    if instrument_code in row.answered:
        existing = Response.objects.get(pk=row.answered[instrument_code])
        return existing, SafetyAlert.objects.filter(response=existing).exists()
    via = str(row.channel)
    source = ResponseSource.KIOSK if row.channel == RequestChannel.KIOSK else ResponseSource.LINK

    def audit(response: Response, detail: dict[str, Any]) -> None:
        record_patient(
            row.clinic,
            row.patient,
            AuditAction.CREATE,
            "response.created",
            via=via,
            subject=response,
            detail={**detail, "request": row.pk},
            remote_addr=origin.remote_addr,
            user_agent=origin.user_agent,
        )

    response = _store_response(
        row.clinic,
        row.patient,
        instrument_code,
        answers,
        source=source,
        entered_by=None,
        completed_at=now,
        audit=audit,
    )
    alerted = SafetyAlert.objects.filter(response=response).exists()
    row.answered = {**row.answered, instrument_code: response.pk}
    row.alert_raised = row.alert_raised or alerted
    fields = ["answered", "alert_raised"]
    if all(code in row.answered for code in row.instrument_codes):
        row.status = RequestStatus.COMPLETED
        row.completed_at = now
        fields += ["status", "completed_at"]
        record_patient(
            row.clinic,
            row.patient,
            AuditAction.UPDATE,
            "questionnaire_request.completed",
            via=via,
            subject=row,
            detail={"instruments": row.instrument_codes, "alert_raised": row.alert_raised},
            remote_addr=origin.remote_addr,
            user_agent=origin.user_agent,
        )
    row.save(update_fields=fields)
    return response, alerted
