"""Inventory fixtures: Harbor Light's two registrant locations, three CIII products, a witness
helper, and Dee promoted to inventory manager of Northside (so 404 can be told from 403)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Clinic, Location
from ketacare.inventory import actions
from ketacare.inventory.models import DosageForm, LedgerEntry, Lot, Product, Substance
from tests.conftest import PASSWORD

SUPPLIER = {
    "supplier_name": "Henry Schein Medical",
    "supplier_address": "135 Duryea Rd, Melville, NY 11747",
    "supplier_dea": "RC7654329",
    "invoice_number": "INV-1001",
}
EXPIRY = datetime.date(2030, 6, 30)


def witness(key: str, password: str = PASSWORD) -> actions.WitnessSignature:
    return actions.WitnessSignature(email=f"{key}@example.org", password=password)


@pytest.fixture
def location(clinic: Clinic) -> Location:
    main = Location.objects.get(clinic=clinic, name="Main Street")
    main.dea_registration = "FH1234563"
    main.save(update_fields=["dea_registration"])
    return main


@pytest.fixture
def second_location(clinic: Clinic) -> Location:
    return Location.objects.create(clinic=clinic, name="Lakeside", dea_registration="BL2222228")


@pytest.fixture
def ketamine_50(clinic: Clinic, location: Location, second_location: Location) -> Product:
    product = Product.objects.create(
        clinic=clinic,
        name="Ketamine HCl injection",
        ndc="0409-2051-05",
        substance=Substance.KETAMINE,
        form=DosageForm.VIAL,
        strength_mg=Decimal("50"),
        container_volume_ml=Decimal("10"),
        units_per_package=1,
    )
    product.locations.add(location, second_location)
    return product


@pytest.fixture
def ketamine_100(clinic: Clinic, location: Location) -> Product:
    product = Product.objects.create(
        clinic=clinic,
        name="Ketamine HCl injection",
        ndc="0409-2053-10",
        substance=Substance.KETAMINE,
        form=DosageForm.VIAL,
        strength_mg=Decimal("100"),
        container_volume_ml=Decimal("5"),
        units_per_package=10,
    )
    product.locations.add(location)
    return product


@pytest.fixture
def spravato(clinic: Clinic, location: Location) -> Product:
    product = Product.objects.create(
        clinic=clinic,
        name="Spravato 56 mg kit",
        ndc="50458-028-02",
        substance=Substance.ESKETAMINE,
        form=DosageForm.NASAL_DEVICE,
        strength_mg=Decimal("28"),
        container_volume_ml=Decimal("0.2"),
        units_per_package=2,
    )
    product.locations.add(location)
    return product


def receive(actor: Any, location: Location, product: Product, **overrides: Any) -> LedgerEntry:
    values: dict[str, Any] = {
        "lot_number": "KX1001",
        "expiry_date": EXPIRY,
        "packages": 1,
        "received_on": datetime.date(2026, 11, 2),
        **SUPPLIER,
    }
    values.update(overrides)
    return actions.receive_stock(actor, location, product, **values)


@pytest.fixture
def lot(actors: dict[str, Any], location: Location, ketamine_50: Product) -> Lot:
    """Lot KX1001: 3 sealed 10 mL vials of ketamine 50 mg/mL, received by Ivy."""
    return receive(actors["ivy"], location, ketamine_50, packages=3).lot


@pytest.fixture
def dee_inventory(personas: dict[str, Any], other_clinic: Clinic) -> None:
    """Dee manages Northside's stock: she holds the inventory permissions, only elsewhere."""
    Membership.objects.filter(user=personas["dee"], clinic=other_clinic).update(role=Role.INVENTORY)


@pytest.fixture
def dee_nurse(personas: dict[str, Any], other_clinic: Clinic) -> None:
    """Dee is a nurse at Northside: she may administer and waste, only there."""
    Membership.objects.filter(user=personas["dee"], clinic=other_clinic).update(role=Role.NURSE)
