"""Scheduling pages: the calendar of a location and a patient's schedule (calendar_views, issue #8)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.scheduling import calendar_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("calendar/", calendar_views.calendar_page, name="scheduling-calendar"),
    path("patients/<int:patient_id>/", calendar_views.patient_schedule, name="scheduling-patient"),
]
