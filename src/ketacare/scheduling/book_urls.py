"""Booking pages, today's list and one appointment (issue #8). Placeholders until the pages land."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path


def _soon(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("Not built yet.", status=501)


urlpatterns: list[URLPattern | URLResolver] = [
    path("today/", _soon, name="scheduling-today"),
    path("book/", _soon, name="scheduling-book"),
    path("book/series/<int:plan_id>/", _soon, name="scheduling-book-series"),
    path("appointments/<int:appointment_id>/", _soon, name="scheduling-appointment"),
]
