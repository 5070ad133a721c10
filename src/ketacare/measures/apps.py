from django.apps import AppConfig


class MeasuresConfig(AppConfig):
    """Measurement-based care: instruments as versioned data, exact scoring, responses, alerts."""

    name = "ketacare.measures"
    label = "measures"
