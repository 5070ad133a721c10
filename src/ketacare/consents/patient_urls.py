"""The patient's consent pages, mounted at /consent/: no staff navigation, no account."""

from django.urls import URLPattern, URLResolver, path

from ketacare.consents import patient_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("tablet/", patient_views.sign_on_tablet, name="consent-tablet"),
    path("done/", patient_views.done, name="consent-done"),
    path("<str:token>/", patient_views.sign_by_link, name="consent-sign"),
]
