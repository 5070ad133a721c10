"""/api/v1/inventory counts, discrepancies and loss cases: who reads and writes, Idempotency-Key,
422 per field, 404 for another clinic, what a denied request leaves behind (nothing)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.losses import open_loss_case
from ketacare.inventory.models import Discrepancy, EntryKind, LedgerEntry, LossCase, LossFiling, StockCount
from ketacare.inventory.reconciliation import record_count
from tests.conftest import PASSWORD
from tests.inventory.conftest import witness

D = Decimal
VIEWERS = {"ada", "ben", "ivy", "aud"}
ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]
API = "/api/v1/inventory"


def want(persona, allowed):
    return 401 if persona == "anon" else (200 if persona in allowed else 403)


@pytest.fixture
def vial(actors, lot, patient):
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("475"), quantity_ml=D("9.5")).container


@pytest.fixture
def short_count(actors, location, lot, vial):
    return record_count(
        actors["ivy"],
        location,
        kind="shift",
        witness=witness("ben"),
        sealed={lot.pk: 1},
        vials={vial.pk: (D("0.5"), False)},
    )


@pytest.fixture
def case(actors, location, lot):
    with time_machine.travel(datetime.datetime(2026, 12, 4, 16, 0, tzinfo=datetime.UTC), tick=False):
        return open_loss_case(
            actors["ivy"],
            location,
            kind="theft",
            discovered_at=datetime.datetime(2026, 12, 4, 15, 0, tzinfo=datetime.UTC),
            description="Cabinet forced.",
            lot=lot,
            quantity_units=1,
        )


def count_body(location, lot, vial, units=2, ml="0.50", **extra):
    return {
        "location_id": location.pk,
        "kind": "shift",
        "lines": [{"lot_id": lot.pk, "units": units}, {"lot_id": lot.pk, "container_id": vial.pk, "ml": ml}],
        "witness_email": "ben@example.org",
        "witness_password": PASSWORD,
        **extra,
    }


def post(client, path, body, **headers):
    return client.post(f"{API}{path}", body, content_type="application/json", **headers)


@pytest.mark.parametrize("persona", ALL)
def test_who_reads(persona, api_client_for, location, short_count, case):
    client = api_client_for(persona)
    where = f"?location_id={location.pk}"
    for path in (f"/counts{where}", f"/counts/{short_count.pk}", f"/discrepancies{where}", f"/loss-cases{where}"):
        assert client.get(f"{API}{path}").status_code == want(persona, VIEWERS), path
    assert client.get(f"{API}/loss-cases/{case.pk}").status_code == want(persona, VIEWERS)


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud", "anon"])
def test_who_may_not_count_changes_nothing(persona, api_client_for, location, lot, vial):
    response = post(api_client_for(persona), "/counts", count_body(location, lot, vial))
    assert response.status_code == (401 if persona == "anon" else 403)
    assert not StockCount.objects.exists()


@pytest.mark.parametrize("persona", ["ann", "ben", "tess", "cy", "aud", "anon"])
def test_who_may_not_close_open_or_file_changes_nothing(persona, api_client_for, location, short_count, case):
    client = api_client_for(persona)
    denied = 401 if persona == "anon" else 403
    d = Discrepancy.objects.get()
    assert post(client, f"/discrepancies/{d.pk}/close", {"finding": "x", "root_cause": "other"}).status_code == denied
    body = {"location_id": location.pk, "kind": "theft", "discovered_at": "2026-11-20T10:00:00", "description": "x"}
    assert post(client, "/loss-cases", body).status_code == denied
    filing = {"kind": "dea_notice", "filed_on": "2026-12-04", "method": "fax", "reference": "r"}
    assert post(client, f"/loss-cases/{case.pk}/filings", filing).status_code == denied
    assert Discrepancy.objects.get().is_open
    assert LossCase.objects.count() == 1
    assert not LossFiling.objects.exists()


def test_dee_of_another_clinic_gets_404(dee_inventory, api_client_for, location, lot, vial, short_count, case):
    client = api_client_for("dee")
    assert client.get(f"{API}/counts/{short_count.pk}").status_code == 404
    assert client.get(f"{API}/counts?location_id={location.pk}").status_code == 404
    assert client.get(f"{API}/loss-cases/{case.pk}").status_code == 404
    assert post(client, "/counts", count_body(location, lot, vial)).status_code == 404
    d = Discrepancy.objects.get()
    assert post(client, f"/discrepancies/{d.pk}/close", {"finding": "x", "root_cause": "other"}).status_code == 404
    assert StockCount.objects.count() == 1


def test_count_with_a_variance_and_idempotency(api_client_for, location, lot, vial):
    client = api_client_for("ivy")
    body = count_body(location, lot, vial, units=1)
    first = post(client, "/counts", body, HTTP_IDEMPOTENCY_KEY="count-1")
    again = post(client, "/counts", body, HTTP_IDEMPOTENCY_KEY="count-1")
    other = post(client, "/counts", count_body(location, lot, vial), HTTP_IDEMPOTENCY_KEY="count-1")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    assert first.json() == again.json()
    assert StockCount.objects.count() == 1
    sealed = next(ln for ln in first.json()["lines"] if ln["container_id"] is None)
    assert (sealed["expected_units"], sealed["counted_units"], sealed["variance_units"]) == (2, 1, -1)
    assert sealed["discrepancy_id"] == Discrepancy.objects.get().pk
    listed = client.get(f"{API}/discrepancies?location_id={location.pk}").json()
    assert [(d["status"], d["variance_units"]) for d in listed] == [("open", -1)]


def test_count_422_names_each_field(api_client_for, location, lot, vial):
    client = api_client_for("ivy")
    body = count_body(location, lot, vial, ml="12", witness_password="")
    response = post(client, "/counts", body)
    assert response.status_code == 422
    assert {d["field"] for d in response.json()["detail"]} == {f"vial_{vial.pk}"}
    body = count_body(location, lot, vial, witness_password="")
    response = post(client, "/counts", body)
    assert [d["field"] for d in response.json()["detail"]] == ["witness_password"]
    body["lines"] = body["lines"][:1]
    body["witness_password"] = PASSWORD
    response = post(client, "/counts", body)
    assert [d["field"] for d in response.json()["detail"]] == [f"vial_{vial.pk}"]
    assert not StockCount.objects.exists()


def test_wrong_witness_password_is_audited(api_client_for, location, lot, vial):
    response = post(api_client_for("ivy"), "/counts", count_body(location, lot, vial, witness_password="nope"))
    assert response.status_code == 422
    assert AuditEvent.objects.filter(event_type="inventory_witness.refused").count() == 1


def test_close_through_the_api(api_client_for, short_count, lot):
    client = api_client_for("ivy")
    d = Discrepancy.objects.get()
    bad = post(client, f"/discrepancies/{d.pk}/close", {"finding": " "})
    assert bad.status_code == 422
    assert {x["field"] for x in bad.json()["detail"]} == {"finding", "root_cause"}
    body = {"finding": "Vial broken, not recorded.", "root_cause": "unrecorded_waste", "adjust": True}
    first = post(client, f"/discrepancies/{d.pk}/close", body, HTTP_IDEMPOTENCY_KEY="close-1")
    again = post(client, f"/discrepancies/{d.pk}/close", body, HTTP_IDEMPOTENCY_KEY="close-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "closed"
    assert LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).count() == 1
    assert first.json()["adjustment_id"] == LedgerEntry.objects.get(kind=EntryKind.ADJUSTMENT).pk


def test_loss_case_and_filings_through_the_api(api_client_for, location, lot):
    client = api_client_for("ada")
    with time_machine.travel(datetime.datetime(2026, 12, 4, 23, 0, tzinfo=datetime.UTC), tick=False):
        body = {
            "location_id": location.pk,
            "kind": "theft",
            "discovered_at": "2026-12-04T16:30:00",
            "description": "Two vials missing after the evening count.",
            "lot_id": lot.pk,
            "quantity_units": 2,
        }
        created = post(client, "/loss-cases", body, HTTP_IDEMPOTENCY_KEY="case-1")
        assert created.status_code == 201
        data = created.json()
        assert (data["notice_due"], data["form_106_due"]) == ("2026-12-07", "2027-01-18")
        assert [d["status"] for d in data["deadlines"]] == ["3 day(s) left", "45 day(s) left"]
        filing = {"kind": "form_106", "filed_on": "2026-12-04", "method": "fax", "reference": "r"}
        bad = post(client, f"/loss-cases/{data['id']}/filings", filing)
        assert bad.status_code == 422
        assert [x["field"] for x in bad.json()["detail"]] == ["method"]
        filing = {"kind": "dea_notice", "filed_on": "2026-12-04", "method": "email", "reference": "DEA-1"}
        filed = post(client, f"/loss-cases/{data['id']}/filings", filing)
        assert filed.status_code == 201
        assert [d["filed"] for d in filed.json()["deadlines"]] == [True, False]
    assert post(client, "/loss-cases", body, HTTP_IDEMPOTENCY_KEY="case-1").status_code == 200
    assert LossCase.objects.count() == 1


def test_loss_case_422(api_client_for, location):
    response = post(
        api_client_for("ivy"),
        "/loss-cases",
        {"location_id": location.pk, "kind": "breakage", "discovered_at": "2026-01-02T10:00:00", "description": ""},
    )
    assert response.status_code == 422
    assert {x["field"] for x in response.json()["detail"]} == {"description"}
