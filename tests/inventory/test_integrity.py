"""The ledger's hard guarantees: append-only (model, queryset, PostgreSQL trigger), balances never
negative (database constraints), no overdraw under concurrent draws (PostgreSQL, threads with
their own connections), and running balances always equal a replay of the ledger (hypothesis)."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketacare.inventory import actions
from ketacare.inventory.balances import current_balances, recompute_balances, verify_balances
from ketacare.inventory.models import Container, DisposalMethod, EntryKind, LedgerEntry, LedgerImmutableError, Lot
from tests.conftest import actor_for
from tests.inventory.conftest import receive, witness

D = Decimal


# --- append-only -------------------------------------------------------------------------------


def test_entries_cannot_be_edited_or_deleted_through_the_model(lot):
    entry = LedgerEntry.objects.get()
    entry.quantity_units = 99
    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        entry.delete()
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).update(quantity_units=99)
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert LedgerEntry.objects.get().quantity_units == 3


@pytest.mark.postgres
def test_postgresql_refuses_update_and_delete_of_entries(lot):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    entry = LedgerEntry.objects.get()
    for sql in (
        "UPDATE inventory_ledgerentry SET quantity_units = 99 WHERE id = %s",
        "DELETE FROM inventory_ledgerentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert LedgerEntry.objects.get().quantity_units == 3


def test_the_database_refuses_a_negative_or_overfull_balance(actors, lot, patient):
    # bypassing the actions (a bug, a script): the CheckConstraints still hold
    with pytest.raises(IntegrityError), transaction.atomic():
        Lot.objects.filter(pk=lot.pk).update(sealed_units=-1)
    vial = actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5")).container
    with pytest.raises(IntegrityError), transaction.atomic():
        Container.objects.filter(pk=vial.pk).update(remaining_ml=D("-0.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Container.objects.filter(pk=vial.pk).update(remaining_ml=D("10.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            clinic=lot.clinic,
            location=lot.location,
            lot=lot,
            kind=EntryKind.ADJUSTMENT,
            occurred_at=vial.opened_at,
            actor=actors["ivy"].user,
            actor_label="x",
            reason="",
        )


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def draw_together(actor_user: Any, clinic: Any, vial_id: int, lot_id: int, patient_id: int, n: int) -> list[str]:
    """n nurses draw 1.5 mL (75 mg) from one vial at the same instant, each on its own connection."""
    from ketacare.patients.models import Patient

    barrier = threading.Barrier(n, timeout=15)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def draw() -> None:
        try:
            actor = actor_for(actor_user, clinic)
            lot = Lot.objects.get(pk=lot_id)
            vial = Container.objects.get(pk=vial_id)
            patient = Patient.objects.get(pk=patient_id)
            barrier.wait()
            try:
                actions.administer(actor, lot, patient, quantity_mg=D("75"), quantity_ml=D("1.5"), container=vial)
                outcomes.append("drawn")
            except ValidationError:
                outcomes.append("refused")
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=draw) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_parallel_draws_never_take_more_than_the_vial_holds(round_, actors, personas, clinic, lot, patient):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    # given a vial opened with a 0.5 mL dose: 9.5 mL left
    first = actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    vial = first.container

    # when 16 draws of 1.5 mL arrive at once (24 mL asked of 9.5 mL)
    outcomes = draw_together(personas["ben"], clinic, vial.pk, lot.pk, patient.pk, 16)

    # then exactly 6 were served (9.0 mL), the rest refused, and nothing went below zero
    assert outcomes.count("drawn") == 6
    assert outcomes.count("refused") == 10
    vial.refresh_from_db()
    assert vial.remaining_ml == D("0.50")
    drawn = LedgerEntry.objects.filter(container=vial, kind=EntryKind.ADMINISTRATION).aggregate(s=Sum("quantity_ml"))
    assert drawn["s"] == D("9.50") <= vial.content_ml
    # and the ledger balance equals receipts minus everything out, in mL
    received = LedgerEntry.objects.filter(lot=lot, kind=EntryKind.RECEIPT).aggregate(s=Sum("quantity_ml"))["s"]
    out = LedgerEntry.objects.filter(lot=lot).exclude(kind=EntryKind.RECEIPT).aggregate(s=Sum("quantity_ml"))["s"]
    lot.refresh_from_db()
    on_hand = lot.sealed_units * lot.product.container_volume_ml + vial.remaining_ml
    assert on_hand == received - out == D("20.50")
    assert verify_balances(lot.location) == []


# --- property: any sequence of valid entries ---------------------------------------------------

ML = st.integers(min_value=1, max_value=1200).map(lambda cents: D(cents) / 100)
operation = st.one_of(
    st.tuples(st.just("receive"), st.integers(1, 3)),
    st.tuples(st.just("administer"), ML, st.booleans()),
    st.tuples(st.just("waste"), ML),
    st.tuples(st.just("dispose"), st.integers(1, 3)),
    st.tuples(st.just("adjust"), st.integers(-3, 3)),
    st.tuples(st.just("adjust_ml"), st.integers(-600, 600).map(lambda cents: D(cents) / 100)),
    st.tuples(st.just("transfer"), st.integers(1, 3)),
    st.tuples(st.just("correct"), st.integers(0, 50)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_any_sequence_keeps_balances_non_negative_and_equal_to_a_replay(
    ops, actors, location, second_location, ketamine_50, patient
):
    with transaction.atomic():
        run_sequence(ops, actors, location, second_location, ketamine_50, patient)
        transaction.set_rollback(True)


def run_sequence(ops, actors, location, second_location, product, patient) -> None:  # type: ignore[no-untyped-def]
    lot = receive(actors["ivy"], location, product, packages=2).lot
    for op in ops:
        try:
            with transaction.atomic():
                apply_op(op, actors, lot, second_location, product, patient)
        except ValidationError:
            pass  # a refused request changes nothing: checked below like any other step
        for place in (location, second_location):
            assert verify_balances(place) == []
            now = current_balances(place)
            assert all(v >= 0 for v in now.lots.values())
            assert all(D(0) <= v <= product.container_volume_ml for v in now.containers.values())
        lot.refresh_from_db()


def apply_op(op, actors, lot, second_location, product, patient) -> None:  # type: ignore[no-untyped-def]
    kind = op[0]
    open_vials = list(Container.objects.filter(lot=lot, remaining_ml__gt=0).order_by("pk"))
    if kind == "receive":
        receive(actors["ivy"], lot.location, product, packages=op[1])
    elif kind == "administer":
        ml, use_open = op[1], op[2]
        container = open_vials[0] if use_open and open_vials else None
        actions.administer(actors["ben"], lot, patient, quantity_mg=ml * 50, quantity_ml=ml, container=container)
    elif kind == "waste" and open_vials:
        ml = min(op[1], open_vials[0].remaining_ml)
        actions.waste(actors["ben"], open_vials[0], quantity_mg=ml * 50, quantity_ml=ml, witness=witness("ada"))
    elif kind == "dispose":
        actions.dispose(
            actors["ivy"],
            lot,
            method=DisposalMethod.DESTRUCTION,
            units=op[1],
            witnesses=[witness("ben"), witness("ada")],
        )
    elif kind == "adjust" and op[1]:
        actions.adjust(actors["ivy"], lot, units_delta=op[1], reason="count")
    elif kind == "adjust_ml" and open_vials and op[1]:
        actions.adjust(actors["ivy"], lot, container=open_vials[0], ml_delta=op[1], reason="count")
    elif kind == "transfer":
        actions.transfer(actors["ivy"], lot, second_location, units=op[1])
    elif kind == "correct":
        candidates = list(
            LedgerEntry.objects.filter(lot=lot, corrects__isnull=True, correction__isnull=True)
            .exclude(kind__in=[EntryKind.TRANSFER_OUT, EntryKind.TRANSFER_IN])
            .order_by("pk")
        )
        if candidates:
            actions.correct(actors["ivy"], candidates[op[1] % len(candidates)], reason="mistake")


def test_recompute_from_scratch_ignores_the_running_rows(actors, lot, patient):
    actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    # a running row damaged behind the actions' back is caught by the replay
    Lot.objects.filter(pk=lot.pk).update(sealed_units=3)
    assert verify_balances(lot.location) == [f"lot {lot.pk}: row 3 != ledger 2"]
    assert recompute_balances(lot.location).lots == {lot.pk: 2}
