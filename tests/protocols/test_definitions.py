"""The protocol library: versioned data files, their sources and their self-checks.

Expected values are read from ../shared/reference/clinical.md, cited per test.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib import resources
from typing import Any

import pydantic
import pytest

from ketacare.protocols.definitions import (
    ProtocolDataError,
    UnknownProtocol,
    get_protocol,
    list_protocols,
    load_library,
    parse_protocol,
    with_clinic_values,
)

CODES = ["im_ketamine", "iv_racemic_ketamine", "oral_sublingual_ketamine", "spravato_mdsi", "spravato_trd"]


def raw(code: str) -> dict[str, Any]:
    text = resources.files("ketacare.protocols").joinpath("library", f"{code}-v1.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def broken(code: str, path: tuple[str, ...], value: object) -> str:
    data = copy.deepcopy(raw(code))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data)


def test_library_lists_the_issue_5_protocols() -> None:
    assert [p.code for p in list_protocols()] == CODES


@pytest.mark.parametrize("code", CODES)
def test_each_protocol_is_versioned_data_citing_clinical_md(code: str) -> None:
    """clinical.md 7.1: protocol objects are versioned data with source, effective_from and jurisdiction."""
    p = get_protocol(code)
    assert p.version == "1"
    assert p.citation
    assert p.jurisdiction
    for block in (p.source, p.dose.source, p.administration.source, p.series.source, p.observation.source):
        assert "clinical.md" in block
    for item in (*p.vital_checkpoints, *p.alert_thresholds, *p.discharge_checklist, *p.review_points):
        assert "clinical.md" in item.source
    assert all(t.action == "alert_prescriber" for t in p.alert_thresholds)  # clinical.md 2.5: alert, not auto-stop


def test_iv_template_numbers() -> None:
    """clinical.md 2.3 [MEDSCAPE-SANACORA, ANAND-NEJM, OLIVER-JCP], 2.5 [DUNLOP-684, YALE-BP, TINTINALLI-HTN]."""
    p = get_protocol("iv_racemic_ketamine")
    assert (p.route, p.dose.basis, p.dose.unit, p.dose.amount) == (
        "intravenous",
        "weight_based",
        "mg/kg",
        Decimal("0.5"),
    )
    assert p.administration.duration_minutes == 40
    assert (p.series.count, p.series.window_days, p.series.sessions_per_week) == (6, 21, 2)
    assert [(c.id, c.minutes) for c in p.vital_checkpoints if c.minutes] == [("bp_during", 10), ("bp_after", 15)]
    assert {t.id: t.value for t in p.alert_thresholds}["sbp_crisis_reference"] == 180
    review = p.review_points[0]
    assert (review.at, review.session) == ("after_session", 3)
    assert p.escort.required is True
    assert not p.ready_for_use
    assert "observation.minimum_minutes" in p.missing_clinic_values()  # clinical.md 2.6 [NF]


def test_spravato_trd_template_numbers() -> None:
    """clinical.md 1.2 [JANSSENMD-DUR], 1.1 [MAYO-ESK], 1.3–1.5 [LABEL-120TY, REMS-FDA, REMS-PMF]."""
    p = get_protocol("spravato_trd")
    assert p.dose.choices_mg == (Decimal(56), Decimal(84))
    assert p.dose.first_session_mg == Decimal(56)
    assert (p.series.count, p.series.sessions_per_week, p.series.window_days) == (8, 2, 28)
    assert [(m.from_week, m.to_week, m.interval_days_options) for m in p.maintenance] == [
        (5, 8, (7,)),
        (9, None, (14, 7)),
    ]
    assert p.observation.minimum_minutes == 120
    assert "observation.minimum_minutes" not in p.missing_clinic_values()
    assert [(c.id, c.minutes) for c in p.vital_checkpoints if c.when == "after_start"] == [("bp_40_min", 40)]
    assert (p.fasting.no_food_minutes, p.fasting.no_liquids_minutes) == (120, 30)
    assert {t.id: t.value for t in p.alert_thresholds if t.applies_at == "pre_dose"} == {
        "baseline_sbp": 140,
        "baseline_dbp": 90,
    }
    assert p.review_points[0].phase == "induction"


def test_spravato_mdsi_template_numbers() -> None:
    """clinical.md 1.2 [SPRHCP-MDSI]: 84 mg twice weekly for 4 weeks; 56 mg for tolerability; no maintenance."""
    p = get_protocol("spravato_mdsi")
    assert (p.dose.amount, p.dose.choices_mg) == (Decimal(84), (Decimal(56), Decimal(84)))
    assert (p.series.count, p.series.window_days) == (8, 28)
    assert p.maintenance == ()


@pytest.mark.parametrize("code", ["im_ketamine", "oral_sublingual_ketamine"])
def test_unsourced_doses_are_left_to_the_clinic(code: str) -> None:
    """clinical.md 2.3 [ANDRADE-2017, ANDRADE-ORAL]: no IM or oral dose is given, so none is encoded."""
    p = get_protocol(code)
    assert p.dose.amount is None
    assert {"dose.amount", "dose.max_mg", "series.count", "escort.required"} <= set(p.missing_clinic_values())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("dose", "unit"), "mg", "not mg"),  # bad unit for a weight-based dose
        (("dose", "unit"), "ml/kg", "unit"),
        (("dose", "clinic_set"), [], "needs rounding_step_mg"),
        (("dose", "amount"), "-0.5", "positive"),
        (("series", "min_interval_hours"), 100, "cannot fit"),  # 6 × 100 h do not fit 21 days
        (("route",), "intranasal", "given by nasal_spray"),
        (("alert_thresholds", 0, "unit"), "bpm", "not measured in bpm"),
        (("review_points", 0, "session"), 7, "after the last session"),
        (("dose", "clinic_set"), ["rounding_step_mg", "no_such_field"], "unknown field"),
    ],
)
def test_loader_refuses_broken_iv_data(path: tuple[Any, ...], value: object, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        parse_protocol(broken("iv_racemic_ketamine", path, value))


def test_loader_refuses_min_above_max() -> None:
    """clinical.md 1.2 [JANSSENMD-DUR]: Spravato 56–84 mg; swapping the limits is refused."""
    with pytest.raises(pydantic.ValidationError, match="above maximum"):
        parse_protocol(broken("spravato_trd", ("dose", "min_mg"), "100"))
    with pytest.raises(pydantic.ValidationError, match="outside"):
        parse_protocol(broken("spravato_trd", ("dose", "max_mg"), "60"))
    with pytest.raises(pydantic.ValidationError, match="not rounded"):
        parse_protocol(broken("spravato_trd", ("dose", "rounding_step_mg"), "1"))


def test_loader_refuses_duplicate_code_and_version_and_misnamed_files() -> None:
    text = json.dumps(raw("spravato_trd"))
    with pytest.raises(ProtocolDataError, match="defined twice"):
        load_library([("spravato_trd-v1.json", text), ("spravato_trd-v1.json", text)])
    with pytest.raises(ProtocolDataError, match="holds spravato_trd version 1"):
        load_library([("spravato_trd-v2.json", text)])


def test_lookup_by_code_and_version() -> None:
    assert get_protocol("spravato_trd", version="1").code == "spravato_trd"
    with pytest.raises(UnknownProtocol):
        get_protocol("nope")
    with pytest.raises(UnknownProtocol):
        get_protocol("spravato_trd", version="9")


def test_clinic_values_only_fill_clinic_set_fields() -> None:
    """clinical.md 7.1: clinic-configurable parameters carry their own source; label values are not clinic-set."""
    dose = get_protocol("spravato_trd").dose
    with pytest.raises(ProtocolDataError, match="not a clinic-set value"):
        with_clinic_values(dose, "clinic", max_mg=Decimal(112))
    series = get_protocol("iv_racemic_ketamine").series
    with pytest.raises(ProtocolDataError, match="need a source"):
        with_clinic_values(series, " ", min_interval_hours=48)
    filled = with_clinic_values(series, "Clinic SOP 12", min_interval_hours=48)
    assert filled.source.endswith("clinic values: Clinic SOP 12")
    assert series.min_interval_hours is None  # the library version is untouched
