"""/api/v1/instruments, /api/v1/patients/{id}/responses and /api/v1/alerts."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.measures import actions
from ketacare.measures.access import access_alert, alerts_of, responses_of
from ketacare.measures.definitions import Instrument, list_instruments
from ketacare.measures.models import AlertStatus, Response, ResponseSource, SafetyAlert
from ketacare.measures.schemas import AlertCloseIn, AlertOut, InstrumentOut, ResponseIn, ResponseOut
from ketacare.patients.access import access_patient

instruments_router = Router()
responses_router = Router()
alerts_router = Router()


def _instrument_out(inst: Instrument) -> dict[str, Any]:
    return {
        "code": inst.code,
        "version": inst.version,
        "name": inst.name,
        "abbreviation": inst.abbreviation,
        "rater": inst.rater,
        "recall_period": inst.recall_period,
        "loinc_panel": inst.loinc_panel,
        "citation": inst.citation,
        "items": [
            {
                "id": it.id,
                "text": it.text,
                "options": [{"value": o.value, "label": o.label} for o in it.options],
                "required": it.required,
                "scored": it.scored,
                "ask_if": it.ask_if.model_dump() if it.ask_if else None,
            }
            for it in inst.items
        ],
    }


@instruments_router.get("", response=list[InstrumentOut], summary="Instruments: codes, items and answer options")
def list_all(request: HttpRequest) -> list[dict[str, Any]]:
    actor_of(request)  # any signed-in token: instruments are reference data, not PHI
    return [_instrument_out(i) for i in list_instruments()]


def _response_out(response: Response) -> dict[str, Any]:
    alert = getattr(response, "alert", None) if hasattr(response, "alert") else None
    return {
        "id": response.pk,
        "instrument": response.instrument_code,
        "version": response.instrument_version,
        "valid": response.valid,
        "total": response.total,
        "severity": response.severity,
        "severity_label": response.severity_label,
        "subscales": response.subscales,
        "risk_level": response.risk_level,
        "answers": response.answers,
        "source": response.source,
        "completed_at": response.completed_at,
        "alerts": [alert.pk] if alert is not None else [],
    }


@responses_router.post(
    "/{patient_id}/responses", response={201: ResponseOut}, summary="Record a completed questionnaire"
)
def create_response(request: HttpRequest, patient_id: int, payload: ResponseIn) -> tuple[int, dict[str, Any]]:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_ENTER)
    with transaction.atomic():
        response = actions.submit_response(
            actor,
            patient,
            payload.instrument,
            payload.answers,
            source=ResponseSource.API,
            completed_at=payload.completed_at,
        )
    return 201, _response_out(Response.objects.select_related("alert").get(pk=response.pk))


@responses_router.get("/{patient_id}/responses", response=list[ResponseOut], summary="A patient's responses")
def list_responses(request: HttpRequest, patient_id: int, instrument: str | None = None) -> list[dict[str, Any]]:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_VIEW)
    rows = responses_of(actor).filter(patient=patient).select_related("alert").order_by("-completed_at", "-id")
    if instrument:
        rows = rows.filter(instrument_code=instrument)
    result = [_response_out(r) for r in rows[:500]]
    record(
        actor,
        AuditAction.READ,
        "response.listed",
        patient=patient,
        detail={"instrument": instrument or "", "rows_returned": len(result), "via_api": True},
    )
    return result


@alerts_router.get("", response=list[AlertOut], summary="Safety alerts (open and acknowledged by default)")
def list_alerts(request: HttpRequest, status: AlertStatus | None = None) -> list[SafetyAlert]:
    actor = actor_of(request)
    rows = alerts_of(actor)
    rows = rows.filter(status=status) if status else rows.unresolved()
    result = list(rows.order_by("raised_at")[:500])
    record(
        actor,
        AuditAction.READ,
        "safety_alert.listed",
        detail={"status": status or "unresolved", "alerts": [a.pk for a in result]},
    )
    return result


@alerts_router.post("/{alert_id}/acknowledge", response=AlertOut, summary="Acknowledge (stops escalation)")
def acknowledge(request: HttpRequest, alert_id: int) -> SafetyAlert:
    actor = actor_of(request)
    access_alert(actor, alert_id)
    return actions.acknowledge_alert(actor, alert_id)


@alerts_router.post("/{alert_id}/close", response=AlertOut, summary="Close with the documented action")
def close(request: HttpRequest, alert_id: int, payload: AlertCloseIn) -> SafetyAlert:
    actor = actor_of(request)
    access_alert(actor, alert_id)
    return actions.close_alert(actor, alert_id, payload.action_taken, payload.action_at)
