from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    """Stored screening evaluations and the prescriber's eligibility decision per route."""

    name = "ketacare.eligibility"
    label = "eligibility"

    def ready(self) -> None:
        from ketacare.eligibility import receivers  # noqa: F401 - connects the intake_changed receiver
