"""Monitoring at the chair: vital signs at the protocol's checkpoints, sedation and dissociation
ratings, side effects, and the alerts they raise for the prescriber on call (issue #7 item 4).

Sources: ../shared/reference/clinical.md §2.5 (IV vital signs; thresholds are clinic parameters that
alert the prescriber, never stop anything by themselves [NF, TINTINALLI-HTN]), §1.5 (Spravato: BP
before, 40 min after the first device and before discharge; pulse oximetry [SPRHCP-DOSE, REMS-FDA]),
§3.10 (MOAA/S 0–5 [BMC-MOAAS, THORAX-MOAAS]; 0 = loss of consciousness per the Spravato label
[LABEL-120TY]), §3.8 (CADSS 23 items, total 0–92 [NCT04226963]).

Every action: locked session (perm, row lock, 409 when signed) → validation naming the field → the
row → timeline line → audit row, in one transaction. Vitals are charted while dosing, observing and
ready for discharge, and as late entries once discharged or stopped early, until the session is signed.
Nothing here writes on a GET: late-vitals alerts are raised by `raise_late_vitals_alerts(now)`,
which the session sweep calls.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record, record_system
from ketacare.protocols.definitions import AlertThreshold
from ketacare.sessions import alerts, checkpoints, core, gates
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    Assessment,
    DissociationRating,
    SessionAlert,
    SessionAlertNotification,
    Severity,
    SideEffect,
    SideEffectKind,
    TreatmentSession,
    VitalPhase,
    VitalSigns,
)

# Charting of what happened after dosing began: live states, then late entries until signed.
CHARTING_STATES = frozenset(
    {State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE, State.DISCHARGED, State.STOPPED_EARLY}
)

VITAL_FIELDS: dict[str, str] = {
    "systolic_bp": "Systolic BP",
    "diastolic_bp": "Diastolic BP",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
    "respiratory_rate": "Respiratory rate",
}
VITAL_UNITS: dict[str, str] = {
    "systolic_bp": "mmHg",
    "diastolic_bp": "mmHg",
    "heart_rate": "bpm",
    "spo2": "%",
    "respiratory_rate": "/min",
}

# MOAA/S, 0–5 version (clinical.md §3.10 [BMC-MOAAS, THORAX-MOAAS]); the 0–6 variants are not used.
MOAAS_ANCHORS: tuple[tuple[int, str], ...] = (
    (5, "Responds readily to name spoken in normal tone (alert)"),
    (4, "Lethargic response to name spoken in normal tone"),
    (3, "Responds only after name is called loudly and/or repeatedly"),
    (2, "Responds only after mild prodding or shaking"),
    (1, "Responds only after painful trapezius squeeze"),
    (0, "Does not respond to painful trapezius squeeze"),
)
MOAAS_LOSS_OF_CONSCIOUSNESS = 0  # the Spravato label counts MOAA/S 0 as loss of consciousness [LABEL-120TY]
CADSS_MAX = 92  # 23 items × 0–4 (clinical.md §3.8 [NCT04226963])


def _range(field: str) -> tuple[int, int]:
    """The plausible range of a vital (the model's validators): what a typo is, not what is normal."""
    low, high = 0, 10_000
    model_field = VitalSigns._meta.get_field(field)
    validators = model_field.validators if isinstance(model_field, models.Field) else []
    for validator in validators:
        if isinstance(validator, MinValueValidator):
            low = int(validator.limit_value)  # type: ignore[arg-type]
        elif isinstance(validator, MaxValueValidator):
            high = int(validator.limit_value)  # type: ignore[arg-type]
    return low, high


VITAL_RANGES: dict[str, tuple[int, int]] = {field: _range(field) for field in VITAL_FIELDS}


def _require_state(session: TreatmentSession, what: str) -> None:
    if State(session.state) not in CHARTING_STATES:
        raise ValidationError(
            {"state": f"{what} is charted once dosing has begun (the session is {session.state_label.lower()})."}
        )


def _taken_at(session: TreatmentSession, value: datetime.datetime | None, field: str) -> datetime.datetime:
    now = timezone.now()
    when = core.aware(value, field) or now
    core.not_future(when, field, now)
    if session.first_dose_at is not None and when < session.first_dose_at - checkpoints.EARLY:
        raise ValidationError(
            {field: "This time is before dosing began; vitals before dosing belong to the pre-dose checks."}
        )
    return when


def _phase(session: TreatmentSession, taken_at: datetime.datetime) -> str:
    state = State(session.state)
    if state is State.DOSING:
        return VitalPhase.DURING
    if state is State.OBSERVATION:
        return VitalPhase.AFTER
    if state is State.READY_FOR_DISCHARGE:
        return VitalPhase.PRE_DISCHARGE
    # A late entry: where it falls on the session's own times.
    if session.dose_ended_at is None or taken_at < session.dose_ended_at:
        return VitalPhase.DURING
    if session.ready_at is not None and taken_at >= session.ready_at:
        return VitalPhase.PRE_DISCHARGE
    return VitalPhase.AFTER


def thresholds_in_force(session: TreatmentSession) -> list[AlertThreshold]:
    """The protocol's limits that apply at any time (the pre-dose ones are a pre-dosing decision)."""
    return [t for t in session.protocol.alert_thresholds if t.applies_at == "any"]


def beyond(threshold: AlertThreshold, value: int | Decimal | None) -> bool:
    """True when `value` is past a threshold the clinic has set (an unset one compares to nothing)."""
    if threshold.value is None or value is None:
        return False
    return value > threshold.value if threshold.comparison == "above" else value < threshold.value


def _number(field: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    label = VITAL_FIELDS[field]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: f"{label}: enter a whole number."}) from None
    low, high = VITAL_RANGES[field]
    if not low <= number <= high:
        raise ValidationError(
            {field: f"{label} {number} {VITAL_UNITS[field]} is not plausible (allowed {low}–{high}); check the entry."}
        )
    return number


@transaction.atomic
def record_vitals(
    actor: Actor,
    session: TreatmentSession,
    *,
    taken_at: datetime.datetime | None = None,
    systolic_bp: int | None = None,
    diastolic_bp: int | None = None,
    heart_rate: int | None = None,
    spo2: int | None = None,
    respiratory_rate: int | None = None,
    checkpoint: str = "",
    note: str = "",
) -> VitalSigns:
    """One set of vital signs; each value past a threshold the clinic set raises one alert."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _require_state(session, "Vital signs")
    raw = {
        "systolic_bp": systolic_bp,
        "diastolic_bp": diastolic_bp,
        "heart_rate": heart_rate,
        "spo2": spo2,
        "respiratory_rate": respiratory_rate,
    }
    errors: dict[str, list[str]] = {}
    values: dict[str, int | None] = {}
    for field, value in raw.items():
        try:
            values[field] = _number(field, value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not errors and all(v is None for v in values.values()):
        errors["systolic_bp"] = ["Vital signs: enter at least one value (BP, heart rate, SpO2 or respiratory rate)."]
    if (values.get("systolic_bp") is None) != (values.get("diastolic_bp") is None) and not errors:
        missing = "diastolic_bp" if values.get("diastolic_bp") is None else "systolic_bp"
        errors[missing] = [f"{VITAL_FIELDS[missing]}: enter both numbers of the blood pressure."]
    if errors:
        raise ValidationError(errors)
    when = _taken_at(session, taken_at, "taken_at")
    known = {cp.id for cp in session.protocol.vital_checkpoints}
    checkpoint = (checkpoint or "").strip()
    if checkpoint and checkpoint not in known:
        raise ValidationError({"checkpoint": "Checkpoint: choose one of the protocol's checkpoints, or none."})
    vitals = VitalSigns.objects.create(
        clinic=session.clinic,
        session=session,
        phase=_phase(session, when),
        checkpoint=checkpoint,
        taken_at=when,
        note=note.strip(),
        recorded_by=actor.user,
        **values,
    )
    shown = describe_vitals(vitals)
    core.add_event(actor, session, "vitals", f"Vitals: {shown}", detail={"vitals": vitals.pk}, at=when)
    record(
        actor,
        AuditAction.CREATE,
        "session.vitals",
        subject=vitals,
        patient=session.patient,
        detail={"session": session.pk, "checkpoint": checkpoint, **{k: v for k, v in values.items() if v is not None}},
    )
    measured = vitals.as_measures()
    for threshold in thresholds_in_force(session):
        value = measured.get(threshold.measure)
        if beyond(threshold, value):
            label = gates.MEASURE_LABELS.get(threshold.measure, threshold.measure)
            side = "above" if threshold.comparison == "above" else "below"
            alerts.raise_alert(
                actor,
                session,
                kind="vital_threshold",
                source_key=f"{threshold.id}:{vitals.pk}",
                summary=f"{label} {value} {threshold.unit} {side} the protocol's {threshold.value}",
                detail={
                    "vitals": vitals.pk,
                    "threshold": threshold.id,
                    "value": value,
                    "limit": threshold.value,
                    "comparison": threshold.comparison,
                    "source": threshold.source,
                },
            )
    return vitals


def describe_vitals(vitals: VitalSigns) -> str:
    parts: list[str] = []
    if vitals.systolic_bp is not None and vitals.diastolic_bp is not None:
        parts.append(f"BP {vitals.systolic_bp}/{vitals.diastolic_bp}")
    elif vitals.systolic_bp is not None:
        parts.append(f"SBP {vitals.systolic_bp}")
    if vitals.heart_rate is not None:
        parts.append(f"HR {vitals.heart_rate}")
    if vitals.spo2 is not None:
        parts.append(f"SpO2 {vitals.spo2}%")
    if vitals.respiratory_rate is not None:
        parts.append(f"RR {vitals.respiratory_rate}")
    return ", ".join(parts)


# --- the schedule -----------------------------------------------------------------------------


def _taken(vitals: list[VitalSigns], session: TreatmentSession) -> list[checkpoints.Taken]:
    out: list[checkpoints.Taken] = []
    for v in vitals:
        measures = frozenset(m for m in v.as_measures() if m in checkpoints.NUMERIC)
        before = v.phase == VitalPhase.PRE_DOSE or (
            session.first_dose_at is not None and v.taken_at < session.first_dose_at
        )
        out.append(checkpoints.Taken(v.taken_at, measures, before_dosing=before))
    return out


def observation_end(session: TreatmentSession) -> datetime.datetime | None:
    try:
        return gates.observation_ends_at(
            route=session.protocol_route,  # type: ignore[arg-type]
            protocol=session.protocol,
            first_dose_at=session.first_dose_at,
            dose_ended_at=session.dose_ended_at,
        )
    except ValueError:
        return None


def vitals_schedule(
    session: TreatmentSession, now: datetime.datetime, vitals: list[VitalSigns] | None = None
) -> list[checkpoints.Slot]:
    """The session's vitals slots (due times, done, due, late, upcoming). `vitals`: already loaded rows."""
    rows = list(session.vitals.order_by("taken_at", "id")) if vitals is None else vitals
    return checkpoints.schedule(
        session.protocol,
        taken=_taken(rows, session),
        now=now,
        first_dose_at=session.first_dose_at,
        dose_ended_at=session.dose_ended_at,
        observation_ends_at=observation_end(session),
        ended_at=session.discharged_at or session.ended_early_at,
        ready_for_discharge=session.state == State.READY_FOR_DISCHARGE,
    )


def late_source_key(slot: checkpoints.Slot) -> str:
    return f"late:{slot.checkpoint}:{slot.due_at:%H%M}"


def raise_late_vitals_alerts(now: datetime.datetime | None = None) -> int:
    """Raise one alert per late vitals slot of every live session (the session sweep calls this).

    Idempotent per slot (the alert's source key); returns how many alerts were newly raised. Done by
    KetaCare itself, so the audit row is a system row and there is no person on the timeline.
    """
    now = now or timezone.now()
    live = (
        TreatmentSession.objects.filter(
            state__in=[State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE], first_dose_at__isnull=False
        )
        .select_related("clinic", "patient")
        .prefetch_related("vitals")
    )
    raised = 0
    for session in live:
        rows = sorted(session.vitals.all(), key=lambda v: (v.taken_at, v.pk))
        for slot in checkpoints.late(vitals_schedule(session, now, rows)):
            if slot.due_at is None:
                continue  # the pre-dose set is the pre-dose checks' gate, not a late alert
            if _raise_system_alert(session, slot, now):
                raised += 1
    return raised


def _raise_system_alert(session: TreatmentSession, slot: checkpoints.Slot, now: datetime.datetime) -> bool:
    key = late_source_key(slot)
    zone = session.clinic.zone
    summary = f"Vitals late: {slot.label}, due {slot.due_at.astimezone(zone):%H:%M}"  # type: ignore[union-attr]
    try:
        with transaction.atomic():
            state = TreatmentSession.objects.select_for_update().filter(pk=session.pk).values_list("state", flat=True)
            if state.first() not in (State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE):
                return False
            alert = SessionAlert.objects.create(
                clinic=session.clinic,
                session=session,
                kind="late_vitals",
                source_key=key[:80],
                summary=summary[:300],
                detail={"checkpoint": slot.checkpoint, "due_at": slot.due_at.isoformat() if slot.due_at else None},
                raised_at=now,
            )
            for person in alerts.on_call_prescribers(session.clinic):
                SessionAlertNotification.objects.get_or_create(clinic=session.clinic, alert=alert, recipient=person)
            record_system(
                session.clinic,
                AuditAction.CREATE,
                "session_alert.raised",
                subject=alert,
                patient=session.patient,
                detail={"kind": "late_vitals", "source_key": key, "summary": summary},
            )
            transaction.on_commit(alerts._send_soon)
    except IntegrityError:
        return False
    return True


# --- sedation, dissociation, side effects ------------------------------------------------------


def _whole(value: Any) -> int | None:
    """An integer score, or None; anything else is out of range (-1) so the caller names the field."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return -1
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


@transaction.atomic
def record_assessment(
    actor: Actor,
    session: TreatmentSession,
    *,
    taken_at: datetime.datetime | None = None,
    moaas: int | None = None,
    dissociation: str = "",
    cadss_total: int | None = None,
    note: str = "",
) -> Assessment:
    """Sedation (MOAA/S 0–5) and/or dissociation (brief rating, optional CADSS total 0–92)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _require_state(session, "A sedation or dissociation rating")
    errors: dict[str, str] = {}
    moaas = _whole(moaas)
    if moaas is not None and not 0 <= moaas <= 5:
        errors["moaas"] = "MOAA/S: choose a score from 0 to 5."
    dissociation = (dissociation or "").strip()
    if dissociation and dissociation not in DissociationRating.values:
        errors["dissociation"] = "Dissociation: choose none, mild, moderate or severe."
    cadss_total = _whole(cadss_total)
    if cadss_total is not None and not 0 <= cadss_total <= CADSS_MAX:
        errors["cadss_total"] = f"CADSS total: enter 0 to {CADSS_MAX} (23 items scored 0–4)."
    if not errors and moaas is None and not dissociation and cadss_total is None:
        errors["moaas"] = "Rate sedation (MOAA/S) or dissociation, or both."
    if errors:
        raise ValidationError(errors)
    when = _taken_at(session, taken_at, "taken_at")
    row = Assessment.objects.create(
        clinic=session.clinic,
        session=session,
        taken_at=when,
        moaas=moaas,
        dissociation=dissociation,
        cadss_total=cadss_total,
        note=note.strip(),
        recorded_by=actor.user,
    )
    parts = []
    if moaas is not None:
        parts.append(f"MOAA/S {moaas}")
    if dissociation:
        parts.append(f"dissociation {DissociationRating(dissociation).label.lower()}")
    if cadss_total is not None:
        parts.append(f"CADSS {cadss_total}")
    core.add_event(actor, session, "assessment", "Rated: " + ", ".join(parts), detail={"assessment": row.pk}, at=when)
    record(
        actor,
        AuditAction.CREATE,
        "session.assessment",
        subject=row,
        patient=session.patient,
        detail={"session": session.pk, "moaas": moaas, "dissociation": dissociation, "cadss_total": cadss_total},
    )
    if moaas == MOAAS_LOSS_OF_CONSCIOUSNESS:
        alerts.raise_alert(
            actor,
            session,
            kind="moaas",
            source_key=f"moaas0:{row.pk}",
            summary="MOAA/S 0: no response to painful stimulus (loss of consciousness per the Spravato label)",
            detail={"assessment": row.pk, "source": "clinical.md §3.10 [LABEL-120TY]"},
        )
    if dissociation == DissociationRating.SEVERE:
        alerts.raise_alert(
            actor,
            session,
            kind="dissociation",
            source_key=f"dissociation:{row.pk}",
            summary="Severe dissociation rated",
            detail={"assessment": row.pk},
        )
    return row


@transaction.atomic
def record_side_effect(
    actor: Actor,
    session: TreatmentSession,
    *,
    kind: str,
    severity: str,
    onset_at: datetime.datetime | None = None,
    action_taken: str = "",
    other: str = "",
) -> SideEffect:
    """A side effect with its severity and what was done; a severe one alerts the prescriber."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _require_state(session, "A side effect")
    errors: dict[str, str] = {}
    if kind not in SideEffectKind.values:
        errors["kind"] = "Side effect: choose what it was."
    elif kind == SideEffectKind.OTHER and not other.strip():
        errors["other"] = "Other: say what the side effect was."
    if severity not in Severity.values:
        errors["severity"] = "Severity: choose mild, moderate or severe."
    if errors:
        raise ValidationError(errors)
    when = _taken_at(session, onset_at, "onset_at")
    row = SideEffect.objects.create(
        clinic=session.clinic,
        session=session,
        kind=kind,
        other=other.strip()[:200] if kind == SideEffectKind.OTHER else "",
        severity=severity,
        onset_at=when,
        action_taken=action_taken.strip(),
        recorded_by=actor.user,
    )
    what = row.other if kind == SideEffectKind.OTHER else SideEffectKind(kind).label
    text = f"Side effect: {what} ({Severity(severity).label.lower()})"
    if row.action_taken:
        text += f"; done: {row.action_taken}"
    core.add_event(actor, session, "side_effect", text, detail={"side_effect": row.pk}, at=when)
    record(
        actor,
        AuditAction.CREATE,
        "session.side_effect",
        subject=row,
        patient=session.patient,
        detail={"session": session.pk, "kind": kind, "severity": severity},
    )
    if severity == Severity.SEVERE:
        alerts.raise_alert(
            actor,
            session,
            kind="side_effect",
            source_key=f"side_effect:{row.pk}",
            summary=f"Severe side effect: {what}",
            detail={"side_effect": row.pk},
        )
    return row


# --- alerts through the session (for the pages and the API) --------------------------------------


@transaction.atomic
def acknowledge_alert(actor: Actor, session: TreatmentSession, alert_id: Any) -> SessionAlert:
    """Acknowledge an alert of this session (refused with 409 once the session is signed)."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _alert_of(session, alert_id)
    return alerts.acknowledge(actor, alert_id)


@transaction.atomic
def resolve_alert(actor: Actor, session: TreatmentSession, alert_id: Any, resolution: str) -> SessionAlert:
    """The prescriber's resolution (what was done) of an alert of this session."""
    session = core.locked_session(actor, session, Perm.SESSION_ORDER)
    _alert_of(session, alert_id)
    return alerts.resolve(actor, alert_id, resolution)


def _alert_of(session: TreatmentSession, alert_id: Any) -> None:
    from django.http import Http404

    try:
        pk = int(alert_id)
    except (TypeError, ValueError):
        raise Http404("No such alert.") from None
    if not SessionAlert.objects.filter(pk=pk, session=session).exists():
        raise Http404("No such alert.")
