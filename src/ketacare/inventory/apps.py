from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """Controlled-substance (Schedule III) catalogue, append-only ledger, counts, discrepancies, reports."""

    name = "ketacare.inventory"
    label = "inventory"
