from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ketacare.accounts.roles import Perm
from ketacare.measures.models import SafetyAlert


def alerts(request: HttpRequest) -> dict[str, Any]:
    """The header badge: unresolved safety alerts in the current clinic, for those who see alerts."""
    actor = getattr(request, "actor", None)
    if actor is None or not actor.can(Perm.ALERT_VIEW):
        return {}
    return {"unresolved_alert_count": SafetyAlert.objects.filter(clinic=actor.clinic).unresolved().count()}
