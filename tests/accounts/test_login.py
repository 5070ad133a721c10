"""Sign-in and sign-out through the real views, their audit rows, and lockout (django-axes)."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from ketacare.audit.models import AuditEvent, AuditOutcome
from tests.accounts.conftest import ADDRESS, is_signed_in, sign_in

pytestmark = pytest.mark.django_db


def test_sign_in_with_email_and_password_is_audited(personas, clinic, other_clinic):
    client = Client()

    response = sign_in(client, "ben@example.org")

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert is_signed_in(client)
    assert int(client.session["_auth_user_id"]) == personas["ben"].pk
    event = AuditEvent.objects.get(event_type="session.signed_in")
    assert event.actor == personas["ben"]
    assert event.clinic == clinic  # one row per clinic where Ben is an active member
    assert event.remote_addr == ADDRESS
    assert event.outcome == AuditOutcome.SUCCESS


def test_sign_in_is_not_case_sensitive_on_the_address(personas):
    client = Client()

    response = sign_in(client, "  Ben@Example.ORG ")

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == personas["ben"].pk


def test_wrong_password_shows_the_error_and_is_audited(personas, clinic):
    client = Client()

    response = sign_in(client, "ben@example.org", "not-the-password")

    assert response.status_code == 200
    assert "That email and password do not match an active account." in response.content.decode()
    assert not is_signed_in(client)
    event = AuditEvent.objects.get(event_type="session.sign_in_failed")
    assert event.actor == personas["ben"]
    assert event.clinic == clinic
    assert event.remote_addr == ADDRESS
    assert event.outcome == AuditOutcome.MINOR_FAILURE
    assert event.detail == {"locked_out": False}


def test_failed_sign_in_with_an_unknown_address_is_audited_without_a_clinic(personas):
    response = sign_in(Client(), "nobody@example.org", "whatever-it-is")

    assert response.status_code == 200
    event = AuditEvent.objects.get(event_type="session.sign_in_failed")
    assert event.actor is None
    assert event.clinic is None
    assert event.actor_label == "<nobody@example.org>"
    assert event.remote_addr == ADDRESS


def test_inactive_user_cannot_sign_in(personas):
    personas["ben"].is_active = False
    personas["ben"].save()
    client = Client()

    response = sign_in(client, "ben@example.org")

    assert response.status_code == 200
    assert not is_signed_in(client)


def test_sign_out_is_audited_and_ends_the_session(personas, clinic):
    client = Client()
    sign_in(client, "ben@example.org")

    response = client.post(reverse("accounts-logout"), REMOTE_ADDR=ADDRESS)

    assert response.status_code == 302
    assert not is_signed_in(client)
    event = AuditEvent.objects.get(event_type="session.signed_out")
    assert event.actor == personas["ben"]
    assert event.clinic == clinic
    assert event.remote_addr == ADDRESS
    assert client.get(reverse("accounts-security")).status_code == 302  # back to the login page


def test_sign_out_needs_a_post(personas):
    client = Client()
    sign_in(client, "ben@example.org")

    assert client.get(reverse("accounts-logout")).status_code == 405
    assert is_signed_in(client)


def _fail(client: Client, email: str, times: int) -> None:
    for _ in range(times):
        sign_in(client, email, "wrong-password-again")


def test_lockout_after_repeated_failures_even_with_the_right_password(personas):
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5
    client = Client()
    _fail(client, "ben@example.org", limit - 1)
    assert sign_in(client, "ben@example.org").status_code == 302  # still allowed before the limit
    client.post(reverse("accounts-logout"))
    # the success reset the count: the limit applies to failures in a row
    _fail(client, "ben@example.org", limit)

    response = sign_in(client, "ben@example.org")  # the right password, attempt limit + 1

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert not is_signed_in(client)
    last = AuditEvent.objects.filter(event_type="session.sign_in_failed").order_by("-id").first()
    assert last is not None
    assert last.detail == {"locked_out": True}


def test_lockout_does_not_touch_other_users(personas):
    _fail(Client(), "ben@example.org", settings.AXES_FAILURE_LIMIT)
    client = Client()

    response = sign_in(client, "ann@example.org")

    assert response.status_code == 302
    assert is_signed_in(client)


def test_lockout_counts_every_spelling_of_the_address_as_one_account(personas):
    # Django admin's login form passes the address as typed (ours lower-cases it first).
    client = Client()
    for spelling in ["BEN@example.org", "Ben@example.org", "ben@EXAMPLE.org", "bEn@example.org", "beN@example.org"]:
        client.post(reverse("admin:login"), {"username": spelling, "password": "wrong-password-again"})

    assert sign_in(client, "ben@example.org").status_code == 429


def test_lockout_ends_after_the_cool_off(personas, frozen):
    client = Client()
    _fail(client, "ben@example.org", settings.AXES_FAILURE_LIMIT)
    frozen.shift(settings.AXES_COOLOFF_TIME - datetime.timedelta(seconds=5))
    assert sign_in(client, "ben@example.org").status_code == 429
    # a try during the lockout starts the cool-off again
    frozen.shift(settings.AXES_COOLOFF_TIME + datetime.timedelta(seconds=1))

    response = sign_in(client, "ben@example.org")

    assert response.status_code == 302
    assert is_signed_in(client)


def test_locked_out_response_keeps_the_lockout_when_the_right_password_comes_from_elsewhere(personas):
    _fail(Client(), "ben@example.org", settings.AXES_FAILURE_LIMIT)
    other_device = Client()

    response = other_device.post(
        reverse("accounts-login"),
        {"username": "ben@example.org", "password": "correct-horse-battery-staple"},
        REMOTE_ADDR="198.51.100.99",
    )

    assert response.status_code == 429  # per account, not per address
