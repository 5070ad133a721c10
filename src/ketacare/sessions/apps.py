from django.apps import AppConfig


class SessionsConfig(AppConfig):
    """Treatment sessions: lifecycle, pre-dose checks, dosing, monitoring, discharge gates, REMS (issue #7)."""

    name = "ketacare.sessions"
    label = "treatment_sessions"  # "sessions" is django.contrib.sessions
