"""Writers for accounts: API tokens and the current clinic."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.models import ApiToken, Membership, User
from ketacare.clinics.models import Clinic


@transaction.atomic
def create_api_token(user: User, clinic: Clinic, name: str) -> tuple[ApiToken, str]:
    """Create a personal token for `user` in `clinic`; return it and the raw value (shown once)."""
    if not Membership.objects.filter(user=user, clinic=clinic, is_active=True).exists():
        raise PermissionDenied(f"{user.email} is not an active member of {clinic.name}.")
    raw, token_hash, hint = ApiToken.generate()
    token = ApiToken.objects.create(user=user, clinic=clinic, name=name, token_hash=token_hash, hint=hint)
    return token, raw


@transaction.atomic
def revoke_api_token(user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
