"""Per-request clinic selection and the two-factor gate."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import Membership

SESSION_CLINIC_KEY = "ketacare_clinic_id"


class ClinicMiddleware:
    """Sets `request.membership`, `request.clinic` and `request.actor` for signed-in users.

    The current clinic is the one chosen with the clinic switcher (kept in the session), or the
    user's first active membership. A user with no active membership has no clinic, and every
    clinic page refuses them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        request.memberships = []  # type: ignore[attr-defined]
        request.clinic = None  # type: ignore[attr-defined]
        request.actor = None  # type: ignore[attr-defined]
        user = request.user
        if user.is_authenticated and not request.path.startswith(("/static/", "/api/")):
            memberships = list(
                Membership.objects.filter(user=user, is_active=True, clinic__isnull=False)
                .select_related("clinic", "user")
                .order_by("clinic__name")
            )
            chosen = request.session.get(SESSION_CLINIC_KEY)
            current = next((m for m in memberships if m.clinic_id == chosen), None)
            if current is None and memberships:
                current = memberships[0]
            request.memberships = memberships  # type: ignore[attr-defined]
            if current is not None:
                request.membership = current  # type: ignore[attr-defined]
                request.clinic = current.clinic  # type: ignore[attr-defined]
                request.actor = Actor.from_membership(current, request, via="web")  # type: ignore[attr-defined]
                # Pages show times in the clinic's zone; storage stays UTC.
                timezone.activate(current.clinic.zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


def mfa_required_for(request: HttpRequest) -> bool:
    if settings.KETACARE_MFA_ALWAYS_REQUIRED:
        return True
    return any(m.clinic.require_mfa for m in getattr(request, "memberships", []))


class MFAMiddleware:
    """Staff who have a TOTP device, or whose clinic requires one, must verify it after the password.

    Until then every page but sign-out, the two-factor pages and static files redirects there.
    """

    EXEMPT_PREFIXES = ("/static/", "/api/", "/accounts/logout/", "/accounts/mfa/", "/accounts/password-reset/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated and not request.path.startswith(self.EXEMPT_PREFIXES) and not user.is_verified()  # type: ignore[union-attr,attr-defined]
        ):
            from django_otp import devices_for_user

            has_device = any(True for _ in devices_for_user(user, confirmed=True))
            if has_device:
                # Encoded, so a page's own query string ("?q=a&page=2") comes back whole.
                return redirect(f"{reverse('accounts-mfa-verify')}?{urlencode({'next': request.get_full_path()})}")
            if mfa_required_for(request):
                return redirect(reverse("accounts-mfa-setup"))
        return self.get_response(request)
