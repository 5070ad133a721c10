"""Plan pages: a patient's plans and the new-plan form, one plan (sign, revise, cancel), the chart's Plan tab.

Form -> access -> action -> render. A signed plan shows "Signed by … on …" and no edit form; a POST
that tries to edit it is refused with 409 ("This plan is signed and locked; revise it to make a new
version"). Creating posts carry a one-time form token (`run_once`), so a double click makes one plan.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.lib.http import form_token
from ketacare.patients.access import access_patient
from ketacare.patients.measurements import latest_weight
from ketacare.patients.models import BodyMeasurement, Patient
from ketacare.plans import actions
from ketacare.plans.access import access_plan, plans_of
from ketacare.plans.dosing import mg, working_text
from ketacare.plans.forms import CancelForm, PlanForm, SignForm, WeightForm
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.protocols import rules
from ketacare.protocols.definitions import Protocol
from ketacare.protocols.models import ClinicProtocolVersion

LOCKED_MESSAGE = "This plan is signed and locked; revise it to make a new version."


@dataclass
class ProtocolOption:
    """One published protocol in the new-plan form, with the dose it gives this patient today."""

    version: ClinicProtocolVersion
    protocol: Protocol
    dose_rule: str
    working: str
    problem: str
    series: str


def dose_rule_text(protocol: Protocol) -> str:
    dose = protocol.dose
    if dose.basis == "weight_based":
        text = f"{mg(dose.amount)} mg/kg" if dose.amount is not None else "mg/kg not set"
        if dose.rounding_step_mg is not None:
            text += f", rounded {dose.rounding_direction} to a {mg(dose.rounding_step_mg)} mg step"
        if dose.min_mg is not None or dose.max_mg is not None:
            text += f", {mg(dose.min_mg) if dose.min_mg else '—'}–{mg(dose.max_mg) if dose.max_mg else '—'} mg"
        return text
    choices = " or ".join(f"{mg(c)} mg" for c in dose.choices_mg) or (f"{mg(dose.amount)} mg" if dose.amount else "")
    first = f"; session 1: {mg(dose.first_session_mg)} mg" if dose.first_session_mg else ""
    return f"fixed {choices}{first}"


def series_text(protocol: Protocol) -> str:
    s = protocol.series
    parts = [f"{s.count} sessions" if s.count else "sessions not set"]
    if s.sessions_per_week:
        parts.append(f"{s.sessions_per_week} per week")
    if s.window_days:
        parts.append(f"within {s.window_days} days")
    if s.min_interval_hours is not None:
        parts.append(f"at least {s.min_interval_hours} h apart")
    return ", ".join(parts)


def _options(
    versions: list[ClinicProtocolVersion], weight: BodyMeasurement | None, today: datetime.date
) -> list[ProtocolOption]:
    found = []
    for version in versions:
        protocol = version.protocol
        working = problem = ""
        if protocol.dose.basis == "weight_based":
            try:
                result = rules.compute_dose(
                    protocol.dose,
                    weight.weight_kg if weight else None,
                    weight.measured_on if weight else None,
                    today,
                )
                working = working_text(protocol.dose, result)
            except rules.ProtocolRuleError as exc:
                problem = str(exc)
        else:
            working = dose_rule_text(protocol)
        found.append(
            ProtocolOption(version, protocol, dose_rule_text(protocol), working, problem, series_text(protocol))
        )
    return found


def _run(actor: Actor, request: HttpRequest, key: str, effect: Any) -> Any:
    token = form_token(request)
    if token:
        payload = {k: v for k, v in request.POST.items() if k not in ("csrfmiddlewaretoken", "password")}
        return run_once(actor, f"form:{key}:{token}", fingerprint(payload), effect).body
    return effect()[1]


def _form_errors(form: Any, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        target = name if name in form.fields else None
        for message in errors:
            form.add_error(target, message)


def _plan_context(actor: Actor, patient: Patient, request: HttpRequest) -> dict[str, Any]:
    today = actions.clinic_today(actor)
    weight = latest_weight(patient)
    versions = actions.published_versions(actor)
    options = _options(versions, weight, today)
    return {
        "patient": patient,
        "today": today,
        "weight": weight,
        "weight_age": (today - weight.measured_on).days if weight else None,
        "options": options,
        "needs_weight": any(o.problem for o in options) or weight is None,
        "weight_form": WeightForm(today),
        "weight_token": uuid.uuid4(),
        "can_draft": actor.can(Perm.PLAN_DRAFT),
        "any_fixed_dose": any(o.protocol.dose.choices_mg for o in options),
    }


@clinic_view(Perm.PLAN_VIEW)
@require_http_methods(["GET", "POST"])
def patient_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """A patient's plans with their lineage, and the new-plan form."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.PLAN_DRAFT if request.method == "POST" else Perm.PLAN_VIEW)
    context = _plan_context(actor, patient, request)
    status = 200
    if request.method == "POST":
        form = PlanForm([o.version for o in context["options"]], request.POST)
        if form.is_valid():
            data = form.cleaned_data

            def effect() -> tuple[int, Any]:
                plan = actions.create_plan(
                    actor,
                    patient,
                    data["protocol_version"],
                    first_session_on=data["first_session_on"],
                    interval_days=data["interval_days"],
                    selected_mg=data["selected_mg"],
                    notes=data["notes"],
                )
                return 201, {"id": plan.pk}

            try:
                body = _run(actor, request, "plans-create", effect)
            except ValidationError as exc:
                _form_errors(form, exc)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted. Open the page again to make another plan.")
            else:
                messages.success(request, "Draft plan saved. A prescriber signs it with their password.")
                return HttpResponseRedirect(reverse("plans-detail", args=[body["id"]]))
        status = 422
    else:
        initial: dict[str, Any] = {"first_session_on": context["today"] + datetime.timedelta(days=1)}
        if len(context["options"]) == 1:
            initial["protocol_version"] = context["options"][0].version.pk
        form = PlanForm([o.version for o in context["options"]], initial=initial)
    plans = list(
        plans_of(actor)
        .filter(patient=patient)
        .select_related("protocol_version__clinic_protocol", "created_by", "signed_by")
        .order_by("route", "-plan_version", "-id")
    )
    record(actor, AuditAction.READ, "plan.listed", patient=patient, detail={"plans": [p.pk for p in plans]})
    context.update(
        {
            "plans": plans,
            "form": form,
            "form_token": request.POST.get("form_token") or uuid.uuid4(),
            "option_by_id": {str(o.version.pk): o for o in context["options"]},
        }
    )
    return render(request, "plans/patient.html", context, status=status)


@clinic_view(Perm.PLAN_DRAFT)
@require_POST
def record_weight(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Record today's (or a recent) weight from the plan pages, then go back."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.PLAN_DRAFT)
    form = WeightForm(actions.clinic_today(actor), request.POST)
    back = request.POST.get("next", "")
    target = reverse("plans-detail", args=[int(back)]) if back.isdigit() else reverse("plans-list", args=[patient.pk])
    if form.is_valid():

        def effect() -> tuple[int, Any]:
            m = actions.record_weight(actor, patient, form.cleaned_data["weight_kg"], form.cleaned_data["measured_on"])
            return 201, {"id": m.pk}

        try:
            _run(actor, request, "plans-weight", effect)
        except ValidationError as exc:
            _form_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This weight was already recorded.")
        else:
            messages.success(request, f"Weight {form.cleaned_data['weight_kg']} kg recorded.")
            return HttpResponseRedirect(target)
    for field, errors in form.errors.items():
        for message in errors:
            messages.error(
                request,
                f"Weight not recorded: {message}" if field == "__all__" else f"{form.fields[field].label}: {message}",
            )
    return HttpResponseRedirect(target)


def _lineage(actor: Actor, plan: TreatmentPlan) -> list[TreatmentPlan]:
    """Every version of this plan (older and newer), newest first, in one query."""
    same_route = list(
        plans_of(actor)
        .filter(patient_id=plan.patient_id, route=plan.route)
        .select_related("signed_by", "created_by")
        .order_by("-plan_version", "-id")
    )
    by_id = {p.pk: p for p in same_route}
    root = plan
    while root.previous_id is not None and root.previous_id in by_id:
        root = by_id[root.previous_id]
    members = {root.pk}
    grew = True
    while grew:
        grew = False
        for p in same_route:
            if p.pk not in members and p.previous_id in members:
                members.add(p.pk)
                grew = True
    return [p for p in same_route if p.pk in members]


def _render_detail(
    request: HttpRequest,
    plan: TreatmentPlan,
    *,
    form: PlanForm | None = None,
    sign_form: SignForm | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    actor = actor_of(request)
    protocol = Protocol.model_validate(plan.protocol_snapshot)
    context: dict[str, Any] = {
        "plan": plan,
        "patient": plan.patient,
        "protocol": protocol,
        "dose_rule": dose_rule_text(protocol),
        "series": series_text(protocol),
        "sessions": list(zip(plan.session_dates, plan.dose_applied.get("doses_by_session", []), strict=False)),
        "lineage": _lineage(actor, plan),
        "refusal": refusal,
        "can_draft": actor.can(Perm.PLAN_DRAFT),
        "can_sign": actor.can(Perm.PLAN_SIGN),
        "sign_form": sign_form or SignForm(),
        "cancel_form": CancelForm(),
        "form_token": uuid.uuid4(),
    }
    if plan.status == PlanStatus.DRAFT and actor.can(Perm.PLAN_DRAFT):
        context.update(_draft_context(actor, plan, request))
        if form is None:
            form = PlanForm(
                [o.version for o in context["options"]],
                initial={
                    "protocol_version": plan.protocol_version_id,
                    "first_session_on": plan.first_session_on,
                    "interval_days": plan.interval_days,
                    "selected_mg": str(plan.dose_selected_mg.normalize()) if plan.dose_selected_mg else "",
                    "notes": plan.notes,
                },
            )
        context["form"] = form
    return render(request, "plans/detail.html", context, status=status)


def _draft_context(actor: Actor, plan: TreatmentPlan, request: HttpRequest) -> dict[str, Any]:
    """The new-plan context for a draft; a revision may keep its (since retired) protocol version."""
    context = _plan_context(actor, plan.patient, request)
    if not any(o.version.pk == plan.protocol_version_id for o in context["options"]):
        current = _options([plan.protocol_version], context["weight"], context["today"])
        context["options"] = current + context["options"]
    return context


@clinic_view(Perm.PLAN_VIEW)
@require_http_methods(["GET", "POST"])
def plan_detail(request: HttpRequest, plan_id: int) -> HttpResponse:
    """One plan. POST edits a draft; a signed plan refuses (409)."""
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_DRAFT if request.method == "POST" else Perm.PLAN_VIEW)
    if request.method == "GET":
        record(actor, AuditAction.READ, "plan.viewed", subject=plan, patient=plan.patient)
        return _render_detail(request, plan)
    if plan.status != PlanStatus.DRAFT:
        message = (
            LOCKED_MESSAGE
            if plan.status == PlanStatus.SIGNED
            else f"This plan is {plan.get_status_display().lower()}; it cannot be changed."
        )
        return _render_detail(request, plan, refusal=message, status=409)
    options = _draft_context(actor, plan, request)["options"]
    form = PlanForm([o.version for o in options], request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            actions.update_draft(
                actor,
                plan,
                protocol_version_id=data["protocol_version"],
                first_session_on=data["first_session_on"],
                interval_days=data["interval_days"],
                selected_mg=data["selected_mg"],
                notes=data["notes"],
            )
        except actions.PlanLocked as exc:
            return _render_detail(request, plan, refusal=str(exc), status=409)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, "Draft updated: dose and dates computed again.")
            return HttpResponseRedirect(reverse("plans-detail", args=[plan.pk]))
    return _render_detail(request, plan, form=form, status=422)


@clinic_view(Perm.PLAN_SIGN)
@require_POST
def sign(request: HttpRequest, plan_id: int) -> HttpResponse:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_SIGN)
    form = SignForm(request.POST)
    if form.is_valid():
        try:
            actions.sign_plan(actor, plan, form.cleaned_data["password"])
        except actions.PlanLocked as exc:
            return _render_detail(request, plan, refusal=str(exc), status=409)
        except ValidationError as exc:
            actions.record_refused_signature(actor, plan, exc.message_dict)
            for name, errors in exc.message_dict.items():
                for message in errors:
                    form.add_error("password" if name == "password" else None, message)
        else:
            messages.success(request, "Plan signed. It is locked; revise it to change it.")
            return HttpResponseRedirect(reverse("plans-detail", args=[plan.pk]))
    return _render_detail(request, plan, sign_form=form, status=422)


@clinic_view(Perm.PLAN_DRAFT)
@require_POST
def revise(request: HttpRequest, plan_id: int) -> HttpResponse:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_DRAFT)
    try:
        draft = actions.revise_plan(actor, plan)
    except ValidationError as exc:
        return _render_detail(request, plan, refusal=" ".join(exc.messages), status=409)
    messages.success(
        request, f"Version {draft.plan_version} drafted. Version {plan.plan_version} stays in force until it is signed."
    )
    return HttpResponseRedirect(reverse("plans-detail", args=[draft.pk]))


@clinic_view(Perm.PLAN_DRAFT)
@require_POST
def cancel(request: HttpRequest, plan_id: int) -> HttpResponse:
    actor = actor_of(request)
    plan = access_plan(actor, plan_id, Perm.PLAN_DRAFT)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the plan is cancelled.")
        return HttpResponseRedirect(reverse("plans-detail", args=[plan.pk]))
    try:
        actions.cancel_plan(actor, plan, form.cleaned_data["reason"])
    except actions.PlanLocked as exc:
        return _render_detail(request, plan, refusal=str(exc), status=409)
    messages.success(request, "Plan cancelled.")
    return HttpResponseRedirect(reverse("plans-detail", args=[plan.pk]))


@clinic_view(Perm.PLAN_VIEW)
@require_GET
def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The chart's Plan tab: the signed plan in force per route and any drafts."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.PLAN_VIEW)
    plans = list(
        plans_of(actor)
        .filter(patient=patient, status__in=[PlanStatus.SIGNED, PlanStatus.DRAFT])
        .select_related("protocol_version__clinic_protocol", "signed_by")
        .order_by("route", "-plan_version")
    )
    record(
        actor,
        AuditAction.READ,
        "plan.listed",
        patient=patient,
        detail={"plans": [p.pk for p in plans], "view": "chart"},
    )
    return render(request, "plans/_chart.html", {"patient": patient, "plans": plans})
