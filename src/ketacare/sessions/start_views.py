"""Chairside pages of the pre-dose checks and dosing (issue #7 items 2 and 3).

Form -> access -> action (checks.py / dosing.py, one transaction with its audit row) -> redirect to the
chairside page's section; a refusal re-renders the page with the reason next to the field (422), a
signed or cancelled session answers 409. Each creating form carries a one-time `form_token`
(`views.run_form`), so a double tap gives one dose.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.inventory.models import Container, Lot
from ketacare.sessions import checks, core, dosing
from ketacare.sessions import start_forms as f
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import DoseAdministration, TreatmentSession

CHECK_STATES = (State.CHECKED_IN.value, State.PRE_DOSE_CHECKS.value)
DOSE_STATES = (State.PRE_DOSE_CHECKS.value, State.DOSING.value)
CENT = Decimal("0.01")
METHOD_LABELS = {
    "infusion": "Infusion",
    "injection": "Injection",
    "nasal_spray": "Nasal spray devices",
    "oral": "Oral or sublingual",
}


def _render_chair(request: HttpRequest, session: TreatmentSession, **kwargs: Any) -> HttpResponse:
    from ketacare.sessions.views import render_chair  # the chairside page imports this module

    return render_chair(request, session, **kwargs)


# --- what the page shows ------------------------------------------------------------------


def _lot_rows(session: TreatmentSession, remaining_mg: Decimal) -> list[dict[str, Any]]:
    rows = []
    for lot in dosing.lots_for(session):
        product = lot.product
        concentration = product.concentration_mg_per_ml
        ml = (remaining_mg / concentration).quantize(CENT, ROUND_HALF_UP) if remaining_mg > 0 else None
        rows.append(
            {
                "lot": lot,
                "product": product,
                "concentration": concentration.normalize(),
                "sealed": lot.sealed_units,
                "expiry": lot.expiry_date,
                "ml_for_remaining": ml,
            }
        )
    return rows


def dosing_context(session: TreatmentSession, now: datetime.datetime) -> dict[str, Any]:
    given = dosing.doses(session)
    total = sum((d.dose_mg for d in given), Decimal("0"))
    planned = Decimal(session.planned_dose_mg)
    remaining = planned - total
    context: dict[str, Any] = {
        "start_doses": given,
        "start_total_mg": total.normalize(),
        "start_remaining_mg": remaining.normalize() if remaining > 0 else Decimal("0"),
        "start_running": [d for d in given if d.rate_ml_per_hour is not None and d.ended_at is None],
        "start_show_dosing": session.state in DOSE_STATES or bool(given),
        "start_may_give": session.state in DOSE_STATES,
        "start_may_end": session.state == State.DOSING.value,
    }
    opened = (
        dosing.open_containers(session) if not session.is_locked and session.route != "intranasal_esketamine" else []
    )
    used = {d.ledger_entry.container_id for d in given}
    context["start_containers"] = [c for c in opened if c.pk in used]
    if session.state in DOSE_STATES:
        context["start_lots"] = _lot_rows(session, remaining if remaining > 0 else planned)
        context["start_all_open"] = opened
    else:
        context["start_lots"], context["start_all_open"] = [], []
    if session.is_spravato:
        plan = dosing.device_plan(session, now)
        context["start_devices"] = plan
    administration = session.protocol.administration
    context["start_administration"] = administration
    context["start_method"] = METHOD_LABELS.get(administration.method, administration.method)
    if session.route == "iv" and administration.duration_minutes and remaining > 0:
        context["start_iv_minutes"] = administration.duration_minutes
    return context


def section_context(request: HttpRequest, actor: Actor, session: TreatmentSession) -> dict[str, Any]:
    """Context the chairside page passes to _predose.html and _dosing.html."""
    now = timezone.now()
    show_checks = session.state in CHECK_STATES or session.checks.exists()
    context: dict[str, Any] = {"stylesheets": ["ketacare/sessions-start.css"], "start_show_checks": show_checks}
    if show_checks:
        protocol = session.protocol
        vitals = checks.latest_baseline(session)
        context.update(
            start_checklist=checks.checklist(session),
            start_blockers=checks.dosing_blockers(session) if session.state == State.PRE_DOSE_CHECKS else [],
            start_in_checks=session.state == State.PRE_DOSE_CHECKS,
            start_baseline=vitals,
            start_thresholds=checks.compare_baseline(protocol, vitals),
            start_decision=checks.baseline_decision(session, vitals),
            start_needs_decision=bool(vitals and any(r.exceeded for r in checks.compare_baseline(protocol, vitals))),
            start_fasting=protocol.fasting,
            start_escort=protocol.escort,
            start_escort_required=checks.escort_required(session),
            start_pregnancy_applies=checks.pregnancy_applies(session),
            start_pregnancy_answers=list(checks.PREGNANCY_ANSWERS.items()),
            start_meds=checks.concomitant_choices(),
            start_meds_source=checks.CONCOMITANT_SOURCE,
        )
    context.update(dosing_context(session, now))
    return context


# --- the POST machinery -------------------------------------------------------------------


def _invalid(
    request: HttpRequest, session: TreatmentSession, key: str, errors: dict[str, str], status: int = 422
) -> HttpResponse:
    text = " ".join(errors.values())
    return _render_chair(
        request, session, refusal=text, status=status, start_failed=key, start_errors=errors, start_posted=request.POST
    )


def _post(
    request: HttpRequest,
    session_id: int,
    *,
    key: str,
    anchor: str,
    form_class: type[f._Base],
    act: Callable[[Actor, TreatmentSession, Any], Any],
    done: str,
    perm: str = Perm.SESSION_CHART,
) -> HttpResponse:
    from ketacare.sessions import views as chair

    actor = actor_of(request)
    session = core.access_session(actor, session_id, perm)
    if session.is_locked:
        return chair.refused(
            request,
            session,
            core.LOCKED_MESSAGE
            if session.state == State.SIGNED
            else ("This session was cancelled and cannot change; book a new session instead."),
            409,
        )
    form = form_class(request.POST, zone=actor.clinic.zone)
    if not form.is_valid():
        return _invalid(request, session, key, {k: str(v[0]) for k, v in form.errors.items()})

    # Passwords (an approver's, a witness's) never reach the stored request fingerprint.
    posted = request.POST.copy()
    for name in [k for k in posted if k.endswith("password")]:
        posted.pop(name)
    request.POST = posted  # type: ignore[assignment]

    def effect() -> tuple[int, Any]:
        result = act(actor, session, form)
        return 201, getattr(result, "pk", None)

    try:
        chair.run_form(actor, request, f"session-{key}:{session.pk}", effect)
    except core.SessionLocked as exc:
        return chair.refused(request, session, str(exc), 409)
    except ValidationError as exc:
        dosing.audit_signature_refusal(actor, exc)
        session.refresh_from_db()
        if hasattr(exc, "error_dict"):
            errors = {k: " ".join(str(m) for m in v) for k, v in exc.message_dict.items()}
        else:
            errors = {"__all__": " ".join(exc.messages)}
        return _invalid(request, session, key, errors)
    except IdempotencyConflict:
        return _invalid(request, session, key, {"__all__": "This form was already sent with other values; reload."})
    messages.success(request, done)
    return HttpResponseRedirect(chair.chair_url(session, anchor))


# --- pre-dose checks ----------------------------------------------------------------------


class _Empty(f._Base):
    pass


@clinic_view(Perm.SESSION_CHART)
@require_POST
def begin(request: HttpRequest, session_id: int) -> HttpResponse:
    return _post(
        request,
        session_id,
        key="begin",
        anchor="predose",
        form_class=_Empty,
        act=lambda actor, session, form: checks.begin_checks(actor, session),
        done="Pre-dose checks started.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def refresh(request: HttpRequest, session_id: int) -> HttpResponse:
    return _post(
        request,
        session_id,
        key="refresh",
        anchor="predose",
        form_class=_Empty,
        act=lambda actor, session, form: checks.refresh_automatic_checks(actor, session)[0],
        done="Automatic checks read again.",
    )


def _identity(actor: Actor, session: TreatmentSession, form: f.IdentityForm) -> Any:
    data = form.cleaned_data
    return checks.record_check(actor, session, "identity", status=data["status"], value=form.value(), note=data["note"])


def _fasting(actor: Actor, session: TreatmentSession, form: f.FastingForm) -> Any:
    data = form.cleaned_data
    return checks.record_check(actor, session, "fasting", status=data["status"], value=form.value(), note=data["note"])


def _pregnancy(actor: Actor, session: TreatmentSession, form: f.PregnancyForm) -> Any:
    data = form.cleaned_data
    return checks.record_check(
        actor, session, "pregnancy", status="passed", value={"answer": data["answer"]}, note=data["note"]
    )


def _meds(actor: Actor, session: TreatmentSession, form: f.ConcomitantForm) -> Any:
    data = form.cleaned_data
    return checks.record_check(
        actor, session, "concomitant_meds", status="passed", value={"drugs": data["drugs"]}, note=data["note"]
    )


MANUAL: dict[str, tuple[type[f._Base], Callable[..., Any]]] = {
    "identity": (f.IdentityForm, _identity),
    "fasting": (f.FastingForm, _fasting),
    "pregnancy": (f.PregnancyForm, _pregnancy),
    "concomitant_meds": (f.ConcomitantForm, _meds),
}


@clinic_view(Perm.SESSION_CHART)
@require_POST
def record_item(request: HttpRequest, session_id: int, item: str) -> HttpResponse:
    if item not in MANUAL:
        raise Http404("No such check.")
    form_class, act = MANUAL[item]
    return _post(
        request,
        session_id,
        key=f"check-{item}",
        anchor="predose",
        form_class=form_class,
        act=act,
        done=f"{checks.LABELS_BY_ITEM[item]} recorded.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def escort(request: HttpRequest, session_id: int) -> HttpResponse:
    return _post(
        request,
        session_id,
        key="check-escort",
        anchor="predose",
        form_class=f.EscortForm,
        act=lambda actor, session, form: checks.confirm_escort(
            actor, session, name=form.cleaned_data["name"], phone=form.cleaned_data["phone"]
        ),
        done="Escort confirmed.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def baseline(request: HttpRequest, session_id: int) -> HttpResponse:
    def act(actor: Actor, session: TreatmentSession, form: f.BaselineForm) -> Any:
        data = form.cleaned_data
        return checks.record_baseline(
            actor,
            session,
            systolic_bp=data["systolic_bp"],
            diastolic_bp=data["diastolic_bp"],
            heart_rate=data["heart_rate"],
            spo2=data["spo2"],
            respiratory_rate=data["respiratory_rate"],
            taken_at=form.taken(),
            note=data["note"],
        )

    return _post(
        request,
        session_id,
        key="check-baseline",
        anchor="predose",
        form_class=f.BaselineForm,
        act=act,
        done="Baseline vital signs recorded.",
    )


@clinic_view(Perm.SESSION_ORDER)
@require_POST
def baseline_decision(request: HttpRequest, session_id: int) -> HttpResponse:
    return _post(
        request,
        session_id,
        key="check-baseline-decision",
        anchor="predose",
        form_class=f.BaselineDecisionForm,
        act=lambda actor, session, form: checks.decide_baseline(
            actor, session, decision=form.cleaned_data["decision"], reason=form.cleaned_data["reason"]
        ),
        done="Baseline decision recorded.",
        perm=Perm.SESSION_ORDER,
    )


# --- dosing -------------------------------------------------------------------------------


def _approver(data: dict[str, Any], prefix: str) -> dosing.WitnessSignature | None:
    email = (data.get(f"{prefix}_email") or "").strip()
    if not email:
        return None
    return dosing.WitnessSignature(email=email, password=data.get(f"{prefix}_password") or "")


def _lot(actor: Actor, pk: Any) -> Lot:
    lot = Lot.objects.filter(clinic=actor.clinic, pk=pk).first()
    if lot is None:
        raise ValidationError({"lot": "Choose a lot."})
    return lot


def _container(actor: Actor, pk: Any) -> Container | None:
    if not pk:
        return None
    container = Container.objects.filter(clinic=actor.clinic, pk=pk).first()
    if container is None:
        raise ValidationError({"container": "Choose an opened vial, or a new one."})
    return container


@clinic_view(Perm.SESSION_CHART)
@require_POST
def give(request: HttpRequest, session_id: int) -> HttpResponse:
    def act(actor: Actor, session: TreatmentSession, form: f.DoseForm) -> Any:
        data = form.cleaned_data
        lot = _lot(actor, data["lot"])
        mg, ml = data.get("quantity_mg"), data.get("quantity_ml")
        device = data.get("device_number")
        if session.is_spravato and (mg is None or ml is None):
            # One whole device: its mg and mL come from the product.
            product = lot.product
            mg = mg if mg is not None else product.strength_mg
            ml = ml if ml is not None else product.container_volume_ml
        errors = {}
        if mg is None:
            errors["quantity_mg"] = "Enter the dose in mg."
        if ml is None:
            errors["quantity_ml"] = "Enter the volume in mL."
        if errors:
            raise ValidationError(errors)
        return dosing.give_dose(
            actor,
            session,
            lot=lot,
            quantity_mg=mg,
            quantity_ml=ml,
            container=_container(actor, data.get("container")),
            started_at=form.started(),
            rate_ml_per_hour=data.get("rate_ml_per_hour"),
            device_number=device,
            deviation_reason=data.get("deviation_reason") or "",
            approver=_approver(data, "approver"),
        )

    return _post(
        request, session_id, key="dose-give", anchor="dosing", form_class=f.DoseForm, act=act, done="Dose recorded."
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def stop(request: HttpRequest, session_id: int, dose_id: int) -> HttpResponse:
    def act(actor: Actor, session: TreatmentSession, form: f.StopForm) -> Any:
        dose = DoseAdministration.objects.filter(pk=dose_id, session=session).first()
        if dose is None:
            raise Http404("No such dose.")
        return dosing.stop_infusion(actor, session, dose, ended_at=form.ended())

    return _post(
        request,
        session_id,
        key=f"dose-stop-{dose_id}",
        anchor="dosing",
        form_class=f.StopForm,
        act=act,
        done="Infusion stopped.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def end(request: HttpRequest, session_id: int) -> HttpResponse:
    def act(actor: Actor, session: TreatmentSession, form: f.EndDosingForm) -> Any:
        data = form.cleaned_data
        return dosing.end_dosing(
            actor,
            session,
            ended_at=form.ended(),
            deviation_reason=data.get("deviation_reason") or "",
            approver=_approver(data, "approver"),
        )

    return _post(
        request,
        session_id,
        key="dose-end",
        anchor="dosing",
        form_class=f.EndDosingForm,
        act=act,
        done="Dosing ended; observation has begun.",
    )


@clinic_view(Perm.SESSION_CHART)
@require_POST
def waste(request: HttpRequest, session_id: int) -> HttpResponse:
    def act(actor: Actor, session: TreatmentSession, form: f.WasteForm) -> Any:
        data = form.cleaned_data
        container = _container(actor, data["container"])
        if container is None:
            raise ValidationError({"container": "Choose the vial."})
        return dosing.waste_remainder(
            actor,
            session,
            container=container,
            quantity_ml=data["quantity_ml"],
            witness=dosing.WitnessSignature(
                email=data.get("witness_email") or "", password=data.get("witness_password") or ""
            ),
        )

    return _post(
        request,
        session_id,
        key="dose-waste",
        anchor="dosing",
        form_class=f.WasteForm,
        act=act,
        done="Remainder wasted and witnessed.",
    )


@clinic_view(Perm.SESSION_VIEW)
@require_GET
def dosing_panel(request: HttpRequest, session_id: int) -> HttpResponse:
    """The dosing section alone (HTMX refresh while the rest between Spravato devices runs)."""
    import uuid

    actor = actor_of(request)
    session = core.access_session(actor, session_id)
    record(actor, AuditAction.READ, "session.dosing_viewed", subject=session, patient=session.patient)
    context = {
        "session": session,
        "now": timezone.now(),
        "can_chart": actor.can(Perm.SESSION_CHART) and not session.is_locked,
        "can_order": actor.can(Perm.SESSION_ORDER) and not session.is_locked,
        "form_token": uuid.uuid4(),
        **dosing_context(session, timezone.now()),
    }
    return render(request, "sessions/chair/_dosing.html", context)
