"""The patient list pins its query count, and the count does not grow with the patients."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ketacare.patients.models import Patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def register(make_patient, personas):
    """Register n more Harbor Light patients, each with a primary clinician and an escort."""

    def add(n: int) -> None:
        start = Patient.objects.count()
        for i in range(n):
            make_patient(
                legal_first_name=f"First{start + i}",
                legal_last_name=f"Last{i:03d}",
                primary_clinician=personas["ada"] if i % 2 else personas["ben"],
                contacts=[{"role": "escort", "name": f"Escort {i}", "phone": "555-0100"}],
            )

    return add


# session, user, membership (with its clinic), OTP devices; the search action's transaction (a
# SAVEPOINT and RELEASE inside the test's transaction) around count, page (with primary clinicians,
# select_related) and one audit row; then the session save (SAVEPOINT, UPDATE, RELEASE).
LIST_PAGE_QUERIES = 12


@pytest.mark.parametrize("query", ["", "last"])
def test_patient_list_query_count_does_not_grow_with_patients(query, client_for, register, django_assert_num_queries):
    client = client_for("cy")
    url = reverse("patients-list") + (f"?q={query}" if query else "")
    client.get(url)  # warm up: the session row and caches

    register(3)
    with django_assert_num_queries(LIST_PAGE_QUERIES):
        few = client.get(url)

    register(27)
    with django_assert_num_queries(LIST_PAGE_QUERIES):
        many = client.get(url)

    assert few.status_code == many.status_code == 200
    assert few.context["page"].paginator.count == 3
    assert many.context["page"].paginator.count == 30
    assert len(many.context["page"].object_list) == 25
    assert b"Ada Okafor" in many.content  # the clinician column was rendered from the joined rows
