"""Pages the patient sees, without an account: a questionnaire link opened on a phone, or a clinic
tablet handed over by staff (kiosk). No staff navigation, nothing about anyone else.

Every link that cannot be used (unknown, expired, answered, cancelled or locked) shows the same
neutral page with the same status. When an answer raises a safety alert, the clinic's crisis
resources come first on every page that follows.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from ketacare.accounts.context import Origin
from ketacare.clinics.models import Clinic
from ketacare.measures import actions, links, rules
from ketacare.measures.definitions import Instrument, Item, get_instrument
from ketacare.measures.models import QuestionnaireRequest, RequestChannel
from ketacare.patients import links as patient_links

SESSION_VERIFIED = "q_verified"  # request id whose date of birth was checked in this browser
SESSION_KIOSK = "q_kiosk"  # request id handed over on this tablet
SESSION_ALERT = "q_alert_clinic"  # clinic id whose crisis resources this browser must see
SESSION_DONE = "q_done"  # {"clinic": id, "kiosk": bool} once the last questionnaire is answered


def _neutral(request: HttpRequest) -> HttpResponse:
    return render(request, "measures/patient/unavailable.html", status=404)


def _crisis(request: HttpRequest) -> Clinic | None:
    clinic_id = request.session.get(SESSION_ALERT)
    return Clinic.objects.filter(pk=clinic_id).first() if clinic_id else None


def _visible(instrument: Instrument, answers: dict[str, int]) -> list[Item]:
    """The items to ask, given the answers so far (C-SSRS skip logic: follow-ups only when they apply)."""
    return [it for it in instrument.items if rules.is_asked(it, answers)]


def _parse(instrument: Instrument, data: Any) -> tuple[dict[str, int], dict[str, str]]:
    """Answers to the visible items, and an error per visible required item left unanswered."""
    answers: dict[str, int] = {}
    for it in instrument.items:
        raw = data.get(f"item_{it.id}", "")
        if raw.lstrip("-").isdigit() and int(raw) in it.values:
            answers[it.id] = int(raw)
    shown = _visible(instrument, answers)
    answers = {k: v for k, v in answers.items() if k in {it.id for it in shown}}
    errors = {
        it.id: f"Please answer question {it.id}: {it.text}" for it in shown if it.required and it.id not in answers
    }
    return answers, errors


@never_cache
def questionnaire(request: HttpRequest, token: str) -> HttpResponse:
    row = links.usable_by_token(token)
    if row is None:
        return _neutral(request)
    if request.session.get(SESSION_VERIFIED) != row.pk:
        return _date_of_birth(request, row)
    return _answer(request, row, reverse("measures-q", args=[token]))


def _date_of_birth(request: HttpRequest, row: QuestionnaireRequest) -> HttpResponse:
    origin = Origin.of(request, via="link")

    def verified() -> None:
        request.session.cycle_key()
        request.session[SESSION_VERIFIED] = row.pk

    return patient_links.date_of_birth_page(
        request,
        check=lambda dob: links.check_date_of_birth(row.pk, dob, origin=origin),
        on_match=verified,
        template="measures/patient/date_of_birth.html",
        context={},
        neutral=_neutral,
    )


def _answer(request: HttpRequest, row: QuestionnaireRequest, here: str) -> HttpResponse:
    kiosk = row.channel == RequestChannel.KIOSK
    left = [code for code in row.instrument_codes if code not in row.answered]
    if not left:  # answered meanwhile (another tab)
        return HttpResponseRedirect(reverse("measures-q-done"))
    instrument = get_instrument(left[0])
    answers: dict[str, int] = {}
    errors: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("instrument") == instrument.code:
        answers, errors = _parse(instrument, request.POST)
        if not errors:
            try:
                _, alerted = actions.submit_patient_response(
                    row.pk, instrument.code, answers, origin=Origin.of(request, via=str(row.channel))
                )
            except ValidationError:
                return _neutral(request)
            if alerted:
                request.session[SESSION_ALERT] = row.clinic_id
            if len(left) == 1:
                request.session[SESSION_DONE] = {"clinic": row.clinic_id, "kiosk": kiosk}
                request.session.pop(SESSION_VERIFIED, None)
                request.session.pop(SESSION_KIOSK, None)
                return HttpResponseRedirect(reverse("measures-q-done"))
            return HttpResponseRedirect(here)
    position = len(row.instrument_codes) - len(left) + 1
    context = {
        "instrument": instrument,
        "items": _visible(instrument, answers),
        "answers": answers,
        "errors": errors,
        "position": position,
        "count": len(row.instrument_codes),
        "crisis_clinic": _crisis(request),
        "kiosk": kiosk,
    }
    return render(request, "measures/patient/questionnaire.html", context, status=422 if errors else 200)


@never_cache
def kiosk(request: HttpRequest) -> HttpResponse:
    row_id = request.session.get(SESSION_KIOSK)
    row = (
        QuestionnaireRequest.objects.select_related("clinic", "patient").filter(pk=row_id).first()
        if isinstance(row_id, int)
        else None
    )
    if row is None or row.channel != RequestChannel.KIOSK or not links.is_usable(row):
        if request.session.get(SESSION_DONE):
            return HttpResponseRedirect(reverse("measures-q-done"))
        return _neutral(request)
    return _answer(request, row, reverse("measures-q-kiosk"))


@never_cache
def done(request: HttpRequest) -> HttpResponse:
    finished = request.session.get(SESSION_DONE)
    if not finished:
        return _neutral(request)
    return render(
        request,
        "measures/patient/done.html",
        {"crisis_clinic": _crisis(request), "kiosk": finished.get("kiosk", False)},
    )
