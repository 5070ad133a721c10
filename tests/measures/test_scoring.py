"""Exact scoring against the published scoring rules named in ../shared/reference/clinical.md section 3.

Each test names the source key(s) of the rule it checks. The worked examples are built from those
published rules (clinical.md gives the rules, not filled-in forms), with the expected value worked by hand
in the docstring or the test body.
"""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError

from ketacare.measures.definitions import Instrument, RiskMapping, get_instrument
from ketacare.measures.rules import AnswerError, is_dissociation, is_remission, is_response, risk_floor, score
from tests.measures.helpers import answers_with_total, zeros


def band(instrument: Instrument, total: int) -> str | None:
    result = score(instrument, answers_with_total(instrument, total))
    assert result.valid
    assert result.total == total
    return result.severity.code if result.severity else None


# --- PHQ-9 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_edges(total: int, expected: str) -> None:
    """PHQ-9 bands 0–4 / 5–9 / 10–14 / 15–19 / 20–27 (clinical.md 3.1 [ECMH-PHQ9, KROENKE-SUM])."""
    assert band(get_instrument("phq9"), total) == expected


def test_phq9_total_is_the_sum_of_items_1_to_9() -> None:
    """Total = sum of items 1–9 (clinical.md 3.2 [ECMH-PHQ9, KROENKE-SUM]): 1+2+3+0+1+2+3+0+0 = 12, moderate."""
    answers = {"1": 1, "2": 2, "3": 3, "4": 0, "5": 1, "6": 2, "7": 3, "8": 0, "9": 0}
    result = score(get_instrument("phq9"), answers)
    assert (result.valid, result.total, result.severity and result.severity.code) == (True, 12, "moderate")
    assert result.subscales == {}
    assert result.safety == ()


def test_phq9_item_10_is_recorded_but_not_scored() -> None:
    """Item 10 (functional difficulty) is not in the total and may be left out (clinical.md 3.1, 3.2 [USCORE-PHQ9])."""
    phq = get_instrument("phq9")
    base = answers_with_total(phq, 7)
    assert score(phq, base).total == 7
    assert score(phq, {**base, "10": 3}).total == 7
    assert score(phq, base).valid


def test_phq9_missing_item_is_invalid_without_proration() -> None:
    """The official proration rule was not found: a missing item of 1–9 makes the score invalid (clinical.md 3.2)."""
    answers = answers_with_total(get_instrument("phq9"), 20)
    del answers["3"]
    result = score(get_instrument("phq9"), answers)
    assert (result.valid, result.total, result.severity, result.missing) == (False, None, None, ("3",))


def test_phq9_item_9_endorsed_raises_safety_whatever_the_total() -> None:
    """Item 9 > 0 is significant whatever the total (clinical.md 3.2, 7.4 [CALCIPEDIA-PHQ9]).

    Total 1, minimal, yet flagged.
    """
    phq = get_instrument("phq9")
    result = score(phq, {**zeros(phq), "9": 1})
    assert (result.total, result.severity and result.severity.code) == (1, "minimal")
    assert result.endorsed_safety_items == ("9",)
    assert result.needs_alert
    assert score(phq, {**zeros(phq), "1": 3}).safety == ()


def test_phq9_item_9_flag_survives_an_invalid_response() -> None:
    """A partly answered form endorsing item 9 is invalid but still flagged (clinical.md 3.2, 7.4 [CALCIPEDIA-PHQ9])."""
    result = score(get_instrument("phq9"), {"9": 2})
    assert not result.valid
    assert result.endorsed_safety_items == ("9",)
    assert result.safety[0].value == 2


def test_phq9_safety_threshold_is_not_configurable() -> None:
    """Item 9 ≥ 1 is fixed by clinical.md 3.2 [CALCIPEDIA-PHQ9]; a clinic cannot raise it."""
    with pytest.raises(ValueError, match="item 9"):
        score(get_instrument("phq9"), {"9": 1}, safety_thresholds={"9": 2})


@pytest.mark.parametrize(
    ("answers", "item", "fragment"),
    [
        ({"4": 4}, "4", "4 is not an answer option (0, 1, 2, 3)"),
        ({"1": -1}, "1", "-1 is not an answer option"),
        ({"11": 0}, "11", "not an item of PHQ-9"),
        ({"2": True}, "2", "whole number"),
        ({"2": "2"}, "2", "whole number"),
    ],
)
def test_answers_outside_the_options_are_refused_naming_the_item(
    answers: dict[str, int], item: str, fragment: str
) -> None:
    """Answers outside an item's options are refused, naming the item (issue #4; clinical.md 3.2 options)."""
    with pytest.raises(AnswerError) as caught:
        score(get_instrument("phq9"), answers)
    assert list(caught.value.item_errors) == [item]
    assert fragment in caught.value.item_errors[item]
    assert isinstance(caught.value, ValidationError)
    assert list(caught.value.message_dict) == [item]


def test_every_bad_item_is_named_at_once() -> None:
    with pytest.raises(AnswerError) as caught:
        score(get_instrument("phq9"), {"1": 9, "5": 7, "12": 0})
    assert sorted(caught.value.item_errors) == ["1", "12", "5"]


# --- GAD-7 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_band_edges(total: int, expected: str) -> None:
    """GAD-7 cut-points 5/10/15 = mild/moderate/severe, 0–4 minimal, total 0–21 (clinical.md 3.3 [CLIOT-GAD7])."""
    assert band(get_instrument("gad7"), total) == expected


def test_gad7_missing_item_is_invalid() -> None:
    """Scoring is a plain sum of all 7 items (clinical.md 3.3 [CLIOT-GAD7]); no proration."""
    gad = get_instrument("gad7")
    answers = zeros(gad)
    del answers["7"]
    assert score(gad, answers).missing == ("7",)


# --- PCL-5 --------------------------------------------------------------------------------------


def test_pcl5_clusters_and_total() -> None:
    """Clusters B 1–5, C 6–7, D 8–14, E 15–20; total = sum 0–80 (clinical.md 3.4 [COMORB-PCL5]).

    Items 1–20 answered 1,2,3,4,0 | 1,2 | 0,1,2,3,4,0,1 | 2,3,4,0,1,2: B 10, C 3, D 11, E 12, total 36.
    """
    values = [1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]
    result = score(get_instrument("pcl5"), {str(i): v for i, v in enumerate(values, 1)})
    assert result.subscales == {"B": 10, "C": 3, "D": 11, "E": 12}
    assert result.total == 36
    assert result.severity is None  # no empirically derived severity ranges


def test_pcl5_maximum() -> None:
    """20 items × 4 = 80 (clinical.md 3.4 [COMORB-PCL5])."""
    result = score(get_instrument("pcl5"), {str(i): 4 for i in range(1, 21)})
    assert result.total == 80
    assert result.subscales == {"B": 20, "C": 8, "D": 28, "E": 24}


@pytest.mark.parametrize(
    ("total", "expected"),
    [(30, "below"), (31, "within_range"), (32, "within_range"), (33, "within_range"), (34, "above")],
)
def test_pcl5_cutoff_range(total: int, expected: str) -> None:
    """Provisional PTSD by cut-off: total ≥ 31–33 (clinical.md 3.4 [COMORB-PCL5]); the range is kept, not one number."""
    result = score(get_instrument("pcl5"), answers_with_total(get_instrument("pcl5"), total))
    assert result.provisional is not None
    assert result.provisional.cutoff == expected
    assert (result.provisional.cutoff_low, result.provisional.cutoff_high) == (31, 33)


def test_pcl5_dsm5_rule_met_below_the_cutoff() -> None:
    """DSM-5 rule: item ≥ 2 endorsed; need ≥ 1 B, ≥ 1 C, ≥ 2 D, ≥ 2 E (clinical.md 3.4 [COMORB-PCL5]).

    Items 1, 6, 8, 9, 15, 16 rated 2, the rest 0: B1 C1 D2 E2 → rule met, total 12 → below the cut-off.
    The two methods are reported side by side because they can disagree.
    """
    answers = {str(i): 0 for i in range(1, 21)} | {"1": 2, "6": 2, "8": 2, "9": 2, "15": 2, "16": 2}
    result = score(get_instrument("pcl5"), answers)
    assert result.provisional is not None
    assert result.provisional.dsm5_rule_met
    assert result.provisional.endorsed == {"B": 1, "C": 1, "D": 2, "E": 2}
    assert (result.total, result.provisional.cutoff) == (12, "below")


@pytest.mark.parametrize(
    ("changes", "short"),
    [
        ({"8": 1}, "D"),  # D item rated 1 is not endorsed
        ({"6": 0}, "C"),
        ({"1": 0}, "B"),
        ({"16": 1}, "E"),
    ],
)
def test_pcl5_dsm5_rule_not_met(changes: dict[str, int], short: str) -> None:
    """Same rule (clinical.md 3.4 [COMORB-PCL5]): one cluster short of its count fails it, even with a high total."""
    answers = {str(i): 0 for i in range(1, 21)} | {"1": 2, "6": 2, "8": 2, "9": 2, "15": 2, "16": 2}
    answers |= changes
    # Push the total above the cut-off with items of the other clusters, keeping the short cluster short.
    for cluster, items in {
        "B": ["2", "3", "4", "5"],
        "D": ["10", "11", "12", "13", "14"],
        "E": ["17", "18", "19", "20"],
    }.items():
        if cluster != short:
            for i in items:
                answers[i] = 4
    result = score(get_instrument("pcl5"), answers)
    assert result.provisional is not None
    assert not result.provisional.dsm5_rule_met
    assert result.provisional.cutoff == "above"


# --- C-SSRS screener ----------------------------------------------------------------------------

CSSRS_NO = {"1": 0, "2": 0, "6": 0}


def cssrs(answers: dict[str, int]) -> tuple[bool, str | None, tuple[str, ...], tuple[str, ...]]:
    result = score(get_instrument("cssrs_screen"), answers)
    return result.valid, result.risk_level, result.skipped, tuple(f.level or "" for f in result.safety)


def test_cssrs_all_no_skips_q3_to_q5_and_6b() -> None:
    """Skip logic: Q2 no → straight to Q6; 6b only after Q6 yes (clinical.md 3.5 [DOCEST-CSSRS]).

    No level is named for all-no in clinical.md; the data calls it "none" (no alert).
    """
    assert cssrs(CSSRS_NO) == (True, "none", ("3", "4", "5", "6b"), ())


@pytest.mark.parametrize(
    ("answers", "level", "alert"),
    [
        ({"1": 1, "2": 0, "6": 0}, "low", False),
        ({"1": 1, "2": 1, "3": 0, "4": 0, "5": 0, "6": 0}, "low", False),
        ({"1": 0, "2": 1, "3": 0, "4": 0, "5": 0, "6": 0}, "low", False),
        ({"1": 1, "2": 1, "3": 1, "4": 0, "5": 0, "6": 0}, "moderate", True),
        ({"1": 1, "2": 1, "3": 1, "4": 1, "5": 0, "6": 0}, "high", True),
        ({"1": 1, "2": 1, "3": 0, "4": 0, "5": 1, "6": 0}, "high", True),
        ({"1": 0, "2": 0, "6": 1, "6b": 1}, "high", True),
        ({"1": 0, "2": 0, "6": 1, "6b": 0}, "moderate", True),
        ({"1": 1, "2": 1, "3": 1, "4": 0, "5": 0, "6": 1, "6b": 1}, "high", True),
    ],
)
def test_cssrs_risk_paths(answers: dict[str, int], level: str, alert: bool) -> None:
    """Triage convention: Q1/Q2 only low; Q3 moderate; Q4 or Q5 high; Q6 within 3 months high, earlier moderate
    (clinical.md 3.5 [COLUMBIA-TRIAGE, DRCHENG, JEOPARDY-CSSRS, MAINE-CSSRS, ONLINEMT-CSSRS]); alert on moderate
    or high (issue #4, clinical.md 7.4)."""
    valid, risk, _, flags = cssrs(answers)
    assert (valid, risk) == (True, level)
    assert flags == ((level,) if alert else ())


def test_cssrs_answer_to_a_skipped_question_is_refused_naming_it() -> None:
    """Q3–Q5 are not asked when Q2 is no (clinical.md 3.5 [DOCEST-CSSRS]); an answer to Q3 then is an error naming 3."""
    with pytest.raises(AnswerError) as caught:
        score(get_instrument("cssrs_screen"), {**CSSRS_NO, "3": 1})
    assert list(caught.value.item_errors) == ["3"]
    with pytest.raises(AnswerError) as caught:
        score(get_instrument("cssrs_screen"), {**CSSRS_NO, "6b": 0})
    assert list(caught.value.item_errors) == ["6b"]


@pytest.mark.parametrize(
    ("answers", "missing"),
    [
        ({"1": 0, "6": 0}, ("2",)),
        ({"1": 0, "2": 0}, ("6",)),
        ({"1": 1, "2": 1, "3": 0, "6": 0}, ("4", "5")),
        ({"1": 0, "2": 0, "6": 1}, ("6b",)),
    ],
)
def test_cssrs_missing_asked_item_is_invalid(answers: dict[str, int], missing: tuple[str, ...]) -> None:
    """Questions the skip logic asks are required; skipped ones are not "missing" (clinical.md 3.5 [DOCEST-CSSRS])."""
    result = score(get_instrument("cssrs_screen"), answers)
    assert (result.valid, result.risk_level, result.missing) == (False, None, missing)


def test_cssrs_incomplete_response_still_alerts_on_what_it_establishes() -> None:
    """Q6 yes with 6b unanswered is at least moderate whichever the answer (clinical.md 3.5 mapping), so it alerts;
    Q4 yes with Q5 and Q6 unanswered is already high."""
    cs = get_instrument("cssrs_screen")
    assert [f.level for f in score(cs, {"1": 0, "2": 0, "6": 1}).safety] == ["moderate"]
    assert [f.level for f in score(cs, {"1": 1, "2": 1, "4": 1}).safety] == ["high"]
    assert score(cs, {"1": 1, "2": 1}).safety == ()  # low at most so far
    assert cs.scoring.risk is not None
    assert risk_floor(cs, cs.scoring.risk, {"2": 1, "3": 1}) == "moderate"


def test_cssrs_mapping_is_configurable_data() -> None:
    """The mapping is a convention from secondary sources, kept configurable (clinical.md 3.5): a clinic table that
    treats any Q6 yes as high changes the result without code changes."""
    cs = get_instrument("cssrs_screen")
    default = cs.scoring.risk
    assert default is not None
    strict = RiskMapping.model_validate(
        default.model_dump() | {"rules": [*default.model_dump()["rules"], {"level": "high", "when_any": [{"6": 1}]}]}
    )
    answers = {"1": 0, "2": 0, "6": 1, "6b": 0}
    assert score(cs, answers).risk_level == "moderate"
    assert score(cs, answers, risk_mapping=strict).risk_level == "high"


def test_cssrs_clinic_mapping_must_fit_the_instrument() -> None:
    """A clinic table naming a question the screener does not have (clinical.md 3.5 lists 1–6 and 6b) is refused."""
    cs = get_instrument("cssrs_screen")
    assert cs.scoring.risk is not None
    data = cs.scoring.risk.model_dump()
    bad = RiskMapping.model_validate(data | {"rules": [*data["rules"], {"level": "high", "when_any": [{"7": 1}]}]})
    with pytest.raises(ValueError, match="item 7"):
        score(cs, CSSRS_NO, risk_mapping=bad)
    with pytest.raises(ValueError, match="not scored by a risk level"):
        score(get_instrument("phq9"), {}, risk_mapping=cs.scoring.risk)


# --- QIDS-SR16 ----------------------------------------------------------------------------------


def qids_answers(domains: dict[str, int]) -> dict[str, int]:
    """All 16 items 0 except the first item of each named domain."""
    first = {
        "sleep": "1",
        "sad_mood": "5",
        "appetite_weight": "6",
        "concentration": "10",
        "view_of_self": "11",
        "suicidal_ideation": "12",
        "interest": "13",
        "energy": "14",
        "psychomotor": "15",
    }
    answers = {str(i): 0 for i in range(1, 17)}
    for domain, value in domains.items():
        answers[first[domain]] = value
    return answers


def test_qids_domain_maxima_worked_example() -> None:
    """Total = max(1–4) + 5 + max(6–9) + 10 + 11 + 12 + 13 + 14 + max(15–16) (clinical.md 3.6 [MILLI-QIDS, GC-QIDS]).

    Items 1–16 = 1,3,0,2 | 2 | 0,2,1,0 | 1 | 2 | 0 | 1 | 2 | 1,2:
    sleep 3 + sad 2 + appetite/weight 2 + concentration 1 + view of self 2 + SI 0 + interest 1 + energy 2
    + psychomotor 2 = 15 (moderate); the common error of summing all 16 items would give 22.
    """
    values = [1, 3, 0, 2, 2, 0, 2, 1, 0, 1, 2, 0, 1, 2, 1, 2]
    answers = {str(i): v for i, v in enumerate(values, 1)}
    result = score(get_instrument("qids_sr16"), answers)
    assert result.subscales == {
        "sleep": 3,
        "sad_mood": 2,
        "appetite_weight": 2,
        "concentration": 1,
        "view_of_self": 2,
        "suicidal_ideation": 0,
        "interest": 1,
        "energy": 2,
        "psychomotor": 2,
    }
    assert result.total == 15 != sum(values)
    assert result.severity is not None
    assert result.severity.code == "moderate"


def test_qids_all_items_at_three_is_27_not_48() -> None:
    """Maximum 27 over 9 domains (clinical.md 3.6 [MILLI-QIDS]); summing all 16 items (48) is the known error."""
    result = score(get_instrument("qids_sr16"), {str(i): 3 for i in range(1, 17)})
    assert result.total == 27
    assert result.severity is not None
    assert result.severity.code == "very_severe"


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, "none"),
        (5, "none"),
        (6, "mild"),
        (10, "mild"),
        (11, "moderate"),
        (15, "moderate"),
        (16, "severe"),
        (20, "severe"),
        (21, "very_severe"),
        (27, "very_severe"),
    ],
)
def test_qids_band_edges(total: int, expected: str) -> None:
    """Bands 0–5 / 6–10 / 11–15 / 16–20 / 21–27; 21 is "very severe" (clinical.md 3.6 [IDSQIDS-INTERP, MILLI-QIDS])."""
    domains = [
        "sleep",
        "sad_mood",
        "appetite_weight",
        "concentration",
        "view_of_self",
        "interest",
        "energy",
        "psychomotor",
        "suicidal_ideation",
    ]
    filled: dict[str, int] = {}
    left = total
    for domain in domains:
        filled[domain] = min(3, left)
        left -= filled[domain]
    result = score(get_instrument("qids_sr16"), qids_answers(filled))
    assert result.total == total
    assert result.severity is not None
    assert result.severity.code == expected


def test_qids_item_12_feeds_the_safety_pathway() -> None:
    """Item 12 ≥ 1 alerts like PHQ-9 item 9 (design choice, clinical.md 3.6, 7.4)."""
    result = score(get_instrument("qids_sr16"), qids_answers({"suicidal_ideation": 1}))
    assert result.endorsed_safety_items == ("12",)
    assert result.severity is not None
    assert result.severity.code == "none"


def test_qids_missing_item_in_a_max_domain_is_still_missing() -> None:
    """No proration, not even inside a max-domain (clinical.md 3.6 scoring needs every item)."""
    answers = qids_answers({"sleep": 3})
    del answers["2"]
    result = score(get_instrument("qids_sr16"), answers)
    assert (result.valid, result.total, result.subscales) == (False, None, {})


# --- MADRS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [
        (0, "absent"),
        (6, "absent"),
        (7, "mild"),
        (19, "mild"),
        (20, "moderate"),
        (34, "moderate"),
        (35, "severe"),
        (60, "severe"),
    ],
)
def test_madrs_band_edges(total: int, expected: str) -> None:
    """Snaith cut-points 0–6 / 7–19 / 20–34 / 35–60, 10 items 0–6 (clinical.md 3.7 [SNAITH-TR, WIKI-MADRS])."""
    assert band(get_instrument("madrs"), total) == expected


def test_madrs_item_10_threshold_is_set_by_the_clinic() -> None:
    """Item 10 alerts at a clinic-set value; no validated threshold exists (clinical.md 7.4).

    Unset, any non-zero rating alerts; with the clinic's value 4, a 3 does not and a 4 does.
    """
    madrs = get_instrument("madrs")
    answers = answers_with_total(madrs, 0) | {"10": 3}
    assert score(madrs, answers).endorsed_safety_items == ("10",)
    assert score(madrs, answers | {"10": 1}).endorsed_safety_items == ("10",)
    assert score(madrs, answers | {"10": 0}).safety == ()
    assert score(madrs, answers, safety_thresholds={"10": 4}).safety == ()
    assert score(madrs, answers | {"10": 4}, safety_thresholds={"10": 4}).endorsed_safety_items == ("10",)


@pytest.mark.parametrize("threshold", [0, 7, -1])
def test_madrs_clinic_threshold_must_be_a_non_zero_option(threshold: int) -> None:
    """Item 10 is rated 0–6 (clinical.md 3.7 [WIKI-MADRS]); a clinic value of 0 or 7 would alert always or never."""
    madrs = get_instrument("madrs")
    with pytest.raises(ValueError, match="not a non-zero answer option"):
        score(madrs, answers_with_total(madrs, 0), safety_thresholds={"10": threshold})


# --- CADSS --------------------------------------------------------------------------------------


def test_cadss_sum_without_bands() -> None:
    """23 items 0–4, total 0–92, no cut-off separates dissociation (clinical.md 3.8 [NCT04226963, CADSS-CUTOFF])."""
    cadss = get_instrument("cadss")
    top = score(cadss, {str(i): 4 for i in range(1, 24)})
    assert (top.total, top.severity) == (92, None)
    assert score(cadss, answers_with_total(cadss, 17)).total == 17


@pytest.mark.parametrize(
    ("pre", "post", "expected"), [(0, 5, True), (0, 4, False), (5, 5, False), (3, 6, True), (6, 5, False)]
)
def test_cadss_dissociation_definition(pre: int, post: int, expected: bool) -> None:
    """Spravato trials: dissociation = total > 4 and change > 0 (clinical.md 3.1, 3.8 [JNJ-DISSOC])."""
    definition = get_instrument("cadss").definition("dissociation_spravato_trials")
    assert is_dissociation(pre, post, definition) is expected


# --- response and remission ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (20, 10, True),
        (20, 11, False),
        (21, 10, True),
        (21, 11, False),
        (19, 9, True),
        (19, 10, False),
        (0, 0, False),
        (10, 12, False),
    ],
)
def test_response_is_at_least_half_off_baseline(baseline: int, current: int, expected: bool) -> None:
    """Response = ≥ 50 % reduction from baseline (clinical.md 3.11 [McINNES, ANAND-NEJM, PMC-T3]); exact, no rounding:
    21 → 10 is 52.4 % (yes), 19 → 10 is 47.4 % (no)."""
    definition = get_instrument("phq9").definitions("response")[0]
    assert is_response(baseline, current, definition) is expected


def test_remission_definitions() -> None:
    """PHQ-9 < 5 [McINNES]; QIDS-SR16 ≤ 5 [HIBOOP-QIDS]; MADRS ≤ 12 [PMC-T3] or ≤ 10 [KETECT] (clinical.md 3.11)."""
    phq = get_instrument("phq9").definitions("remission")[0]
    assert is_remission(4, phq)
    assert not is_remission(5, phq)
    qids = get_instrument("qids_sr16").definitions("remission")[0]
    assert is_remission(5, qids)
    assert not is_remission(6, qids)
    madrs = get_instrument("madrs")
    le12, le10 = madrs.definition("remission_at_most_12"), madrs.definition("remission_at_most_10")
    assert is_remission(12, le12)
    assert not is_remission(13, le12)
    assert is_remission(10, le10)
    assert not is_remission(11, le10)


def test_definitions_refuse_the_wrong_kind() -> None:
    phq = get_instrument("phq9")
    with pytest.raises(ValueError, match="not remission"):
        is_remission(3, phq.definitions("response")[0])
    with pytest.raises(ValueError, match="not response"):
        is_response(20, 3, phq.definitions("remission")[0])


# --- properties over many random responses (hypothesis is not installed; a seeded generator instead) ----


@pytest.mark.parametrize("code", ["phq9", "gad7", "pcl5", "qids_sr16", "madrs", "cadss"])
def test_random_responses_score_within_range_and_any_dropped_item_invalidates(code: str) -> None:
    """For every summed instrument (clinical.md 3.1): a complete response scores inside the published range with exactly
    one band (where bands exist) and the components recomputed independently; dropping any required item invalidates."""
    inst = get_instrument(code)
    rng = random.Random(code)
    for _ in range(300):
        answers = {it.id: rng.choice(it.values) for it in inst.items if it.scored}
        result = score(inst, answers)
        assert result.valid
        assert result.total is not None
        assert inst.scoring.total_min is not None
        assert inst.scoring.total_max is not None
        assert inst.scoring.total_min <= result.total <= inst.scoring.total_max
        expected = sum(
            (sum if comp.combine == "sum" else max)(answers[i] for i in comp.items) for comp in inst.scoring.components
        )
        assert result.total == expected
        if inst.scoring.bands:
            assert result.severity is not None
            assert [b for b in inst.scoring.bands if b.min <= result.total <= b.max] == [result.severity]
        dropped = rng.choice(sorted(answers))
        partial = {k: v for k, v in answers.items() if k != dropped}
        again = score(inst, partial)
        assert (again.valid, again.total, again.missing) == (False, None, (dropped,))
        assert again.safety == result.safety or dropped in result.endorsed_safety_items


def test_random_cssrs_responses_follow_the_mapping() -> None:
    """Every complete C-SSRS path (clinical.md 3.5): the level is the highest tier whose condition holds."""
    cs = get_instrument("cssrs_screen")
    for q1 in (0, 1):
        for q2 in (0, 1):
            for q345 in [(0, 0, 0)] if not q2 else [(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]:
                for q6, q6b in ((0, None), (1, 0), (1, 1)):
                    answers = {"1": q1, "2": q2, "6": q6}
                    if q2:
                        answers |= dict(zip(("3", "4", "5"), q345, strict=True))
                    if q6b is not None:
                        answers["6b"] = q6b
                    q3, q4, q5 = q345
                    if q4 or q5 or (q6 and q6b):
                        expected = "high"
                    elif q3 or q6:
                        expected = "moderate"
                    elif q1 or q2:
                        expected = "low"
                    else:
                        expected = "none"
                    result = score(cs, answers)
                    assert (result.valid, result.risk_level) == (True, expected), answers
                    assert result.needs_alert is (expected in ("moderate", "high"))
