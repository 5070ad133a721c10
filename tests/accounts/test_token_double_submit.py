"""Creating an API token is safe against a double click: one token, shown once."""

from __future__ import annotations

import uuid

from django.urls import reverse

from ketacare.accounts.models import ApiToken


def test_the_same_form_sent_twice_creates_one_token(client_for, personas):
    client = client_for("ben")
    data = {"name": "lab import", "form_token": str(uuid.uuid4())}

    first = client.post(reverse("accounts-tokens"), data)
    second = client.post(reverse("accounts-tokens"), data)

    tokens = ApiToken.objects.filter(user=personas["ben"])
    assert tokens.count() == 1
    raw = first.context["new_token"]
    assert raw.startswith("kc_")
    assert second.status_code == 200
    assert second.context["new_token"] is None
    assert raw.encode() not in second.content
    assert b"already sent" in second.content


def test_a_new_form_creates_another_token(client_for, personas):
    client = client_for("ben")
    for _ in range(2):
        client.post(reverse("accounts-tokens"), {"name": "lab import", "form_token": str(uuid.uuid4())})

    assert ApiToken.objects.filter(user=personas["ben"]).count() == 2
