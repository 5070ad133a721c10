"""/api/v1/inventory: stock, lots and ledger entries (schema -> access -> action -> schema).

GET /stock and /lots read the running balances; GET /entries lists a location's record; POST
/entries records one entry through the same actions as the pages, honouring `Idempotency-Key` (a
repeat returns the first result and records nothing). A refused rule is a 422 naming the field.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from ninja import Header, Query, Router

from ketacare.accounts.api_auth import actor_of
from ketacare.accounts.context import Actor
from ketacare.accounts.idempotency import fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.inventory import actions
from ketacare.inventory.access import (
    access_container,
    access_entry,
    access_location,
    access_lot,
    access_product,
    entries_of,
)
from ketacare.inventory.models import EntryKind, LedgerEntry, Product
from ketacare.inventory.queries import LotRow, stock_rows
from ketacare.inventory.schemas import EntryIn, EntryOut, LotOut, StockOut
from ketacare.patients.access import access_patient

router = Router()

PAGE_MAX = 500


def _product(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "name": product.name,
        "ndc": product.ndc,
        "substance": product.substance,
        "schedule": product.schedule,
        "form": product.form,
        "strength_mg": product.strength_mg,
        "container_volume_ml": product.container_volume_ml,
        "concentration_mg_per_ml": product.concentration_mg_per_ml.quantize(Decimal("0.01")),
        "units_per_package": product.units_per_package,
    }


def _lot(row: LotRow) -> dict[str, Any]:
    lot = row.lot
    return {
        "id": lot.pk,
        "location_id": lot.location_id,
        "product_id": lot.product_id,
        "lot_number": lot.lot_number,
        "expiry_date": lot.expiry_date,
        "status": row.status,
        "sealed_units": lot.sealed_units,
        "opened_vials": [
            {"id": v.pk, "number": v.number, "content_ml": v.content_ml, "remaining_ml": v.remaining_ml}
            for v in row.vials
        ],
        "on_hand_ml": row.on_hand_ml,
        "on_hand_mg": row.on_hand_mg,
    }


def _entry(entry: LedgerEntry, linked: LedgerEntry | None = None) -> dict[str, Any]:
    data: dict[str, Any] = EntryOut.model_validate(
        {
            **{f: getattr(entry, f) for f in EntryOut.model_fields if hasattr(entry, f) and f != "lot_number"},
            "lot_number": entry.lot.lot_number,
            "product_id": entry.lot.product_id,
            "linked_entry_id": linked.pk if linked else None,
        }
    ).model_dump(mode="json")
    return data


@router.get("/stock", response=StockOut, summary="Stock on hand at a registrant location, by product and lot")
def get_stock(request: HttpRequest, location_id: int | None = None) -> dict[str, Any]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    today = actions.clinic_today(actor)
    rows = stock_rows(location, today)
    return {
        "location": {"id": location.pk, "name": location.name, "dea_registration": location.dea_registration},
        "as_of": today,
        "products": [
            {
                "product": _product(row.product),
                "sealed_units": row.sealed,
                "on_hand_mg": row.on_hand_mg,
                "lots": [_lot(r) for r in row.lots],
            }
            for row in rows
        ],
    }


@router.get("/lots", response=list[LotOut], summary="Lots at a location with their balances")
def list_lots(
    request: HttpRequest,
    location_id: int | None = None,
    product_id: int | None = None,
    include_empty: bool = False,
) -> list[dict[str, Any]]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    rows = stock_rows(location, actions.clinic_today(actor), include_empty=include_empty)
    return [_lot(r) for row in rows for r in row.lots if product_id is None or row.product.pk == product_id]


@router.get("/entries", response=list[EntryOut], summary="Ledger entries of a location, oldest first")
def list_entries(
    request: HttpRequest,
    location_id: int | None = None,
    lot_id: int | None = None,
    kind: EntryKind | None = None,
    since: datetime.date | None = None,
    until: datetime.date | None = None,
    after_id: int = Query(0, ge=0, description="Page on: the last id of the previous page"),  # type: ignore[type-arg]
) -> list[dict[str, Any]]:
    actor = actor_of(request)
    location = access_location(actor, location_id)
    rows = entries_of(actor).filter(location=location, pk__gt=after_id).select_related("lot")
    if lot_id is not None:
        rows = rows.filter(lot=access_lot(actor, lot_id))
    if kind:
        rows = rows.filter(kind=kind)
    zone = actor.clinic.zone
    if since:
        rows = rows.filter(occurred_at__gte=datetime.datetime.combine(since, datetime.time.min, zone))
    if until:
        rows = rows.filter(
            occurred_at__lt=datetime.datetime.combine(until + datetime.timedelta(days=1), datetime.time.min, zone)
        )
    result = [_entry(e) for e in rows.order_by("id")[:PAGE_MAX]]
    record(
        actor,
        AuditAction.READ,
        "ledger_entry.listed",
        detail={"location": location.pk, "lot": lot_id, "kind": kind or "", "rows_returned": len(result)},
    )
    return result


def _need(payload: EntryIn, *names: str) -> None:
    missing = {n: "Required for this kind of entry." for n in names if getattr(payload, n) in (None, "")}
    if missing:
        raise ValidationError(missing)


def _witnesses(payload: EntryIn) -> list[actions.WitnessSignature]:
    found = [actions.WitnessSignature(payload.witness_email, payload.witness_password)]
    if payload.second_witness_email or payload.second_witness_password:
        found.append(actions.WitnessSignature(payload.second_witness_email, payload.second_witness_password))
    return [w for w in found if w.email or w.password]


def _record(actor: Actor, p: EntryIn) -> tuple[LedgerEntry, LedgerEntry | None]:
    """Dispatch one API entry to its action (each checks its own permission and rules)."""
    if p.kind == "receipt":
        _need(p, "product_id", "lot_number", "expiry_date", "packages", "received_on")
        location = access_location(actor, p.location_id, Perm.INVENTORY_RECEIVE)
        product = access_product(actor, p.product_id, Perm.INVENTORY_RECEIVE)  # type: ignore[arg-type]
        entry = actions.receive_stock(
            actor,
            location,
            product,
            lot_number=p.lot_number,
            expiry_date=p.expiry_date,  # type: ignore[arg-type]
            packages=p.packages,  # type: ignore[arg-type]
            supplier_name=p.supplier_name,
            supplier_address=p.supplier_address,
            supplier_dea=p.supplier_dea,
            invoice_number=p.invoice_number,
            received_on=p.received_on,  # type: ignore[arg-type]
        )
        return entry, None
    if p.kind == "administration":
        _need(p, "patient_id", "quantity_mg", "quantity_ml")
        if p.container_id is not None:
            vial = access_container(actor, p.container_id, Perm.INVENTORY_ADMINISTER)
            lot, container = vial.lot, vial
        else:
            _need(p, "lot_id")
            lot, container = access_lot(actor, p.lot_id, Perm.INVENTORY_ADMINISTER), None  # type: ignore[arg-type]
        patient = access_patient(actor, p.patient_id)  # type: ignore[arg-type]
        entry = actions.administer(
            actor,
            lot,
            patient,
            quantity_mg=p.quantity_mg,  # type: ignore[arg-type]
            quantity_ml=p.quantity_ml,  # type: ignore[arg-type]
            container=container,
            session_ref=p.session_ref,
        )
        return entry, None
    if p.kind == "waste":
        _need(p, "container_id", "quantity_mg", "quantity_ml", "witness_email", "witness_password")
        vial = access_container(actor, p.container_id, Perm.INVENTORY_ADMINISTER)  # type: ignore[arg-type]
        entry = actions.waste(
            actor,
            vial,
            quantity_mg=p.quantity_mg,  # type: ignore[arg-type]
            quantity_ml=p.quantity_ml,  # type: ignore[arg-type]
            witness=actions.WitnessSignature(p.witness_email, p.witness_password),
            reason=p.reason,
        )
        return entry, None
    if p.kind == "disposal":
        _need(p, "lot_id", "method")
        lot = access_lot(actor, p.lot_id, Perm.INVENTORY_RECEIVE)  # type: ignore[arg-type]
        container = access_container(actor, p.container_id, Perm.INVENTORY_RECEIVE) if p.container_id else None
        entry = actions.dispose(
            actor,
            lot,
            method=p.method,
            witnesses=_witnesses(p),
            units=p.units or 0,
            container=container,
            counterparty_name=p.counterparty_name,
            counterparty_address=p.counterparty_address,
            counterparty_dea=p.counterparty_dea,
            document_number=p.document_number,
            reason=p.reason,
        )
        return entry, None
    if p.kind == "transfer":
        _need(p, "lot_id", "to_location_id", "units")
        lot = access_lot(actor, p.lot_id, Perm.INVENTORY_RECEIVE)  # type: ignore[arg-type]
        to_location = access_location(actor, p.to_location_id, Perm.INVENTORY_RECEIVE)
        out, into = actions.transfer(actor, lot, to_location, units=p.units, reason=p.reason)  # type: ignore[arg-type]
        return out, into
    if p.kind == "adjustment":
        _need(p, "lot_id", "reason")
        lot = access_lot(actor, p.lot_id, Perm.INVENTORY_COUNT)  # type: ignore[arg-type]
        if p.container_id is not None:
            _need(p, "quantity_ml")
            vial = access_container(actor, p.container_id, Perm.INVENTORY_COUNT)
            entry = actions.adjust(actor, lot, reason=p.reason, container=vial, ml_delta=p.quantity_ml)  # type: ignore[arg-type]
        else:
            entry = actions.adjust(actor, lot, reason=p.reason, units_delta=p.units or 0)
        return entry, None
    _need(p, "corrects_id", "reason")
    original = access_entry(actor, p.corrects_id)  # type: ignore[arg-type]
    return actions.correct(actor, original, reason=p.reason), original


@router.post("/entries", response={201: EntryOut, 200: EntryOut}, summary="Record a ledger entry")
def create_entry(
    request: HttpRequest,
    payload: EntryIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=200),  # type: ignore[type-arg]
) -> tuple[int, Any]:
    actor = actor_of(request)

    def effect() -> tuple[int, Any]:
        entry, linked = _record(actor, payload)
        return 201, _entry(entry, linked)

    try:
        if idempotency_key:
            # The fingerprint leaves the witnesses' passwords out.
            body = payload.dict(exclude={"witness_password", "second_witness_password"})
            outcome = run_once(actor, f"api:inventory.entries:{idempotency_key}", fingerprint(body), effect)
            return (200 if outcome.replayed else outcome.status_code), outcome.body
        with transaction.atomic():
            return effect()
    except actions.WitnessRefused as exc:
        actions.audit_witness_refusal(actor, exc)  # after the rollback, so the refusal is kept and counted
        raise


router.add_router("", "ketacare.inventory.report_api.report_router")
router.add_router("", "ketacare.inventory.count_api.count_router")
