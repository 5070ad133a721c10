"""Account events into the audit trail.

Django reports sign-ins only through its auth signals, and accounts (a layer below audit) reports
API tokens, two-factor and password resets through `ketacare.accounts.signals`, sent inside its
actions' transactions. This is the one place the audit app listens to signals; everything else
calls `record()` explicitly from its action.

Events of a person rather than of one clinic (sign-in, two-factor, password) get one row in each
clinic where they are an active member, so each clinic's auditors see them; an unknown address
gets one row with no clinic.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.signals import (
    api_token_created,
    api_token_revoked,
    mfa_device_confirmed,
    mfa_verification_failed,
    password_reset_completed,
    permission_refused,
)
from ketacare.audit.models import AuditAction, AuditEvent, AuditOutcome
from ketacare.audit.record import record


def _label(user: Any) -> str:
    return f"{user.full_name} <{user.email}>"


def _write(
    user: Any,
    label: str,
    origin: Origin,
    event_type: str,
    outcome: int,
    *,
    action: str = AuditAction.EXECUTE,
    detail: dict[str, Any] | None = None,
) -> None:
    clinics: list[Any] = [None]
    if user is not None:
        clinics = [m.clinic_id for m in user.memberships.filter(is_active=True)] or [None]
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            clinic_id=clinic_id,
            actor=user,
            actor_label=label,
            action=action,
            event_type=event_type,
            outcome=outcome,
            remote_addr=origin.remote_addr,
            user_agent=origin.user_agent,
            via=origin.via,
            occurred_at=now,
            detail=detail or {},
        )
        for clinic_id in clinics
    )


def _web(request: HttpRequest | None) -> Origin:
    return Origin.of(request) if request is not None else Origin(via="web")


@receiver(user_logged_in)
def on_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    _write(user, _label(user), _web(request), "session.signed_in", AuditOutcome.SUCCESS)


@receiver(user_logged_out)
def on_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _write(user, _label(user), _web(request), "session.signed_out", AuditOutcome.SUCCESS)


@receiver(user_login_failed)
def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    email = str(credentials.get("username") or credentials.get("email") or "")[:200]
    user = get_user_model().objects.filter(email__iexact=email).first()
    # django-axes (an earlier app, so its receiver ran first) marks the request when this attempt
    # reached the limit or came while the account was locked.
    locked = bool(getattr(request, "axes_locked_out", False))
    _write(
        user,
        f"<{email}>",
        _web(request),
        "session.sign_in_failed",
        AuditOutcome.MINOR_FAILURE,
        detail={"locked_out": locked},
    )


@receiver(mfa_device_confirmed)
def on_mfa_device_confirmed(sender: Any, user: Any, origin: Origin, **kwargs: Any) -> None:
    _write(user, _label(user), origin, "mfa.enabled", AuditOutcome.SUCCESS, action=AuditAction.UPDATE)


@receiver(mfa_verification_failed)
def on_mfa_verification_failed(sender: Any, user: Any, origin: Origin, **kwargs: Any) -> None:
    _write(user, _label(user), origin, "session.mfa_failed", AuditOutcome.MINOR_FAILURE)


@receiver(password_reset_completed)
def on_password_reset(sender: Any, user: Any, origin: Origin, **kwargs: Any) -> None:
    _write(user, _label(user), origin, "password.reset", AuditOutcome.SUCCESS, action=AuditAction.UPDATE)


@receiver(api_token_created)
def on_api_token_created(sender: Any, token: Any, actor: Actor, **kwargs: Any) -> None:
    # The name and the first characters identify it; the raw token never reaches the trail.
    record(
        actor, AuditAction.CREATE, "api_token.created", subject=token, detail={"name": token.name, "hint": token.hint}
    )


@receiver(api_token_revoked)
def on_api_token_revoked(sender: Any, token: Any, actor: Actor, **kwargs: Any) -> None:
    record(
        actor, AuditAction.UPDATE, "api_token.revoked", subject=token, detail={"name": token.name, "hint": token.hint}
    )


@receiver(permission_refused)
def on_permission_refused(sender: Any, actor: Actor, permission: str, path: str, **kwargs: Any) -> None:
    # A page refused for the role: who tried what, so auditors see attempts as well as access.
    record(
        actor,
        AuditAction.READ,
        "access.refused",
        outcome=AuditOutcome.MINOR_FAILURE,
        detail={"permission": permission, "path": path[:300]},
    )
