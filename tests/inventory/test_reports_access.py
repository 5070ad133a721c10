"""Report pages and API: who may see totals and download, 404 for another clinic, one audit row per
download (who, which range, how many rows), bad periods refused, the page's default period."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from tests.conftest import ALL_PERSONAS

VIEWERS = {"ada", "ben", "ivy", "aud"}  # INVENTORY_VIEW: totals
EXPORTERS = {"ada", "ivy", "aud"}  # INVENTORY_EXPORT: downloads
OCT = {"date_from": "2026-10-01", "date_to": "2026-10-31"}
NOW = datetime.datetime(2026, 11, 24, 15, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def _exports() -> int:
    return AuditEvent.objects.filter(
        event_type__in=["inventory_report.exported", "inventory_lot_history.exported"]
    ).count()


def _expected(persona: str, allowed: set[str]) -> int:
    if persona == "anon":
        return 302
    if persona == "dee":
        return 403  # Dee is an admin elsewhere: no inventory permission at all
    return 200 if persona in allowed else 403


@pytest.mark.parametrize("persona", [*ALL_PERSONAS, "anon"])
def test_report_page_and_downloads_matrix(persona, client_for, lot, location):
    client = client_for(persona)
    query = {"location": location.pk, **OCT}
    before = _exports()
    page = client.get(reverse("inventory-reports"), query)
    assert page.status_code == _expected(persona, VIEWERS)
    downloads = 0
    for name in ("inventory-report-csv", "inventory-report-pdf"):
        response = client.get(reverse(name), query)
        assert response.status_code == _expected(persona, EXPORTERS), name
        downloads += response.status_code == 200
    for name in ("inventory-lot-history-csv", "inventory-lot-history-pdf"):
        response = client.get(reverse(name, args=[lot.pk]))
        assert response.status_code == _expected(persona, EXPORTERS), name
        downloads += response.status_code == 200
    assert _exports() - before == downloads  # one audit row per download, none for a refusal
    if page.status_code == 200:
        html = page.content.decode()
        assert 'data-testid="report-totals"' in html
        assert ('data-testid="report-csv"' in html) == (persona in EXPORTERS)
        assert ('data-testid="report-pdf"' in html) == (persona in EXPORTERS)


def test_dee_managing_another_clinics_stock_gets_404(dee_inventory, client_for, api_client_for, lot, location):
    client, api = client_for("dee"), api_client_for("dee")
    before = _exports()
    assert client.get(reverse("inventory-reports"), {"location": location.pk, **OCT}).status_code == 404
    assert client.get(reverse("inventory-report-csv"), {"location": location.pk, **OCT}).status_code == 404
    assert client.get(reverse("inventory-report-pdf"), {"location": location.pk, **OCT}).status_code == 404
    assert client.get(reverse("inventory-lot-history-csv", args=[lot.pk])).status_code == 404
    assert client.get(reverse("inventory-lot-history-pdf", args=[lot.pk])).status_code == 404
    base = "/api/v1/inventory"
    assert api.get(f"{base}/reports/schedule-iii", {"location_id": location.pk}).status_code == 404
    assert api.get(f"{base}/reports/schedule-iii.csv", {"location_id": location.pk}).status_code == 404
    assert api.get(f"{base}/lots/{lot.pk}/history.pdf").status_code == 404
    assert _exports() == before


def test_download_is_audited_with_who_range_and_rows(client_for, personas, lot, location):
    response = client_for("aud").get(reverse("inventory-report-csv"), {"location": location.pk, **OCT})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(event_type="inventory_report.exported")
    assert event.actor_id == personas["aud"].pk
    assert event.detail["format"] == "csv"
    assert (event.detail["date_from"], event.detail["date_to"]) == ("2026-10-01", "2026-10-31")
    assert event.detail["location"] == location.pk
    assert event.detail["rows"] == 0  # the lot was received in November
    client_for("aud").get(
        reverse("inventory-report-csv"), {"location": location.pk, "date_from": "2026-11-01", "date_to": "2026-11-24"}
    )
    latest = AuditEvent.objects.filter(event_type="inventory_report.exported").order_by("-pk").first()
    assert latest is not None
    assert latest.detail["rows"] == 1
    client_for("ivy").get(reverse("inventory-lot-history-pdf", args=[lot.pk]))
    lot_event = AuditEvent.objects.get(event_type="inventory_lot_history.exported")
    assert lot_event.actor_id == personas["ivy"].pk
    assert lot_event.detail == {
        "format": "pdf",
        "location": location.pk,
        "lot_number": "KX1001",
        "rows": 1,
        "patients": 0,
    }


def test_page_defaults_to_last_month_in_the_clinic_zone(client_for, lot, second_location):
    response = client_for("ivy").get(reverse("inventory-reports"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="2026-10-01"' in html
    assert 'value="2026-10-31"' in html
    # The first location by name (Lakeside before Main Street).
    assert f"location={second_location.pk}&amp;date_from=2026-10-01&amp;date_to=2026-10-31" in html


def test_page_shows_totals_of_the_period(client_for, lot, location):
    response = client_for("ivy").get(
        reverse("inventory-reports"), {"location": location.pk, "date_from": "2026-11-01", "date_to": "2026-11-24"}
    )
    report = response.context["report"]
    assert report.in_mg == 1500
    assert report.closing_mg == 1500
    assert report.opening_mg == 0
    html = response.content.decode()
    assert 'data-testid="total-closing">1500.00 mg' in html
    assert 'data-testid="reconciles"' in html


def test_bad_period_is_a_field_error_and_downloads_nothing(client_for, lot, location):
    before = _exports()
    response = client_for("ivy").get(
        reverse("inventory-report-csv"), {"location": location.pk, "date_from": "2026-10-31", "date_to": "2026-10-01"}
    )
    assert response.status_code == 422
    assert "must end on or after" in response.content.decode()
    response = client_for("ivy").get(
        reverse("inventory-reports"), {"location": location.pk, "date_from": "2026-10-01", "date_to": "2026-12-01"}
    )
    assert response.status_code == 422
    assert "after today" in response.content.decode()
    assert _exports() == before


def test_an_unknown_location_is_404(client_for, lot):
    assert client_for("ivy").get(reverse("inventory-reports"), {"location": 999999}).status_code == 404
    assert client_for("ivy").get(reverse("inventory-report-pdf"), {"location": "x"}).status_code == 404


def test_report_page_query_count_does_not_grow_with_entries(
    client_for, actors, lot, location, ketamine_50, django_assert_num_queries
):
    from tests.inventory.conftest import receive

    client = client_for("ivy")
    query = {"location": location.pk, "date_from": "2026-11-01", "date_to": "2026-11-24"}
    client.get(reverse("inventory-reports"), query)  # warm the session and caches
    with django_assert_num_queries(19) as captured:
        client.get(reverse("inventory-reports"), query)
    for number in range(3):
        receive(actors["ivy"], location, ketamine_50, lot_number=f"KX9{number}")
    with django_assert_num_queries(len(captured.captured_queries)):
        client.get(reverse("inventory-reports"), query)


# --- API ---

API = "/api/v1/inventory"


@pytest.mark.parametrize("persona", [*ALL_PERSONAS, "anon"])
def test_api_matrix(persona, api_client_for, lot, location):
    api = api_client_for(persona)
    params = {"location_id": location.pk, "date_from": "2026-11-01", "date_to": "2026-11-24"}
    before = _exports()

    def expected(allowed: set[str]) -> int:
        return 401 if persona == "anon" else (200 if persona in allowed else 403)

    totals = api.get(f"{API}/reports/schedule-iii", params)
    assert totals.status_code == expected(VIEWERS)
    downloads = 0
    for path in (
        "/reports/schedule-iii.csv",
        "/reports/schedule-iii.pdf",
        f"/lots/{lot.pk}/history.csv",
        f"/lots/{lot.pk}/history.pdf",
    ):
        response = api.get(API + path, params if "reports" in path else {})
        assert response.status_code == expected(EXPORTERS), path
        downloads += response.status_code == 200
    assert _exports() - before == downloads
    if totals.status_code == 200:
        body = totals.json()
        assert body["location"]["dea_registration"] == "FH1234563"
        assert body["reconciles"] is True
        assert body["opening_mg"] == "0.00" or float(body["opening_mg"]) == 0
        assert float(body["in_mg"]) == 1500
        assert float(body["closing_mg"]) == 1500
        assert body["lots"][0]["lot_number"] == "KX1001"


def test_api_bad_period_is_422_naming_the_field(api_client_for, lot, location):
    response = api_client_for("ivy").get(
        f"{API}/reports/schedule-iii", {"date_from": "2026-10-31", "date_to": "2026-10-01"}
    )
    assert response.status_code == 422
    assert any(d.get("field") == "date_to" for d in response.json()["detail"])


def test_api_defaults_to_last_month_at_the_first_location(api_client_for, lot, second_location):
    body = api_client_for("aud").get(f"{API}/reports/schedule-iii").json()
    assert (body["date_from"], body["date_to"]) == ("2026-10-01", "2026-10-31")
    assert body["location"]["id"] == second_location.pk  # Lakeside before Main Street
