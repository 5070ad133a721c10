from django.apps import AppConfig


class PlansConfig(AppConfig):
    """Treatment plans: a protocol version, the dose from the latest weight, the series, a prescriber's signature."""

    name = "ketacare.plans"
    label = "plans"
