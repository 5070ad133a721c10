"""The live floor board: every chair with who is in it and what is due, in a fixed number of queries,
for the clinical roles and the front desk (not inventory or the auditor), audited, never writing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditEvent
from ketacare.clinics.models import Location, Resource
from ketacare.sessions import alerts, board, core
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import TreatmentSession, VitalPhase, VitalSigns
from tests.sessions.conftest import START, advance

URL = "/sessions/board/"
TILES = "/sessions/board/tiles/"


def move(actor: Any, session: TreatmentSession, *states: State, reason: str = "") -> TreatmentSession:
    with transaction.atomic():
        fresh = core.locked_session(actor, session, Perm.SESSION_CHART)
        for state in states:
            fresh = core.transition(actor, fresh, state, reason=reason)
    return fresh


def vitals(actor: Any, session: TreatmentSession, at: datetime.datetime, phase: str = VitalPhase.DURING) -> None:
    VitalSigns.objects.create(
        clinic=session.clinic,
        session=session,
        phase=phase,
        taken_at=at,
        systolic_bp=128,
        diastolic_bp=82,
        heart_rate=74,
        spo2=98,
        recorded_by=actor.user,
    )


def tile(body: str, chair: Resource) -> str:
    start = body.index(f'data-testid="tile-chair-{chair.pk}"')
    return body[start : body.index("</li>\n", start)] if "</li>\n" in body[start:] else body[start:]


@pytest.fixture
def dosing(actors, iv_session, chair):
    """The IV session in Chair 1, dosing since 09:00, with a baseline before it."""
    ben = actors["ben"]
    move(ben, iv_session, State.CHECKED_IN, State.PRE_DOSE_CHECKS)
    vitals(ben, iv_session, START - datetime.timedelta(minutes=5), VitalPhase.PRE_DOSE)
    return move(ben, iv_session, State.DOSING)


def test_an_empty_floor_shows_every_chair_free_and_who_is_expected(client_for, iv_session, chair, chair2, location):
    page = client_for("ben").get(URL, {"location": location.pk})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Chair 1" in body
    assert "Chair 2" in body
    assert body.count('data-phase="free"') == Resource.objects.filter(location=location, is_active=True).count()
    assert f'data-testid="expected-{iv_session.pk}"' in body
    assert iv_session.patient.display_name in body
    assert 'hx-trigger="every 10s"' in body
    assert AuditEvent.objects.filter(event_type="session.board_viewed").count() == 1


def test_the_board_reflects_each_state(actors, client_for, iv_session, chair, location, clock):
    ben, nurse = actors["ben"], client_for("ben")

    def chair_tile() -> str:
        return tile(nurse.get(TILES, {"location": location.pk}).content.decode(), chair)

    assert 'data-phase="free"' in chair_tile()
    move(ben, iv_session, State.CHECKED_IN)
    assert 'data-phase="checked_in"' in chair_tile()
    assert "Checked in" in chair_tile()
    assert "not confirmed" in chair_tile()
    move(ben, iv_session, State.PRE_DOSE_CHECKS)
    body = chair_tile()
    assert "Pre-dose checks" in body
    assert "before dosing" in body  # the baseline is the next vitals due
    vitals(ben, iv_session, START, VitalPhase.PRE_DOSE)
    move(ben, iv_session, State.DOSING)
    body = chair_tile()
    assert "Dosing" in body
    assert "0 min" in body
    assert "09:10" in body  # IV: BP every 10 min during the infusion (clinical.md §2.5)
    advance(clock, 8)
    chair_tile()  # the wall screen's polls keep the login alive (idle timeout)
    advance(clock, 8)
    body = chair_tile()
    assert "16 min" in body
    assert 'data-testid="vitals-late"' in body  # the 09:10 set was not taken
    vitals(ben, iv_session, START + datetime.timedelta(minutes=14))  # charted late, in the 09:10 window
    assert 'data-testid="vitals-late"' not in chair_tile()
    move(ben, iv_session, State.OBSERVATION)
    body = chair_tile()
    assert "Observation" in body
    assert "min · until" in body  # the clinic-set observation from the end of dosing
    move(ben, iv_session, State.READY_FOR_DISCHARGE)
    assert "Ready for discharge" in chair_tile()
    move(ben, iv_session, State.DISCHARGED)
    assert 'data-phase="free"' in chair_tile()
    summary = nurse.get(TILES, {"location": location.pk}).content.decode()
    assert "1 done today" in summary


def test_alerts_and_escort_on_the_tile(actors, client_for, dosing, chair, location):
    ben = actors["ben"]
    with transaction.atomic():
        fresh = core.locked_session(ben, dosing, Perm.SESSION_CHART)
        alerts.raise_alert(ben, fresh, kind="vital_threshold", source_key="v1", summary="Systolic BP 182 above 180")
        TreatmentSession.objects.filter(pk=fresh.pk).update(escort_name="Pat", escort_confirmed_at=START)
    body = tile(client_for("ben").get(TILES, {"location": location.pk}).content.decode(), chair)
    assert "1 open" in body
    assert "Systolic BP 182 above 180" in body
    assert "confirmed" in body
    assert "not confirmed" not in body
    # The front desk sees that there is an alert, not its clinical content, and no link to the chart.
    desk = tile(client_for("cy").get(TILES, {"location": location.pk}).content.decode(), chair)
    assert "1 open" in desk
    assert "Systolic BP 182" not in desk
    assert dosing.patient.display_name in desk
    assert f"/sessions/{dosing.pk}/" not in desk


def test_checked_in_without_a_chair_waits_in_the_strip(actors, client_for, iv_plan, location):
    session = core.create_from_plan(actors["cy"], iv_plan, scheduled_at=START, location=location)
    core.check_in(actors["cy"], session)
    body = client_for("cy").get(URL, {"location": location.pk}).content.decode()
    assert f'data-testid="tile-waiting-{session.pk}"' in body
    assert "Waiting · not seated" in body


@pytest.mark.parametrize(("key", "status"), [("cy", 200), ("ben", 200), ("ada", 200), ("ivy", 403), ("aud", 403)])
def test_who_may_see_the_board(client_for, location, key, status):
    assert client_for(key).get(URL, {"location": location.pk}).status_code == status
    assert client_for(key).get(TILES, {"location": location.pk}).status_code == status


def test_another_clinics_location_is_404(client_for, other_clinic):
    elsewhere = Location.objects.create(clinic=other_clinic, name="Elsewhere")
    assert client_for("ben").get(URL, {"location": elsewhere.pk}).status_code == 404
    assert client_for("ben").get(TILES, {"location": elsewhere.pk}).status_code == 404
    assert client_for("ben").get(URL, {"location": "x"}).status_code == 404


def test_wall_mode_has_no_navigation(client_for, location):
    body = client_for("ben").get(URL, {"location": location.pk, "wall": "1"}).content.decode()
    assert "kc-board-wall" in body
    assert "navbar-toggler" not in body
    assert "wall=1" in body  # the poll keeps the mode
    assert "navbar-toggler" in client_for("ben").get(URL, {"location": location.pk}).content.decode()


def test_polls_are_audited_when_what_is_shown_changes(actors, client_for, iv_session, location, clock):
    nurse = client_for("ben")
    nurse.get(URL, {"location": location.pk})
    nurse.get(TILES, {"location": location.pk})
    nurse.get(TILES, {"location": location.pk})
    assert AuditEvent.objects.filter(event_type="session.board_polled").count() == 0
    core.cancel(actors["cy"], iv_session, "Patient unwell")
    nurse.get(TILES, {"location": location.pk})
    assert AuditEvent.objects.filter(event_type="session.board_polled").count() == 1
    for _ in range(4):
        advance(clock, 4)
        nurse.get(TILES, {"location": location.pk})
    assert AuditEvent.objects.filter(event_type="session.board_polled").count() == 2


def _floor_of(make_patient, actors, iv_version, location, clinic, n: int) -> list[TreatmentSession]:
    """`n` active chairs in rotating phases, each with vitals, an alert on every third."""
    ada, ben = actors["ada"], actors["ben"]
    phases = [
        (State.CHECKED_IN,),
        (State.CHECKED_IN, State.PRE_DOSE_CHECKS),
        (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING),
        (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.OBSERVATION),
        (State.CHECKED_IN, State.PRE_DOSE_CHECKS, State.DOSING, State.OBSERVATION, State.READY_FOR_DISCHARGE),
    ]
    out = []
    for i in range(n):
        seat = Resource.objects.get_or_create(
            clinic=clinic, location=location, name=f"Bay {i + 1:02d}", defaults={"kind": Resource.Kind.CHAIR}
        )[0]
        patient = make_patient(first_name=f"P{i}", last_name=f"Floor{i}")
        session = core.order_session(
            ada,
            patient,
            protocol_version=iv_version,
            dose_mg=Decimal("40"),
            reason="bench",
            scheduled_at=START,
            location=location,
            chair=seat,
        )
        vitals(ben, session, START - datetime.timedelta(minutes=3), VitalPhase.PRE_DOSE)
        session = move(ben, session, *phases[i % len(phases)])
        vitals(ben, session, START + datetime.timedelta(minutes=1))
        if i % 3 == 0:
            with transaction.atomic():
                fresh = core.locked_session(ben, session, Perm.SESSION_CHART)
                alerts.raise_alert(ben, fresh, kind="x", source_key=f"k{i}", summary=f"Alert {i}")
        out.append(session)
    return out


def _count(client: Any, location: Location) -> int:
    from django.db import connection

    client.get(TILES, {"location": location.pk})  # the first poll may write its audit row
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(TILES, {"location": location.pk}).status_code == 200
    return len(ctx.captured_queries)


def test_the_query_count_is_the_same_for_1_and_12_chairs(
    make_patient, actors, client_for, iv_version, location, clinic
):
    nurse = client_for("ben")
    _floor_of(make_patient, actors, iv_version, location, clinic, 1)
    one = _count(nurse, location)
    _floor_of_more = _floor_of(make_patient, actors, iv_version, location, clinic, 12)
    assert len(_floor_of_more) == 12
    assert _count(nurse, location) == one
    body = nurse.get(TILES, {"location": location.pk}).content.decode()
    assert body.count("data-session=") == 13
    # Login session, user, membership, OTP device, the nav's safety-alert count and the session save (the
    # middleware's); location, chairs, sessions, protocol snapshots, vitals, alerts, doses and the poll's audit
    # check (ours).
    assert one <= 16


def test_floor_reads_in_six_queries_and_writes_nothing(
    make_patient, actors, iv_version, location, clinic, django_assert_num_queries
):
    _floor_of(make_patient, actors, iv_version, location, clinic, 12)
    location = Location.objects.select_related("clinic").get(pk=location.pk)
    before = AuditEvent.objects.count()
    with django_assert_num_queries(6):
        shown = board.floor(actors["ben"], location, START + datetime.timedelta(minutes=20))
    assert shown.occupied == 12
    assert AuditEvent.objects.count() == before
    with django_assert_num_queries(6):
        board.floor(actors["cy"], location, START)
