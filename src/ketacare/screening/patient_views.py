"""The intake packet the patient fills in at /intake/<token>/, without an account.

The date of birth is checked first (three wrong dates lock the link; `patients.links`). Every link
that cannot be used (unknown, expired, used, cancelled or locked) shows the same neutral page with
the same status. The packet is one page in sections, in plain language; the answers go through
`actions.submit_by_patient`, once, and a thank-you page follows.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from ketacare.accounts.context import Origin
from ketacare.patients import links
from ketacare.patients.models import LinkPurpose, PatientLink
from ketacare.screening import actions
from ketacare.screening.forms import IntakeForm, to_data, trial_formset, trial_initial
from ketacare.screening.intake_data import PATIENT_SECTIONS
from ketacare.screening.models import Intake
from ketacare.screening.queries import intake_data

SESSION_DONE = "intake_done"  # clinic name, once the packet was sent from this browser


def _neutral(request: HttpRequest) -> HttpResponse:
    return render(request, "screening/patient/unavailable.html", status=404)


@never_cache
def packet(request: HttpRequest, token: str) -> HttpResponse:
    link = links.usable_by_token(token, LinkPurpose.INTAKE)
    if link is None:
        return _neutral(request)
    if not links.is_verified(request, link):
        return _date_of_birth(request, link)
    intake = (
        Intake.objects.filter(pk=link.subject_id, patient_id=link.patient_id).first()
        if link.subject_id is not None
        else None
    )
    if intake is None:
        return _neutral(request)
    return _answer(request, link, intake)


def _date_of_birth(request: HttpRequest, link: PatientLink) -> HttpResponse:
    return links.date_of_birth_gate(request, link, template="screening/patient/date_of_birth.html", neutral=_neutral)


def _sections(form: IntakeForm) -> list[dict[str, Any]]:
    return [
        {
            "section": s,
            "texts": [form[name] for name in s.text_fields],
            "questions": form.fact_fields([q.fact for q in s.questions]),
        }
        for s in PATIENT_SECTIONS
    ]


def _answer(request: HttpRequest, link: PatientLink, intake: Intake) -> HttpResponse:
    status = 200
    if request.method == "POST" and "date_of_birth" not in request.POST:
        form = IntakeForm(request.POST, staff=False, auto_id="id_%s")
        formset = trial_formset(request.POST, staff=False)
        data = to_data(form, formset)
        if data is not None:
            try:
                actions.submit_by_patient(link, data, Origin.of(request, via="link"))
            except ValidationError:
                return _neutral(request)
            request.session[SESSION_DONE] = link.clinic.name
            return HttpResponseRedirect(reverse("screening-patient-done"))
        status = 422
    else:
        current = intake_data(intake).for_patient()
        form = IntakeForm(staff=False, initial=IntakeForm.initial_from(current, staff=False), auto_id="id_%s")
        formset = trial_formset(staff=False, initial=trial_initial(current))
    context = {
        "form": form,
        "formset": formset,
        "sections": _sections(form),
        "clinic": link.clinic,
        "first_name": link.patient.preferred_name or link.patient.legal_first_name,
    }
    return render(request, "screening/patient/packet.html", context, status=status)


@never_cache
def done(request: HttpRequest) -> HttpResponse:
    clinic_name = request.session.get(SESSION_DONE)
    if not clinic_name:
        return _neutral(request)
    return render(request, "screening/patient/done.html", {"clinic_name": clinic_name})
