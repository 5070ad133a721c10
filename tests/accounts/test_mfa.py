"""Two-factor sign-in (django-otp TOTP): enrolment, verification, who must use it."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketacare.accounts.actions import create_api_token
from ketacare.audit.models import AuditEvent
from tests.accounts.conftest import ADDRESS, code_for, sign_in, wrong_code

pytestmark = pytest.mark.django_db

PAGES = ["home", "patients-list", "audit-list", "accounts-security", "accounts-tokens", "admin:index"]
NEXT_WINDOW = datetime.timedelta(seconds=30)  # a TOTP code is accepted once; the next comes 30 s later


def _enrolled(client: Client, email: str, frozen) -> TOTPDevice:
    """Sign in and turn two-factor on through the setup page; return the confirmed device."""
    sign_in(client, email)
    client.get(reverse("accounts-mfa-setup"))
    device = TOTPDevice.objects.get(user__email=email, confirmed=False)
    response = client.post(reverse("accounts-mfa-setup"), {"code": code_for(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    return device


@pytest.mark.parametrize("page", PAGES)
def test_clinic_requiring_mfa_sends_staff_to_setup_from_every_page(personas, mfa_clinic, page):
    client = Client()
    sign_in(client, "ann@example.org")

    response = client.get(reverse(page))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-mfa-setup")


def test_pages_needed_to_get_through_are_not_gated(personas, mfa_clinic):
    client = Client()
    sign_in(client, "ben@example.org")

    assert client.get(reverse("accounts-mfa-setup")).status_code == 200
    assert client.get(reverse("accounts-password-reset")).status_code == 200
    assert client.post(reverse("accounts-logout")).status_code == 302


def test_setup_shows_a_qr_code_and_the_key(personas, mfa_clinic):
    client = Client()
    sign_in(client, "ben@example.org")

    response = client.get(reverse("accounts-mfa-setup"))

    device = TOTPDevice.objects.get(user=personas["ben"], confirmed=False)
    html = response.content.decode()
    assert "<svg" in html
    assert "Your clinic requires a code" in html
    secret = response.context["secret"].replace(" ", "")
    assert secret in html.replace(" ", "")
    assert "otpauth://" not in html  # the URL (with the key) is only inside the QR code
    # reloading keeps the same pending key, so a half-done scan still works
    client.get(reverse("accounts-mfa-setup"))
    assert TOTPDevice.objects.filter(user=personas["ben"]).count() == 1
    assert TOTPDevice.objects.get(user=personas["ben"]).key == device.key


def test_confirming_with_the_right_code_turns_it_on_and_lets_them_in(personas, mfa_clinic, frozen):
    client = Client(REMOTE_ADDR=ADDRESS)

    _enrolled(client, "ben@example.org", frozen)

    assert client.get(reverse("accounts-security")).status_code == 200
    assert client.get(reverse("home")).status_code == 302  # on to the nurse's patient list
    assert client.get(reverse("patients-list")).status_code == 200
    event = AuditEvent.objects.get(event_type="mfa.enabled")
    assert event.actor == personas["ben"]
    assert event.clinic == mfa_clinic
    assert event.remote_addr == ADDRESS


def test_a_wrong_code_is_refused_and_a_quick_retry_is_told_to_wait(personas, mfa_clinic, frozen):
    client = Client()
    sign_in(client, "ben@example.org")
    client.get(reverse("accounts-mfa-setup"))
    device = TOTPDevice.objects.get(user=personas["ben"])

    response = client.post(reverse("accounts-mfa-setup"), {"code": wrong_code(device)})

    assert response.status_code == 200
    assert "That code did not match" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get(reverse("home"))["Location"] == reverse("accounts-mfa-setup")
    # django-otp makes the next try wait; the page says so instead of "did not match"
    response = client.post(reverse("accounts-mfa-setup"), {"code": code_for(device)})
    assert "Too many wrong codes in a row. Wait 1 second," in response.content.decode()
    frozen.shift(datetime.timedelta(seconds=2))
    assert client.post(reverse("accounts-mfa-setup"), {"code": code_for(device)}).status_code == 302


def test_letters_are_refused_by_the_form(personas, mfa_clinic):
    client = Client()
    sign_in(client, "ben@example.org")

    response = client.post(reverse("accounts-mfa-setup"), {"code": "12ab56"})

    assert "Enter the 6 digits" in response.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()


def test_after_sign_out_the_next_sign_in_asks_for_a_code(personas, mfa_clinic, frozen):
    client = Client(REMOTE_ADDR=ADDRESS)
    device = _enrolled(client, "ben@example.org", frozen)
    client.post(reverse("accounts-logout"))
    frozen.shift(NEXT_WINDOW)

    response = sign_in(client, "ben@example.org")
    assert response["Location"] == reverse("home")
    response = client.get(reverse("accounts-security"))

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("accounts-mfa-verify")
    assert parse_qs(location.query) == {"next": [reverse("accounts-security")]}
    # a wrong code is refused and audited
    response = client.post(reverse("accounts-mfa-verify"), {"code": wrong_code(device), "next": "/accounts/security/"})
    assert response.status_code == 200
    assert "That code did not match" in response.content.decode()
    failed = AuditEvent.objects.get(event_type="session.mfa_failed")
    assert failed.actor == personas["ben"]
    assert failed.remote_addr == ADDRESS
    frozen.shift(datetime.timedelta(seconds=2))
    # the right one lets them through to where they were going
    response = client.post(reverse("accounts-mfa-verify"), {"code": code_for(device), "next": "/accounts/security/"})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-security")
    assert client.get(reverse("accounts-security")).status_code == 200


def test_a_code_is_accepted_only_once(personas, mfa_clinic, frozen):
    client = Client()
    device = _enrolled(client, "ben@example.org", frozen)
    client.post(reverse("accounts-logout"))
    sign_in(client, "ben@example.org")

    response = client.post(reverse("accounts-mfa-verify"), {"code": code_for(device)})  # same 30 s window

    assert response.status_code == 200
    assert client.get(reverse("accounts-security")).status_code == 302


def test_verification_keeps_the_query_string_and_refuses_other_sites(personas, mfa_clinic, frozen):
    client = Client()
    device = _enrolled(client, "ben@example.org", frozen)
    client.post(reverse("accounts-logout"))
    frozen.shift(NEXT_WINDOW)
    sign_in(client, "ben@example.org")

    response = client.get("/patients/?q=avery&page=2")
    target = parse_qs(urlsplit(response["Location"]).query)["next"][0]
    assert target == "/patients/?q=avery&page=2"
    response = client.post(reverse("accounts-mfa-verify"), {"code": code_for(device), "next": target})
    assert response["Location"] == "/patients/?q=avery&page=2"

    client.post(reverse("accounts-logout"))
    frozen.shift(NEXT_WINDOW)
    sign_in(client, "ben@example.org")
    response = client.post(
        reverse("accounts-mfa-verify"), {"code": code_for(device), "next": "https://evil.example/phish"}
    )
    assert response["Location"] == reverse("home")


def test_always_required_setting_applies_even_if_the_clinic_does_not(personas, clinic):
    assert not clinic.require_mfa
    client = Client()
    sign_in(client, "ben@example.org")

    with override_settings(KETACARE_MFA_ALWAYS_REQUIRED=True):
        response = client.get(reverse("accounts-security"))

    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-mfa-setup")


def test_staff_without_requirement_or_device_are_not_bothered(personas, clinic):
    client = Client()
    sign_in(client, "ben@example.org")

    for page in ["accounts-security", "accounts-tokens", "patients-list"]:
        assert client.get(reverse(page)).status_code == 200


def test_a_device_chosen_freely_is_asked_for_even_if_nobody_requires_it(personas, clinic, frozen):
    client = Client()
    _enrolled(client, "ben@example.org", frozen)
    client.post(reverse("accounts-logout"))
    sign_in(client, "ben@example.org")

    response = client.get(reverse("accounts-security"))

    assert urlsplit(response["Location"]).path == reverse("accounts-mfa-verify")


def test_setup_with_a_device_but_unverified_goes_to_verification(personas, mfa_clinic, frozen):
    client = Client()
    _enrolled(client, "ben@example.org", frozen)
    client.post(reverse("accounts-logout"))
    sign_in(client, "ben@example.org")

    response = client.get(reverse("accounts-mfa-setup"))

    assert response["Location"] == reverse("accounts-mfa-verify")
    assert TOTPDevice.objects.filter(user=personas["ben"]).count() == 1  # no second device sneaked in


def test_api_requests_with_a_bearer_token_are_not_redirected(personas, mfa_clinic):
    _, raw = create_api_token(personas["ben"], mfa_clinic, "import")

    response = Client().get("/api/v1/patients", HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert response.status_code == 200
