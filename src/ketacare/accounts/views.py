"""Sign-in extras (two-factor, password reset), the clinic switcher, personal API tokens, the start page."""

from __future__ import annotations

import math
import uuid
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketacare.accounts import actions
from ketacare.accounts.context import Origin
from ketacare.accounts.forms import ApiTokenForm, OTPCodeForm
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.middleware import SESSION_CLINIC_KEY, mfa_required_for
from ketacare.accounts.models import ApiToken
from ketacare.accounts.roles import Perm
from ketacare.lib.http import form_token


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = getattr(request, "actor", None)
    if actor is not None and actor.can(Perm.PATIENT_VIEW):
        return redirect("patients-list")
    if actor is not None and actor.can(Perm.AUDIT_VIEW):
        return redirect("audit-list")
    return render(request, "accounts/home.html")


@login_required
@require_POST
def switch_clinic(request: HttpRequest) -> HttpResponse:
    try:
        clinic_id = int(request.POST.get("clinic", ""))
    except ValueError:
        raise Http404("No such clinic.") from None
    membership = next((m for m in request.memberships if m.clinic_id == clinic_id), None)  # type: ignore[attr-defined]
    if membership is None:
        raise Http404("No such clinic.")
    request.session[SESSION_CLINIC_KEY] = clinic_id
    messages.info(request, f"You are now working in {membership.clinic.name} as {membership.get_role_display()}.")
    return redirect("home")


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("home")


@login_required
def security(request: HttpRequest) -> HttpResponse:
    devices = TOTPDevice.objects.filter(user=request.user, confirmed=True)
    return render(
        request,
        "accounts/security.html",
        {"devices": devices, "mfa_required": mfa_required_for(request)},
    )


def _throttled(devices: list[Device]) -> str | None:
    """An error when every device refuses codes for now (too many wrong ones in a row), else None.

    django-otp waits 1, 2, 4, 8 … seconds after successive wrong codes; without this message a
    right code typed too soon would read as "did not match".
    """
    waits = []
    for device in devices:
        allowed, info = device.verify_is_allowed()
        if allowed:
            return None
        waits.append((info or {}).get("locked_until"))
    if not waits:
        return None
    until = min((w for w in waits if w is not None), default=None)
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds())) if until is not None else 30
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many wrong codes in a row. Wait {seconds} {unit}, then type the newest code."


@login_required
def mfa_setup(request: HttpRequest) -> HttpResponse:
    """Enrol a TOTP authenticator: show the QR code, confirm with a first code."""
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists() and not user.is_verified():  # type: ignore[union-attr]
        return redirect("accounts-mfa-verify")
    device = actions.start_totp_enrolment(user)  # type: ignore[arg-type]
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = _throttled([device])
        confirmed = None
        if wait is None:
            confirmed = actions.confirm_totp_device(
                user,  # type: ignore[arg-type]
                device.pk,
                form.cleaned_data["code"],
                origin=Origin.of(request),
            )
        if confirmed is not None:
            otp_login(request, confirmed)
            messages.success(request, "Two-factor sign-in is on. You will be asked for a code at each sign-in.")
            return redirect("home")
        form.add_error("code", wait or "That code did not match. Check the time on your phone and try the newest code.")
    qr_svg = segno.make(device.config_url, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    return render(
        request,
        "accounts/mfa_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": _b32_secret(device), "required": mfa_required_for(request)},
    )


def _b32_secret(device: TOTPDevice) -> str:
    from base64 import b32encode

    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
def mfa_verify(request: HttpRequest) -> HttpResponse:
    if request.user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(_safe_next(request))
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = _throttled(list(devices_for_user(request.user, confirmed=True)))
        device = None
        if wait is None:
            device = actions.verify_mfa_code(
                request.user,  # type: ignore[arg-type]
                form.cleaned_data["code"],
                origin=Origin.of(request),
            )
        if device is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_safe_next(request))
        form.add_error("code", wait or "That code did not match. Wait for the next code and try again.")
    return render(request, "accounts/mfa_verify.html", {"form": form, "next": _safe_next(request)})


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    actor = getattr(request, "actor", None)
    new_token: str | None = None
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST":
        if actor is None:
            raise Http404("You are not a member of any clinic.")
        if form.is_valid():
            created: list[str] = []

            def effect() -> tuple[int, Any]:
                token, raw = actions.create_api_token(
                    actor.user, actor.clinic, form.cleaned_data["name"], origin=Origin.of(request)
                )
                created.append(raw)
                # Only the id is kept for a repeat: the raw token is never stored.
                return 201, {"token_id": token.pk}

            try:
                token_key = form_token(request)
                if token_key:
                    # A double click sends the same one-time token: one token is created, and the
                    # repeat is told so instead of making a second one.
                    run_once(actor, f"form:api-token-create:{token_key}", fingerprint(request.POST.dict()), effect)
                    if not created:
                        messages.info(request, "That form was already sent: the token was created once, below.")
                else:
                    effect()
                new_token = created[0] if created else None
                form = ApiTokenForm()
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except IdempotencyConflict:
                form.add_error(None, "This form was already sent. Reload the page to create another token.")
    tokens = ApiToken.objects.filter(user=request.user).select_related("clinic")  # type: ignore[misc]
    context: dict[str, Any] = {"tokens": tokens, "form": form, "new_token": new_token, "form_token": uuid.uuid4()}
    response = render(request, "accounts/tokens.html", context, status=422 if form.errors else 200)
    # The raw token is in this page once: keep it out of every cache and the back button.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = actions.revoke_api_token(request.user, token_id, origin=Origin.of(request))  # type: ignore[arg-type]
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    messages.success(request, f"Token “{token.name}” is revoked; requests using it now get 401.")
    return redirect("accounts-tokens")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view, plus: the new password lifts a lockout, and the change is audited."""

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:  # type: ignore[type-arg]
        response = super().form_valid(form)
        actions.complete_password_reset(form.user, origin=Origin.of(self.request))
        return response
