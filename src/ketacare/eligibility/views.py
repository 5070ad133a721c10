"""Eligibility pages: the review of a patient's screening per route with the prescriber's decision
form, the chart's summary, and the clinic's review queue.

Form -> access -> action -> render. The decision form posts with HTMX (one route card is swapped)
or plainly (redirect), behind a one-time form token so a double click records one decision.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.eligibility import actions
from ketacare.eligibility.access import can_evaluate, decisions_of, evaluations_of
from ketacare.eligibility.forms import DecisionForm
from ketacare.eligibility.models import ROUTE_LABELS, EligibilityDecision, ScreeningEvaluation
from ketacare.eligibility.queries import SCREENED_STATUSES, fact_label, screened_intake, source_label
from ketacare.lib.http import form_token
from ketacare.patients.access import access_patient, patients_of
from ketacare.patients.models import Patient
from ketacare.screening.definitions import UnknownRuleSet, ruleset_for_route
from ketacare.screening.evaluate import FactsError, TrialCount, count_adequate_failed_trials
from ketacare.screening.evaluate import PriorTrial as TrialValue
from ketacare.screening.facts import ROUTES
from ketacare.screening.models import Intake

BADGES = {
    "no_concern": ("text-bg-success", "✓"),
    "caution": ("text-bg-warning", "!"),
    "contraindicated": ("text-bg-danger", "✕"),
    "not_assessed": ("text-bg-secondary", "?"),
}


@dataclass
class RuleRow:
    result: dict[str, Any]
    source: str
    missing: list[str]
    override: Any = None  # the form's BoundField for its override reason, when a form is shown


@dataclass
class RouteCard:
    route: str
    label: str
    evaluation: ScreeningEvaluation | None
    status_label: str = ""
    badge: str = ""
    symbol: str = ""
    findings: list[RuleRow] = field(default_factory=list)
    unassessed: list[RuleRow] = field(default_factory=list)
    decision: EligibilityDecision | None = None
    history: list[EligibilityDecision] = field(default_factory=list)
    form: DecisionForm | None = None
    stale: str = ""  # why the decision form was refreshed (the intake changed)
    saved: bool = False
    ruleset: str = ""
    error: str = ""  # why the screening could not run (facts the rules cannot take)

    @property
    def open_form(self) -> bool:
        """The form beside the rules: nothing decided yet, the decision is flagged, or it came back with errors."""
        if self.form is None:
            return False
        return self.form.is_bound or self.decision is None or self.decision.needs_review


def _trials(intake: Intake) -> TrialCount | None:
    try:
        adequacy = ruleset_for_route("iv").trial_adequacy
    except UnknownRuleSet:  # pragma: no cover
        return None
    if adequacy is None:
        return None
    rows = sorted(intake.prior_trials.all(), key=lambda t: (t.position, t.pk))
    values = [
        TrialValue(
            drug=t.drug,
            dose=t.dose,
            dose_adequate=t.dose_adequate,
            duration_weeks=float(t.duration_weeks) if t.duration_weeks is not None else None,
            adherence=t.adherence or None,  # type: ignore[arg-type]
            response=t.response or None,  # type: ignore[arg-type]
            reason_stopped=t.reason_stopped,
        )
        for t in rows
    ]
    return count_adequate_failed_trials(values, adequacy)


def _evaluations(actor: Actor, intake: Intake) -> tuple[dict[str, ScreeningEvaluation], dict[str, str]]:
    """The evaluation of each route over the intake's current version: stored (and stored now, for
    those who may run the screening) or, for read-only roles, computed for display only. Routes
    whose screening cannot run come back in the second dict with the reason."""
    found: dict[str, ScreeningEvaluation] = {}
    errors: dict[str, str] = {}
    stored = {
        e.route: e
        for e in evaluations_of(actor).filter(intake=intake, intake_version=intake.version).order_by("evaluated_at")
    }
    for route in ROUTES:
        try:
            if can_evaluate(actor):
                found[route] = actions.evaluate_intake(actor, intake, route)
                continue
            result, results = actions.run_rules(intake, route)
        except ValidationError as exc:
            errors[route] = " ".join(m for msgs in exc.message_dict.values() for m in msgs)
            continue
        except (UnknownRuleSet, FactsError) as exc:
            errors[route] = f"The screening cannot run: {exc}"
            continue
        e = stored.get(route)
        if e is not None and (e.ruleset_code, e.ruleset_version) == (result.ruleset, result.version):
            found[route] = e
        else:  # not saved: shown, never decided on
            found[route] = ScreeningEvaluation(
                clinic=actor.clinic,
                patient_id=intake.patient_id,
                intake=intake,
                intake_version=intake.version,
                route=route,
                ruleset_code=result.ruleset,
                ruleset_version=result.version,
                status=result.status,
                results=results,
                missing_facts=list(result.missing_facts),
            )
    return found, errors


def _rows(results: list[dict[str, Any]], form: DecisionForm | None) -> list[RuleRow]:
    return [
        RuleRow(
            result=r,
            source=source_label(r),
            missing=[fact_label(m) for m in r.get("missing") or []],
            override=form.override_field(r["id"]) if form is not None else None,
        )
        for r in results
    ]


def _card(
    actor: Actor,
    route: str,
    evaluation: ScreeningEvaluation | None,
    decision: EligibilityDecision | None,
    history: list[EligibilityDecision],
    form: DecisionForm | None = None,
) -> RouteCard:
    card = RouteCard(route, ROUTE_LABELS[route], evaluation, decision=decision, history=history)
    if evaluation is None:
        return card
    card.status_label = evaluation.get_status_display()
    card.badge, card.symbol = BADGES[evaluation.status]
    card.ruleset = f"{evaluation.ruleset_code} v{evaluation.ruleset_version}"
    if form is None and evaluation.pk is not None and actor.can(Perm.ELIGIBILITY_DECIDE):
        form = DecisionForm(evaluation, prefix=route)
    card.form = form
    card.findings = _rows(evaluation.findings, form)
    card.unassessed = _rows(evaluation.unassessed, form)
    return card


def _history(patient: Patient, actor: Actor) -> dict[str, list[EligibilityDecision]]:
    by_route: dict[str, list[EligibilityDecision]] = defaultdict(list)
    for d in decisions_of(actor).filter(patient=patient).select_related("decided_by", "evaluation"):
        by_route[d.route].append(d)
    return by_route


def _cards(actor: Actor, patient: Patient, intake: Intake | None) -> list[RouteCard]:
    history = _history(patient, actor)
    current = {route: next((d for d in rows if d.is_current), None) for route, rows in history.items()}
    evaluations: dict[str, ScreeningEvaluation] = {}
    errors: dict[str, str] = {}
    if intake is not None:
        evaluations, errors = _evaluations(actor, intake)
    cards = [
        _card(actor, route, evaluations.get(route), current.get(route), history.get(route, [])) for route in ROUTES
    ]
    for card in cards:
        card.error = errors.get(card.route, "")
    return cards


@clinic_view(Perm.ELIGIBILITY_VIEW)
@require_GET
def patient_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The eligibility review: per route, the screening's recommendation and the prescriber's decision."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.ELIGIBILITY_VIEW)
    with transaction.atomic():
        intake = screened_intake(patient)
        cards = _cards(actor, patient, intake)
        actions.record_review_read(
            actor, patient, view="page", decisions=[d.pk for c in cards for d in c.history if d.is_current]
        )
    return render(request, "eligibility/review.html", _page_context(actor, patient, intake, cards))


def _page_context(actor: Actor, patient: Patient, intake: Intake | None, cards: list[RouteCard]) -> dict[str, Any]:
    return {
        "patient": patient,
        "intake": intake,
        "cards": cards,
        "trials": _trials(intake) if intake is not None else None,
        "can_decide": actor.can(Perm.ELIGIBILITY_DECIDE),
        "form_token": uuid.uuid4(),
    }


def _apply_errors(form: DecisionForm, exc: ValidationError) -> str:
    """Put the action's errors on the form fields; return the stale-evaluation message, if any."""
    stale = ""
    for name, errors in exc.message_dict.items():
        if name == "evaluation_id":
            stale = " ".join(errors)
        elif name in form.fields:
            form.add_error(name, errors)
        else:
            form.add_error(None, [f"{name}: {e}" for e in errors])
    return stale


@clinic_view(Perm.ELIGIBILITY_DECIDE)
@require_POST
def decide(request: HttpRequest, patient_id: int, route: str) -> HttpResponse:
    """Record the prescriber's decision for one route (HTMX swaps the route's card)."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.ELIGIBILITY_DECIDE)
    if route not in ROUTES:
        raise Http404("No such route.")
    raw_id = request.POST.get(f"{route}-evaluation_id", "")
    evaluation = (
        evaluations_of(actor).filter(patient=patient, route=route, pk=int(raw_id)).first() if raw_id.isdigit() else None
    )
    stale = "" if evaluation is not None else "This form was out of date: review the screening and decide again."
    form = DecisionForm(evaluation, request.POST, prefix=route) if evaluation is not None else None
    saved = False
    if form is not None and form.is_valid():
        token = form_token(request)
        try:
            _decide_once(actor, patient, route, form, token, request)
        except ValidationError as exc:
            stale = _apply_errors(form, exc)
        except IdempotencyConflict:
            form.add_error(None, "This form was already submitted. Reload the page to decide again.")
        else:
            saved = True
    htmx = bool(getattr(request, "htmx", False))
    if saved and not htmx:
        messages.success(request, f"Eligibility decision for {ROUTE_LABELS[route]} recorded.")
        return HttpResponseRedirect(reverse("eligibility-review", args=[patient.pk]) + f"#route-{route}")
    with transaction.atomic():
        intake = screened_intake(patient)
        if saved or stale:
            cards = _cards(actor, patient, intake)
        else:
            history = _history(patient, actor)
            current = next((d for d in history.get(route, []) if d.is_current), None)
            cards = [_card(actor, route, evaluation, current, history.get(route, []), form)]
    card = next(c for c in cards if c.route == route)
    card.stale, card.saved = stale, saved
    status = 200 if saved else 422
    if htmx:
        context = {"card": card, "patient": patient, "form_token": uuid.uuid4(), "can_decide": True}
        return render(request, "eligibility/_route_card.html", context, status=status)
    if not stale:
        cards = [card if c.route == route else c for c in _cards(actor, patient, intake)]
    return render(request, "eligibility/review.html", _page_context(actor, patient, intake, cards), status=status)


def _decide_once(
    actor: Actor, patient: Patient, route: str, form: DecisionForm, token: str, request: HttpRequest
) -> EligibilityDecision:
    def effect() -> tuple[int, Any]:
        made = actions.decide(
            actor,
            patient,
            route,
            decision=form.cleaned_data["decision"],
            evaluation_id=form.cleaned_data["evaluation_id"],
            reason=form.cleaned_data.get("reason") or "",
            precautions=form.cleaned_data.get("precautions") or "",
            overrides=form.overrides(),
        )
        return 201, {"id": made.pk}

    if token:
        payload = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        outcome = run_once(actor, f"form:eligibility-decide:{token}", fingerprint(payload), effect)
        body = outcome.body
    else:
        with transaction.atomic():
            _, body = effect()
    return EligibilityDecision.objects.get(pk=body["id"], clinic=actor.clinic)


@clinic_view(Perm.ELIGIBILITY_VIEW)
@require_GET
def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The chart's screening tab: per route, the recommendation, the decision and any review flag."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.ELIGIBILITY_VIEW)
    with transaction.atomic():
        intake = screened_intake(patient)
        cards = _cards(actor, patient, intake)
        actions.record_review_read(
            actor, patient, view="chart", decisions=[c.decision.pk for c in cards if c.decision is not None]
        )
    return render(request, "eligibility/chart.html", {"patient": patient, "intake": intake, "cards": cards})


@clinic_view(Perm.ELIGIBILITY_VIEW)
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Patients waiting for a prescriber: a decision flagged for review, or a screened intake and no decision."""
    actor = actor_of(request)
    flagged = EligibilityDecision.objects.filter(patient=OuterRef("pk"), is_current=True, needs_review=True)
    decided = EligibilityDecision.objects.filter(patient=OuterRef("pk"), is_current=True)
    screened = Intake.objects.filter(patient=OuterRef("pk"), status__in=SCREENED_STATUSES)
    rows = list(
        patients_of(actor)
        .annotate(flagged=Exists(flagged), decided=Exists(decided), screened=Exists(screened))
        .filter(Q(flagged=True) | Q(screened=True, decided=False))
        .select_related("primary_clinician")
        .order_by("-flagged", "legal_last_name", "legal_first_name", "pk")[:200]
    )
    record(
        actor,
        AuditAction.EXECUTE,
        "patient.searched",
        detail={"query": "eligibility review queue", "rows_returned": len(rows), "patients": [p.pk for p in rows]},
    )
    return render(request, "eligibility/queue.html", {"rows": rows})
