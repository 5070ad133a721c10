"""On PostgreSQL, two submits through one intake link at the same instant store one submission, and
two staff starting an intake for one patient at once make one intake."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from ketacare.audit.models import AuditEvent
from ketacare.patients.models import BodyMeasurement
from ketacare.screening import actions
from ketacare.screening.models import Intake, IntakeStatus

from .conftest import ORIGIN, patient_data

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def together(work: Callable[[], object], n: int = 2) -> list[str]:
    """Run `work` in n threads at once (own connections); 'ok' or the refusal's class name each."""
    barrier = threading.Barrier(n, timeout=10)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            work()
            outcomes.append("ok")
        except ValidationError:
            outcomes.append("refused")
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return sorted(outcomes)


@pytest.mark.parametrize("round_", range(3))
def test_two_submits_on_one_link_store_one(round_, sent):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    intake, link = sent
    assert together(lambda: actions.submit_by_patient(link, patient_data(), ORIGIN)) == ["ok", "refused"]
    intake.refresh_from_db()
    assert intake.status == IntakeStatus.SUBMITTED
    assert intake.prior_trials.count() == 2
    assert BodyMeasurement.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="intake.submitted").count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_starts_for_one_patient_make_one_intake(round_, actors, patient):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    assert together(lambda: actions.start_intake(actors["ben"], patient)) == ["ok", "refused"]
    assert Intake.objects.filter(patient=patient).count() == 1
