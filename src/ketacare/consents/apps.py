from django.apps import AppConfig


class ConsentsConfig(AppConfig):
    """Versioned consent documents, patient signatures, countersignatures, immutable PDFs, withdrawal."""

    name = "ketacare.consents"
    label = "consents"
