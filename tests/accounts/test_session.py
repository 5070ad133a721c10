"""The idle timeout and the clinic switcher."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from ketacare.accounts.middleware import SESSION_CLINIC_KEY
from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic
from tests.accounts.conftest import sign_in

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def test_idle_timeout_is_fifteen_minutes_refreshed_on_each_request():
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST


def test_a_request_within_the_idle_time_keeps_the_session_alive(personas, frozen):
    client = Client()
    sign_in(client, "ben@example.org")

    for _ in range(3):  # 42 minutes in all, never 15 idle
        frozen.shift(14 * MINUTE)
        response = client.get(reverse("accounts-security"))
        assert response.status_code == 200


def test_after_sixteen_idle_minutes_the_next_request_goes_to_sign_in(personas, frozen):
    client = Client()
    sign_in(client, "ben@example.org")
    assert client.get(reverse("accounts-security")).status_code == 200

    frozen.shift(16 * MINUTE)
    response = client.get(reverse("accounts-security"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts-login')}?next={reverse('accounts-security')}"
    frozen.shift(MINUTE)  # and it stays signed out
    assert client.get(reverse("accounts-security")).status_code == 302


@pytest.fixture
def bay(db) -> Clinic:
    return Clinic.objects.create(slug="bay", name="Bay Clinic", time_zone="America/Chicago", require_mfa=False)


@pytest.fixture
def ben_in_two_clinics(personas, other_clinic, bay) -> Client:
    """Ben: nurse at Harbor Light, administrator at Northside, former member of Bay."""
    Membership.objects.create(user=personas["ben"], clinic=other_clinic, role=Role.ADMIN)
    Membership.objects.create(user=personas["ben"], clinic=bay, role=Role.NURSE, is_active=False)
    client = Client()
    sign_in(client, "ben@example.org")
    return client


def _selected_clinic(html: str) -> str:
    """The clinic shown as chosen in the header's clinic switcher."""
    match = re.search(r'<option value="\d+"\s*selected>([^<]+)</option>', html)
    assert match is not None, "no clinic switcher in the header"
    return match.group(1)


def test_switching_clinic_changes_the_current_clinic_and_the_header(ben_in_two_clinics, clinic, other_clinic):
    client = ben_in_two_clinics
    response = client.get(reverse("accounts-security"))
    assert response.context["current_clinic"] == clinic  # the first by name
    assert _selected_clinic(response.content.decode()) == "Harbor Light Clinic — Nurse"

    response = client.post(reverse("accounts-switch-clinic"), {"clinic": other_clinic.pk})

    assert response.status_code == 302
    assert client.session[SESSION_CLINIC_KEY] == other_clinic.pk
    response = client.get(reverse("accounts-security"))
    assert response.context["current_clinic"] == other_clinic
    assert response.context["current_membership"].role == Role.ADMIN
    assert _selected_clinic(response.content.decode()) == "Northside Clinic — Administrator"
    # Bay (membership ended) is not offered
    assert "Bay Clinic" not in response.content.decode()


@pytest.mark.parametrize("target", ["bay", "nowhere", "not-a-number"])
def test_switching_to_a_clinic_without_an_active_membership_is_404_and_changes_nothing(
    ben_in_two_clinics, clinic, bay, target
):
    client = ben_in_two_clinics
    value = {"bay": str(bay.pk), "nowhere": "999999", "not-a-number": "harbor"}[target]

    response = client.post(reverse("accounts-switch-clinic"), {"clinic": value})

    assert response.status_code == 404
    assert SESSION_CLINIC_KEY not in client.session
    assert client.get(reverse("accounts-security")).context["current_clinic"] == clinic


def test_switching_needs_a_post(ben_in_two_clinics, other_clinic):
    response = ben_in_two_clinics.get(reverse("accounts-switch-clinic"), {"clinic": other_clinic.pk})

    assert response.status_code == 405


def test_an_ended_membership_of_the_chosen_clinic_falls_back_to_an_active_one(ben_in_two_clinics, clinic, other_clinic):
    client = ben_in_two_clinics
    client.post(reverse("accounts-switch-clinic"), {"clinic": other_clinic.pk})
    Membership.objects.filter(user__email="ben@example.org", clinic=other_clinic).update(is_active=False)

    response = client.get(reverse("accounts-security"))

    assert response.context["current_clinic"] == clinic
