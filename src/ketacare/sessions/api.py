"""/api/v1/sessions: schema -> access -> action -> schema, with the pages' rules.

Every operation needs the bearer token (401). A role without the permission gets 403, another
clinic's session 404. A signed or cancelled session answers every change with **409** and the
reason (`core.SessionLocked`). A refusal (a `ValidationError` from the action: an unmet discharge
gate, a value out of range, a missing reason) is **422** with one entry per field and changes
nothing. POSTs honour `Idempotency-Key` as the other domains do: a repeat with the same body
returns the first result and does nothing twice; a refused request leaves no trace and may be sent
again corrected.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest
from django.utils import timezone
from ninja import Header, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location, Resource
from ketacare.inventory.actions import WitnessSignature
from ketacare.inventory.models import Container, Lot
from ketacare.patients.models import Patient
from ketacare.plans.models import TreatmentPlan
from ketacare.protocols.models import ClinicProtocolVersion
from ketacare.sessions import checks, core, discharge, dosing, gates, monitoring, pmf, signing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession
from ketacare.sessions.schemas import (
    AddendumIn,
    AssessmentIn,
    BaselineDecisionIn,
    BookIn,
    CheckIn,
    CheckInIn,
    ChecklistIn,
    DoseIn,
    EndDosingIn,
    EscortIn,
    PasswordIn,
    PmfSubmissionIn,
    PmfValuesIn,
    ReasonIn,
    RemsDueOut,
    ResolveIn,
    SessionDetailOut,
    SessionOut,
    SideEffectIn,
    SignatureIn,
    StopInfusionIn,
    VitalsIn,
)

router = Router()

KEY = Header(None, alias="Idempotency-Key", max_length=200)  # type: ignore[type-arg]
Body = dict[str, Any]
CANCELLED_MESSAGE = "This session was cancelled and cannot change; book a new session instead."
ACTION_RESPONSES: dict[int, Any] = {200: dict[str, Any], 201: dict[str, Any], 409: dict[str, Any], 422: dict[str, Any]}


# --- JSON of a session ------------------------------------------------------------------------


def _iso(value: datetime.datetime | datetime.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_out(s: TreatmentSession) -> Body:
    """The session's own fields as JSON values (an Idempotency-Key stores the body in a JSONField)."""
    return {
        "id": s.pk,
        "patient_id": s.patient_id,
        "patient_name": s.patient.display_name,
        "location_id": s.location_id,
        "chair_id": s.chair_id,
        "chair": s.chair.name if s.chair else None,
        "plan_id": s.plan_id,
        "sequence": s.sequence,
        "ordered_by": s.ordered_by.full_name if s.ordered_by else None,
        "order_reason": s.order_reason,
        "route": s.route,
        "protocol_version_id": s.protocol_version_id,
        "protocol_name": str(s.protocol_snapshot.get("name", "")),
        "planned_dose_mg": format(s.planned_dose_mg.normalize(), "f"),
        "scheduled_at": _iso(s.scheduled_at),
        "state": s.state,
        "state_label": s.state_label,
        "state_changed_at": _iso(s.state_changed_at),
        "checked_in_at": _iso(s.checked_in_at),
        "checks_started_at": _iso(s.checks_started_at),
        "first_dose_at": _iso(s.first_dose_at),
        "dose_ended_at": _iso(s.dose_ended_at),
        "ready_at": _iso(s.ready_at),
        "discharged_at": _iso(s.discharged_at),
        "ended_early_at": _iso(s.ended_early_at),
        "end_reason": s.end_reason,
        "cancelled_at": _iso(s.cancelled_at),
        "cancel_reason": s.cancel_reason,
        "signed_at": _iso(s.signed_at),
        "escort_name": s.escort_name,
        "escort_phone": s.escort_phone,
        "escort_confirmed_at": _iso(s.escort_confirmed_at),
        "escort_present_at": _iso(s.escort_present_at),
        "discharge_checklist": s.discharge_checklist or {},
    }


def _fresh(pk: int) -> TreatmentSession:
    return TreatmentSession.objects.select_related(
        "clinic", "patient", "location", "chair", "plan", "ordered_by", "protocol_version"
    ).get(pk=pk)


def _vital(v: Any) -> Body:
    return {
        "id": v.pk,
        "phase": v.phase,
        "checkpoint": v.checkpoint,
        "taken_at": _iso(v.taken_at),
        "systolic_bp": v.systolic_bp,
        "diastolic_bp": v.diastolic_bp,
        "heart_rate": v.heart_rate,
        "spo2": v.spo2,
        "respiratory_rate": v.respiratory_rate,
        "note": v.note,
        "recorded_by": v.recorded_by.full_name,
        "recorded_at": _iso(v.recorded_at),
    }


def _dose(d: Any) -> Body:
    return {
        "id": d.pk,
        "ledger_entry_id": d.ledger_entry_id,
        "route": d.route,
        "dose_mg": format(d.dose_mg.normalize(), "f"),
        "volume_ml": format(d.volume_ml.normalize(), "f"),
        "device_number": d.device_number,
        "rate_ml_per_hour": format(d.rate_ml_per_hour.normalize(), "f") if d.rate_ml_per_hour is not None else None,
        "started_at": _iso(d.started_at),
        "ended_at": _iso(d.ended_at),
        "deviation_reason": d.deviation_reason,
        "deviation_approved_by": d.deviation_approved_by.full_name if d.deviation_approved_by else None,
        "given_by": d.given_by.full_name,
        "recorded_at": _iso(d.recorded_at),
    }


def _alert(a: Any) -> Body:
    return {
        "id": a.pk,
        "kind": a.kind,
        "summary": a.summary,
        "status": a.status,
        "raised_at": _iso(a.raised_at),
        "acknowledged_at": _iso(a.acknowledged_at),
        "resolved_at": _iso(a.resolved_at),
        "resolution": a.resolution,
    }


def _observation_end(s: TreatmentSession) -> datetime.datetime | None:
    if s.first_dose_at is None:
        return None
    try:
        return gates.observation_ends_at(
            route=s.protocol_route,  # type: ignore[arg-type]
            protocol=s.protocol,
            first_dose_at=s.first_dose_at,
            dose_ended_at=s.dose_ended_at,
        )
    except ValueError:
        return None


def session_detail(s: TreatmentSession, now: datetime.datetime) -> Body:
    """Everything of the session: checks, doses (with their ledger entries), vitals, assessments, side
    effects, alerts, discharge gates, vitals due, signatures, addenda, the REMS form and the timeline."""
    vitals = list(s.vitals.select_related("recorded_by").order_by("taken_at", "id"))
    status = discharge.discharge_status(s, now, vitals) if s.first_dose_at else []
    form = pmf.form_for(s)
    return {
        **session_out(s),
        "observation_ends_at": _iso(_observation_end(s)),
        "checks": [
            {
                "id": c.pk,
                "item": c.item,
                "status": c.status,
                "value": c.value,
                "note": c.note,
                "automatic": c.automatic,
                "recorded_by": c.recorded_by.full_name,
                "recorded_at": _iso(c.recorded_at),
            }
            for c in s.checks.select_related("recorded_by").order_by("recorded_at", "id")
        ],
        "doses": [
            _dose(d) for d in s.doses.select_related("given_by", "deviation_approved_by").order_by("started_at", "id")
        ],
        "vitals": [_vital(v) for v in vitals],
        "baseline_decisions": [
            {
                "id": b.pk,
                "vitals_id": b.vitals_id,
                "thresholds": b.thresholds,
                "decision": b.decision,
                "reason": b.reason,
                "decided_by": b.decided_by.full_name,
                "decided_at": _iso(b.decided_at),
            }
            for b in s.baseline_decisions.select_related("decided_by").order_by("decided_at", "id")
        ],
        "assessments": [
            {
                "id": a.pk,
                "taken_at": _iso(a.taken_at),
                "moaas": a.moaas,
                "dissociation": a.dissociation,
                "cadss_total": a.cadss_total,
                "note": a.note,
                "recorded_by": a.recorded_by.full_name,
            }
            for a in s.assessments.select_related("recorded_by").order_by("taken_at", "id")
        ],
        "side_effects": [
            {
                "id": e.pk,
                "kind": e.kind,
                "other": e.other,
                "severity": e.severity,
                "onset_at": _iso(e.onset_at),
                "action_taken": e.action_taken,
                "recorded_by": e.recorded_by.full_name,
            }
            for e in s.side_effects.select_related("recorded_by").order_by("onset_at", "id")
        ],
        "alerts": [_alert(a) for a in s.alerts.order_by("raised_at", "id")],
        "gates": [{"id": g.id, "met": g.met, "reason": g.reason} for g in status],
        "may_discharge": gates.may_discharge(status),
        "vitals_due": [
            {
                "checkpoint": slot.checkpoint,
                "label": slot.label,
                "due_at": _iso(slot.due_at),
                "status": slot.status,
                "done_at": _iso(slot.done_at),
            }
            for slot in monitoring.vitals_schedule(s, now, vitals)
        ],
        "signatures": [
            {"id": g.pk, "role": g.role, "signer": g.signer_label, "meaning": g.meaning, "signed_at": _iso(g.signed_at)}
            for g in s.signatures.order_by("signed_at", "id")
        ],
        "addenda": [
            {"id": a.pk, "text": a.text, "author": a.author_label, "written_at": _iso(a.written_at)}
            for a in s.addenda.order_by("written_at", "id")
        ],
        "rems_form": None
        if form is None
        else {
            "id": form.pk,
            "form_version": form.form_version,
            "values": form.values,
            "due_date": _iso(form.due_date),
            "frozen_at": _iso(form.frozen_at),
            "submitted_on": _iso(form.submitted_on),
            "submission_method": form.submission_method,
            "confirmation_number": form.confirmation_number,
        },
        "timeline": [
            {
                "id": e.pk,
                "at": _iso(e.at),
                "kind": e.kind,
                "summary": e.summary,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "actor": e.actor.full_name,
            }
            for e in core.timeline(s)
        ],
    }


# --- the pattern of every POST ------------------------------------------------------------------


def _once(actor: Actor, key: str | None, name: str, payload: Any, effect: Callable[[], tuple[int, Any]]) -> Any:
    if key:
        outcome = run_once(actor, f"api:{name}:{key}", fingerprint(payload), effect)
        return (200 if outcome.replayed else outcome.status_code), outcome.body
    with transaction.atomic():
        return effect()


def _act(
    request: HttpRequest,
    session_id: int,
    perm: str,
    name: str,
    payload: Any,
    key: str | None,
    do: Callable[[Actor, TreatmentSession], Any],
    status: int = 200,
    allow_locked: bool = False,
) -> Any:
    """Access (403/404), then the action once per key: 409 locked, 422 refused, else the session.

    A signed or cancelled session is refused before the body is looked at (a lot, a dose, an
    alert of it), so every change answers 409 alike; the action checks again under its row lock.
    """
    actor = actor_of(request)
    session = core.access_session(actor, session_id, perm)

    def effect() -> tuple[int, Any]:
        if session.is_locked and not allow_locked:
            message = core.LOCKED_MESSAGE if session.state == State.SIGNED else CANCELLED_MESSAGE
            return 409, {"detail": message}
        try:
            result = do(actor, session)
        except core.SessionLocked as exc:
            return 409, {"detail": str(exc)}
        body: Body = {"session": session_out(_fresh(session.pk))}
        if isinstance(result, dict):
            body["result"] = result
        elif result is not None and not isinstance(result, TreatmentSession):
            body["result"] = {"id": result.pk, "type": type(result).__name__}
        return status, body

    return _once(actor, key, f"sessions.{name}.{session.pk}", payload, effect)


def _payload(schema: Any) -> Any:
    return schema.dict() if schema is not None else {}


def _signature(given: SignatureIn | None) -> WitnessSignature | None:
    return WitnessSignature(email=given.email, password=given.password) if given else None


# --- list, detail, booking ---------------------------------------------------------------------


@router.get("", response=list[SessionOut], summary="Sessions of the clinic (filters: location, date, state)")
def list_sessions(
    request: HttpRequest,
    location: int | None = None,
    date: datetime.date | None = None,
    state: str | None = None,
) -> list[Body]:
    actor = actor_of(request)
    # The front desk lists the day to check patients in (as the today page shows them); the clinical
    # roles and the auditor see sessions anyway.
    perm = Perm.SESSION_VIEW if actor.can(Perm.SESSION_VIEW) else Perm.SESSION_BOARD
    rows = core.sessions_of(actor, perm).select_related(
        "clinic", "patient", "location", "chair", "plan", "ordered_by", "protocol_version"
    )
    if location is not None:
        rows = rows.filter(location_id=location)
    if date is not None:
        zone = actor.clinic.zone
        start = datetime.datetime.combine(date, datetime.time.min, tzinfo=zone)
        end = datetime.datetime.combine(date + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone)
        rows = rows.filter(scheduled_at__gte=start, scheduled_at__lt=end)
    if state is not None:
        if state not in {s.value for s in State}:
            raise ValidationError({"state": "Unknown state; use one of " + ", ".join(s.value for s in State) + "."})
        rows = rows.filter(state=state)
    found = list(rows.order_by("scheduled_at", "id")[:500])
    record(
        actor,
        AuditAction.READ,
        "session.listed",
        detail={"sessions": [s.pk for s in found], "location": location, "date": _iso(date), "via_api": True},
    )
    return [session_out(s) for s in found]


@router.get("/rems/due", response=list[RemsDueOut], summary="Spravato Patient Monitoring Forms due (7 calendar days)")
def rems_due(request: HttpRequest) -> list[Body]:
    actor = actor_of(request)
    rows = pmf.due_queue(actor)
    record(actor, AuditAction.READ, "pmf.queue_viewed", detail={"rows": len(rows), "via_api": True})
    return [
        {
            "session_id": r["session"].pk,
            "patient_id": r["patient"].pk,
            "patient_name": r["patient"].display_name,
            "location_id": r["session"].location_id,
            "form_id": r["form"].pk if r["form"] is not None else None,
            "due_date": r["due_date"],
            "days_left": r["days_left"],
            "overdue": r["overdue"],
            "escalated": r["escalated"],
            "frozen": r["frozen"],
            "status": r["status"],
        }
        for r in rows
    ]


@router.get("/{int:session_id}", response=SessionDetailOut, summary="One session with everything charted")
def get_session(request: HttpRequest, session_id: int) -> Body:
    actor = actor_of(request)
    session = core.access_session(actor, session_id)
    record(
        actor, AuditAction.READ, "session.viewed", subject=session, patient=session.patient, detail={"via_api": True}
    )
    return session_detail(_fresh(session.pk), timezone.now())


def _clinic_object(model: Any, pk: int | None, field: str, message: str, **scope: Any) -> Any:
    if pk is None:
        return None
    found = model.objects.filter(pk=pk, **scope).first()
    if found is None:
        raise ValidationError({field: message})
    return found


@router.post("", response=ACTION_RESPONSES, summary="Book from a signed plan, or order a one-off session")
def book(request: HttpRequest, payload: BookIn, idempotency_key: str | None = KEY) -> Any:
    """Creates the treatment session only: it holds no chair, room or nurse on the schedule. To book
    a visit with its chair, staff and recovery time held (or a whole series), use
    `POST /api/v1/scheduling/appointments` or `/api/v1/scheduling/series`, which create the session."""
    actor = actor_of(request)
    plan: TreatmentPlan | None = None
    patient: Patient | None = None
    if payload.plan_id is not None:
        core.require(actor, Perm.SESSION_CHECK_IN)
        plan = TreatmentPlan.objects.filter(pk=payload.plan_id, clinic=actor.clinic).first()
        if plan is None:
            raise Http404("No such plan.")
    elif payload.patient_id is not None:
        core.require(actor, Perm.SESSION_ORDER)
        patient = Patient.objects.filter(pk=payload.patient_id, clinic=actor.clinic).first()
        if patient is None:
            raise Http404("No such patient.")
    else:
        raise ValidationError({"plan_id": "Give the signed plan to book from (or patient_id for a one-off order)."})
    location = _clinic_object(
        Location, payload.location_id, "location_id", "Choose one of the clinic's locations.", clinic=actor.clinic
    )
    chair = _clinic_object(
        Resource, payload.chair_id, "chair_id", "Choose one of the clinic's chairs or rooms.", clinic=actor.clinic
    )

    def effect() -> tuple[int, Any]:
        if plan is not None:
            session = core.create_from_plan(
                actor,
                plan,
                scheduled_at=payload.scheduled_at,
                sequence=payload.sequence,
                location=location,
                chair=chair,
            )
        elif patient is not None:
            version = _clinic_object(
                ClinicProtocolVersion,
                payload.protocol_version_id,
                "protocol_version_id",
                "Choose one of the clinic's published protocol versions.",
                clinic_protocol__clinic=actor.clinic,
            )
            if version is None:
                raise ValidationError({"protocol_version_id": "A one-off order names its protocol version."})
            if payload.dose_mg is None:
                raise ValidationError({"dose_mg": "Enter the dose in mg."})
            session = core.order_session(
                actor,
                patient,
                protocol_version=version,
                dose_mg=payload.dose_mg,
                reason=payload.reason,
                scheduled_at=payload.scheduled_at,
                location=location,
                chair=chair,
            )
        else:  # pragma: no cover - refused above
            raise ValidationError({"plan_id": "Give the signed plan to book from."})
        return 201, {"session": session_out(_fresh(session.pk))}

    return _once(actor, idempotency_key, "sessions.book", payload.dict(), effect)


# --- front-desk steps ---------------------------------------------------------------------------


@router.post("/{int:session_id}/check-in", response=ACTION_RESPONSES, summary="The patient has arrived")
def check_in(
    request: HttpRequest, session_id: int, payload: CheckInIn | None = None, idempotency_key: str | None = KEY
) -> Any:
    chair_id = payload.chair_id if payload else None

    def do(actor: Actor, session: TreatmentSession) -> Any:
        chair = _clinic_object(
            Resource, chair_id, "chair_id", "Choose one of the clinic's chairs or rooms.", clinic=actor.clinic
        )
        return core.check_in(actor, session, chair=chair)

    return _act(request, session_id, Perm.SESSION_CHECK_IN, "check-in", _payload(payload), idempotency_key, do)


@router.post("/{int:session_id}/cancel", response=ACTION_RESPONSES, summary="Cancel before dosing (reason)")
def cancel(request: HttpRequest, session_id: int, payload: ReasonIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CANCEL,
        "cancel",
        payload.dict(),
        idempotency_key,
        lambda actor, session: core.cancel(actor, session, payload.reason),
    )


@router.post("/{int:session_id}/stop", response=ACTION_RESPONSES, summary="Stop early after dosing began (reason)")
def stop(request: HttpRequest, session_id: int, payload: ReasonIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "stop",
        payload.dict(),
        idempotency_key,
        lambda actor, session: core.stop_early(actor, session, payload.reason),
    )


# --- pre-dose checks -------------------------------------------------------------------------------


@router.post("/{int:session_id}/checks/begin", response=ACTION_RESPONSES, summary="Begin the pre-dose checks")
def begin_checks(request: HttpRequest, session_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, session_id, Perm.SESSION_CHART, "checks-begin", {}, idempotency_key, checks.begin_checks)


@router.post("/{int:session_id}/checks", response=ACTION_RESPONSES, summary="Record a manual pre-dose check")
def record_check(request: HttpRequest, session_id: int, payload: CheckIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "check",
        payload.dict(),
        idempotency_key,
        lambda actor, session: checks.record_check(
            actor, session, payload.item, status=payload.status, value=payload.value, note=payload.note
        ),
        201,
    )


@router.post("/{int:session_id}/escort", response=ACTION_RESPONSES, summary="Confirm the escort (name and phone)")
def confirm_escort(request: HttpRequest, session_id: int, payload: EscortIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "escort",
        payload.dict(),
        idempotency_key,
        lambda actor, session: checks.confirm_escort(actor, session, name=payload.name, phone=payload.phone),
    )


@router.post("/{int:session_id}/baseline", response=ACTION_RESPONSES, summary="Record the baseline vital signs")
def record_baseline(request: HttpRequest, session_id: int, payload: VitalsIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "baseline",
        payload.dict(),
        idempotency_key,
        lambda actor, session: checks.record_baseline(
            actor,
            session,
            systolic_bp=payload.systolic_bp,
            diastolic_bp=payload.diastolic_bp,
            heart_rate=payload.heart_rate,
            spo2=payload.spo2,
            respiratory_rate=payload.respiratory_rate,
            taken_at=payload.taken_at,
            note=payload.note,
        ),
        201,
    )


@router.post(
    "/{int:session_id}/baseline/decision",
    response=ACTION_RESPONSES,
    summary="A prescriber's decision on a baseline above the protocol's threshold",
)
def decide_baseline(
    request: HttpRequest, session_id: int, payload: BaselineDecisionIn, idempotency_key: str | None = KEY
) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_ORDER,
        "baseline-decision",
        payload.dict(),
        idempotency_key,
        lambda actor, session: checks.decide_baseline(actor, session, decision=payload.decision, reason=payload.reason),
        201,
    )


# --- dosing -----------------------------------------------------------------------------------------


@router.post("/{int:session_id}/doses", response=ACTION_RESPONSES, summary="Give a dose drawn from a lot")
def give_dose(request: HttpRequest, session_id: int, payload: DoseIn, idempotency_key: str | None = KEY) -> Any:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        lot = _clinic_object(Lot, payload.lot_id, "lot_id", "Choose a lot of this clinic.", clinic=actor.clinic)
        container = _clinic_object(
            Container, payload.container_id, "container_id", "Choose an open vial of this lot.", clinic=actor.clinic
        )
        dose = dosing.give_dose(
            actor,
            session,
            lot=lot,
            quantity_mg=payload.quantity_mg,
            quantity_ml=payload.quantity_ml,
            container=container,
            started_at=payload.started_at,
            rate_ml_per_hour=payload.rate_ml_per_hour,
            device_number=payload.device_number,
            deviation_reason=payload.deviation_reason,
            approver=_signature(payload.approver),
        )
        return {"dose_id": dose.pk, "ledger_entry_id": dose.ledger_entry_id}

    return _act(request, session_id, Perm.SESSION_CHART, "dose", payload.dict(), idempotency_key, do, 201)


@router.post("/{int:session_id}/doses/stop", response=ACTION_RESPONSES, summary="Stop an infusion")
def stop_infusion(
    request: HttpRequest, session_id: int, payload: StopInfusionIn, idempotency_key: str | None = KEY
) -> Any:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        dose = session.doses.filter(pk=payload.dose_id).first()
        if dose is None:
            raise ValidationError({"dose_id": "No such dose in this session."})
        return dosing.stop_infusion(actor, session, dose, ended_at=payload.ended_at)

    return _act(request, session_id, Perm.SESSION_CHART, "stop-infusion", payload.dict(), idempotency_key, do)


@router.post("/{int:session_id}/doses/end", response=ACTION_RESPONSES, summary="End dosing (observation starts)")
def end_dosing(request: HttpRequest, session_id: int, payload: EndDosingIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "end-dosing",
        payload.dict(),
        idempotency_key,
        lambda actor, session: dosing.end_dosing(
            actor,
            session,
            ended_at=payload.ended_at,
            deviation_reason=payload.deviation_reason,
            approver=_signature(payload.approver),
        ),
    )


# --- monitoring --------------------------------------------------------------------------------------


@router.post("/{int:session_id}/vitals", response=ACTION_RESPONSES, summary="Record vital signs (alerts beyond limits)")
def record_vitals(request: HttpRequest, session_id: int, payload: VitalsIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "vitals",
        payload.dict(),
        idempotency_key,
        lambda actor, session: monitoring.record_vitals(
            actor,
            session,
            taken_at=payload.taken_at,
            systolic_bp=payload.systolic_bp,
            diastolic_bp=payload.diastolic_bp,
            heart_rate=payload.heart_rate,
            spo2=payload.spo2,
            respiratory_rate=payload.respiratory_rate,
            checkpoint=payload.checkpoint,
            note=payload.note,
        ),
        201,
    )


@router.post("/{int:session_id}/assessments", response=ACTION_RESPONSES, summary="Sedation (MOAA/S) and dissociation")
def record_assessment(
    request: HttpRequest, session_id: int, payload: AssessmentIn, idempotency_key: str | None = KEY
) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "assessment",
        payload.dict(),
        idempotency_key,
        lambda actor, session: monitoring.record_assessment(
            actor,
            session,
            taken_at=payload.taken_at,
            moaas=payload.moaas,
            dissociation=payload.dissociation,
            cadss_total=payload.cadss_total,
            note=payload.note,
        ),
        201,
    )


@router.post("/{int:session_id}/side-effects", response=ACTION_RESPONSES, summary="A side effect and what was done")
def record_side_effect(
    request: HttpRequest, session_id: int, payload: SideEffectIn, idempotency_key: str | None = KEY
) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "side-effect",
        payload.dict(),
        idempotency_key,
        lambda actor, session: monitoring.record_side_effect(
            actor,
            session,
            kind=payload.kind,
            severity=payload.severity,
            onset_at=payload.onset_at,
            action_taken=payload.action_taken,
            other=payload.other,
        ),
        201,
    )


@router.post(
    "/{int:session_id}/alerts/{int:alert_id}/acknowledge", response=ACTION_RESPONSES, summary="Acknowledge an alert"
)
def acknowledge_alert(request: HttpRequest, session_id: int, alert_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        f"alert-ack-{alert_id}",
        {},
        idempotency_key,
        lambda actor, session: monitoring.acknowledge_alert(actor, session, alert_id),
    )


@router.post(
    "/{int:session_id}/alerts/{int:alert_id}/resolve",
    response=ACTION_RESPONSES,
    summary="Resolve an alert (prescriber, what was done)",
)
def resolve_alert(
    request: HttpRequest, session_id: int, alert_id: int, payload: ResolveIn, idempotency_key: str | None = KEY
) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_ORDER,
        f"alert-resolve-{alert_id}",
        payload.dict(),
        idempotency_key,
        lambda actor, session: monitoring.resolve_alert(actor, session, alert_id, payload.resolution),
    )


# --- discharge -----------------------------------------------------------------------------------------


@router.post("/{int:session_id}/checklist", response=ACTION_RESPONSES, summary="Tick (or untick) a checklist item")
def tick_checklist(
    request: HttpRequest, session_id: int, payload: ChecklistIn, idempotency_key: str | None = KEY
) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "checklist",
        payload.dict(),
        idempotency_key,
        lambda actor, session: discharge.tick_checklist(actor, session, payload.item_id, payload.done),
    )


@router.post("/{int:session_id}/escort-present", response=ACTION_RESPONSES, summary="The escort is here")
def escort_present(request: HttpRequest, session_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request, session_id, Perm.SESSION_CHART, "escort-present", {}, idempotency_key, discharge.escort_present
    )


@router.post("/{int:session_id}/ready", response=ACTION_RESPONSES, summary="Observation → ready for discharge")
def mark_ready(request: HttpRequest, session_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, session_id, Perm.SESSION_CHART, "ready", {}, idempotency_key, discharge.mark_ready)


@router.post(
    "/{int:session_id}/discharge",
    response=ACTION_RESPONSES,
    summary="Discharge (422 with every unmet gate's reason while any gate is unmet)",
)
def discharge_patient(request: HttpRequest, session_id: int, idempotency_key: str | None = KEY) -> Any:
    return _act(request, session_id, Perm.SESSION_CHART, "discharge", {}, idempotency_key, discharge.discharge)


# --- signing, addenda, REMS --------------------------------------------------------------------------


@router.post("/{int:session_id}/sign", response=ACTION_RESPONSES, summary="Sign the note (nurse, prescriber; password)")
def sign(request: HttpRequest, session_id: int, payload: PasswordIn, idempotency_key: str | None = KEY) -> Any:
    try:
        # The password is never part of the stored request fingerprint.
        return _act(
            request,
            session_id,
            Perm.SESSION_CHART,
            "sign",
            {},
            idempotency_key,
            lambda actor, session: signing.sign(actor, session, password=payload.password, audit_refusal=False),
        )
    except signing.WrongPassword:
        # Audited once the request's transaction has rolled back (else the row would go with it).
        actor = actor_of(request)
        signing.audit_password_refusal(actor, core.access_session(actor, session_id, Perm.SESSION_CHART))
        raise


@router.post("/{int:session_id}/addenda", response=ACTION_RESPONSES, summary="An addendum to a signed session")
def add_addendum(request: HttpRequest, session_id: int, payload: AddendumIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_ADDENDUM,
        "addendum",
        payload.dict(),
        idempotency_key,
        lambda actor, session: signing.add_addendum(actor, session, payload.text),
        201,
        allow_locked=True,
    )


@router.post("/{int:session_id}/pmf", response=ACTION_RESPONSES, summary="Fill the REMS Patient Monitoring Form")
def pmf_values(request: HttpRequest, session_id: int, payload: PmfValuesIn, idempotency_key: str | None = KEY) -> Any:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "pmf",
        payload.dict(),
        idempotency_key,
        lambda actor, session: pmf.update_values(actor, session, payload.values),
    )


@router.post(
    "/{int:session_id}/pmf/submission",
    response=ACTION_RESPONSES,
    summary="Record the form's submission to the REMS (date, method, confirmation number)",
)
def pmf_submission(
    request: HttpRequest, session_id: int, payload: PmfSubmissionIn, idempotency_key: str | None = KEY
) -> Any:
    actor = actor_of(request)
    core.require(actor, Perm.REMS_SUBMIT)
    session = core.access_session(actor, session_id, Perm.SESSION_VIEW)
    form = pmf.access_form(actor, session)

    def effect() -> tuple[int, Any]:
        done = pmf.record_submission(
            actor,
            form,
            submitted_on=payload.submitted_on,
            method=payload.method,
            confirmation_number=payload.confirmation_number,
        )
        return 200, {
            "session": session_out(_fresh(session.pk)),
            "result": {"id": done.pk, "submitted_on": _iso(done.submitted_on)},
        }

    return _once(actor, idempotency_key, f"sessions.pmf-submission.{session.pk}", payload.dict(), effect)


__all__ = ["router", "session_detail", "session_out"]
