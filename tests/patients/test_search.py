"""The one search box: what `parse_query` understands, what `search_queryset` finds, and scoping."""

from __future__ import annotations

import datetime

import pytest

from ketacare.patients import actions
from ketacare.patients.access import patients_of
from ketacare.patients.search import ParsedQuery, parse_query, search_queryset

# --- parse_query (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedQuery()),
        ("   ", ParsedQuery()),
        ("smi", ParsedQuery(text="smi", name_words=("smi",))),
        ("Smith Jo", ParsedQuery(text="Smith Jo", name_words=("smith", "jo"))),
        ("  Smith,   John ", ParsedQuery(text="Smith,   John", name_words=("smith", "john"))),
        ("Smith,John", ParsedQuery(text="Smith,John", name_words=("smith", "john"))),
        ("NÚÑEZ José", ParsedQuery(text="NÚÑEZ José", name_words=("nunez", "jose"))),
        ("a b c d e f", ParsedQuery(text="a b c d e f", name_words=("a", "b", "c", "d"))),
        ("1984-03-07", ParsedQuery(text="1984-03-07", date_of_birth=datetime.date(1984, 3, 7))),
        ("1984-3-7", ParsedQuery(text="1984-3-7", date_of_birth=datetime.date(1984, 3, 7))),
        ("03/07/1984", ParsedQuery(text="03/07/1984", date_of_birth=datetime.date(1984, 3, 7))),
        ("3/7/1984", ParsedQuery(text="3/7/1984", date_of_birth=datetime.date(1984, 3, 7))),
        ("(555) 010-2233", ParsedQuery(text="(555) 010-2233", phone_digits="5550102233", mrn="5550102233")),
        ("555.010.2233", ParsedQuery(text="555.010.2233", phone_digits="5550102233", mrn="5550102233")),
        ("555 0102", ParsedQuery(text="555 0102", phone_digits="5550102", mrn="5550102")),
        ("123456", ParsedQuery(text="123456", mrn="123456")),
        ("KC-000123", ParsedQuery(text="KC-000123", mrn="KC-000123")),
        ("kc-12", ParsedQuery(text="kc-12", mrn="KC-12")),
    ],
)
def test_parse_query(text, expected):
    assert parse_query(text) == expected


@pytest.mark.parametrize("text", ["1984-02-30", "13/45/1984"])
def test_an_impossible_date_is_not_a_date_of_birth(text):
    assert parse_query(text).date_of_birth is None


def test_a_long_query_is_cut_to_100_characters():
    assert len(parse_query("a" * 500).text) == 100


def test_parsed_query_empty():
    assert ParsedQuery().empty
    assert not parse_query("smi").empty
    assert not parse_query("123").empty


# --- search_queryset --------------------------------------------------------------------------


@pytest.fixture
def people(make_patient):
    """A small Harbor Light register, by key."""
    return {
        "john": make_patient(
            legal_first_name="John",
            legal_last_name="Smith",
            phone_mobile="(555) 010-2233",
            date_of_birth=datetime.date(1984, 3, 7),
        ),
        "jane": make_patient(
            legal_first_name="Jane",
            legal_last_name="Smithers",
            phone_mobile="555-777-1234",
            date_of_birth=datetime.date(1990, 1, 2),
        ),
        "jose": make_patient(
            legal_first_name="José",
            legal_last_name="Núñez",
            preferred_name="Pepe",
            phone_mobile="",
            phone_home="312 555 0000",
            date_of_birth=datetime.date(1984, 3, 7),
        ),
        "imported": make_patient(legal_first_name="Ola", legal_last_name="Berg", mrn="778899", status="inactive"),
        "mrn": make_patient(legal_first_name="Kim", legal_last_name="Lee", mrn="KC-000123"),
    }


def find(actor, text, status=""):
    qs = search_queryset(patients_of(actor), parse_query(text), status)
    return [p.legal_first_name for p in qs]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["Ola", "Kim", "José", "John", "Jane"]),  # everyone, by last then first name
        ("smi", ["John", "Jane"]),
        ("SMITH", ["John", "Jane"]),
        ("smith jo", ["John"]),
        ("jo smith", ["John"]),
        ("Smith, John", ["John"]),
        ("smithe", ["Jane"]),
        ("nunez", ["José"]),
        ("NÚÑ", ["José"]),
        ("jose nun", ["José"]),
        ("pep", ["José"]),  # preferred name
        ("1984-03-07", ["José", "John"]),
        ("3/7/1984", ["José", "John"]),
        ("03/07/1984", ["José", "John"]),
        ("(555) 010-2233", ["John"]),
        ("555-010-2233", ["John"]),
        ("5550102", ["John"]),  # seven digits: a phone prefix
        ("312 555 0000", ["José"]),  # home phone when there is no mobile
        ("778899", ["Ola"]),  # all-digit MRN
        ("7788", ["Ola"]),  # all-digit MRN prefix
        ("KC-000123", ["Kim"]),
        ("kc-0001", ["Kim"]),
        ("smith zz", []),  # every word must match
        ("1999-12-31", []),
    ],
)
def test_search_queryset(text, expected, people, actors):
    assert find(actors["cy"], text) == expected


@pytest.mark.django_db
def test_search_queryset_filters_by_status(people, actors):
    assert find(actors["cy"], "", status="inactive") == ["Ola"]
    assert find(actors["cy"], "berg", status="active") == []


@pytest.mark.django_db
def test_another_clinics_search_never_returns_harbor_patients(people, actors, outside_patient):
    # given Northside has its own John Smith, born the same day, with the same phone
    actions.create_patient(
        actors["dee"],
        {
            "legal_first_name": "John",
            "legal_last_name": "Smith",
            "date_of_birth": datetime.date(1984, 3, 7),
            "sex_at_birth": "male",
            "phone_mobile": "(555) 010-2233",
            "mrn": "KC-000123",
        },
        confirm_not_duplicate=True,
    )
    harbor_ids = {p.pk for p in people.values()}

    for text in ["", "smith", "Smith, John", "1984-03-07", "5550102233", "KC-000123", "778899", "nunez"]:
        # when Dee searches
        page = actions.search_patients(actors["dee"], text, per_page=100)

        # then she sees only Northside's patients
        assert {p.clinic.slug for p in page.object_list} <= {"northside"}, text
        assert not harbor_ids & {p.pk for p in page.object_list}, text


@pytest.mark.parametrize("typed", ["+1 312 555 0142", "1-312-555-0142", "(312) 555-0142", "312 555 01"])
def test_a_phone_matches_with_or_without_the_country_code(typed, make_patient, actors):
    # given one patient whose number was entered with the country code
    wanted = make_patient(phone_mobile="+1 (312) 555-0142")
    make_patient(legal_first_name="Other", phone_mobile="(773) 555-0199")

    # when staff type the number in any of the usual ways
    found = actions.search_patients(actors["cy"], typed)

    # then they find that patient
    assert [p.pk for p in found.object_list] == [wanted.pk]
