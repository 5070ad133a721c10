"""A password-reset link stops working after two hours."""

from __future__ import annotations

import re

import time_machine
from django.core import mail
from django.urls import reverse

from tests.conftest import PASSWORD


def test_reset_link_expires_after_two_hours(client, personas):
    with time_machine.travel("2026-03-02 09:00 +00:00", tick=False) as traveller:
        client.post(reverse("accounts-password-reset"), {"email": "ben@example.org"})
        link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[-1].body)
        assert link is not None

        traveller.shift(2 * 3600 + 60)
        response = client.get(link[1], follow=True)

    assert response.context["validlink"] is False
    assert b"no longer works" in response.content
    personas["ben"].refresh_from_db()
    assert personas["ben"].check_password(PASSWORD)
