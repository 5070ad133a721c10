"""/api/v1/plans: schema -> access -> action -> schema.

A signed plan is locked: PATCH (and a second sign) answers 409 with "revise it". Sign refusals
(password, eligibility, consents, a dose that no longer matches) are 422 per field. POSTs honour
`Idempotency-Key` as the patients API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.patients.access import access_patient
from ketacare.plans import actions
from ketacare.plans.access import access_plan, plans_of
from ketacare.plans.models import TreatmentPlan
from ketacare.plans.schemas import PlanIn, PlanOut, PlanPatch, SignIn, WeightIn, WeightOut

router = Router()


def plan_out(plan: TreatmentPlan) -> dict[str, Any]:
    """A plan as JSON values (an Idempotency-Key stores the body in a JSONField)."""
    return {
        "id": plan.pk,
        "patient_id": plan.patient_id,
        "route": plan.route,
        "status": plan.status,
        "plan_version": plan.plan_version,
        "previous_id": plan.previous_id,
        "protocol_version_id": plan.protocol_version_id,
        "protocol_name": str(plan.protocol_snapshot.get("name", "")),
        "weight_kg": str(plan.weight_kg) if plan.weight_kg is not None else None,
        "weighed_on": plan.weighed_on.isoformat() if plan.weighed_on else None,
        "dose_raw_mg": format(plan.dose_raw_mg.normalize(), "f"),
        "dose_final_mg": format(plan.dose_final_mg.normalize(), "f"),
        "dose_selected_mg": format(plan.dose_selected_mg.normalize(), "f") if plan.dose_selected_mg else None,
        "dose_applied": plan.dose_applied,
        "planned_sessions": list(plan.planned_sessions),
        "first_session_on": plan.first_session_on.isoformat(),
        "interval_days": plan.interval_days,
        "notes": plan.notes,
        "created_by": plan.created_by.full_name,
        "created_at": plan.created_at.isoformat(),
        "signed_by": plan.signed_by.full_name if plan.signed_by else None,
        "signed_at": plan.signed_at.isoformat() if plan.signed_at else None,
        "signature_meaning": plan.signature_meaning,
        "superseded_at": plan.superseded_at.isoformat() if plan.superseded_at else None,
    }


def _fresh(pk: int) -> TreatmentPlan:
    return TreatmentPlan.objects.select_related("created_by", "signed_by").get(pk=pk)


def _once(
    actor: Actor, key: str | None, name: str, payload: Any, effect: Callable[[], tuple[int, Any]]
) -> tuple[int, Any]:
    if key:
        outcome = run_once(actor, f"api:{name}:{key}", fingerprint(payload), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return effect()


def _locked(exc: actions.PlanLocked) -> tuple[int, Any]:
    return 409, {"detail": str(exc)}


@router.get("", response=list[PlanOut], summary="A patient's plans, newest version first")
def list_plans(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.PLAN_VIEW)
    rows = list(
        plans_of(actor)
        .filter(patient=patient)
        .select_related("created_by", "signed_by")
        .order_by("route", "-plan_version", "-id")
    )
    record(
        actor, AuditAction.READ, "plan.listed", patient=patient, detail={"plans": [p.pk for p in rows], "via_api": True}
    )
    return [plan_out(p) for p in rows]


@router.get("/{int:plan_id}", response=PlanOut, summary="One plan")
def get_plan(request: HttpRequest, plan_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id)
    record(actor, AuditAction.READ, "plan.viewed", subject=plan, patient=plan.patient)
    return plan_out(plan)


@router.post("", response={201: PlanOut, 200: PlanOut}, summary="Draft a plan from a published protocol version")
def create_plan(
    request: HttpRequest,
    payload: PlanIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    patient = access_patient(actor, payload.patient_id, Perm.PLAN_DRAFT)

    def effect() -> tuple[int, Any]:
        plan = actions.create_plan(
            actor,
            patient,
            payload.protocol_version_id,
            first_session_on=payload.first_session_on,
            interval_days=payload.interval_days,
            selected_mg=payload.selected_mg,
            notes=payload.notes,
        )
        return 201, plan_out(_fresh(plan.pk))

    return _once(actor, idempotency_key, "plans.create", payload.dict(), effect)


@router.patch(
    "/{int:plan_id}", response={200: PlanOut, 409: dict[str, Any]}, summary="Change a draft (409 once signed)"
)
def patch_plan(request: HttpRequest, plan_id: int, payload: PlanPatch) -> tuple[int, Any]:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_DRAFT)
    given = payload.dict(exclude_unset=True)
    try:
        updated = actions.update_draft(
            actor,
            plan,
            protocol_version_id=given.get("protocol_version_id") or plan.protocol_version_id,
            first_session_on=given.get("first_session_on") or plan.first_session_on,
            interval_days=given.get("interval_days", plan.interval_days),
            selected_mg=given.get("selected_mg", plan.dose_selected_mg),
            notes=given["notes"] if given.get("notes") is not None else plan.notes,
        )
    except actions.PlanLocked as exc:
        return _locked(exc)
    return 200, plan_out(_fresh(updated.pk))


@router.post("/{int:plan_id}/sign", response={200: PlanOut, 409: dict[str, Any]}, summary="Sign (prescriber, password)")
def sign_plan(request: HttpRequest, plan_id: int, payload: SignIn) -> tuple[int, Any]:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_SIGN)
    try:
        signed = actions.sign_plan(actor, plan, payload.password)
    except actions.PlanLocked as exc:
        return _locked(exc)
    except ValidationError as exc:
        actions.record_refused_signature(actor, plan, exc.message_dict)
        raise
    return 200, plan_out(_fresh(signed.pk))


@router.post(
    "/{int:plan_id}/revise",
    response={201: PlanOut, 200: PlanOut, 409: dict[str, Any]},
    summary="A new draft version of a signed plan (the signed one stays in force until it is signed)",
)
def revise_plan(
    request: HttpRequest,
    plan_id: int,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_DRAFT)

    def effect() -> tuple[int, Any]:
        try:
            draft = actions.revise_plan(actor, plan)
        except ValidationError as exc:
            return 409, {"detail": " ".join(exc.messages)}
        return 201, plan_out(_fresh(draft.pk))

    return _once(actor, idempotency_key, f"plans.revise.{plan.pk}", {}, effect)


@router.post("/weights", response={201: WeightOut, 200: WeightOut}, summary="Record a weight measured in the clinic")
def record_weight(
    request: HttpRequest,
    payload: WeightIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)
    patient = access_patient(actor, payload.patient_id, Perm.PLAN_DRAFT)

    def effect() -> tuple[int, Any]:
        m = actions.record_weight(actor, patient, payload.weight_kg, payload.measured_on)
        return 201, {
            "id": m.pk,
            "patient_id": patient.pk,
            "weight_kg": str(m.weight_kg),
            "measured_on": m.measured_on.isoformat(),
        }

    return _once(actor, idempotency_key, "plans.weight", payload.dict(), effect)
