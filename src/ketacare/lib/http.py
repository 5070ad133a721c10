"""Request helpers that hold no models."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or the address added by the last trusted proxy."""
    proxies = settings.KETACARE_PROXY_COUNT
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return str(forwarded[-proxies])
    return str(request.META.get("REMOTE_ADDR", ""))


def user_agent(request: HttpRequest) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:300]


def form_token(request: HttpRequest) -> str:
    """The one-time token a rendered form carries (hidden `form_token`), or "" when absent or malformed.

    Views pass it to `accounts.idempotency.run_once`, so a double click or a resubmitted page
    performs the form's effect once.
    """
    try:
        return str(uuid.UUID(request.POST.get("form_token", "")))
    except ValueError:
        return ""
