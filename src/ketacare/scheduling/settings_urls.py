"""Scheduling settings pages (/schedule/settings/, administrators): see settings_views."""

from django.urls import URLPattern, URLResolver, path

from ketacare.scheduling import settings_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", settings_views.rules, name="scheduling-settings"),
    path("settings/types/", settings_views.types, name="scheduling-settings-types"),
    path("settings/types/<int:type_id>/", settings_views.type_edit, name="scheduling-settings-type"),
    path("settings/hours/", settings_views.hours, name="scheduling-settings-hours"),
    path("settings/closures/", settings_views.closures, name="scheduling-settings-closures"),
]
