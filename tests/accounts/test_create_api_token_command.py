"""`manage.py create_api_token EMAIL [--clinic SLUG] [--name NAME]`."""

from __future__ import annotations

import hashlib
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from ketacare.accounts.models import ApiToken, Membership
from ketacare.accounts.roles import Role
from ketacare.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_only_the_token_on_stdout(personas, clinic):
    out, err = _run("ben@example.org", "--name", "nightly export")

    raw = out.strip()
    assert out == raw + "\n"  # one line: TOKEN=$(manage.py create_api_token …) captures it
    token = ApiToken.objects.get(user=personas["ben"])
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert (token.clinic, token.name) == (clinic, "nightly export")
    assert raw not in err
    assert "ben@example.org" in err
    assert "Harbor Light Clinic" in err
    assert Client().get("/api/v1/patients", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    event = AuditEvent.objects.get(event_type="api_token.created")
    assert (event.actor, event.clinic, event.via) == (personas["ben"], clinic, "cli")


def test_address_is_matched_whatever_its_case(personas):
    out, _ = _run("Ben@Example.org")

    assert ApiToken.objects.get().user == personas["ben"]
    assert out.startswith("kc_")


def test_clinic_is_chosen_with_clinic_slug(personas, other_clinic):
    Membership.objects.create(user=personas["ben"], clinic=other_clinic, role=Role.ADMIN)

    with pytest.raises(CommandError, match=r"several clinics \(harbor, northside\); choose one with --clinic"):
        _run("ben@example.org")
    assert not ApiToken.objects.exists()

    _run("ben@example.org", "--clinic", "northside")
    assert ApiToken.objects.get().clinic == other_clinic


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.org"], "No user with email 'nobody@example.org'"),
        (["ben@example.org", "--clinic", "northside"], "ben@example.org is not an active member of clinic 'northside'"),
        (["ben@example.org", "--clinic", "atlantis"], "No clinic with slug 'atlantis'"),
        (["ben@example.org", "--name", "   "], "--name: Give the token a name"),
    ],
)
def test_clear_errors(personas, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        _run(*args)
    assert not ApiToken.objects.exists()


def test_inactive_user_is_refused(personas):
    personas["ben"].is_active = False
    personas["ben"].save()

    with pytest.raises(CommandError, match=r"ben@example\.org is inactive"):
        _run("ben@example.org")
    assert not ApiToken.objects.exists()


def test_ended_membership_is_refused(personas, clinic):
    Membership.objects.filter(user=personas["ben"]).update(is_active=False)

    with pytest.raises(CommandError, match="not an active member of any clinic"):
        _run("ben@example.org")
    with pytest.raises(CommandError, match="not an active member of clinic 'harbor'"):
        _run("ben@example.org", "--clinic", "harbor")
    assert not ApiToken.objects.exists()
