"""Django admin for the catalogue (reference data): products and where they are stocked.

The ledger, lots and vials are not here: they change only through `inventory.actions`.
"""

from django.contrib import admin

from ketacare.inventory.models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ["name", "ndc", "substance", "schedule", "form", "strength_mg", "container_volume_ml", "clinic"]
    list_filter = ["clinic", "substance", "form", "is_active"]
    search_fields = ["name", "ndc"]
    filter_horizontal = ["locations"]
