"""Chairside sections for monitoring (vitals, ratings, side effects, alerts), discharge (gates,
checklist, escort, ready, discharge) and sign-and-lock (signatures, addenda, the note PDF).

Form -> access (403/404) -> action (409 when signed, 422 with the reason when refused) -> redirect to
the section. GETs never write (the late-vitals alerts come from the session sweep).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.sessions import checkpoints, core, discharge, gates, monitoring, note_pdf, signing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import (
    AlertStatus,
    DissociationRating,
    Severity,
    SideEffectKind,
    SignerRole,
    TreatmentSession,
)
from ketacare.sessions.monitor_forms import AssessmentForm, SideEffectForm, VitalsForm, first_errors

CHECKPOINT_WORDS = {
    "after_start": "{m} min after the first dose",
    "during_every": "During dosing (every {m} min)",
    "after_end_every": "After dosing (every {m} min)",
    "pre_discharge": "Before discharge",
}


def section_context(request: HttpRequest, actor: Actor, session: TreatmentSession) -> dict[str, Any]:
    """Context the chairside page passes to the monitoring, discharge and sign partials."""
    now = timezone.now()
    state = State(session.state)
    shows_monitoring = session.first_dose_at is not None or state in monitoring.CHARTING_STATES
    context: dict[str, Any] = {
        "stylesheets": ["ketacare/sessions-monitor.css"],
        "mon_show": shows_monitoring,
        "mon_can_record": actor.can(Perm.SESSION_CHART) and state in monitoring.CHARTING_STATES,
        "mon_can_resolve": actor.can(Perm.SESSION_ORDER) and not session.is_locked,
        "mon_can_ack": actor.can(Perm.SESSION_CHART) and not session.is_locked,
    }
    alerts = list(session.alerts.select_related("acknowledged_by", "resolved_by").order_by("raised_at", "id"))
    context["mon_open_alerts"] = [a for a in alerts if a.status != AlertStatus.RESOLVED]
    context["mon_resolved_alerts"] = [a for a in alerts if a.status == AlertStatus.RESOLVED]
    vitals = list(session.vitals.select_related("recorded_by").order_by("taken_at", "id")) if shows_monitoring else []
    if shows_monitoring:
        ended = session.discharged_at or session.ended_early_at
        # Once the session has ended, the schedule is read as of its end: what was missed stays missed.
        slots = monitoring.vitals_schedule(session, min(now, ended) if ended else now, vitals)
        upcoming = default_slot(slots)
        context.update(
            {
                "mon_slots": slots,
                "mon_ended": ended is not None,
                "mon_next_slot": upcoming,
                "mon_late_count": len(checkpoints.late(slots)),
                "mon_vitals": [{"row": v, "text": monitoring.describe_vitals(v)} for v in vitals],
                "mon_checkpoints": [
                    {"id": cp.id, "label": CHECKPOINT_WORDS.get(cp.when, cp.when).format(m=cp.minutes)}
                    for cp in session.protocol.vital_checkpoints
                    if cp.when not in ("continuous", "pre_dose")
                ],
                "mon_continuous": [cp for cp in session.protocol.vital_checkpoints if cp.when == "continuous"],
                "mon_thresholds": [
                    {"t": t, "label": gates.MEASURE_LABELS.get(t.measure, t.measure)}
                    for t in monitoring.thresholds_in_force(session)
                ],
                "mon_assessments": list(session.assessments.select_related("recorded_by")),
                "mon_side_effects": list(session.side_effects.select_related("recorded_by")),
                "mon_moaas_anchors": monitoring.MOAAS_ANCHORS,
                "mon_dissociation_choices": DissociationRating.choices,
                "mon_side_effect_kinds": SideEffectKind.choices,
                "mon_severities": Severity.choices,
                "mon_vitals_default_checkpoint": upcoming.checkpoint if upcoming else "",
            }
        )
    # Discharge
    shows_discharge = state in (State.OBSERVATION, State.READY_FOR_DISCHARGE) or (
        state is State.DOSING and session.first_dose_at is not None
    )
    context["dis_show"] = shows_discharge
    if shows_discharge:
        status = discharge.discharge_status(session, now, vitals)
        done = session.discharge_checklist or {}
        shown = gates_shown(status)
        context.update(
            {
                "dis_gates": shown,
                "dis_may": gates.may_discharge(status),
                "dis_unmet": [g for g in shown if not g.met],
                "dis_items": [
                    {"item": item, "tick": done.get(item.id) if item.id in discharge.ticked(session) else None}
                    for item in session.protocol.discharge_checklist
                ],
                "dis_can_act": actor.can(Perm.SESSION_CHART),
                "dis_ready_allowed": state is State.OBSERVATION,
                "dis_escort_required": session.protocol.escort.required,
            }
        )
    # Signatures and addenda
    signatures = list(session.signatures.all())
    signed_roles = {s.role for s in signatures}
    my_role = (
        SignerRole.PRESCRIBER
        if actor.role == Role.PRESCRIBER
        else SignerRole.NURSE
        if actor.role == Role.NURSE
        else None
    )
    context.update(
        {
            "sig_show": state in signing.SIGNABLE or state is State.SIGNED or bool(signatures),
            "sig_signatures": signatures,
            "sig_missing": [label for value, label in SignerRole.choices if value not in signed_roles],
            "sig_role": my_role,
            "sig_can_sign": state in signing.SIGNABLE
            and my_role is not None
            and my_role not in signed_roles
            and all(s.signed_by_id != actor.user.pk for s in signatures),
            "sig_addenda": list(session.addenda.all()) if state is State.SIGNED else [],
            "sig_can_addendum": state is State.SIGNED and actor.can(Perm.SESSION_ADDENDUM),
        }
    )
    return context


def default_slot(slots: list[checkpoints.Slot]) -> checkpoints.Slot | None:
    """The slot the vitals form answers by default: the latest one due or late by now, else the next.

    Vitals charted here are taken after dosing began, so the pre-dose slot (no clock time) is skipped.
    """
    timed = [s for s in slots if s.due_at is not None and s.status != "done"]
    open_now = [s for s in timed if s.status in ("due", "late")]
    if open_now:
        return max(open_now, key=lambda s: s.due_at or timezone.now())
    return timed[0] if timed else None


def gates_shown(status: list[gates.Gate]) -> list[gates.Gate]:
    """The gates as the page lists them: the checklist items as one line (they are ticked below)."""
    items = [g for g in status if g.id.startswith("checklist.")]
    others = [g for g in status if not g.id.startswith("checklist.")]
    if not items:
        return others
    ticked = sum(1 for g in items if g.met)
    summary = gates.Gate(
        "checklist",
        ticked == len(items),
        f"Discharge checklist: {ticked} of {len(items)} items ticked"
        + ("" if ticked == len(items) else " (tick them below)"),
    )
    return [others[0], summary, *others[1:]] if others else [summary]


# --- the POST plumbing ------------------------------------------------------------------------


def _act(
    request: HttpRequest,
    session_id: int,
    perm: str,
    key: str,
    anchor: str,
    do: Callable[[Actor, TreatmentSession], Any],
    done: str,
    form_context: dict[str, Any] | None = None,
) -> HttpResponse:
    from ketacare.sessions import views as chair

    actor = actor_of(request)
    session = core.access_session(actor, session_id, perm)
    if session.is_locked and key != "addendum":
        # Refused before the form is read: every change to a signed session answers 409 alike
        # (the action checks again under its row lock).
        message = core.LOCKED_MESSAGE if session.state == State.SIGNED else "This session was cancelled."
        return chair.refused(request, session, message, 409)

    def effect() -> tuple[int, Any]:
        do(actor, session)
        return 201, {"session": session.pk}

    try:
        chair.run_form(actor, request, key, effect)
    except core.SessionLocked as exc:
        return chair.refused(request, session, str(exc), 409)
    except ValidationError as exc:
        if isinstance(exc, signing.WrongPassword):
            signing.audit_password_refusal(actor, session)  # after the form's transaction rolled back
        session.refresh_from_db()
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return chair.render_chair(
            request,
            session,
            refusal=chair.errors_text(exc),
            status=422,
            **{f"{key}_errors": errors, f"{key}_data": request.POST, **(form_context or {})},
        )
    except IdempotencyConflict:
        return chair.refused(
            request, session, "This form was already submitted with other values; reload the page.", 422
        )
    if done:
        messages.success(request, done)
    return HttpResponseRedirect(chair.chair_url(session, anchor))


def _with_form(form: Any, action: Callable[..., Any]) -> Callable[[Actor, TreatmentSession], Any]:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        if not form.is_valid():
            raise first_errors(form)
        return action(actor, session, **form.values())

    return do


@clinic_view(Perm.SESSION_CHART)
@require_POST
def vitals(request: HttpRequest, session_id: int) -> HttpResponse:
    form = VitalsForm(request.POST, clinic=actor_of(request).clinic)
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "vitals",
        "monitoring",
        _with_form(form, monitoring.record_vitals),
        "Vitals recorded.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def assessment(request: HttpRequest, session_id: int) -> HttpResponse:
    form = AssessmentForm(request.POST, clinic=actor_of(request).clinic)
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "assessment",
        "monitor-ratings",
        _with_form(form, monitoring.record_assessment),
        "Rating recorded.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def side_effect(request: HttpRequest, session_id: int) -> HttpResponse:
    form = SideEffectForm(request.POST, clinic=actor_of(request).clinic)
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "side_effect",
        "monitor-side-effects",
        _with_form(form, monitoring.record_side_effect),
        "Side effect recorded.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def alert_ack(request: HttpRequest, session_id: int, alert_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        return monitoring.acknowledge_alert(actor, session, alert_id)

    return _act(request, session_id, Perm.SESSION_CHART, "alert_ack", "monitor-alerts", do, "Alert acknowledged.")


@clinic_view(Perm.SESSION_ORDER)
@require_POST
def alert_resolve(request: HttpRequest, session_id: int, alert_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        return monitoring.resolve_alert(actor, session, alert_id, request.POST.get("resolution", ""))

    return _act(
        request,
        session_id,
        Perm.SESSION_ORDER,
        "alert_resolve",
        "monitor-alerts",
        do,
        "Alert resolved.",
        {"alert_resolve_id": alert_id},
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def checklist(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        return discharge.tick_checklist(
            actor, session, request.POST.get("item", ""), request.POST.get("done", "1") not in ("0", "", "false")
        )

    return _act(request, session_id, Perm.SESSION_CHART, "checklist", "discharge", do, "")


@clinic_view(Perm.SESSION_CHART)
@require_POST
def escort(request: HttpRequest, session_id: int) -> HttpResponse:
    return _act(
        request,
        session_id,
        Perm.SESSION_CHART,
        "escort",
        "discharge",
        discharge.escort_present,
        "Escort marked present.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def ready(request: HttpRequest, session_id: int) -> HttpResponse:
    return _act(
        request, session_id, Perm.SESSION_CHART, "ready", "discharge", discharge.mark_ready, "Ready for discharge."
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def discharge_view(request: HttpRequest, session_id: int) -> HttpResponse:
    return _act(
        request, session_id, Perm.SESSION_CHART, "discharge", "discharge", discharge.discharge, "Patient discharged."
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def sign(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        return signing.sign(actor, session, password=request.POST.get("password", ""), audit_refusal=False)

    return _act(request, session_id, Perm.SESSION_CHART, "sign", "sign", do, "Signed.")


@clinic_view(Perm.SESSION_ADDENDUM)
@require_POST
def addendum(request: HttpRequest, session_id: int) -> HttpResponse:
    def do(actor: Actor, session: TreatmentSession) -> Any:
        return signing.add_addendum(actor, session, request.POST.get("text", ""))

    return _act(request, session_id, Perm.SESSION_ADDENDUM, "addendum", "sign", do, "Addendum added.")


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def note(request: HttpRequest, session_id: int) -> HttpResponse:
    """The session note as a PDF (a PHI export: audited)."""
    actor = actor_of(request)
    session = core.access_session(actor, session_id)
    data = note_pdf.render(session)
    record(
        actor,
        AuditAction.EXECUTE,
        "session.note_exported",
        subject=session,
        patient=session.patient,
        detail={"format": "pdf", "bytes": len(data)},
    )
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="session-{session.pk}-note.pdf"'
    response["Cache-Control"] = "no-store"
    return response
