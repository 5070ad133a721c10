"""Password reset by emailed link (Django's views), with audit and lockout release."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from tests.accounts.conftest import ADDRESS, is_signed_in, sign_in

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-42"


def _request_link(client: Client, email: str) -> str:
    response = client.post(reverse("accounts-password-reset"), {"email": email})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-password-reset-done")
    assert len(mail.outbox) == 1
    match = re.search(r"https?://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body)
    assert match is not None, mail.outbox[0].body
    return match.group(1)


def _set_password(client: Client, link: str, password: str = NEW_PASSWORD) -> None:
    response = client.get(link)
    assert response.status_code == 302  # Django swaps the token for a session marker
    form_url = response["Location"]
    assert client.get(form_url).context["validlink"]
    response = client.post(form_url, {"new_password1": password, "new_password2": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts-password-reset-complete")


def test_reset_email_has_a_working_link_and_the_old_password_stops_working(personas, clinic):
    client = Client(REMOTE_ADDR=ADDRESS)

    link = _request_link(client, "ben@example.org")
    message = mail.outbox[0]
    assert message.to == ["ben@example.org"]
    assert message.subject == "Reset your KetaCare password"
    _set_password(client, link)

    assert not is_signed_in(client)  # the link does not sign anyone in
    assert sign_in(Client(), "ben@example.org").status_code == 200  # old password refused
    fresh = Client()
    assert sign_in(fresh, "ben@example.org", NEW_PASSWORD).status_code == 302
    assert is_signed_in(fresh)
    event = AuditEvent.objects.get(event_type="password.reset")
    assert event.actor == personas["ben"]
    assert event.clinic == clinic
    assert event.remote_addr == ADDRESS


def test_the_link_works_only_once(personas):
    client = Client()
    link = _request_link(client, "ben@example.org")
    _set_password(client, link)

    response = Client().get(link, follow=True)

    assert "This link no longer works" in response.content.decode()


def test_unknown_address_shows_the_same_page_and_sends_nothing(personas):
    known = Client().post(reverse("accounts-password-reset"), {"email": "ben@example.org"})
    mail.outbox.clear()

    unknown = Client().post(reverse("accounts-password-reset"), {"email": "stranger@example.org"})

    assert unknown.status_code == known.status_code == 302
    assert unknown["Location"] == known["Location"]
    assert mail.outbox == []


def test_the_new_password_must_pass_the_validators(personas):
    client = Client()
    link = _request_link(client, "ben@example.org")
    form_url = client.get(link)["Location"]

    response = client.post(form_url, {"new_password1": "short", "new_password2": "short"})

    assert response.status_code == 200
    assert response.context["form"].errors["new_password2"]
    assert sign_in(Client(), "ben@example.org").status_code == 302  # old password unchanged


def test_a_reset_lifts_a_lockout(personas):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "ben@example.org", "wrong-password-again")
    assert sign_in(Client(), "ben@example.org").status_code == 429
    # another user's lockout is left alone
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "ann@example.org", "wrong-password-again")

    client = Client()
    _set_password(client, _request_link(client, "ben@example.org"))

    assert sign_in(Client(), "ben@example.org", NEW_PASSWORD).status_code == 302
    assert sign_in(Client(), "ann@example.org").status_code == 429
