"""Dose and series rules over the protocol library.

Every expected value is read from ../shared/reference/clinical.md, cited per test. Values clinical.md
does not give (rounding step, mg limits, weight age, minimum interval) are entered here as a clinic
would, through `with_clinic_values`, and are marked as test clinic values, not clinical facts.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pydantic
import pytest

from ketacare.protocols.definitions import DoseRule, SeriesRule, get_protocol, with_clinic_values
from ketacare.protocols.rules import (
    ClinicValuesMissing,
    ProtocolRuleError,
    WeightMissing,
    WeightTooOld,
    compute_dose,
    plan_series,
    validate_schedule,
)

TODAY = datetime.date(2026, 5, 4)
D = Decimal


def iv_dose(**clinic: object) -> DoseRule:
    """IV template (clinical.md 2.3) with test clinic values for what clinical.md leaves open."""
    values: dict[str, object] = {
        "rounding_step_mg": D("1"),
        "rounding_direction": "down",
        "min_mg": D("10"),
        "max_mg": D("100"),
        "max_weight_age_days": 30,
    }
    values.update(clinic)
    return with_clinic_values(get_protocol("iv_racemic_ketamine").dose, "test clinic values", **values)


def iv_series(min_interval_hours: int = 48) -> SeriesRule:
    return with_clinic_values(
        get_protocol("iv_racemic_ketamine").series, "test clinic value", min_interval_hours=min_interval_hours
    )


def test_iv_half_mg_per_kg_at_82_4_kg_is_41_2_mg_before_rounding() -> None:
    """clinical.md 2.3 [MEDSCAPE-SANACORA, ANAND-NEJM]: 0.5 mg/kg; issue #5: 82.4 kg → 41.2 mg exactly."""
    result = compute_dose(iv_dose(), D("82.4"), TODAY - datetime.timedelta(days=3), TODAY)
    assert result.raw_mg == D("41.2")
    assert result.rounded_mg == D("41")
    assert result.final_mg == D("41")
    assert result.applied == ("rounded down to a 1 mg step",)
    assert result.weight_age_days == 3
    assert "MEDSCAPE-SANACORA" in result.source


@pytest.mark.parametrize(
    ("step", "direction", "expected"),
    [("1", "down", "41"), ("1", "up", "42"), ("1", "nearest", "41"), ("5", "nearest", "40"), ("0.5", "up", "41.5")],
)
def test_rounding_step_and_direction(step: str, direction: str, expected: str) -> None:
    """clinical.md 2.3: 0.5 mg/kg × 82.4 kg = 41.2 mg; step and direction are clinic-set (clinical.md gives none)."""
    rule = iv_dose(rounding_step_mg=D(step), rounding_direction=direction)
    assert compute_dose(rule, D("82.4"), TODAY, TODAY).final_mg == D(expected)


def test_nearest_rounds_half_up() -> None:
    """clinical.md 2.3 [MEDSCAPE-SANACORA]: 0.5 mg/kg × 83 kg = 41.5 mg, nearest 1 mg step → 42 mg."""
    assert compute_dose(iv_dose(rounding_direction="nearest"), D("83"), TODAY, TODAY).final_mg == D("42")


def test_maximum_applied_after_rounding() -> None:
    """clinical.md 2.3: 0.5 mg/kg × 150 kg = 75 mg; a clinic maximum of 60 mg caps it (alert, shown as applied)."""
    result = compute_dose(iv_dose(max_mg=D("60")), D("150"), TODAY, TODAY)
    assert (result.raw_mg, result.rounded_mg, result.final_mg) == (D("75.0"), D("75"), D("60"))
    assert result.applied == ("rounded down to a 1 mg step", "maximum 60 mg")


def test_minimum_applied() -> None:
    """clinical.md 2.3: 0.5 mg/kg × 30 kg = 15 mg; a clinic minimum of 20 mg raises it."""
    result = compute_dose(iv_dose(min_mg=D("20")), D("30"), TODAY, TODAY)
    assert result.final_mg == D("20")
    assert result.applied[-1] == "minimum 20 mg"


def test_shipped_iv_template_refuses_until_the_clinic_sets_its_values() -> None:
    """clinical.md 2.3/2.5: no rounding, mg limit or weight age is given, so the template cannot dose yet."""
    with pytest.raises(ClinicValuesMissing) as err:
        compute_dose(get_protocol("iv_racemic_ketamine").dose, D("82.4"), TODAY, TODAY)
    assert "dose.max_mg" in err.value.missing
    assert "dose.max_weight_age_days" in err.value.missing


def test_stale_weight_refused() -> None:
    """Issue #5 item 5: a weight older than the protocol allows must be re-measured (30 days: test clinic value)."""
    rule = iv_dose(max_weight_age_days=30)
    assert compute_dose(rule, D("82.4"), TODAY - datetime.timedelta(days=30), TODAY).final_mg == D("41")
    with pytest.raises(WeightTooOld, match="31 days old"):
        compute_dose(rule, D("82.4"), TODAY - datetime.timedelta(days=31), TODAY)


@pytest.mark.parametrize(("weight", "weighed_on"), [(None, TODAY), (D("82.4"), None), (None, None)])
def test_missing_weight_refused(weight: Decimal | None, weighed_on: datetime.date | None) -> None:
    """Issue #5 item 5: the dose shows the weight and its date; without both there is no dose."""
    with pytest.raises(WeightMissing):
        compute_dose(iv_dose(), weight, weighed_on, TODAY)


def test_invalid_weights_refused() -> None:
    """A weight in the future, zero or a float is refused (exact Decimal arithmetic only)."""
    with pytest.raises(ProtocolRuleError):
        compute_dose(iv_dose(), D("82.4"), TODAY + datetime.timedelta(days=1), TODAY)
    with pytest.raises(ProtocolRuleError):
        compute_dose(iv_dose(), D("0"), TODAY, TODAY)
    with pytest.raises(TypeError):
        compute_dose(iv_dose(), 82.4, TODAY, TODAY)  # type: ignore[arg-type]


def test_spravato_trd_fixed_doses() -> None:
    """clinical.md 1.2 [JANSSENMD-DUR]: TRD day 1 = 56 mg; later sessions 56 or 84 mg; weight not used."""
    rule = get_protocol("spravato_trd").dose
    first = compute_dose(rule, None, None, TODAY, session_number=1)
    assert first.final_mg == D("56")
    assert first.applied == ("first session 56 mg",)
    with pytest.raises(ProtocolRuleError, match="session 1 takes 56"):
        compute_dose(rule, None, None, TODAY, selected_mg=D("84"), session_number=1)
    assert compute_dose(rule, None, None, TODAY, selected_mg=D("84"), session_number=2).final_mg == D("84")
    assert compute_dose(rule, None, None, TODAY, selected_mg=D("56"), session_number=2).final_mg == D("56")
    with pytest.raises(ProtocolRuleError, match="56 mg or 84 mg"):
        compute_dose(rule, None, None, TODAY, session_number=2)
    with pytest.raises(ProtocolRuleError, match="not an allowed dose"):
        compute_dose(rule, None, None, TODAY, selected_mg=D("28"), session_number=2)


def test_spravato_mdsi_84_mg_reducible_to_56() -> None:
    """clinical.md 1.2 [SPRHCP-MDSI]: 84 mg twice weekly; may be reduced to 56 mg for tolerability."""
    rule = get_protocol("spravato_mdsi").dose
    assert compute_dose(rule, None, None, TODAY, session_number=1).final_mg == D("84")
    assert compute_dose(rule, None, None, TODAY, selected_mg=D("56")).final_mg == D("56")


def test_iv_series_six_within_21_days_twice_weekly() -> None:
    """clinical.md 2.3 [OLIVER-JCP, ANAND-NEJM]: 6 infusions within 21 days, twice weekly × 3 weeks."""
    dates = plan_series(iv_series(), datetime.date(2026, 5, 4))
    assert [(d - dates[0]).days for d in dates] == [0, 3, 7, 10, 14, 17]
    assert validate_schedule(iv_series(), dates) == []


def test_series_refuses_interval_or_window_it_cannot_meet() -> None:
    """clinical.md 2.3: window 21 days [OLIVER-JCP]; the minimum interval (clinic-set, here 96 h) is honoured."""
    with pytest.raises(ProtocolRuleError, match="minimum 96 h"):
        plan_series(iv_series(96), datetime.date(2026, 5, 4))
    with pytest.raises(ProtocolRuleError, match="outside the 21-day window"):
        plan_series(iv_series(), datetime.date(2026, 5, 4), interval_days=5)
    assert plan_series(iv_series(), datetime.date(2026, 5, 4), interval_days=4)[-1] == datetime.date(2026, 5, 24)


def test_validate_proposed_schedule() -> None:
    """clinical.md 2.3: count 6, window 21 days; interval 48 h is a test clinic value."""
    start = datetime.date(2026, 5, 4)
    days = [start + datetime.timedelta(days=n) for n in (0, 1, 5, 9, 13, 21, 22)]
    problems = validate_schedule(iv_series(), days)
    assert "7 sessions planned; the series has 6" in problems
    assert "session 2 is 24 h after session 1; minimum 48 h" in problems
    assert any("session 6" in p and "window" in p for p in problems)
    timed = [datetime.datetime(2026, 5, 4, 9), datetime.datetime(2026, 5, 6, 8)]
    assert validate_schedule(iv_series(), timed) == ["session 2 is 47 h after session 1; minimum 48 h"]


def test_spravato_induction_plan() -> None:
    """clinical.md 1.2 [JANSSENMD-DUR]: weeks 1–4 twice weekly → 8 sessions within 28 days."""
    series = with_clinic_values(get_protocol("spravato_trd").series, "test clinic value", min_interval_hours=48)
    dates = plan_series(series, datetime.date(2026, 5, 4))
    assert len(dates) == 8
    assert (dates[-1] - dates[0]).days < 28


def test_series_refuses_until_clinic_sets_interval() -> None:
    """clinical.md 2.3 gives no minimum interval: planning waits for the clinic's value."""
    with pytest.raises(ClinicValuesMissing, match=r"series\.min_interval_hours"):
        plan_series(get_protocol("iv_racemic_ketamine").series, TODAY)


def test_plan_keeps_its_numbers_when_the_protocol_changes() -> None:
    """Issue #5 item 5: a protocol version is frozen; a new version does not change a dose built on the old one."""
    protocol = get_protocol("iv_racemic_ketamine")
    dose_rule = iv_dose()
    before = compute_dose(dose_rule, D("82.4"), TODAY, TODAY)
    with pytest.raises(pydantic.ValidationError):
        protocol.dose.amount = D("1")  # type: ignore[misc]
    edited = protocol.model_copy(update={"version": "2", "dose": dose_rule.model_copy(update={"amount": D("0.75")})})
    assert compute_dose(edited.dose, D("82.4"), TODAY, TODAY).raw_mg == D("61.800")
    assert before.final_mg == D("41")
    assert get_protocol("iv_racemic_ketamine", version="1").dose.amount == D("0.5")
