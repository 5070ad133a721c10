"""The working a prescriber checks, in words, step by step (plans.dosing over protocols.rules)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ketacare.plans.dosing import compute_plan
from ketacare.protocols.definitions import Protocol, get_protocol
from tests.protocols.clinic_values import IV_CLINIC_VALUES

DAY = datetime.date(2026, 11, 24)


def iv(step="5", direction="down", min_mg="10", max_mg="60", age=30):
    """The library IV protocol with a test clinic's values (tests/protocols/clinic_values.py), some overridden."""
    data = get_protocol("iv_racemic_ketamine", "1").model_dump(mode="json")
    values = {
        **IV_CLINIC_VALUES,
        "dose.rounding_step_mg": step,
        "dose.rounding_direction": direction,
        "dose.min_mg": min_mg,
        "dose.max_mg": max_mg,
        "dose.max_weight_age_days": age,
    }
    for path, value in values.items():
        block_path, name = path.rsplit(".", 1)
        if "[" in block_path:
            block, key = block_path.rstrip("]").split("[")
            target = next(b for b in data[block] if key in (b.get("id"), b.get("name")))
        else:
            target = data[block_path]
        target[name] = value
    return Protocol.model_validate(data)


def plan(protocol, weight="82.4", weighed_on=DAY, **kw):
    return compute_plan(
        protocol,
        weight_kg=Decimal(weight) if weight else None,
        weighed_on=weighed_on,
        today=DAY,
        first_session_on=kw.pop("first", DAY + datetime.timedelta(days=1)),
        **kw,
    )


def test_half_mg_per_kg_at_82_4_kg_is_41_2_mg_then_rounded_down_to_40():
    result = plan(iv())

    assert (result.raw_mg, result.final_mg) == (Decimal("41.2"), Decimal("40"))
    assert result.working == (
        "0.5 mg/kg × 82.4 kg = 41.2 mg → rounded down to 40 mg (step 5 mg) → within min 10 mg, max 60 mg = 40 mg"
    )


@pytest.mark.parametrize(
    ("weight", "direction", "final", "words"),
    [
        ("82.4", "up", "45", "rounded up to 45 mg (step 5 mg)"),
        ("82.4", "nearest", "40", "rounded nearest to 40 mg (step 5 mg)"),
        ("150", "down", "60", "held at the maximum 60 mg"),
        ("20", "down", "15", "raised to the minimum 15 mg"),
    ],
)
def test_rounding_then_limits(weight, direction, final, words):
    result = plan(iv(direction=direction, min_mg="15"), weight=weight)

    assert result.final_mg == Decimal(final)
    assert words in result.working


def test_refusals_name_their_field():
    with pytest.raises(ValidationError) as missing:
        plan(iv(), weight=None, weighed_on=None)
    with pytest.raises(ValidationError) as old:
        plan(iv(), weighed_on=DAY - datetime.timedelta(days=31))
    with pytest.raises(ValidationError) as past:
        plan(iv(), first=DAY - datetime.timedelta(days=1))
    with pytest.raises(ValidationError) as squeezed:
        plan(iv(), interval_days=5)  # 6 sessions 5 days apart do not fit 21 days
    with pytest.raises(ValidationError) as unset:
        plan(get_protocol("iv_racemic_ketamine", "1"))

    assert set(missing.value.message_dict) == {"weight"}
    assert "re-measure" in old.value.message_dict["weight"][0]
    assert set(past.value.message_dict) == {"first_session_on"}
    assert "outside the 21-day window" in squeezed.value.message_dict["interval_days"][0]
    assert "dose.max_mg" in unset.value.message_dict["protocol_version"][0]
