"""/inventory/: the Schedule III stock and ledger pages."""

from django.urls import URLPattern, URLResolver, include, path

from ketacare.inventory import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.stock, name="inventory-stock"),
    path("receive/", views.receive, name="inventory-receive"),
    path("administer/", views.administer, name="inventory-administer"),
    path("vials/<int:container_id>/waste/", views.waste, name="inventory-waste"),
    path("lots/<int:lot_id>/", views.lot_history, name="inventory-lot"),
    path("lots/<int:lot_id>/transfer/", views.transfer, name="inventory-transfer"),
    path("lots/<int:lot_id>/dispose/", views.dispose, name="inventory-dispose"),
    path("entries/<int:entry_id>/correct/", views.correct, name="inventory-correct"),
    path("reports/", include("ketacare.inventory.report_urls")),
    path("", include("ketacare.inventory.count_urls")),
]
