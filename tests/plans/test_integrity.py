"""Database guarantees: one signed plan per patient and route under concurrency; PostgreSQL refuses
changes to locked plans and published protocol versions even when the application is bypassed."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, connections, transaction

from ketacare.plans import actions
from ketacare.plans.models import PlanStatus, TreatmentPlan
from tests.conftest import PASSWORD
from tests.plans.conftest import TODAY


def _plan(actors, patient, version):
    return actions.create_plan(actors["ben"], patient, version.pk, first_session_on=TODAY + datetime.timedelta(days=1))


@pytest.mark.postgres
def test_postgresql_refuses_changes_to_a_signed_plan_and_a_published_version(actors, weighed, iv_version, gate):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL trigger")
    plan = actions.sign_plan(actors["ada"], _plan(actors, weighed, iv_version), PASSWORD)

    for sql in (
        "UPDATE plans_treatmentplan SET dose_final_mg = 45 WHERE id = %s",
        "UPDATE plans_treatmentplan SET planned_sessions = '[]'::jsonb WHERE id = %s",
        "UPDATE plans_treatmentplan SET status = 'draft' WHERE id = %s",
        "DELETE FROM plans_treatmentplan WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="plans_treatmentplan"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql, [plan.pk])
    for sql in (
        "UPDATE protocols_clinicprotocolversion SET data = '{}'::jsonb WHERE id = %s",
        "UPDATE protocols_clinicprotocolversion SET status = 'draft' WHERE id = %s",
        "DELETE FROM protocols_clinicprotocolversion WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="protocols_clinicprotocolversion"),
            transaction.atomic(),
            connection.cursor() as c,
        ):
            c.execute(sql, [iv_version.pk])
    # A draft may still change; a signed plan may still be superseded.
    TreatmentPlan.objects.filter(pk=plan.pk).update(status=PlanStatus.SUPERSEDED)


def test_queryset_update_of_a_signed_plan_is_refused_by_the_constraint_or_trigger(actors, weighed, iv_version, gate):
    """Two signed plans for one patient and route cannot exist, even written directly."""
    first = actions.sign_plan(actors["ada"], _plan(actors, weighed, iv_version), PASSWORD)
    second = _plan(actors, weighed, iv_version)
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        TreatmentPlan.objects.filter(pk=second.pk).update(
            status=PlanStatus.SIGNED, signed_by=first.signed_by, signed_at=first.signed_at
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_prescribers_signing_two_plans_at_once_leave_one_signed(actors, weighed, iv_version, gate):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to prove")
    plans = [_plan(actors, weighed, iv_version), _plan(actors, weighed, iv_version)]
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def sign(plan: TreatmentPlan) -> None:
        try:
            barrier.wait()
            actions.sign_plan(actors["ada"], plan, PASSWORD)
            outcomes.append("signed")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert not errors, errors
    assert sorted(outcomes)[-1] == "signed"
    assert outcomes.count("signed") == 1
    assert TreatmentPlan.objects.filter(patient=weighed, route="iv", status=PlanStatus.SIGNED).count() == 1
