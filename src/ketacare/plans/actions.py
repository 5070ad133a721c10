"""The only writers of treatment plans (and of the weight a plan is dosed from).

- `create_plan` / `update_draft`: a published clinic protocol version, the dose from the latest weight
  (refused when missing or older than the protocol allows: `record_weight` first), the series dates.
- `sign_plan`: a prescriber re-enters their password; refused while the patient is not eligible for
  the route or lacks a required consent (Spravato: REMS enrolment); the dose and schedule are
  recomputed from the plan's own protocol snapshot and must match; the version it revises is superseded.
- `revise_plan`: a new draft version linked to the signed one, which stays in force until the new one
  is signed. `cancel_plan` closes a draft or a signed plan with a reason.

Each runs in one transaction and writes its audit row.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record
from ketacare.consents.queries import missing_consents
from ketacare.eligibility.queries import eligibility_for_plan
from ketacare.patients.measurements import add_measurement, latest_weight
from ketacare.patients.models import BodyMeasurement, MeasurementSource, Patient
from ketacare.plans.dosing import ROUTE_OF_PROTOCOL, PlanComputation, compute_plan, mg
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols.definitions import Protocol
from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus

MIN_WEIGHT_KG = Decimal("20")
MAX_WEIGHT_KG = Decimal("400")


class PlanLocked(Exception):
    """The plan is not a draft: it cannot be edited (revise it instead). Pages and the API answer 409."""


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def _own(actor: Actor, patient: Patient) -> None:
    if patient.clinic_id != actor.clinic.pk:
        raise PermissionDenied("Another clinic's patient.")


def clinic_today(actor: Actor) -> datetime.date:
    return timezone.localdate(timezone=actor.clinic.zone)


def published_versions(actor: Actor) -> list[ClinicProtocolVersion]:
    """The clinic's protocol versions a new plan may use (one published version per protocol)."""
    return list(
        ClinicProtocolVersion.objects.filter(clinic=actor.clinic, status=VersionStatus.PUBLISHED)
        .select_related("clinic_protocol")
        .order_by("clinic_protocol__name", "clinic_protocol_id")
    )


def _published_version(actor: Actor, protocol_version_id: Any) -> ClinicProtocolVersion:
    version = (
        ClinicProtocolVersion.objects.filter(clinic=actor.clinic, pk=protocol_version_id)
        .select_related("clinic_protocol")
        .first()
        if str(protocol_version_id).isdigit()
        else None
    )
    if version is None:
        raise ValidationError({"protocol_version": "Choose one of the clinic's published protocols."})
    if version.status != VersionStatus.PUBLISHED:
        raise ValidationError(
            {
                "protocol_version": f"{version.clinic_protocol.name} version {version.version} is "
                f"{version.get_status_display().lower()}; new plans use the published version."
            }
        )
    return version


def _compute(
    actor: Actor,
    patient: Patient,
    protocol: Protocol,
    *,
    first_session_on: datetime.date,
    interval_days: int | None,
    selected_mg: Decimal | None,
) -> tuple[BodyMeasurement | None, PlanComputation]:
    weight = latest_weight(patient)
    computed = compute_plan(
        protocol,
        weight_kg=weight.weight_kg if weight is not None else None,
        weighed_on=weight.measured_on if weight is not None else None,
        today=clinic_today(actor),
        first_session_on=first_session_on,
        interval_days=interval_days,
        selected_mg=selected_mg,
    )
    return weight, computed


def _fill(
    plan: TreatmentPlan,
    version: ClinicProtocolVersion,
    weight: BodyMeasurement | None,
    computed: PlanComputation,
    *,
    first_session_on: datetime.date,
    interval_days: int | None,
    notes: str,
) -> None:
    plan.protocol_version = version
    plan.protocol_snapshot = version.data
    plan.route = ROUTE_OF_PROTOCOL[version.protocol.route]
    plan.weight_measurement = weight
    plan.weight_kg = weight.weight_kg if weight is not None else None
    plan.weighed_on = weight.measured_on if weight is not None else None
    plan.dose_raw_mg = computed.raw_mg
    plan.dose_final_mg = computed.final_mg
    plan.dose_selected_mg = computed.selected_mg
    plan.dose_applied = computed.dose_applied()
    plan.planned_sessions = [d.isoformat() for d in computed.sessions]
    plan.first_session_on = first_session_on
    plan.interval_days = interval_days
    plan.notes = notes.strip()


def _summary(plan: TreatmentPlan) -> dict[str, Any]:
    return {
        "protocol_version_id": plan.protocol_version_id,
        "plan_version": plan.plan_version,
        "route": plan.route,
        "weight_kg": str(plan.weight_kg) if plan.weight_kg is not None else None,
        "weighed_on": plan.weighed_on.isoformat() if plan.weighed_on else None,
        "dose_raw_mg": str(plan.dose_raw_mg),
        "dose_final_mg": str(plan.dose_final_mg),
        "planned_sessions": list(plan.planned_sessions),
    }


@transaction.atomic
def record_weight(actor: Actor, patient: Patient, weight_kg: Decimal, measured_on: datetime.date) -> BodyMeasurement:
    """Record a weight measured in the clinic (source: staff), for dosing."""
    _require(actor, Perm.PLAN_DRAFT)
    _own(actor, patient)
    errors: dict[str, str] = {}
    if not isinstance(weight_kg, Decimal) or not weight_kg.is_finite():
        errors["weight_kg"] = "Enter the weight in kg."
    elif not MIN_WEIGHT_KG <= weight_kg <= MAX_WEIGHT_KG:
        errors["weight_kg"] = f"Enter a weight between {MIN_WEIGHT_KG} and {MAX_WEIGHT_KG} kg."
    elif weight_kg != weight_kg.quantize(Decimal("0.1")):
        errors["weight_kg"] = "Enter the weight to one decimal place (0.1 kg)."
    if measured_on > clinic_today(actor):
        errors["measured_on"] = "The date it was measured cannot be in the future."
    if errors:
        raise ValidationError(errors)
    measurement = add_measurement(
        patient, measured_on=measured_on, source=MeasurementSource.STAFF, recorded_by=actor.user, weight_kg=weight_kg
    )
    assert measurement is not None  # noqa: S101 - a weight was given
    record(
        actor,
        AuditAction.CREATE,
        "body_measurement.recorded",
        subject=measurement,
        patient=patient,
        detail={"weight_kg": str(weight_kg), "measured_on": measured_on.isoformat(), "for": "treatment plan"},
    )
    return measurement


@transaction.atomic
def create_plan(
    actor: Actor,
    patient: Patient,
    protocol_version_id: int,
    *,
    first_session_on: datetime.date,
    interval_days: int | None = None,
    selected_mg: Decimal | None = None,
    notes: str = "",
) -> TreatmentPlan:
    """A draft plan (version 1) on a published protocol version, dosed from the latest weight."""
    _require(actor, Perm.PLAN_DRAFT)
    _own(actor, patient)
    version = _published_version(actor, protocol_version_id)
    weight, computed = _compute(
        actor,
        patient,
        version.protocol,
        first_session_on=first_session_on,
        interval_days=interval_days,
        selected_mg=selected_mg,
    )
    plan = TreatmentPlan(clinic=actor.clinic, patient=patient, created_by=actor.user, plan_version=1)
    _fill(plan, version, weight, computed, first_session_on=first_session_on, interval_days=interval_days, notes=notes)
    plan.save()
    record(actor, AuditAction.CREATE, "plan.created", subject=plan, patient=patient, detail=_summary(plan))
    return plan


def _locked_draft(actor: Actor, plan: TreatmentPlan) -> TreatmentPlan:
    locked = TreatmentPlan.objects.select_for_update().filter(pk=plan.pk, clinic=actor.clinic).first()
    if locked is None:
        raise PermissionDenied("Another clinic's plan.")
    if locked.status != PlanStatus.DRAFT:
        raise PlanLocked(
            "This plan is signed and locked; revise it to make a new version."
            if locked.status == PlanStatus.SIGNED
            else f"This plan is {locked.get_status_display().lower()}; it cannot be changed."
        )
    return locked


@transaction.atomic
def update_draft(
    actor: Actor,
    plan: TreatmentPlan,
    *,
    protocol_version_id: int,
    first_session_on: datetime.date,
    interval_days: int | None = None,
    selected_mg: Decimal | None = None,
    notes: str = "",
) -> TreatmentPlan:
    """Change a draft: every number is computed again (latest weight, chosen published version)."""
    _require(actor, Perm.PLAN_DRAFT)
    locked = _locked_draft(actor, plan)
    before = _summary(locked)
    if protocol_version_id == locked.protocol_version_id:
        version = ClinicProtocolVersion.objects.select_related("clinic_protocol").get(pk=protocol_version_id)
        if version.status == VersionStatus.DRAFT:  # pragma: no cover - a plan is only made on a published one
            raise ValidationError({"protocol_version": "This protocol version is not published."})
    else:
        version = _published_version(actor, protocol_version_id)
    weight, computed = _compute(
        actor,
        locked.patient,
        version.protocol,
        first_session_on=first_session_on,
        interval_days=interval_days,
        selected_mg=selected_mg,
    )
    _fill(
        locked, version, weight, computed, first_session_on=first_session_on, interval_days=interval_days, notes=notes
    )
    locked.save()
    record(
        actor,
        AuditAction.UPDATE,
        "plan.updated",
        subject=locked,
        patient=locked.patient,
        detail={"before": before, "after": _summary(locked)},
    )
    return locked


def _signature_meaning(actor: Actor, plan: TreatmentPlan, protocol: Protocol, today: datetime.date) -> str:
    sessions = plan.session_dates
    dose = (
        f"{mg(plan.dose_final_mg)} mg"
        if plan.weight_kg is None
        else f"{mg(plan.dose_final_mg)} mg (weight {mg(plan.weight_kg)} kg on {plan.weighed_on})"
    )
    return (
        f"I, {actor.user.full_name}, prescriber, have reviewed this treatment plan and approve it: "
        f"{protocol.name} (clinic version {plan.protocol_version.version}), {dose}, {len(sessions)} sessions "
        f"from {sessions[0].isoformat()} to {sessions[-1].isoformat()}. Signed {today.isoformat()}."
    )


@transaction.atomic
def sign_plan(actor: Actor, plan: TreatmentPlan, password: str) -> TreatmentPlan:
    """A prescriber signs a draft with their password; the plan is then locked."""
    _require(actor, Perm.PLAN_SIGN)
    locked = _locked_draft(actor, plan)
    if not password or not actor.user.check_password(password):
        raise ValidationError({"password": "The password is not correct. Re-enter your own password to sign."})
    patient = locked.patient
    errors: dict[str, list[str]] = {}
    eligibility = eligibility_for_plan(patient, locked.route)  # type: ignore[arg-type]
    if not eligibility.ok:
        errors["eligibility"] = [eligibility.message or "The patient is not cleared for this route."]
    missing = missing_consents(patient, locked.route)  # type: ignore[arg-type]
    if missing:
        errors["consents"] = [f"Missing consent: {m.title} ({m.why})." for m in missing]
    # The plan's own snapshot decides: a protocol edit since has no effect on it.
    protocol = Protocol.model_validate(locked.protocol_snapshot)
    today = clinic_today(actor)
    try:
        computed = compute_plan(
            protocol,
            weight_kg=locked.weight_kg,
            weighed_on=locked.weighed_on,
            today=today,
            first_session_on=locked.first_session_on,
            interval_days=locked.interval_days,
            selected_mg=locked.dose_selected_mg,
        )
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            hint = " Update the draft (record today's weight first if needed)." if field == "weight" else ""
            errors.setdefault(field, []).extend(m + hint for m in messages)
    else:
        if computed.final_mg != locked.dose_final_mg or [d.isoformat() for d in computed.sessions] != list(
            locked.planned_sessions
        ):
            errors.setdefault("__all__", []).append(
                "The dose or dates no longer match the protocol's rules: update the draft before signing."
            )
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    superseded: int | None = None
    in_force = (
        TreatmentPlan.objects.select_for_update()
        .filter(patient=patient, route=locked.route, status=PlanStatus.SIGNED)
        .first()
    )
    if in_force is not None:
        if locked.previous_id != in_force.pk:
            raise ValidationError(
                {
                    "__all__": f"Another signed plan (version {in_force.plan_version}) is in force for this "
                    "route: revise or cancel it instead of signing a second one."
                }
            )
        in_force.status = PlanStatus.SUPERSEDED
        in_force.superseded_at = now
        in_force.save(update_fields=["status", "superseded_at"])
        superseded = in_force.pk
    locked.status = PlanStatus.SIGNED
    locked.signed_by = actor.user
    locked.signed_at = now
    locked.signature_meaning = _signature_meaning(actor, locked, protocol, today)
    try:
        with transaction.atomic():
            locked.save(update_fields=["status", "signed_by", "signed_at", "signature_meaning"])
    except IntegrityError:
        raise ValidationError({"__all__": "Another plan for this route was signed at the same moment."}) from None
    record(
        actor,
        AuditAction.UPDATE,
        "plan.signed",
        subject=locked,
        patient=patient,
        detail={**_summary(locked), "superseded_plan": superseded, "eligibility_decision": eligibility.decision_id},
    )
    return locked


@transaction.atomic
def revise_plan(actor: Actor, plan: TreatmentPlan) -> TreatmentPlan:
    """A new draft version of a signed plan (the signed one stays in force until this one is signed).

    If a draft revision already exists, it is returned instead of making a second one.
    """
    _require(actor, Perm.PLAN_DRAFT)
    locked = TreatmentPlan.objects.select_for_update().filter(pk=plan.pk, clinic=actor.clinic).first()
    if locked is None:
        raise PermissionDenied("Another clinic's plan.")
    if locked.status != PlanStatus.SIGNED:
        raise ValidationError({"__all__": "Only the signed plan in force can be revised."})
    existing = TreatmentPlan.objects.filter(previous=locked, status=PlanStatus.DRAFT).first()
    if existing is not None:
        return existing
    draft = TreatmentPlan(
        clinic=locked.clinic,
        patient=locked.patient,
        route=locked.route,
        protocol_version=locked.protocol_version,
        protocol_snapshot=locked.protocol_snapshot,
        plan_version=locked.plan_version + 1,
        previous=locked,
        weight_measurement=locked.weight_measurement,
        weight_kg=locked.weight_kg,
        weighed_on=locked.weighed_on,
        dose_raw_mg=locked.dose_raw_mg,
        dose_final_mg=locked.dose_final_mg,
        dose_applied=locked.dose_applied,
        dose_selected_mg=locked.dose_selected_mg,
        planned_sessions=locked.planned_sessions,
        first_session_on=locked.first_session_on,
        interval_days=locked.interval_days,
        notes=locked.notes,
        created_by=actor.user,
    )
    draft.save()
    record(
        actor,
        AuditAction.CREATE,
        "plan.revised",
        subject=draft,
        patient=locked.patient,
        detail={"previous_plan": locked.pk, "plan_version": draft.plan_version},
    )
    return draft


@transaction.atomic
def cancel_plan(actor: Actor, plan: TreatmentPlan, reason: str) -> TreatmentPlan:
    """Cancel a draft (who may draft) or a signed plan (a prescriber), with the reason."""
    locked = TreatmentPlan.objects.select_for_update().filter(pk=plan.pk, clinic=actor.clinic).first()
    if locked is None:
        raise PermissionDenied("Another clinic's plan.")
    _require(actor, Perm.PLAN_SIGN if locked.status == PlanStatus.SIGNED else Perm.PLAN_DRAFT)
    if locked.status not in (PlanStatus.DRAFT, PlanStatus.SIGNED):
        raise PlanLocked(f"This plan is {locked.get_status_display().lower()}; it cannot be cancelled.")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the plan is cancelled."})
    was = locked.status
    locked.status = PlanStatus.CANCELLED
    locked.cancelled_by = actor.user
    locked.cancelled_at = timezone.now()
    locked.cancel_reason = reason.strip()
    locked.save(update_fields=["status", "cancelled_by", "cancelled_at", "cancel_reason"])
    record(
        actor,
        AuditAction.UPDATE,
        "plan.cancelled",
        subject=locked,
        patient=locked.patient,
        detail={"was": was, "reason": locked.cancel_reason},
    )
    return locked


def record_refused_signature(actor: Actor, plan: TreatmentPlan, reasons: dict[str, list[str]]) -> None:
    """Keep a refused signing attempt in the audit trail (called outside the refused transaction)."""
    record(
        actor,
        AuditAction.UPDATE,
        "plan.sign_refused",
        subject=plan,
        patient=plan.patient,
        outcome=AuditOutcome.MINOR_FAILURE,
        detail={
            "reasons": {k: v for k, v in reasons.items() if k != "password"},
            "password_wrong": "password" in reasons,
        },
    )
