from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ketacare.audit"
    label = "audit"

    def ready(self) -> None:
        from ketacare.audit import signals  # noqa: F401  (connects the sign-in receivers)
