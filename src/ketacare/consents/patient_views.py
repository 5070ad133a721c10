"""Pages the patient sees, without an account: a consent link (`/consent/<token>/`, after a date-of-birth
check) or a clinic tablet handed over by staff (`/consent/tablet/`). No staff navigation, nothing about
anyone else. Every link that cannot be used shows the same neutral page with the same status.

One document per page: the patient reads it, types their name and today's date, ticks "I have read
this document and I agree" and signs. Their address and browser are recorded with the signature.
An optional document (research) may be declined.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ketacare.accounts.context import Origin
from ketacare.consents import actions
from ketacare.consents.definitions import UnknownDocument, get_document
from ketacare.consents.forms import SignForm
from ketacare.consents.models import SignedVia
from ketacare.consents.views import SESSION_TABLET
from ketacare.patients import links
from ketacare.patients.models import LinkPurpose, Patient, PatientLink

SESSION_DECLINED = "consent_declined"  # {"<link id or 'tablet'>": [codes]} optional documents declined
SESSION_DONE = "consent_done"  # {"tablet": bool} once everything asked for is signed


def _neutral(request: HttpRequest) -> HttpResponse:
    return render(request, "consents/patient/unavailable.html", status=404)


def _declined(request: HttpRequest, key: str) -> list[str]:
    return list(request.session.get(SESSION_DECLINED, {}).get(key, []))


def _add_declined(request: HttpRequest, key: str, code: str) -> None:
    store = dict(request.session.get(SESSION_DECLINED, {}))
    store[key] = sorted({*store.get(key, []), code})
    request.session[SESSION_DECLINED] = store


@never_cache
def sign_by_link(request: HttpRequest, token: str) -> HttpResponse:
    link = links.usable_by_token(token, LinkPurpose.CONSENT)
    if link is None:
        return _neutral(request)
    if not links.is_verified(request, link):
        return _date_of_birth(request, link)
    return _sign(request, link.patient, list(link.payload.get("documents", [])), link=link)


def _date_of_birth(request: HttpRequest, link: PatientLink) -> HttpResponse:
    return links.date_of_birth_gate(request, link, template="consents/patient/date_of_birth.html", neutral=_neutral)


@never_cache
def sign_on_tablet(request: HttpRequest) -> HttpResponse:
    handover = actions.TabletHandover.from_session(request.session.get(SESSION_TABLET))
    if handover is None:
        if request.session.get(SESSION_DONE):
            return HttpResponseRedirect(reverse("consent-done"))
        return _neutral(request)
    patient = (
        Patient.objects.select_related("clinic").filter(pk=handover.patient_id, clinic_id=handover.clinic_id).first()
    )
    if patient is None:
        return _neutral(request)
    return _sign(request, patient, list(handover.documents), handover=handover)


def _sign(
    request: HttpRequest,
    patient: Patient,
    codes: Sequence[str],
    *,
    link: PatientLink | None = None,
    handover: actions.TabletHandover | None = None,
) -> HttpResponse:
    key = str(link.pk) if link is not None else "tablet"
    declined = _declined(request, key)
    left = [c for c in actions.remaining_codes(patient, codes, link) if c not in declined]
    if not left:
        return _finish(request, link, declined)
    try:
        document = get_document(left[0], on=timezone.localdate(timezone=patient.clinic.zone))
    except UnknownDocument:
        return _neutral(request)
    via = SignedVia.LINK if link is not None else SignedVia.TABLET
    origin = Origin.of(request, via=str(via))
    form = SignForm(initial={"signed_on": timezone.localdate(timezone=patient.clinic.zone)})
    if request.method == "POST" and request.POST.get("document") == document.code:
        if request.POST.get("decline") and document.optional:
            actions.decline_optional(patient, document.code, origin=origin, via=via, link=link)
            _add_declined(request, key, document.code)
            return HttpResponseRedirect(request.path)
        form = SignForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if link is not None:
                    actions.sign_by_link(
                        link.pk, document.code, signed_name=data["signed_name"], signed_on=data["signed_on"],
                        agreed=data["agreed"], origin=origin,
                    )  # fmt: skip
                else:
                    assert handover is not None  # noqa: S101 - one of the two is always given
                    actions.sign_on_tablet(
                        handover, document.code, signed_name=data["signed_name"], signed_on=data["signed_on"],
                        agreed=data["agreed"], origin=origin,
                    )  # fmt: skip
            except ValidationError as exc:
                if "__all__" in getattr(exc, "error_dict", {}) and link is not None and not links.is_usable(link):
                    return _neutral(request)
                form.add_error(None, exc)
            else:
                return HttpResponseRedirect(request.path)
    position = len(codes) - len(left) + 1
    context = {
        "document": document,
        "form": form,
        "patient_first_name": patient.preferred_name or patient.legal_first_name,
        "clinic": patient.clinic,
        "position": position,
        "count": len(codes),
        "tablet": link is None,
    }
    return render(request, "consents/patient/sign.html", context, status=422 if form.errors else 200)


def _finish(request: HttpRequest, link: PatientLink | None, declined: list[str]) -> HttpResponse:
    if link is not None:
        actions.finish_link(link.pk, declined)
    request.session[SESSION_DONE] = {"tablet": link is None}
    request.session.pop(SESSION_TABLET, None)
    request.session.pop(SESSION_DECLINED, None)
    return HttpResponseRedirect(reverse("consent-done"))


@never_cache
def done(request: HttpRequest) -> HttpResponse:
    finished = request.session.get(SESSION_DONE)
    if not finished:
        return _neutral(request)
    return render(request, "consents/patient/done.html", {"tablet": finished.get("tablet", False)})
