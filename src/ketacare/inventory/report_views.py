"""Report pages: the Schedule III record of a location for a period (page with totals, CSV and PDF
downloads) and the history of one lot (CSV and PDF). Built by `inventory.reports`.

The page needs INVENTORY_VIEW and shows totals only; every download needs INVENTORY_EXPORT and is
audited (who, which location or lot, which period, how many entries). A location or lot of another
clinic is a 404.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from ketacare.accounts.context import Actor
from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.clinics.models import Location
from ketacare.inventory import reports
from ketacare.inventory.access import access_lot, locations_of
from ketacare.inventory.actions import clinic_today
from ketacare.lib.forms import StyledFormMixin

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ReportForm(StyledFormMixin, forms.Form):
    location = forms.ModelChoiceField(queryset=Location.objects.none(), empty_label=None)
    date_from = forms.DateField(label="From", widget=DATE)
    date_to = forms.DateField(label="To (inclusive)", widget=DATE)

    def __init__(self, *args: Any, actor: Actor, perm: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = clinic_today(actor)
        self.locations = locations_of(actor, perm).order_by("name", "pk")
        field: Any = self.fields["location"]
        field.queryset = self.locations
        field.label_from_instance = lambda loc: f"{loc.name} · DEA {loc.dea_registration}"

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if data.get("date_from") and data.get("date_to"):
            try:
                reports.check_period(data["date_from"], data["date_to"], self.today)
            except ValidationError as exc:
                for key, errors in exc.message_dict.items():
                    self.add_error(key, errors)
        return data


def _bound(request: HttpRequest, actor: Actor, perm: str) -> ReportForm:
    """The form bound to ?location=&date_from=&date_to=, defaulting to last month at the first location."""
    first, last = reports.last_month(clinic_today(actor))
    form = ReportForm(None, actor=actor, perm=perm)
    first_location = form.locations.first()
    values = {
        "location": request.GET.get("location") or (first_location.pk if first_location else ""),
        "date_from": request.GET.get("date_from") or first.isoformat(),
        "date_to": request.GET.get("date_to") or last.isoformat(),
    }
    return ReportForm(values, actor=actor, perm=perm)


def _location_or_404(request: HttpRequest, form: ReportForm) -> None:
    # A location id that is not one of this clinic's registrant locations: 404, as everywhere else.
    if "location" in form.errors and request.GET.get("location"):
        raise Http404("No such location.")


@clinic_view(Perm.INVENTORY_VIEW)
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    form = _bound(request, actor, Perm.INVENTORY_VIEW)
    valid = form.is_valid()
    _location_or_404(request, form)
    context: dict[str, Any] = {"form": form, "report": None, "query": ""}
    if valid:
        data = form.cleaned_data
        context["report"] = reports.schedule_report(data["location"], data["date_from"], data["date_to"])
        context["query"] = (
            f"location={data['location'].pk}&date_from={data['date_from']:%Y-%m-%d}&date_to={data['date_to']:%Y-%m-%d}"
        )
    elif not form.locations.exists():
        context["no_locations"] = True
    return render(request, "inventory/reports/report.html", context, status=200 if valid else 422)


def _download(data: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def audit_report(actor: Actor, report: reports.ScheduleReport, fmt: str) -> None:
    record(
        actor,
        AuditAction.EXECUTE,
        "inventory_report.exported",
        subject=report.location,
        detail={
            "format": fmt,
            "location": report.location.pk,
            "date_from": report.date_from.isoformat(),
            "date_to": report.date_to.isoformat(),
            "rows": len(report.entries),
            "patients": len({e.patient_id for e in report.entries if e.patient_id}),
        },
    )


def report_filename(report: reports.ScheduleReport, ext: str) -> str:
    slug = report.location.clinic.slug
    return f"schedule-iii-{slug}-{report.location.pk}-{report.date_from:%Y%m%d}-{report.date_to:%Y%m%d}.{ext}"


def _report_download(request: HttpRequest, fmt: str) -> HttpResponse:
    actor = actor_of(request)
    form = _bound(request, actor, Perm.INVENTORY_EXPORT)
    valid = form.is_valid()
    _location_or_404(request, form)
    if not valid:
        return render(request, "inventory/reports/report.html", {"form": form, "report": None}, status=422)
    data = form.cleaned_data
    report = reports.schedule_report(data["location"], data["date_from"], data["date_to"])
    body: bytes | str
    if fmt == "csv":
        body, content_type = reports.report_csv(report), "text/csv; charset=utf-8"
    else:
        body, content_type = reports.report_pdf(report), "application/pdf"
    audit_report(actor, report, fmt)
    return _download(body, content_type, report_filename(report, fmt))


@clinic_view(Perm.INVENTORY_EXPORT)
@require_GET
def report_csv(request: HttpRequest) -> HttpResponse:
    return _report_download(request, "csv")


@clinic_view(Perm.INVENTORY_EXPORT)
@require_GET
def report_pdf(request: HttpRequest) -> HttpResponse:
    return _report_download(request, "pdf")


def audit_lot_history(actor: Actor, history: reports.LotHistory, fmt: str) -> None:
    record(
        actor,
        AuditAction.EXECUTE,
        "inventory_lot_history.exported",
        subject=history.lot,
        detail={
            "format": fmt,
            "location": history.lot.location_id,
            "lot_number": history.lot.lot_number,
            "rows": len(history.lines),
            "patients": len({line.entry.patient_id for line in history.lines if line.entry.patient_id}),
        },
    )


def lot_filename(history: reports.LotHistory, ext: str) -> str:
    stamp = history.generated_at.astimezone(history.location.clinic.zone).strftime("%Y%m%d")
    return f"lot-{history.lot.pk}-{slugify(history.lot.lot_number)}-{stamp}.{ext}"


def _lot_download(request: HttpRequest, lot_id: int, fmt: str) -> HttpResponse:
    actor = actor_of(request)
    lot = access_lot(actor, lot_id, Perm.INVENTORY_EXPORT)
    history = reports.lot_history(lot)
    body: bytes | str
    if fmt == "csv":
        body, content_type = reports.lot_history_csv(history), "text/csv; charset=utf-8"
    else:
        body, content_type = reports.lot_history_pdf(history), "application/pdf"
    audit_lot_history(actor, history, fmt)
    return _download(body, content_type, lot_filename(history, fmt))


@clinic_view(Perm.INVENTORY_EXPORT)
@require_GET
def lot_history_csv(request: HttpRequest, lot_id: int) -> HttpResponse:
    return _lot_download(request, lot_id, "csv")


@clinic_view(Perm.INVENTORY_EXPORT)
@require_GET
def lot_history_pdf(request: HttpRequest, lot_id: int) -> HttpResponse:
    return _lot_download(request, lot_id, "pdf")
