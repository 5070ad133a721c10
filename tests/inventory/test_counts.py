"""Counts and discrepancies (inventory.reconciliation): the snapshot of the ledger, variance,
estimated vs exact per policy, witness rules, immutability, closing with a finding, audit rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.balances import verify_balances
from ketacare.inventory.models import (
    CountKind,
    CountLine,
    Discrepancy,
    EntryKind,
    LedgerEntry,
    LedgerImmutableError,
    LossCase,
    LossKind,
    OpenedContainerRule,
    RootCause,
    StockCount,
)
from ketacare.inventory.policy import save_policy
from ketacare.inventory.reconciliation import close_discrepancy, count_sheet, record_count
from tests.conftest import actor_for
from tests.inventory.conftest import witness

D = Decimal


@pytest.fixture
def vial(actors, lot, patient):
    """Vial 1 of lot KX1001 opened for a 475 mg (9.5 mL) dose: 0.5 mL left, 2 sealed vials."""
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("475"), quantity_ml=D("9.5")).container


def count(actors, location, lot, vial, *, units=2, ml="0.50", estimated=False, by="ivy", w="ben", kind="shift"):
    return record_count(
        actors[by],
        location,
        kind=kind,
        witness=witness(w),
        sealed={lot.pk: units},
        vials={vial.pk: (D(ml), estimated)},
    )


def test_sheet_lists_each_lot_and_opened_vial_with_the_ledger_balance(location, lot, vial):
    sheet = count_sheet(location)
    assert [(s.key, s.expected_units, s.expected_ml) for s in sheet] == [
        (f"lot_{lot.pk}", 2, D("0")),
        (f"vial_{vial.pk}", 0, D("0.50")),
    ]


def test_count_matching_the_ledger_opens_no_discrepancy(actors, location, lot, vial):
    result = count(actors, location, lot, vial)
    lines = list(result.lines.order_by("id"))
    assert next((ln.expected_units, ln.counted_units, ln.is_variance) for ln in lines) == (2, 2, False)
    assert (lines[1].expected_ml, lines[1].counted_ml, lines[1].is_variance) == (D("0.50"), D("0.50"), False)
    assert result.witness.email == "ben@example.org"
    assert not Discrepancy.objects.exists()
    event = AuditEvent.objects.get(event_type="stock_count.recorded")
    assert event.detail["lines"] == 2
    assert event.detail["variances"] == []


def test_variance_opens_a_discrepancy_per_line(actors, location, lot, vial):
    result = count(actors, location, lot, vial, units=1, ml="0.30")
    lines = {ln.container_id: ln for ln in result.lines.all()}
    assert lines[None].variance_units == -1
    assert lines[vial.pk].variance_ml == D("-0.20")
    assert Discrepancy.objects.filter(closed_at__isnull=True).count() == 2
    assert AuditEvent.objects.filter(event_type="discrepancy.opened").count() == 2
    # The count records; the ledger is untouched until an investigator decides.
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()


def test_snapshot_keeps_the_balance_of_the_moment(actors, location, lot, vial, patient):
    result = count(actors, location, lot, vial)
    actions.administer(actors["ben"], lot, patient, quantity_mg=D("100"), quantity_ml=D("2"))
    line = result.lines.get(container=None)
    assert line.expected_units == 2  # not the 1 sealed vial left now


def test_every_line_must_be_counted(actors, location, lot, vial):
    with pytest.raises(ValidationError) as exc:
        record_count(actors["ivy"], location, kind="shift", witness=witness("ben"), sealed={}, vials={})
    assert set(exc.value.message_dict) == {f"lot_{lot.pk}", f"vial_{vial.pk}"}
    assert not StockCount.objects.exists()


def test_vial_above_its_content_and_three_decimals_are_refused(actors, location, lot, vial):
    with pytest.raises(ValidationError) as exc:
        count(actors, location, lot, vial, ml="10.50")
    assert "holds at most" in exc.value.message_dict[f"vial_{vial.pk}"][0]
    with pytest.raises(ValidationError):
        count(actors, location, lot, vial, ml="0.505")


def test_federal_policy_allows_an_estimate_within_half_a_quarter_vial(actors, location, lot, vial):
    # Federal default: estimates allowed; 0 mL estimated against 0.50 mL is within 1.25 mL.
    result = count(actors, location, lot, vial, ml="0", estimated=True)
    line = result.lines.get(container=vial)
    assert line.estimated
    assert not line.is_variance
    assert result.opened_rule == OpenedContainerRule.ESTIMATE
    assert not Discrepancy.objects.exists()


def test_exact_policy_refuses_an_estimate(actors, location, lot, vial):
    save_policy(actors["ivy"], location, interval="annual", opened_containers="exact", retention_years=5)
    with pytest.raises(ValidationError) as exc:
        count(actors, location, lot, vial, estimated=True)
    assert "exact count" in exc.value.message_dict[f"vial_{vial.pk}"][0]
    # Counted exactly, a 0.01 mL difference is a variance.
    result = count(actors, location, lot, vial, ml="0.49")
    assert result.lines.get(container=vial).is_variance


def test_quarter_policy_estimates_in_quarter_vials(actors, location, lot, vial):
    save_policy(actors["ivy"], location, interval="annual", opened_containers="quarter", retention_years=2)
    with pytest.raises(ValidationError) as exc:
        count(actors, location, lot, vial, ml="1.00", estimated=True)
    assert "2.50 mL steps" in exc.value.message_dict[f"vial_{vial.pk}"][0]
    result = count(actors, location, lot, vial, ml="0", estimated=True)
    assert not result.lines.get(container=vial).is_variance
    # An estimate of a quarter vial (2.5 mL) against 0.5 mL is more than half a quarter off.
    result = count(actors, location, lot, vial, ml="2.50", estimated=True)
    assert result.lines.get(container=vial).is_variance


@pytest.mark.parametrize(
    ("who", "field", "message"),
    [
        ("ivy", "witness_email", "someone other than you"),
        ("tess", "witness_email", "may not witness"),
        ("nobody", "witness_password", "email or password is wrong"),
    ],
)
def test_witness_rules(actors, location, lot, vial, who, field, message):
    with pytest.raises(ValidationError) as exc:
        count(actors, location, lot, vial, w=who)
    assert message in exc.value.message_dict[field][0]
    assert not StockCount.objects.exists()


def test_wrong_witness_password_is_refused(actors, location, lot, vial):
    with pytest.raises(actions.WitnessRefused):
        record_count(
            actors["ivy"],
            location,
            kind="shift",
            witness=witness("ben", "wrong"),
            sealed={lot.pk: 2},
            vials={vial.pk: (D("0.5"), False)},
        )


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud"])
def test_only_the_inventory_manager_counts(actors, location, lot, vial, persona):
    with pytest.raises(PermissionDenied):
        count(actors, location, lot, vial, by=persona, w="ivy")
    assert not StockCount.objects.exists()


def test_another_clinics_location_is_404(personas, other_clinic, dee_inventory, location, lot, vial):
    dee = actor_for(personas["dee"], other_clinic)
    with pytest.raises(Http404):
        record_count(dee, location, kind="shift", witness=witness("ben"), sealed={}, vials={})


def test_a_signed_count_is_immutable(actors, location, lot, vial):
    result = count(actors, location, lot, vial, units=1)
    result.note = "changed"
    with pytest.raises(LedgerImmutableError):
        result.save()
    with pytest.raises(LedgerImmutableError):
        StockCount.objects.filter(pk=result.pk).update(note="x")
    with pytest.raises(LedgerImmutableError):
        CountLine.objects.filter(count=result).update(counted_units=2)
    with pytest.raises(LedgerImmutableError):
        result.lines.first().delete()
    with pytest.raises(LedgerImmutableError):
        StockCount.objects.all().delete()


def test_closing_requires_a_finding_and_a_root_cause(actors, location, lot, vial):
    count(actors, location, lot, vial, units=1)
    discrepancy = Discrepancy.objects.get()
    with pytest.raises(ValidationError) as exc:
        close_discrepancy(actors["ada"], discrepancy, finding="  ", root_cause="")
    assert set(exc.value.message_dict) == {"finding", "root_cause"}
    discrepancy.refresh_from_db()
    assert discrepancy.is_open


def test_close_with_a_finding_only(actors, location, lot, vial):
    count(actors, location, lot, vial, units=1)
    discrepancy = close_discrepancy(
        actors["ada"],
        Discrepancy.objects.get(),
        finding="Recounted: 2 vials behind the box.",
        root_cause="counting_error",
    )
    assert not discrepancy.is_open
    assert discrepancy.closed_by == actors["ada"].user
    assert discrepancy.adjustment is None
    event = AuditEvent.objects.get(event_type="discrepancy.closed")
    assert event.detail["root_cause"] == "counting_error"
    with pytest.raises(ValidationError):
        close_discrepancy(actors["ada"], discrepancy, finding="again", root_cause="other")


def test_close_with_an_adjustment_brings_the_books_to_the_count(actors, location, lot, vial):
    count(actors, location, lot, vial, units=1, ml="0.30")
    for discrepancy in Discrepancy.objects.all():
        close_discrepancy(
            actors["ivy"],
            discrepancy,
            finding="Vial found broken in the sharps bin.",
            root_cause="unrecorded_waste",
            adjust=True,
        )
    lot.refresh_from_db()
    vial.refresh_from_db()
    assert lot.sealed_units == 1
    assert vial.remaining_ml == D("0.30")
    adjustments = LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT)
    assert adjustments.count() == 2
    assert all(a.discrepancy.closed_at for a in adjustments)
    assert "Discrepancy #" in adjustments.first().reason
    assert verify_balances(location) == []


def test_a_prescriber_may_close_but_not_adjust(actors, location, lot, vial):
    count(actors, location, lot, vial, units=1)
    with pytest.raises(ValidationError) as exc:
        close_discrepancy(actors["ada"], Discrepancy.objects.get(), finding="x", root_cause="other", adjust=True)
    assert "adjust" in exc.value.message_dict
    assert Discrepancy.objects.get().is_open


@pytest.mark.parametrize("persona", ["ann", "ben", "tess", "cy", "aud"])
def test_who_may_not_close(actors, location, lot, vial, persona):
    count(actors, location, lot, vial, units=1)
    with pytest.raises(PermissionDenied):
        close_discrepancy(actors[persona], Discrepancy.objects.get(), finding="x", root_cause="other")
    assert Discrepancy.objects.get().is_open


def test_theft_opens_a_loss_case_with_deadlines(actors, location, lot, vial):
    count(actors, location, lot, vial, units=0)
    discrepancy = close_discrepancy(
        actors["ada"],
        Discrepancy.objects.get(),
        finding="Two vials missing; the cabinet lock was forced.",
        root_cause=RootCause.THEFT_OR_LOSS,
        loss_kind=LossKind.THEFT,
    )
    case = LossCase.objects.get()
    assert discrepancy.loss_case == case
    assert case.kind == LossKind.THEFT
    assert case.quantity_units == 2
    assert case.quantity_ml == D("0")
    assert case.quantity_mg == D("1000.00")
    assert case.notice_due
    assert case.form_106_due
    assert AuditEvent.objects.filter(event_type="loss_case.opened").exists()


def test_initial_and_periodic_inventory_kinds(actors, location, lot, vial):
    result = count(actors, location, lot, vial, kind=CountKind.INITIAL)
    assert result.get_kind_display() == "Initial inventory"
    with pytest.raises(ValidationError) as exc:
        count(actors, location, lot, vial, kind="weekly")
    assert "kind" in exc.value.message_dict


def test_counts_in_period_for_the_report(actors, location, lot, vial, django_assert_num_queries):
    import datetime

    import time_machine

    from ketacare.inventory.reconciliation import counts_in_period

    with time_machine.travel(datetime.datetime(2026, 11, 30, 15, 0, tzinfo=datetime.UTC), tick=False):
        inside = count(actors, location, lot, vial, units=1)
    with time_machine.travel(datetime.datetime(2026, 12, 1, 15, 0, tzinfo=datetime.UTC), tick=False):
        count(actors, location, lot, vial)
    start = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    end = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    with django_assert_num_queries(2):
        found = counts_in_period(location, start, end)
        lines = [
            (ln.lot.product.name, ln.is_variance, bool(getattr(ln, "discrepancy", None))) for ln in found[0].lines.all()
        ]
    assert [c.pk for c in found] == [inside.pk]
    assert lines == [("Ketamine HCl injection", True, True), ("Ketamine HCl injection", False, False)]


def test_a_closed_discrepancy_and_a_loss_case_never_change(actors, location, lot, vial):
    count(actors, location, lot, vial, units=0)
    closed = close_discrepancy(
        actors["ada"], Discrepancy.objects.get(), finding="Stolen.", root_cause="theft_or_loss", loss_kind="theft"
    )
    closed.finding = "Nothing happened."
    with pytest.raises(LedgerImmutableError):
        closed.save()
    with pytest.raises(LedgerImmutableError):
        closed.delete()
    case = LossCase.objects.get()
    case.description = "rewritten"
    with pytest.raises(LedgerImmutableError):
        case.save()
    with pytest.raises(LedgerImmutableError):
        LossCase.objects.update(description="x")
    assert Discrepancy.objects.get().finding == "Stolen."
