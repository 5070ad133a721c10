"""Audit rows are append-only: the application cannot change or remove one, nor can raw SQL on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from ketacare.audit.models import AuditAction, AuditEvent, AuditImmutableError
from ketacare.audit.record import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(actors, patient):
    return record(actors["ben"], AuditAction.READ, "patient.viewed", subject=patient, patient=patient)


def stored(event):
    return AuditEvent.objects.filter(pk=event.pk).values().get()


def test_a_saved_event_cannot_be_saved_again(event):
    before = stored(event)
    event.event_type = "patient.forged"

    with pytest.raises(AuditImmutableError):
        event.save()

    assert stored(event) == before


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(AuditImmutableError):
        event.delete()

    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "change",
    [
        lambda qs, e: qs.filter(pk=e.pk).update(event_type="patient.forged"),
        lambda qs, e: qs.all().update(outcome=0),
        lambda qs, e: qs.filter(pk=e.pk).delete(),
        lambda qs, e: qs.all().delete(),
        lambda qs, e: qs.bulk_update([e], ["event_type"]),
    ],
    ids=["update-one", "update-all", "delete-one", "delete-all", "bulk-update"],
)
def test_querysets_cannot_update_or_delete(change, event):
    before = stored(event)
    event.event_type = "patient.forged"

    with pytest.raises(AuditImmutableError), transaction.atomic():
        change(AuditEvent.objects, event)

    assert stored(event) == before


def test_a_patient_with_audit_rows_cannot_be_deleted(event, patient):
    with pytest.raises(ProtectedError), transaction.atomic():
        patient.delete()

    assert AuditEvent.objects.filter(pk=event.pk, patient=patient).exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET event_type = 'patient.forged' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_postgresql_refuses_raw_update_and_delete(sql, event):
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    before = stored(event)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [event.pk])

    assert stored(event) == before
