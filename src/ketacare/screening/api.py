"""/api/v1/intakes: schema -> access -> action -> schema, with the rules of the pages.

Roles: `intake.send` lists status and sends links (front desk included), `intake.view` reads the
answers, `intake.edit` creates, changes and reviews. POSTs honour `Idempotency-Key`. The URL of a
new link is in the response once (never stored with the idempotency record).
"""

from __future__ import annotations

from typing import Any

import pydantic
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.patients import links
from ketacare.patients.access import access_patient
from ketacare.screening import actions
from ketacare.screening.access import access_intake, intakes_of
from ketacare.screening.intake_data import IntakeData, data_errors
from ketacare.screening.models import Intake, IntakeStatus
from ketacare.screening.queries import intake_data, missing_for_review, trial_count
from ketacare.screening.schemas import IntakeCreateIn, IntakeOut, IntakePatch, IntakeSummaryOut, LinkOut

router = Router()

IdempotencyKey = Header(None, alias="Idempotency-Key", max_length=200)  # type: ignore[type-arg]


def _summary(intake: Intake) -> dict[str, Any]:
    return {
        "id": intake.pk,
        "patient_id": intake.patient_id,
        "status": intake.status,
        "version": intake.version,
        "created_at": intake.created_at,
        "submitted_via": intake.submitted_via,
        "submitted_at": intake.submitted_at,
        "reviewed_at": intake.reviewed_at,
    }


def _detail(intake: Intake) -> dict[str, Any]:
    intake = Intake.objects.select_related("reviewed_by").get(pk=intake.pk)
    count = trial_count(intake)
    out = {
        **_summary(intake),
        "reviewed_by": intake.reviewed_by.full_name if intake.reviewed_by else "",
        "data": intake_data(intake),
        "trial_count": {
            "count": count.count,
            "undetermined": count.undetermined,
            "threshold": count.threshold,
            "treatment_resistant": count.treatment_resistant,
            "trials": [{"drug": j.trial.drug, "verdict": j.verdict, "why": list(j.why)} for j in count.judgements],
        },
        "missing_for_review": list(missing_for_review(intake)),
    }
    # JSON values, since an Idempotency-Key stores the body in a JSONField.
    body: dict[str, Any] = IntakeOut.model_validate(out).model_dump(mode="json")
    return body


def _validated(values: dict[str, Any]) -> IntakeData:
    try:
        return IntakeData.model_validate(values)
    except pydantic.ValidationError as exc:
        raise ValidationError(data_errors(exc)) from None


def _idempotent(actor: Actor, name: str, key: str | None, payload: Any, effect: Any) -> tuple[int, Any]:
    if key:
        outcome = run_once(actor, f"api:intakes.{name}:{key}", fingerprint(payload), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        result: tuple[int, Any] = effect()
        return result


@router.get("", response=list[IntakeSummaryOut], summary="A patient's intakes (status only)")
def list_intakes(request: HttpRequest, patient_id: int) -> list[dict[str, Any]]:
    actor = actor_of(request)
    intakes_of(actor)  # intake.view or intake.send, else 403
    patient = access_patient(actor, patient_id, Perm.PATIENT_VIEW)
    rows = [_summary(i) for i in intakes_of(actor).filter(patient=patient).order_by("-created_at", "-id")[:100]]
    record(
        actor,
        AuditAction.READ,
        "intake.listed",
        patient=patient,
        detail={"rows_returned": len(rows), "via_api": True},
    )
    return rows


@router.get("/{intake_id}", response=IntakeOut, summary="Read an intake with its answers and trial count")
def get_intake(request: HttpRequest, intake_id: int) -> dict[str, Any]:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_VIEW)
    actions.record_intake_read(actor, intake, view="api")
    return _detail(intake)


@router.post("", response={201: IntakeOut, 200: IntakeOut}, summary="Start an intake entered by staff")
def create_intake(
    request: HttpRequest, payload: IntakeCreateIn, idempotency_key: str | None = IdempotencyKey
) -> tuple[int, Any]:
    actor = actor_of(request)
    if not actor.can(Perm.INTAKE_EDIT):
        raise PermissionDenied(f"Your role does not allow {Perm.INTAKE_EDIT}.")
    patient = access_patient(actor, payload.patient_id, Perm.INTAKE_EDIT)

    def effect() -> tuple[int, Any]:
        intake = actions.start_intake(actor, patient, payload.data)
        return 201, _detail(intake)

    return _idempotent(actor, "create", idempotency_key, payload.model_dump(mode="json"), effect)


@router.patch("/{intake_id}", response=IntakeOut, summary="Change some of an intake's answers")
def patch_intake(request: HttpRequest, intake_id: int, payload: IntakePatch) -> dict[str, Any]:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_EDIT)
    changes = payload.model_dump(exclude_unset=True)
    with transaction.atomic():
        current = intake_data(intake).model_dump()
        if "facts" in changes:
            changes["facts"] = {**current["facts"], **(changes["facts"] or {})}
        if changes.get("trials") is None:
            changes.pop("trials", None)
        data = _validated({**current, **changes})
        actions.update_intake(actor, intake, data)
    return _detail(intake)


@router.post("/{intake_id}/link", response={201: LinkOut, 200: LinkOut}, summary="Send the patient the intake link")
def send_link(request: HttpRequest, intake_id: int, idempotency_key: str | None = IdempotencyKey) -> tuple[int, Any]:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_SEND)
    if intake.status not in (IntakeStatus.DRAFT, IntakeStatus.SENT):
        raise ValidationError(
            {"intake_id": f"This intake is {intake.get_status_display().lower()}: no link is needed."}
        )
    url: dict[str, str] = {}

    def effect() -> tuple[int, Any]:
        sent, link = actions.send_intake_link(actor, intake.patient)
        if sent.pk != intake.pk:  # pragma: no cover - the open intake is the latest one
            raise ValidationError({"intake_id": "A newer intake is open for this patient."})
        url["url"] = links.link_url(link)
        return 201, {
            "intake_id": sent.pk,
            "link_id": link.pk,
            "expires_at": link.expires_at.isoformat(),
            "emailed": bool(intake.patient.email),
            "url": None,
        }

    status, body = _idempotent(actor, "link", idempotency_key, {"intake": intake_id}, effect)
    return status, {**body, "url": url.get("url")}


@router.post("/{intake_id}/review", response={200: IntakeOut}, summary="Mark the intake reviewed")
def review(request: HttpRequest, intake_id: int, idempotency_key: str | None = IdempotencyKey) -> tuple[int, Any]:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_EDIT)

    def effect() -> tuple[int, Any]:
        return 200, _detail(actions.mark_reviewed(actor, intake))

    return _idempotent(actor, "review", idempotency_key, {"intake": intake_id}, effect)
