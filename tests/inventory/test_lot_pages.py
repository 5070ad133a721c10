"""Lot pages of the inventory manager and of whoever made a mistake: transfer, dispose, correct."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.balances import verify_balances
from ketacare.inventory.models import DisposalMethod, EntryKind, LedgerEntry, Lot
from tests.conftest import PASSWORD

D = Decimal
ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]


def status_for(persona: str, allowed: set[str]) -> int:
    if persona == "anon":
        return 302
    return 200 if persona in allowed else 403


@pytest.fixture
def dose(actors, lot, patient):
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))


@pytest.mark.parametrize("persona", ALL)
def test_who_opens_transfer_dispose_and_correct(persona, client_for, lot, dose, second_location):
    client = client_for(persona)
    assert client.get(reverse("inventory-transfer", args=[lot.pk])).status_code == status_for(persona, {"ivy"})
    assert client.get(reverse("inventory-dispose", args=[lot.pk])).status_code == status_for(persona, {"ivy"})
    # Ben recorded the dose; Ada (prescriber) and Ivy investigate; the auditor only reads.
    assert client.get(reverse("inventory-correct", args=[dose.pk])).status_code == status_for(
        persona, {"ben", "ada", "ivy"}
    )


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud", "dee", "anon"])
def test_who_may_not_transfer_or_dispose_changes_nothing(persona, client_for, lot, second_location):
    client = client_for(persona)
    client.post(reverse("inventory-transfer", args=[lot.pk]), {"to_location": second_location.pk, "units": 1})
    client.post(
        reverse("inventory-dispose", args=[lot.pk]),
        {"method": "destruction", "source": "sealed", "units": 1, "witness_email": "ben@example.org"},
    )
    assert Lot.objects.get(pk=lot.pk).sealed_units == 3
    assert LedgerEntry.objects.count() == 1


def test_dee_gets_404(dee_inventory, client_for, lot, dose):
    client = client_for("dee")
    assert client.get(reverse("inventory-transfer", args=[lot.pk])).status_code == 404
    assert client.get(reverse("inventory-dispose", args=[lot.pk])).status_code == 404
    assert client.get(reverse("inventory-correct", args=[dose.pk])).status_code == 404


def test_transfer_page(client_for, lot, second_location):
    response = client_for("ivy").post(
        reverse("inventory-transfer", args=[lot.pk]),
        {"to_location": second_location.pk, "units": 2, "form_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    assert Lot.objects.get(pk=lot.pk).sealed_units == 1
    assert Lot.objects.get(location=second_location).sealed_units == 2
    assert verify_balances(second_location) == []


def test_destruction_page_needs_two_witnesses(client_for, lot):
    url = reverse("inventory-dispose", args=[lot.pk])
    base = {
        "method": DisposalMethod.DESTRUCTION,
        "source": "sealed",
        "units": "1",
        "witness_email": "ben@example.org",
        "witness_password": PASSWORD,
        "document_number": "F41-1",
        "reason": "Expired",
    }
    one = client_for("ivy").post(url, base | {"form_token": str(uuid.uuid4())})
    assert one.status_code == 422
    assert "second_witness_email" in one.context["form"].errors
    two = client_for("ivy").post(
        url,
        base
        | {
            "second_witness_email": "ada@example.org",
            "second_witness_password": PASSWORD,
            "form_token": str(uuid.uuid4()),
        },
    )
    assert two.status_code == 302
    entry = LedgerEntry.objects.get(kind=EntryKind.DISPOSAL)
    assert (entry.quantity_units, entry.witness.email, entry.second_witness.email) == (
        1,
        "ben@example.org",
        "ada@example.org",
    )


def test_correction_page_and_the_history_marks_it(client_for, lot, dose):
    history = client_for("ben").get(reverse("inventory-lot", args=[lot.pk]))
    assert reverse("inventory-correct", args=[dose.pk]) in history.content.decode()
    # the receipt was Ivy's: Ben may not correct it, so no link for it
    receipt = LedgerEntry.objects.get(kind=EntryKind.RECEIPT)
    assert reverse("inventory-correct", args=[receipt.pk]) not in history.content.decode()

    empty = client_for("ben").post(reverse("inventory-correct", args=[dose.pk]), {"reason": ""})
    assert empty.status_code == 422
    done = client_for("ben").post(
        reverse("inventory-correct", args=[dose.pk]), {"reason": "Wrong patient", "form_token": str(uuid.uuid4())}
    )
    assert done.status_code == 302
    reversal = LedgerEntry.objects.get(corrects=dose)
    assert reversal.reason == "Wrong patient"
    assert AuditEvent.objects.filter(event_type="ledger_entry.corrected", subject_id=str(reversal.pk)).exists()
    page = client_for("ben").get(reverse("inventory-lot", args=[lot.pk])).content.decode()
    assert "Corrected" in page
    assert reverse("inventory-correct", args=[dose.pk]) not in page
    assert verify_balances(lot.location) == []
