"""Staff pages for a patient's measures: the chart's measures tab (trends and history) and staff entry.

Form -> access -> action -> render. The patients app does not import measures: its chart loads this
tab from `measures-history` with HTMX. Entry posts to `actions.submit_response` (source: staff)
behind a one-time form token, so a double click stores one response.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.lib.forms import StyledFormMixin
from ketacare.lib.http import form_token
from ketacare.measures import actions, rules
from ketacare.measures.access import responses_of
from ketacare.measures.charts import ChartPoint, first_definition, remission_text, response_text, trend_svg
from ketacare.measures.definitions import Instrument, Item, UnknownInstrument, get_instrument, list_instruments
from ketacare.measures.models import Response, ResponseSource
from ketacare.patients.access import access_patient
from ketacare.patients.models import Patient

# ---------------------------------------------------------------------------------------------
# The measures tab


@dataclass
class AnswerRow:
    item_id: str
    text: str
    value: int | None
    label: str


@dataclass
class HistoryRow:
    response: Response
    day: datetime.date
    answers: list[AnswerRow]


@dataclass
class Outcome:
    """Latest against baseline under one stored definition: met or not, and the definition in words."""

    kind: str
    met: bool
    definition: str


@dataclass
class InstrumentHistory:
    instrument: Instrument
    rows: list[HistoryRow]  # newest first
    chart: str = ""
    baseline: Response | None = None
    latest: Response | None = None
    outcomes: list[Outcome] = field(default_factory=list)


def _instrument_for(code: str, version: str | None = None) -> Instrument | None:
    try:
        return get_instrument(code, version)
    except UnknownInstrument:
        try:
            return get_instrument(code)
        except UnknownInstrument:
            return None


def _answer_rows(instrument: Instrument | None, answers: dict[str, int]) -> list[AnswerRow]:
    if instrument is None:
        return [AnswerRow(k, "", v, "") for k, v in answers.items()]
    rows = []
    for item in instrument.items:
        if item.id not in answers:
            continue
        value = answers[item.id]
        label = next((o.label for o in item.options if o.value == value), "")
        rows.append(AnswerRow(item.id, item.text, value, label))
    return rows


def _outcomes(instrument: Instrument, baseline: Response, latest: Response) -> list[Outcome]:
    found: list[Outcome] = []
    if baseline.total is None or latest.total is None:
        return found
    response = first_definition(instrument, "response")
    if response is not None:
        found.append(
            Outcome(
                "Response",
                rules.is_response(baseline.total, latest.total, response),
                f"{response_text(response)} (baseline {baseline.total}); {response.used_by}",
            )
        )
    remission = first_definition(instrument, "remission")
    if remission is not None:
        found.append(
            Outcome(
                "Remission",
                rules.is_remission(latest.total, remission),
                f"{remission_text(remission)}; {remission.used_by}",
            )
        )
    return found


def patient_histories(responses: list[Response], zone: datetime.tzinfo) -> list[InstrumentHistory]:
    """Group a patient's responses (any order) by instrument, each with its chart and latest status."""
    by_code: dict[str, list[Response]] = defaultdict(list)
    for r in responses:
        by_code[r.instrument_code].append(r)
    histories: list[InstrumentHistory] = []
    for code in sorted(by_code):
        group = sorted(by_code[code], key=lambda r: (r.completed_at, r.pk))
        instrument = _instrument_for(code, group[-1].instrument_version)
        if instrument is None:
            continue
        rows = [
            HistoryRow(
                r,
                timezone.localtime(r.completed_at, zone).date(),
                _answer_rows(_instrument_for(code, r.instrument_version), r.answers),
            )
            for r in group
        ]
        history = InstrumentHistory(instrument, list(reversed(rows)))
        valid = [r for r in group if r.valid and r.total is not None]
        if valid:
            history.baseline, history.latest = valid[0], valid[-1]
            history.outcomes = _outcomes(instrument, valid[0], valid[-1])
        if instrument.scoring.total_max is not None:
            points = [ChartPoint(row.day, row.response.total, row.response.valid) for row in rows]
            history.chart = trend_svg(instrument, points, chart_id=f"trend-{code}")
        histories.append(history)
    return histories


@clinic_view(Perm.MEASURE_VIEW)
def patient_measures(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The measures tab: a trend, the latest status and the history of each instrument answered."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_VIEW)
    responses = list(
        responses_of(actor).filter(patient=patient).select_related("entered_by", "alert").order_by("completed_at")
    )
    histories = patient_histories(responses, actor.clinic.zone)
    record(
        actor,
        AuditAction.READ,
        "response.listed",
        patient=patient,
        detail={"instruments": [h.instrument.code for h in histories], "responses": [r.pk for r in responses]},
    )
    context = {
        "patient": patient,
        "histories": histories,
        "instruments": list_instruments(),
        "can_enter": actor.can(Perm.MEASURE_ENTER),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "measures/history.html", context)
    return render(request, "measures/history_page.html", context)


# ---------------------------------------------------------------------------------------------
# Staff entry


def _choices(item: Item) -> list[tuple[str, str]]:
    return [(str(o.value), f"{o.label} ({o.value})") for o in item.options]


class EntryForm(StyledFormMixin, forms.Form):
    """One radio group per item, asked by the skip logic given the answers so far.

    An item whose controlling answer does not ask it is left out of the form (and dropped from
    the answers); one asked by it appears once that answer is given, and is then required.
    """

    completed_at = forms.DateTimeField(
        label="Completed",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        help_text="Leave empty for now. In the clinic's time zone.",
    )
    incomplete = forms.BooleanField(
        label="Some items were left unanswered: store as incomplete (no total)",
        required=False,
    )

    def __init__(self, instrument: Instrument, zone: datetime.tzinfo, *args: Any, **kwargs: Any) -> None:
        self.instrument = instrument
        self.zone = zone
        super().__init__(*args, **kwargs)
        given = self.data if self.is_bound else self.initial
        answered = {
            it.id: int(given[f"item_{it.id}"])
            for it in instrument.items
            if str(given.get(f"item_{it.id}", "")).lstrip("-").isdigit()
        }
        for item in instrument.items:
            if not rules.is_asked(item, answered):
                continue
            self.fields[f"item_{item.id}"] = forms.TypedChoiceField(
                label=f"{item.id}. {item.text}",
                choices=_choices(item),
                coerce=int,
                required=False,
                widget=forms.RadioSelect,
            )
        # Radios take Bootstrap's check classes, not form-control.
        for name, f in self.fields.items():
            if name.startswith("item_"):
                f.widget.attrs["class"] = "form-check-input"

    @property
    def item_fields(self) -> list[tuple[Item, forms.BoundField]]:
        return [(it, self[f"item_{it.id}"]) for it in self.instrument.items if f"item_{it.id}" in self.fields]

    @property
    def controllers(self) -> set[str]:
        """Items whose answer decides whether another item is asked."""
        return {it.ask_if.item for it in self.instrument.items if it.ask_if is not None}

    @property
    def skipped_items(self) -> list[Item]:
        return [it for it in self.instrument.items if f"item_{it.id}" not in self.fields]

    def clean_completed_at(self) -> datetime.datetime | None:
        value: datetime.datetime | None = self.cleaned_data.get("completed_at")
        if value is None:
            return None
        # The wall-clock time typed, read in the clinic's zone (whatever zone Django parsed it in).
        value = timezone.make_aware(value.replace(tzinfo=None), self.zone)
        if value > timezone.now() + datetime.timedelta(minutes=5):
            raise ValidationError("The completion time cannot be in the future.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("incomplete"):
            for item, _ in self.item_fields:
                if item.required and cleaned.get(f"item_{item.id}") in (None, ""):
                    self.add_error(
                        f"item_{item.id}",
                        f"Item {item.id}: choose an answer (or tick “store as incomplete” below).",
                    )
        return cleaned

    def answers(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for item, _ in self.item_fields:
            value = self.cleaned_data.get(f"item_{item.id}")
            if isinstance(value, int):
                found[item.id] = value
        return found


def _entry_instrument(code: str) -> Instrument:
    try:
        return get_instrument(code)
    except UnknownInstrument:
        raise Http404("No such instrument.") from None


@clinic_view(Perm.MEASURE_ENTER)
@require_http_methods(["GET", "POST"])
def enter_response(request: HttpRequest, patient_id: int, code: str) -> HttpResponse:
    """Staff enter a questionnaire (or rate a clinician-rated scale) for a patient."""
    actor = actor_of(request)
    patient = access_patient(actor, patient_id, Perm.MEASURE_ENTER)
    instrument = _entry_instrument(code)
    zone = actor.clinic.zone
    status = 200
    if request.method == "POST":
        form = EntryForm(instrument, zone, request.POST)
        token = form_token(request)
        if form.is_valid():
            answers = form.answers()
            completed_at = form.cleaned_data.get("completed_at")
            try:
                response = _submit(actor, patient, instrument, answers, completed_at, token, request)
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    target = f"item_{name.removeprefix('answers.')}"
                    form.add_error(target if target in form.fields else None, errors)
            except IdempotencyConflict:
                form.add_error(None, "This form was already submitted. Open a new form to enter another response.")
            else:
                _tell(request, instrument, response)
                return HttpResponseRedirect(f"{reverse('patients-chart', args=[patient.pk])}?tab=measures")
        status = 422
    else:
        initial = {k: v for k, v in request.GET.items() if k.startswith("item_")}
        form = EntryForm(instrument, zone, initial=initial)
    template = "measures/entry_items.html" if request.htmx and request.method == "GET" else "measures/entry.html"  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {
            "patient": patient,
            "instrument": instrument,
            "form": form,
            "form_token": request.POST.get("form_token") or uuid.uuid4(),
        },
        status=status,
    )


def _submit(
    actor: Any,
    patient: Patient,
    instrument: Instrument,
    answers: dict[str, int],
    completed_at: datetime.datetime | None,
    token: str,
    request: HttpRequest,
) -> Response:
    def effect() -> tuple[int, Any]:
        response = actions.submit_response(
            actor, patient, instrument.code, answers, source=ResponseSource.STAFF, completed_at=completed_at
        )
        return 201, {"id": response.pk}

    if token:
        # A double click or a resubmitted page sends the same one-time token: one response.
        payload = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        outcome = run_once(actor, f"form:measures-enter:{token}", fingerprint(payload), effect)
        body = outcome.body
    else:
        with transaction.atomic():
            _, body = effect()
    return Response.objects.select_related("alert").get(pk=body["id"], clinic=actor.clinic)


def _tell(request: HttpRequest, instrument: Instrument, response: Response) -> None:
    if response.valid and response.total is not None:
        what = f"total {response.total}" + (f", {response.severity_label}" if response.severity_label else "")
    elif response.valid and response.risk_level:
        what = f"risk level {response.risk_level}"
    else:
        what = "incomplete, not scored"
    messages.success(request, f"{instrument.abbreviation} saved ({what}).")
    alert = getattr(response, "alert", None)
    if alert is not None:
        messages.warning(
            request,
            f"A safety alert was raised for this {instrument.abbreviation}. "
            "The primary clinician and on-call list have been notified; open the alert to acknowledge it.",
        )
