from django.urls import URLPattern, URLResolver, path

from ketacare.plans import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="plans-list"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="plans-chart"),
]
