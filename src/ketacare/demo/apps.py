from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo clinic (`manage.py seed_demo`): synthetic data only, never real patients."""

    name = "ketacare.demo"
    label = "demo"
