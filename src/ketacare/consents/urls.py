from django.urls import URLPattern, URLResolver, path

from ketacare.consents import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="consents-list"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="consents-chart"),
]
