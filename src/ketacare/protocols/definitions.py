"""Protocol templates as versioned data: the typed shape of `library/*.json` and its loader.

Clinical knowledge is data (docs/conventions.md): each protocol version is one JSON file named
`<code>-v<version>.json` with `source`, `version`, `effective_from`, `jurisdiction` and `citation`;
every number in it cites ../shared/reference/clinical.md sections 1, 2 and 7 by source key.

Where clinical.md gives no number (IV/IM/oral rounding, maximum mg, weight age, IV observation time,
IV vital-sign alert values, ...) the file leaves the value null and names the field in that block's
`clinic_set`: the clinic must fill it in (`with_clinic_values`) before the protocol is used, and
`rules.py` refuses to compute a dose or plan a series while such a value is missing. Nothing here
invents a clinical number.

Every model is frozen: a plan built on a protocol version keeps that version's numbers; an edit is a
new version (or a clinic copy), never a change in place.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable
from decimal import Decimal
from importlib import resources
from typing import Any, Literal, TypeVar

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, model_validator

Route = Literal["intravenous", "intramuscular", "intranasal", "oral_or_sublingual"]
Measure = Literal["systolic_bp", "diastolic_bp", "heart_rate", "spo2", "respiratory_status", "mental_status"]

M = TypeVar("M", bound="_ClinicSettable")


class ProtocolDataError(ValueError):
    """A library file that is not a coherent protocol version."""


class UnknownProtocol(LookupError):
    pass


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _ClinicSettable(_Frozen):
    """A block whose null values named in `clinic_set` must be entered by the clinic before use."""

    clinic_set: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _clinic_set_names_fields(self) -> _ClinicSettable:
        for name in self.clinic_set:
            if name not in type(self).model_fields or name == "clinic_set":
                raise ValueError(f"clinic_set names unknown field {name!r}")
        return self

    def missing_clinic_values(self) -> tuple[str, ...]:
        """Fields the clinic still has to fill in (named in clinic_set and still null)."""
        return tuple(name for name in self.clinic_set if getattr(self, name) is None)


def with_clinic_values(block: M, source: str, **values: Any) -> M:
    """A validated copy of `block` with clinic-entered values; the clinic's `source` is appended.

    Only fields named in `clinic_set` may be filled this way; anything else is a new protocol version.
    """
    for name in values:
        if name not in block.clinic_set:
            raise ProtocolDataError(f"{name!r} is not a clinic-set value of this block")
    if not source.strip():
        raise ProtocolDataError("clinic values need a source (who decided, where it is written)")
    data = block.model_dump()
    data.update(values)
    if "source" in data:
        data["source"] = f"{data['source']}; clinic values: {source}"
    return type(block).model_validate(data)


class DoseRule(_ClinicSettable):
    """mg/kg (weight-based) or fixed mg; rounding and limits apply to the final mg dose."""

    basis: Literal["weight_based", "fixed"]
    unit: Literal["mg/kg", "mg"]
    amount: Decimal | None  # mg/kg or mg; null: clinic-set (or chosen per session from `choices_mg`)
    choices_mg: tuple[Decimal, ...] = ()  # fixed doses allowed (Spravato 56 / 84 mg)
    first_session_mg: Decimal | None = None  # fixed dose required at session 1 (Spravato TRD day 1)
    rounding_step_mg: Decimal | None = None
    rounding_direction: Literal["down", "up", "nearest"] | None = None
    min_mg: Decimal | None = None
    max_mg: Decimal | None = None
    max_weight_age_days: int | None = None
    source: str

    @model_validator(mode="after")
    def _check(self) -> DoseRule:
        expected_unit = {"weight_based": "mg/kg", "fixed": "mg"}[self.basis]
        if self.unit != expected_unit:
            raise ValueError(f"a {self.basis} dose is in {expected_unit}, not {self.unit}")
        for name in ("amount", "first_session_mg", "rounding_step_mg", "min_mg", "max_mg"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if any(c <= 0 for c in self.choices_mg) or len(set(self.choices_mg)) != len(self.choices_mg):
            raise ValueError("choices_mg must be distinct positive doses")
        if self.min_mg is not None and self.max_mg is not None and self.min_mg > self.max_mg:
            raise ValueError(f"minimum {self.min_mg} mg is above maximum {self.max_mg} mg")
        if self.max_weight_age_days is not None and self.max_weight_age_days < 0:
            raise ValueError("max_weight_age_days must not be negative")
        if self.basis == "weight_based":
            if self.choices_mg or self.first_session_mg is not None:
                raise ValueError("fixed-dose choices belong to a fixed dose rule")
            # A weight-based dose must state (or leave to the clinic) each safety value.
            for name in ("amount", "rounding_step_mg", "rounding_direction", "min_mg", "max_mg", "max_weight_age_days"):
                if getattr(self, name) is None and name not in self.clinic_set:
                    raise ValueError(f"a weight-based dose needs {name} or names it in clinic_set")
            if (self.rounding_step_mg is None) != (self.rounding_direction is None) and not self.clinic_set:
                raise ValueError("rounding needs both a step and a direction")
        else:
            if self.rounding_step_mg is not None or self.rounding_direction is not None:
                raise ValueError("a fixed dose is not rounded")
            if self.max_weight_age_days is not None:
                raise ValueError("a fixed dose does not depend on weight")
            if self.amount is None and not self.choices_mg and "amount" not in self.clinic_set:
                raise ValueError("a fixed dose needs an amount, choices or a clinic-set amount")
            for dose in (*self.choices_mg, *(d for d in (self.amount, self.first_session_mg) if d is not None)):
                if (self.min_mg is not None and dose < self.min_mg) or (self.max_mg is not None and dose > self.max_mg):
                    raise ValueError(f"fixed dose {dose} mg is outside {self.min_mg}–{self.max_mg} mg")
                if self.choices_mg and dose not in self.choices_mg:
                    raise ValueError(f"fixed dose {dose} mg is not one of the choices")
        return self


class Administration(_ClinicSettable):
    method: Literal["infusion", "injection", "nasal_spray", "oral"]
    duration_minutes: int | None = Field(default=None, gt=0)  # infusion over this time
    device_mg: Decimal | None = None  # Spravato: one device = 28 mg
    rest_between_devices_minutes: int | None = Field(default=None, ge=0)
    note: str = ""
    source: str

    @model_validator(mode="after")
    def _check(self) -> Administration:
        if self.method == "infusion" and self.duration_minutes is None and "duration_minutes" not in self.clinic_set:
            raise ValueError("an infusion needs a duration or a clinic-set duration")
        if self.method != "infusion" and self.duration_minutes is not None:
            raise ValueError("only an infusion has a duration")
        return self


class SeriesRule(_ClinicSettable):
    """A course of sessions: `count` within `window_days` of the first, at least `min_interval_hours` apart.

    The window counts the first session's day as day 0: every session falls before day `window_days`.
    """

    phase: str
    count: int | None = Field(default=None, ge=1)
    sessions_per_week: int | None = Field(default=None, ge=1, le=7)
    window_days: int | None = Field(default=None, ge=1)
    min_interval_hours: int | None = Field(default=None, ge=0)
    note: str = ""
    source: str

    @model_validator(mode="after")
    def _check(self) -> SeriesRule:
        for name in ("count", "window_days", "min_interval_hours"):
            if getattr(self, name) is None and name not in self.clinic_set:
                raise ValueError(f"series {self.phase}: {name} is missing and not clinic-set")
        count, window, interval = self.count, self.window_days, self.min_interval_hours
        if count and window and interval is not None and (count - 1) * interval > (window - 1) * 24:
            raise ValueError(f"series {self.phase}: {self.count} sessions cannot fit the window at that interval")
        return self


class MaintenancePhase(_ClinicSettable):
    """Sessions after induction; `interval_days_options` lists the intervals the source allows."""

    name: str
    from_week: int | None = Field(default=None, ge=1)
    to_week: int | None = Field(default=None, ge=1)
    interval_days_options: tuple[int, ...] | None
    rule: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> MaintenancePhase:
        if self.from_week and self.to_week and self.from_week > self.to_week:
            raise ValueError(f"maintenance {self.name}: from_week is after to_week")
        if self.interval_days_options is not None and any(d < 1 for d in self.interval_days_options):
            raise ValueError(f"maintenance {self.name}: intervals must be at least one day")
        return self


class Observation(_ClinicSettable):
    minimum_minutes: int | None = Field(default=None, ge=0)
    until: str = ""  # what must have resolved as well as the time
    source: str


class VitalCheckpoint(_Frozen):
    id: str
    when: Literal["pre_dose", "after_start", "during_every", "after_end_every", "pre_discharge", "continuous"]
    minutes: int | None = Field(default=None, ge=0)  # after_start: at; *_every: the interval
    measures: tuple[Measure, ...]
    source: str

    @model_validator(mode="after")
    def _check(self) -> VitalCheckpoint:
        needs_minutes = self.when in ("after_start", "during_every", "after_end_every")
        if needs_minutes != (self.minutes is not None):
            raise ValueError(f"checkpoint {self.id}: minutes belongs to timed checkpoints only")
        return self


class AlertThreshold(_ClinicSettable):
    """Alerts the prescriber (never stops a session by itself); `value` null: the clinic must enter it."""

    id: str
    measure: Measure
    comparison: Literal["above", "below"]
    value: int | None = None
    unit: Literal["mmHg", "bpm", "%"]
    applies_at: Literal["pre_dose", "any"]
    action: Literal["alert_prescriber"] = "alert_prescriber"
    basis: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> AlertThreshold:
        expected = {"systolic_bp": "mmHg", "diastolic_bp": "mmHg", "heart_rate": "bpm", "spo2": "%"}.get(self.measure)
        if expected is None or self.unit != expected:
            raise ValueError(f"threshold {self.id}: {self.measure} is not measured in {self.unit}")
        if self.value is None and "value" not in self.clinic_set:
            raise ValueError(f"threshold {self.id}: no value and not clinic-set")
        return self


class Fasting(_ClinicSettable):
    no_food_minutes: int | None = Field(default=None, ge=0)
    no_liquids_minutes: int | None = Field(default=None, ge=0)
    other_instructions: tuple[str, ...] = ()
    source: str


class ChecklistItem(_Frozen):
    id: str
    text: str
    source: str


class Escort(_ClinicSettable):
    required: bool | None
    detail: str
    source: str


class ReviewPoint(_Frozen):
    id: str
    at: Literal["after_session", "end_of_phase"]
    session: int | None = Field(default=None, ge=1)
    phase: str | None = None
    condition: str
    action: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> ReviewPoint:
        if (self.at == "after_session") != (self.session is not None):
            raise ValueError(f"review {self.id}: a session number belongs to after_session only")
        if (self.at == "end_of_phase") != (self.phase is not None):
            raise ValueError(f"review {self.id}: a phase belongs to end_of_phase only")
        return self


class Protocol(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str = Field(pattern=r"^[0-9]+$")
    effective_from: datetime.date
    name: str
    indication: str
    route: Route
    jurisdiction: str
    source: str
    citation: str
    notes: tuple[str, ...] = ()
    dose: DoseRule
    administration: Administration
    series: SeriesRule
    maintenance: tuple[MaintenancePhase, ...] = ()
    observation: Observation
    vital_checkpoints: tuple[VitalCheckpoint, ...]
    alert_thresholds: tuple[AlertThreshold, ...] = ()
    fasting: Fasting
    discharge_checklist: tuple[ChecklistItem, ...]
    escort: Escort
    review_points: tuple[ReviewPoint, ...] = ()

    @model_validator(mode="after")
    def _coherent(self) -> Protocol:
        route_method = {
            "intravenous": "infusion",
            "intramuscular": "injection",
            "intranasal": "nasal_spray",
            "oral_or_sublingual": "oral",
        }[self.route]
        if self.administration.method != route_method:
            raise ValueError(f"{self.code}: route {self.route} is given by {route_method}")
        for label, ids in (
            ("checkpoint", [c.id for c in self.vital_checkpoints]),
            ("threshold", [t.id for t in self.alert_thresholds]),
            ("checklist item", [i.id for i in self.discharge_checklist]),
            ("review point", [r.id for r in self.review_points]),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{self.code}: duplicate {label} ids")
        phases = {self.series.phase, *(m.name for m in self.maintenance)}
        for review in self.review_points:
            if review.phase is not None and review.phase not in phases:
                raise ValueError(f"{self.code}: review {review.id} names unknown phase {review.phase!r}")
            if review.session is not None and self.series.count is not None and review.session > self.series.count:
                raise ValueError(f"{self.code}: review {review.id} is after the last session")
        return self

    def missing_clinic_values(self) -> tuple[str, ...]:
        """Dotted paths of every value the clinic must enter before this protocol is used."""
        blocks: list[tuple[str, _ClinicSettable]] = [
            ("dose", self.dose),
            ("administration", self.administration),
            ("series", self.series),
            ("observation", self.observation),
            ("fasting", self.fasting),
            ("escort", self.escort),
        ]
        blocks += [(f"maintenance[{m.name}]", m) for m in self.maintenance]
        blocks += [(f"alert_thresholds[{t.id}]", t) for t in self.alert_thresholds]
        return tuple(f"{prefix}.{name}" for prefix, block in blocks for name in block.missing_clinic_values())

    @property
    def ready_for_use(self) -> bool:
        return not self.missing_clinic_values()


def parse_protocol(text: str) -> Protocol:
    return Protocol.model_validate_json(text)


def load_library(files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Protocol]:
    """Parse (file name, JSON text) pairs; refuse a misnamed file or a repeated code and version."""
    found: dict[tuple[str, str], Protocol] = {}
    for name, text in files:
        protocol = parse_protocol(text)
        if name != f"{protocol.code}-v{protocol.version}.json":
            raise ProtocolDataError(f"{name} holds {protocol.code} version {protocol.version}")
        key = (protocol.code, protocol.version)
        if key in found:
            raise ProtocolDataError(f"{protocol.code} version {protocol.version} is defined twice")
        found[key] = protocol
    return found


@functools.cache
def _catalogue() -> dict[tuple[str, str], Protocol]:
    folder = resources.files("ketacare.protocols").joinpath("library")
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return load_library((e.name, e.read_text(encoding="utf-8")) for e in entries)


def protocol_versions(code: str) -> list[Protocol]:
    """Every stored version of one protocol, oldest first."""
    versions = [p for (c, _), p in _catalogue().items() if c == code]
    if not versions:
        raise UnknownProtocol(code)
    return sorted(versions, key=lambda p: (p.effective_from, int(p.version)))


def get_protocol(code: str, version: str | None = None, on: datetime.date | None = None) -> Protocol:
    """One protocol: the given version, or the newest in effect on `on` (default: today)."""
    if version is not None:
        try:
            return _catalogue()[(code, version)]
        except KeyError:
            raise UnknownProtocol(f"{code} version {version}") from None
    day = on or timezone.localdate()
    in_effect = [p for p in protocol_versions(code) if p.effective_from <= day]
    if not in_effect:
        raise UnknownProtocol(f"{code} has no version in effect on {day.isoformat()}")
    return in_effect[-1]


def list_protocols(on: datetime.date | None = None) -> list[Protocol]:
    """The version of each protocol in effect on `on` (default: today), by code."""
    result = []
    for code in sorted({c for c, _ in _catalogue()}):
        try:
            result.append(get_protocol(code, on=on))
        except UnknownProtocol:
            continue
    return result
