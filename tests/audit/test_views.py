"""The audit page and its CSV export: filters (dates in the clinic's zone), pages, columns, safety."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditAction, AuditEvent
from ketacare.audit.record import record

pytestmark = pytest.mark.django_db

BEN_ADDR = {"REMOTE_ADDR": "203.0.113.5", "HTTP_USER_AGENT": "WardTablet/2.0"}
CY_ADDR = {"REMOTE_ADDR": "203.0.113.6", "HTTP_USER_AGENT": "FrontDesk/1.0"}

CSV_HEADER = [
    "occurred_at",
    "actor",
    "role",
    "action",
    "event_type",
    "outcome",
    "patient_mrn",
    "patient_id",
    "subject_type",
    "subject_id",
    "remote_addr",
    "via",
    "user_agent",
    "detail",
]


@pytest.fixture
def trail(time_machine, make_patient, client_for, settings):
    """Harbor Light's trail around local midnight of 15/16 January 2024 (Chicago is UTC-6 then)."""
    settings.SESSION_COOKIE_AGE = 365 * 24 * 3600  # the staff stay signed in across the weeks below
    time_machine.move_to("2024-01-01T12:00:00+00:00", tick=False)
    ben, cy, aud = client_for("ben"), client_for("cy"), client_for("aud")  # each sign-in is an audit row
    ben_in, cy_in, aud_in = AuditEvent.objects.filter(event_type="session.signed_in").order_by("id")

    time_machine.move_to("2024-01-10T15:00:00+00:00", tick=False)
    jordan = make_patient()
    casey = make_patient(legal_first_name="Casey", legal_last_name="Blake")

    time_machine.move_to("2024-01-16T05:30:00+00:00", tick=False)  # 23:30 on 15 January in Chicago
    assert ben.get(reverse("patients-chart", args=[jordan.pk]), **BEN_ADDR).status_code == 200
    late = AuditEvent.objects.latest("id")

    time_machine.move_to("2024-01-16T06:30:00+00:00", tick=False)  # 00:30 on 16 January in Chicago
    assert cy.get(reverse("patients-chart", args=[casey.pk]), **CY_ADDR).status_code == 200
    early = AuditEvent.objects.latest("id")

    created = {e.patient_id: e for e in AuditEvent.objects.filter(event_type="patient.created")}
    time_machine.move_to("2024-02-01T12:00:00+00:00", tick=False)  # the auditor looks later
    return SimpleNamespace(
        jordan=jordan,
        casey=casey,
        late=late,
        early=early,
        ben_in=ben_in,
        cy_in=cy_in,
        aud_in=aud_in,
        aud=aud,
        jordan_created=created[jordan.pk],
        casey_created=created[casey.pk],
    )


def listed(client, **params):
    response = client.get(reverse("audit-list"), params)
    assert response.status_code == 200, response.content
    return [e.pk for e in response.context["page"].object_list]


def test_filter_by_patient_mrn(trail, client_for):
    # the MRN may be typed in lower case and with spaces
    ids = listed(trail.aud, patient=f"  {trail.jordan.mrn.lower()} ")

    assert ids == [trail.late.pk, trail.jordan_created.pk]


def test_filter_by_patient_id(trail, client_for):
    assert listed(trail.aud, patient_id=trail.casey.pk) == [trail.early.pk, trail.casey_created.pk]


def test_filter_by_user(trail, client_for, personas):
    assert listed(trail.aud, actor=personas["ben"].pk) == [trail.late.pk, trail.ben_in.pk]


def test_filter_by_action(trail, client_for):
    assert listed(trail.aud, action="C") == [trail.casey_created.pk, trail.jordan_created.pk]


def test_filter_by_event_type_prefix(trail, client_for):
    assert listed(trail.aud, event_type="patient.view") == [trail.early.pk, trail.late.pk]
    assert listed(trail.aud, event_type="patient.v", actor=trail.late.actor_id) == [trail.late.pk]
    assert listed(trail.aud, event_type="session") == [trail.aud_in.pk, trail.cy_in.pk, trail.ben_in.pk]


@pytest.mark.parametrize(
    ("date_from", "date_to", "expected"),
    [
        ("2024-01-15", "2024-01-15", ["late"]),
        ("2024-01-16", "2024-01-16", ["early"]),
        ("2024-01-15", "2024-01-16", ["early", "late"]),
        ("2024-01-16", "", ["early"]),
        ("2024-01-10", "2024-01-15", ["late", "casey_created", "jordan_created"]),
        ("", "2024-01-09", ["aud_in", "cy_in", "ben_in"]),
        ("2024-01-11", "2024-01-14", []),
    ],
)
def test_dates_are_days_in_the_clinics_time_zone(date_from, date_to, expected, trail, client_for):
    # 05:30 UTC on the 16th is still the 15th in Chicago; 06:30 UTC is the 16th.
    ids = listed(trail.aud, date_from=date_from, date_to=date_to)

    assert ids == [getattr(trail, name).pk for name in expected]


def test_times_are_shown_in_the_clinics_time_zone(trail, client_for):
    response = trail.aud.get(reverse("audit-list"), {"patient_id": trail.jordan.pk})

    content = response.content.decode()
    assert "times in America/Chicago" in content
    # the late read at 05:30 UTC on the 16th, and the registration at 15:00 UTC on the 10th
    assert "2024-01-15" in content
    assert "23:30:00" in content
    assert "09:00:00" in content
    assert "2024-01-16" not in content
    assert "05:30:00" not in content
    assert "15:00:00" not in content


def test_filters_combine(trail, client_for):
    assert listed(trail.aud, patient=trail.casey.mrn, date_from="2024-01-15", date_to="2024-01-15") == []


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2024-01-16", "date_to": "2024-01-15"},
        {"date_from": "16/01/2024"},
        {"action": "X"},
        {"actor": "dee"},  # replaced below by Dee's id: a user of another clinic is no choice
    ],
)
def test_bad_filters_are_refused_with_the_field_named(params, trail, client_for, personas):
    if params.get("actor") == "dee":
        params = {"actor": personas["dee"].pk}
    before = AuditEvent.objects.count()

    response = trail.aud.get(reverse("audit-list"), params)

    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"date_to" if "date_to" in params else next(iter(params))}
    assert response.context["page"] is None
    assert AuditEvent.objects.count() == before


def test_viewing_the_trail_is_itself_audited(trail, client_for, clinic, personas):
    trail.aud.get(
        reverse("audit-list"), {"patient": trail.jordan.mrn, "date_from": "2024-01-01"}, REMOTE_ADDR="192.0.2.1"
    )

    event = AuditEvent.objects.get(event_type="audit.viewed")
    assert (event.action, event.outcome, event.clinic, event.actor, event.actor_role) == (
        "R",
        0,
        clinic,
        personas["aud"],
        "auditor",
    )
    assert (event.via, event.remote_addr, event.patient) == ("web", "192.0.2.1", None)
    assert event.detail == {
        "filters": {"patient": trail.jordan.mrn, "date_from": "2024-01-01"},
        "page": 1,
        "rows_returned": 2,
    }


def test_pages_of_fifty_newest_first_keep_the_filters(actors, client_for, time_machine):
    # given 60 events of one kind
    time_machine.move_to("2024-01-10T15:00:00+00:00", tick=False)
    ids = [record(actors["ben"], AuditAction.EXECUTE, "test.bulk").pk for _ in range(60)]
    client = client_for("aud")

    # when
    first = client.get(reverse("audit-list"), {"event_type": "test.bulk"})
    second = client.get(reverse("audit-list"), {"event_type": "test.bulk", "page": 2})

    # then
    assert [e.pk for e in first.context["page"].object_list] == ids[::-1][:50]
    assert [e.pk for e in second.context["page"].object_list] == ids[::-1][50:]
    assert "event_type=test.bulk&amp;page=2" in first.content.decode()
    assert "60 events · page 2 of 2" in second.content.decode()
    viewed = AuditEvent.objects.filter(event_type="audit.viewed").order_by("id")
    assert [(e.detail["page"], e.detail["rows_returned"]) for e in viewed] == [(1, 50), (2, 10)]


# --- CSV export -------------------------------------------------------------------------------


def export(client, **params):
    response = client.get(reverse("audit-export"), params)
    assert response.status_code == 200
    return response, list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_export_columns_and_content(trail, client_for, personas):
    response, rows = export(trail.aud, patient=trail.jordan.mrn)

    assert response["Content-Disposition"] == 'attachment; filename="audit-harbor-20240201-0600.csv"'
    assert response["Cache-Control"] == "no-store"
    assert rows[0] == CSV_HEADER
    assert len(rows) == 3  # header, the read, the registration
    read = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert read == {
        "occurred_at": "2024-01-16T05:30:00+00:00",
        "actor": "Ben Novak <ben@example.org>",
        "role": "nurse",
        "action": "Read",
        "event_type": "patient.viewed",
        "outcome": "Success",
        "patient_mrn": trail.jordan.mrn,
        "patient_id": str(trail.jordan.pk),
        "subject_type": "patients.patient",
        "subject_id": str(trail.jordan.pk),
        "remote_addr": "203.0.113.5",
        "via": "web",
        "user_agent": "WardTablet/2.0",
        "detail": '{"view": "chart:overview"}',
    }
    created = dict(zip(CSV_HEADER, rows[2], strict=True))
    assert (created["action"], created["event_type"], created["patient_mrn"]) == (
        "Create",
        "patient.created",
        "HL-000001",
    )


def test_export_writes_one_e_row_counting_what_it_exported(trail, client_for, clinic, personas):
    # when the whole trail is exported
    _, rows = export(client_for("ann"), date_from="2024-01-01")

    # then the export is audited with its filters and the number of rows in the file
    event = AuditEvent.objects.get(event_type="audit.exported")
    assert (event.action, event.outcome, event.clinic, event.actor, event.via) == (
        "E",
        0,
        clinic,
        personas["ann"],
        "web",
    )
    assert event.detail == {"filters": {"date_from": "2024-01-01"}, "rows": len(rows) - 1}
    assert len(rows) - 1 == AuditEvent.objects.filter(clinic=clinic).exclude(pk=event.pk).count()


def test_export_with_bad_filters_is_refused(trail, client_for):
    response = trail.aud.get(reverse("audit-export"), {"date_from": "2024-02-02", "date_to": "2024-02-01"})

    assert response.status_code == 422
    assert not AuditEvent.objects.filter(event_type="audit.exported").exists()


# Each short enough to be an MRN (30 characters) as well as a name and a user agent.
FORMULAS = ['=HYPERLINK("http://x.test")', "+1+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_export_never_starts_a_cell_with_a_formula(formula, client_for, make_patient, personas):
    # given text that a spreadsheet would run, in every field a user can type into
    ben = personas["ben"]
    ben.full_name = formula
    ben.save()
    patient = make_patient(mrn=formula)
    assert (
        client_for("ben").get(reverse("patients-chart", args=[patient.pk]), HTTP_USER_AGENT=formula).status_code == 200
    )

    # when
    _, rows = export(client_for("aud"), event_type="patient.viewed")

    # then every such cell is made text with a leading apostrophe
    (row,) = rows[1:]
    cells = dict(zip(CSV_HEADER, row, strict=True))
    assert cells["actor"] == f"'{formula} <ben@example.org>"
    assert cells["patient_mrn"] == f"'{formula}"
    assert cells["user_agent"] == f"'{formula}"
    for line in rows:
        for cell in line:
            assert cell[:1] not in {"=", "+", "-", "@", "\t", "\r"}, cell
