"""The audit page for admins and auditors: filter by patient, user, action and date; export CSV."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.models import User
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction, AuditEvent
from ketacare.audit.record import record
from ketacare.lib.forms import StyledFormMixin


class AuditFilterForm(StyledFormMixin, forms.Form):
    patient = forms.CharField(required=False, label="Patient MRN", max_length=30)
    patient_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    actor = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="User", empty_label="Anyone")
    action = forms.ChoiceField(choices=[("", "Any action"), *AuditAction.choices], required=False)
    event_type = forms.CharField(required=False, label="Event", max_length=60)
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.viewer = actor
        self.fields["actor"].queryset = (  # type: ignore[attr-defined]
            User.objects.filter(memberships__clinic=actor.clinic).distinct().order_by("full_name")
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "“To” must be on or after “From”.")
        return cleaned

    def filtered(self) -> QuerySet[AuditEvent]:
        qs = AuditEvent.objects.filter(clinic=self.viewer.clinic)
        data = self.cleaned_data
        zone = self.viewer.clinic.zone
        if data.get("patient_id"):
            qs = qs.filter(patient_id=data["patient_id"])
        if data.get("patient"):
            qs = qs.filter(patient__mrn=data["patient"].strip().upper())
        if data.get("actor"):
            qs = qs.filter(actor=data["actor"])
        if data.get("action"):
            qs = qs.filter(action=data["action"])
        if data.get("event_type"):
            qs = qs.filter(event_type__startswith=data["event_type"].strip())
        if data.get("date_from"):
            start = datetime.datetime.combine(data["date_from"], datetime.time.min, tzinfo=zone)
            qs = qs.filter(occurred_at__gte=start)
        if data.get("date_to"):
            end = datetime.datetime.combine(
                data["date_to"] + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
            )
            qs = qs.filter(occurred_at__lt=end)
        return qs.select_related("patient").order_by("-occurred_at", "-id")

    def as_detail(self) -> dict[str, Any]:
        return {k: (v.pk if isinstance(v, User) else v) for k, v in self.cleaned_data.items() if v}


@clinic_view(Perm.AUDIT_VIEW)
def audit_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = AuditFilterForm(request.GET or None, actor=actor)
    if request.GET and not form.is_valid():
        return render(request, "audit/list.html", {"form": form, "page": None}, status=422)
    if not request.GET:
        form = AuditFilterForm({}, actor=actor)
        form.is_valid()
    paginator = Paginator(form.filtered(), 50)
    page = paginator.get_page(request.GET.get("page", 1))
    record(
        actor,
        AuditAction.READ,
        "audit.viewed",
        detail={"filters": form.as_detail(), "page": page.number, "rows_returned": len(page.object_list)},
    )
    query = request.GET.copy()
    query.pop("page", None)
    # The page says its times are in the clinic's zone: render them so.
    with timezone.override(actor.clinic.zone):
        return render(request, "audit/list.html", {"form": form, "page": page, "querystring": query.urlencode()})


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_COLUMNS = [
    "occurred_at",
    "actor",
    "role",
    "action",
    "event_type",
    "outcome",
    "patient_mrn",
    "patient_id",
    "subject_type",
    "subject_id",
    "remote_addr",
    "via",
    "user_agent",
    "detail",
]


@clinic_view(Perm.AUDIT_EXPORT)
def audit_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    actor = actor_of(request)
    form = AuditFilterForm(request.GET or {}, actor=actor)
    if not form.is_valid():
        return render(request, "audit/list.html", {"form": form, "page": None}, status=422)
    events = form.filtered()
    exported = record(
        actor, AuditAction.EXECUTE, "audit.exported", detail={"filters": form.as_detail(), "rows": events.count()}
    )
    # The file holds the rows counted above, not the row that records the export itself.
    events = events.exclude(pk=exported.pk)
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for event in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    _csv_safe(cell)
                    for cell in (
                        event.occurred_at.isoformat(),
                        event.actor_label,
                        event.actor_role,
                        event.get_action_display(),
                        event.event_type,
                        event.get_outcome_display(),
                        event.patient.mrn if event.patient else "",
                        str(event.patient_id or ""),
                        event.subject_type,
                        event.subject_id,
                        event.remote_addr,
                        event.via,
                        event.user_agent,
                        json.dumps(event.detail, sort_keys=True),
                    )
                ]
            )

    stamp = timezone.localtime(timezone=actor.clinic.zone).strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{actor.clinic.slug}-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


# Spreadsheet formula injection (OWASP "CSV Injection"): a cell starting with one of these is read as
# a formula. Every cell is guarded, since user agents, MRNs and names are typed by someone.
_FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})


def _csv_safe(value: str) -> str:
    return "'" + value if value[:1] in _FORMULA_STARTS else value
