"""Helpers for django-axes (lockout after repeated failed sign-ins)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The account an attempt is for, as stored (lower case), so every spelling shares one count.

    Without this, "Ann@example.org" and "ann@example.org" would each get their own five tries.
    """
    if credentials:
        raw = credentials.get("username")
    else:
        raw = getattr(request, "POST", {}).get("username")
    username = str(raw or "").strip().lower()
    return username or None
