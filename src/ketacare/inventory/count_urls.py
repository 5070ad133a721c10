"""/inventory/counts/, /inventory/discrepancies/, /inventory/policy/, /inventory/losses/."""

from django.urls import URLPattern, URLResolver, path

from ketacare.inventory import count_views, loss_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("counts/", count_views.counts, name="inventory-counts"),
    path("counts/new/", count_views.count_new, name="inventory-count-new"),
    path("counts/<int:count_id>/", count_views.count_detail, name="inventory-count"),
    path("discrepancies/<int:discrepancy_id>/", count_views.discrepancy, name="inventory-discrepancy"),
    path("policy/", count_views.policy, name="inventory-policy"),
    path("losses/", loss_views.losses, name="inventory-losses"),
    path("losses/new/", loss_views.loss_new, name="inventory-loss-new"),
    path("losses/<int:case_id>/", loss_views.loss_detail, name="inventory-loss"),
]
