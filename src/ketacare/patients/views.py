"""Patient pages: list and search, register, chart, edit. Form -> access -> action -> render."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.lib.http import form_token
from ketacare.patients import actions
from ketacare.patients.access import access_patient
from ketacare.patients.forms import ContactFormSet, PatientForm, contacts_from_formset
from ketacare.patients.models import ContactRole, PatientContact, PatientStatus

CHART_TABS = [
    ("overview", "Overview"),
    ("screening", "Screening"),
    ("plan", "Plan"),
    ("sessions", "Sessions"),
    ("measures", "Measures"),
    ("notes", "Notes"),
]


@clinic_view(Perm.PATIENT_VIEW)
def patient_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    query = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    if status not in PatientStatus.values:
        status = ""
    page = actions.search_patients(actor, query, status, request.GET.get("page", 1))
    context = {"page": page, "query": query, "status": status, "statuses": PatientStatus.choices}
    template = "patients/_results.html" if request.htmx and request.htmx.target == "results" else "patients/list.html"  # type: ignore[attr-defined]
    return render(request, template, context)


@clinic_view(Perm.PATIENT_CREATE)
@require_http_methods(["GET", "POST"])
def patient_create(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    duplicates: list[Any] = []
    if request.method == "POST":
        form = PatientForm(request.POST, clinic=actor.clinic)
        formset = ContactFormSet(request.POST, prefix="contacts", queryset=PatientContact.objects.none())
        token = form_token(request)
        if form.is_valid() and formset.is_valid():
            values = form.patient_values()
            contacts = contacts_from_formset(formset)
            confirmed = bool(form.cleaned_data.get("confirm_not_duplicate"))

            def effect() -> tuple[int, Any]:
                patient = actions.create_patient(actor, values, contacts, confirm_not_duplicate=confirmed)
                return 201, {"redirect": patient.get_absolute_url()}

            try:
                if token:
                    # A double click or a resubmitted page sends the same one-time token: the
                    # second gets the first's result and creates nothing.
                    outcome = run_once(actor, f"form:patient-create:{token}", fingerprint(request.POST.dict()), effect)
                    return HttpResponseRedirect(outcome.body["redirect"])
                with transaction.atomic():
                    _, body = effect()
                return HttpResponseRedirect(body["redirect"])
            except actions.PossibleDuplicate as dup:
                duplicates = dup.matches
                form.add_error(None, "A patient with the same name and date of birth is already registered.")
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted. Open a new form to register another patient.")
    else:
        form = PatientForm(clinic=actor.clinic)
        formset = ContactFormSet(prefix="contacts", queryset=PatientContact.objects.none())
    return render(
        request,
        "patients/form.html",
        {
            "form": form,
            "formset": formset,
            "duplicates": duplicates,
            "form_token": request.POST.get("form_token") or uuid.uuid4(),
            "title": "Register a patient",
            "submit_label": "Register patient",
        },
        status=422 if request.method == "POST" else 200,
    )


@clinic_view(Perm.PATIENT_VIEW)
def patient_chart(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    tabs = dict(CHART_TABS)
    tab = request.GET.get("tab", "overview")
    if tab not in tabs:
        tab = "overview"
    # Not inside a transaction: a refusal's audit row must outlive the 404 or 403 it raises.
    patient = access_patient(actor, patient_id)
    actions.record_patient_read(actor, patient, view=f"chart:{tab}")
    contacts = list(patient.contacts.all())
    context = {
        "patient": patient,
        "contacts": contacts,
        "has_escort": any(c.role == ContactRole.ESCORT for c in contacts),
        "tabs": CHART_TABS,
        "tab": tab,
        "tab_label": tabs[tab],
    }
    if request.htmx and request.htmx.target == "chart-panel":  # type: ignore[attr-defined]
        return render(request, "patients/_chart_panel.html", context)
    return render(request, "patients/chart.html", context)


@clinic_view(Perm.PATIENT_EDIT)
@require_http_methods(["GET", "POST"])
def patient_edit(request: HttpRequest, patient_id: int) -> HttpResponse:
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.PATIENT_EDIT)
    if request.method == "POST":
        form = PatientForm(request.POST, instance=patient, clinic=actor.clinic)
        formset = ContactFormSet(request.POST, prefix="contacts", queryset=patient.contacts.all())
        if form.is_valid() and formset.is_valid():
            try:
                # The form was bound to `patient`; re-read it so the action compares with the
                # stored values, not with the form's.
                patient.refresh_from_db()
                changes = actions.update_patient(actor, patient, form.patient_values(), contacts_from_formset(formset))
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                from django.contrib import messages

                if changes:
                    messages.success(request, f"Saved: {', '.join(_label(f) for f in changes)}.")
                else:
                    messages.info(request, "Nothing changed.")
                return HttpResponseRedirect(reverse("patients-chart", args=[patient.pk]))
    else:
        actions.record_patient_read(actor, patient, view="edit form")
        form = PatientForm(instance=patient, clinic=actor.clinic)
        formset = ContactFormSet(prefix="contacts", queryset=patient.contacts.all())
    return render(
        request,
        "patients/form.html",
        {
            "form": form,
            "formset": formset,
            "patient": patient,
            "title": f"Edit {patient.display_name}",
            "submit_label": "Save changes",
        },
        status=422 if request.method == "POST" else 200,
    )


def _label(field: str) -> str:
    from ketacare.patients.models import Patient

    if field == "contacts":
        return "contacts"
    return str(getattr(Patient._meta.get_field(field), "verbose_name", field))
