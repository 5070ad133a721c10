"""Guarded fetches for the ledger: INVENTORY_VIEW (or the named permission) and the actor's clinic.

A role without the permission gets PermissionDenied (403); a location, lot, vial or entry that is
missing or in another clinic gets Http404, indistinguishably.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.clinics.models import Location
from ketacare.inventory.models import Container, LedgerEntry, Lot, Product


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


def locations_of(actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> QuerySet[Location]:
    """The clinic's active locations that hold controlled substances (a DEA registration)."""
    _require(actor, perm)
    return Location.objects.filter(clinic=actor.clinic, is_active=True).exclude(dea_registration="")


def access_location(actor: Actor, location_id: int | str | None, perm: str = Perm.INVENTORY_VIEW) -> Location:
    """The named registrant location, or the clinic's first one when `location_id` is empty."""
    locations = locations_of(actor, perm).order_by("name", "pk")
    if location_id in (None, ""):
        location = locations.first()
    else:
        try:
            location = locations.filter(pk=int(location_id)).first()  # type: ignore[arg-type]
        except (TypeError, ValueError):
            location = None
    if location is None:
        raise Http404("No such location.")
    return location


def products_of(actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> QuerySet[Product]:
    _require(actor, perm)
    return Product.objects.filter(clinic=actor.clinic)


def access_product(actor: Actor, product_id: int, perm: str = Perm.INVENTORY_VIEW) -> Product:
    product = products_of(actor, perm).filter(pk=product_id).first()
    if product is None:
        raise Http404("No such product.")
    return product


def lots_of(actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> QuerySet[Lot]:
    _require(actor, perm)
    return Lot.objects.filter(clinic=actor.clinic)


def access_lot(actor: Actor, lot_id: int, perm: str = Perm.INVENTORY_VIEW) -> Lot:
    lot = lots_of(actor, perm).select_related("product", "location").filter(pk=lot_id).first()
    if lot is None:
        raise Http404("No such lot.")
    return lot


def access_container(actor: Actor, container_id: int, perm: str = Perm.INVENTORY_VIEW) -> Container:
    _require(actor, perm)
    container = (
        Container.objects.filter(clinic=actor.clinic, pk=container_id)
        .select_related("lot", "lot__product", "lot__location")
        .first()
    )
    if container is None:
        raise Http404("No such vial.")
    return container


def entries_of(actor: Actor, perm: str = Perm.INVENTORY_VIEW) -> QuerySet[LedgerEntry]:
    _require(actor, perm)
    return LedgerEntry.objects.filter(clinic=actor.clinic)


def access_entry(actor: Actor, entry_id: int, perm: str = Perm.INVENTORY_VIEW) -> LedgerEntry:
    entry = entries_of(actor, perm).select_related("lot", "lot__product", "container").filter(pk=entry_id).first()
    if entry is None:
        raise Http404("No such entry.")
    return entry
