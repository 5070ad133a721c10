"""Nothing is ever double-booked (issue #8): many people booking the same chair and nurse at once.

One chair and one nurse, pinned, with one patient per nurse (`patients_per_nurse = 1`), so the nurse is
as exclusive as the chair; a 30-minute follow-up visit that needs both (no plan, no buffer); 200
patients, each making one attempt.

- PostgreSQL, concurrently: 200 threads released together by a barrier, each booking on its own
  connection. Identical times (20 disjoint slots x 10 attempts): exactly 20 succeed, one per slot.
  Staggered times (a start every 10 minutes): no two live holds of the chair or of the nurse overlap,
  every refused attempt overlaps a booking that succeeded (nothing feasible was refused), and every
  refusal is `SlotTaken` (never a crash, a deadlock or an IntegrityError leaking out). The database
  itself refuses an overlapping hold written by hand, bypassing `booking`.
- Any database (SQLite's proof): the same attempts one after another in random order give the same
  counts and no overlap.

PostgreSQL's `max_connections` (100 here, shared with other test runs) cannot hold 200 connections at
once, so at most `CONNECTIONS` attempts are inside the database at the same moment; the 200 threads
still start together and queue for a connection, so every slot is fought over by many transactions.
"""

from __future__ import annotations

import datetime
import itertools
import os
import random
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from ketacare.patients.models import Patient
from ketacare.scheduling import booking
from ketacare.scheduling.models import (
    Appointment,
    AppointmentType,
    Category,
    Hold,
    ScheduleSettings,
    Space,
    settings_for,
)
from tests.scheduling.conftest import at

ATTEMPTS = 200
VISIT = datetime.timedelta(minutes=30)
CONNECTIONS = int(os.environ.get("KC_TEST_BOOKING_CONNECTIONS", "40"))
PG_ONLY = (
    "needs PostgreSQL: the race is settled by its exclusion constraints and concurrent transactions; "
    "SQLite serialises writers (the sequential test below is its proof)"
)


# --- the scene ---------------------------------------------------------------------------------------


def _scene(clinic: Any, floor: dict[str, Any], personas: dict[str, Any]) -> dict[str, Any]:
    row = settings_for(clinic)
    ScheduleSettings.objects.filter(pk=row.pk).update(patients_per_nurse=1)
    visit_type = AppointmentType.objects.create(
        clinic=clinic,
        code="race-follow-up",
        name="Follow-up in a chair",
        category=Category.FOLLOW_UP,
        space=Space.CHAIR,
        needs_nurse=True,
        duration_minutes=30,
        buffer_minutes=0,
    )
    patients = []
    for i in range(ATTEMPTS):
        p = Patient(
            clinic=clinic,
            mrn=f"HL-R{i:04d}",
            legal_first_name=f"Pat{i}",
            legal_last_name=f"Race{i:03d}",
            date_of_birth=datetime.date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
            sex_at_birth="female" if i % 2 else "male",
            phone_mobile=f"(312) 555-{1000 + i:04d}",
            status="active",
        )
        p.refresh_search_keys()
        patients.append(p)
    Patient.objects.bulk_create(patients)
    return {
        "type": visit_type,
        "location": floor["location"],
        "chair": floor["chairs"][0],
        "nurse": personas["ben"],
        "patients": list(Patient.objects.filter(clinic=clinic, mrn__startswith="HL-R").order_by("mrn")),
    }


def identical_starts() -> list[datetime.datetime]:
    """20 disjoint 30-minute slots, 08:00-18:00 Monday, each asked for by 10 patients."""
    slots = [at(0, "08:00") + k * VISIT for k in range(20)]
    return [slots[i % 20] for i in range(ATTEMPTS)]


def staggered_starts() -> list[datetime.datetime]:
    """A start every 10 minutes from 08:00 to 17:30 (58 starts), 30-minute visits that overlap."""
    grid = [at(0, "08:00") + datetime.timedelta(minutes=10 * k) for k in range(58)]
    return [grid[i % len(grid)] for i in range(ATTEMPTS)]


def _book(actor: Any, scene: dict[str, Any], i: int, start: datetime.datetime) -> Appointment:
    return booking.book_visit(
        actor,
        patient=scene["patients"][i],
        appointment_type=scene["type"],
        location=scene["location"],
        starts_at=start,
        chair=scene["chair"],
        nurse=scene["nurse"],
    )


def book_together(actor: Any, scene: dict[str, Any], starts: Sequence[datetime.datetime]) -> list[Any]:
    """Attempt i books patient i at starts[i]; all threads released at once. Returns, per attempt,
    the appointment's id or the exception it raised. Checks that attempts really were in flight
    together (whatever settles the race: the constraint refusing an insert, or a lock)."""
    barrier = threading.Barrier(len(starts), timeout=60)
    seats = threading.BoundedSemaphore(CONNECTIONS)
    outcome: list[Any] = [None] * len(starts)
    spans: list[tuple[float, float]] = []

    def attempt(i: int) -> None:
        try:
            barrier.wait()
            with seats:
                began = time.perf_counter()
                try:
                    outcome[i] = _book(actor, scene, i, starts[i]).pk
                finally:
                    spans.append((began, time.perf_counter()))
                    connection.close()
        except BaseException as exc:  # kept and checked by the test
            outcome[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(starts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "an attempt hung"
    events = sorted([(b, 1) for b, _ in spans] + [(e, -1) for _, e in spans])
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    assert peak >= min(CONNECTIONS, len(starts)) // 2, f"at most {peak} attempts were in flight together"
    return outcome


def book_in_turn(actor: Any, scene: dict[str, Any], starts: Sequence[datetime.datetime], seed: int) -> list[Any]:
    order = list(range(len(starts)))
    random.Random(seed).shuffle(order)
    outcome: list[Any] = [None] * len(starts)
    for i in order:
        try:
            outcome[i] = _book(actor, scene, i, starts[i]).pk
        except booking.SlotTaken as exc:
            outcome[i] = exc
    return outcome


# --- what must hold afterwards ------------------------------------------------------------------------


def assert_no_overlap(holds: Sequence[tuple[datetime.datetime, datetime.datetime]], what: str) -> None:
    ordered = sorted(holds)
    for (a_start, a_end), (b_start, b_end) in itertools.pairwise(ordered):
        assert a_end <= b_start, f"two live holds of the {what} overlap: {a_start}-{a_end} and {b_start}-{b_end}"


def _chain(exc: BaseException | None) -> str:
    """The exception and its causes, with PostgreSQL's SQLSTATE where there is one."""
    out = []
    while exc is not None:
        out.append(f"{type(exc).__name__}[{getattr(exc, 'sqlstate', '') or ''}]: {str(exc).splitlines()[0][:120]}")
        exc = exc.__cause__
    return " <- ".join(out)


def assert_sound(scene: dict[str, Any], starts: Sequence[datetime.datetime], outcome: list[Any]) -> list[int]:
    """No overlap on the chair or the nurse, every refusal is SlotTaken and overlaps a booking made
    (maximal: nothing feasible was refused). Returns the indices of the attempts that succeeded."""
    crashes = [(i, repr(o)) for i, o in enumerate(outcome) if not isinstance(o, int | booking.SlotTaken)]
    assert crashes == [], f"attempts failed otherwise than SlotTaken: {crashes[:5]}"
    won = [i for i, o in enumerate(outcome) if isinstance(o, int)]
    lost = [i for i, o in enumerate(outcome) if isinstance(o, booking.SlotTaken)]
    assert len(won) + len(lost) == len(starts)

    live = Hold.objects.filter(released_at__isnull=True)
    chair_holds = list(live.filter(resource=scene["chair"]).values_list("starts_at", "ends_at"))
    nurse_holds = list(live.filter(staff=scene["nurse"]).values_list("starts_at", "ends_at"))
    assert_no_overlap(chair_holds, "chair")
    assert_no_overlap(nurse_holds, "nurse")
    # One chair hold and one nurse hold per appointment made, and nothing else in the database.
    appointments = Appointment.objects.filter(appointment_type=scene["type"])
    assert sorted(appointments.values_list("pk", flat=True)) == sorted(outcome[i] for i in won)
    assert len(chair_holds) == len(nurse_holds) == len(won)
    assert Hold.objects.count() == 2 * len(won)
    assert {(a.starts_at, a.chair_id, a.nurse_id) for a in appointments} == {
        (starts[i], scene["chair"].pk, scene["nurse"].pk) for i in won
    }

    booked = [(starts[i], starts[i] + VISIT) for i in won]
    for i in lost:
        s, e = starts[i], starts[i] + VISIT
        assert any(b_start < e and s < b_end for b_start, b_end in booked), (
            f"attempt {i} at {s} was refused though nothing booked overlaps it: {_chain(outcome[i])}"
        )
    return won


# --- PostgreSQL: at the same moment ---------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2])
def test_200_simultaneous_attempts_on_20_slots_book_exactly_20(seed, clinic, floor, personas, actors):
    if connection.vendor != "postgresql":
        pytest.skip(PG_ONLY)
    scene = _scene(clinic, floor, personas)
    starts = identical_starts()
    random.Random(seed).shuffle(starts)

    outcome = book_together(actors["cy"], scene, starts)

    won = assert_sound(scene, starts, outcome)
    assert len(won) == 20
    assert sorted(starts[i] for i in won) == [at(0, "08:00") + k * VISIT for k in range(20)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", [1, 2])
def test_200_simultaneous_staggered_attempts_never_overlap_and_refuse_only_what_is_taken(
    seed, clinic, floor, personas, actors
):
    if connection.vendor != "postgresql":
        pytest.skip(PG_ONLY)
    scene = _scene(clinic, floor, personas)
    starts = staggered_starts()
    random.Random(seed).shuffle(starts)

    outcome = book_together(actors["cy"], scene, starts)

    won = assert_sound(scene, starts, outcome)
    # 10 hours of 30-minute visits: at most 20 fit; a maximal set of starts 10 minutes apart has
    # gaps under 30 minutes, so at least 600 / (30 + 20) = 12.
    assert 12 <= len(won) <= 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_without_the_clinic_lock_the_constraints_alone_never_let_two_overlap(
    clinic, floor, personas, actors, monkeypatch
):
    """The advisory lock (`booking._serialise`) only makes bookings take turns; safety is the
    database's. Without the lock, simultaneous bookings race into the exclusion constraints: some
    deadlock or lose and are refused (SlotTaken), and still no two holds overlap."""
    if connection.vendor != "postgresql":
        pytest.skip(PG_ONLY)
    monkeypatch.setattr(booking, "_serialise", lambda actor: None)
    scene = _scene(clinic, floor, personas)
    starts = staggered_starts()[:40]
    random.Random(3).shuffle(starts)

    outcome = book_together(actors["cy"], scene, starts)

    crashes = [(i, _chain(o)) for i, o in enumerate(outcome) if not isinstance(o, int | booking.SlotTaken)]
    assert crashes == []
    live = Hold.objects.filter(released_at__isnull=True)
    assert_no_overlap(list(live.filter(resource=scene["chair"]).values_list("starts_at", "ends_at")), "chair")
    assert_no_overlap(list(live.filter(staff=scene["nurse"]).values_list("starts_at", "ends_at")), "nurse")
    assert any(isinstance(o, int) for o in outcome)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_database_refuses_an_overlapping_hold_written_by_hand(clinic, floor, personas, actors):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the exclusion constraints exist only there (migration 0002)")
    scene = _scene(clinic, floor, personas)
    first = _book(actors["cy"], scene, 0, at(0, "09:00"))
    second = Appointment.objects.create(
        clinic=clinic,
        location=scene["location"],
        patient=scene["patients"][1],
        appointment_type=scene["type"],
        starts_at=at(0, "09:15"),
        ends_at=at(0, "09:45"),
        held_until=at(0, "09:45"),
        created_by=personas["cy"],
    )

    def hold(**what: Any) -> Hold:
        return Hold(
            **{"clinic": clinic, "appointment": second, "starts_at": at(0, "09:15"), "ends_at": at(0, "09:45"), **what}
        )

    for row in (hold(resource=scene["chair"]), hold(staff=scene["nurse"], lane=0)):
        with pytest.raises(IntegrityError, match="no_overlap"), transaction.atomic():
            row.save()
    # Touching is not overlapping; another lane of the nurse, or a released hold, is not refused.
    hold(resource=scene["chair"], starts_at=at(0, "09:30"), ends_at=at(0, "10:00")).save()
    hold(staff=scene["nurse"], lane=1).save()
    hold(resource=scene["chair"], released_at=at(0, "07:00")).save()
    # And the patient's own overlapping visit is refused too.
    with pytest.raises(IntegrityError, match="no_overlap"), transaction.atomic():
        Appointment.objects.create(
            clinic=clinic,
            location=scene["location"],
            patient=first.patient,
            appointment_type=scene["type"],
            starts_at=at(0, "09:20"),
            ends_at=at(0, "09:50"),
            held_until=at(0, "09:50"),
            created_by=personas["cy"],
        )


# --- Any database (SQLite: its proof): one after another --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_200_attempts_in_turn_on_20_slots_book_exactly_20(seed, clinic, floor, personas, actors):
    scene = _scene(clinic, floor, personas)
    starts = identical_starts()

    outcome = book_in_turn(actors["cy"], scene, starts, seed)

    won = assert_sound(scene, starts, outcome)
    assert len(won) == 20
    assert sorted(starts[i] for i in won) == [at(0, "08:00") + k * VISIT for k in range(20)]


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_200_staggered_attempts_in_turn_never_overlap_and_refuse_only_what_is_taken(
    seed, clinic, floor, personas, actors
):
    scene = _scene(clinic, floor, personas)
    starts = staggered_starts()

    outcome = book_in_turn(actors["cy"], scene, starts, seed)

    won = assert_sound(scene, starts, outcome)
    assert 12 <= len(won) <= 20
