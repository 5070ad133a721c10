from django.urls import URLPattern, URLResolver, path

from ketacare.eligibility import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="eligibility-review"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="eligibility-chart"),
]
