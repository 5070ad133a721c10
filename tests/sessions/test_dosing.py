"""Dosing from the controlled-substance ledger: the ledger entry and the dose point at each other, a
refusal leaves nothing, Spravato devices with the rest between them, a dose other than the plan needs
a prescriber (issue #7 item 3)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketacare.audit.models import AuditEvent
from ketacare.inventory.actions import WitnessSignature
from ketacare.inventory.models import EntryKind, LedgerEntry, Lot
from ketacare.sessions import checks, core, dosing
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import DoseAdministration, TreatmentSession
from tests.conftest import PASSWORD
from tests.inventory.conftest import receive
from tests.sessions.conftest import advance
from tests.sessions.test_checks import certified, on_record, ready, started  # noqa: F401

pytestmark = pytest.mark.usefixtures("on_record")


def iv_dose(actors: dict[str, Any], session: TreatmentSession, lot: Lot, **kw: Any) -> DoseAdministration:
    values: dict[str, Any] = {"quantity_mg": Decimal("40"), "quantity_ml": Decimal("0.8"), "rate_ml_per_hour": "120"}
    values.update(kw)
    who = values.pop("who", "ben")
    return dosing.give_dose(actors[who], session, lot=lot, **values)


def device(actors: dict[str, Any], session: TreatmentSession, lot: Lot, n: int, **kw: Any) -> DoseAdministration:
    who = kw.pop("who", "ben")
    return dosing.give_dose(
        actors[who], session, lot=lot, quantity_mg=Decimal("28"), quantity_ml=Decimal("0.2"), device_number=n, **kw
    )


@pytest.fixture
def iv_ready(actors, iv_session) -> TreatmentSession:
    return ready(actors, iv_session)


@pytest.fixture
def spravato_ready(actors, spravato_session, certified) -> TreatmentSession:  # noqa: F811
    return ready(actors, spravato_session)


# --- refused while checks are missing -------------------------------------------------------


def test_dosing_refused_with_the_reasons_while_checks_are_missing(actors, iv_session, ketamine_lot):
    session = started(actors, iv_session)
    with pytest.raises(ValidationError) as exc:
        iv_dose(actors, session, ketamine_lot)
    text = exc.value.message_dict["state"][0]
    assert "Identity" in text
    assert "Baseline" in text
    assert not DoseAdministration.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


@pytest.mark.usefixtures("certified")
def test_baseline_above_threshold_then_prescriber_decides_then_dosing_allowed(actors, spravato_session, spravato_lot):
    session = ready(actors, spravato_session, baseline=(152, 94))
    with pytest.raises(ValidationError) as exc:
        device(actors, session, spravato_lot, 1)
    assert "prescriber's decision" in exc.value.message_dict["state"][0]
    with pytest.raises(PermissionDenied):
        checks.decide_baseline(actors["ben"], session, decision="proceed", reason="I think it is fine")
    checks.decide_baseline(actors["ada"], session, decision="proceed", reason="Benefit outweighs the BP risk")
    dose = device(actors, session, spravato_lot, 1)
    session.refresh_from_db()
    assert session.state == State.DOSING
    assert session.first_dose_at == dose.started_at


# --- the ledger ------------------------------------------------------------------------------


def test_the_dose_and_the_ledger_entry_point_at_each_other(actors, iv_ready, ketamine_lot):
    before = Lot.objects.get(pk=ketamine_lot.pk).sealed_units
    dose = iv_dose(actors, iv_ready, ketamine_lot)
    entry = dose.ledger_entry
    assert entry.kind == EntryKind.ADMINISTRATION
    assert entry.session_ref == iv_ready.ref
    assert entry.patient_id == iv_ready.patient_id
    assert entry.quantity_mg == Decimal("40.00")
    assert entry.session_dose == dose
    assert Lot.objects.get(pk=ketamine_lot.pk).sealed_units == before - 1  # a vial opened
    assert entry.container.remaining_ml == Decimal("9.20")
    assert dose.rate_ml_per_hour == Decimal("120")
    assert AuditEvent.objects.filter(event_type="session_dose.given", patient=iv_ready.patient).exists()
    assert iv_ready.events.filter(kind="dose", summary__contains=f"ledger entry {entry.pk}").exists()


def test_an_expired_lot_leaves_no_dose_and_no_entry(actors, iv_ready, location, ketamine_50):
    expired = receive(
        actors["ivy"], location, ketamine_50, lot_number="OLD1", expiry_date=datetime.date(2026, 12, 1)
    ).lot
    Lot.objects.filter(pk=expired.pk).update(expiry_date=datetime.date(2026, 11, 1))
    with pytest.raises(ValidationError) as exc:
        iv_dose(actors, iv_ready, expired)
    assert "expired" in exc.value.message_dict["lot"][0]
    assert not DoseAdministration.objects.exists()
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()
    iv_ready.refresh_from_db()
    assert iv_ready.state == State.PRE_DOSE_CHECKS  # the first dose's step was rolled back too


def test_not_enough_left_leaves_nothing(actors, spravato_ready, location, spravato, clock):
    one_kit = receive(actors["ivy"], location, spravato, lot_number="SP9", packages=1).lot  # 2 devices
    for n in (1, 2):
        device(actors, spravato_ready, one_kit, n)
        advance(clock, 5)
    entries = LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).count()
    with pytest.raises(ValidationError) as exc:
        device(actors, spravato_ready, one_kit, 3, who="ada", deviation_reason="84 mg today")
    assert "Only 0 device" in exc.value.message_dict["quantity_ml"][0]
    assert LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).count() == entries
    assert DoseAdministration.objects.count() == 2
    assert Lot.objects.get(pk=one_kit.pk).sealed_units == 0


def test_a_lot_at_another_location_is_refused(actors, iv_ready, second_location, ketamine_50):
    elsewhere = receive(actors["ivy"], second_location, ketamine_50, lot_number="LK1").lot
    with pytest.raises(ValidationError) as exc:
        iv_dose(actors, iv_ready, elsewhere)
    assert "Lakeside" in exc.value.message_dict["lot"][0]
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADMINISTRATION).exists()


def test_the_wrong_product_for_the_route_is_refused(actors, iv_ready, spravato_lot):
    with pytest.raises(ValidationError) as exc:
        iv_dose(actors, iv_ready, spravato_lot)
    assert "lot" in exc.value.message_dict


def test_iv_needs_a_rate_and_stops_once(actors, iv_ready, ketamine_lot, clock):
    with pytest.raises(ValidationError) as exc:
        iv_dose(actors, iv_ready, ketamine_lot, rate_ml_per_hour=None)
    assert "rate_ml_per_hour" in exc.value.message_dict
    dose = iv_dose(actors, iv_ready, ketamine_lot)
    advance(clock, 40)
    dosing.stop_infusion(actors["ben"], iv_ready, dose)
    dose.refresh_from_db()
    assert dose.ended_at == core.clinic_now()
    with pytest.raises(ValidationError):
        dosing.stop_infusion(actors["ben"], iv_ready, dose)


def test_end_dosing_stops_the_infusion_and_starts_observation(actors, iv_ready, ketamine_lot, clock):
    dose = iv_dose(actors, iv_ready, ketamine_lot)
    advance(clock, 40)
    session = dosing.end_dosing(actors["ben"], iv_ready)
    dose.refresh_from_db()
    assert dose.ended_at == core.clinic_now()
    assert session.state == State.OBSERVATION
    assert session.dose_ended_at == core.clinic_now()
    assert dosing.dose_total_mg(session) == Decimal("40")


def test_waste_the_remainder_with_a_witness(actors, iv_ready, ketamine_lot):
    dose = iv_dose(actors, iv_ready, ketamine_lot)
    vial = dose.ledger_entry.container
    with pytest.raises(ValidationError):
        dosing.waste_remainder(
            actors["ben"],
            iv_ready,
            container=vial,
            quantity_ml="9.2",
            witness=WitnessSignature("ada@example.org", "no"),
        )
    entry = dosing.waste_remainder(
        actors["ben"],
        iv_ready,
        container=vial,
        quantity_ml="9.2",
        witness=WitnessSignature("ada@example.org", PASSWORD),
    )
    assert entry.kind == EntryKind.WASTE
    assert entry.quantity_mg == Decimal("460.00")
    vial.refresh_from_db()
    assert vial.remaining_ml == 0
    assert iv_ready.events.filter(kind="waste").exists()


# --- Spravato devices ------------------------------------------------------------------------


def test_device_two_at_four_minutes_refused_at_five_accepted(actors, spravato_ready, spravato_lot, clock):
    device(actors, spravato_ready, spravato_lot, 1)
    advance(clock, 4)
    with pytest.raises(ValidationError) as exc:
        device(actors, spravato_ready, spravato_lot, 2)
    assert "5 minutes" in exc.value.message_dict["device_number"][0]
    assert DoseAdministration.objects.count() == 1
    advance(clock, 1)
    device(actors, spravato_ready, spravato_lot, 2)
    assert dosing.dose_total_mg(spravato_ready) == Decimal("56")
    assert LedgerEntry.objects.filter(session_ref=spravato_ready.ref, kind=EntryKind.ADMINISTRATION).count() == 2


def test_a_repeated_or_skipped_device_number_is_refused(actors, spravato_ready, spravato_lot, clock):
    device(actors, spravato_ready, spravato_lot, 1)
    advance(clock, 6)
    with pytest.raises(ValidationError):
        device(actors, spravato_ready, spravato_lot, 1)
    with pytest.raises(ValidationError):
        device(actors, spravato_ready, spravato_lot, 3)


def test_a_third_device_on_a_56_mg_plan_needs_a_prescribers_reason(actors, spravato_ready, spravato_lot, clock):
    device(actors, spravato_ready, spravato_lot, 1)
    advance(clock, 5)
    device(actors, spravato_ready, spravato_lot, 2)
    advance(clock, 5)
    with pytest.raises(ValidationError) as exc:
        device(actors, spravato_ready, spravato_lot, 3)
    assert "deviation_reason" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        device(actors, spravato_ready, spravato_lot, 3, deviation_reason="Partial response")
    assert "approver_email" in exc.value.message_dict
    # A nurse's own password is not a prescriber's approval.
    with pytest.raises(ValidationError) as exc:
        device(
            actors,
            spravato_ready,
            spravato_lot,
            3,
            deviation_reason="x",
            approver=WitnessSignature("ben@example.org", PASSWORD),
        )
    assert "not a prescriber" in exc.value.message_dict["approver_email"][0]
    with pytest.raises(ValidationError):
        device(
            actors,
            spravato_ready,
            spravato_lot,
            3,
            deviation_reason="x",
            approver=WitnessSignature("ada@example.org", "wrong"),
        )
    assert DoseAdministration.objects.count() == 2
    third = device(
        actors,
        spravato_ready,
        spravato_lot,
        3,
        deviation_reason="Partial response at 56 mg; 84 mg today",
        approver=WitnessSignature("ada@example.org", PASSWORD),
    )
    assert third.deviation_approved_by == actors["ada"].user
    assert dosing.dose_total_mg(spravato_ready) == Decimal("84")


def test_a_prescriber_gives_a_different_dose_with_a_reason(actors, spravato_ready, spravato_lot, clock):
    for n in (1, 2):
        device(actors, spravato_ready, spravato_lot, n, who="ada")
        advance(clock, 5)
    third = device(actors, spravato_ready, spravato_lot, 3, who="ada", deviation_reason="Titrating to 84 mg")
    assert third.deviation_approved_by == actors["ada"].user


def test_84_mg_is_three_devices(actors, spravato_session, certified, spravato_lot, clock):  # noqa: F811
    TreatmentSession.objects.filter(pk=spravato_session.pk).update(planned_dose_mg=Decimal("84"))
    spravato_session.refresh_from_db()
    session = ready(actors, spravato_session)
    assert dosing.device_plan(session)["planned_devices"] == 3
    for n in (1, 2, 3):
        device(actors, session, spravato_lot, n)
        advance(clock, 5)
    assert dosing.dose_total_mg(session) == Decimal("84")
    assert DoseAdministration.objects.filter(session=session, deviation_reason="").count() == 3
    with pytest.raises(ValidationError):
        device(actors, session, spravato_lot, 4)


def test_stopping_short_of_the_plan_needs_a_prescriber(actors, spravato_ready, spravato_lot, clock):
    device(actors, spravato_ready, spravato_lot, 1)
    advance(clock, 3)
    with pytest.raises(ValidationError) as exc:
        dosing.end_dosing(actors["ben"], spravato_ready)
    assert "deviation_reason" in exc.value.message_dict
    session = dosing.end_dosing(
        actors["ben"],
        spravato_ready,
        deviation_reason="Patient declined the second device",
        approver=WitnessSignature("ada@example.org", PASSWORD),
    )
    assert session.state == State.OBSERVATION
    assert session.events.filter(kind="state", to_state="observation", summary__contains="declined").exists()


def test_device_plan_counts_down_the_rest(actors, spravato_ready, spravato_lot, clock):
    device(actors, spravato_ready, spravato_lot, 1)
    advance(clock, 2)
    plan = dosing.device_plan(spravato_ready)
    assert plan["next_number"] == 2
    assert plan["wait_seconds"] == 180


# --- who -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["cy", "tess", "aud", "ivy"])
def test_roles_without_chart_and_administer_cannot_dose(actors, iv_ready, ketamine_lot, key):
    with pytest.raises(PermissionDenied):
        iv_dose(actors, iv_ready, ketamine_lot, who=key)
    assert not DoseAdministration.objects.exists()


def test_a_signed_session_refuses_doses(actors, iv_ready, ketamine_lot):
    from django.db import transaction

    with transaction.atomic():
        s = core.locked_session(actors["ben"], iv_ready, "session.chart")
        for target in (State.DOSING, State.STOPPED_EARLY, State.SIGNED):
            core.transition(actors["ben"], s, target, reason="test")
    with pytest.raises(core.SessionLocked):
        iv_dose(actors, iv_ready, ketamine_lot)
