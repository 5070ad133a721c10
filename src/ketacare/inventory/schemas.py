"""Shapes of /api/v1/inventory: stock, lots and ledger entries."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Literal

from ninja import Schema
from pydantic import Field

EntryKindIn = Literal["receipt", "administration", "waste", "disposal", "transfer", "adjustment", "correction"]


class VialOut(Schema):
    id: int
    number: int
    content_ml: Decimal
    remaining_ml: Decimal


class LotOut(Schema):
    id: int
    location_id: int
    product_id: int
    lot_number: str
    expiry_date: datetime.date
    status: Literal["ok", "soon", "expired"]
    sealed_units: int
    opened_vials: list[VialOut]
    on_hand_ml: Decimal
    on_hand_mg: Decimal


class ProductOut(Schema):
    id: int
    name: str
    ndc: str
    substance: str
    schedule: str
    form: str
    strength_mg: Decimal
    container_volume_ml: Decimal
    concentration_mg_per_ml: Decimal
    units_per_package: int


class ProductStockOut(Schema):
    product: ProductOut
    sealed_units: int
    on_hand_mg: Decimal
    lots: list[LotOut]


class LocationOut(Schema):
    id: int
    name: str
    dea_registration: str


class StockOut(Schema):
    location: LocationOut
    as_of: datetime.date
    products: list[ProductStockOut]


class EntryIn(Schema):
    """One ledger entry. `kind` decides which fields are required; a missing one is a 422 naming it.

    receipt: location_id, product_id, lot_number, expiry_date, packages, received_on, supplier_*,
    invoice_number. administration: lot_id, patient_id, quantity_mg, quantity_ml (container_id to draw
    from an opened vial; none opens a new one), session_ref. waste: container_id, quantity_mg,
    quantity_ml, witness_email, witness_password. disposal: lot_id, method, units or container_id,
    witness(es), counterparty_* for a reverse distributor. transfer: lot_id, to_location_id, units.
    adjustment: lot_id, reason, units (signed) or container_id + quantity_ml (signed). correction:
    corrects_id, reason.
    """

    kind: EntryKindIn
    location_id: int | None = None
    product_id: int | None = None
    lot_id: int | None = None
    container_id: int | None = None
    patient_id: int | None = None
    session_ref: str | None = Field(None, max_length=64)
    quantity_mg: Decimal | None = None
    quantity_ml: Decimal | None = None
    units: int | None = None
    lot_number: str = Field("", max_length=40)
    expiry_date: datetime.date | None = None
    packages: int | None = None
    received_on: datetime.date | None = None
    supplier_name: str = Field("", max_length=200)
    supplier_address: str = Field("", max_length=300)
    supplier_dea: str = Field("", max_length=9)
    invoice_number: str = Field("", max_length=60)
    witness_email: str = Field("", max_length=254)
    witness_password: str = Field("", max_length=200)
    second_witness_email: str = Field("", max_length=254)
    second_witness_password: str = Field("", max_length=200)
    method: str = ""
    counterparty_name: str = Field("", max_length=200)
    counterparty_address: str = Field("", max_length=300)
    counterparty_dea: str = Field("", max_length=9)
    document_number: str = Field("", max_length=60)
    to_location_id: int | None = None
    corrects_id: int | None = None
    reason: str = Field("", max_length=2000)


class EntryOut(Schema):
    id: int
    kind: str
    location_id: int
    lot_id: int
    lot_number: str
    product_id: int
    container_id: int | None
    sealed_delta: int
    ml_delta: Decimal
    quantity_units: int
    quantity_ml: Decimal
    quantity_mg: Decimal
    occurred_at: datetime.datetime
    actor_id: int
    actor_label: str
    witness_id: int | None
    second_witness_id: int | None
    patient_id: int | None
    session_ref: str | None
    counterparty_name: str
    counterparty_address: str
    counterparty_dea: str
    document_number: str
    received_on: datetime.date | None
    disposal_method: str
    peer_location_id: int | None
    transfer_peer_id: int | None
    corrects_id: int | None
    reason: str
    linked_entry_id: int | None = None
