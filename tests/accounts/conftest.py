"""Helpers for the accounts tests: real sign-in through the login view, TOTP codes, fixed time."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketacare.clinics.models import Clinic
from tests.conftest import PASSWORD

ADDRESS = "203.0.113.7"
START = datetime.datetime(2025, 3, 3, 15, 0, tzinfo=datetime.UTC)


def sign_in(client: Client, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    """POST the real login form (django-axes needs the request, so never client.login)."""
    return client.post(
        reverse("accounts-login"), {"username": email, "password": password}, REMOTE_ADDR=ADDRESS, **extra
    )


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def code_for(device: TOTPDevice) -> str:
    """The authenticator app's current code for `device` (time as frozen by time-machine)."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):06d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 1) % 1_000_000:06d}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Persona passwords are hashed with a fast hasher here; sign-in checks the same way (tests only)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def frozen(time_machine: Any) -> Any:
    """Time stands still at START until a test shifts it."""
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def mfa_clinic(clinic: Clinic) -> Clinic:
    clinic.require_mfa = True
    clinic.save(update_fields=["require_mfa"])
    return clinic
