"""Balances of the Schedule III ledger: derived from entries, kept current, re-derivable from scratch.

How "no overdraw, even under concurrency" holds
-----------------------------------------------
Every change of stock is one `LedgerEntry` carrying the signed change it makes: `sealed_delta` on
its lot's sealed containers and `ml_delta` on one opened vial. Two running-balance rows hold the
sums: `Lot.sealed_units` and `Container.remaining_ml`. An action (`inventory.actions`), inside one
`transaction.atomic()`:

1. locks the rows it will change with `SELECT ... FOR UPDATE` (`lock_lots`, then `lock_container`):
   always the lot(s) first, in primary-key order, then the container, so two transactions never
   wait on each other in opposite orders (no deadlock; Saleor's `lock_objects.py` discipline);
2. checks the request against the locked, current balance (enough left, lot not expired) and
   refuses with a field error otherwise;
3. inserts the entry and applies its deltas with a relative `UPDATE ... SET x = x + delta WHERE
   x + delta >= 0` (`apply_entry`): a second guard, since a row it changed zero times means the
   balance moved under us (it cannot while we hold the lock, but a bug elsewhere would be caught).

Why a lock and not only the conditional UPDATE: the action must read the balance to choose (which
vial, whether to open a new one, the message naming what is left), and a locked read makes that
read the truth for the rest of the transaction; the conditional UPDATE alone would also never
overdraw, but would leave the "which container" decision racing. A second nurse simply waits a few
milliseconds for the first one's commit, then sees the reduced balance. On SQLite, writers
serialise at BEGIN (`transaction_mode = IMMEDIATE` in settings), which gives the same guarantee.

Third line: `CheckConstraint`s in the database (`sealed_units >= 0`, `0 <= remaining_ml <=
content_ml`) refuse any write that would make a balance negative or a vial over-full, whoever
issues it.

`recompute_balances(location)` replays the ledger from scratch (one pass over the entries, an
index-only scan on PostgreSQL) and must always equal `current_balances(location)`;
`verify_balances` lists any difference. Both list non-zero balances only: a lot or vial absent
from either holds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F
from django.db.models.functions import Round

from ketacare.clinics.models import Location
from ketacare.inventory.models import Container, LedgerEntry, Lot

CENT = Decimal("0.01")
HALF_CENT = Decimal("0.005")


@dataclass
class Balances:
    """Sealed containers per lot id, and mL left per opened vial id; only the non-zero ones."""

    lots: dict[int, int] = field(default_factory=dict)
    containers: dict[int, Decimal] = field(default_factory=dict)


def lock_lots(lot_ids: Iterable[int]) -> dict[int, Lot]:
    """Lock the lots (SELECT FOR UPDATE) in primary-key order; return them by id."""
    ids = sorted(set(lot_ids))
    locked = Lot.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    return {lot.pk: lot for lot in locked.select_related("product", "location")}


def lock_container(container_id: int) -> Container:
    """Lock one opened vial. Call after locking its lot (lot first, then container)."""
    return Container.objects.select_for_update().get(pk=container_id)


def apply_entry(entry: LedgerEntry) -> None:
    """Add the entry's deltas to the running balances, refusing a balance below zero."""
    if entry.sealed_delta:
        changed = Lot.objects.filter(pk=entry.lot_id, sealed_units__gte=-entry.sealed_delta).update(
            sealed_units=F("sealed_units") + entry.sealed_delta
        )
        if changed != 1:
            raise ValidationError({"quantity_units": "Not enough sealed containers left in this lot."})
        entry.lot.sealed_units += entry.sealed_delta  # the locked instance the caller holds
    if entry.container_id is not None and entry.ml_delta:
        # Volumes have two decimals. SQLite keeps decimals as floats, so its arithmetic drifts
        # (10 - six draws may leave 5.6099999): the stored result is rounded to the cent and the
        # guards allow half a cent, which on PostgreSQL (exact numerics) changes nothing.
        changed = Container.objects.filter(
            pk=entry.container_id,
            remaining_ml__gte=-entry.ml_delta - HALF_CENT,
            content_ml__gte=F("remaining_ml") + entry.ml_delta - HALF_CENT,
        ).update(remaining_ml=Round(F("remaining_ml") + entry.ml_delta, 2))
        if changed != 1:
            raise ValidationError({"quantity_ml": "Not that much left in this vial."})
        container = entry.container  # the locked instance the caller holds
        if container is not None:
            container.remaining_ml = (Decimal(container.remaining_ml) + entry.ml_delta).quantize(CENT)


def current_balances(location: Location) -> Balances:
    """Every non-zero running balance of a location (a lot or vial not listed holds nothing)."""
    lots = dict(Lot.objects.filter(location=location).exclude(sealed_units=0).values_list("pk", "sealed_units"))
    containers = dict(
        Container.objects.filter(lot__location=location).exclude(remaining_ml=0).values_list("pk", "remaining_ml")
    )
    return Balances(lots=lots, containers=containers)


# One pass over the location's entries (an index-only scan of `inventory_entry_replay` on
# PostgreSQL): sums per (lot, vial), then per lot; only non-zero balances come back.
REPLAY_SQL = """
WITH sums AS (
    SELECT lot_id, container_id, SUM(sealed_delta) AS sealed, SUM(ml_delta) AS ml
    FROM {table} WHERE location_id = %s
    GROUP BY lot_id, container_id
)
SELECT lot_id, NULL, SUM(sealed), 0 FROM sums GROUP BY lot_id HAVING SUM(sealed) <> 0
UNION ALL
SELECT lot_id, container_id, 0, ml FROM sums WHERE container_id IS NOT NULL AND ml <> 0
"""


def recompute_balances(location: Location) -> Balances:
    """Every non-zero balance of a location derived from its ledger entries alone (from scratch)."""
    result = Balances()
    with connection.cursor() as cursor:
        cursor.execute(REPLAY_SQL.format(table=LedgerEntry._meta.db_table), [location.pk])
        for _lot_id, container_id, sealed, ml in cursor.fetchall():
            if container_id is None:
                result.lots[_lot_id] = int(sealed)
            else:
                # Quantized: SQLite sums decimals as floats (PostgreSQL sums them exactly).
                volume = Decimal(str(ml)).quantize(CENT)
                if volume:
                    result.containers[container_id] = volume
    return result


def verify_balances(location: Location) -> list[str]:
    """Differences between the running balances and a replay of the ledger (empty when they agree)."""
    current, replay = current_balances(location), recompute_balances(location)
    problems = []
    for pk in sorted(set(current.lots) | set(replay.lots)):
        row, ledger = current.lots.get(pk, 0), replay.lots.get(pk, 0)
        if row != ledger:
            problems.append(f"lot {pk}: row {row} != ledger {ledger}")
    for pk in sorted(set(current.containers) | set(replay.containers)):
        row_ml, ledger_ml = current.containers.get(pk, Decimal("0")), replay.containers.get(pk, Decimal("0"))
        if row_ml != ledger_ml:
            problems.append(f"container {pk}: row {row_ml} != ledger {ledger_ml}")
    return problems


def lot_volume_ml(lot: Lot, open_ml: Decimal) -> Decimal:
    """mL on hand in a lot: its sealed containers full, plus what is left in its opened vials."""
    return Decimal(lot.sealed_units) * Decimal(lot.product.container_volume_ml) + open_ml
