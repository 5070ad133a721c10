"""Chairside section views (placeholder until its owner fills it)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ketacare.accounts.context import Actor
from ketacare.sessions.models import TreatmentSession


def section_context(request: HttpRequest, actor: Actor, session: TreatmentSession) -> dict[str, Any]:
    """Context the chairside page passes to this area's partial templates."""
    return {}
