"""Pre-dose checks: what must be true before the first dose, from the session's protocol (issue #7 item 2).

Automatic checks are read from the record when the checks begin (and again on `refresh_automatic_checks`):
the plan is signed (or a prescriber ordered the session), the route's consents are in force, the
eligibility decision is current and unflagged, and for Spravato the setting is REMS-certified and the
patient REMS-enrolled (clinical.md §1.3 [REMS-FDA, REMS-OUT, REMS-PAT]). The nurse records the manual
items: identity (two identifiers), fasting as the protocol says (Spravato: food 2 h / liquids 30 min,
clinical.md §0, §1.1 [MAYO-ESK]; IV/IM: clinic-set, §2.7 [NF]), pregnancy where it may apply,
sedating or blood-pressure-raising medicines taken today (the PMF's list, §1.4 [REMS-PMF, REMS-JNJ]), the
escort's name and phone when the protocol requires one (§2.6, §0 [LABEL-120TY]) and the baseline
vitals. A baseline above a protocol threshold (Spravato > 140/90, §0/§1.5 [LABEL-120TY]) alerts the
prescriber on call and needs their documented decision before dosing.

Every result is a `PreDoseCheck` row; the latest row of an item wins. `dosing_blockers` says, in the
nurse's words, every reason the first dose may not be given yet.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.consents.queries import missing_consents
from ketacare.eligibility.queries import eligibility_for_plan
from ketacare.patients.models import SexAtBirth
from ketacare.plans.models import PlanStatus
from ketacare.protocols.definitions import AlertThreshold, Protocol
from ketacare.sessions import alerts, core
from ketacare.sessions.lifecycle import LABELS, State
from ketacare.sessions.models import (
    BaselineDecision,
    CheckStatus,
    PreDoseCheck,
    TreatmentSession,
    VitalPhase,
    VitalSigns,
)

REMS_ENROLMENT = "spravato_rems_enrolment"  # consents' document code of the REMS patient enrolment form

LABELS_BY_ITEM: dict[str, str] = {
    "plan_signed": "Plan signed (or prescriber's order)",
    "consent": "Consent in force",
    "eligibility": "Eligibility current",
    "rems_setting": "Spravato REMS: setting certified",
    "rems_enrolled": "Spravato REMS: patient enrolled",
    "identity": "Identity (name and date of birth)",
    "fasting": "Fasting",
    "pregnancy": "Pregnancy status",
    "concomitant_meds": "Sedating or blood-pressure medicines today",
    "escort": "Escort (name and phone)",
    "baseline": "Baseline vital signs",
}
AUTOMATIC_ITEMS = ("plan_signed", "consent", "eligibility", "rems_setting", "rems_enrolled")
MANUAL_ITEMS = ("identity", "fasting", "pregnancy", "concomitant_meds", "escort")

# Medicines that may cause sedation or raise blood pressure: the PMF's concomitant-medication list
# (clinical.md §1.4 [REMS-PMF]; opioids from the later form [REMS-JNJ]).
CONCOMITANT_MEDS: dict[str, str] = {
    "benzodiazepines": "Benzodiazepines",
    "sedative_hypnotics": "Non-benzodiazepine sedative hypnotics",
    "opioids": "Opioids",
    "psychostimulants": "Psychostimulants",
    "maois": "MAOIs",
}
CONCOMITANT_SOURCE = "clinical.md §1.4 [REMS-PMF, REMS-JNJ]"

PREGNANCY_ANSWERS: dict[str, str] = {
    "not_applicable": "Not applicable",
    "negative_test": "Negative pregnancy test today",
    "not_pregnant_history": "Not pregnant by history",
    "positive": "Pregnant / positive test",
}

MEASURE_LABELS = {
    "systolic_bp": "Systolic BP",
    "diastolic_bp": "Diastolic BP",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
}

# Plausible ranges of a typed value (the model's validators; a typo, not a clinical judgement).
VITAL_RANGES: dict[str, tuple[int, int]] = {
    "systolic_bp": (40, 300),
    "diastolic_bp": (20, 200),
    "heart_rate": (20, 250),
    "spo2": (50, 100),
    "respiratory_rate": (4, 60),
}


@dataclasses.dataclass(frozen=True)
class CheckRow:
    """One line of the pre-dose checklist as the page shows it."""

    item: str
    label: str
    status: str  # passed / failed / not_applicable / missing
    status_label: str
    value: str
    note: str
    by: str
    at: datetime.datetime | None
    automatic: bool
    required: bool


@dataclasses.dataclass(frozen=True)
class ThresholdResult:
    id: str
    label: str  # "Systolic BP above 140 mmHg"
    value: int | None  # None: not set by the clinic
    measured: int | None
    exceeded: bool
    basis: str
    source: str


# --- what applies ---------------------------------------------------------------------------


def pregnancy_applies(session: TreatmentSession) -> bool:
    """Asked unless the patient's sex at birth is male (female, intersex or unknown: ask)."""
    return session.patient.sex_at_birth != SexAtBirth.MALE


def escort_required(session: TreatmentSession) -> bool:
    return bool(session.protocol.escort.required)


def required_items(session: TreatmentSession) -> list[str]:
    """The checks this session needs before dosing, in the order the page lists them."""
    items = ["plan_signed", "consent", "eligibility"]
    if session.is_spravato:
        items += ["rems_setting", "rems_enrolled"]
    items += ["identity", "fasting"]
    if pregnancy_applies(session):
        items.append("pregnancy")
    items.append("concomitant_meds")
    if escort_required(session):
        items.append("escort")
    return items


def latest_checks(session: TreatmentSession) -> dict[str, PreDoseCheck]:
    """The latest row of each item (the one that counts)."""
    rows: dict[str, PreDoseCheck] = {}
    for row in session.checks.select_related("recorded_by").order_by("recorded_at", "id"):
        rows[row.item] = row
    return rows


def pre_dose_checkpoint(protocol: Protocol) -> str:
    return next((c.id for c in protocol.vital_checkpoints if c.when == "pre_dose"), "")


def baseline_thresholds(protocol: Protocol) -> list[AlertThreshold]:
    return [t for t in protocol.alert_thresholds if t.applies_at in ("pre_dose", "any")]


def _threshold_label(t: AlertThreshold) -> str:
    name = MEASURE_LABELS.get(t.measure, t.measure)
    if t.value is None:
        return f"{name} {t.comparison}: threshold not set by the clinic"
    return f"{name} {t.comparison} {t.value} {t.unit}"


def compare_baseline(protocol: Protocol, vitals: VitalSigns | None) -> list[ThresholdResult]:
    """Each baseline threshold of the protocol and whether `vitals` is beyond it (unset: never)."""
    values = vitals.as_measures() if vitals is not None else {}
    results = []
    for t in baseline_thresholds(protocol):
        measured = values.get(t.measure)
        exceeded = False
        if t.value is not None and measured is not None:
            exceeded = measured > t.value if t.comparison == "above" else measured < t.value
        results.append(ThresholdResult(t.id, _threshold_label(t), t.value, measured, exceeded, t.basis, t.source))
    return results


def latest_baseline(session: TreatmentSession) -> VitalSigns | None:
    return (
        session.vitals.filter(phase=VitalPhase.PRE_DOSE)
        .select_related("recorded_by")
        .order_by("-taken_at", "-id")
        .first()
    )


def baseline_decision(session: TreatmentSession, vitals: VitalSigns | None) -> BaselineDecision | None:
    if vitals is None:
        return None
    return (
        session.baseline_decisions.filter(vitals=vitals)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )


# --- automatic checks -----------------------------------------------------------------------


def _automatic_results(session: TreatmentSession) -> list[tuple[str, str, dict[str, Any], str]]:
    """(item, status, value, note) for each automatic check, read from the record now."""
    patient = session.patient
    route: Any = session.route
    results: list[tuple[str, str, dict[str, Any], str]] = []

    plan = session.plan
    if plan is not None:
        if plan.status == PlanStatus.SIGNED:
            results.append(("plan_signed", CheckStatus.PASSED, {"plan": plan.pk}, f"Plan v{plan.plan_version} signed"))
        else:
            results.append(
                (
                    "plan_signed",
                    CheckStatus.FAILED,
                    {"plan": plan.pk, "status": plan.status},
                    f"Plan v{plan.plan_version} is {plan.get_status_display().lower()}: ask the prescriber "
                    "for the current plan or an order",
                )
            )
    elif session.ordered_by_id is not None:
        results.append(("plan_signed", CheckStatus.PASSED, {"ordered_by": session.ordered_by_id}, "Prescriber's order"))
    else:
        results.append(("plan_signed", CheckStatus.FAILED, {}, "No signed plan and no prescriber's order"))

    missing = missing_consents(patient, route)
    others = [m for m in missing if m.code != REMS_ENROLMENT]
    if others:
        note = "; ".join(f"{m.title}: {m.why}" for m in others)
        results.append(("consent", CheckStatus.FAILED, {"missing": [m.code for m in others]}, note))
    else:
        results.append(("consent", CheckStatus.PASSED, {}, "All consents for this route are in force"))

    eligibility = eligibility_for_plan(patient, route)
    results.append(
        (
            "eligibility",
            CheckStatus.PASSED if eligibility.ok else CheckStatus.FAILED,
            {"decision": eligibility.decision_id},
            eligibility.message,
        )
    )

    if session.is_spravato:
        # clinical.md §1.3 [REMS-FDA, REMS-OUT]: only a certified outpatient setting may administer.
        certified = session.location.spravato_rems_certified_on
        today = timezone.localdate(timezone=session.clinic.zone)
        if certified is None:
            results.append(
                ("rems_setting", CheckStatus.FAILED, {}, f"{session.location.name} is not Spravato REMS-certified")
            )
        elif certified > today:
            results.append(
                (
                    "rems_setting",
                    CheckStatus.FAILED,
                    {"certified_on": certified.isoformat()},
                    f"{session.location.name}'s REMS certification starts on {certified:%Y-%m-%d}",
                )
            )
        else:
            results.append(
                (
                    "rems_setting",
                    CheckStatus.PASSED,
                    {"certified_on": certified.isoformat(), "setting_id": session.location.spravato_rems_setting_id},
                    f"Certified since {certified:%Y-%m-%d}",
                )
            )
        # clinical.md §1.3 [REMS-PAT]: enrolled before the first session (patient and prescriber sign).
        rems = next((m for m in missing if m.code == REMS_ENROLMENT), None)
        if rems is None:
            results.append(("rems_enrolled", CheckStatus.PASSED, {}, "REMS patient enrolment in force"))
        else:
            results.append(("rems_enrolled", CheckStatus.FAILED, {}, f"{rems.title}: {rems.why}"))
    return results


def _record_automatic(actor: Actor, session: TreatmentSession) -> list[PreDoseCheck]:
    now = timezone.now()
    rows = [
        PreDoseCheck.objects.create(
            clinic=session.clinic,
            session=session,
            item=item,
            status=status,
            value=value,
            note=note,
            automatic=True,
            recorded_by=actor.user,
            recorded_at=now,
        )
        for item, status, value, note in _automatic_results(session)
    ]
    failed = [LABELS_BY_ITEM[r.item] for r in rows if r.status == CheckStatus.FAILED]
    core.add_event(
        actor,
        session,
        "check",
        "Automatic checks: " + ("all passed" if not failed else "not met: " + ", ".join(failed)),
        detail={"checks": {r.item: r.status for r in rows}},
    )
    record(
        actor,
        AuditAction.CREATE,
        "session_check.automatic",
        subject=session,
        patient=session.patient,
        detail={r.item: {"status": r.status, "note": r.note} for r in rows},
    )
    return rows


def _in_checks(session: TreatmentSession) -> None:
    if session.state != State.PRE_DOSE_CHECKS:
        if session.state in (State.SCHEDULED, State.CHECKED_IN):
            raise ValidationError({"state": "Start the pre-dose checks first."})
        raise ValidationError(
            {"state": f"The session is at {LABELS[State(session.state)].lower()}: the pre-dose checks are closed."}
        )


@transaction.atomic
def begin_checks(actor: Actor, session: TreatmentSession) -> TreatmentSession:
    """Checked in → pre-dose checks, recording the automatic checks."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    session = core.transition(actor, session, State.PRE_DOSE_CHECKS)
    _record_automatic(actor, session)
    return session


@transaction.atomic
def refresh_automatic_checks(actor: Actor, session: TreatmentSession) -> list[PreDoseCheck]:
    """Read the automatic checks again (e.g. after the consent was signed); new rows win."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _in_checks(session)
    return _record_automatic(actor, session)


# --- manual checks --------------------------------------------------------------------------


def _time(value: Any, field: str) -> datetime.datetime:
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError({field: "Enter the time."}) from None
    if not isinstance(value, datetime.datetime):
        raise ValidationError({field: "Enter the time."})
    core.aware(value, field)
    return core.not_future(value, field)


def _minutes_ago(when: datetime.datetime, now: datetime.datetime) -> int:
    return int((now - when).total_seconds() // 60)


def _fasting(session: TreatmentSession, status: str, value: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """Compare the last food and liquid with the protocol; refuse a 'passed' the times contradict."""
    fasting = session.protocol.fasting
    now = timezone.now()
    stored: dict[str, Any] = {}
    notes: list[str] = []
    errors: dict[str, str] = {}
    for key, limit, what in (
        ("last_food_at", fasting.no_food_minutes, "food"),
        ("last_liquid_at", fasting.no_liquids_minutes, "liquids"),
    ):
        raw = value.get(key, value.get(key[:-3]))  # "last_food_at" (or "last_food")
        if raw is None:
            if limit is not None:
                errors[key] = f"Enter when the patient last had {what}."
            continue
        when = _time(raw, key)
        ago = _minutes_ago(when, now)
        stored[key] = when.isoformat()
        stored[f"{key[:-3]}_minutes_ago"] = ago
        if limit is None:
            notes.append(f"last {what} {ago} min ago (no limit set by the clinic)")
        elif ago < limit:
            notes.append(f"last {what} {ago} min ago, protocol asks for {limit} min")
            if status == CheckStatus.PASSED:
                errors[key] = (
                    f"The last {what} was {ago} min ago; the protocol asks for at least {limit} min "
                    f"({fasting.source}). Record it as not met, or wait."
                )
        else:
            notes.append(f"last {what} {ago} min ago (protocol: at least {limit} min)")
    if errors:
        raise ValidationError(errors)
    return status, stored, "; ".join(notes)


def _status(value: Any) -> str:
    if value not in CheckStatus.values:
        raise ValidationError({"status": "Choose passed, not met or not applicable."})
    return str(value)


@transaction.atomic
def record_check(
    actor: Actor,
    session: TreatmentSession,
    item: str,
    *,
    status: str,
    value: dict[str, Any] | None = None,
    note: str = "",
) -> PreDoseCheck:
    """Record a manual pre-dose check (identity, fasting, pregnancy, concomitant_meds).

    value: identity {"name": bool, "date_of_birth": bool}; fasting {"last_food_at", "last_liquid_at":
    aware datetimes}; pregnancy {"answer": one of PREGNANCY_ANSWERS}; concomitant_meds {"drugs": [keys of
    CONCOMITANT_MEDS]} (taking one is a caution for the prescriber, recorded, not a failure).
    """
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _in_checks(session)
    value = dict(value or {})
    note = note.strip()
    status = _status(status)
    stored: dict[str, Any] = {}
    summary_note = ""
    if item == "identity":
        both = bool(value.get("name")) and bool(value.get("date_of_birth"))
        stored = {"name": bool(value.get("name")), "date_of_birth": bool(value.get("date_of_birth"))}
        if status == CheckStatus.PASSED and not both:
            raise ValidationError({"identity": "Confirm both identifiers: the full name and the date of birth."})
        if status == CheckStatus.NOT_APPLICABLE:
            raise ValidationError({"status": "Identity always applies."})
    elif item == "fasting":
        if status == CheckStatus.NOT_APPLICABLE:
            raise ValidationError({"status": "Record the last food and liquid times."})
        status, stored, summary_note = _fasting(session, status, value)
    elif item == "pregnancy":
        answer = value.get("answer")
        if answer is None and status == CheckStatus.NOT_APPLICABLE:
            answer = "not_applicable"
        if answer not in PREGNANCY_ANSWERS:
            raise ValidationError({"answer": "Choose the pregnancy status."})
        stored = {"answer": answer}
        status = {
            "not_applicable": CheckStatus.NOT_APPLICABLE,
            "negative_test": CheckStatus.PASSED,
            "not_pregnant_history": CheckStatus.PASSED,
            "positive": CheckStatus.FAILED,
        }[str(answer)]
        summary_note = PREGNANCY_ANSWERS[str(answer)]
    elif item == "concomitant_meds":
        drugs = [str(d) for d in value.get("drugs", value.get("taken")) or []]
        unknown = [d for d in drugs if d not in CONCOMITANT_MEDS]
        if unknown:
            raise ValidationError({"drugs": "Choose from the listed medicine groups (add others in the note)."})
        if status == CheckStatus.NOT_APPLICABLE:
            raise ValidationError({"status": "Ask about sedating and blood-pressure medicines every session."})
        stored = {"drugs": drugs}
        if drugs:
            summary_note = "Caution, taken today: " + ", ".join(CONCOMITANT_MEDS[d] for d in drugs)
            if not note:
                raise ValidationError({"note": "Say what was taken and when (the prescriber reads it)."})
        else:
            summary_note = "None of the listed medicines today"
    elif item == "escort":
        raise ValidationError({"item": "Confirm the escort with their name and phone."})
    else:
        raise ValidationError({"item": f"Unknown pre-dose check {item!r}."})
    row = PreDoseCheck.objects.create(
        clinic=session.clinic,
        session=session,
        item=item,
        status=status,
        value=stored,
        note="; ".join(p for p in (summary_note, note) if p),
        automatic=False,
        recorded_by=actor.user,
    )
    _charted(actor, session, row)
    return row


def _charted(actor: Actor, session: TreatmentSession, row: PreDoseCheck) -> None:
    text = f"{LABELS_BY_ITEM[row.item]}: {row.get_status_display().lower()}" + (f" ({row.note})" if row.note else "")
    core.add_event(actor, session, "check", text, detail={"item": row.item, "status": row.status, "check": row.pk})
    record(
        actor,
        AuditAction.CREATE,
        "session_check.recorded",
        subject=session,
        patient=session.patient,
        detail={"item": row.item, "status": row.status, "value": row.value, "note": row.note},
    )


@transaction.atomic
def confirm_escort(actor: Actor, session: TreatmentSession, *, name: str, phone: str) -> PreDoseCheck:
    """The person taking the patient home, with a phone number (clinical.md §2.6; Spravato §0 [LABEL-120TY])."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _in_checks(session)
    name, phone = name.strip(), phone.strip()
    errors = {}
    if not name:
        errors["name"] = "Enter the escort's name."
    digits = [c for c in phone if c.isdigit()]
    if len(digits) < 7:
        errors["phone"] = "Enter the escort's phone number (at least 7 digits)."
    if errors:
        raise ValidationError(errors)
    session.escort_name, session.escort_phone, session.escort_confirmed_at = name[:200], phone[:40], timezone.now()
    session.save(update_fields=["escort_name", "escort_phone", "escort_confirmed_at"])
    row = PreDoseCheck.objects.create(
        clinic=session.clinic,
        session=session,
        item="escort",
        status=CheckStatus.PASSED,
        value={"name": name, "phone": phone},
        note=f"{name}, {phone}",
        recorded_by=actor.user,
    )
    _charted(actor, session, row)
    return row


# --- baseline -------------------------------------------------------------------------------


@transaction.atomic
def record_baseline(
    actor: Actor,
    session: TreatmentSession,
    *,
    systolic_bp: int | None,
    diastolic_bp: int | None,
    heart_rate: int | None,
    spo2: int | None,
    respiratory_rate: int | None,
    taken_at: datetime.datetime | None = None,
    note: str = "",
) -> VitalSigns:
    """The pre-dose vital signs; beyond a protocol threshold: alert the prescriber, who must decide."""
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    _in_checks(session)
    values = {
        "systolic_bp": systolic_bp,
        "diastolic_bp": diastolic_bp,
        "heart_rate": heart_rate,
        "spo2": spo2,
        "respiratory_rate": respiratory_rate,
    }
    errors: dict[str, str] = {}
    for field, number in values.items():
        low, high = VITAL_RANGES[field]
        if number is None:
            errors[field] = "Enter this baseline value."
        elif not low <= number <= high:
            errors[field] = f"Enter a value between {low} and {high}."
    if not errors and systolic_bp is not None and diastolic_bp is not None and diastolic_bp >= systolic_bp:
        errors["diastolic_bp"] = "The diastolic BP must be lower than the systolic BP."
    if taken_at is not None:
        try:
            core.aware(taken_at, "taken_at")
            core.not_future(taken_at, "taken_at")
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    protocol = session.protocol
    vitals = VitalSigns.objects.create(
        clinic=session.clinic,
        session=session,
        phase=VitalPhase.PRE_DOSE,
        checkpoint=pre_dose_checkpoint(protocol),
        taken_at=taken_at or timezone.now(),
        note=note.strip(),
        recorded_by=actor.user,
        **values,
    )
    text = f"BP {systolic_bp}/{diastolic_bp}, HR {heart_rate}, SpO2 {spo2}%, RR {respiratory_rate}"
    exceeded = [r for r in compare_baseline(protocol, vitals) if r.exceeded]
    core.add_event(
        actor,
        session,
        "vitals",
        f"Baseline vitals: {text}" + (" — above threshold" if exceeded else ""),
        detail={"vitals": vitals.pk, "exceeded": [r.id for r in exceeded]},
        at=vitals.taken_at,
    )
    record(
        actor,
        AuditAction.CREATE,
        "session_vitals.baseline",
        subject=session,
        patient=session.patient,
        detail={**values, "vitals": vitals.pk, "exceeded": [r.id for r in exceeded]},
    )
    if exceeded:
        alerts.raise_alert(
            actor,
            session,
            kind="baseline",
            source_key=f"baseline:{vitals.pk}",
            summary=f"Baseline {text}: " + ", ".join(r.label for r in exceeded) + " — prescriber's decision needed",
            detail={"vitals": vitals.pk, "thresholds": [r.id for r in exceeded]},
        )
    return vitals


@transaction.atomic
def decide_baseline(actor: Actor, session: TreatmentSession, *, decision: str, reason: str) -> BaselineDecision:
    """A prescriber's risk/benefit decision on a baseline above threshold (clinical.md §0, §1.5 [LABEL-120TY]).

    "hold": do not dose today (cancel or stop); dosing stays blocked.
    """
    session = core.locked_session(actor, session, Perm.SESSION_ORDER)
    _in_checks(session)
    if decision not in BaselineDecision.Decision.values:
        raise ValidationError({"decision": "Choose proceed with dosing or do not dose today."})
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for the decision (it is part of the record)."})
    vitals = latest_baseline(session)
    if vitals is None:
        raise ValidationError({"decision": "No baseline vitals are recorded yet."})
    exceeded = [r for r in compare_baseline(session.protocol, vitals) if r.exceeded]
    if not exceeded:
        raise ValidationError(
            {"decision": "The latest baseline is within the protocol's thresholds: no decision is needed."}
        )
    row = BaselineDecision.objects.create(
        clinic=session.clinic,
        session=session,
        vitals=vitals,
        thresholds=[r.id for r in exceeded],
        decision=decision,
        reason=reason,
        decided_by=actor.user,
    )
    core.add_event(
        actor,
        session,
        "baseline_decision",
        f"Prescriber's baseline decision: {row.get_decision_display().lower()} — {reason}",
        detail={"decision": decision, "vitals": vitals.pk, "thresholds": row.thresholds},
    )
    record(
        actor,
        AuditAction.CREATE,
        "session_baseline.decided",
        subject=session,
        patient=session.patient,
        detail={"decision": decision, "reason": reason, "vitals": vitals.pk, "thresholds": row.thresholds},
    )
    alert = session.alerts.filter(source_key=f"baseline:{vitals.pk}").exclude(status="resolved").first()
    if alert is not None:
        alerts.resolve(actor, alert.pk, f"Baseline decision: {row.get_decision_display().lower()} — {reason}")
    return row


# --- what the page and dosing ask ---------------------------------------------------------


def _blocker_for(item: str, row: PreDoseCheck | None) -> str | None:
    label = LABELS_BY_ITEM[item]
    if row is None:
        return f"{label}: not checked yet."
    if row.status == CheckStatus.FAILED:
        return f"{label}: not met" + (f" — {row.note}." if row.note else ".")
    return None


def dosing_blockers(session: TreatmentSession) -> list[str]:
    """Every reason the first dose may not be given now, in the nurse's words (empty: may dose)."""
    state = State(session.state)
    if state is State.DOSING:
        return []
    if state in (State.SCHEDULED, State.CHECKED_IN):
        return ["The pre-dose checks have not been started."]
    if state is not State.PRE_DOSE_CHECKS:
        return [f"The session is at {LABELS[state].lower()}: a first dose cannot be given."]
    blockers: list[str] = []
    rows = latest_checks(session)
    for item in required_items(session):
        reason = _blocker_for(item, rows.get(item))
        if reason:
            blockers.append(reason)
    blockers.extend(_baseline_blockers(session))
    return blockers


def _baseline_blockers(session: TreatmentSession) -> list[str]:
    vitals = latest_baseline(session)
    if vitals is None:
        return ["Baseline vital signs: not recorded yet."]
    exceeded = [r for r in compare_baseline(session.protocol, vitals) if r.exceeded]
    if not exceeded:
        return []
    decided = baseline_decision(session, vitals)
    what = ", ".join(f"{r.label} (measured {r.measured})" for r in exceeded)
    if decided is None:
        return [f"Baseline above threshold — {what}: waiting for the prescriber's decision."]
    if decided.decision == BaselineDecision.Decision.HOLD:
        return [
            f"The prescriber decided not to dose today ({decided.reason}): cancel the session, or record a new "
            "baseline if the prescriber asks for one."
        ]
    return []


def _value_text(row: PreDoseCheck) -> str:
    value = row.value or {}
    if row.item == "identity":
        got = [w for w, k in (("name", "name"), ("date of birth", "date_of_birth")) if value.get(k)]
        return "Confirmed: " + " and ".join(got) if got else "Not confirmed"
    return ""


def _who(user: Any) -> str:
    return str(getattr(user, "display_name", "") or getattr(user, "full_name", "") or "")


def checklist(session: TreatmentSession) -> list[CheckRow]:
    """The checklist for the page: every required item (and any other recorded), latest row each."""
    rows = latest_checks(session)
    required = required_items(session)
    items: Iterable[str] = required + [i for i in rows if i not in required]
    out: list[CheckRow] = []
    for item in items:
        row = rows.get(item)
        if row is None:
            out.append(
                CheckRow(
                    item,
                    LABELS_BY_ITEM.get(item, item),
                    "missing",
                    "Not checked yet",
                    "",
                    "",
                    "",
                    None,
                    item in AUTOMATIC_ITEMS,
                    True,
                )
            )
            continue
        out.append(
            CheckRow(
                item=item,
                label=LABELS_BY_ITEM.get(item, item),
                status=row.status,
                status_label=row.get_status_display(),
                value=_value_text(row),
                note=row.note,
                by=_who(row.recorded_by),
                at=row.recorded_at,
                automatic=row.automatic,
                required=item in required,
            )
        )
    vitals = latest_baseline(session)
    if vitals is None:
        out.append(
            CheckRow(
                "baseline", LABELS_BY_ITEM["baseline"], "missing", "Not recorded yet", "", "", "", None, False, True
            )
        )
    else:
        blockers = _baseline_blockers(session)
        exceeded = [r for r in compare_baseline(session.protocol, vitals) if r.exceeded]
        status = "failed" if blockers else "passed"
        label = (
            "Waiting for the prescriber"
            if blockers and not baseline_decision(session, vitals)
            else ("Not met" if blockers else ("Prescriber decided: proceed" if exceeded else "Within thresholds"))
        )
        out.append(
            CheckRow(
                "baseline",
                LABELS_BY_ITEM["baseline"],
                status,
                label,
                f"BP {vitals.systolic_bp}/{vitals.diastolic_bp}, HR {vitals.heart_rate}, SpO2 {vitals.spo2}%, "
                f"RR {vitals.respiratory_rate}",
                vitals.note,
                _who(vitals.recorded_by),
                vitals.taken_at,
                False,
                True,
            )
        )
    return out


def concomitant_choices() -> list[tuple[str, str]]:
    return list(CONCOMITANT_MEDS.items())
