"""/api/v1/inventory: who reads and writes, Idempotency-Key, 422 per field, every kind through POST."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.balances import verify_balances
from ketacare.inventory.models import Container, EntryKind, LedgerEntry, Lot
from tests.conftest import PASSWORD
from tests.inventory.conftest import SUPPLIER

D = Decimal
VIEWERS = {"ada", "ben", "ivy", "aud"}


def post(client, body, **headers):
    return client.post("/api/v1/inventory/entries", body, content_type="application/json", **headers)


def receipt(location, product, **extra):
    return {
        "kind": "receipt",
        "location_id": location.pk,
        "product_id": product.pk,
        "lot_number": "API-1",
        "expiry_date": "2030-01-31",
        "packages": 2,
        "received_on": "2026-11-02",
        **SUPPLIER,
        **extra,
    }


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"])
def test_who_reads_stock_lots_and_entries(persona, api_client_for, lot):
    client = api_client_for(persona)
    want = 401 if persona == "anon" else (200 if persona in VIEWERS else 403)
    where = f"?location_id={lot.location_id}"
    for path in ("stock", "lots", "entries"):
        assert client.get(f"/api/v1/inventory/{path}{where}").status_code == want, path


def test_stock_and_lots_report_the_balances(api_client_for, actors, lot, patient):
    actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))
    client = api_client_for("aud")
    stock = client.get(f"/api/v1/inventory/stock?location_id={lot.location_id}").json()
    product = stock["products"][0]
    assert product["product"]["concentration_mg_per_ml"] == "50.00"
    [row] = product["lots"]
    assert (row["lot_number"], row["sealed_units"], row["status"]) == ("KX1001", 2, "ok")
    assert row["opened_vials"][0]["remaining_ml"] == "9.30"
    assert D(row["on_hand_ml"]) == D("29.3")
    lots = client.get(f"/api/v1/inventory/lots?location_id={lot.location_id}").json()
    assert [x["id"] for x in lots] == [lot.pk]
    entries = client.get(f"/api/v1/inventory/entries?location_id={lot.location_id}&kind=administration").json()
    assert [(e["kind"], e["quantity_mg"], e["patient_id"]) for e in entries] == [
        ("administration", "35.00", patient.pk)
    ]
    assert AuditEvent.objects.filter(event_type="ledger_entry.listed", actor=actors["aud"].user).count() == 1


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud", "dee"])
def test_who_may_not_receive_through_the_api(persona, api_client_for, location, ketamine_50):
    response = post(api_client_for(persona), receipt(location, ketamine_50))
    assert response.status_code == 403
    assert not LedgerEntry.objects.exists()


def test_receipt_with_a_key_is_recorded_once(api_client_for, location, ketamine_50):
    client = api_client_for("ivy")
    first = post(client, receipt(location, ketamine_50), HTTP_IDEMPOTENCY_KEY="delivery-1")
    again = post(client, receipt(location, ketamine_50), HTTP_IDEMPOTENCY_KEY="delivery-1")
    other = post(client, receipt(location, ketamine_50, packages=3), HTTP_IDEMPOTENCY_KEY="delivery-1")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 422)
    assert first.json() == again.json()
    assert Lot.objects.get().sealed_units == 2
    assert LedgerEntry.objects.count() == 1


def test_422_names_each_field(api_client_for, location, ketamine_50, lot, patient):
    bad = post(api_client_for("ivy"), receipt(location, ketamine_50, supplier_dea="nope", packages=0))
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["detail"]} == {"supplier_dea", "packages"}
    missing = post(api_client_for("ben"), {"kind": "administration", "lot_id": lot.pk})
    assert missing.status_code == 422
    assert {d["field"] for d in missing.json()["detail"]} == {"patient_id", "quantity_mg", "quantity_ml"}
    mismatch = post(
        api_client_for("ben"),
        {
            "kind": "administration",
            "lot_id": lot.pk,
            "patient_id": patient.pk,
            "quantity_mg": "70",
            "quantity_ml": "0.7",
        },
    )
    assert mismatch.status_code == 422
    assert [d["field"] for d in mismatch.json()["detail"]] == ["quantity_mg"]
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


def test_dose_waste_and_correction_through_the_api(api_client_for, lot, patient, personas):
    nurse = api_client_for("ben")
    dose = post(
        nurse,
        {
            "kind": "administration",
            "lot_id": lot.pk,
            "patient_id": patient.pk,
            "quantity_mg": "475",
            "quantity_ml": "9.5",
            "session_ref": "sess-42",
        },
        HTTP_IDEMPOTENCY_KEY="dose-1",
    )
    assert dose.status_code == 201
    body = dose.json()
    assert (body["session_ref"], body["sealed_delta"], body["ml_delta"]) == ("sess-42", -1, "0.50")
    vial = Container.objects.get()
    waste = {
        "kind": "waste",
        "container_id": vial.pk,
        "quantity_ml": "0.5",
        "quantity_mg": "25",
        "witness_email": "ivy@example.org",
        "witness_password": "wrong-wrong-wrong",
    }
    refused = post(nurse, waste, HTTP_IDEMPOTENCY_KEY="waste-1")
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["detail"]] == ["witness_password"]
    done = post(nurse, waste | {"witness_password": PASSWORD}, HTTP_IDEMPOTENCY_KEY="waste-1")
    assert done.status_code == 201
    assert done.json()["witness_id"] == personas["ivy"].pk
    fix = post(api_client_for("ada"), {"kind": "correction", "corrects_id": done.json()["id"], "reason": "Not wasted"})
    assert fix.status_code == 201
    assert (fix.json()["corrects_id"], fix.json()["ml_delta"]) == (done.json()["id"], "0.50")
    vial.refresh_from_db()
    assert vial.remaining_ml == D("0.50")
    assert verify_balances(lot.location) == []


def test_transfer_disposal_and_adjustment_through_the_api(api_client_for, lot, second_location):
    ivy = api_client_for("ivy")
    moved = post(ivy, {"kind": "transfer", "lot_id": lot.pk, "to_location_id": second_location.pk, "units": 1})
    assert moved.status_code == 201
    assert moved.json()["linked_entry_id"] is not None
    gone = post(
        ivy,
        {
            "kind": "disposal",
            "lot_id": lot.pk,
            "method": "destruction",
            "units": 1,
            "witness_email": "ben@example.org",
            "witness_password": PASSWORD,
            "second_witness_email": "ada@example.org",
            "second_witness_password": PASSWORD,
        },
    )
    assert gone.status_code == 201
    adjusted = post(ivy, {"kind": "adjustment", "lot_id": lot.pk, "units": -1, "reason": "Count: vial missing"})
    assert adjusted.status_code == 201
    assert Lot.objects.get(pk=lot.pk).sealed_units == 0


def test_dee_gets_404_for_harbor_objects(dee_nurse, api_client_for, lot, patient):
    client = api_client_for("dee")
    assert client.get(f"/api/v1/inventory/stock?location_id={lot.location_id}").status_code == 404
    response = post(
        client,
        {
            "kind": "administration",
            "lot_id": lot.pk,
            "patient_id": patient.pk,
            "quantity_mg": "25",
            "quantity_ml": "0.5",
        },
    )
    assert response.status_code == 404
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()
