"""`record(...)`: the one writer of audit rows. Call it inside the action's transaction."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from ketacare.audit.models import AuditAction, AuditEvent, AuditOutcome

if TYPE_CHECKING:
    from ketacare.accounts.context import Actor


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    # Dates, decimals and UUIDs become strings the same way everywhere.
    result: dict[str, Any] = json.loads(json.dumps(detail, cls=DjangoJSONEncoder))
    return result


def _write(
    *,
    clinic: Any,
    actor_label: str,
    action: AuditAction,
    event_type: str,
    subject: models.Model | None,
    patient: Any,
    detail: dict[str, Any] | None,
    outcome: AuditOutcome,
    via: str,
    actor: Any = None,
    actor_role: str = "",
    remote_addr: str = "",
    user_agent: str = "",
) -> AuditEvent:
    return AuditEvent.objects.create(
        clinic=clinic,
        actor=actor,
        actor_label=actor_label,
        actor_role=actor_role,
        patient=patient,
        action=action,
        event_type=event_type,
        subject_type=subject._meta.label_lower if subject is not None else "",
        subject_id=str(subject.pk) if subject is not None else "",
        outcome=outcome,
        remote_addr=remote_addr,
        user_agent=user_agent,
        via=via,
        occurred_at=timezone.now(),
        detail=_jsonable(detail or {}),
    )


def record(
    actor: Actor,
    action: AuditAction,
    event_type: str,
    *,
    subject: models.Model | None = None,
    patient: Any = None,
    detail: dict[str, Any] | None = None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
) -> AuditEvent:
    """Write one audit row for `actor` (who, for which clinic, from where)."""
    return _write(
        clinic=actor.clinic,
        actor=actor.user,
        actor_label=f"{actor.user.full_name} <{actor.user.email}>",
        actor_role=actor.role,
        action=action,
        event_type=event_type,
        subject=subject,
        patient=patient,
        detail=detail,
        outcome=outcome,
        remote_addr=actor.remote_addr,
        user_agent=actor.user_agent,
        via=actor.via,
    )


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{field: {"old": x, "new": y}} for the fields whose value changed."""
    return {key: {"old": old.get(key), "new": value} for key, value in new.items() if old.get(key) != value}


SYSTEM_LABEL = "KetaCare (automatic)"


def record_system(
    clinic: Any,
    action: AuditAction,
    event_type: str,
    *,
    subject: models.Model | None = None,
    patient: Any = None,
    detail: dict[str, Any] | None = None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
) -> AuditEvent:
    """Write one audit row for something KetaCare did by itself (a background task), not a person."""
    return _write(
        clinic=clinic,
        actor_label=SYSTEM_LABEL,
        action=action,
        event_type=event_type,
        subject=subject,
        patient=patient,
        detail=detail,
        outcome=outcome,
        via="task",
    )


PATIENT_CHANNELS = {"link": "secure link", "kiosk": "clinic tablet", "sms": "text message"}


def record_patient(
    clinic: Any,
    patient: Any,
    action: AuditAction,
    event_type: str,
    *,
    via: str,
    subject: models.Model | None = None,
    detail: dict[str, Any] | None = None,
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    remote_addr: str = "",
    user_agent: str = "",
) -> AuditEvent:
    """Write one audit row for something the patient did themselves, without an account: through a
    questionnaire link (`via="link"`) or on a clinic tablet handed over by staff (`via="kiosk"`)."""
    return _write(
        clinic=clinic,
        actor_label=f"Patient {patient.mrn} ({PATIENT_CHANNELS.get(via, via)})",
        actor_role="patient",
        action=action,
        event_type=event_type,
        subject=subject,
        patient=patient,
        detail=detail,
        outcome=outcome,
        remote_addr=remote_addr,
        user_agent=user_agent,
        via=via,
    )
