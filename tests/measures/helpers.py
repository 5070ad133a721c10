"""Small builders for answer sets used by the scoring tests."""

from __future__ import annotations

from ketacare.measures.definitions import Instrument


def answers_with_total(instrument: Instrument, total: int) -> dict[str, int]:
    """Answers to every scored item of a summed, single-component instrument adding up to `total`.

    Fills items in order with their maximum value until the total is reached.
    """
    scored = [it for it in instrument.items if it.scored]
    answers: dict[str, int] = {}
    left = total
    for it in scored:
        value = min(max(it.values), left)
        answers[it.id] = value
        left -= value
    if left:
        raise ValueError(f"{total} is beyond {instrument.code}'s maximum")
    return answers


def zeros(instrument: Instrument) -> dict[str, int]:
    return {it.id: 0 for it in instrument.items if it.scored and it.ask_if is None}
