from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    """Scheduling: appointment types, availability, bookings of chairs, rooms and staff (issue #8)."""

    name = "ketacare.scheduling"
