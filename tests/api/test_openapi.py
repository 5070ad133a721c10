"""The OpenAPI document at /api/openapi.json: it builds with every domain's router, and every
operation requires the bearer token (nothing is readable without one)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

DOMAINS = {
    "patients",
    "alerts",
    "instruments",
    "intakes",
    "eligibility",
    "consents",
    "protocols",
    "plans",
    "inventory",
    "sessions",
    "scheduling",
}


def test_openapi_lists_every_domain_and_every_operation_needs_a_token(client) -> None:
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    prefixes = {path.split("/")[3] for path in schema["paths"]}
    assert prefixes == DOMAINS
    operations = [op for item in schema["paths"].values() for op in item.values()]
    for path in (
        "/api/v1/intakes",
        "/api/v1/eligibility/decisions",
        "/api/v1/consents/{consent_id}/pdf",
        "/api/v1/plans/{plan_id}/sign",
        "/api/v1/inventory/entries",
        "/api/v1/inventory/counts",
        "/api/v1/inventory/reports/schedule-iii.csv",
    ):
        assert path in schema["paths"], path
    unguarded = [op["operationId"] for op in operations if not op.get("security")]
    assert unguarded == []


def test_swagger_ui_is_served_from_local_static_files(client) -> None:
    page = client.get("/api/docs").content.decode()

    assert "cdn." not in page
    assert "unpkg" not in page
    assert "jsdelivr" not in page
