"""Django admin for the catalogue (reference data): products and where they are stocked.

The record policy per location is here too (audited). The ledger, lots, vials, counts and cases are
not here: they change only through `inventory.actions` and `inventory.reconciliation`.
"""

from typing import Any

from django.contrib import admin

from ketacare.audit.models import AuditAction
from ketacare.audit.record import record_system
from ketacare.inventory.models import InventoryPolicy, Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin[Product]):
    list_display = ["name", "ndc", "substance", "schedule", "form", "strength_mg", "container_volume_ml", "clinic"]
    list_filter = ["clinic", "substance", "form", "is_active"]
    search_fields = ["name", "ndc"]
    filter_horizontal = ["locations"]


@admin.register(InventoryPolicy)
class InventoryPolicyAdmin(admin.ModelAdmin[InventoryPolicy]):
    """Inventory interval, opened-container rule and record retention per registrant location
    (clinical.md section 5). The inventory manager also sets these on /inventory/policy/."""

    list_display = ["location", "interval", "opened_containers", "retention_years", "updated_at", "clinic"]
    list_filter = ["clinic", "interval", "opened_containers"]
    readonly_fields = ["updated_at", "updated_by"]
    exclude = ["clinic"]

    def save_model(self, request: Any, obj: InventoryPolicy, form: Any, change: bool) -> None:
        obj.updated_by = request.user
        obj.clinic_id = obj.location.clinic_id
        super().save_model(request, obj, form, change)
        record_system(
            obj.location.clinic,
            AuditAction.UPDATE if change else AuditAction.CREATE,
            "inventory_policy.saved",
            subject=obj,
            detail={
                "via": "admin",
                "user": request.user.pk,
                "location": obj.location_id,
                "after": {
                    "interval": obj.interval,
                    "opened_containers": obj.opened_containers,
                    "retention_years": obj.retention_years,
                },
            },
        )
