import datetime
import json
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ketacare.sessions.rems import (
    PMF_DUE_DAYS,
    RemsFormDataError,
    UnknownRemsForm,
    days_left,
    form_versions,
    get_form,
    is_overdue,
    load_forms,
    missing_required,
    pmf_due_at,
    pmf_due_date,
    session_local_date,
)

CHICAGO = ZoneInfo("America/Chicago")
UTC = datetime.UTC


def _pmf_text() -> str:
    return resources.files("ketacare.sessions").joinpath("rems_forms/pmf-v1.json").read_text(encoding="utf-8")


def _complete_values() -> dict[str, object]:
    form = get_form("pmf", "1")
    values: dict[str, object] = {}
    for field in form.fields:
        values[field.id] = {
            "text": "x",
            "date": datetime.date(2026, 3, 10),
            "datetime": datetime.datetime(2026, 3, 10, 9, tzinfo=CHICAGO),
            "number": 120,
            "choice": field.choices[0] if field.choices else None,
            "bool": False,
        }[field.kind]
    values["dose"] = "56 mg"
    values.pop("dose_other_mg")
    values.pop("patient_middle_initial")
    return values


# --- the form as data -------------------------------------------------------------------------


def test_pmf_v1_follows_clinical_md_section_1_4():
    form = get_form("pmf", "1")
    assert (form.code, form.version, form.effective_from) == ("pmf", "1", datetime.date(2021, 11, 1))
    assert "§1.4" in form.source
    assert "REMS-PMF" in form.source
    ids = [f.id for f in form.fields]
    # Concomitant medications: the four Y/N questions of the 11/2021 form.
    assert [f.id for f in form.section_fields("concomitant_medications")] == [
        "med_benzodiazepines",
        "med_non_benzodiazepine_sedative_hypnotics",
        "med_psychostimulants",
        "med_maois",
    ]
    assert all(f.kind == "bool" for f in form.section_fields("concomitant_medications"))
    # BP before administration, 40 min after, before completion (clinical.md §1.4, §9 item 3).
    assert [f.id for f in form.section_fields("blood_pressure")] == [
        "bp_before_administration_systolic",
        "bp_before_administration_diastolic",
        "bp_40_minutes_systolic",
        "bp_40_minutes_diastolic",
        "bp_before_completion_systolic",
        "bp_before_completion_diastolic",
    ]
    assert form.field("dose").choices == ("56 mg", "84 mg", "other")
    assert form.field("lot_number").required
    assert form.field("monitoring_minutes").unit == "min"
    for needed in (
        "patient_first_name",
        "patient_last_name",
        "patient_date_of_birth",
        "patient_sex",
        "hcp_name",
        "hcp_phone",
        "hcp_email",
        "setting_name",
        "setting_address",
        "treatment_date",
        "ready_to_leave_minutes",
        "vitals_acceptable_before_administration",
        "vitals_acceptable_before_completion",
        "adverse_sedation",
    ):
        assert needed in ids
    assert not form.field("patient_middle_initial").required
    assert form.sections[0].id == "patient"


def test_catalogue_versions_and_lookup():
    assert [f.version for f in form_versions("pmf")] == ["1"]
    assert get_form("pmf", on=datetime.date(2026, 3, 1)).version == "1"
    with pytest.raises(UnknownRemsForm):
        get_form("pmf", on=datetime.date(2020, 1, 1))
    with pytest.raises(UnknownRemsForm):
        get_form("pmf", "99")
    with pytest.raises(UnknownRemsForm):
        form_versions("nope")


def test_file_name_must_match_code_and_version():
    with pytest.raises(RemsFormDataError, match=r"pmf-v2\.json holds pmf version 1"):
        load_forms([("pmf-v2.json", _pmf_text())])
    with pytest.raises(RemsFormDataError, match="defined twice"):
        load_forms([("pmf-v1.json", _pmf_text()), ("pmf-v1.json", _pmf_text())])


def _mutated(change) -> str:
    data = json.loads(_pmf_text())
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["fields"].append(dict(d["fields"][0])), "duplicate field ids"),
        (lambda d: d["fields"][0].update(section="nowhere"), "unknown section"),
        (lambda d: d["fields"][0].update(kind="choice"), "a choice field needs them"),
        (lambda d: d["fields"][0].update(kind="colour"), "kind"),
        (lambda d: d["fields"][0].update(choices=["a"]), "choices belong to choice fields"),
        (lambda d: d["fields"][0].update(extra="x"), "extra"),
        (lambda d: d["fields"][0].update(required_when={"ghost": "x"}), "required always or required_when"),
        (
            lambda d: next(f for f in d["fields"] if f["id"] == "dose_other_mg").update(required_when={"dose": "42"}),
            "not a choice",
        ),
        (
            lambda d: next(f for f in d["fields"] if f["id"] == "dose_other_mg").update(required_when={"ghost": "x"}),
            "unknown field",
        ),
        (lambda d: d["sections"].append({"id": "empty", "label": "Empty"}), "section empty has no fields"),
    ],
)
def test_incoherent_form_is_refused(change, message):
    with pytest.raises(ValidationError, match=message):
        load_forms([("pmf-v1.json", _mutated(change))])


# --- required fields --------------------------------------------------------------------------


def test_complete_form_has_nothing_missing():
    assert missing_required(get_form("pmf", "1"), _complete_values()) == []


def test_missing_and_blank_answers_are_listed_in_form_order():
    values = _complete_values()
    del values["lot_number"]
    values["hcp_email"] = "   "
    values["bp_40_minutes_systolic"] = None
    assert missing_required(get_form("pmf", "1"), values) == ["hcp_email", "lot_number", "bp_40_minutes_systolic"]


def test_false_and_zero_are_answers():
    values = _complete_values()
    values["med_maois"] = False
    values["ready_to_leave_minutes"] = 0
    assert missing_required(get_form("pmf", "1"), values) == []


def test_other_dose_is_required_only_when_dose_is_other():
    form = get_form("pmf", "1")
    values = {**_complete_values(), "dose": "other"}
    assert missing_required(form, values) == ["dose_other_mg"]
    assert missing_required(form, {**values, "dose_other_mg": 28}) == []


def test_empty_values_list_every_required_field():
    form = get_form("pmf", "1")
    missing = missing_required(form, {})
    assert "patient_middle_initial" not in missing
    assert "dose_other_mg" not in missing
    assert len(missing) == len([f for f in form.fields if f.required])


def test_unknown_value_keys_are_an_error():
    with pytest.raises(ValueError, match="not fields of pmf version 1: made_up"):
        missing_required(get_form("pmf", "1"), {"made_up": 1})


# --- due dates across daylight-saving changes (America/Chicago: 2026-03-08 and 2026-11-01) ------


def test_seven_calendar_days_friday_to_friday():
    assert PMF_DUE_DAYS == 7
    friday = datetime.date(2026, 3, 6)
    assert pmf_due_date(friday, CHICAGO) == datetime.date(2026, 3, 13)
    assert pmf_due_date(friday, CHICAGO).weekday() == friday.weekday()


@pytest.mark.parametrize(
    ("session_local", "due"),
    [
        # Spring forward 2026-03-08 02:00 CST -> 03:00 CDT.
        (datetime.datetime(2026, 3, 7, 23, 30), datetime.date(2026, 3, 14)),
        (datetime.datetime(2026, 3, 8, 0, 30), datetime.date(2026, 3, 15)),
        # Fall back 2026-11-01 02:00 CDT -> 01:00 CST.
        (datetime.datetime(2026, 10, 31, 23, 30), datetime.date(2026, 11, 7)),
        (datetime.datetime(2026, 11, 1, 0, 30), datetime.date(2026, 11, 8)),
    ],
)
def test_due_date_uses_the_local_calendar_across_dst(session_local, due):
    local = session_local.replace(tzinfo=CHICAGO)
    assert pmf_due_date(local, CHICAGO) == due
    # The same instant given in UTC gives the same local due date (at 23:30 its UTC date is the next day).
    as_utc = local.astimezone(UTC)
    if session_local.hour == 23:
        assert as_utc.date() == session_local.date() + datetime.timedelta(days=1)
    assert pmf_due_date(as_utc, CHICAGO) == due
    assert pmf_due_date(as_utc, "America/Chicago") == due
    # Overdue from local midnight after the due date — a wall-clock midnight, not 7 × 24 h later.
    due_at = pmf_due_at(as_utc, CHICAGO)
    assert due_at.astimezone(CHICAGO).replace(tzinfo=None) == datetime.datetime.combine(
        due + datetime.timedelta(days=1), datetime.time(0)
    )
    assert not is_overdue(due, due_at - datetime.timedelta(microseconds=1), CHICAGO)
    assert is_overdue(due, due_at, CHICAGO)
    assert days_left(due, due_at - datetime.timedelta(seconds=1), CHICAGO) == 0
    assert days_left(due, due_at, CHICAGO) == -1


def test_due_at_when_the_week_contains_the_change():
    # Session 2026-03-05 10:00 CST; due 2026-03-12 (CDT); overdue from 2026-03-13 00:00 CDT = 05:00 UTC.
    session = datetime.datetime(2026, 3, 5, 10, 0, tzinfo=CHICAGO)
    assert pmf_due_at(session, CHICAGO) == datetime.datetime(2026, 3, 13, 5, 0, tzinfo=UTC)
    # Session 2026-10-29 10:00 CDT; overdue from 2026-11-06 00:00 CST = 06:00 UTC.
    session = datetime.datetime(2026, 10, 29, 10, 0, tzinfo=CHICAGO)
    assert pmf_due_at(session, CHICAGO) == datetime.datetime(2026, 11, 6, 6, 0, tzinfo=UTC)


def test_overdue_is_judged_on_the_clinic_local_date():
    due = datetime.date(2026, 11, 8)
    # 2026-11-09 03:00 UTC is still 2026-11-08 21:00 in Chicago: not overdue yet.
    assert not is_overdue(due, datetime.datetime(2026, 11, 9, 3, 0, tzinfo=UTC), CHICAGO)
    assert days_left(due, datetime.datetime(2026, 11, 9, 3, 0, tzinfo=UTC), CHICAGO) == 0
    assert is_overdue(due, datetime.datetime(2026, 11, 9, 6, 0, tzinfo=UTC), CHICAGO)
    assert days_left(due, datetime.datetime(2026, 11, 2, 12, 0, tzinfo=CHICAGO), CHICAGO) == 6


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="session must be an aware datetime"):
        pmf_due_date(datetime.datetime(2026, 3, 7, 23, 30), CHICAGO)
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        is_overdue(datetime.date(2026, 3, 14), datetime.datetime(2026, 3, 15, 1, 0), CHICAGO)


def test_a_date_is_taken_as_the_local_session_date():
    assert session_local_date(datetime.date(2026, 11, 1), CHICAGO) == datetime.date(2026, 11, 1)
