"""When are vital signs due, and which are late? Pure, from the protocol's checkpoints (issue #7).

The protocol says when (`protocols.definitions.VitalCheckpoint`), e.g. the IV library protocol: BP
before dosing, every 10 min during the infusion, every 15 min after it, and before discharge
(clinical.md §2.5 [DUNLOP-684, YALE-BP]); Spravato: BP before dosing, 40 min after the first device and
before discharge (§0, §1.5 [SPRHCP-DOSE, REMS-PMF]). This module turns those rules and the vitals
already taken into slots with a due time and a status:

- `pre_dose`: due before dosing (no clock time); done by a set with its measures taken before dosing.
- `after_start` (minutes): one slot at first dose + minutes.
- `during_every` (minutes): a slot every interval from the first dose while dosing lasts.
- `after_end_every` (minutes): a slot every interval from the end of dosing until discharge.
- `pre_discharge`: due when the observation time ends (`gates.observation_ends_at`), or at once once
  the session is ready for discharge.
- `continuous`: not a slot (monitoring throughout; the page shows it as a reminder).

A slot is done by any set holding the slot's numeric measures taken from `EARLY` before its due time
until the next slot of the same checkpoint. It is late `LATE_AFTER` after its due time, and missed
once the next slot of a recurring checkpoint is due (a late reading then answers the next slot; the
missed one stays on the record, and the late-vitals alert raised for it stays). These two tolerances
are workflow settings of this software, not clinical facts.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Sequence
from typing import Literal

from ketacare.protocols.definitions import Protocol, VitalCheckpoint

# The measures a nurse types as numbers (VitalSigns columns); the others are observed continuously.
NUMERIC = frozenset({"systolic_bp", "diastolic_bp", "heart_rate", "spo2"})
EARLY = datetime.timedelta(minutes=5)
LATE_AFTER = datetime.timedelta(minutes=5)
MAX_SLOTS = 48  # a runaway session (e.g. never discharged) never lists more than this per checkpoint

Status = Literal["done", "due", "late", "missed", "upcoming"]
MEASURE_WORDS = {"systolic_bp": "BP", "diastolic_bp": "BP", "heart_rate": "HR", "spo2": "SpO2"}


@dataclasses.dataclass(frozen=True)
class Taken:
    """One recorded set: when, and which numeric measures it holds."""

    taken_at: datetime.datetime
    measures: frozenset[str]
    before_dosing: bool = False


@dataclasses.dataclass(frozen=True)
class Slot:
    checkpoint: str
    label: str
    due_at: datetime.datetime | None  # None: before dosing (no clock time)
    measures: tuple[str, ...]
    status: Status
    done_at: datetime.datetime | None = None

    @property
    def open(self) -> bool:
        return self.status in ("due", "late")


def _words(measures: Iterable[str]) -> str:
    seen: list[str] = []
    for m in measures:
        word = MEASURE_WORDS.get(m, m)
        if word not in seen:
            seen.append(word)
    return ", ".join(seen)


def _needed(checkpoint: VitalCheckpoint) -> frozenset[str]:
    return frozenset(m for m in checkpoint.measures if m in NUMERIC)


def _status(
    due_at: datetime.datetime,
    window_end: datetime.datetime | None,
    needed: frozenset[str],
    taken: Sequence[Taken],
    now: datetime.datetime,
) -> tuple[Status, datetime.datetime | None]:
    start = due_at - EARLY
    for t in taken:
        if t.before_dosing:
            continue
        if t.taken_at >= start and (window_end is None or t.taken_at < window_end - EARLY) and needed <= t.measures:
            return "done", t.taken_at
    if window_end is not None and now >= window_end:
        return "missed", None  # the next slot of the checkpoint is due: this one can no longer be taken
    if now >= due_at + LATE_AFTER:
        return "late", None
    if now >= due_at - EARLY:
        return "due", None
    return "upcoming", None


def schedule(
    protocol: Protocol,
    *,
    taken: Sequence[Taken],
    now: datetime.datetime,
    first_dose_at: datetime.datetime | None,
    dose_ended_at: datetime.datetime | None,
    observation_ends_at: datetime.datetime | None,
    ended_at: datetime.datetime | None = None,
    ready_for_discharge: bool = False,
) -> list[Slot]:
    """Every vitals slot of the session so far (and the next of each recurring checkpoint), in time order.

    `ended_at`: discharge or early stop; no recurring slot is due after it.
    """
    taken = sorted(taken, key=lambda t: t.taken_at)
    slots: list[Slot] = []
    for cp in protocol.vital_checkpoints:
        needed = _needed(cp)
        if not needed:
            continue
        measures = tuple(m for m in cp.measures if m in NUMERIC)
        words = _words(measures)
        if cp.when == "pre_dose":
            done = next((t for t in taken if t.before_dosing and needed <= t.measures), None)
            status: Status = "done" if done else ("late" if first_dose_at else "due")
            slots.append(Slot(cp.id, f"{words} before dosing", None, measures, status, done.taken_at if done else None))
        elif cp.when == "after_start" and cp.minutes is not None:
            if first_dose_at is None:
                continue
            due = first_dose_at + datetime.timedelta(minutes=cp.minutes)
            if ended_at is not None and due > ended_at:
                continue
            st, at = _status(due, None, needed, taken, now)
            slots.append(Slot(cp.id, f"{words} {cp.minutes} min after the first dose", due, measures, st, at))
        elif cp.when in ("during_every", "after_end_every") and cp.minutes:
            anchor = first_dose_at if cp.when == "during_every" else dose_ended_at
            if anchor is None:
                continue
            step = datetime.timedelta(minutes=cp.minutes)
            stop = dose_ended_at if cp.when == "during_every" else ended_at
            phase = "during dosing" if cp.when == "during_every" else "after dosing"
            for k in range(1, MAX_SLOTS + 1):
                due = anchor + k * step
                if stop is not None and due > stop:
                    break
                st, at = _status(due, due + step, needed, taken, now)
                slots.append(Slot(cp.id, f"{words} every {cp.minutes} min {phase} (#{k})", due, measures, st, at))
                if st == "upcoming":
                    break  # only the next future slot of a recurring checkpoint
        elif cp.when == "pre_discharge":
            if first_dose_at is None:
                continue
            ends = observation_ends_at
            if ends is None and not ready_for_discharge:
                continue
            pre_due = now if ready_for_discharge and (ends is None or ends > now) else ends
            if pre_due is None:
                continue
            st, at = _status(pre_due, None, needed, taken, now)
            if ended_at is not None and st != "done":
                continue
            slots.append(Slot(cp.id, f"{words} before discharge", pre_due, measures, st, at))
    return sorted(slots, key=lambda s: (s.due_at is not None, s.due_at or now, s.checkpoint))


def next_due(slots: Sequence[Slot]) -> Slot | None:
    """The earliest slot still to take (late ones first; done and missed ones are past)."""
    open_slots = [s for s in slots if s.status not in ("done", "missed")]
    return open_slots[0] if open_slots else None


def late(slots: Sequence[Slot]) -> list[Slot]:
    return [s for s in slots if s.status == "late"]
