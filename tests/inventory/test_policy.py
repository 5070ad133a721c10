"""Inventory and record policy per location (inventory.policy; clinical.md section 5)."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from ketacare.audit.models import AuditEvent
from ketacare.inventory.models import InventoryInterval, InventoryPolicy, OpenedContainerRule
from ketacare.inventory.policy import next_inventory_due, policy_for, save_policy
from ketacare.inventory.reconciliation import record_count
from tests.inventory.conftest import witness


def test_federal_defaults_without_a_row(location):
    policy = policy_for(location)
    assert policy.pk is None
    assert policy.interval == InventoryInterval.BIENNIAL
    assert policy.opened_containers == OpenedContainerRule.ESTIMATE
    assert policy.retention_years == 2


def test_save_and_update_are_audited(actors, location):
    save_policy(actors["ivy"], location, interval="annual", opened_containers="quarter", retention_years=5)
    save_policy(actors["ivy"], location, interval="annual", opened_containers="exact", retention_years=5)
    policy = InventoryPolicy.objects.get(location=location)
    assert (policy.interval, policy.opened_containers, policy.retention_years) == ("annual", "exact", 5)
    events = list(AuditEvent.objects.filter(event_type="inventory_policy.saved").order_by("id"))
    assert events[0].detail["before"] is None
    assert events[1].detail["before"]["opened_containers"] == "quarter"


def test_retention_is_at_least_two_years(actors, location):
    with pytest.raises(ValidationError) as exc:
        save_policy(actors["ivy"], location, interval="biennial", opened_containers="estimate", retention_years=1)
    assert "at least 2 years" in exc.value.message_dict["retention_years"][0]
    with pytest.raises(ValidationError) as exc:
        save_policy(actors["ivy"], location, interval="weekly", opened_containers="guess", retention_years=2)
    assert set(exc.value.message_dict) == {"interval", "opened_containers"}
    assert not InventoryPolicy.objects.exists()


@pytest.mark.parametrize("persona", ["ann", "ada", "ben", "tess", "cy", "aud"])
def test_only_the_inventory_manager_sets_the_policy(actors, location, persona):
    with pytest.raises(PermissionDenied):
        save_policy(actors[persona], location, interval="annual", opened_containers="exact", retention_years=3)
    assert not InventoryPolicy.objects.exists()


def test_next_inventory_due_follows_the_interval(actors, location, lot):
    assert next_inventory_due(location).initial_needed
    with time_machine.travel(datetime.datetime(2026, 3, 2, 15, 0, tzinfo=datetime.UTC), tick=False):
        record_count(actors["ivy"], location, kind="initial", witness=witness("ben"), sealed={lot.pk: 3}, vials={})
    due = next_inventory_due(location)
    assert (due.last, due.due, due.initial_needed) == (datetime.date(2026, 3, 2), datetime.date(2028, 3, 2), False)
    assert due.days_left(datetime.date(2028, 3, 1)) == 1
    save_policy(actors["ivy"], location, interval="annual", opened_containers="exact", retention_years=2)
    assert next_inventory_due(location).due == datetime.date(2027, 3, 2)
    # A shift count is not the periodic inventory.
    record_count(actors["ivy"], location, kind="shift", witness=witness("ben"), sealed={lot.pk: 3}, vials={})
    assert next_inventory_due(location).due == datetime.date(2027, 3, 2)


def test_database_refuses_retention_below_two(location):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        InventoryPolicy.objects.create(clinic=location.clinic, location=location, retention_years=1)


def test_admin_edits_the_policy_and_the_change_is_audited(client, location, django_user_model):
    from django.urls import reverse

    superuser = django_user_model.objects.create_superuser(email="root@example.org", password="x-very-long-1")
    client.force_login(superuser)
    add = reverse("admin:inventory_inventorypolicy_add")
    bad = client.post(
        add, {"location": location.pk, "interval": "annual", "opened_containers": "exact", "retention_years": 1}
    )
    assert bad.status_code == 200  # the form again, with the error
    assert not InventoryPolicy.objects.exists()
    response = client.post(
        add, {"location": location.pk, "interval": "annual", "opened_containers": "exact", "retention_years": 5}
    )
    assert response.status_code == 302
    policy = InventoryPolicy.objects.get()
    assert (policy.clinic_id, policy.updated_by) == (location.clinic_id, superuser)
    assert AuditEvent.objects.get(event_type="inventory_policy.saved").detail["via"] == "admin"


def test_keep_until_follows_the_retention(actors, location):
    from ketacare.inventory.policy import keep_until

    assert keep_until(policy_for(location), datetime.date(2024, 2, 29)) == datetime.date(2026, 2, 28)
    policy = save_policy(actors["ivy"], location, interval="biennial", opened_containers="estimate", retention_years=5)
    assert keep_until(policy, datetime.date(2026, 11, 24)) == datetime.date(2031, 11, 24)
