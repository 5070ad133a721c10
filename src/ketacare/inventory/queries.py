"""Read models of the ledger shared by the pages and the API: stock per location, by product and lot."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Q

from ketacare.inventory.models import Container, Lot, Product

EXPIRING_SOON_DAYS = 60  # flag on the stock page; a display choice, not a regulatory figure


@dataclass
class LotRow:
    lot: Lot
    vials: list[Container]
    status: str  # ok, soon, expired
    on_hand_ml: Decimal
    on_hand_mg: Decimal


@dataclass
class ProductRow:
    product: Product
    lots: list[LotRow] = field(default_factory=list)

    @property
    def sealed(self) -> int:
        return sum(r.lot.sealed_units for r in self.lots)

    @property
    def on_hand_mg(self) -> Decimal:
        return sum((r.on_hand_mg for r in self.lots), Decimal("0"))


def stock_rows(location: Any, today: datetime.date, *, include_empty: bool = False) -> list[ProductRow]:
    """Products stocked at the location, each with its lots (any stock left) and opened vials."""
    products = list(Product.objects.filter(locations=location).order_by("substance", "name", "pk"))
    vials: dict[int, list[Container]] = defaultdict(list)
    for vial in Container.objects.filter(lot__location=location, remaining_ml__gt=0).order_by("lot_id", "number"):
        vials[vial.lot_id].append(vial)
    lots_here = Lot.objects.filter(location=location)
    if not include_empty:  # years of used-up lots stay in the database, not on the page
        lots_here = lots_here.filter(Q(sealed_units__gt=0) | Q(pk__in=list(vials)))
    lots = list(lots_here.select_related("product").order_by("expiry_date", "pk"))
    rows = {p.pk: ProductRow(p) for p in products}
    soon = today + datetime.timedelta(days=EXPIRING_SOON_DAYS)
    for lot in lots:
        open_vials = vials.get(lot.pk, [])
        if lot.sealed_units <= 0 and not open_vials and not include_empty:
            continue
        product = lot.product
        open_ml = sum((v.remaining_ml for v in open_vials), Decimal("0"))
        on_hand_ml = Decimal(lot.sealed_units) * product.container_volume_ml + open_ml
        status = "expired" if lot.is_expired(today) else ("soon" if lot.expiry_date <= soon else "ok")
        row = rows.setdefault(product.pk, ProductRow(product))
        row.lots.append(
            LotRow(
                lot,
                open_vials,
                status,
                on_hand_ml,
                (on_hand_ml * product.concentration_mg_per_ml).quantize(Decimal("0.01")),
            )
        )
    return list(rows.values())


def period_summary(location: Any, start: datetime.datetime, end: datetime.datetime) -> list[dict[str, Any]]:
    """A location's entries in [start, end) grouped by product, lot and kind: count and unit, mL and mg
    totals (corrections are negative, so they net out). The core of the Schedule III period report."""
    from django.db.models import Count, Sum

    from ketacare.inventory.models import LedgerEntry

    return list(
        LedgerEntry.objects.filter(location=location, occurred_at__gte=start, occurred_at__lt=end)
        .values("kind", "lot_id", "lot__lot_number", "lot__product__name", "lot__product__ndc")
        .annotate(entries=Count("id"), units=Sum("quantity_units"), ml=Sum("quantity_ml"), mg=Sum("quantity_mg"))
        .order_by("lot__product__name", "lot__lot_number", "kind")
    )
