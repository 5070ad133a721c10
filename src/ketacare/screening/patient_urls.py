"""Patient-facing intake pages at /intake/ (no account, no staff navigation)."""

from django.urls import URLPattern, URLResolver, path

from ketacare.screening import patient_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("done/", patient_views.done, name="screening-patient-done"),
    path("<str:token>/", patient_views.packet, name="screening-patient-intake"),
]
