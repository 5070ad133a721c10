"""The screening rule catalogue: versioned data files, their citations and the loader's self-checks."""

from __future__ import annotations

import datetime
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, get_type_hints

import pydantic
import pytest
from django.utils import timezone

from ketacare.screening.definitions import (
    UnknownRuleSet,
    get_ruleset,
    list_rulesets,
    parse_ruleset,
    ruleset_for_route,
    ruleset_versions,
)
from ketacare.screening.facts import FACTS, FACTS_BY_NAME, ROUTES, Facts

CLINICAL_MD = Path(__file__).resolve().parents[3] / "shared" / "reference" / "clinical.md"


def raw(code: str) -> dict[str, Any]:
    text = resources.files("ketacare.screening").joinpath("rules", f"{code}-v1.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_catalogue_holds_the_ketamine_and_spravato_rule_sets() -> None:
    assert [r.code for r in list_rulesets()] == ["ketamine", "spravato"]
    assert [r.version for r in ruleset_versions("ketamine")] == ["1"]


@pytest.mark.parametrize("code", ["ketamine", "spravato"])
def test_each_rule_set_is_versioned_data_with_source_and_citation(code: str) -> None:
    """Conventions: clinical knowledge is data with source, version, effective_from and citation."""
    rs = get_ruleset(code)
    assert rs.effective_from <= timezone.localdate()
    assert "clinical.md" in rs.source
    assert rs.citation
    for rule in rs.rules:
        assert rule.sources
        assert rule.section
        assert rule.reason
        assert rule.basis


def test_every_route_is_covered_by_exactly_one_rule_set() -> None:
    assert ruleset_for_route("iv").code == "ketamine"
    assert ruleset_for_route("im").code == "ketamine"
    assert ruleset_for_route("oral").code == "ketamine"
    assert ruleset_for_route("intranasal_esketamine").code == "spravato"


def test_every_source_key_is_listed_in_clinical_md_section_10() -> None:
    """Each cited key resolves to an address in clinical.md section 10."""
    if not CLINICAL_MD.exists():
        pytest.skip(f"{CLINICAL_MD} not present")
    section10 = CLINICAL_MD.read_text("utf-8").split("## 10. Sources", 1)[1]
    for rs in list_rulesets():
        for rule in rs.rules:
            for key in rule.sources:
                assert re.search(rf"(^|[\s;,(-]){re.escape(key)}\b", section10, re.MULTILINE), (rule.id, key)


def test_get_by_version_and_date() -> None:
    assert get_ruleset("spravato", version="1").code == "spravato"
    with pytest.raises(UnknownRuleSet):
        get_ruleset("spravato", version="99")
    with pytest.raises(UnknownRuleSet):
        get_ruleset("nope")
    with pytest.raises(UnknownRuleSet):
        get_ruleset("ketamine", on=datetime.date(2000, 1, 1))


def test_fact_vocabulary_and_typed_mapping_agree() -> None:
    """`FACTS` (labels, kinds) and the `Facts` TypedDict name the same facts with the same kinds."""
    hints = get_type_hints(Facts)
    assert set(hints) == set(FACTS_BY_NAME)
    assert len(FACTS) == len(FACTS_BY_NAME)
    for name, hint in hints.items():
        kind = "number" if float in getattr(hint, "__args__", ()) else "bool"
        assert FACTS_BY_NAME[name].kind == kind, name
    assert set(ROUTES) == {"iv", "im", "intranasal_esketamine", "oral"}


def test_issue_5_intake_items_are_in_the_vocabulary() -> None:
    """Issue #5 item 1 lists these histories; each has a fact."""
    for name in [
        "psychosis_history",
        "bipolar_disorder",
        "mood_stabiliser",
        "suicide_attempt_history",
        "hypertension",
        "systolic_bp_mmhg",
        "diastolic_bp_mmhg",
        "ischaemic_heart_disease",
        "aneurysmal_vascular_disease",
        "intracerebral_haemorrhage_history",
        "seizures",
        "liver_disease",
        "sleep_apnoea",
        "substance_use_disorder_active",
        "pregnant",
        "breastfeeding",
    ]:
        assert name in FACTS_BY_NAME


# --- the loader refuses broken data ---------------------------------------------------------------


def broken(mutate: Any) -> str:
    data = raw("ketamine")
    mutate(data)
    return json.dumps(data)


def refuses(text: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        parse_ruleset(text)


def test_the_shipped_files_parse() -> None:
    assert parse_ruleset(json.dumps(raw("ketamine"))) == get_ruleset("ketamine", version="1")


def test_refuses_an_unknown_fact() -> None:
    refuses(broken(lambda d: d["rules"][0].update(when={"fact": "pregnnant", "is": True})), "unknown fact")


def test_refuses_an_unknown_fact_inside_any_of() -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["rules"][0]["when"] = {"any_of": [{"fact": "pregnant", "is": True}, {"fact": "nope", "is": True}]}

    refuses(broken(mutate), "unknown fact 'nope'")


def test_refuses_a_duplicate_rule_id() -> None:
    refuses(broken(lambda d: d["rules"][1].update(id=d["rules"][0]["id"])), "duplicate rule ids")


def test_refuses_a_bad_severity() -> None:
    refuses(broken(lambda d: d["rules"][0].update(severity="absolute")), "severity")


def test_refuses_a_number_test_on_a_yes_no_fact_and_the_reverse() -> None:
    refuses(broken(lambda d: d["rules"][0].update(when={"fact": "pregnant", "above": 1})), "is a bool")
    refuses(broken(lambda d: d["rules"][0].update(when={"fact": "systolic_bp_mmhg", "is": True})), "is a number")


def test_refuses_a_route_outside_the_rule_set_or_unknown() -> None:
    refuses(broken(lambda d: d["rules"][0].update(routes=["intranasal_esketamine"])), "not covered")
    refuses(broken(lambda d: d["rules"][0].update(routes=["rectal"])), "routes")
    refuses(broken(lambda d: d["rules"][0].update(routes=[])), "routes")


def test_refuses_a_rule_without_source_or_an_unknown_field() -> None:
    refuses(broken(lambda d: d["rules"][0].update(sources=[])), "sources")
    refuses(broken(lambda d: d["rules"][0].update(extra="x")), "extra")
    refuses(broken(lambda d: d["rules"][0].update(when={"any_of": []})), "any_of")


def test_refuses_a_malformed_condition() -> None:
    refuses(broken(lambda d: d["rules"][0].update(when={"fact": "pregnant"})), "when")
    refuses(broken(lambda d: d["rules"][0].update(when={"fact": "pregnant", "is": True, "above": 1})), "when")


def test_rule_sets_are_frozen() -> None:
    rs = get_ruleset("ketamine")
    with pytest.raises(pydantic.ValidationError):
        rs.rules[0].severity = "caution"  # type: ignore[misc]
