from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    """Intake, contraindication screening rules as versioned data, eligibility, consent."""

    name = "ketacare.screening"
    label = "screening"
