"""Staff pages of the intake, mounted at /screening/."""

from django.urls import URLPattern, URLResolver, path

from ketacare.screening import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.queue, name="screening-queue"),
    path("patients/<int:patient_id>/", views.patient_page, name="screening-intake"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="screening-chart"),
    path("patients/<int:patient_id>/start/", views.start, name="screening-intake-start"),
    path("patients/<int:patient_id>/link/", views.send_link, name="screening-intake-send"),
    path("patients/<int:patient_id>/baseline/", views.send_baseline, name="screening-baseline-send"),
    path("intakes/<int:intake_id>/edit/", views.edit, name="screening-intake-edit"),
    path("intakes/<int:intake_id>/review/", views.review, name="screening-intake-review"),
]
