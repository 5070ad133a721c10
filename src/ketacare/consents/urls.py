from django.urls import URLPattern, URLResolver, path

from ketacare.consents import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("patients/<int:patient_id>/", views.patient_page, name="consents-list"),
    path("patients/<int:patient_id>/chart/", views.chart_summary, name="consents-chart"),
    path("patients/<int:patient_id>/link/", views.send_link, name="consents-link"),
    path("patients/<int:patient_id>/tablet/", views.start_tablet, name="consents-tablet"),
    path("<int:consent_id>/countersign/", views.countersign, name="consents-countersign"),
    path("<int:consent_id>/withdraw/", views.withdraw, name="consents-withdraw"),
    path("<int:consent_id>/pdf/", views.download_pdf, name="consents-pdf"),
]
