"""The instrument catalogue: versioned data files, their codes and their self-checks.

Every expected value is read from ../shared/reference/clinical.md section 3, cited per test.
"""

from __future__ import annotations

import datetime
import json
from importlib import resources
from typing import Any

import pydantic
import pytest
from django.utils import timezone

from ketacare.measures.definitions import (
    UnknownInstrument,
    get_instrument,
    instrument_versions,
    list_instruments,
    parse_instrument,
)

CODES = ["cadss", "cssrs_screen", "gad7", "madrs", "pcl5", "phq9", "qids_sr16"]


def raw(code: str) -> dict[str, Any]:
    text = resources.files("ketacare.measures").joinpath("instruments", f"{code}-v1.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_catalogue_lists_the_seven_instruments_of_issue_4() -> None:
    assert [i.code for i in list_instruments()] == CODES


@pytest.mark.parametrize("code", CODES)
def test_each_instrument_is_versioned_data_with_source_and_citation(code: str) -> None:
    """Conventions: clinical knowledge is data with source, version, effective_from and citation."""
    inst = get_instrument(code)
    assert inst.version == "1"
    assert inst.effective_from <= timezone.localdate()
    assert "clinical.md" in inst.source
    assert inst.citation
    assert inst.scoring.source
    for safety in inst.safety_items:
        assert "clinical.md" in safety.source
    for definition in inst.outcome_definitions:
        assert "clinical.md" in definition.source


def test_get_by_code_and_version() -> None:
    assert get_instrument("phq9", version="1").code == "phq9"
    assert [i.version for i in instrument_versions("phq9")] == ["1"]
    with pytest.raises(UnknownInstrument):
        get_instrument("phq10")
    with pytest.raises(UnknownInstrument):
        get_instrument("phq9", version="99")
    with pytest.raises(UnknownInstrument):
        get_instrument("phq9", on=datetime.date(2000, 1, 1))


def test_phq9_items_options_and_loinc() -> None:
    """clinical.md 3.2 [USCORE-PHQ9]: item order and LOINC codes; answers 0–3 with LA codes; item 10 unscored."""
    inst = get_instrument("phq9")
    assert (inst.loinc_panel, inst.loinc_total) == ("44249-1", "44261-6")
    assert [(it.id, it.loinc) for it in inst.items] == [
        ("1", "44250-9"),
        ("2", "44255-8"),
        ("3", "44259-0"),
        ("4", "44254-1"),
        ("5", "44251-7"),
        ("6", "44258-2"),
        ("7", "44252-5"),
        ("8", "44253-3"),
        ("9", "44260-8"),
        ("10", "69722-7"),
    ]
    assert [(o.value, o.label, o.loinc_answer) for o in inst.item("1").options] == [
        (0, "Not at all", "LA6568-5"),
        (1, "Several days", "LA6569-3"),
        (2, "More than half the days", "LA6570-1"),
        (3, "Nearly every day", None),
    ]
    assert inst.item("9").text == "Thoughts that you would be better off dead, or of hurting yourself in some way"
    item10 = inst.item("10")
    assert (item10.scored, item10.required, item10.options_basis) == (False, False, "paraphrase")
    assert inst.recall_period == "Last 2 weeks"
    assert inst.rater == "self"


def test_gad7_items_and_loinc() -> None:
    """clinical.md 3.3 [HF-LOINC-GAD7, MII-GAD7, FIND-GAD7]."""
    inst = get_instrument("gad7")
    assert (inst.loinc_panel, inst.loinc_total) == ("69737-5", "70274-6")
    assert [it.loinc for it in inst.items] == [
        "69725-0",
        "68509-9",
        "69733-4",
        "69734-2",
        "69735-9",
        "69689-8",
        "69736-7",
    ]
    assert all(it.values == (0, 1, 2, 3) for it in inst.items)


def test_pcl5_items_options_and_loinc() -> None:
    """clinical.md 3.4 [COMORB-PCL5, LOINC-PCL5]: 20 items 0–4 over the past month; wording paraphrased."""
    inst = get_instrument("pcl5")
    assert (inst.loinc_panel, inst.loinc_total) == ("101697-1", "101698-9")
    assert [it.id for it in inst.items] == [str(i) for i in range(1, 21)]
    assert all(it.values == (0, 1, 2, 3, 4) for it in inst.items)
    assert [o.label for o in inst.item("1").options] == [
        "Not at all",
        "A little bit",
        "Moderately",
        "Quite a bit",
        "Extremely",
    ]
    assert all(it.text_basis == "paraphrase" for it in inst.items)
    assert inst.recall_period == "Past month"
    assert inst.scoring.bands == ()  # "no empirically derived severity ranges"


def test_cssrs_items_loinc_and_skip_logic_as_data() -> None:
    """clinical.md 3.5 [HL7-BH-CSSRS, DOCEST-CSSRS]: Q3–Q5 asked only after Q2 yes; 6b only after Q6 yes."""
    inst = get_instrument("cssrs_screen")
    assert inst.loinc_panel == "93373-9"
    assert inst.scoring.risk is not None
    assert inst.scoring.risk.loinc == "93374-7"
    assert [(it.id, it.loinc) for it in inst.items] == [
        ("1", "93246-7"),
        ("2", "93247-5"),
        ("3", "93248-3"),
        ("4", "93249-1"),
        ("5", "93250-9"),
        ("6", "93267-3"),
        ("6b", "93269-9"),
    ]
    conditions = {it.id: (it.ask_if.item, it.ask_if.equals) if it.ask_if else None for it in inst.items}
    assert conditions == {"1": None, "2": None, "3": ("2", 1), "4": ("2", 1), "5": ("2", 1), "6": None, "6b": ("6", 1)}
    assert inst.item("6b").text == "Was this within the past 3 months?"


def test_qids_madrs_cadss_shapes() -> None:
    """clinical.md 3.6 [MILLI-QIDS], 3.7 [WIKI-MADRS], 3.8 [NCT04226963]: item counts and ranges; no LOINC found."""
    qids, madrs, cadss = get_instrument("qids_sr16"), get_instrument("madrs"), get_instrument("cadss")
    assert len(qids.items) == 16
    assert all(it.values == (0, 1, 2, 3) for it in qids.items)
    assert qids.recall_period == "Last 7 days"
    assert len(madrs.items) == 10
    assert all(it.values == tuple(range(7)) for it in madrs.items)
    assert madrs.rater == "clinician"
    assert madrs.item("10").text == "Suicidal thoughts"
    assert len(cadss.items) == 23
    assert all(it.values == tuple(range(5)) for it in cadss.items)
    assert cadss.rater == "clinician"
    for inst in (qids, madrs, cadss):
        assert inst.loinc_panel is None
        assert inst.loinc_total is None


def test_safety_items_are_data() -> None:
    """clinical.md 7.4: PHQ-9 item 9 ≥ 1; QIDS item 12 ≥ 1; MADRS item 10 at a clinic value; C-SSRS moderate/high."""
    assert [(s.item, s.at_least) for s in get_instrument("phq9").safety_items] == [("9", 1)]
    assert [(s.item, s.at_least) for s in get_instrument("qids_sr16").safety_items] == [("12", 1)]
    madrs = get_instrument("madrs").safety_items
    assert [(s.item, s.at_least, s.clinic_configurable) for s in madrs] == [("10", None, True)]
    risk = get_instrument("cssrs_screen").scoring.risk
    assert risk is not None
    assert risk.alert_levels == ("moderate", "high")


def test_response_and_remission_definitions_stored_with_instrument() -> None:
    """clinical.md 3.11: response ≥ 50 %; remission PHQ-9 < 5, MADRS ≤ 12 and ≤ 10, QIDS-SR16 ≤ 5; GAD-7 none [NF]."""
    phq = get_instrument("phq9")
    assert [(d.rule, d.value) for d in phq.definitions("response")] == [("reduction_percent_at_least", 50)]
    assert [(d.rule, d.value) for d in phq.definitions("remission")] == [("total_below", 5)]
    madrs = get_instrument("madrs")
    assert [(d.rule, d.value) for d in madrs.definitions("remission")] == [("total_at_most", 12), ("total_at_most", 10)]
    qids = get_instrument("qids_sr16")
    assert [(d.rule, d.value) for d in qids.definitions("remission")] == [("total_at_most", 5)]
    assert get_instrument("gad7").definitions("remission") == ()
    cadss = get_instrument("cadss").definition("dissociation_spravato_trials")
    assert (cadss.value, cadss.increase_above) == (4, 0)


# --- the loader refuses incoherent data -------------------------------------------------------


def _broken(code: str, change: Any) -> str:
    data = raw(code)
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("code", "change", "message"),
    [
        ("phq9", lambda d: d["scoring"]["bands"][1].update(min=6), "gap"),
        ("phq9", lambda d: d["scoring"].update(total_max=26), "items give totals 0-27"),
        ("phq9", lambda d: d["items"].append(dict(d["items"][0])), "duplicate item ids"),
        ("phq9", lambda d: d["items"][0]["options"].append({"value": 0, "label": "again"}), "duplicate option"),
        ("phq9", lambda d: d["safety_items"][0].update(item="11"), "safety item 11"),
        ("phq9", lambda d: d["items"][0].update(loinc="44250"), "not a LOINC code"),
        ("qids_sr16", lambda d: d["scoring"]["components"][0].update(combine="sum"), "items give totals"),
        ("pcl5", lambda d: d["scoring"]["cutoff"].update(high=81), "cut-off"),
        ("cssrs_screen", lambda d: d["items"][2]["ask_if"].update(item="6b"), "later item"),
        ("cssrs_screen", lambda d: d["scoring"]["risk"]["rules"][0]["when_any"].append({"7": 1}), "risk rule"),
        ("cssrs_screen", lambda d: d["scoring"]["risk"].update(alert_levels=["severe"]), "unknown level"),
        ("madrs", lambda d: d["safety_items"][0].update(clinic_configurable=False), "not configurable"),
    ],
)
def test_loader_refuses_incoherent_definitions(code: str, change: Any, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        parse_instrument(_broken(code, change))


def test_unbroken_files_parse() -> None:
    for code in CODES:
        assert parse_instrument(json.dumps(raw(code))).code == code
