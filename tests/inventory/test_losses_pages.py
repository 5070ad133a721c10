"""Theft and loss pages: the deadlines dashboard (days left, overdue), a case through the form,
filings closing deadlines, who sees and does what, query counts."""

from __future__ import annotations

import datetime
import uuid

import pytest
import time_machine
from django.urls import reverse

from ketacare.inventory.losses import open_loss_case
from ketacare.inventory.models import LossCase, LossFiling, LossKind
from tests.conftest import PASSWORD

VIEWERS = {"ada", "ben", "ivy", "aud"}
ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]
CHICAGO = datetime.timezone(datetime.timedelta(hours=-6))


def expected(persona: str, allowed: set[str]) -> int:
    if persona == "anon":
        return 302
    return 200 if persona in allowed else 403


@pytest.fixture
def monday():
    # Monday 2026-12-07, 10:00 in Chicago.
    with time_machine.travel(datetime.datetime(2026, 12, 7, 16, 0, tzinfo=datetime.UTC), tick=False):
        yield


@pytest.fixture
def case(monday, actors, location, lot):
    """A theft discovered Friday 2026-12-04: notice due Monday 12-07, Form 106 due 2027-01-18."""
    return open_loss_case(
        actors["ivy"],
        location,
        kind=LossKind.THEFT,
        discovered_at=datetime.datetime(2026, 12, 4, 9, 0, tzinfo=CHICAGO),
        description="Two vials gone from the locked cabinet.",
        lot=lot,
        quantity_units=2,
    )


def url(name, location, *args):
    return reverse(name, args=args) + f"?location={location.pk}"


@pytest.mark.parametrize("persona", ALL)
def test_who_sees_and_opens_each_page(persona, client_for, case, location):
    client = client_for(persona)
    assert client.get(url("inventory-losses", location)).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-loss", args=[case.pk])).status_code == expected(persona, VIEWERS)
    assert client.get(url("inventory-loss-new", location)).status_code == expected(persona, {"ada", "ivy"})


@pytest.mark.parametrize("persona", ["ann", "ben", "tess", "cy", "aud", "dee", "anon"])
def test_who_may_not_report_or_file_changes_nothing(persona, client_for, case, location):
    client = client_for(persona)
    client.post(url("inventory-loss-new", location), loss_form())
    client.post(reverse("inventory-loss", args=[case.pk]), filing_form("dea_notice", "email"))
    assert LossCase.objects.count() == 1
    assert not LossFiling.objects.exists()


def test_dee_gets_404(dee_inventory, client_for, case, location):
    client = client_for("dee")
    assert client.get(url("inventory-losses", location)).status_code == 404
    assert client.get(reverse("inventory-loss", args=[case.pk])).status_code == 404
    assert client.post(reverse("inventory-loss", args=[case.pk]), filing_form("dea_notice", "email")).status_code == 404


def loss_form(**extra):
    return {
        "form_token": str(uuid.uuid4()),
        "kind": "significant_loss",
        "discovered_at": "2026-12-07T08:30",
        "description": "Count short by one vial; no record explains it.",
        "quantity_units": "1",
        "quantity_ml": "0",
        **extra,
    }


def filing_form(kind, method, **extra):
    return {
        "form_token": str(uuid.uuid4()),
        "kind": kind,
        "filed_on": "2026-12-07",
        "method": method,
        "reference": "DEA-CHI-7781",
        **extra,
    }


def test_dashboard_shows_days_left_and_overdue(client_for, case, location):
    page = client_for("aud").get(url("inventory-losses", location)).content.decode()
    assert page.count('data-testid="deadline-row"') == 2
    assert "Due today" in page
    assert "42 days left" in page
    with time_machine.travel(datetime.datetime(2026, 12, 9, 16, 0, tzinfo=datetime.UTC), tick=False):
        page = client_for("aud").get(url("inventory-losses", location)).content.decode()
    assert "Overdue by 2 days" in page


def test_filings_through_the_page_close_the_deadlines(client_for, case, location):
    client = client_for("ada")
    detail = reverse("inventory-loss", args=[case.pk])
    response = client.post(detail, filing_form("form_106", "fax"))
    assert response.status_code == 422
    assert "electronically" in response.content.decode()
    assert client.post(detail, filing_form("dea_notice", "email")).status_code == 302
    page = client.get(url("inventory-losses", location)).content.decode()
    assert page.count('data-testid="deadline-row"') == 1
    assert client.post(detail, filing_form("form_106", "dea_online", reference="106-2026-0042")).status_code == 302
    page = client.get(url("inventory-losses", location)).content.decode()
    assert 'data-testid="no-deadlines"' in page
    detail_page = client.get(detail).content.decode()
    assert "106-2026-0042" in detail_page
    assert "Filed 2026-12-07" in detail_page


def test_report_a_loss_through_the_form(monday, client_for, location, lot):
    client = client_for("ivy")
    response = client.post(url("inventory-loss-new", location), loss_form(lot=str(lot.pk)))
    assert response.status_code == 302
    case = LossCase.objects.get()
    assert case.discovered_at == datetime.datetime(2026, 12, 7, 8, 30, tzinfo=CHICAGO)
    assert case.notice_due == datetime.date(2026, 12, 8)
    assert case.quantity_mg == 500


def test_breakage_needs_two_witnesses_through_the_form(monday, client_for, location, lot):
    client = client_for("ivy")
    form = loss_form(kind="breakage", lot=str(lot.pk), witness_email="ben@example.org", witness_password=PASSWORD)
    response = client.post(url("inventory-loss-new", location), form)
    assert response.status_code == 422
    assert "two people who witnessed" in response.content.decode()
    form.update(second_witness_email="ada@example.org", second_witness_password=PASSWORD, form_token=str(uuid.uuid4()))
    assert client.post(url("inventory-loss-new", location), form).status_code == 302
    page = client.get(reverse("inventory-loss", args=[LossCase.objects.get().pk])).content.decode()
    assert "no DEA filing" in page


def test_dashboard_query_count_does_not_grow(client_for, case, actors, location, django_assert_num_queries):
    client = client_for("aud")
    with django_assert_num_queries(13) as captured:
        client.get(url("inventory-losses", location))
    first = len(captured.captured_queries)
    for _ in range(3):
        open_loss_case(
            actors["ivy"],
            location,
            kind=LossKind.SIGNIFICANT_LOSS,
            discovered_at=datetime.datetime(2026, 12, 5, 9, 0, tzinfo=CHICAGO),
            description="Another.",
        )
    with django_assert_num_queries(first):
        page = client.get(url("inventory-losses", location))
    assert page.content.decode().count('data-testid="deadline-row"') == 8
