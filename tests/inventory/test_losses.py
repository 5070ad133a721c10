"""Theft or significant loss cases (inventory.losses): the two DEA deadlines (1 business day across
weekends and US federal holidays; 45 days), overdue status, filings closing them, breakage with two
witnesses, who may do what, audit rows."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from ketacare.audit.models import AuditEvent
from ketacare.inventory.losses import (
    deadlines,
    form_106_due_date,
    notice_due_date,
    open_deadlines,
    open_loss_case,
    record_filing,
)
from ketacare.inventory.models import LossCase, LossFiling, LossKind
from tests.conftest import actor_for
from tests.inventory.conftest import witness

D = Decimal
CHICAGO = datetime.timezone(datetime.timedelta(hours=-6))  # Harbor Light in winter (CST)


@pytest.mark.parametrize(
    ("discovered", "due"),
    [
        (datetime.date(2026, 12, 1), datetime.date(2026, 12, 2)),  # Tuesday -> Wednesday
        (datetime.date(2026, 12, 4), datetime.date(2026, 12, 7)),  # Friday -> Monday (weekend)
        (datetime.date(2026, 12, 5), datetime.date(2026, 12, 7)),  # Saturday -> Monday
        (datetime.date(2026, 9, 4), datetime.date(2026, 9, 8)),  # Friday, weekend, Labor Day -> Tuesday
        (datetime.date(2026, 11, 25), datetime.date(2026, 11, 27)),  # Wednesday, Thanksgiving -> Friday
        (datetime.date(2026, 7, 2), datetime.date(2026, 7, 6)),  # Independence Day observed Friday 3rd
        (datetime.date(2026, 12, 24), datetime.date(2026, 12, 28)),  # Christmas Friday, weekend -> Monday
    ],
)
def test_notice_is_due_one_business_day_after_discovery(discovered, due):
    assert notice_due_date(discovered) == due


def test_form_106_is_due_45_days_after_discovery():
    assert form_106_due_date(datetime.date(2026, 11, 20)) == datetime.date(2027, 1, 4)


@pytest.fixture
def friday_evening():
    # Friday 2026-12-04 at 17:30 in Chicago (23:30 UTC).
    with time_machine.travel(datetime.datetime(2026, 12, 4, 23, 30, tzinfo=datetime.UTC), tick=False):
        yield


def theft(actors, location, lot, **kw):
    values = {
        "kind": LossKind.THEFT,
        "discovered_at": datetime.datetime(2026, 12, 4, 17, 0, tzinfo=CHICAGO),
        "description": "Cabinet forced; two sealed vials of lot KX1001 gone.",
        "lot": lot,
        "quantity_units": 2,
    }
    values.update(kw)
    return open_loss_case(actors["ivy"], location, **values)


def test_case_starts_two_deadlines_from_the_local_discovery_date(friday_evening, actors, location, lot):
    case = theft(actors, location, lot)
    assert case.notice_due == datetime.date(2026, 12, 7)
    assert case.form_106_due == datetime.date(2027, 1, 18)
    assert case.quantity_mg == D("1000.00")
    event = AuditEvent.objects.get(event_type="loss_case.opened")
    assert event.detail["kind"] == "theft"
    assert event.detail["notice_due"] == "2026-12-07"


def test_the_discovery_date_is_the_clinics_local_date(actors, location, lot):
    # Thursday 19:00 in Chicago is already Friday in UTC: the notice is due Friday, not Monday.
    with time_machine.travel(datetime.datetime(2026, 12, 4, 2, 0, tzinfo=datetime.UTC), tick=False):
        case = theft(actors, location, lot, discovered_at=datetime.datetime(2026, 12, 3, 19, 0, tzinfo=CHICAGO))
    assert case.notice_due == datetime.date(2026, 12, 4)


def test_deadlines_show_days_left_then_overdue(friday_evening, actors, location, lot):
    case = theft(actors, location, lot)
    notice, form = deadlines(case, datetime.date(2026, 12, 5))
    assert (notice.status, form.status) == ("2 day(s) left", "44 day(s) left")
    notice, form = deadlines(case, datetime.date(2026, 12, 7))
    assert notice.status == "due today"
    assert not notice.overdue
    notice, _ = deadlines(case, datetime.date(2026, 12, 9))
    assert notice.overdue
    assert notice.status == "overdue by 2 day(s)"


def test_filings_close_each_deadline(friday_evening, actors, location, lot):
    case = theft(actors, location, lot)
    today = datetime.date(2026, 12, 4)
    assert [d.kind for d in open_deadlines([case], today)] == ["dea_notice", "form_106"]
    record_filing(actors["ivy"], case, kind="dea_notice", filed_on=today, method="email", reference="DEA-CHI-2026-118")
    assert [d.kind for d in open_deadlines([case], today)] == ["form_106"]
    record_filing(actors["ada"], case, kind="form_106", filed_on=today, method="dea_online", reference="106-55501")
    assert open_deadlines([case], today) == []
    filed = {f.kind: f for f in case.filings.all()}
    assert filed["form_106"].filed_by == actors["ada"].user
    assert filed["form_106"].reference == "106-55501"
    assert AuditEvent.objects.filter(event_type="loss_filing.recorded").count() == 2


def test_filing_rules(friday_evening, actors, location, lot):
    case = theft(actors, location, lot)
    today = datetime.date(2026, 12, 4)
    with pytest.raises(ValidationError) as exc:
        record_filing(actors["ivy"], case, kind="form_106", filed_on=today, method="letter", reference="x")
    assert "electronically" in exc.value.message_dict["method"][0]
    with pytest.raises(ValidationError) as exc:
        record_filing(
            actors["ivy"],
            case,
            kind="dea_notice",
            filed_on=today + datetime.timedelta(days=1),
            method="fax",
            reference="",
        )
    assert set(exc.value.message_dict) == {"filed_on", "reference"}
    with pytest.raises(ValidationError) as exc:
        record_filing(
            actors["ivy"], case, kind="dea_notice", filed_on=datetime.date(2026, 12, 1), method="fax", reference="r"
        )
    assert "before the discovery" in exc.value.message_dict["filed_on"][0]
    record_filing(actors["ivy"], case, kind="dea_notice", filed_on=today, method="fax", reference="r")
    with pytest.raises(ValidationError) as exc:
        record_filing(actors["ivy"], case, kind="dea_notice", filed_on=today, method="fax", reference="r2")
    assert "already" in exc.value.message_dict["kind"][0]
    assert LossFiling.objects.count() == 1


def test_case_needs_a_description_and_a_past_discovery(friday_evening, actors, location, lot):
    with pytest.raises(ValidationError) as exc:
        theft(actors, location, lot, description=" ", discovered_at=datetime.datetime(2026, 12, 6, tzinfo=CHICAGO))
    assert set(exc.value.message_dict) == {"description", "discovered_at"}
    assert not LossCase.objects.exists()


def test_breakage_is_not_a_loss_and_needs_two_witnesses(friday_evening, actors, location, lot):
    with pytest.raises(ValidationError) as exc:
        theft(actors, location, lot, kind=LossKind.BREAKAGE, witnesses=[witness("ben")])
    assert "second_witness_email" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        theft(actors, location, lot, kind=LossKind.BREAKAGE, witnesses=[witness("ben"), witness("ben")])
    assert "two different people" in exc.value.message_dict["second_witness_email"][0]
    case = theft(actors, location, lot, kind=LossKind.BREAKAGE, witnesses=[witness("ben"), witness("ada")])
    assert case.notice_due is None
    assert case.form_106_due is None
    assert {case.witness.email, case.second_witness.email} == {"ben@example.org", "ada@example.org"}
    assert deadlines(case, datetime.date(2026, 12, 4)) == []
    with pytest.raises(ValidationError):
        record_filing(
            actors["ivy"], case, kind="dea_notice", filed_on=datetime.date(2026, 12, 4), method="fax", reference="r"
        )


@pytest.mark.parametrize("persona", ["ann", "ben", "tess", "cy", "aud"])
def test_who_may_not_open_a_case_or_file(friday_evening, actors, location, lot, persona):
    case = theft(actors, location, lot)
    with pytest.raises(PermissionDenied):
        open_loss_case(
            actors[persona],
            location,
            kind="theft",
            discovered_at=datetime.datetime(2026, 12, 4, tzinfo=CHICAGO),
            description="x",
        )
    with pytest.raises(PermissionDenied):
        record_filing(
            actors[persona], case, kind="dea_notice", filed_on=datetime.date(2026, 12, 4), method="fax", reference="r"
        )
    assert LossCase.objects.count() == 1
    assert not LossFiling.objects.exists()


def test_another_clinic_gets_404(friday_evening, actors, personas, other_clinic, dee_inventory, location, lot):
    from ketacare.accounts.roles import Role

    case = theft(actors, location, lot)
    dee = actor_for(personas["dee"], other_clinic)
    assert dee.role == Role.INVENTORY
    with pytest.raises(Http404):
        open_loss_case(
            dee, location, kind="theft", discovered_at=datetime.datetime(2026, 12, 4, tzinfo=CHICAGO), description="x"
        )
    with pytest.raises(Http404):
        record_filing(dee, case, kind="dea_notice", filed_on=datetime.date(2026, 12, 4), method="fax", reference="r")


def test_a_quantity_needs_its_lot(friday_evening, actors, location, lot):
    with pytest.raises(ValidationError) as exc:
        theft(actors, location, None, quantity_units=2)
    assert "Choose the lot" in exc.value.message_dict["lot"][0]
    with pytest.raises(ValidationError) as exc:
        theft(actors, location, lot, quantity_units=0)
    assert "quantity_ml" in exc.value.message_dict
    assert not LossCase.objects.exists()
