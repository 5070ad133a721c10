"""Every way of not having a valid token is the same 401, and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from ketacare.accounts.actions import create_api_token, revoke_api_token
from ketacare.accounts.models import ApiToken, Membership
from tests.patients.helpers import api_patient, world

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"detail": "Missing, unknown or revoked API token."}


@pytest.fixture
def ben_token(personas, clinic):
    token, raw = create_api_token(personas["ben"], clinic, "ward tablet")
    return token, raw


def bad_headers(ben_token, personas, clinic):
    _, raw = ben_token
    revoked_token, revoked_raw = create_api_token(personas["ben"], clinic, "old laptop")
    revoke_api_token(personas["ben"], revoked_token.pk)
    return {
        "none": {},
        "empty bearer": {"HTTP_AUTHORIZATION": "Bearer "},
        "scheme only": {"HTTP_AUTHORIZATION": "Bearer"},
        "basic scheme": {"HTTP_AUTHORIZATION": f"Basic {raw}"},
        "no scheme": {"HTTP_AUTHORIZATION": raw},
        "no prefix": {"HTTP_AUTHORIZATION": f"Bearer {raw.removeprefix(ApiToken.PREFIX)}"},
        "trailing junk": {"HTTP_AUTHORIZATION": f"Bearer {raw} x"},
        "unknown": {"HTTP_AUTHORIZATION": f"Bearer {ApiToken.PREFIX}{'A' * 43}"},
        "one char off": {"HTTP_AUTHORIZATION": f"Bearer {raw[:-1]}{'B' if raw[-1] != 'B' else 'C'}"},
        "revoked": {"HTTP_AUTHORIZATION": f"Bearer {revoked_raw}"},
    }


CASES = [
    "none",
    "empty bearer",
    "scheme only",
    "basic scheme",
    "no scheme",
    "no prefix",
    "trailing junk",
    "unknown",
    "one char off",
    "revoked",
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("request_kind", ["list", "read", "create", "update"])
def test_bad_token_is_401(case, request_kind, ben_token, personas, clinic, charted):
    # given
    headers = bad_headers(ben_token, personas, clinic)[case]
    client = Client(**headers)
    before = world()
    name = charted.legal_last_name

    # when
    if request_kind == "list":
        response = client.get("/api/v1/patients")
    elif request_kind == "read":
        response = client.get(f"/api/v1/patients/{charted.pk}")
    elif request_kind == "create":
        response = client.post("/api/v1/patients", api_patient(), content_type="application/json")
    else:
        response = client.patch(
            f"/api/v1/patients/{charted.pk}", {"legal_last_name": "Changed"}, content_type="application/json"
        )

    # then
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="ketacare"'
    assert world() == before
    charted.refresh_from_db()
    assert charted.legal_last_name == name


def test_the_valid_token_works(ben_token, charted):
    _, raw = ben_token

    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get(f"/api/v1/patients/{charted.pk}")

    assert response.status_code == 200


def test_a_token_of_an_ended_membership_or_inactive_user_is_401(ben_token, personas, charted):
    _, raw = ben_token
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    Membership.objects.filter(user=personas["ben"]).update(is_active=False)
    assert client.get(f"/api/v1/patients/{charted.pk}").status_code == 401

    Membership.objects.filter(user=personas["ben"]).update(is_active=True)
    personas["ben"].is_active = False
    personas["ben"].save()
    assert client.get(f"/api/v1/patients/{charted.pk}").status_code == 401


def test_a_signed_in_browser_session_is_not_an_api_token(client_for, charted):
    response = client_for("ann").get(f"/api/v1/patients/{charted.pk}")

    assert response.status_code == 401
