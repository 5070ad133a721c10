"""`Authorization: Bearer <token>` for the JSON API (Django Ninja)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from ketacare.accounts.context import Actor
from ketacare.accounts.models import ApiToken, Membership


class ApiTokenAuth(HttpBearer):
    """Resolves a personal API token to an Actor (user, clinic, role, address).

    A revoked token, a token of an inactive user, or one whose clinic membership has ended is
    refused exactly like an unknown one: 401.
    """

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        if not token.startswith(ApiToken.PREFIX):
            return None
        api_token = (
            ApiToken.objects.active()
            .select_related("user", "clinic")
            .filter(token_hash=ApiToken.hash(token), user__is_active=True)
            .first()
        )
        if api_token is None:
            return None
        membership = (
            Membership.objects.select_related("user", "clinic")
            .filter(user=api_token.user, clinic=api_token.clinic, is_active=True)
            .first()
        )
        if membership is None:
            return None
        now = timezone.now()
        if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        actor = Actor.from_membership(membership, request, via="api")
        request.actor = actor  # type: ignore[attr-defined]
        return actor


def actor_of(request: Any) -> Actor:
    actor: Actor = request.auth
    return actor
