"""Two identical POSTs with one Idempotency-Key at the same instant create exactly one patient."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client

from ketacare.accounts.actions import create_api_token
from ketacare.audit.models import AuditEvent
from ketacare.patients.models import Patient
from tests.patients.helpers import api_patient


def send_together(raw_token: str, headers: dict[str, str], n: int = 2) -> list[tuple[int, dict]]:
    """POST the same new patient from n threads at once, each on its own connection."""
    barrier = threading.Barrier(n, timeout=10)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
            barrier.wait()
            response = client.post("/api/v1/patients", api_patient(), content_type="application/json", **headers)
            results.append((response.status_code, response.json()))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_simultaneous_repeats_with_one_key_create_one_patient(round_, personas, clinic):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    # given one token, and two threads that will send the same request at the same moment
    _, raw = create_api_token(personas["cy"], clinic, "tablet")

    # when
    results = send_together(raw, {"HTTP_IDEMPOTENCY_KEY": f"same-{round_}"})

    # then one was created, the other got the same patient back
    assert sorted(status for status, _ in results) == [200, 201]
    assert results[0][1]["id"] == results[1][1]["id"]
    assert Patient.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="patient.created").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_simultaneous_registrations_of_one_person_without_a_key_create_one_patient(round_, personas, clinic):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    # given two desks registering the same person at the same moment, with no Idempotency-Key
    _, raw = create_api_token(personas["cy"], clinic, "tablet")

    # when
    statuses = [status for status, _ in send_together(raw, {})]

    # then the duplicate check saw the first registration: one patient, one 409
    assert sorted(statuses) == [201, 409]
    assert Patient.objects.count() == 1
