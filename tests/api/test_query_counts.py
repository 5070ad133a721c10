"""GET /api/v1/patients pins its query count, and the count does not grow with the patients."""

from __future__ import annotations

import pytest

from ketacare.patients.models import Patient

pytestmark = pytest.mark.django_db

# token (with user and clinic), membership, SAVEPOINT, count, page, one audit row, RELEASE.
LIST_QUERIES = 7


@pytest.fixture
def register(make_patient, personas):
    def add(n: int) -> None:
        start = Patient.objects.count()
        for i in range(n):
            make_patient(
                legal_first_name=f"First{start + i}",
                legal_last_name=f"Last{start + i:03d}",
                primary_clinician=personas["ada"],
                contacts=[{"role": "escort", "name": f"Escort {i}", "phone": "555-0100"}],
            )

    return add


@pytest.mark.parametrize("query", ["", "?q=last"])
def test_list_query_count_does_not_grow_with_patients(query, api_client_for, register, django_assert_num_queries):
    client = api_client_for("tess")
    client.get(f"/api/v1/patients{query}")  # warm up: the token's last use is stamped once a minute

    register(3)
    with django_assert_num_queries(LIST_QUERIES):
        few = client.get(f"/api/v1/patients{query}")

    register(27)
    with django_assert_num_queries(LIST_QUERIES):
        many = client.get(f"/api/v1/patients{query}")

    assert (few.status_code, few.json()["count"], len(few.json()["results"])) == (200, 3, 3)
    assert (many.status_code, many.json()["count"], len(many.json()["results"])) == (200, 30, 25)
    assert many.json()["pages"] == 2
