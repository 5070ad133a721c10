from django.urls import URLPattern, URLResolver, path

from ketacare.screening import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="screening-intake"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="screening-chart"),
]
