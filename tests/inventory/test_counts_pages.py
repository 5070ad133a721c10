"""Count, discrepancy and policy pages: who sees and does what (every role, anonymous, Dee of another
clinic), the count form end to end, closing through the page, query counts."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.inventory import actions
from ketacare.inventory.models import Discrepancy, EntryKind, InventoryPolicy, LedgerEntry, StockCount
from ketacare.inventory.reconciliation import record_count
from tests.conftest import PASSWORD
from tests.inventory.conftest import witness

D = Decimal
VIEWERS = {"ada", "ben", "ivy", "aud"}
ALL = ["ann", "ada", "ben", "tess", "cy", "ivy", "aud", "dee", "anon"]


def expected(persona: str, allowed: set[str]) -> int:
    if persona == "anon":
        return 302
    return 200 if persona in allowed else 403


@pytest.fixture
def vial(actors, lot, patient):
    return actions.administer(actors["ben"], lot, patient, quantity_mg=D("475"), quantity_ml=D("9.5")).container


@pytest.fixture
def short_count(actors, location, lot, vial):
    """Ivy counts 1 sealed vial where the ledger says 2: one open discrepancy."""
    return record_count(
        actors["ivy"],
        location,
        kind="shift",
        witness=witness("ben"),
        sealed={lot.pk: 1},
        vials={vial.pk: (D("0.50"), False)},
    )


def count_form(lot, vial, *, units="2", ml="0.50", w="ben", password=PASSWORD, **extra):
    return {
        "form_token": str(uuid.uuid4()),
        "location": str(lot.location_id),
        "kind": "shift",
        f"lot_{lot.pk}": units,
        f"vial_{vial.pk}": ml,
        "witness_email": f"{w}@example.org",
        "witness_password": password,
        "note": "",
        **extra,
    }


@pytest.mark.parametrize("persona", ALL)
def test_who_sees_and_opens_each_page(persona, client_for, short_count):
    client = client_for(persona)
    discrepancy = Discrepancy.objects.get()
    assert client.get(reverse("inventory-counts")).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-count", args=[short_count.pk])).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-discrepancy", args=[discrepancy.pk])).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-policy")).status_code == expected(persona, VIEWERS)
    assert client.get(reverse("inventory-count-new")).status_code == expected(persona, {"ivy"})


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud", "dee", "anon"])
def test_who_may_not_count_or_set_the_policy_changes_nothing(persona, client_for, location, lot, vial):
    client = client_for(persona)
    response = client.post(reverse("inventory-count-new"), count_form(lot, vial, w="ada"))
    assert response.status_code in (302, 403)
    policy = {
        "interval": "annual",
        "opened_containers": "exact",
        "retention_years": "5",
        "form_token": str(uuid.uuid4()),
    }
    assert client.post(reverse("inventory-policy"), policy).status_code in (302, 403)
    assert not StockCount.objects.exists()
    assert not InventoryPolicy.objects.exists()


@pytest.mark.parametrize("persona", ["ann", "ben", "tess", "cy", "aud", "dee", "anon"])
def test_who_may_not_close_changes_nothing(persona, client_for, short_count):
    discrepancy = Discrepancy.objects.get()
    response = client_for(persona).post(
        reverse("inventory-discrepancy", args=[discrepancy.pk]),
        {"finding": "x", "root_cause": "other", "form_token": str(uuid.uuid4())},
    )
    assert response.status_code in (302, 403)
    assert Discrepancy.objects.get().is_open


def test_dee_as_inventory_manager_gets_404(dee_inventory, client_for, location, short_count):
    client = client_for("dee")
    discrepancy = Discrepancy.objects.get()
    assert client.get(reverse("inventory-counts") + f"?location={location.pk}").status_code == 404
    assert client.get(reverse("inventory-count", args=[short_count.pk])).status_code == 404
    assert client.get(reverse("inventory-discrepancy", args=[discrepancy.pk])).status_code == 404
    assert client.post(reverse("inventory-count-new") + f"?location={location.pk}", {}).status_code == 404


def test_count_through_the_form_shows_the_variance(client_for, location, lot, vial):
    client = client_for("ivy")
    page = client.get(reverse("inventory-count-new") + f"?location={location.pk}")
    assert f'name="lot_{lot.pk}"' in page.content.decode()
    assert f'name="vial_{vial.pk}_estimated"' in page.content.decode()  # federal default: estimates allowed
    response = client.post(reverse("inventory-count-new"), count_form(lot, vial, units="1"))
    count = StockCount.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("inventory-count", args=[count.pk])
    detail = client.get(response["Location"]).content.decode()
    assert "1 variance" in detail
    assert "-1 vial(s)" in detail
    assert Discrepancy.objects.filter(closed_at__isnull=True).count() == 1


def test_count_form_errors_name_the_field(client_for, location, lot, vial):
    client = client_for("ivy")
    response = client.post(reverse("inventory-count-new"), count_form(lot, vial, ml="12", w="tess"))
    assert response.status_code == 422
    body = response.content.decode()
    assert "at most 10.00" in body or "less than or equal to 10" in body
    response = client.post(reverse("inventory-count-new"), count_form(lot, vial, w="ben", password="nope"))
    assert response.status_code == 422
    assert "email or password is wrong" in response.content.decode()
    assert not StockCount.objects.exists()
    assert AuditEvent.objects.filter(event_type="inventory_witness.refused").count() == 1


def test_exact_policy_hides_the_estimate_box(client_for, actors, location, lot, vial):
    from ketacare.inventory.policy import save_policy

    save_policy(actors["ivy"], location, interval="annual", opened_containers="exact", retention_years=2)
    page = client_for("ivy").get(reverse("inventory-count-new") + f"?location={location.pk}").content.decode()
    assert "_estimated" not in page


def test_a_double_submitted_count_records_once(client_for, location, lot, vial):
    client = client_for("ivy")
    form = count_form(lot, vial)
    assert client.post(reverse("inventory-count-new"), form).status_code == 302
    assert client.post(reverse("inventory-count-new"), form).status_code == 302
    assert StockCount.objects.count() == 1


def test_close_through_the_page_with_an_adjustment(client_for, short_count, lot):
    discrepancy = Discrepancy.objects.get()
    client = client_for("ivy")
    url = reverse("inventory-discrepancy", args=[discrepancy.pk])
    response = client.post(url, {"finding": "", "root_cause": "", "form_token": str(uuid.uuid4())})
    assert response.status_code == 422
    assert Discrepancy.objects.get().is_open
    response = client.post(
        url,
        {
            "finding": "Vial dropped at 14:10 and not recorded.",
            "root_cause": "unrecorded_waste",
            "adjust": "on",
            "form_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    closed = Discrepancy.objects.get()
    assert not closed.is_open
    assert closed.adjustment.kind == EntryKind.ADJUSTMENT
    lot.refresh_from_db()
    assert lot.sealed_units == 1
    page = client.get(url).content.decode()
    assert "Closed" in page
    assert "Vial dropped" in page


def test_policy_page_saves_and_shows_the_due_date(client_for, location):
    client = client_for("ivy")
    page = client.get(reverse("inventory-policy") + f"?location={location.pk}").content.decode()
    assert "Initial inventory not recorded" in page
    assert "clinical.md section 5" in page
    response = client.post(
        reverse("inventory-policy"),
        {
            "interval": "annual",
            "opened_containers": "quarter",
            "retention_years": "1",
            "location": location.pk,
            "form_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 422
    response = client.post(
        reverse("inventory-policy"),
        {
            "interval": "annual",
            "opened_containers": "quarter",
            "retention_years": "5",
            "location": location.pk,
            "form_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    assert InventoryPolicy.objects.get(location=location).retention_years == 5
    assert "inventory_policy.saved" in AuditEvent.objects.values_list("event_type", flat=True)


def test_counts_page_query_count_does_not_grow(client_for, actors, location, lot, vial, django_assert_num_queries):
    client = client_for("aud")
    for _ in range(2):
        record_count(
            actors["ivy"],
            location,
            kind="shift",
            witness=witness("ben"),
            sealed={lot.pk: 1},
            vials={vial.pk: (D("0.4"), False)},
        )
    with django_assert_num_queries(14) as captured:
        client.get(reverse("inventory-counts") + f"?location={location.pk}")
    first = len(captured.captured_queries)
    for _ in range(3):
        record_count(
            actors["ivy"],
            location,
            kind="shift",
            witness=witness("ben"),
            sealed={lot.pk: 1},
            vials={vial.pk: (D("0.4"), False)},
        )
    with django_assert_num_queries(first):
        page = client.get(reverse("inventory-counts") + f"?location={location.pk}")
    assert page.content.decode().count('data-testid="count-row"') == 5
    assert page.content.decode().count('data-testid="open-discrepancy"') == 10


def test_count_detail_query_count(client_for, short_count, django_assert_num_queries):
    client = client_for("aud")
    with django_assert_num_queries(10):
        client.get(reverse("inventory-count", args=[short_count.pk]))


def test_lines_not_counted_are_errors_and_nothing_is_recorded(client_for, location, lot, vial):
    form = count_form(lot, vial)
    del form[f"vial_{vial.pk}"]
    response = client_for("ivy").post(reverse("inventory-count-new"), form)
    assert response.status_code == 422
    assert not LedgerEntry.objects.filter(kind=EntryKind.ADJUSTMENT).exists()
    assert not StockCount.objects.exists()


def test_counts_page_shows_the_inventory_due_then_overdue(client_for, actors, location, lot, vial):
    import datetime

    import time_machine

    client = client_for("aud")
    page = client.get(reverse("inventory-counts") + f"?location={location.pk}").content.decode()
    assert "Initial inventory not recorded" in page
    with time_machine.travel(datetime.datetime(2026, 3, 2, 15, 0, tzinfo=datetime.UTC), tick=False):
        record_count(
            actors["ivy"],
            location,
            kind="initial",
            witness=witness("ben"),
            sealed={lot.pk: 2},
            vials={vial.pk: (D("0.5"), False)},
        )
    with time_machine.travel(datetime.datetime(2027, 3, 2, 15, 0, tzinfo=datetime.UTC), tick=False):
        page = client_for("aud").get(reverse("inventory-counts") + f"?location={location.pk}").content.decode()
    assert "Biennial inventory due <strong>2028-03-02</strong>" in page
    assert "366 day(s) left" in page
    with time_machine.travel(datetime.datetime(2028, 3, 12, 15, 0, tzinfo=datetime.UTC), tick=False):
        page = client_for("aud").get(reverse("inventory-counts") + f"?location={location.pk}").content.decode()
    assert "Overdue by 10 day(s)" in page
