"""Sign-in events into the audit trail.

Django reports sign-ins only through its auth signals, so this is the one place the audit app
listens to signals; everything else calls `record()` explicitly from its action.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from ketacare.audit.models import AuditAction, AuditEvent, AuditOutcome
from ketacare.lib.http import client_ip, user_agent


def _write(user: Any, label: str, request: HttpRequest | None, event_type: str, outcome: int) -> None:
    clinics: list[Any] = [None]
    if user is not None:
        clinics = [m.clinic_id for m in user.memberships.filter(is_active=True)] or [None]
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            clinic_id=clinic_id,
            actor=user,
            actor_label=label,
            action=AuditAction.EXECUTE,
            event_type=event_type,
            outcome=outcome,
            remote_addr=client_ip(request) if request is not None else "",
            user_agent=user_agent(request) if request is not None else "",
            via="web",
            occurred_at=now,
        )
        for clinic_id in clinics
    )


@receiver(user_logged_in)
def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    _write(user, f"{user.full_name} <{user.email}>", request, "session.signed_in", AuditOutcome.SUCCESS)


@receiver(user_logged_out)
def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _write(user, f"{user.full_name} <{user.email}>", request, "session.signed_out", AuditOutcome.SUCCESS)


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    email = str(credentials.get("username") or credentials.get("email") or "")[:200]
    user = get_user_model().objects.filter(email__iexact=email).first()
    _write(user, f"<{email}>", request, "session.sign_in_failed", AuditOutcome.MINOR_FAILURE)
