"""Each screening rule fires on its condition and not otherwise, on its routes only.

Every test names the clinical.md section and source keys of its rule and asserts that the rule data
cites exactly those keys, so a rule cannot lose its citation without a test failing.
"""

from __future__ import annotations

from typing import Any

import pytest

from ketacare.screening.definitions import get_ruleset
from ketacare.screening.evaluate import evaluate
from ketacare.screening.facts import FACTS, Route

KETAMINE_ROUTES: tuple[Route, ...] = ("iv", "im", "oral")


def clear() -> dict[str, Any]:
    """Every fact known and harmless: no condition, blood pressure 120/80, no benzodiazepine."""
    facts: dict[str, Any] = {f.name: False for f in FACTS if f.kind == "bool"}
    facts.update(systolic_bp_mmhg=120, diastolic_bp_mmhg=80, lorazepam_equivalent_mg_per_day=0, mood_stabiliser=True)
    return facts


def outcome(code: str, rule_id: str, route: Route, **changes: Any) -> str:
    facts = clear() | changes
    return evaluate(get_ruleset(code), facts, route).result(rule_id).outcome


def check(
    code: str,
    rule_id: str,
    sources: set[str],
    section: str,
    severity: str,
    fire: list[dict[str, Any]],
    quiet: list[dict[str, Any]],
) -> None:
    rs = get_ruleset(code)
    rule = rs.rule(rule_id)
    assert set(rule.sources) == sources
    assert rule.section == section
    assert rule.severity == severity
    for route in rule.routes:
        assert outcome(code, rule_id, route) == "no_concern"
        for changes in fire:
            assert outcome(code, rule_id, route, **changes) == severity, changes
        for changes in quiet:
            assert outcome(code, rule_id, route, **changes) == "no_concern", changes


# --- ketamine (IV / IM / oral) --------------------------------------------------------------------


def test_ketamine_hypersensitivity() -> None:
    """Known ketamine allergy: ELEKT-D exclusion; Spravato label contraindication (clinical.md 2.4, 1.1
    [ELEKTD-REG, WCMED, USMED-ISI])."""
    check(
        "ketamine", "ketamine_hypersensitivity", {"ELEKTD-REG", "WCMED", "USMED-ISI"}, "2.4, 1.1", "contraindicated",
        fire=[{"ketamine_hypersensitivity": True}],
        quiet=[{"spravato_excipient_hypersensitivity": True}],
    )  # fmt: skip


def test_ketamine_aneurysm_or_avm() -> None:
    """Aneurysmal vascular disease or AVM, by analogy with the Spravato label
    (clinical.md 2.4, 1.1 [WCMED, USMED-ISI])."""
    check(
        "ketamine", "aneurysm_or_avm", {"WCMED", "USMED-ISI"}, "2.4, 1.1", "contraindicated",
        fire=[{"aneurysmal_vascular_disease": True}, {"arteriovenous_malformation": True}],
        quiet=[{"intracerebral_haemorrhage_history": True}, {"cerebrovascular_disease": True}],
    )  # fmt: skip


def test_ketamine_intracerebral_haemorrhage() -> None:
    """History of intracerebral haemorrhage, by analogy with the Spravato label
    (clinical.md 2.4, 1.1 [WCMED, USMED-ISI])."""
    check(
        "ketamine", "intracerebral_haemorrhage", {"WCMED", "USMED-ISI"}, "2.4, 1.1", "contraindicated",
        fire=[{"intracerebral_haemorrhage_history": True}],
        quiet=[{"aneurysmal_vascular_disease": True}],
    )  # fmt: skip


def test_ketamine_bp_rise_hazard() -> None:
    """Condition where a significant BP rise is a serious hazard, Ketalar label via a secondary quote
    (clinical.md 2.4 [DRORACLE-HTN])."""
    check(
        "ketamine", "bp_rise_hazard", {"DRORACLE-HTN"}, "2.4", "contraindicated",
        fire=[{"bp_rise_serious_hazard": True}],
        quiet=[{"hypertension": True}],
    )  # fmt: skip


def test_ketamine_uncontrolled_hypertension_not_controlled() -> None:
    """Uncontrolled hypertension excluded, controlled hypertension allowed (clinical.md 2.4 [PMC10812090])."""
    check(
        "ketamine", "hypertension_uncontrolled", {"PMC10812090"}, "2.4", "contraindicated",
        fire=[{"hypertension_uncontrolled": True}],
        quiet=[{"hypertension": True}],
    )  # fmt: skip


def test_ketamine_arrhythmia() -> None:
    """Significant arrhythmia: trial exclusion (clinical.md 2.4 [PMC10812090])."""
    check(
        "ketamine", "arrhythmia", {"PMC10812090"}, "2.4", "contraindicated",
        fire=[{"arrhythmia_significant": True}],
        quiet=[{"ischaemic_heart_disease": True}],
    )  # fmt: skip


def test_ketamine_unstable_cerebrovascular_disease() -> None:
    """Unstable cerebrovascular disease: trial exclusion (clinical.md 2.4 [PMC10812090])."""
    check(
        "ketamine", "cerebrovascular_unstable", {"PMC10812090"}, "2.4", "contraindicated",
        fire=[{"cerebrovascular_disease_unstable": True}],
        quiet=[{"cerebrovascular_disease": True}],
    )  # fmt: skip


def test_ketamine_ischaemic_or_cerebrovascular_caution() -> None:
    """Ischaemic heart disease, cerebrovascular disease: caution, sympathomimetic (clinical.md 2.4 [DRORACLE-REQ])."""
    check(
        "ketamine", "ischaemic_or_cerebrovascular", {"DRORACLE-REQ"}, "2.4", "caution",
        fire=[{"ischaemic_heart_disease": True}, {"cerebrovascular_disease": True}],
        quiet=[{"arrhythmia_significant": True}],
    )  # fmt: skip


def test_ketamine_hypertension_history_caution() -> None:
    """Everyone with a hypertension history had a BP surge in IV infusions (clinical.md 2.5 [YALE-BP])."""
    check(
        "ketamine", "hypertension_history", {"YALE-BP"}, "2.5", "caution",
        fire=[{"hypertension": True}],
        quiet=[{"systolic_bp_mmhg": 150}],
    )  # fmt: skip


def test_ketamine_bp_in_crisis_range() -> None:
    """Above 180 systolic and/or 120 diastolic: hypertensive-crisis range, general reference (clinical.md 2.5
    [TINTINALLI-HTN]). 180/120 exactly is not above."""
    check(
        "ketamine", "bp_crisis_range", {"TINTINALLI-HTN"}, "2.5", "caution",
        fire=[{"systolic_bp_mmhg": 181}, {"diastolic_bp_mmhg": 121}, {"systolic_bp_mmhg": 180.5}],
        quiet=[{"systolic_bp_mmhg": 180, "diastolic_bp_mmhg": 120}],
    )  # fmt: skip


def test_ketamine_current_psychosis_or_mania() -> None:
    """Current psychosis or mania: trial exclusion (clinical.md 2.4 [PMC10812090, ELEKTD-REG, OSMIND-INTAKE])."""
    check(
        "ketamine", "psychosis_or_mania_current", {"PMC10812090", "ELEKTD-REG", "OSMIND-INTAKE"}, "2.4",
        "contraindicated",
        fire=[{"psychosis_current": True}, {"mania_current": True}],
        quiet=[{"psychosis_history": True}, {"bipolar_disorder": True}],
    )  # fmt: skip


def test_ketamine_psychotic_disorder() -> None:
    """Schizophrenia, schizoaffective, schizophreniform disorder: exclusion (clinical.md 2.4 [PMC10812090, ELEKTD-REG,
    OSMIND-INTAKE])."""
    check(
        "ketamine", "psychotic_disorder", {"PMC10812090", "ELEKTD-REG", "OSMIND-INTAKE"}, "2.4", "contraindicated",
        fire=[{"psychotic_disorder": True}],
        quiet=[{"psychosis_history": True}],
    )  # fmt: skip


def test_ketamine_bipolar_disorder_caution() -> None:
    """ELEKT-D excluded bipolar disorder (clinical.md 2.4 [ELEKTD-REG])."""
    check(
        "ketamine", "bipolar_disorder", {"ELEKTD-REG"}, "2.4", "caution",
        fire=[{"bipolar_disorder": True}],
        quiet=[{"mood_stabiliser": False}],
    )  # fmt: skip


def test_ketamine_bipolar_without_mood_stabiliser() -> None:
    """Bipolar disorder: the patient should be on a mood stabiliser (clinical.md 2.4 [OSMIND-INTAKE])."""
    check(
        "ketamine", "bipolar_without_mood_stabiliser", {"OSMIND-INTAKE"}, "2.4", "caution",
        fire=[{"bipolar_disorder": True, "mood_stabiliser": False}],
        quiet=[{"bipolar_disorder": True, "mood_stabiliser": True}, {"mood_stabiliser": False}],
    )  # fmt: skip


def test_ketamine_pregnancy() -> None:
    """Pregnancy: trial exclusion (clinical.md 2.4 [ELEKTD-REG, PMC10812090])."""
    check(
        "ketamine", "pregnancy", {"ELEKTD-REG", "PMC10812090"}, "2.4", "contraindicated",
        fire=[{"pregnant": True}],
        quiet=[{"breastfeeding": True}],
    )  # fmt: skip


def test_ketamine_breastfeeding() -> None:
    """Breastfeeding: trial exclusion (clinical.md 2.4 [ELEKTD-REG, PMC10812090])."""
    check(
        "ketamine", "breastfeeding", {"ELEKTD-REG", "PMC10812090"}, "2.4", "contraindicated",
        fire=[{"breastfeeding": True}],
        quiet=[{"pregnant": True}],
    )  # fmt: skip


def test_ketamine_active_substance_use() -> None:
    """Active SUD, acute intoxication or withdrawal: exclusion (clinical.md 2.4 [PMC10812090])."""
    check(
        "ketamine", "substance_use_active", {"PMC10812090"}, "2.4", "contraindicated",
        fire=[{"substance_use_disorder_active": True}, {"intoxication_or_withdrawal": True}],
        quiet=[{"ketamine_or_pcp_misuse_history": True}],
    )  # fmt: skip


def test_ketamine_prior_ketamine_or_pcp_misuse() -> None:
    """Prior ketamine/PCP misuse: exclusion (clinical.md 2.4 [PMC10812090])."""
    check(
        "ketamine", "ketamine_misuse_history", {"PMC10812090"}, "2.4", "contraindicated",
        fire=[{"ketamine_or_pcp_misuse_history": True}],
        quiet=[{"substance_use_disorder_active": True}],
    )  # fmt: skip


def test_ketamine_benzodiazepine_load_above_3_mg() -> None:
    """One trial excluded > 3 mg lorazepam-equivalent/day (clinical.md 2.4 [PMC10812090]); 3 mg exactly is not above."""
    check(
        "ketamine", "benzodiazepine_load", {"PMC10812090"}, "2.4", "caution",
        fire=[{"lorazepam_equivalent_mg_per_day": 3.5}, {"lorazepam_equivalent_mg_per_day": 4}],
        quiet=[{"lorazepam_equivalent_mg_per_day": 3}, {"takes_benzodiazepine": True}],
    )  # fmt: skip


def test_ketamine_interacting_medication() -> None:
    """Interacting medicines: ELEKT-D exclusion (clinical.md 2.4 [ELEKTD-REG])."""
    check(
        "ketamine", "interacting_medication", {"ELEKTD-REG"}, "2.4", "contraindicated",
        fire=[{"interacting_medication": True}],
        quiet=[{"takes_maoi": True}],
    )  # fmt: skip


def test_ketamine_severe_illness() -> None:
    """Severe medical or neurological illness: ELEKT-D exclusion (clinical.md 2.4 [ELEKTD-REG])."""
    check(
        "ketamine", "severe_illness", {"ELEKTD-REG"}, "2.4", "contraindicated",
        fire=[{"severe_medical_or_neurological_illness": True}],
        quiet=[{"seizures": True}],
    )  # fmt: skip


def test_ketamine_liver_disease_caution() -> None:
    """Liver impairment is a screening caution (clinical.md 1.1 [WCMED, USMED-ISI]); liver tests before treatment
    (clinical.md 2.2 [KATA-CPSBC])."""
    check(
        "ketamine", "liver_disease", {"KATA-CPSBC", "WCMED", "USMED-ISI"}, "1.1, 2.2", "caution",
        fire=[{"liver_disease": True}],
        quiet=[{"sleep_apnoea": True}],
    )  # fmt: skip


def test_ketamine_sleep_apnoea_caution() -> None:
    """Sleep-apnoea screen (e.g. STOP-BANG) before parenteral ketamine (clinical.md 2.2 [KATA-CPSBC])."""
    check(
        "ketamine", "sleep_apnoea", {"KATA-CPSBC"}, "2.2", "caution",
        fire=[{"sleep_apnoea": True}],
        quiet=[{"liver_disease": True}],
    )  # fmt: skip


# --- Spravato (intranasal esketamine) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "fact"),
    [
        ("aneurysmal_vascular_disease", "aneurysmal_vascular_disease"),
        ("arteriovenous_malformation", "arteriovenous_malformation"),
        ("intracerebral_haemorrhage", "intracerebral_haemorrhage_history"),
    ],
)
def test_spravato_label_vascular_contraindications(rule_id: str, fact: str) -> None:
    """Spravato label contraindications: aneurysmal vascular disease, AVM, intracerebral haemorrhage
    (clinical.md 1.1 [WCMED, USMED-ISI])."""
    check("spravato", rule_id, {"WCMED", "USMED-ISI"}, "1.1", "contraindicated", fire=[{fact: True}], quiet=[])
    others = {"aneurysmal_vascular_disease", "arteriovenous_malformation", "intracerebral_haemorrhage_history"} - {fact}
    for other in others:
        assert outcome("spravato", rule_id, "intranasal_esketamine", **{other: True}) == "no_concern"


def test_spravato_hypersensitivity() -> None:
    """Hypersensitivity to esketamine, ketamine or excipients: label contraindication (clinical.md 1.1 [WCMED,
    USMED-ISI])."""
    check(
        "spravato", "hypersensitivity", {"WCMED", "USMED-ISI"}, "1.1", "contraindicated",
        fire=[{"ketamine_hypersensitivity": True}, {"spravato_excipient_hypersensitivity": True}],
        quiet=[{"interacting_medication": True}],
    )  # fmt: skip


def test_spravato_baseline_bp_above_140_90() -> None:
    """Baseline > 140/90: prescriber weighs the BP rise against benefit (clinical.md 0, 1.5 [LABEL-120TY,
    DRORACLE-PROT]). 140/90 exactly is not above."""
    check(
        "spravato", "baseline_bp_above_140_90", {"LABEL-120TY", "DRORACLE-PROT"}, "0, 1.5", "caution",
        fire=[{"systolic_bp_mmhg": 141}, {"diastolic_bp_mmhg": 91}, {"systolic_bp_mmhg": 200, "diastolic_bp_mmhg": 60}],
        quiet=[{"systolic_bp_mmhg": 140, "diastolic_bp_mmhg": 90}, {"hypertension": True}],
    )  # fmt: skip


def test_spravato_uncontrolled_hypertension_is_a_caution_not_a_contraindication() -> None:
    """clinical.md 1.1: uncontrolled hypertension is a screening caution, not a label contraindication [WCMED,
    USMED-ISI]; BP rise [USMED-33]; trial exclusion for IV ketamine (2.4 [PMC10812090])."""
    check(
        "spravato", "hypertension_uncontrolled", {"WCMED", "USMED-ISI", "USMED-33", "PMC10812090"}, "1.1, 2.4",
        "caution",
        fire=[{"hypertension_uncontrolled": True}],
        quiet=[{"hypertension": True}],
    )  # fmt: skip


def test_spravato_psychosis_is_a_caution() -> None:
    """clinical.md 1.1: psychosis is a screening caution for Spravato [WCMED, USMED-ISI]; ketamine trial exclusions
    (2.4 [PMC10812090, ELEKTD-REG])."""
    check(
        "spravato", "psychosis_or_mania", {"WCMED", "USMED-ISI", "PMC10812090", "ELEKTD-REG"}, "1.1, 2.4", "caution",
        fire=[{"psychosis_current": True}, {"mania_current": True}, {"psychotic_disorder": True}],
        quiet=[{"psychosis_history": True}, {"bipolar_disorder": True}],
    )  # fmt: skip


def test_spravato_pregnancy_is_a_caution() -> None:
    """clinical.md 1.1: pregnancy is a screening caution [WCMED, USMED-ISI]; 2.4 Spravato pregnancy risk
    [ELEKTD-REG, PMC10812090]."""
    check(
        "spravato", "pregnancy", {"WCMED", "USMED-ISI", "ELEKTD-REG", "PMC10812090"}, "1.1, 2.4", "caution",
        fire=[{"pregnant": True}],
        quiet=[{"breastfeeding": True}],
    )  # fmt: skip


def test_spravato_breastfeeding() -> None:
    """clinical.md 2.4: Spravato "should not breastfeed" (row sourced [ELEKTD-REG, PMC10812090])."""
    check(
        "spravato", "breastfeeding", {"ELEKTD-REG", "PMC10812090"}, "2.4", "caution",
        fire=[{"breastfeeding": True}],
        quiet=[{"pregnant": True}],
    )  # fmt: skip


def test_spravato_substance_use() -> None:
    """Spravato label SUD caution (clinical.md 1.1, 2.4 [SPRHCP-DOSE, PMC10812090])."""
    check(
        "spravato", "substance_use", {"SPRHCP-DOSE", "PMC10812090"}, "1.1, 2.4", "caution",
        fire=[
            {"substance_use_disorder_active": True},
            {"intoxication_or_withdrawal": True},
            {"ketamine_or_pcp_misuse_history": True},
        ],
        quiet=[{"takes_opioid": True}],
    )  # fmt: skip


def test_spravato_liver_disease() -> None:
    """clinical.md 1.1: liver impairment is a screening caution, not a label contraindication [WCMED, USMED-ISI]."""
    check(
        "spravato", "liver_disease", {"WCMED", "USMED-ISI"}, "1.1", "caution",
        fire=[{"liver_disease": True}],
        quiet=[{"sleep_apnoea": True}],
    )  # fmt: skip


def test_spravato_cns_depressants() -> None:
    """Monitor closely with CNS depressants (clinical.md 1.1 [LABEL-120TY]); PMF concomitant meds (1.4 [REMS-PMF,
    REMS-JNJ])."""
    check(
        "spravato", "cns_depressants", {"LABEL-120TY", "REMS-PMF", "REMS-JNJ"}, "1.1, 1.4", "caution",
        fire=[{"takes_benzodiazepine": True}, {"takes_sedative_hypnotic": True}, {"takes_opioid": True}],
        quiet=[{"takes_psychostimulant": True}],
    )  # fmt: skip


def test_spravato_bp_raising_medicines() -> None:
    """PMF: psychostimulants and MAOIs may change BP (clinical.md 1.4 [REMS-PMF, REMS-JNJ])."""
    check(
        "spravato", "bp_raising_medicines", {"REMS-PMF", "REMS-JNJ"}, "1.4", "caution",
        fire=[{"takes_psychostimulant": True}, {"takes_maoi": True}],
        quiet=[{"takes_benzodiazepine": True}],
    )  # fmt: skip


def test_every_rule_has_a_test_here() -> None:
    """Guard: a rule added to the data without a test above fails this list."""
    tested = {
        "ketamine": {
            "ketamine_hypersensitivity", "aneurysm_or_avm", "intracerebral_haemorrhage", "bp_rise_hazard",
            "hypertension_uncontrolled", "arrhythmia", "cerebrovascular_unstable", "ischaemic_or_cerebrovascular",
            "hypertension_history", "bp_crisis_range", "psychosis_or_mania_current", "psychotic_disorder",
            "bipolar_disorder", "bipolar_without_mood_stabiliser", "pregnancy", "breastfeeding",
            "substance_use_active", "ketamine_misuse_history", "benzodiazepine_load", "interacting_medication",
            "severe_illness", "liver_disease", "sleep_apnoea",
        },
        "spravato": {
            "aneurysmal_vascular_disease", "arteriovenous_malformation", "intracerebral_haemorrhage",
            "hypersensitivity", "baseline_bp_above_140_90", "hypertension_uncontrolled", "psychosis_or_mania",
            "pregnancy", "breastfeeding", "substance_use", "liver_disease", "cns_depressants",
            "bp_raising_medicines",
        },
    }  # fmt: skip
    for code, ids in tested.items():
        assert {r.id for r in get_ruleset(code).rules} == ids


# --- route specificity ----------------------------------------------------------------------------


def test_spravato_label_rules_apply_only_to_intranasal_esketamine() -> None:
    """The Spravato label items are route-specific (clinical.md 1.1): the Spravato rule set covers only
    intranasal esketamine, and the ketamine rule set never applies to it."""
    spravato = get_ruleset("spravato")
    assert all(r.routes == ("intranasal_esketamine",) for r in spravato.rules)
    ketamine = get_ruleset("ketamine")
    assert all("intranasal_esketamine" not in r.routes for r in ketamine.rules)
    for route in KETAMINE_ROUTES:
        with pytest.raises(ValueError, match="does not cover"):
            evaluate(spravato, clear(), route)
    with pytest.raises(ValueError, match="does not cover"):
        evaluate(ketamine, clear(), "intranasal_esketamine")


def test_same_fact_differs_by_route() -> None:
    """Pregnancy: trial exclusion for IV ketamine (2.4 [ELEKTD-REG, PMC10812090]) but a screening caution for
    Spravato (1.1 [WCMED, USMED-ISI])."""
    assert evaluate(get_ruleset("ketamine"), clear() | {"pregnant": True}, "iv").status == "contraindicated"
    assert evaluate(get_ruleset("spravato"), clear() | {"pregnant": True}, "intranasal_esketamine").status == "caution"


def test_a_rule_limited_to_one_route_is_skipped_on_the_others() -> None:
    """A route-specific rule (here: made IV-only) is evaluated on its route and absent from the others."""
    ketamine = get_ruleset("ketamine")
    iv_only = ketamine.rule("pregnancy").model_copy(update={"routes": ("iv",)})
    rs = ketamine.model_copy(update={"rules": (iv_only,)})
    assert evaluate(rs, {"pregnant": True}, "iv").status == "contraindicated"
    other = evaluate(rs, {"pregnant": True}, "im")
    assert (other.results, other.status) == ((), "no_concern")
