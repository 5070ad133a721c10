from django.urls import URLPattern, URLResolver, path

from ketacare.eligibility import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.queue, name="eligibility-queue"),
    path("patients/<int:patient_id>/", views.patient_page, name="eligibility-review"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="eligibility-chart"),
    path("patients/<int:patient_id>/routes/<str:route>/decide/", views.decide, name="eligibility-decide"),
]
