"""/api/v1/inventory/reports: the Schedule III record of a location for a period (JSON totals, CSV,
PDF) and the history of a lot (CSV, PDF). Mounted by `inventory.api` (`router.add_router("",
report_router)`).

JSON totals need INVENTORY_VIEW (no patient data); CSV and PDF need INVENTORY_EXPORT and each
download is audited as on the pages. Another clinic's location or lot is a 404; a bad period a 422
naming `date_from` or `date_to`.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.inventory import reports
from ketacare.inventory.access import access_location, access_lot
from ketacare.inventory.actions import clinic_today
from ketacare.inventory.report_views import audit_lot_history, audit_report, lot_filename, report_filename

report_router = Router(tags=["inventory reports"])


class QuantityOut(Schema):
    units: int
    ml: Decimal
    mg: Decimal


class KindTotalOut(Schema):
    kind: str
    entries: int
    units: int
    ml: Decimal
    mg: Decimal


class ReportLotOut(Schema):
    lot_id: int
    lot_number: str
    expiry_date: datetime.date
    product_id: int
    product: str
    ndc: str
    opening: QuantityOut
    closing: QuantityOut
    by_kind: dict[str, QuantityOut]


class ReportLocationOut(Schema):
    id: int
    name: str
    address: str
    dea_registration: str


class ReportCountOut(Schema):
    id: int
    kind: str
    counted_at: datetime.datetime
    counted_by: str
    witness: str
    lines: int
    variances: int
    open_discrepancies: int


class ScheduleReportOut(Schema):
    location: ReportLocationOut
    date_from: datetime.date
    date_to: datetime.date
    entries: int
    reconciles: bool
    opening_mg: Decimal
    in_mg: Decimal
    out_mg: Decimal
    adjusted_mg: Decimal
    closing_mg: Decimal
    totals: list[KindTotalOut]
    counts: list[ReportCountOut]
    lots: list[ReportLotOut]


def _report(
    actor: Actor, perm: str, location_id: int | None, date_from: datetime.date | None, date_to: datetime.date | None
) -> reports.ScheduleReport:
    location = access_location(actor, location_id, perm)
    first, last = reports.last_month(clinic_today(actor))
    start, end = date_from or first, date_to or last
    reports.check_period(start, end, clinic_today(actor))
    return reports.schedule_report(location, start, end)


def _file(body: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@report_router.get(
    "/reports/schedule-iii",
    response=ScheduleReportOut,
    summary="Schedule III record of a location for a period: totals by kind and balances by lot",
)
def schedule_iii(
    request: HttpRequest,
    location_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> dict[str, Any]:
    """Without dates: last calendar month in the clinic's zone. Without a location: the first one."""
    report = _report(actor_of(request), Perm.INVENTORY_VIEW, location_id, date_from, date_to)
    return report.as_dict()


@report_router.get("/reports/schedule-iii.csv", summary="Schedule III record as CSV (audited)")
def schedule_iii_csv(
    request: HttpRequest,
    location_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    report = _report(actor, Perm.INVENTORY_EXPORT, location_id, date_from, date_to)
    body = reports.report_csv(report)
    audit_report(actor, report, "csv")
    return _file(body, "text/csv; charset=utf-8", report_filename(report, "csv"))


@report_router.get("/reports/schedule-iii.pdf", summary="Schedule III record as PDF (audited)")
def schedule_iii_pdf(
    request: HttpRequest,
    location_id: int | None = None,
    date_from: datetime.date | None = None,
    date_to: datetime.date | None = None,
) -> HttpResponse:
    actor = actor_of(request)
    report = _report(actor, Perm.INVENTORY_EXPORT, location_id, date_from, date_to)
    body = reports.report_pdf(report)
    audit_report(actor, report, "pdf")
    return _file(body, "application/pdf", report_filename(report, "pdf"))


@report_router.get("/lots/{lot_id}/history.csv", summary="Every entry of a lot with its running balance, CSV")
def lot_history_csv(request: HttpRequest, lot_id: int) -> HttpResponse:
    actor = actor_of(request)
    history = reports.lot_history(access_lot(actor, lot_id, Perm.INVENTORY_EXPORT))
    body = reports.lot_history_csv(history)
    audit_lot_history(actor, history, "csv")
    return _file(body, "text/csv; charset=utf-8", lot_filename(history, "csv"))


@report_router.get("/lots/{lot_id}/history.pdf", summary="Every entry of a lot with its running balance, PDF")
def lot_history_pdf(request: HttpRequest, lot_id: int) -> HttpResponse:
    actor = actor_of(request)
    history = reports.lot_history(access_lot(actor, lot_id, Perm.INVENTORY_EXPORT))
    body = reports.lot_history_pdf(history)
    audit_lot_history(actor, history, "pdf")
    return _file(body, "application/pdf", lot_filename(history, "pdf"))
