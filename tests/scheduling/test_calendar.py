"""The calendar of a location (day and week, by chairs or by staff) and a patient's schedule: blocks
where they belong, buffers and closures shown, the query count pinned, the denials (issue #8)."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.clinics.models import Location
from ketacare.scheduling import booking
from ketacare.scheduling import calendar as cal
from ketacare.scheduling.models import Closure
from tests.scheduling.conftest import CHICAGO, MONDAY, at

pytestmark = pytest.mark.django_db

TUESDAY = MONDAY + datetime.timedelta(days=1)


def _integration(actors: dict[str, Any], floor: dict[str, Any], patient: Any, when: datetime.datetime) -> Any:
    return booking.book_visit(
        actors["cy"],
        patient=patient,
        appointment_type=floor["types"]["integration"],
        location=floor["location"],
        starts_at=when,
    )


def _url(floor: dict[str, Any], day: datetime.date = TUESDAY, **extra: str) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"location": floor["location"].pk, "date": day.isoformat(), **extra}.items()
    )
    return f"{reverse('scheduling-calendar')}?{query}"


def _block_style(html: str, appointment_id: int) -> str:
    found = re.search(
        rf'<a class="kc-cal-block[^"]*"[^>]*style="([^"]*)"[^>]*data-testid="block-{appointment_id}"', html
    )
    assert found, f"block {appointment_id} not drawn"
    return found.group(1)


def _block_html(html: str, appointment_id: int) -> str:
    found = re.search(rf'data-testid="block-{appointment_id}">(.*?)</a>', html, re.S)
    assert found, f"block {appointment_id} not drawn"
    return found.group(1)


def test_a_9am_visit_sits_60_minutes_below_an_8am_opening(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, client_for: Any
) -> None:
    visit = _integration(actors, floor, patient, at(1, "09:00"))
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=False)
    grid = cal.day_layout(data, TUESDAY, by="chairs", now=at(0, "07:00"))
    assert grid.start_minute == 8 * 60
    assert grid.minutes == 10 * 60
    assert [h.label for h in grid.hours][:2] == ["08:00", "09:00"]
    assert grid.lines[:3] == [0, 15, 30]
    room = next(c for c in grid.columns if c.key == f"r{floor['room'].pk}")
    (block,) = room.blocks
    assert (block.start, block.visit, block.buffer) == (60, 50, 10)
    assert block.buffer_label == "10 min recovery"

    response = client_for("cy").get(_url(floor))
    assert response.status_code == 200
    html = response.content.decode()
    style = _block_style(html, visit.pk)
    assert "--start: 60;" in style
    assert "--visit: 50;" in style
    assert "--buffer: 10;" in style
    assert reverse("scheduling-appointment", args=[visit.pk]) in html
    label = re.search(rf'aria-label="([^"]*)" data-testid="block-{visit.pk}"', html)
    assert label is not None
    assert "09:00–09:50" in label.group(1)
    assert "Jordan Avery" in label.group(1)
    assert "Integration therapy" in label.group(1)
    assert "Confirmed" in label.group(1)
    assert "✓ Confirmed" in _block_html(html, visit.pk)
    assert 'tabindex="0" role="region"' in html


def test_dosing_visit_shows_observation_and_escort_status(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, iv_type: Any, client_for: Any
) -> None:
    visit = booking.book_visit(
        actors["cy"],
        patient=iv_plan.patient,
        appointment_type=iv_type,
        location=floor["location"],
        starts_at=at(1, "10:00"),
        plan=iv_plan,
    )
    html = client_for("ben").get(_url(floor)).content.decode()
    style = _block_style(html, visit.pk)
    assert "--start: 120;" in style
    assert "--visit: 60;" in style
    assert "--buffer: 30;" in style
    block = _block_html(html, visit.pk)
    assert "30 min observation" in block
    assert "⚠ Escort not confirmed" in block
    booking.confirm_escort(actors["cy"], visit, name="Kim Avery", phone="312 555 0100")
    block = _block_html(client_for("ben").get(_url(floor)).content.decode(), visit.pk)
    assert "⚠ Escort not confirmed" not in block
    assert "✓ Confirmed" in block


def test_cancelled_visits_are_not_drawn_but_listed(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, client_for: Any
) -> None:
    visit = _integration(actors, floor, patient, at(1, "09:00"))
    booking.cancel(actors["cy"], visit, reason="Patient unwell")
    html = client_for("cy").get(_url(floor)).content.decode()
    assert f'data-testid="block-{visit.pk}"' not in html
    assert "1 cancelled visit this day" in html


def test_closures_are_shaded_with_their_reason(
    actors: dict[str, Any], floor: dict[str, Any], client_for: Any, personas: dict[str, Any]
) -> None:
    chair2 = floor["chairs"][1]
    Closure.objects.create(
        clinic=floor["location"].clinic,
        resource=chair2,
        starts_at=at(1, "12:00"),
        ends_at=at(1, "14:00"),
        reason="Chair 2 repair",
        created_by=personas["ann"],
    )
    Closure.objects.create(
        clinic=floor["location"].clinic,
        location=floor["location"],
        starts_at=at(1, "17:00"),
        ends_at=at(1, "18:00"),
        reason="Staff meeting",
        created_by=personas["ann"],
    )
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=False)
    grid = cal.day_layout(data, TUESDAY, by="chairs", now=at(0, "07:00"))
    shades = {c.key: [(s.start, s.length, s.reason) for s in c.shades] for c in grid.columns}
    assert shades[f"r{chair2.pk}"] == [(240, 120, "Chair 2 repair"), (540, 60, "Staff meeting")]
    assert shades[f"r{floor['chairs'][0].pk}"] == [(540, 60, "Staff meeting")]
    html = client_for("cy").get(_url(floor)).content.decode()
    assert "Closed: </span>" not in html
    assert "✖ Closed: Chair 2 repair" in html
    assert "✖ Closed: Staff meeting" in html
    # The week shades it too (Tuesday's timeline, 08:00-18:00: 12:00 is 40 %).
    week = cal.week_layout(
        cal.load(floor["location"], MONDAY, MONDAY + datetime.timedelta(days=6), with_staff=False),
        TUESDAY,
        by="chairs",
        now=at(0, "07:00"),
    )
    row = next(r for r in week.rows if r.key == f"r{chair2.pk}")
    assert [(s.start, s.length) for s in row.cells[1].shades] == [(40.0, 20.0), (90.0, 10.0)]


def test_week_view_has_seven_days_with_counts(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, client_for: Any
) -> None:
    first = _integration(actors, floor, patient, at(1, "09:00"))
    _integration(actors, floor, patient, at(1, "13:00"))
    _integration(actors, floor, patient, at(3, "08:00"))
    response = client_for("cy").get(_url(floor, view="week"))
    assert response.status_code == 200
    html = response.content.decode()
    days = re.findall(r'data-testid="wk-day-(\d{4}-\d\d-\d\d)"', html)
    assert days == [(MONDAY + datetime.timedelta(days=n)).isoformat() for n in range(7)]
    assert "Tue 24 Nov" in html
    assert "Sun 29 Nov" in html
    week = cal.week_layout(
        cal.load(floor["location"], MONDAY, MONDAY + datetime.timedelta(days=6), with_staff=False),
        TUESDAY,
        by="chairs",
        now=at(0, "07:00"),
    )
    assert [d.count for d in week.days] == [0, 2, 0, 1, 0, 0, 0]
    assert [d.is_open for d in week.days] == [True] * 5 + [False] * 2
    room = next(r for r in week.rows if r.key == f"r{floor['room'].pk}")
    bar = room.cells[1].bars[0]
    assert bar.appointment.pk == first.pk
    assert (bar.left, bar.width) == (10.0, 10.0)  # 09:00-10:00 on an 08:00-18:00 day
    assert "09:00–09:50" in bar.title
    assert "Jordan Avery" in bar.title
    # A day's header goes to that day's day view.
    assert f"date={TUESDAY.isoformat()}&amp;view=day" in html
    assert f'data-testid="bar-{first.pk}"' in html


def test_staff_view_has_the_staff_working_that_day(
    actors: dict[str, Any], floor: dict[str, Any], patient: Any, client_for: Any, personas: dict[str, Any]
) -> None:
    visit = _integration(actors, floor, patient, at(1, "09:00"))
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=True)
    grid = cal.day_layout(data, TUESDAY, by="staff", now=at(0, "07:00"))
    assert [(c.label, c.sub) for c in grid.columns] == [
        ("Ben Novak", "Nurse"),
        ("Ada Okafor", "Prescriber"),
        ("Tess Rivera", "Therapist"),
    ]
    tess = grid.columns[2]
    assert [b.appointment.pk for b in tess.blocks] == [visit.pk]
    assert not grid.columns[0].blocks
    html = client_for("cy").get(_url(floor, by="staff")).content.decode()
    assert f'data-testid="col-u{personas["tess"].pk}"' in html
    assert f'data-testid="block-{visit.pk}"' in html
    # Saturday: nobody works, so no columns.
    saturday = MONDAY + datetime.timedelta(days=5)
    data = cal.load(floor["location"], saturday, saturday, with_staff=True)
    assert cal.day_layout(data, saturday, by="staff", now=at(0, "07:00")).columns == []


def test_staff_view_greys_hours_outside_staff_hours(
    actors: dict[str, Any], floor: dict[str, Any], personas: dict[str, Any]
) -> None:
    from ketacare.scheduling.models import StaffHours

    StaffHours.objects.filter(user=personas["ben"], weekday=1).update(starts=datetime.time(10), ends=datetime.time(16))
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=True)
    grid = cal.day_layout(data, TUESDAY, by="staff", now=at(0, "07:00"))
    ben = grid.columns[0]
    assert [(s.start, s.length, s.kind) for s in ben.shades] == [(0, 120, "off"), (480, 120, "off")]


def test_overlapping_visits_share_a_column_side_by_side(
    actors: dict[str, Any], floor: dict[str, Any], make_patient: Any, personas: dict[str, Any]
) -> None:
    t = floor["types"]["follow-up"]
    t.space, t.needs_nurse, t.clinician_role = "chair", True, ""
    t.save()
    for name in ("One", "Two"):
        booking.book_visit(
            actors["cy"],
            patient=make_patient(legal_first_name=name),
            appointment_type=t,
            location=floor["location"],
            starts_at=at(1, "09:00"),
        )
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=True)
    grid = cal.day_layout(data, TUESDAY, by="staff", now=at(0, "07:00"))
    ben = grid.columns[0]
    assert sorted((b.lane, b.lanes) for b in ben.blocks) == [(0, 2), (1, 2)]


def test_now_line_on_today_only(actors: dict[str, Any], floor: dict[str, Any], client_for: Any, clock: Any) -> None:
    clock.move_to(at(0, "10:30"))
    html = client_for("cy").get(_url(floor, MONDAY)).content.decode()
    assert 'class="kc-cal-now" style="--at: 150"' in html
    html = client_for("cy").get(_url(floor, TUESDAY)).content.decode()
    assert "kc-cal-now" not in html


def _count(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("by", ["chairs", "staff"])
def test_query_count_does_not_grow_with_visits(
    actors: dict[str, Any], floor: dict[str, Any], make_patient: Any, client_for: Any, by: str
) -> None:
    client = client_for("cy")
    patient = make_patient()
    _integration(actors, floor, patient, at(1, "08:00"))
    day_one = _count(client, _url(floor, by=by))
    week_one = _count(client, _url(floor, view="week", by=by))
    # 30 visits: ten a day in the room, Tuesday to Thursday (and the chairs' view draws them all).
    for day in (1, 2, 3):
        for hour in range(8, 18):
            if (day, hour) != (1, 8):
                _integration(actors, floor, patient, at(day, f"{hour:02d}:00"))
    day_many = _count(client, _url(floor, by=by))
    week_many = _count(client, _url(floor, view="week", by=by))
    assert day_many == day_one
    assert week_many == week_one
    assert week_many <= 16, week_many  # 8 of them this page's own (location, visits, chairs, closures,
    # opening hours, staff hours, time off, the audit row); the rest session, sign-in and clinic middleware
    html = client.get(_url(floor, view="week", by=by)).content.decode()
    assert html.count('class="kc-wk-bar') == 30


def test_the_view_is_audited(floor: dict[str, Any], client_for: Any, personas: dict[str, Any]) -> None:
    client_for("aud").get(_url(floor, view="week"))
    event = AuditEvent.objects.filter(event_type="schedule.calendar_viewed").latest("id")
    assert event.actor == personas["aud"]
    assert event.action == "R"
    assert event.detail["location"] == floor["location"].pk
    assert event.detail["date"] == TUESDAY.isoformat()
    assert event.detail["view"] == "week"


def test_defaults_first_location_today_day_view(floor: dict[str, Any], client_for: Any) -> None:
    response = client_for("cy").get(reverse("scheduling-calendar"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Schedule · Main Street" in html
    assert "Monday 23 November 2026" in html
    assert 'data-testid="cal-day"' in html
    assert reverse("scheduling-feed") in html


def test_bad_date_names_the_field(floor: dict[str, Any], client_for: Any) -> None:
    html = client_for("cy").get(_url(floor) + "&date=tomorrow").content.decode()
    assert "Date:" in html
    assert "YYYY-MM-DD" in html


@pytest.mark.parametrize(("key", "status"), [("ivy", 403), ("cy", 200), ("aud", 200), ("ben", 200), ("tess", 200)])
def test_calendar_permissions(floor: dict[str, Any], client_for: Any, key: str, status: int) -> None:
    assert client_for(key).get(_url(floor)).status_code == status
    assert client_for(key).get(_url(floor, view="week")).status_code == status


def test_anonymous_goes_to_login(floor: dict[str, Any], client_for: Any) -> None:
    response = client_for("anon").get(_url(floor))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_other_clinic_cannot_see_the_location(floor: dict[str, Any], client_for: Any, other_clinic: Any) -> None:
    dee = client_for("dee")
    assert dee.get(_url(floor)).status_code == 404
    # Her own calendar shows her own clinic's locations only.
    Location.objects.create(clinic=other_clinic, name="Northside Main")
    html = dee.get(reverse("scheduling-calendar")).content.decode()
    assert "Northside Main" in html
    assert "Main Street" not in html


# --- a patient's schedule ------------------------------------------------------------------------


def _six(actors: dict[str, Any], floor: dict[str, Any], plan: Any) -> Any:
    proposals = booking.propose_series(
        actors["cy"],
        plan=plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        after=at(0, "07:00"),
    )
    return booking.book_series(
        actors["cy"],
        plan=plan,
        appointment_type=floor["types"]["iv-infusion"],
        location=floor["location"],
        starts=[v.starts_at for v in proposals[0]],
    )


def test_series_line_shows_six_markers(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, client_for: Any, clock: Any
) -> None:
    url = reverse("scheduling-patient", args=[iv_plan.patient.pk])
    before = client_for("cy").get(url).content.decode()
    assert reverse("scheduling-book-series", args=[iv_plan.pk]) in before  # six left to book
    assert f"{reverse('scheduling-book')}?patient={iv_plan.patient.pk}" in before
    series = _six(actors, floor, iv_plan)
    clock.move_to(at(2, "12:00"))
    response = client_for("cy").get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('data-testid="series-marker"') == 6
    assert f'data-testid="series-{series.pk}"' in html
    assert "Visit 1 of 6" in html
    assert "Visit 6 of 6" in html
    assert "⚠ Escort not confirmed" in html or "Escort not confirmed" in html
    assert 'data-testid="series-today"' in html
    assert reverse("scheduling-book-series", args=[iv_plan.pk]) not in html  # nothing left to book
    # Upcoming and past tables.
    assert 'data-testid="upcoming"' in html
    assert 'data-testid="past"' in html

    (line,) = cal.series_lines(iv_plan.patient, zone=CHICAGO, today=at(2, "12:00").date())
    assert [m.number for m in line.markers] == [1, 2, 3, 4, 5, 6]
    assert line.markers[0].left == 0.0
    assert line.markers[-1].left == 100.0
    assert all(a.left < b.left for a, b in zip(line.markers, line.markers[1:], strict=False))


def test_patient_schedule_is_audited(floor: dict[str, Any], patient: Any, client_for: Any) -> None:
    client_for("aud").get(reverse("scheduling-patient", args=[patient.pk]))
    event = AuditEvent.objects.filter(event_type="schedule.patient_viewed").latest("id")
    assert event.patient_id == patient.pk


def test_patient_schedule_denials(floor: dict[str, Any], patient: Any, outside_patient: Any, client_for: Any) -> None:
    assert client_for("cy").get(reverse("scheduling-patient", args=[outside_patient.pk])).status_code == 404
    assert client_for("dee").get(reverse("scheduling-patient", args=[patient.pk])).status_code == 404
    assert client_for("ivy").get(reverse("scheduling-patient", args=[patient.pk])).status_code == 403
    anon = client_for("anon").get(reverse("scheduling-patient", args=[patient.pk]))
    assert anon.status_code == 302
    aud = client_for("aud").get(reverse("scheduling-patient", args=[patient.pk])).content.decode()
    assert "Book a visit" not in aud  # the auditor reads, never books


def test_time_off_is_shaded_in_the_staff_views(floor: dict[str, Any], personas: dict[str, Any]) -> None:
    from ketacare.scheduling.models import TimeOff

    TimeOff.objects.create(
        clinic=floor["location"].clinic,
        user=personas["ben"],
        starts_at=at(1, "13:00"),
        ends_at=at(1, "15:30"),
        reason="Training",
        created_by=personas["ann"],
    )
    data = cal.load(floor["location"], TUESDAY, TUESDAY, with_staff=True)
    ben = cal.day_layout(data, TUESDAY, by="staff", now=at(0, "07:00")).columns[0]
    assert [(s.start, s.length, s.reason) for s in ben.shades if s.kind == "time-off"] == [(300, 150, "Training")]
    week_data = cal.load(floor["location"], MONDAY, MONDAY + datetime.timedelta(days=6), with_staff=True)
    row = cal.week_layout(week_data, TUESDAY, by="staff", now=at(0, "07:00")).rows[0]
    assert [(s.start, s.length) for s in row.cells[1].shades if s.kind == "time-off"] == [(50.0, 25.0)]


def test_positions_are_wall_clock_across_daylight_saving() -> None:
    spring = datetime.date(2027, 3, 14)  # clocks go forward at 02:00 in Chicago
    midnight = datetime.datetime.combine(spring, datetime.time.min, tzinfo=CHICAGO)
    nine = datetime.datetime.combine(spring, datetime.time(9), tzinfo=CHICAGO)
    assert cal._minute_of(nine, midnight) == 9 * 60
    assert cal._minute_of(nine + datetime.timedelta(days=1), midnight) == 24 * 60 + 9 * 60


def test_patient_schedule_query_count_does_not_grow(
    actors: dict[str, Any], floor: dict[str, Any], iv_plan: Any, client_for: Any
) -> None:
    client = client_for("cy")
    url = reverse("scheduling-patient", args=[iv_plan.patient.pk])
    _six(actors, floor, iv_plan)
    series_only = _count(client, url)
    for day in (14, 15, 16, 17, 18):  # five more visits, none in a series
        _integration(actors, floor, iv_plan.patient, at(day, "15:00"))
    assert _count(client, url) == series_only
