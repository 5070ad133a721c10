"""Staff pages for consents: a patient's consents (status, PDFs, send a link, sign on a tablet),
countersign, withdraw, download the signed PDF, and the summary on the chart's Screening tab."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.consents import actions
from ketacare.consents.access import access_consent, consents_of
from ketacare.consents.definitions import Document, UnknownDocument, get_document, list_documents
from ketacare.consents.forms import CountersignForm, DocumentsForm, WithdrawForm
from ketacare.consents.models import Consent, ConsentStatus
from ketacare.lib.http import form_token
from ketacare.patients import links
from ketacare.patients.access import access_patient
from ketacare.patients.models import LinkPurpose, Patient, PatientLink

SESSION_TABLET = "consent_tablet"  # shared with patient_views


@dataclass
class DocumentRow:
    """One consent document on the patient's page: the version in effect, the patient's latest consent
    to it, and the earlier ones (withdrawn or replaced), which stay visible with their PDFs."""

    document: Document
    current: Consent | None
    earlier: list[Consent] = field(default_factory=list)
    can_countersign: bool = False

    @property
    def status(self) -> str:
        if self.current is None:
            return "not_signed"
        return str(self.current.status)

    @property
    def signable(self) -> bool:
        return self.current is None or self.current.status in (ConsentStatus.WITHDRAWN, ConsentStatus.SUPERSEDED)


def _rows(actor: Actor, patient: Patient) -> tuple[list[DocumentRow], list[Consent]]:
    consents = list(
        consents_of(actor)
        .filter(patient=patient)
        .defer("pdf")
        .select_related("presented_by", "countersigned_by", "withdrawn_by")
        .order_by("-signed_at", "-id")
    )
    rows: list[DocumentRow] = []
    for document in list_documents():
        mine = [c for c in consents if c.document_code == document.code]
        current = next((c for c in mine if c.status != ConsentStatus.SUPERSEDED), None)
        row = DocumentRow(document, current, [c for c in mine if c is not current])
        row.can_countersign = current is not None and current.status == ConsentStatus.AWAITING_COUNTERSIGN
        row.can_countersign = row.can_countersign and current is not None and actions.can_countersign(actor, current)
        rows.append(row)
    return rows, consents


def _open_links(patient: Patient) -> list[PatientLink]:
    return [
        link
        for link in PatientLink.objects.filter(
            patient=patient, purpose=LinkPurpose.CONSENT, completed_at=None, cancelled_at=None
        )
        .select_related("created_by")
        .order_by("-created_at")[:5]
        if links.is_usable(link)
    ]


@clinic_view(Perm.CONSENT_VIEW)
def patient_page(
    request: HttpRequest,
    patient_id: int,
    form: DocumentsForm | None = None,
    new_link: PatientLink | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.CONSENT_VIEW)
    rows, consents = _rows(actor, patient)
    actions.record_consents_listed(actor, patient, consents, view="page")
    context: dict[str, Any] = {
        "patient": patient,
        "rows": rows,
        "form": form
        or DocumentsForm(
            initial={"documents": [r.document.code for r in rows if r.signable and not r.document.optional]}
        ),
        "form_token": uuid.uuid4(),
        "open_links": _open_links(patient) if actor.can(Perm.CONSENT_COLLECT) else [],
    }
    if new_link is not None:
        url = links.link_url(new_link)
        context["new_link"] = new_link
        context["new_link_url"] = url
        context["new_link_qr"] = segno.make(url, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    failed = form is not None and bool(form.errors)
    return render(request, "consents/list.html", context, status=422 if failed else 200)


@clinic_view(Perm.CONSENT_VIEW)
def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.CONSENT_VIEW)
    rows, consents = _rows(actor, patient)
    actions.record_consents_listed(actor, patient, consents, view="chart")
    return render(request, "consents/_chart.html", {"patient": patient, "rows": rows})


@clinic_view(Perm.CONSENT_COLLECT)
@require_POST
def send_link(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.CONSENT_COLLECT)
    form = DocumentsForm(request.POST)
    if not form.is_valid():
        return patient_page(request, patient_id, form=form)
    codes = form.cleaned_data["documents"]
    token = form_token(request)

    def effect() -> tuple[int, Any]:
        link = actions.send_consent_link(actor, patient, codes)
        return 201, {"link_id": link.pk}

    try:
        if token:
            outcome = run_once(actor, f"form:consent-link:{token}", fingerprint(request.POST.dict()), effect)
            if outcome.replayed:
                messages.info(request, "That form was already sent: one link was made. Make a new one if it was lost.")
                return HttpResponseRedirect(reverse("consents-list", args=[patient.pk]))
            link_id = outcome.body["link_id"]
        else:
            link_id = effect()[1]["link_id"]
    except ValidationError as exc:
        form.add_error(None, exc)
        return patient_page(request, patient_id, form=form)
    except IdempotencyConflict:
        form.add_error(None, "This form was already sent. Reload the page to make another link.")
        return patient_page(request, patient_id, form=form)
    link = PatientLink.objects.get(pk=link_id)
    # The URL is shown on this response only (the page after a reload shows that a link is open, not its address).
    return patient_page(request, patient_id, new_link=link)


@clinic_view(Perm.CONSENT_COLLECT)
@require_POST
def start_tablet(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.CONSENT_COLLECT)
    form = DocumentsForm(request.POST)
    if not form.is_valid():
        return patient_page(request, patient_id, form=form)
    try:
        handover = actions.start_tablet_signing(actor, patient, form.cleaned_data["documents"])
    except ValidationError as exc:
        form.add_error(None, exc)
        return patient_page(request, patient_id, form=form)
    # Staff leave the tablet signed out: the patient sees only the documents, and staff sign in again after.
    logout(request)
    request.session[SESSION_TABLET] = handover.to_session()
    return HttpResponseRedirect(reverse("consent-tablet"))


def _document_of(consent: Consent) -> Document | None:
    try:
        return get_document(consent.document_code, consent.document_version)
    except UnknownDocument:
        return None


@clinic_view(Perm.CONSENT_COUNTERSIGN)
def countersign(request: HttpRequest, consent_id: int) -> HttpResponse:
    actor = actor_of(request)
    consent = access_consent(actor, consent_id, Perm.CONSENT_COUNTERSIGN)
    form = CountersignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.countersign_consent(actor, consent.pk)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Countersigned: “{consent.document_title}” is now in force.")
            return HttpResponseRedirect(reverse("consents-list", args=[consent.patient_id]))
    allowed = actions.can_countersign(actor, consent)
    context = {
        "consent": consent,
        "patient": consent.patient,
        "document": _document_of(consent),
        "form": form,
        "allowed": allowed,
    }
    status = 422 if form.errors else 200
    if not allowed and consent.status == ConsentStatus.AWAITING_COUNTERSIGN:
        status = 403
    return render(request, "consents/countersign.html", context, status=status)


@clinic_view(Perm.CONSENT_WITHDRAW)
def withdraw(request: HttpRequest, consent_id: int) -> HttpResponse:
    actor = actor_of(request)
    consent = access_consent(actor, consent_id, Perm.CONSENT_WITHDRAW)
    form = WithdrawForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.withdraw_consent(actor, consent.pk, form.cleaned_data["reason"], form.cleaned_data["received_via"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Withdrawn: “{consent.document_title}” no longer applies.")
            return HttpResponseRedirect(reverse("consents-list", args=[consent.patient_id]))
    return render(
        request,
        "consents/withdraw.html",
        {"consent": consent, "patient": consent.patient, "form": form},
        status=422 if form.errors else 200,
    )


@clinic_view(Perm.CONSENT_VIEW)
def download_pdf(request: HttpRequest, consent_id: int) -> HttpResponse:
    actor = actor_of(request)
    consent = access_consent(actor, consent_id, Perm.CONSENT_VIEW)
    if not consent.has_pdf or consent.pdf is None:
        raise Http404("This consent has no signed PDF yet.")
    actions.record_pdf_read(actor, consent)
    response = HttpResponse(bytes(consent.pdf), content_type="application/pdf")
    filename = f"consent-{consent.document_code}-v{consent.document_version}-{consent.patient.mrn}-{consent.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
