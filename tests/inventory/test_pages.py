"""Ledger pages: who sees and does what (every role, anonymous, Dee of another clinic), the
receive / draw / waste flows through the forms, the lot history's running balance, query counts."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.balances import verify_balances
from ketacare.inventory.models import Container, EntryKind, LedgerEntry, Lot
from tests.conftest import PASSWORD
from tests.inventory.conftest import SUPPLIER, witness

D = Decimal
VIEWERS = {"ada", "ben", "ivy", "aud"}
ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]


def expected(persona: str, allowed: set[str]) -> int:
    if persona == "anon":
        return 302
    return 200 if persona in allowed else 403


@pytest.fixture
def vial(actors, lot, patient):
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("475"), quantity_ml=D("9.5")).container


@pytest.mark.parametrize("persona", ALL)
def test_who_sees_and_opens_each_page(persona, client_for, lot, vial):
    client = client_for(persona)
    assert client.get(reverse("inventory-stock")).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-lot", args=[lot.pk])).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-receive")).status_code == expected(persona, {"ivy"})
    assert client.get(reverse("inventory-administer")).status_code == expected(persona, {"ada", "ben"})
    assert client.get(reverse("inventory-waste", args=[vial.pk])).status_code == expected(persona, {"ada", "ben"})


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud", "dee", "anon"])
def test_who_may_not_receive_changes_nothing(persona, client_for, location, ketamine_50):
    response = client_for(persona).post(
        reverse("inventory-receive") + f"?location={location.pk}", receive_form(ketamine_50)
    )
    assert response.status_code in (302, 403)
    assert not LedgerEntry.objects.exists()
    assert not Lot.objects.exists()


@pytest.mark.parametrize("persona", ["ann", "tess", "cy", "ivy", "aud", "dee", "anon"])
def test_who_may_not_draw_or_waste_changes_nothing(persona, client_for, lot, vial, patient):
    client = client_for(persona)
    before = LedgerEntry.objects.count()
    client.post(reverse("inventory-administer"), draw_form(f"vial:{vial.pk}", patient))
    client.post(reverse("inventory-waste", args=[vial.pk]), waste_form("ada"))
    assert LedgerEntry.objects.count() == before
    vial.refresh_from_db()
    assert vial.remaining_ml == D("0.50")


def test_dee_gets_404_for_another_clinics_lot_and_vial(dee_nurse, client_for, lot, vial, patient):
    client = client_for("dee")
    assert client.get(reverse("inventory-lot", args=[lot.pk])).status_code == 404
    assert client.get(reverse("inventory-waste", args=[vial.pk])).status_code == 404
    assert client.post(reverse("inventory-waste", args=[vial.pk]), waste_form("ada")).status_code == 404
    assert client.post(reverse("inventory-administer"), draw_form(f"vial:{vial.pk}", patient)).status_code == 404
    assert not LedgerEntry.objects.filter(kind=EntryKind.WASTE).exists()


def test_dee_as_inventory_manager_sees_nothing_of_harbor(dee_inventory, client_for, lot, location):
    client = client_for("dee")
    assert client.get(reverse("inventory-lot", args=[lot.pk])).status_code == 404
    assert client.get(reverse("inventory-stock") + f"?location={location.pk}").status_code == 404
    page = client.get(reverse("inventory-stock"))
    assert page.status_code == 200
    assert lot.lot_number not in page.content.decode()


def receive_form(product, **overrides):
    return {
        "product": product.pk,
        "lot_number": "NEW-7",
        "expiry_date": "2030-01-31",
        "packages": "2",
        "received_on": "2026-11-02",
        "form_token": str(uuid.uuid4()),
        **SUPPLIER,
        **overrides,
    }


def draw_form(source, patient, mg="25", ml="0.5"):
    return {"mrn": patient.mrn, "source": source, "quantity_mg": mg, "quantity_ml": ml, "form_token": str(uuid.uuid4())}


def waste_form(witness_key, password=PASSWORD, ml="0.5", mg="25"):
    return {
        "quantity_ml": ml,
        "quantity_mg": mg,
        "witness_email": f"{witness_key}@example.org",
        "witness_password": password,
        "form_token": str(uuid.uuid4()),
    }


def test_receive_through_the_form_once_even_if_sent_twice(client_for, location, ketamine_50):
    client = client_for("ivy")
    data = receive_form(ketamine_50)
    url = reverse("inventory-receive") + f"?location={location.pk}"
    first = client.post(url, data)
    second = client.post(url, data)
    lot = Lot.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == reverse("inventory-lot", args=[lot.pk])
    assert lot.sealed_units == 2
    assert LedgerEntry.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="ledger_entry.recorded").count() == 1


def test_receive_form_shows_field_errors(client_for, location, ketamine_50):
    response = client_for("ivy").post(
        reverse("inventory-receive") + f"?location={location.pk}", receive_form(ketamine_50, supplier_dea="XX0000001")
    )
    assert response.status_code == 422
    assert "not a valid DEA number" in response.context["form"].errors["supplier_dea"][0]
    assert not LedgerEntry.objects.exists()


def test_draw_a_dose_then_waste_the_remainder_with_a_witness(client_for, lot, patient, personas):
    nurse = client_for("ben")
    draw = reverse("inventory-administer") + f"?location={lot.location_id}"
    page = nurse.get(draw)
    assert f"lot:{lot.pk}" in page.content.decode()

    # a new vial for a 0.7 mL (35 mg) dose
    response = nurse.post(draw, draw_form(f"lot:{lot.pk}", patient, "35", "0.7"))
    assert response.status_code == 302
    vial = Container.objects.get()
    assert vial.remaining_ml == D("9.30")

    # a mismatch is refused on the mg field
    bad = nurse.post(draw, draw_form(f"vial:{vial.pk}", patient, "35", "0.07"))
    assert bad.status_code == 422
    assert "does not match" in bad.context["form"].errors["quantity_mg"][0]

    # a wrong witness password is refused, and the password is not sent back
    wrong = nurse.post(reverse("inventory-waste", args=[vial.pk]), waste_form("ada", "nope-nope-nope", "9.3", "465"))
    assert wrong.status_code == 422
    assert "wrong" in wrong.context["form"].errors["witness_password"][0]
    assert "nope-nope-nope" not in wrong.content.decode()

    done = nurse.post(reverse("inventory-waste", args=[vial.pk]), waste_form("ada", PASSWORD, "9.3", "465"))
    assert done.status_code == 302
    vial.refresh_from_db()
    assert vial.remaining_ml == 0
    waste = LedgerEntry.objects.get(kind=EntryKind.WASTE)
    assert (waste.witness, waste.actor, waste.patient) == (personas["ada"], personas["ben"], patient)
    assert verify_balances(lot.location) == []


def test_an_expired_lot_is_flagged_and_not_offered(actors, client_for, location, ketamine_50, patient):
    import time_machine

    with time_machine.travel(datetime.datetime(2026, 11, 1, 12, tzinfo=datetime.UTC)):
        from tests.inventory.conftest import receive

        old = receive(
            actors["ivy"],
            location,
            ketamine_50,
            lot_number="OLD",
            expiry_date=datetime.date(2026, 11, 20),
            received_on=datetime.date(2026, 10, 30),
        ).lot
        soon = receive(
            actors["ivy"],
            location,
            ketamine_50,
            lot_number="SOON",
            expiry_date=datetime.date(2027, 1, 5),
            received_on=datetime.date(2026, 10, 30),
        ).lot
    with time_machine.travel(datetime.datetime(2026, 11, 24, 12, tzinfo=datetime.UTC)):
        where = f"?location={location.pk}"
        stock = client_for("ben").get(reverse("inventory-stock") + where).content.decode()
        form = client_for("ben").get(reverse("inventory-administer") + where).content.decode()
        refused = client_for("ben").post(reverse("inventory-administer") + where, draw_form(f"lot:{old.pk}", patient))
    assert 'data-testid="expired"' in stock
    assert 'data-testid="expiring"' in stock
    assert f"lot:{old.pk}" not in form
    assert f"lot:{soon.pk}" in form
    assert refused.status_code == 422
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


def test_lot_history_shows_the_running_balance_and_is_audited(client_for, actors, lot, vial, patient):
    response = client_for("aud").get(reverse("inventory-lot", args=[lot.pk]))
    rows = response.context["rows"]
    # newest first: the 9.5 mL dose (2 sealed + 0.5 mL left in vial 1 = 20.5 mL), then the receipt (3 x 10 mL)
    assert [(r.entry.kind, r.sealed_after, r.ml_after) for r in rows] == [
        (EntryKind.ADMINISTRATION, 2, D("20.50")),
        (EntryKind.RECEIPT, 3, D("30")),
    ]
    assert patient.mrn in response.content.decode()
    event = AuditEvent.objects.get(event_type="inventory_lot.viewed")
    assert (event.actor, event.detail["patients"]) == (actors["aud"].user, [patient.pk])


def test_stock_page_query_count_does_not_grow_with_lots(
    client_for, actors, location, ketamine_50, ketamine_100, spravato, patient, django_assert_num_queries
):
    from tests.inventory.conftest import receive

    nurse = client_for("ben")

    def page():
        return nurse.get(reverse("inventory-stock") + f"?location={location.pk}")

    receive(actors["ivy"], location, ketamine_50, lot_number="A")
    page()
    with django_assert_num_queries(12) as few:
        page()
    for n in range(4):
        lot = receive(actors["ivy"], location, ketamine_100, lot_number=f"B{n}").lot
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("10"), quantity_ml=D("0.1"))
    receive(actors["ivy"], location, spravato, lot_number="S1")
    with django_assert_num_queries(len(few.captured_queries)):
        response = page()
    assert len(response.context["products"]) == 3
    assert response.content.decode().count('data-testid="vial"') == 4


def test_wrong_witness_passwords_are_audited_and_stop_after_five(client_for, vial, personas):
    nurse = client_for("ben")
    url = reverse("inventory-waste", args=[vial.pk])
    for _ in range(5):
        assert nurse.post(url, waste_form("ada", "guess-guess-guess")).status_code == 422
    refusals = AuditEvent.objects.filter(event_type="inventory_witness.refused")
    assert refusals.count() == 5
    assert refusals.first().detail == {"witness_email": "ada@example.org"}
    # now even the right password is refused for Ada for a while; another witness still works
    blocked = nurse.post(url, waste_form("ada"))
    assert blocked.status_code == 422
    assert "Too many wrong passwords" in blocked.context["form"].errors["witness_password"][0]
    assert not LedgerEntry.objects.filter(kind=EntryKind.WASTE).exists()
    assert nurse.post(url, waste_form("ivy")).status_code == 302


def test_lot_history_query_count_does_not_grow_with_entries(
    client_for, actors, lot, patient, django_assert_num_queries
):
    auditor = client_for("aud")
    url = reverse("inventory-lot", args=[lot.pk])
    auditor.get(url)
    with django_assert_num_queries(13):  # session, user, membership, device, alerts badge, audit row, ...
        auditor.get(url)
    vial = actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5")).container
    for _ in range(5):
        actions.administer(actors["ada"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"), container=vial)
    actions.waste(actors["ben"], vial, quantity_mg=D("350"), quantity_ml=D("7"), witness=witness("ada"))
    with django_assert_num_queries(13):
        response = auditor.get(url)
    assert len(response.context["rows"]) == 8
