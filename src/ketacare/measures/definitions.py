"""Rating instruments as versioned data: the typed shape of `instruments/*.json` and its loader.

Clinical knowledge is data (docs/conventions.md): each instrument is one JSON file named
`<code>-v<version>.json` with `source`, `version`, `effective_from` and `citation`; every number in it
cites ../shared/reference/clinical.md section 3. This module only checks that a file is coherent
(item ids, option values, score ranges, band coverage, references) so a typo in the data fails at
import and in the tests, never at a patient's bedside. Scoring itself lives in `rules.py`.
"""

from __future__ import annotations

import datetime
import functools
import re
from importlib import resources
from typing import Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, model_validator

LOINC = re.compile(r"^\d{1,7}-\d$")
LOINC_ANSWER = re.compile(r"^LA\d{1,6}-\d$")

# How faithfully a text is reproduced from clinical.md:
#   as_given   - the wording clinical.md gives (first letter capitalised);
#   abridged   - clinical.md gives the wording shortened with "…";
#   paraphrase - clinical.md gives no wording; a short faithful paraphrase or placeholder, to be
#                replaced by the licensed form text before patients see it.
TextBasis = Literal["as_given", "abridged", "paraphrase"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    value: int
    label: str
    loinc_answer: str | None = None

    @model_validator(mode="after")
    def _codes(self) -> Option:
        if self.loinc_answer is not None and not LOINC_ANSWER.match(self.loinc_answer):
            raise ValueError(f"option {self.value}: {self.loinc_answer!r} is not a LOINC answer code")
        return self


class Condition(_Frozen):
    """Skip logic: the item is asked only when item `item` was answered `equals`."""

    item: str
    equals: int


class Item(_Frozen):
    id: str
    text: str
    text_basis: TextBasis
    options_basis: TextBasis
    options: tuple[Option, ...]
    loinc: str | None = None
    recall_period: str | None = None  # when it differs from the instrument's
    scored: bool = True
    required: bool = True
    ask_if: Condition | None = None

    @model_validator(mode="after")
    def _check(self) -> Item:
        values = [o.value for o in self.options]
        if not values:
            raise ValueError(f"item {self.id}: no answer options")
        if len(set(values)) != len(values):
            raise ValueError(f"item {self.id}: duplicate option values")
        if self.loinc is not None and not LOINC.match(self.loinc):
            raise ValueError(f"item {self.id}: {self.loinc!r} is not a LOINC code")
        return self

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)


class Component(_Frozen):
    """Part of the total: the sum or the maximum of some items (QIDS domains, PCL-5 clusters)."""

    id: str
    label: str
    items: tuple[str, ...]
    combine: Literal["sum", "max"]
    subscale: bool  # reported as a published subscale


class Band(_Frozen):
    code: str
    label: str
    min: int
    max: int


class Cutoff(_Frozen):
    """A published cut-off given as a range (PCL-5: 31–33); a total inside the range is reported as such."""

    label: str
    low: int
    high: int
    superseded: int | None = None
    source: str


class Dsm5Rule(_Frozen):
    """PCL-5 provisional diagnosis by the DSM-5 rule: items rated >= endorsed_at_least count as endorsed."""

    endorsed_at_least: int
    minimum_endorsed: dict[str, int]  # component id -> endorsed items needed
    source: str


class RiskLevel(_Frozen):
    code: str
    label: str
    basis: str


class RiskRule(_Frozen):
    """`level` applies when any of `when_any` holds; each entry holds when every item has that answer."""

    level: str
    when_any: tuple[dict[str, int], ...]


class RiskMapping(_Frozen):
    levels: tuple[RiskLevel, ...]  # lowest first
    default_level: str  # when no rule holds
    rules: tuple[RiskRule, ...]
    alert_levels: tuple[str, ...]
    loinc: str | None = None
    basis: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> RiskMapping:
        codes = [lv.code for lv in self.levels]
        if len(set(codes)) != len(codes):
            raise ValueError("risk mapping: duplicate level codes")
        for code in (self.default_level, *(r.level for r in self.rules), *self.alert_levels):
            if code not in codes:
                raise ValueError(f"risk mapping: unknown level {code!r}")
        return self

    def rank(self, level: str) -> int:
        return [lv.code for lv in self.levels].index(level)


class Scoring(_Frozen):
    method: Literal["sum_of_components", "risk_level"]
    components: tuple[Component, ...] = ()
    total_min: int | None = None
    total_max: int | None = None
    bands: tuple[Band, ...] = ()
    bands_note: str = ""
    cutoff: Cutoff | None = None
    dsm5_rule: Dsm5Rule | None = None
    risk: RiskMapping | None = None
    source: str


class SafetyItem(_Frozen):
    """An item whose answer raises a safety alert whatever the total.

    `at_least` None means the clinic sets the value (MADRS item 10; no validated threshold exists).
    """

    item: str
    at_least: int | None
    clinic_configurable: bool
    basis: str
    source: str


class OutcomeDefinition(_Frozen):
    """Response / remission / dissociation definitions stored with the instrument (clinical.md 3.11, 3.8)."""

    id: str
    kind: Literal["response", "remission", "dissociation"]
    rule: Literal["reduction_percent_at_least", "total_below", "total_at_most", "total_above_and_increase_above"]
    value: int
    increase_above: int | None = None
    used_by: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> OutcomeDefinition:
        allowed = {
            "response": {"reduction_percent_at_least"},
            "remission": {"total_below", "total_at_most"},
            "dissociation": {"total_above_and_increase_above"},
        }[self.kind]
        if self.rule not in allowed:
            raise ValueError(f"definition {self.id}: rule {self.rule} does not fit kind {self.kind}")
        if (self.rule == "total_above_and_increase_above") != (self.increase_above is not None):
            raise ValueError(f"definition {self.id}: increase_above belongs to the dissociation rule only")
        return self


class Instrument(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str = Field(pattern=r"^[0-9]+$")
    effective_from: datetime.date
    name: str
    abbreviation: str
    rater: Literal["self", "clinician"]
    recall_period: str
    loinc_panel: str | None = None
    loinc_total: str | None = None
    loinc_note: str = ""
    source: str
    citation: str
    notes: tuple[str, ...] = ()
    items: tuple[Item, ...]
    scoring: Scoring
    safety_items: tuple[SafetyItem, ...] = ()
    outcome_definitions: tuple[OutcomeDefinition, ...] = ()

    def item(self, item_id: str) -> Item:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    def definitions(self, kind: str) -> tuple[OutcomeDefinition, ...]:
        return tuple(d for d in self.outcome_definitions if d.kind == kind)

    def definition(self, definition_id: str) -> OutcomeDefinition:
        for d in self.outcome_definitions:
            if d.id == definition_id:
                return d
        raise KeyError(definition_id)

    @model_validator(mode="after")
    def _coherent(self) -> Instrument:
        ids = [it.id for it in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.code}: duplicate item ids")
        by_id = {it.id: it for it in self.items}
        for code in (self.loinc_panel, self.loinc_total):
            if code is not None and not LOINC.match(code):
                raise ValueError(f"{self.code}: {code!r} is not a LOINC code")
        for it in self.items:
            if it.ask_if is not None:
                ctl = by_id.get(it.ask_if.item)
                if ctl is None or ids.index(ctl.id) >= ids.index(it.id):
                    raise ValueError(f"{self.code}: item {it.id} depends on an unknown or later item")
                if it.ask_if.equals not in ctl.values:
                    raise ValueError(f"{self.code}: item {it.id} depends on an impossible answer")
        s = self.scoring
        if s.method == "sum_of_components":
            self._check_sum(by_id)
        else:
            if s.risk is None or s.components or s.bands or s.total_min is not None:
                raise ValueError(f"{self.code}: a risk-level instrument has a risk mapping and no total")
            for rule in s.risk.rules:
                for cond in rule.when_any:
                    for item_id, value in cond.items():
                        if item_id not in by_id or value not in by_id[item_id].values:
                            raise ValueError(f"{self.code}: risk rule names item {item_id}={value}")
        for safety in self.safety_items:
            if safety.item not in by_id:
                raise ValueError(f"{self.code}: safety item {safety.item} is not an item")
            if safety.at_least is None and not safety.clinic_configurable:
                raise ValueError(f"{self.code}: safety item {safety.item} has no threshold and is not configurable")
        def_ids = [d.id for d in self.outcome_definitions]
        if len(set(def_ids)) != len(def_ids):
            raise ValueError(f"{self.code}: duplicate outcome definition ids")
        return self

    def _check_sum(self, by_id: dict[str, Item]) -> None:
        s = self.scoring
        if s.total_min is None or s.total_max is None or not s.components or s.risk is not None:
            raise ValueError(f"{self.code}: a summed instrument needs components and a total range")
        placed: list[str] = []
        lo = hi = 0
        for comp in s.components:
            items = [by_id[i] for i in comp.items if i in by_id]
            if len(items) != len(comp.items) or not items:
                raise ValueError(f"{self.code}: component {comp.id} names unknown items")
            placed.extend(comp.items)
            mins = [min(it.values) for it in items]
            maxs = [max(it.values) for it in items]
            if comp.combine == "sum":
                lo, hi = lo + sum(mins), hi + sum(maxs)
            else:
                lo, hi = lo + max(mins), hi + max(maxs)
        scored = [it.id for it in self.items if it.scored]
        if sorted(placed) != sorted(scored):
            raise ValueError(f"{self.code}: every scored item must be in exactly one component")
        if (lo, hi) != (s.total_min, s.total_max):
            raise ValueError(f"{self.code}: items give totals {lo}-{hi}, the data says {s.total_min}-{s.total_max}")
        if s.bands:
            expected = s.total_min
            for band in s.bands:
                if band.min != expected or band.max < band.min:
                    raise ValueError(f"{self.code}: band {band.code} leaves a gap or overlaps")
                expected = band.max + 1
            if expected != s.total_max + 1:
                raise ValueError(f"{self.code}: bands do not reach the maximum total")
        if s.cutoff is not None and not (s.total_min <= s.cutoff.low <= s.cutoff.high <= s.total_max):
            raise ValueError(f"{self.code}: cut-off outside the total range")
        if s.dsm5_rule is not None:
            comp_ids = {c.id for c in s.components}
            if not set(s.dsm5_rule.minimum_endorsed) <= comp_ids:
                raise ValueError(f"{self.code}: DSM-5 rule names unknown clusters")


class UnknownInstrument(LookupError):
    pass


def parse_instrument(text: str) -> Instrument:
    return Instrument.model_validate_json(text)


@functools.cache
def _catalogue() -> dict[tuple[str, str], Instrument]:
    found: dict[tuple[str, str], Instrument] = {}
    folder = resources.files("ketacare.measures").joinpath("instruments")
    for entry in folder.iterdir():
        if not entry.name.endswith(".json"):
            continue
        inst = parse_instrument(entry.read_text(encoding="utf-8"))
        if entry.name != f"{inst.code}-v{inst.version}.json":
            raise ValueError(f"{entry.name} holds {inst.code} version {inst.version}")
        found[(inst.code, inst.version)] = inst
    return found


def instrument_versions(code: str) -> list[Instrument]:
    """Every stored version of one instrument, oldest first."""
    versions = [inst for (c, _), inst in _catalogue().items() if c == code]
    if not versions:
        raise UnknownInstrument(code)
    return sorted(versions, key=lambda i: (i.effective_from, int(i.version)))


def get_instrument(code: str, version: str | None = None, on: datetime.date | None = None) -> Instrument:
    """One instrument: the given version, or the newest one in effect on `on` (default: today)."""
    if version is not None:
        try:
            return _catalogue()[(code, version)]
        except KeyError:
            raise UnknownInstrument(f"{code} version {version}") from None
    day = on or timezone.localdate()
    in_effect = [i for i in instrument_versions(code) if i.effective_from <= day]
    if not in_effect:
        raise UnknownInstrument(f"{code} has no version in effect on {day.isoformat()}")
    return in_effect[-1]


def list_instruments(on: datetime.date | None = None) -> list[Instrument]:
    """The version of each instrument in effect on `on` (default: today), by code."""
    day = on or timezone.localdate()
    codes = sorted({code for code, _ in _catalogue()})
    result = []
    for code in codes:
        try:
            result.append(get_instrument(code, on=day))
        except UnknownInstrument:
            continue
    return result
