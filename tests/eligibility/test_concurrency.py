"""Two decisions for one patient and route at the same instant: both recorded, one superseding the
other, and exactly one current (the patient row lock serialises them; the unique constraint backs it)."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from ketacare.accounts.actions import create_api_token
from ketacare.eligibility.models import EligibilityDecision
from tests.eligibility.conftest import make_intake


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_simultaneous_decisions_leave_one_current(round_, personas, clinic, patient, evaluate):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    evaluation = evaluate(make_intake(patient), "iv")
    _, raw = create_api_token(personas["ada"], clinic, "tablet")
    barrier = threading.Barrier(2, timeout=10)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def send(decision: str) -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
            body = {
                "patient_id": patient.pk,
                "route": "iv",
                "decision": decision,
                "evaluation_id": evaluation.pk,
                "reason": "Concurrent test.",
            }
            barrier.wait()
            response = client.post("/api/v1/eligibility/decisions", json.dumps(body), content_type="application/json")
            statuses.append(response.status_code)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(d,)) for d in ("eligible", "not_eligible")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert statuses == [201, 201]
    assert EligibilityDecision.objects.count() == 2
    assert EligibilityDecision.objects.filter(is_current=True).count() == 1
    assert EligibilityDecision.objects.filter(is_current=False, superseded_at__isnull=False).count() == 1
