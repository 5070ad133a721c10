"""Personal API tokens: the page, hashing at rest, revocation, who a token stops working for."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from ketacare.accounts import signals
from ketacare.accounts.actions import create_api_token, revoke_api_token
from ketacare.accounts.models import ApiToken, Membership
from ketacare.audit.models import AuditAction, AuditEvent
from tests.accounts.conftest import ADDRESS

pytestmark = pytest.mark.django_db

API = "/api/v1/patients"
TOKEN_RE = re.compile(r"kc_[A-Za-z0-9_-]{43}")


def _api(raw: str) -> int:
    return Client().get(API, HTTP_AUTHORIZATION=f"Bearer {raw}").status_code


def _create_on_page(client: Client, name: str = "lab import") -> str:
    response = client.post(reverse("accounts-tokens"), {"name": name}, REMOTE_ADDR=ADDRESS)
    assert response.status_code == 200
    found = TOKEN_RE.findall(response.content.decode())
    assert len(found) == 1
    return found[0]


def test_created_token_is_shown_once_and_works(client_for, personas, clinic):
    client = client_for("ben")

    raw = _create_on_page(client)

    token = ApiToken.objects.get(user=personas["ben"])
    assert token.clinic == clinic
    assert token.name == "lab import"
    page = client.get(reverse("accounts-tokens"))
    assert raw not in page.content.decode()
    assert "lab import" in page.content.decode()
    assert page["Cache-Control"] == "no-store"
    assert _api(raw) == 200


def test_only_the_sha256_of_the_token_is_stored(client_for, personas):
    raw = _create_on_page(client_for("ben"))

    token = ApiToken.objects.get(user=personas["ben"])
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert not [value for value in rows[0] if raw in str(value)]
    assert not [e for e in AuditEvent.objects.all() if raw in str(e.detail)]


def test_creating_a_token_is_audited(client_for, personas, clinic):
    _create_on_page(client_for("ben"))

    token = ApiToken.objects.get()
    event = AuditEvent.objects.get(event_type="api_token.created")
    assert event.action == AuditAction.CREATE
    assert event.actor == personas["ben"]
    assert event.actor_role == "nurse"
    assert event.clinic == clinic
    assert (event.subject_type, event.subject_id) == ("accounts.apitoken", str(token.pk))
    assert event.remote_addr == ADDRESS
    assert event.via == "web"
    assert event.detail == {"name": "lab import", "hint": token.hint}


def test_a_token_needs_a_name(client_for):
    response = client_for("ben").post(reverse("accounts-tokens"), {"name": "   "})

    assert response.status_code == 422
    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_revoking_makes_the_api_answer_401_and_is_audited(client_for, personas, clinic):
    client = client_for("ben")
    raw = _create_on_page(client)
    token = ApiToken.objects.get()

    response = client.post(reverse("accounts-token-revoke", args=[token.pk]), REMOTE_ADDR=ADDRESS)

    assert response.status_code == 302
    response = Client().get(API, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="ketacare"'
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(event_type="api_token.revoked")
    assert event.action == AuditAction.UPDATE
    assert (event.actor, event.clinic, event.remote_addr) == (personas["ben"], clinic, ADDRESS)
    # revoking again changes nothing and writes nothing
    client.post(reverse("accounts-token-revoke", args=[token.pk]))
    assert AuditEvent.objects.filter(event_type="api_token.revoked").count() == 1


def test_revoke_needs_a_post(client_for):
    client = client_for("ben")
    _create_on_page(client)
    token = ApiToken.objects.get()

    assert client.get(reverse("accounts-token-revoke", args=[token.pk])).status_code == 405
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_user_cannot_revoke_another_users_token(client_for, personas):
    raw = _create_on_page(client_for("ben"))
    token = ApiToken.objects.get()

    for intruder in ["ann", "dee"]:  # not even an admin of the same clinic
        response = client_for(intruder).post(reverse("accounts-token-revoke", args=[token.pk]))
        assert response.status_code == 404

    token.refresh_from_db()
    assert token.revoked_at is None
    assert _api(raw) == 200
    assert not AuditEvent.objects.filter(event_type="api_token.revoked").exists()


def test_a_token_stops_working_when_the_membership_ends(personas, clinic):
    _, raw = create_api_token(personas["ben"], clinic, "import")
    assert _api(raw) == 200

    Membership.objects.filter(user=personas["ben"], clinic=clinic).update(is_active=False)

    assert _api(raw) == 401


def test_a_token_stops_working_when_the_user_is_deactivated(personas, clinic):
    _, raw = create_api_token(personas["ben"], clinic, "import")
    personas["ben"].is_active = False
    personas["ben"].save()

    assert _api(raw) == 401


@pytest.mark.parametrize(
    "header",
    ["", "Bearer ", "Bearer kc_not-a-real-token", "Bearer not-even-the-prefix", "Basic YmVuOnNlY3JldA=="],
)
def test_missing_or_unknown_tokens_get_401(personas, header):
    response = Client().get(API, **({"HTTP_AUTHORIZATION": header} if header else {}))

    assert response.status_code == 401


def test_a_token_acts_in_its_own_clinic_only(personas, clinic, other_clinic):
    with pytest.raises(PermissionDenied, match="not an active member"):
        create_api_token(personas["ben"], other_clinic, "import")
    assert not ApiToken.objects.exists()


def test_an_inactive_user_gets_no_token(personas, clinic):
    personas["ben"].is_active = False
    personas["ben"].save()

    with pytest.raises(PermissionDenied, match="not an active member"):
        create_api_token(personas["ben"], clinic, "import")


def test_token_name_is_checked_by_the_action_too(personas, clinic):
    with pytest.raises(ValidationError) as excinfo:
        create_api_token(personas["ben"], clinic, "x" * 101)
    assert "name" in excinfo.value.message_dict


def test_token_and_audit_row_commit_together(personas, clinic, monkeypatch):
    def broken_audit(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("ketacare.audit.signals.record", lambda *a, **k: broken_audit())

    with pytest.raises(RuntimeError):
        create_api_token(personas["ben"], clinic, "import")

    assert not ApiToken.objects.exists()


def test_revoking_after_the_membership_ended_is_still_audited_in_the_tokens_clinic(personas, clinic):
    token, _ = create_api_token(personas["ben"], clinic, "import")
    Membership.objects.filter(user=personas["ben"]).update(is_active=False)

    revoke_api_token(personas["ben"], token.pk)

    event = AuditEvent.objects.get(event_type="api_token.revoked")
    assert (event.clinic, event.actor_role, event.via) == (clinic, "", "cli")


def test_the_audit_app_listens_to_the_account_signals():
    for signal in [
        signals.api_token_created,
        signals.api_token_revoked,
        signals.mfa_device_confirmed,
        signals.mfa_verification_failed,
        signals.password_reset_completed,
    ]:
        assert signal.has_listeners()
