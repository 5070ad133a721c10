from django.apps import AppConfig


class ProtocolsConfig(AppConfig):
    """The versioned protocol library, dose rules and treatment plans signed by a prescriber."""

    name = "ketacare.protocols"
    label = "protocols"
