"""Writers for accounts: API tokens, two-factor devices, lockout after a password reset.

Each change is announced with a signal from `accounts.signals` inside its transaction, and the
audit app records it (accounts may not import audit).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketacare.accounts import signals
from ketacare.accounts.context import Actor, Origin
from ketacare.accounts.models import ApiToken, Membership, User
from ketacare.clinics.models import Clinic

TOKEN_NAME_MAX = ApiToken._meta.get_field("name").max_length or 100


def _actor(user: User, clinic: Clinic, role: str, origin: Origin) -> Actor:
    return Actor(
        user=user,
        clinic=clinic,
        role=role,
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
        via=origin.via,
    )


@transaction.atomic
def create_api_token(user: User, clinic: Clinic, name: str, *, origin: Origin | None = None) -> tuple[ApiToken, str]:
    """Create a personal token for `user` in `clinic`; return it and the raw value (shown once).

    `origin` is where the request came from; None means a command line or script.
    """
    origin = origin or Origin(via="cli")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. “lab results import”."})
    if len(name) > TOKEN_NAME_MAX:
        raise ValidationError({"name": f"Use at most {TOKEN_NAME_MAX} characters."})
    membership = Membership.objects.filter(user=user, clinic=clinic, is_active=True).first()
    if membership is None or not user.is_active:
        raise PermissionDenied(f"{user.email} is not an active member of {clinic.name}.")
    raw, token_hash, hint = ApiToken.generate()
    token = ApiToken.objects.create(user=user, clinic=clinic, name=name, token_hash=token_hash, hint=hint)
    signals.api_token_created.send(sender=ApiToken, token=token, actor=_actor(user, clinic, membership.role, origin))
    return token, raw


@transaction.atomic
def revoke_api_token(user: User, token_id: int, *, origin: Origin | None = None) -> ApiToken:
    """Revoke one of `user`'s own tokens (ApiToken.DoesNotExist for anyone else's). Idempotent."""
    origin = origin or Origin(via="cli")
    token = ApiToken.objects.select_for_update().select_related("clinic").get(pk=token_id, user=user)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        # The role they hold there now (none if their membership has ended).
        role = (
            Membership.objects.filter(user=user, clinic=token.clinic, is_active=True)
            .values_list("role", flat=True)
            .first()
        )
        signals.api_token_revoked.send(
            sender=ApiToken, token=token, actor=_actor(user, token.clinic, role or "", origin)
        )
    return token


@transaction.atomic
def start_totp_enrolment(user: User) -> TOTPDevice:
    """The user's pending (unconfirmed) authenticator, created on first use; the same one on reload."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, confirmed=False, name="Authenticator app")
    return device


@transaction.atomic
def confirm_totp_device(user: User, device_id: int, code: str, *, origin: Origin) -> TOTPDevice | None:
    """Turn the pending authenticator on if `code` matches; None (and a throttle step) if not."""
    device = TOTPDevice.objects.select_for_update().get(pk=device_id, user=user, confirmed=False)
    if not device.verify_token(code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    signals.mfa_device_confirmed.send(sender=User, user=user, device=device, origin=origin)
    return device


@transaction.atomic
def verify_mfa_code(user: User, code: str, *, origin: Origin) -> Device | None:
    """The confirmed device that accepts `code`, or None; a failure is audited and throttled.

    Devices are locked while checked, so one code cannot be accepted by two concurrent requests.
    """
    for device in devices_for_user(user, confirmed=True, for_verify=True):
        if device.verify_token(code):
            return device  # type: ignore[no-any-return]
    signals.mfa_verification_failed.send(sender=User, user=user, origin=origin)
    return None


@transaction.atomic
def complete_password_reset(user: User, *, origin: Origin) -> None:
    """After a new password is set from an emailed link: lift any lockout and audit the change.

    Proving control of the mailbox is the way out of a lockout the lockout page offers.
    """
    from axes.utils import reset

    if user.email:  # never an empty filter: axes would then clear every account's count
        reset(username=user.email)
    signals.password_reset_completed.send(sender=User, user=user, origin=origin)
