"""The patient actions: MRNs, clinic rules, refusals and the audit row each one writes."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from ketacare.audit.models import AuditEvent
from ketacare.patients import actions
from ketacare.patients.models import Patient
from tests.conftest import PATIENT_DEFAULTS
from tests.patients.helpers import escort, state_of, world

pytestmark = pytest.mark.django_db


def values(**fields):
    return {**PATIENT_DEFAULTS, **fields}


# --- MRNs -------------------------------------------------------------------------------------


def test_mrns_are_assigned_with_the_clinic_prefix_in_sequence_skipping_used_numbers(actors, clinic):
    # given
    first = actions.create_patient(actors["cy"], values(legal_first_name="A"))
    manual = actions.create_patient(actors["cy"], values(legal_first_name="B", mrn="HL-000003"))

    # when two more are registered without an MRN
    second = actions.create_patient(actors["cy"], values(legal_first_name="C"))
    third = actions.create_patient(actors["cy"], values(legal_first_name="D"))

    # then the manually used number is skipped
    assert [first.mrn, manual.mrn, second.mrn, third.mrn] == ["HL-000001", "HL-000003", "HL-000002", "HL-000004"]
    clinic.refresh_from_db()
    assert clinic.next_mrn_number == 5


def test_each_clinic_has_its_own_mrn_sequence(actors):
    harbor = actions.create_patient(actors["ann"], values())
    northside = actions.create_patient(actors["dee"], values())

    assert (harbor.mrn, northside.mrn) == ("HL-000001", "NS-000001")


def test_an_mrn_is_unique_in_a_clinic_but_may_repeat_in_another(actors):
    # given
    actions.create_patient(actors["ann"], values(mrn="EXT-42"))
    before = world()

    # when / then: Harbor Light cannot use it twice
    with pytest.raises(ValidationError) as excinfo:
        actions.create_patient(actors["cy"], values(legal_first_name="Other", mrn="EXT-42"))
    assert set(excinfo.value.message_dict) == {"mrn"}
    assert world() == before

    # but Northside may
    northside = actions.create_patient(actors["dee"], values(mrn="EXT-42"))
    assert northside.mrn == "EXT-42"
    assert Patient.objects.filter(mrn="EXT-42").count() == 2


def test_the_database_refuses_a_repeated_mrn_in_one_clinic(patient):
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(**{**values(), "clinic": patient.clinic, "mrn": patient.mrn})


def test_an_edit_cannot_take_another_patients_mrn_or_blank_it(actors, patient, make_patient):
    other = make_patient(legal_first_name="Casey")
    before = state_of(patient)

    with pytest.raises(ValidationError) as taken:
        actions.update_patient(actors["ben"], patient, {"mrn": other.mrn})
    with pytest.raises(ValidationError) as blank:
        actions.update_patient(actors["ben"], patient, {"mrn": ""})

    assert set(taken.value.message_dict) == set(blank.value.message_dict) == {"mrn"}
    assert state_of(patient) == before


# --- Duplicates -------------------------------------------------------------------------------


def test_a_possible_duplicate_is_refused_unless_confirmed(actors, patient):
    before = world()

    with pytest.raises(actions.PossibleDuplicate) as excinfo:
        actions.create_patient(actors["cy"], values(legal_first_name="jordán", legal_last_name="AVERY"))

    assert excinfo.value.matches == [patient]
    assert world() == before
    confirmed = actions.create_patient(actors["cy"], values(), confirm_not_duplicate=True)
    assert confirmed.pk != patient.pk


def test_a_namesake_in_another_clinic_is_not_a_duplicate(actors, patient):
    created = actions.create_patient(actors["dee"], values())

    assert created.clinic.slug == "northside"


# --- Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["tess", "ivy", "aud"])
def test_roles_without_the_permission_cannot_create_or_update(who, actors, charted):
    before, counts = state_of(charted), world()

    with pytest.raises(PermissionDenied):
        actions.create_patient(actors[who], values(legal_first_name="New"), confirm_not_duplicate=True)
    with pytest.raises(PermissionDenied):
        actions.update_patient(actors[who], charted, {"city": "Evanston"}, [])

    assert state_of(charted) == before
    assert world() == counts


def test_an_admin_of_another_clinic_cannot_update(actors, charted):
    before, counts = state_of(charted), world()

    with pytest.raises(PermissionDenied):
        actions.update_patient(actors["dee"], charted, {"city": "Evanston"}, [])

    assert state_of(charted) == before
    assert world() == counts


def test_searching_needs_the_view_permission(actors, patient):
    with pytest.raises(PermissionDenied):
        actions.search_patients(actors["ivy"], "Avery")
    assert not AuditEvent.objects.filter(event_type__in=["patient.searched", "patient.listed"]).exists()


# --- Audit rows -------------------------------------------------------------------------------


def test_create_writes_a_c_row_with_the_new_values(actors, clinic, personas):
    patient = actions.create_patient(actors["ada"], values(email="j@example.org"), [escort()])

    event = AuditEvent.objects.get(event_type="patient.created")
    assert (event.action, event.outcome, event.clinic, event.actor, event.patient) == (
        "C",
        0,
        clinic,
        personas["ada"],
        patient,
    )
    assert event.actor_role == "prescriber"
    assert event.actor_label == "Ada Okafor <ada@example.org>"
    new = event.detail["new"]
    assert new["mrn"] == "HL-000001"
    assert new["date_of_birth"] == "1985-04-12"
    assert new["email"] == "j@example.org"
    assert new["status"] == "active"
    assert event.detail["contacts"] == [
        {
            "id": patient.contacts.get().pk,
            "role": "escort",
            "name": "Sam Driver",
            "relationship": "partner",
            "phone": "312-555-0100",
            "email": "",
            "notes": "",
        }
    ]


def test_update_writes_a_u_row_with_old_and_new_values(actors, charted, personas):
    contact = charted.contacts.get()

    changes = actions.update_patient(
        actors["ben"],
        charted,
        {"city": "Evanston", "date_of_birth": datetime.date(1985, 4, 13), "primary_clinician": personas["ada"]},
        [{"id": contact.pk, **escort(phone="312-555-0999")}],
    )

    event = AuditEvent.objects.get(event_type="patient.updated")
    assert (event.action, event.actor, event.patient, event.subject_id) == (
        "U",
        personas["ben"],
        charted,
        str(charted.pk),
    )
    assert event.detail["changes"] == {
        "city": {"old": "", "new": "Evanston"},
        "date_of_birth": {"old": "1985-04-12", "new": "1985-04-13"},
        "primary_clinician": {"old": None, "new": personas["ada"].pk},
        "contacts": {
            "old": [{"id": contact.pk, **escort()}],
            "new": [{"id": contact.pk, **escort(phone="312-555-0999")}],
        },
    }
    assert set(changes) == set(event.detail["changes"])


def test_update_with_contacts_left_out_keeps_them(actors, charted):
    actions.update_patient(actors["ben"], charted, {"city": "Evanston"})

    assert charted.contacts.count() == 1
    assert set(AuditEvent.objects.get(event_type="patient.updated").detail["changes"]) == {"city"}


def test_list_and_search_write_one_r_row_each_with_the_query_and_counts(actors, make_patient, clinic, personas):
    # given 30 patients, 3 of them named Avery
    for i in range(27):
        make_patient(legal_first_name=f"P{i:02d}", legal_last_name="Zed")
    for name in ("Ann", "Bo", "Cy"):
        make_patient(legal_first_name=name)

    # when
    listed = actions.search_patients(actors["tess"], "", page_number=2, per_page=25)
    searched = actions.search_patients(actors["tess"], "avery", status="active")

    # then
    assert len(listed.object_list) == 5
    assert [p.legal_first_name for p in searched.object_list] == ["Ann", "Bo", "Cy"]
    events = AuditEvent.objects.filter(event_type__in=["patient.listed", "patient.searched"]).order_by("id")
    assert [(e.event_type, e.action, e.actor, e.clinic, e.patient) for e in events] == [
        ("patient.listed", "R", personas["tess"], clinic, None),
        ("patient.searched", "R", personas["tess"], clinic, None),
    ]
    assert events[0].detail == {
        "query": "",
        "status": "",
        "page": 2,
        "rows_returned": 5,
        "total_matches": 30,
        "patient_ids": [p.pk for p in listed.object_list],
    }
    assert events[1].detail == {
        "query": "avery",
        "status": "active",
        "page": 1,
        "rows_returned": 3,
        "total_matches": 3,
        "patient_ids": [p.pk for p in searched.object_list],
    }


def test_an_mrn_taken_between_the_check_and_the_save_is_a_field_error(actors, patient, make_patient, monkeypatch):
    # given another request registers the MRN after this one checked it (simulated: the check sees nothing)
    other = make_patient(legal_first_name="Casey")
    monkeypatch.setattr(actions, "patients_of", lambda actor: Patient.objects.none())
    before, counts = state_of(patient), world()

    # when / then the database's unique constraint is reported on the field, not as a server error
    with pytest.raises(ValidationError) as on_create:
        actions.create_patient(actors["cy"], values(legal_first_name="New", mrn=other.mrn))
    with pytest.raises(ValidationError) as on_update:
        actions.update_patient(actors["cy"], patient, {"mrn": other.mrn})

    assert set(on_create.value.message_dict) == set(on_update.value.message_dict) == {"mrn"}
    assert state_of(patient) == before
    assert world() == counts
