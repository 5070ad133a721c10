"""Pages of this domain. Placeholders until the domain's pages land (issue #5)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


def patient_page(request: HttpRequest, patient_id: int) -> HttpResponse:
    return HttpResponse(status=404)


def chart_summary(request: HttpRequest, patient_id: int) -> HttpResponse:
    return HttpResponse(status=404)
