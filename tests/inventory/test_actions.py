"""The ledger's writers: receipt, administration with the concentration check, waste with a witness,
disposal, transfer, adjustment and correction; expiry in the clinic's zone; audit rows."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.accounts.models import Membership
from ketacare.accounts.roles import Role
from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.balances import recompute_balances, verify_balances
from ketacare.inventory.models import Container, DisposalMethod, EntryKind, LedgerEntry, Lot
from tests.conftest import actor_for
from tests.inventory.conftest import receive, witness

D = Decimal


def field_of(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(exc.value.message_dict)


# --- receipt -----------------------------------------------------------------------------------


def test_receipt_records_the_dea_receipt_fields_and_adds_sealed_units(actors, location, ketamine_100):
    # when Ivy receives 2 boxes of 10 vials
    entry = receive(actors["ivy"], location, ketamine_100, packages=2, lot_number="B77")

    # then
    assert entry.kind == EntryKind.RECEIPT
    assert (entry.quantity_units, entry.quantity_ml, entry.quantity_mg) == (20, D("100.00"), D("10000.00"))
    assert (entry.counterparty_name, entry.counterparty_dea, entry.document_number) == (
        "Henry Schein Medical",
        "RC7654329",
        "INV-1001",
    )
    assert entry.lot.sealed_units == 20
    assert Lot.objects.get(pk=entry.lot_id).sealed_units == 20
    audit = AuditEvent.objects.get(event_type="ledger_entry.recorded")
    assert (audit.actor, audit.subject_id, audit.detail["kind"], audit.detail["sealed_delta"]) == (
        actors["ivy"].user,
        str(entry.pk),
        "receipt",
        20,
    )


def test_receipt_refuses_bad_dea_expired_lot_and_missing_fields(actors, location, ketamine_50):
    with pytest.raises(ValidationError) as exc:
        receive(
            actors["ivy"],
            location,
            ketamine_50,
            supplier_dea="RC7654321",
            expiry_date=datetime.date(2020, 1, 31),
            invoice_number="",
            packages=0,
        )
    assert field_of(exc) == {"supplier_dea", "expiry_date", "invoice_number", "packages"}
    assert not LedgerEntry.objects.exists()


def test_a_second_receipt_of_a_lot_must_carry_the_same_expiry(actors, location, ketamine_50):
    receive(actors["ivy"], location, ketamine_50)
    with pytest.raises(ValidationError) as exc:
        receive(actors["ivy"], location, ketamine_50, expiry_date=datetime.date(2031, 1, 31))
    assert field_of(exc) == {"expiry_date"}
    assert Lot.objects.get().sealed_units == 1


def test_only_the_inventory_manager_receives(actors, location, ketamine_50):
    for key in ("ann", "ada", "ben", "tess", "cy", "aud"):
        with pytest.raises(PermissionDenied):
            receive(actors[key], location, ketamine_50)
    assert not LedgerEntry.objects.exists()


def test_a_location_without_a_dea_number_holds_no_stock(actors, clinic, ketamine_50):
    from ketacare.clinics.models import Location

    plain = Location.objects.create(clinic=clinic, name="Annex")
    ketamine_50.locations.add(plain)
    with pytest.raises(ValidationError) as exc:
        receive(actors["ivy"], plain, ketamine_50)
    assert field_of(exc) == {"location"}


# --- administration --------------------------------------------------------------------------


def test_a_dose_opens_a_vial_and_the_next_is_drawn_from_it(actors, lot, patient):
    # when Ben gives 35 mg (0.7 mL of 50 mg/mL), then 20 mg from the same vial
    first = actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))
    vial = first.container
    second = actions.administer(
        actors["ben"], lot, patient, quantity_mg=D("20"), quantity_ml=D("0.40"), container=vial, session_ref="S-9"
    )

    # then one vial is open with 8.9 mL left, two remain sealed
    vial.refresh_from_db()
    lot.refresh_from_db()
    assert (lot.sealed_units, vial.number, vial.remaining_ml) == (2, 1, D("8.90"))
    assert (first.sealed_delta, first.ml_delta, second.ml_delta) == (-1, D("9.30"), D("-0.40"))
    assert second.session_ref == "S-9"
    assert second.patient == patient
    assert verify_balances(lot.location) == []
    audit = AuditEvent.objects.filter(event_type="ledger_entry.recorded", patient=patient)
    assert audit.count() == 2
    assert audit.order_by("id").last().detail["session_ref"] == "S-9"


@pytest.mark.parametrize(
    ("mg", "ml", "ok"),
    [
        ("35", "0.7", True),
        ("35.5", "0.71", True),
        ("35.2", "0.7", True),  # within the rounding of 0.7 mL (0.005 mL = 0.25 mg)
        ("36", "0.7", False),
        ("350", "0.7", False),  # a decimal slip
        ("35", "7", False),
    ],
)
def test_concentration_check_refuses_mg_that_do_not_match_ml(actors, lot, patient, mg, ml, ok):
    call = lambda: actions.administer(actors["ben"], lot, patient, quantity_mg=D(mg), quantity_ml=D(ml))  # noqa: E731
    if ok:
        call()
        assert LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).count() == 1
    else:
        with pytest.raises(ValidationError) as exc:
            call()
        assert field_of(exc) == {"quantity_mg"}
        assert "50 mg/mL" in exc.value.message_dict["quantity_mg"][0]
        assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()
        assert not Container.objects.exists()


def test_the_100_mg_per_ml_vial_uses_its_own_concentration(actors, location, ketamine_100, patient):
    lot = receive(actors["ivy"], location, ketamine_100).lot
    actions.administer(actors["ada"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.35"))
    with pytest.raises(ValidationError):
        actions.administer(actors["ada"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))


def test_a_vial_cannot_give_more_than_it_holds(actors, lot, patient):
    entry = actions.administer(actors["ben"], lot, patient, quantity_mg=D("450"), quantity_ml=D("9"))
    with pytest.raises(ValidationError) as exc:
        actions.administer(
            actors["ben"], lot, patient, quantity_mg=D("100"), quantity_ml=D("2"), container=entry.container
        )
    assert field_of(exc) == {"quantity_ml"}
    assert "Only 1.00 mL" in exc.value.message_dict["quantity_ml"][0]
    with pytest.raises(ValidationError) as exc:
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("550"), quantity_ml=D("11"))
    assert field_of(exc) == {"quantity_ml"}


def test_spravato_devices_are_used_whole(actors, location, spravato, patient):
    lot = receive(actors["ivy"], location, spravato, packages=2).lot  # 4 devices
    entry = actions.administer(actors["ben"], lot, patient, quantity_mg=D("56"), quantity_ml=D("0.4"))
    lot.refresh_from_db()
    assert (entry.quantity_units, entry.sealed_delta, entry.container, lot.sealed_units) == (2, -2, None, 2)
    with pytest.raises(ValidationError) as exc:
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("42"), quantity_ml=D("0.3"))
    assert field_of(exc) == {"quantity_ml"}
    with pytest.raises(ValidationError) as exc:
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("84"), quantity_ml=D("0.6"))
    assert "Only 2 device(s)" in exc.value.message_dict["quantity_ml"][0]


def test_an_expired_lot_cannot_be_drawn_compared_in_the_clinics_zone(actors, location, ketamine_50, patient):
    # given a lot whose last day is 2026-11-30, at a clinic in Chicago (UTC-6 in winter)
    with time_machine.travel(datetime.datetime(2026, 11, 20, 12, tzinfo=datetime.UTC)):
        lot = receive(actors["ivy"], location, ketamine_50, expiry_date=datetime.date(2026, 11, 30)).lot
    # when it is already 1 December in UTC but still 30 November in Chicago: usable
    with time_machine.travel(datetime.datetime(2026, 12, 1, 3, tzinfo=datetime.UTC)):
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    # then on 1 December in Chicago it is refused
    with (
        time_machine.travel(datetime.datetime(2026, 12, 1, 7, tzinfo=datetime.UTC)),
        pytest.raises(ValidationError) as exc,
    ):
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    assert field_of(exc) == {"lot"}
    assert LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).count() == 1


def test_administration_roles_and_clinics(actors, lot, patient, outside_patient):
    for key in ("ivy", "aud", "ann", "cy", "tess"):
        with pytest.raises(PermissionDenied):
            actions.administer(actors[key], lot, patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    with pytest.raises(Http404):
        actions.administer(actors["ben"], lot, outside_patient, quantity_mg=D("25"), quantity_ml=D("0.5"))
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


# --- waste and witnesses -----------------------------------------------------------------------


@pytest.fixture
def opened(actors, lot, patient):
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("475"), quantity_ml=D("9.5")).container


def test_waste_of_the_remainder_signed_by_a_witness(actors, opened, patient):
    entry = actions.waste(actors["ben"], opened, quantity_mg=D("25"), quantity_ml=D("0.5"), witness=witness("ada"))
    opened.refresh_from_db()
    assert opened.remaining_ml == 0
    assert (entry.kind, entry.witness, entry.patient, entry.ml_delta) == (
        EntryKind.WASTE,
        actors["ada"].user,
        patient,
        D("-0.50"),
    )
    audit = AuditEvent.objects.get(event_type="ledger_entry.recorded", detail__kind="waste")
    assert audit.detail["witnesses"] == [actors["ada"].user.pk]


@pytest.mark.parametrize(
    ("signature", "field"),
    [
        (witness("ada", "wrong-password-123"), "witness_password"),
        (witness("ben"), "witness_email"),  # the nurse herself
        (witness("cy"), "witness_email"),  # front desk may not witness
        (witness("tess"), "witness_email"),  # nor a therapist
        (witness("aud"), "witness_email"),  # nor the auditor
        (witness("dee"), "witness_password"),  # another clinic's person: as unknown
        (witness("nobody"), "witness_password"),
        (actions.WitnessSignature("ada@example.org", ""), "witness_password"),
    ],
)
def test_waste_witness_rules(actors, opened, signature, field):
    with pytest.raises(ValidationError) as exc:
        actions.waste(actors["ben"], opened, quantity_mg=D("25"), quantity_ml=D("0.5"), witness=signature)
    assert field_of(exc) == {field}
    opened.refresh_from_db()
    assert opened.remaining_ml == D("0.50")
    assert not LedgerEntry.objects.filter(kind=EntryKind.WASTE).exists()


def test_an_inactive_membership_cannot_witness(actors, personas, clinic, opened):
    Membership.objects.filter(user=personas["ada"], clinic=clinic).update(is_active=False)
    with pytest.raises(ValidationError) as exc:
        actions.waste(actors["ben"], opened, quantity_mg=D("25"), quantity_ml=D("0.5"), witness=witness("ada"))
    assert field_of(exc) == {"witness_password"}


def test_waste_cannot_exceed_the_remainder(actors, opened):
    with pytest.raises(ValidationError) as exc:
        actions.waste(actors["ben"], opened, quantity_mg=D("50"), quantity_ml=D("1"), witness=witness("ivy"))
    assert field_of(exc) == {"quantity_ml"}


# --- disposal, transfer, adjustment, correction -------------------------------------------------


def test_destruction_needs_two_different_witnesses(actors, lot):
    with pytest.raises(ValidationError) as exc:
        actions.dispose(actors["ivy"], lot, method=DisposalMethod.DESTRUCTION, units=1, witnesses=[witness("ben")])
    assert field_of(exc) == {"second_witness_email"}
    with pytest.raises(ValidationError) as exc:
        actions.dispose(
            actors["ivy"], lot, method=DisposalMethod.DESTRUCTION, units=1, witnesses=[witness("ben"), witness("ben")]
        )
    assert field_of(exc) == {"second_witness_email"}
    entry = actions.dispose(
        actors["ivy"],
        lot,
        method=DisposalMethod.DESTRUCTION,
        units=1,
        witnesses=[witness("ben"), witness("ada")],
        document_number="Form 41 #7",
    )
    lot.refresh_from_db()
    assert (lot.sealed_units, entry.witness, entry.second_witness, entry.quantity_mg) == (
        2,
        actors["ben"].user,
        actors["ada"].user,
        D("500.00"),
    )


def test_reverse_distributor_needs_name_address_and_dea(actors, lot):
    with pytest.raises(ValidationError) as exc:
        actions.dispose(actors["ivy"], lot, method=DisposalMethod.REVERSE_DISTRIBUTOR, units=3, witnesses=[])
    assert field_of(exc) == {"counterparty_name", "counterparty_address", "counterparty_dea"}
    entry = actions.dispose(
        actors["ivy"],
        lot,
        method=DisposalMethod.REVERSE_DISTRIBUTOR,
        units=3,
        witnesses=[witness("ada")],
        counterparty_name="Return Solutions",
        counterparty_address="1 Return Way, Memphis, TN",
        counterparty_dea="RC7654329",
    )
    lot.refresh_from_db()
    assert (lot.sealed_units, entry.quantity_units) == (0, 3)


def test_transfer_writes_two_linked_entries(actors, lot, second_location):
    out, into = actions.transfer(actors["ivy"], lot, second_location, units=2, reason="Lakeside ran out")
    assert (out.location, into.location, into.transfer_peer, out.peer_location) == (
        lot.location,
        second_location,
        out,
        second_location,
    )
    assert (into.lot.sealed_units, Lot.objects.get(pk=lot.pk).sealed_units) == (2, 1)
    assert into.lot.lot_number == lot.lot_number
    assert into.lot.expiry_date == lot.expiry_date
    assert verify_balances(lot.location) == []
    assert verify_balances(second_location) == []
    with pytest.raises(ValidationError) as exc:
        actions.transfer(actors["ivy"], lot, second_location, units=2)
    assert field_of(exc) == {"units"}


def test_adjustment_needs_a_reason_and_never_goes_below_zero(actors, lot):
    with pytest.raises(ValidationError) as exc:
        actions.adjust(actors["ivy"], lot, units_delta=-1, reason=" ")
    assert field_of(exc) == {"reason"}
    with pytest.raises(ValidationError) as exc:
        actions.adjust(actors["ivy"], lot, units_delta=-4, reason="Count found 0")
    assert field_of(exc) == {"units_delta"}
    entry = actions.adjust(actors["ivy"], lot, units_delta=-1, reason="Vial broken on the floor, two witnesses")
    assert Lot.objects.get(pk=lot.pk).sealed_units == 2
    assert entry.quantity_units == -1
    with pytest.raises(PermissionDenied):
        actions.adjust(actors["ben"], lot, units_delta=1, reason="found")


def test_correction_reverses_an_administration_and_keeps_the_vial_opened(actors, lot, patient):
    dose = actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))
    reversal = actions.correct(actors["ben"], dose, reason="Recorded for the wrong patient")
    vial = Container.objects.get()
    assert (reversal.corrects, reversal.kind, reversal.quantity_mg, reversal.ml_delta) == (
        dose,
        EntryKind.ADMINISTRATION,
        D("-35.00"),
        D("0.70"),
    )
    assert (vial.remaining_ml, Lot.objects.get(pk=lot.pk).sealed_units) == (D("10.00"), 2)
    assert AuditEvent.objects.filter(event_type="ledger_entry.corrected", subject_id=str(reversal.pk)).count() == 1
    with pytest.raises(ValidationError):
        actions.correct(actors["ben"], dose, reason="again")
    with pytest.raises(ValidationError):
        actions.correct(actors["ada"], reversal, reason="undo the undo")
    assert verify_balances(lot.location) == []


def test_a_nurse_may_not_correct_someone_elses_entry(actors, lot):
    receipt = LedgerEntry.objects.get(kind=EntryKind.RECEIPT)
    with pytest.raises(PermissionDenied):
        actions.correct(actors["ben"], receipt, reason="no")
    actions.correct(actors["ivy"], receipt, reason="Delivery was for Lakeside")
    assert Lot.objects.get(pk=lot.pk).sealed_units == 0


def test_a_used_receipt_cannot_be_reversed(actors, lot, patient):
    actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))
    receipt = LedgerEntry.objects.get(kind=EntryKind.RECEIPT)
    with pytest.raises(ValidationError):
        actions.correct(actors["ivy"], receipt, reason="wrong")
    assert Lot.objects.get(pk=lot.pk).sealed_units == 2


def test_the_other_clinic_cannot_touch_the_lot(dee_inventory, personas, other_clinic, lot):
    dee = actor_for(personas["dee"], other_clinic)
    assert dee.role == Role.INVENTORY
    with pytest.raises(Http404):
        actions.adjust(dee, lot, units_delta=-1, reason="x")
    assert Lot.objects.get(pk=lot.pk).sealed_units == 3


def test_recompute_matches_after_every_kind(actors, lot, patient, second_location):
    dose = actions.administer(actors["ben"], lot, patient, quantity_mg=D("40"), quantity_ml=D("0.8"))
    actions.waste(actors["ben"], dose.container, quantity_mg=D("10"), quantity_ml=D("0.2"), witness=witness("ivy"))
    actions.transfer(actors["ivy"], lot, second_location, units=1)
    actions.dispose(
        actors["ivy"],
        lot,
        method=DisposalMethod.DESTRUCTION,
        container=dose.container,
        witnesses=[witness("ben"), witness("ada")],
    )
    replay = recompute_balances(lot.location)
    assert replay.lots == {lot.pk: 1}
    assert replay.containers == {}  # the vial is empty: only non-zero balances are listed
    assert verify_balances(lot.location) == []


def test_period_summary_groups_by_lot_and_kind_and_nets_corrections(actors, lot, patient):
    from django.utils import timezone

    from ketacare.inventory.queries import period_summary

    dose = actions.administer(actors["ben"], lot, patient, quantity_mg=D("35"), quantity_ml=D("0.7"))
    actions.administer(actors["ben"], lot, patient, quantity_mg=D("20"), quantity_ml=D("0.4"), container=dose.container)
    actions.correct(actors["ben"], dose, reason="wrong patient")
    now = timezone.now()
    rows = period_summary(lot.location, now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1))
    summary = {r["kind"]: (r["entries"], r["units"], D(str(r["ml"])), D(str(r["mg"]))) for r in rows}
    assert summary == {
        "administration": (3, 0, D("0.4"), D("20")),
        "receipt": (1, 3, D("30"), D("1500")),
    }


def test_the_whole_remainder_can_be_wasted_after_many_draws(actors, lot, patient):
    """Six draws then the exact remainder: no float drift on SQLite (10 - 6 × 0.73 = 5.62 mL)."""
    first = actions.administer(actors["ben"], lot, patient, quantity_mg=D("36.5"), quantity_ml=D("0.73"))
    vial = first.container
    for _ in range(5):
        actions.administer(actors["ben"], lot, patient, quantity_mg=D("36.5"), quantity_ml=D("0.73"), container=vial)
    vial.refresh_from_db()
    assert vial.remaining_ml == D("5.62")

    actions.waste(actors["ben"], vial, quantity_mg=D("281"), quantity_ml=D("5.62"), witness=witness("ada"))

    vial.refresh_from_db()
    assert vial.remaining_ml == 0
    assert verify_balances(lot.location) == []
    with pytest.raises(ValidationError):
        actions.waste(actors["ben"], vial, quantity_mg=D("0.5"), quantity_ml=D("0.01"), witness=witness("ada"))
