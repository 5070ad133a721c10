"""Evaluation over intake facts: unknown facts, overall status, fact checks, and prior-trial counting."""

from __future__ import annotations

from typing import Any

import pytest

from ketacare.screening.definitions import TrialAdequacy, get_ruleset
from ketacare.screening.evaluate import (
    FactsError,
    PriorTrial,
    count_adequate_failed_trials,
    evaluate,
    holds,
    treatment_resistant,
)
from ketacare.screening.facts import Facts
from tests.screening.test_rules import clear


def test_no_facts_means_nothing_is_assessed_never_no_concern() -> None:
    """An empty intake: every rule is "not assessed" and names its facts; the route is not "no concern"."""
    rs = get_ruleset("ketamine")
    ev = evaluate(rs, {}, "iv")
    assert ev.status == "not_assessed"
    assert not ev.complete
    assert {r.outcome for r in ev.results} == {"not_assessed"}
    assert ev.result("bipolar_without_mood_stabiliser").missing == ("bipolar_disorder", "mood_stabiliser")
    assert set(ev.missing_facts) == {f for r in rs.rules for f in r.facts}


def test_none_is_unknown_too() -> None:
    ev = evaluate(get_ruleset("spravato"), clear() | {"pregnant": None}, "intranasal_esketamine")
    assert ev.result("pregnancy").outcome == "not_assessed"
    assert ev.missing_facts == ("pregnant",)
    assert ev.status == "not_assessed"


def test_all_facts_known_and_clear_is_no_concern() -> None:
    for code, route in (("ketamine", "iv"), ("spravato", "intranasal_esketamine")):
        ev = evaluate(get_ruleset(code), clear(), route)  # type: ignore[arg-type]
        assert (ev.status, ev.complete, ev.findings) == ("no_concern", True, ())


def test_any_of_holds_on_one_known_part_and_waits_for_unknown_parts() -> None:
    """Three-valued any_of: one true part decides; all false decides; otherwise unknown."""
    rule = get_ruleset("ketamine").rule("aneurysm_or_avm")
    assert holds(rule.when, {"aneurysmal_vascular_disease": True}) is True
    assert holds(rule.when, {"aneurysmal_vascular_disease": False}) is None
    assert holds(rule.when, {"aneurysmal_vascular_disease": False, "arteriovenous_malformation": False}) is False
    ev = evaluate(get_ruleset("ketamine"), {"aneurysmal_vascular_disease": False}, "iv")
    assert ev.result("aneurysm_or_avm").missing == ("arteriovenous_malformation",)


def test_all_of_fails_on_one_known_false_part() -> None:
    """Three-valued all_of: bipolar known absent settles the mood-stabiliser rule without the stabiliser fact."""
    rule = get_ruleset("ketamine").rule("bipolar_without_mood_stabiliser")
    assert holds(rule.when, {"bipolar_disorder": False}) is False
    assert holds(rule.when, {"bipolar_disorder": True}) is None
    assert holds(rule.when, {"bipolar_disorder": True, "mood_stabiliser": False}) is True


def test_overall_status_is_the_worst_finding_and_keeps_reasons_and_sources() -> None:
    """A caution and a contraindication: contraindicated overall; findings worst first with reason and source."""
    facts = clear() | {"sleep_apnoea": True, "pregnant": True}
    ev = evaluate(get_ruleset("ketamine"), facts, "iv")
    assert ev.status == "contraindicated"
    assert [(f.rule_id, f.outcome) for f in ev.findings] == [
        ("pregnancy", "contraindicated"),
        ("sleep_apnoea", "caution"),
    ]
    assert ev.findings[0].sources == ("ELEKTD-REG", "PMC10812090")
    assert ev.findings[0].section == "2.4"
    assert "exclusion" in ev.findings[0].reason


def test_caution_with_missing_facts_stays_caution_but_incomplete() -> None:
    """A caution found beside unassessed rules: status caution, not complete, missing facts named."""
    facts = clear() | {"sleep_apnoea": True}
    del facts["arteriovenous_malformation"]
    ev = evaluate(get_ruleset("ketamine"), facts, "im")
    assert ev.status == "caution"
    assert not ev.complete
    assert ev.missing_facts == ("arteriovenous_malformation",)
    assert [r.rule_id for r in ev.not_assessed] == ["aneurysm_or_avm"]


def test_facts_are_checked() -> None:
    rs = get_ruleset("ketamine")
    with pytest.raises(FactsError, match="unknown fact 'pregnnant'"):
        evaluate(rs, {"pregnnant": True}, "iv")
    with pytest.raises(FactsError, match="true or false"):
        evaluate(rs, {"pregnant": 1}, "iv")
    with pytest.raises(FactsError, match="a number"):
        evaluate(rs, {"systolic_bp_mmhg": True}, "iv")
    with pytest.raises(FactsError, match="a number"):
        evaluate(rs, {"systolic_bp_mmhg": "150"}, "iv")


def test_typed_facts_mapping_is_accepted() -> None:
    facts: Facts = {"pregnant": False, "systolic_bp_mmhg": 150.0}
    assert evaluate(get_ruleset("spravato"), facts, "intranasal_esketamine").result("pregnancy").outcome == "no_concern"


# --- prior antidepressant trials --------------------------------------------------------------------

SET = TrialAdequacy(
    min_duration_weeks=6,
    min_adherence="good",
    failed_responses=("none", "partial"),
    treatment_resistant_at_least=2,
    source="test definition",
    basis="test values, not clinical advice",
)


def trial(**kw: Any) -> PriorTrial:
    base: dict[str, Any] = {
        "drug": "sertraline",
        "dose": "150 mg/day",
        "dose_adequate": True,
        "duration_weeks": 8,
        "adherence": "good",
        "response": "none",
        "reason_stopped": "no effect",
    }
    return PriorTrial(**(base | kw))


def test_shipped_adequacy_definition_is_unset_because_clinical_md_gives_none() -> None:
    """clinical.md defines no adequate trial: duration and adherence are null clinic parameters; the threshold of 2
    is issue #5's (and JNJ-PR-2025, clinical.md 1.1: inadequate response to >= 2 oral antidepressants)."""
    for code in ("ketamine", "spravato"):
        adequacy = get_ruleset(code).trial_adequacy
        assert adequacy is not None
        assert (adequacy.min_duration_weeks, adequacy.min_adherence) == (None, None)
        assert adequacy.treatment_resistant_at_least == 2
        assert "JNJ-PR-2025" in adequacy.source
        result = count_adequate_failed_trials([trial(), trial(drug="escitalopram")], adequacy)
        assert (result.count, result.undetermined, treatment_resistant(result)) == (0, 2, None)
        assert "minimum duration (not set by the clinic)" in result.judgements[0].why


def test_two_adequate_failed_trials_make_treatment_resistance() -> None:
    result = count_adequate_failed_trials([trial(), trial(drug="venlafaxine", response="partial")], SET)
    assert (result.count, treatment_resistant(result)) == (2, True)
    assert count_adequate_failed_trials([trial()], SET).treatment_resistant is False


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"response": "response"}, "response was response"),
        ({"response": "remission"}, "response was remission"),
        ({"dose_adequate": False}, "dose not adequate"),
        ({"duration_weeks": 4}, "4 weeks is under 6"),
        ({"adherence": "partial"}, "adherence was partial"),
    ],
)
def test_a_trial_that_misses_a_criterion_is_not_counted(changes: dict[str, Any], why: str) -> None:
    judged = count_adequate_failed_trials([trial(**changes)], SET).judgements[0]
    assert (judged.verdict, judged.why) == ("not_counted", (why,))


def test_boundaries_count() -> None:
    """Exactly the minimum duration and adherence count."""
    assert count_adequate_failed_trials([trial(duration_weeks=6)], SET).count == 1
    lenient = SET.model_copy(update={"min_adherence": "partial"})
    assert count_adequate_failed_trials([trial(adherence="partial")], lenient).count == 1


def test_unknown_trial_fields_are_undetermined_not_counted_either_way() -> None:
    result = count_adequate_failed_trials(
        [trial(), trial(duration_weeks=None), trial(adherence=None, response=None, dose_adequate=None)], SET
    )
    assert (result.count, result.undetermined, result.treatment_resistant) == (1, 2, None)
    assert result.judgements[1].why == ("duration",)
    assert result.judgements[2].why == ("response", "dose adequacy (prescriber's judgement)", "adherence")


def test_an_unmet_criterion_outweighs_unknown_ones() -> None:
    judged = count_adequate_failed_trials([trial(response="remission", duration_weeks=None)], SET).judgements[0]
    assert judged.verdict == "not_counted"


def test_resistance_is_settled_true_even_with_undetermined_trials_and_false_when_they_cannot_reach_it() -> None:
    assert count_adequate_failed_trials([trial(), trial(), trial(duration_weeks=None)], SET).treatment_resistant
    none_left = count_adequate_failed_trials([trial(response="response"), trial(duration_weeks=None)], SET)
    assert none_left.treatment_resistant is False
    assert count_adequate_failed_trials([], SET).treatment_resistant is False
