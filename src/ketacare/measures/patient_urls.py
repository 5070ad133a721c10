"""The patient's pages, mounted at /q/: no staff navigation, no account."""

from django.urls import path

from ketacare.measures import patient_views

urlpatterns = [
    path("kiosk/", patient_views.kiosk, name="measures-q-kiosk"),
    path("done/", patient_views.done, name="measures-q-done"),
    path("<str:token>/", patient_views.questionnaire, name="measures-q"),
]
