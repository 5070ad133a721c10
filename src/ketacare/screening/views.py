"""Staff pages of the intake: the patient's intake page, the chart summary and the clinic queue.

Form -> access -> action -> render. Everyone with `intake.send` (front desk included) sees the
status and the link and may (re)send it; only `intake.view` sees the answers, the trial count and the
weight; only `intake.edit` changes the intake or marks it reviewed. What changed since an
eligibility decision is the eligibility app's business: this app only sends `intake_changed`.
"""

from __future__ import annotations

import uuid
from typing import Any

import segno
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Prefetch
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.lib.http import form_token
from ketacare.measures import links as measure_links
from ketacare.measures.definitions import get_instrument
from ketacare.measures.models import QuestionnaireRequest, Response
from ketacare.patients import links
from ketacare.patients.access import access_patient
from ketacare.patients.measurements import latest_weight
from ketacare.patients.models import LinkPurpose, Patient, PatientLink
from ketacare.screening import actions
from ketacare.screening.access import access_intake, intakes_of
from ketacare.screening.facts import FACTS_BY_NAME
from ketacare.screening.forms import (
    STAFF_GROUPS,
    IntakeForm,
    put_errors,
    to_data,
    trial_formset,
    trial_initial,
)
from ketacare.screening.intake_data import TEXT_FIELDS, TEXT_LABELS, is_derived_fact
from ketacare.screening.models import Intake, IntakeStatus, PriorTrial
from ketacare.screening.queries import (
    current_intake,
    intake_data,
    missing_for_review,
    trial_adequacy_note,
    trial_count,
    trials_of,
)

BASELINE_CODES = ("phq9", "gad7")  # self-report baseline questionnaires (measures instruments)
QUEUE_PAGE_SIZE = 25
# Every role holding intake.view or intake.send holds patient.view (the auditor reads intakes but
# sends nothing; the front desk sends but reads no answers): pages guard on it, then `intakes_of`.
SEE_INTAKES = Perm.PATIENT_VIEW


def _open_link(intake: Intake | None) -> PatientLink | None:
    if intake is None:
        return None
    for link in PatientLink.objects.filter(
        patient_id=intake.patient_id,
        purpose=LinkPurpose.INTAKE,
        subject_id=intake.pk,
        completed_at=None,
        cancelled_at=None,
    ).order_by("-created_at")[:1]:
        return link if links.is_usable(link) else None
    return None


def _qr_svg(url: str) -> str:
    return str(segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff"))


def _fact_rows(intake: Intake) -> list[tuple[str, list[tuple[str, str, Any]]]]:
    """(group title, [(fact, label, value)]) of every fact, for the readable intake."""
    facts = intake.screening_facts()
    return [
        (title, [(name, FACTS_BY_NAME[name].label, facts.get(name)) for name in names])  # type: ignore[misc]
        for title, names in STAFF_GROUPS
    ]


def _baseline(actor: Actor, patient: Patient) -> dict[str, Any]:
    """Latest baseline scores (clinicians) and the latest questionnaire link sent (who may send)."""
    out: dict[str, Any] = {"codes": [get_instrument(c).abbreviation for c in BASELINE_CODES]}
    if actor.can(Perm.MEASURE_VIEW):
        latest: dict[str, Response] = {}
        for row in Response.objects.filter(
            clinic=actor.clinic, patient=patient, instrument_code__in=BASELINE_CODES
        ).order_by("-completed_at", "-id")[:50]:
            latest.setdefault(row.instrument_code, row)
        out["scores"] = [(get_instrument(c), latest.get(c)) for c in BASELINE_CODES]
    if actor.can(Perm.MEASURE_SEND):
        out["last_request"] = (
            QuestionnaireRequest.objects.filter(clinic=actor.clinic, patient=patient).order_by("-created_at").first()
        )
    return out


def _page(
    request: HttpRequest,
    patient: Patient,
    *,
    form: IntakeForm | None = None,
    formset: Any = None,
    review_errors: dict[str, list[str]] | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = actor_of(request)
    intake = (
        Intake.objects.filter(clinic=actor.clinic, patient=patient)
        .select_related("reviewed_by", "created_by")
        .prefetch_related(Prefetch("prior_trials", queryset=PriorTrial.objects.order_by("position", "id")))
        .order_by("-created_at", "-id")
        .first()
    )
    can_view = actor.can(Perm.INTAKE_VIEW)
    can_edit = actor.can(Perm.INTAKE_EDIT)
    link = _open_link(intake)
    context: dict[str, Any] = {
        "patient": patient,
        "intake": intake,
        "can_view": can_view,
        "can_edit": can_edit,
        "can_send": actor.can(Perm.INTAKE_SEND),
        "link": link,
        "link_url": links.link_url(link) if link else "",
        "qr_svg": _qr_svg(links.link_url(link)) if link else "",
        "baseline": _baseline(actor, patient),
        "form_token": request.POST.get("form_token") or uuid.uuid4(),
        "errors": errors or [],
        "review_errors": review_errors or {},
    }
    if intake is not None and can_view:
        count = trial_count(intake)
        data = intake_data(intake)
        context.update(
            {
                "fact_groups": _fact_rows(intake),
                "texts": [(TEXT_LABELS[n][1], getattr(intake, n)) for n in TEXT_FIELDS],
                "trials": list(zip(trials_of(intake), count.judgements, strict=True)),
                "count": count,
                "adequacy_note": trial_adequacy_note(),
                "weight": latest_weight(patient),
                "missing": missing_for_review(intake),
            }
        )
        if can_edit:
            form = form or IntakeForm(staff=True, initial=IntakeForm.initial_from(data), auto_id="id_%s")
            formset = formset or trial_formset(staff=True, initial=trial_initial(data))
            context.update({"form": form, "formset": formset, "staff_groups": _form_groups(form)})
        actions.record_intake_read(actor, intake, view="page")
    else:
        record(
            actor,
            AuditAction.READ,
            "intake.status_viewed",
            subject=intake,
            patient=patient,
            detail={"answers_shown": False},
        )
    return render(request, "screening/intake.html", context, status=status)


def _form_groups(form: IntakeForm) -> list[tuple[str, list[Any]]]:
    return [(title, form.fact_fields(names)) for title, names in STAFF_GROUPS]


@clinic_view(SEE_INTAKES)
def patient_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    intakes_of(actor)  # intake.view or intake.send, else 403
    patient = access_patient(actor, patient_id, SEE_INTAKES)
    return _page(request, patient)


def _once(request: HttpRequest, actor: Actor, name: str, effect: Any) -> bool:
    """Run `effect` once per one-time form token; False when it is a repeat of a done submission."""
    token = form_token(request)
    if not token:
        with transaction.atomic():
            effect()
        return True

    def wrapped() -> tuple[int, Any]:
        effect()
        return 200, {"ok": True}

    payload = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    return not run_once(actor, f"form:{name}:{token}", fingerprint(payload), wrapped).replayed


@clinic_view(Perm.INTAKE_EDIT)
@require_POST
def start(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.INTAKE_EDIT)
    try:
        _once(request, actor, "intake-start", lambda: actions.start_intake(actor, patient))
    except ValidationError as exc:
        return _page(request, patient, errors=exc.messages, status=422)
    except IdempotencyConflict:
        return _page(request, patient, errors=["This form was already sent. Reload the page."], status=422)
    messages.success(request, "Intake started. Complete it below.")
    return HttpResponseRedirect(reverse("screening-intake", args=[patient.pk]) + "#edit")


@clinic_view(Perm.INTAKE_SEND)
@require_POST
def send_link(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.INTAKE_SEND)
    try:
        fresh = _once(request, actor, "intake-link", lambda: actions.send_intake_link(actor, patient))
    except ValidationError as exc:
        return _page(request, patient, errors=exc.messages, status=422)
    except IdempotencyConflict:
        return _page(request, patient, errors=["This form was already sent. Reload the page."], status=422)
    if not fresh:
        messages.info(request, "That form was already sent: the patient has one link.")
    elif patient.email:
        messages.success(request, "Link sent by e-mail. You can also show the QR code or copy the link below.")
    else:
        messages.success(request, "Link ready. The patient has no e-mail address: show the QR code or copy the link.")
    return HttpResponseRedirect(reverse("screening-intake", args=[patient.pk]) + "#link")


@clinic_view(Perm.INTAKE_EDIT)
@require_POST
def edit(request: HttpRequest, intake_id: int) -> HttpResponse:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_EDIT)
    form = IntakeForm(request.POST, staff=True, auto_id="id_%s")
    formset = trial_formset(request.POST, staff=True)
    data = to_data(form, formset)
    if data is not None:
        # Blood-pressure facts typed through the API are not in the form: keep them.
        kept = {k: v for k, v in (intake.facts or {}).items() if is_derived_fact(k)}
        data = data.model_copy(update={"facts": {**kept, **data.facts}})
        try:
            _once(request, actor, f"intake-edit-{intake.pk}", lambda: actions.update_intake(actor, intake, data))
        except ValidationError as exc:
            put_errors(form, formset, exc.message_dict)
        except IdempotencyConflict:
            form.add_error(None, "This form was already sent. Reload the page to make another change.")
        else:
            messages.success(request, "Intake saved.")
            return HttpResponseRedirect(reverse("screening-intake", args=[intake.patient_id]))
    return _page(request, intake.patient, form=form, formset=formset, status=422)


@clinic_view(Perm.INTAKE_EDIT)
@require_POST
def review(request: HttpRequest, intake_id: int) -> HttpResponse:
    actor = actor_of(request)
    intake = access_intake(actor, intake_id, Perm.INTAKE_EDIT)
    try:
        actions.mark_reviewed(actor, intake)
    except ValidationError as exc:
        return _page(request, intake.patient, review_errors=exc.message_dict, status=422)
    messages.success(request, "Intake marked reviewed.")
    return HttpResponseRedirect(reverse("screening-intake", args=[intake.patient_id]))


@clinic_view(Perm.MEASURE_SEND)
@require_POST
def send_baseline(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_SEND)
    try:
        fresh = _once(
            request, actor, "intake-baseline", lambda: measure_links.send_questionnaire(actor, patient, BASELINE_CODES)
        )
    except ValidationError as exc:
        return _page(request, patient, errors=exc.messages, status=422)
    except IdempotencyConflict:
        return _page(request, patient, errors=["This form was already sent. Reload the page."], status=422)
    if fresh:
        messages.success(request, "Baseline questionnaires sent by e-mail and text message where we have them.")
    return HttpResponseRedirect(reverse("screening-intake", args=[patient.pk]) + "#baseline")


@clinic_view(SEE_INTAKES)
def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The chart's screening tab summary (loaded with HTMX): status, dates, adequate-trial count."""
    actor = actor_of(request)
    intakes_of(actor)  # intake.view or intake.send, else 403
    patient = access_patient(actor, patient_id, SEE_INTAKES)
    intake = current_intake(patient)
    count = trial_count(intake) if intake is not None and actor.can(Perm.INTAKE_VIEW) else None
    record(actor, AuditAction.READ, "intake.status_viewed", subject=intake, patient=patient, detail={"view": "chart"})
    return render(request, "screening/_chart.html", {"patient": patient, "intake": intake, "count": count})


@clinic_view(SEE_INTAKES)
def queue(request: HttpRequest) -> HttpResponse:
    """The clinic's intakes not yet reviewed: sent (waiting for the patient), submitted (awaiting
    review), started by staff. One audit row for the page."""
    actor = actor_of(request)
    wanted = request.GET.get("status", "")
    statuses = [IntakeStatus.DRAFT, IntakeStatus.SENT, IntakeStatus.SUBMITTED]
    rows = intakes_of(actor).filter(status__in=[wanted] if wanted in statuses else statuses)
    # Awaiting review first (newest submission first), then the rest by last change, on every database.
    rows = rows.select_related("patient").order_by(F("submitted_at").desc(nulls_last=True), "-updated_at", "-id")
    page = Paginator(rows, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    record(
        actor,
        AuditAction.READ,
        "intake.listed",
        detail={"status": wanted, "rows_returned": len(shown), "patients": [i.patient_id for i in shown]},
    )
    return render(
        request,
        "screening/queue.html",
        {
            "page": page,
            "rows": shown,
            "status": wanted,
            "statuses": [(s.value, s.label) for s in statuses],
            "now": timezone.now(),
        },
    )
