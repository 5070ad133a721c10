"""/inventory/reports/: the Schedule III record of a period and the history of a lot, as CSV and PDF."""

from django.urls import URLPattern, URLResolver, path

from ketacare.inventory import report_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", report_views.report_page, name="inventory-reports"),
    path("schedule-iii.csv", report_views.report_csv, name="inventory-report-csv"),
    path("schedule-iii.pdf", report_views.report_pdf, name="inventory-report-pdf"),
    path("lots/<int:lot_id>/history.csv", report_views.lot_history_csv, name="inventory-lot-history-csv"),
    path("lots/<int:lot_id>/history.pdf", report_views.lot_history_pdf, name="inventory-lot-history-pdf"),
]
