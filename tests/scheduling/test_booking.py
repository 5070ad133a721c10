"""The booking actions: series all or nothing, the protocol's interval and window, cancelling frees
exactly what the visit held, moving keeps the series valid, nurse ratio, Spravato's prescriber on site
and certified setting, closures, the patient never in two places, check-in opens the session."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.scheduling import booking
from ketacare.scheduling.models import Appointment, AppointmentState, Closure, Hold, Series, TimeOff, settings_for
from ketacare.sessions.models import TreatmentSession
from tests.scheduling.conftest import CHICAGO, at

pytestmark = pytest.mark.django_db


def _series(actors: dict[str, Any], floor: dict[str, Any], plan: Any, kind: str = "iv-infusion") -> list[Any]:
    proposals = booking.propose_series(
        actors["cy"], plan=plan, appointment_type=floor["types"][kind], location=floor["location"], after=at(0, "07:00")
    )
    assert proposals, "the empty floor has room for the series"
    return proposals[0]


def _book_series(actors: dict[str, Any], floor: dict[str, Any], plan: Any, starts: list[Any]) -> Series:
    return booking.book_series(
        actors["cy"],
        plan=plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        starts=starts,
    )


def _follow_up(actors: dict[str, Any], floor: dict[str, Any], patient: Any, when: datetime.datetime, **kw: Any) -> Any:
    """A chair visit needing a nurse and no plan (a nurse follow-up in a chair)."""
    t = floor["types"]["follow-up"]
    t.space, t.needs_nurse, t.clinician_role = "chair", True, ""
    t.save()
    return booking.book_visit(
        actors["cy"], patient=patient, appointment_type=t, location=floor["location"], starts_at=when, **kw
    )


def live_holds() -> int:
    return Hold.objects.filter(released_at__isnull=True).count()


def test_proposed_series_respects_interval_and_window(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any
) -> None:
    proposals = booking.propose_series(
        actors["cy"],
        plan=iv_plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        after=at(0, "07:00"),
    )
    assert len(proposals) == 20
    for visits in proposals:
        assert len(visits) == 6
        starts = [v.starts_at for v in visits]
        assert all(b - a >= datetime.timedelta(hours=48) for a, b in itertools.pairwise(starts))
        first_day = starts[0].astimezone(CHICAGO).date()
        assert starts[-1].astimezone(CHICAGO).date() < first_day + datetime.timedelta(days=21)
        # Visit 60 min + the protocol's 30 min observation held.
        assert all(v.held_until - v.starts_at == datetime.timedelta(minutes=90) for v in visits)
        assert all(v.starts_at.astimezone(CHICAGO).weekday() < 5 for v in visits)  # open Monday to Friday
    assert proposals[0][0].starts_at == at(0, "08:00")


def test_series_booked_whole_creates_sessions(actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any) -> None:
    visits = _series(actors, floor, iv_plan)
    series = _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    booked = list(series.appointments.order_by("starts_at"))
    assert [a.sequence for a in booked] == [1, 2, 3, 4, 5, 6]
    assert [a.session.sequence for a in booked] == [1, 2, 3, 4, 5, 6]
    assert all(a.session.state == "scheduled" and a.session.scheduled_at == a.starts_at for a in booked)
    assert all(a.chair_id and a.nurse_id for a in booked)
    assert live_holds() == 12  # a chair and a nurse's place per visit
    assert booking.series_rule(iv_plan).count == 0


def test_series_is_all_or_nothing(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, make_patient: Any
) -> None:
    visits = _series(actors, floor, iv_plan)
    fourth = visits[3].starts_at
    # Meanwhile the nurse's two places at visit 4's time are taken.
    for n in range(2):
        _follow_up(actors, floor, make_patient(legal_first_name=f"Other{n}", legal_last_name="Patient"), fourth)
    before = (
        Appointment.objects.count(),
        Hold.objects.count(),
        TreatmentSession.objects.count(),
        Series.objects.count(),
    )
    with pytest.raises(booking.SlotTaken, match=r"Visit 4 of 6.*nurse.*Nothing was booked"):
        _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    after = (
        Appointment.objects.count(),
        Hold.objects.count(),
        TreatmentSession.objects.count(),
        Series.objects.count(),
    )
    assert after == before
    # Proposed again, the series goes around the busy nurse.
    again = _series(actors, floor, iv_plan)
    assert all(not (v.starts_at < fourth + datetime.timedelta(minutes=30) and fourth < v.held_until) for v in again)


def test_series_refuses_visits_closer_than_the_interval_or_outside_the_window(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any
) -> None:
    close = [at(0, "08:00") + datetime.timedelta(hours=24 * n) for n in range(6)]  # daily: < 48 h apart
    with pytest.raises(ValidationError) as err:
        _book_series(actors, floor, iv_plan, close)
    assert "less than 48 hours" in str(err.value.message_dict["starts"])
    wide = [at(0, "08:00") + datetime.timedelta(days=4 * n) for n in range(6)]  # last on day 20... then 24
    wide[-1] = at(21, "08:00")  # day 21 is outside a 21-day window (day 0 to day 20)
    with pytest.raises(ValidationError) as err:
        _book_series(actors, floor, iv_plan, wide)
    assert "within 21 days" in str(err.value.message_dict["starts"])
    assert Appointment.objects.count() == 0


def test_cancelling_one_visit_frees_exactly_its_resources(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, make_patient: Any
) -> None:
    visits = _series(actors, floor, iv_plan)
    series = _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    booked = list(series.appointments.order_by("starts_at"))
    third = booked[2]
    held_by_others = set(
        Hold.objects.filter(released_at__isnull=True).exclude(appointment=third).values_list("pk", flat=True)
    )
    third_holds = list(third.holds.values_list("resource_id", "staff_id", "lane"))
    booking.cancel(actors["cy"], third, reason="Patient has a family event")
    third.refresh_from_db()
    assert third.state == AppointmentState.CANCELLED
    assert not third.late_cancel
    assert not third.holds.filter(released_at__isnull=True).exists()
    assert set(Hold.objects.filter(released_at__isnull=True).values_list("pk", flat=True)) == held_by_others
    assert TreatmentSession.objects.get(pk=third.session_id).state == "cancelled"
    assert [a.session.state for a in booked if a.pk != third.pk] == ["scheduled"] * 5
    # The very chair and nurse's place are free again at that time for someone else.
    other = make_patient(legal_first_name="Nia", legal_last_name="Brooks")
    chair = floor["chairs"][0].__class__.objects.get(pk=third.chair_id)
    taken = _follow_up(actors, floor, other, third.starts_at, chair=chair, nurse=third.nurse)
    assert (taken.chair_id, taken.nurse_id) == (third_holds[0][0], third_holds[1][1])
    # The plan has one visit to book again, number 3.
    assert booking.series_rule(iv_plan).count == 1


def test_late_cancellation_is_recorded(actors: dict[str, Any], floor: dict[str, Any], patient: Any) -> None:
    visit = booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=floor["types"]["consultation"],
        location=floor["location"],
        starts_at=at(0, "15:00"),
    )
    booking.cancel(actors["cy"], visit, reason="Called in sick", by_patient=True)
    visit.refresh_from_db()
    assert visit.late_cancel
    assert visit.cancelled_by_patient
    assert visit.status_label == "Late cancellation"


def test_moving_a_series_visit_keeps_the_series_valid(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any
) -> None:
    visits = _series(actors, floor, iv_plan)
    series = _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    first, second, third = list(series.appointments.order_by("starts_at"))[:3]
    with pytest.raises(ValidationError) as err:
        booking.reschedule(actors["cy"], second, starts_at=first.starts_at + datetime.timedelta(hours=24))
    assert "Too close to the visit before" in str(err.value.message_dict["starts_at"])
    # One hour short of 48 h before visit 3: refused as well.
    with pytest.raises(ValidationError):
        booking.reschedule(actors["cy"], second, starts_at=third.starts_at - datetime.timedelta(hours=47))
    # The last visit may move two hours later: 48 h from the one before and inside the window.
    last = series.appointments.order_by("starts_at").last()
    assert last is not None
    moved_to = last.starts_at + datetime.timedelta(hours=2)
    old_holds = set(last.holds.values_list("pk", flat=True))
    booking.reschedule(actors["cy"], last, starts_at=moved_to)
    last.refresh_from_db()
    assert last.starts_at == moved_to
    assert last.rescheduled_from == visits[5].starts_at
    assert not Hold.objects.filter(pk__in=old_holds, released_at__isnull=True).exists()
    assert last.holds.filter(released_at__isnull=True, starts_at=moved_to).count() == 2
    assert last.session.scheduled_at == moved_to


def test_nurse_ratio_bounds_simultaneous_dosing(
    actors: dict[str, Any], floor: dict[str, Any], make_patient: Any
) -> None:
    when = at(1, "10:00")
    for n in range(2):
        _follow_up(actors, floor, make_patient(legal_first_name=f"P{n}", legal_last_name="Ratio"), when)
    with pytest.raises(booking.SlotTaken, match="nurse"):
        _follow_up(actors, floor, make_patient(legal_first_name="P3", legal_last_name="Ratio"), when)
    settings = settings_for(floor["location"].clinic)
    settings.patients_per_nurse = 3
    settings.save()
    _follow_up(actors, floor, make_patient(legal_first_name="P4", legal_last_name="Ratio"), when)


def test_a_patient_is_never_booked_twice_at_once(actors: dict[str, Any], floor: dict[str, Any], patient: Any) -> None:
    consult = floor["types"]["consultation"]
    booking.book_visit(
        actors["cy"], patient=patient, appointment_type=consult, location=floor["location"], starts_at=at(1, "09:00")
    )
    integration = floor["types"]["integration"]
    with pytest.raises(booking.SlotTaken, match="already has Consultation"):
        booking.book_visit(
            actors["cy"],
            patient=patient,
            appointment_type=integration,
            location=floor["location"],
            starts_at=at(1, "09:30"),
        )


def test_spravato_needs_a_certified_setting_and_a_prescriber_on_site(
    actors: dict[str, Any], floor: dict[str, Any], spravato_plan: Any, personas: dict[str, Any]
) -> None:
    spravato = floor["types"]["spravato"]
    location = floor["location"]
    # Ada, the only prescriber, is away on Tuesday: no Spravato that day, whatever the chairs.
    TimeOff.objects.create(
        clinic=location.clinic,
        user=personas["ada"],
        starts_at=at(1, "00:00"),
        ends_at=at(2, "00:00"),
        created_by=personas["ann"],
    )
    proposals = booking.propose_visits(
        actors["cy"],
        appointment_type=spravato,
        location=location,
        after=at(1, "07:00"),
        until=at(2, "07:00"),
        plan=spravato_plan,
    )
    assert proposals == []
    found = booking.propose_visits(
        actors["cy"], appointment_type=spravato, location=location, after=at(1, "07:00"), plan=spravato_plan
    )
    assert found[0].starts_at == at(2, "08:00")
    assert found[0].held_until - found[0].starts_at == datetime.timedelta(minutes=150)  # 30 + the label's 120
    assert found[0].prescriber_on_site_id == personas["ada"].pk
    location.spravato_rems_certified_on = None
    location.save()
    with pytest.raises(ValidationError) as err:
        booking.book_visit(
            actors["cy"],
            patient=spravato_plan.patient,
            appointment_type=spravato,
            location=location,
            starts_at=at(2, "08:00"),
            plan=spravato_plan,
        )
    assert "not Spravato REMS-certified" in str(err.value.message_dict["location"])


def test_closures_and_holidays_remove_slots(
    actors: dict[str, Any], floor: dict[str, Any], personas: dict[str, Any]
) -> None:
    location, consult = floor["location"], floor["types"]["consultation"]
    Closure.objects.create(
        clinic=location.clinic,
        starts_at=at(1, "00:00"),
        ends_at=at(2, "00:00"),
        reason="Holiday",
        created_by=personas["ann"],
    )
    Closure.objects.create(
        clinic=location.clinic,
        resource=floor["room"],
        starts_at=at(2, "08:00"),
        ends_at=at(2, "12:00"),
        reason="Room repainted",
        created_by=personas["ann"],
    )
    found = booking.propose_visits(
        actors["cy"], appointment_type=consult, location=location, after=at(1, "07:00"), limit=1
    )
    assert found[0].starts_at == at(2, "12:00")


def test_opening_hours_follow_local_time_across_daylight_saving(
    actors: dict[str, Any], floor: dict[str, Any], clock: Any
) -> None:
    # Chicago springs forward on 14 March 2027: 08:00 local is 14:00 UTC before and 13:00 UTC after.
    clock.move_to(datetime.datetime(2027, 3, 12, 7, 0, tzinfo=CHICAGO))
    consult = floor["types"]["consultation"]
    friday = booking.propose_visits(
        actors["cy"],
        appointment_type=consult,
        location=floor["location"],
        after=datetime.datetime(2027, 3, 12, 7, 0, tzinfo=CHICAGO),
        limit=1,
    )
    monday = booking.propose_visits(
        actors["cy"],
        appointment_type=consult,
        location=floor["location"],
        after=datetime.datetime(2027, 3, 15, 7, 0, tzinfo=CHICAGO),
        limit=1,
    )
    assert friday[0].starts_at.astimezone(datetime.UTC).hour == 14
    assert monday[0].starts_at.astimezone(datetime.UTC).hour == 13


def test_check_in_opens_the_treatment_session(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, clock: Any
) -> None:
    visits = _series(actors, floor, iv_plan)
    series = _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    first = series.appointments.order_by("starts_at").first()
    assert first is not None
    assert first.status_label == "Booked: escort not confirmed"
    assert not first.is_confirmed
    with pytest.raises(ValidationError) as err:
        booking.confirm_escort(actors["cy"], first, name="Jo Hart", phone="12")
    assert "escort_phone" in err.value.message_dict
    booking.confirm_escort(actors["cy"], first, name="Jo Hart", phone="312-555-0199")
    first.refresh_from_db()
    assert first.is_confirmed
    assert first.status_label == "Confirmed"
    later = series.appointments.order_by("starts_at")[1]
    with pytest.raises(ValidationError, match="today"):
        booking.check_in(actors["cy"], later)
    clock.move_to(at(0, "07:55"))
    booking.check_in(actors["cy"], first)
    first.refresh_from_db()
    session = TreatmentSession.objects.get(pk=first.session_id)
    assert first.state == AppointmentState.CHECKED_IN
    assert session.state == "checked_in"
    assert session.chair_id == first.chair_id
    assert (session.escort_name, session.escort_phone) == ("Jo Hart", "312-555-0199")
    assert session.escort_confirmed_at is None  # the nurse confirms it at the chair


def test_no_show_waits_for_the_grace_then_frees_the_chair(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, clock: Any
) -> None:
    visit = _follow_up(actors, floor, patient, at(0, "09:00"))
    clock.move_to(at(0, "09:20"))
    with pytest.raises(ValidationError, match="Wait 11 more minutes"):
        booking.mark_no_show(actors["cy"], visit)
    clock.move_to(at(0, "09:31"))
    booking.mark_no_show(actors["cy"], visit)
    visit.refresh_from_db()
    assert visit.state == AppointmentState.NO_SHOW
    assert not visit.holds.filter(released_at__isnull=True).exists()


def test_roles_and_clinics(actors: dict[str, Any], floor: dict[str, Any], patient: Any) -> None:
    consult = floor["types"]["consultation"]
    for key in ("ivy", "aud"):
        with pytest.raises(PermissionDenied):
            booking.book_visit(
                actors[key],
                patient=patient,
                appointment_type=consult,
                location=floor["location"],
                starts_at=at(1, "09:00"),
            )
    visit = booking.book_visit(
        actors["cy"], patient=patient, appointment_type=consult, location=floor["location"], starts_at=at(1, "09:00")
    )
    with pytest.raises(Http404):
        booking.access_appointment(actors["dee"], visit.pk)
    with pytest.raises(PermissionDenied):
        booking.access_appointment(actors["ivy"], visit.pk)
    assert booking.access_appointment(actors["aud"], visit.pk) == visit
    with pytest.raises(PermissionDenied):
        booking.cancel(actors["aud"], visit, reason="no")


def test_proposals_skip_the_patients_own_visits(actors: dict[str, Any], floor: dict[str, Any], patient: Any) -> None:
    consult, integration = floor["types"]["consultation"], floor["types"]["integration"]
    booking.book_visit(
        actors["cy"], patient=patient, appointment_type=consult, location=floor["location"], starts_at=at(1, "09:00")
    )
    found = booking.propose_visits(
        actors["cy"],
        appointment_type=integration,
        location=floor["location"],
        after=at(1, "08:00"),
        limit=3,
        patient=patient,
    )
    # 08:00 would run into the 09:00 consultation (50 min + 10 min recovery ends at 09:00: fits);
    # 08:15 to 09:45 overlap it; the next free start after it is 10:00.
    assert [p.starts_at for p in found] == [at(1, "08:00"), at(1, "10:00"), at(1, "10:15")]


def test_proposals_to_move_a_series_visit_are_all_accepted(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any
) -> None:
    visits = _series(actors, floor, iv_plan)
    series = _book_series(actors, floor, iv_plan, [v.starts_at for v in visits])
    last = series.appointments.order_by("starts_at").last()
    assert last is not None
    found = booking.propose_visits(
        actors["cy"],
        appointment_type=last.appointment_type,
        location=last.location,
        after=at(7, "07:00"),
        limit=40,
        moving=last,
    )
    assert found
    assert found[0].starts_at == last.starts_at  # its own place counts as free
    fifth = series.appointments.order_by("starts_at")[4]
    for proposal in found:
        assert proposal.starts_at >= fifth.starts_at + datetime.timedelta(hours=48)
    booking.reschedule(actors["cy"], last, starts_at=found[-1].starts_at)


def test_a_series_is_booked_in_the_chairs_proposed(actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any) -> None:
    visits = _series(actors, floor, iv_plan)
    chairs = [floor["chairs"][n % 3].pk for n in range(6)]
    series = booking.book_series(
        actors["cy"],
        plan=iv_plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        starts=[v.starts_at for v in visits],
        chairs=chairs,
    )
    assert [a.chair_id for a in series.appointments.order_by("starts_at")] == chairs
    assert [a.session.chair_id for a in series.appointments.order_by("starts_at")] == chairs


def test_a_type_may_be_limited_to_some_rooms(actors: dict[str, Any], floor: dict[str, Any], patient: Any) -> None:
    integration = floor["types"]["integration"]
    other_room = floor["room"].__class__.objects.create(
        clinic=floor["location"].clinic, location=floor["location"], kind="room", name="Integration Room"
    )
    integration.resources.set([other_room])
    found = booking.propose_visits(
        actors["cy"], appointment_type=integration, location=floor["location"], after=at(1, "07:00"), limit=3
    )
    assert {p.chair_id for p in found} == {other_room.pk}
    visit = booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=integration,
        location=floor["location"],
        starts_at=found[0].starts_at,
    )
    assert visit.chair_id == other_room.pk
    with pytest.raises(booking.SlotTaken):
        booking.book_visit(
            actors["cy"],
            patient=patient,
            appointment_type=integration,
            location=floor["location"],
            starts_at=at(1, "14:00"),
            chair=floor["room"],  # not one of the type's rooms
        )


def test_a_prescribers_order_is_put_on_the_schedule(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, iv_version: Any, client_for: Any
) -> None:
    from decimal import Decimal

    from ketacare.sessions import core

    order = core.order_session(
        actors["ada"],
        patient,
        protocol_version=iv_version,
        dose_mg=Decimal("35"),
        reason="Booster after a relapse",
        scheduled_at=at(2, "09:00"),
        location=floor["location"],
    )
    assert list(booking.open_orders(patient)) == [order]
    iv = floor["types"]["iv-infusion"]
    page = client_for("cy").get(
        "/schedule/book/",
        {
            "patient": patient.pk,
            "appointment_type": iv.pk,
            "location": floor["location"].pk,
            "after": "2026-11-25",
            "order": order.pk,
        },
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "35 mg, ordered" in html  # offered as the visit's order
    assert 'data-testid="needs-plan"' not in html  # and its free times are proposed
    assert 'data-testid="proposals"' in html
    found = booking.propose_visits(
        actors["cy"], appointment_type=iv, location=floor["location"], after=at(2, "07:00"), order=order, limit=1
    )
    assert found[0].held_until - found[0].starts_at == datetime.timedelta(minutes=90)  # the protocol's 30 min
    visit = booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=iv,
        location=floor["location"],
        starts_at=found[0].starts_at,
        order=order,
    )
    order.refresh_from_db()
    assert visit.session_id == order.pk
    assert order.scheduled_at == found[0].starts_at
    assert order.chair_id == visit.chair_id
    assert list(booking.open_orders(patient)) == []
    consult = floor["types"]["spravato"]
    with pytest.raises(ValidationError):
        booking.book_visit(
            actors["cy"],
            patient=patient,
            appointment_type=consult,
            location=floor["location"],
            starts_at=at(3, "09:00"),
            order=order,
        )


def test_no_minimum_interval_is_invented(floor: dict[str, Any], iv_plan: Any) -> None:
    """A protocol without the minimum interval (never on a signed plan) is refused, not given a default."""
    snapshot = {
        **iv_plan.protocol_snapshot,
        "series": {**iv_plan.protocol_snapshot["series"], "min_interval_hours": None},
    }
    iv_plan.protocol_snapshot = snapshot  # in memory only: a signed plan is never changed
    with pytest.raises(ValidationError) as err:
        booking.series_rule(iv_plan)
    assert "minimum interval" in str(err.value.message_dict["plan"])
