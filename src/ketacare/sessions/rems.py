"""Spravato REMS: the Patient Monitoring Form (PMF) as versioned data, and its due dates.

Sources (../shared/reference/clinical.md):
- §1.3 [REMS-FDA, REMS-OUT, REMS-ENROLL] (P): the certified outpatient setting submits "a PMF for
  every patient within 7 days of every dose".
- §1.4 [REMS-PMF, REMS-PMF-2021, REMS-JNJ] (P): the form's fields, "model the form as versioned
  data" (`rems_forms/<code>-v<version>.json`, loaded here like the protocol library); deadline
  "within 7 days"; "Lucido reads this as calendar days (a Friday session is due the next Friday)
  [S, LUCIDO-DEADLINE] ... Default the software to calendar days, which is the safe reading"; and
  "a queue item due at **session date + 7 days**".

The due-date rule implemented (issue #7: "due within 7 calendar days in the clinic's time zone"):
the session date is the calendar date of the session (its first device, or its start) in the
clinic's time zone; the due date is that date + 7 calendar days (Friday → next Friday); the form is
on time if submitted at any moment of the due date in the clinic's zone, and overdue from 00:00
local time on the following day (`pmf_due_at`). Dates are counted on the local calendar, never by
adding 7 × 24 hours, so a daylight-saving change in the week moves nothing.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, model_validator

PMF_DUE_DAYS = 7  # clinical.md §1.3, §1.4: "within 7 days", calendar days [REMS-PMF; LUCIDO-DEADLINE]

FieldKind = Literal["text", "date", "datetime", "number", "choice", "bool"]


class RemsFormDataError(ValueError):
    """A rems_forms file that is not a coherent form version."""


class UnknownRemsForm(LookupError):
    pass


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FormSection(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str


class FormField(_Frozen):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    kind: FieldKind
    required: bool
    section: str
    choices: tuple[str, ...] = ()
    unit: str = ""
    help: str = ""
    # Required only when each named field holds the given value (e.g. "other dose" when dose is other).
    required_when: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> FormField:
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError(f"field {self.id}: choices belong to choice fields, and a choice field needs them")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"field {self.id}: repeated choices")
        if self.required and self.required_when:
            raise ValueError(f"field {self.id}: required always or required_when, not both")
        return self


class RemsForm(_Frozen):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    version: str = Field(pattern=r"^[0-9]+$")
    effective_from: datetime.date
    name: str
    source: str
    citation: str
    submission: str
    sections: tuple[FormSection, ...]
    fields: tuple[FormField, ...]

    @model_validator(mode="after")
    def _coherent(self) -> RemsForm:
        section_ids = [s.id for s in self.sections]
        field_ids = [f.id for f in self.fields]
        if len(set(section_ids)) != len(section_ids):
            raise ValueError(f"{self.code}: duplicate section ids")
        if len(set(field_ids)) != len(field_ids):
            raise ValueError(f"{self.code}: duplicate field ids")
        by_id = {f.id: f for f in self.fields}
        for field in self.fields:
            if field.section not in section_ids:
                raise ValueError(f"{self.code}: field {field.id} names unknown section {field.section!r}")
            for other, value in field.required_when.items():
                if other not in by_id or other == field.id:
                    raise ValueError(f"{self.code}: field {field.id} depends on unknown field {other!r}")
                if by_id[other].kind == "choice" and value not in by_id[other].choices:
                    raise ValueError(f"{self.code}: field {field.id} depends on {other}={value!r}, not a choice")
        for section in section_ids:
            if section not in {f.section for f in self.fields}:
                raise ValueError(f"{self.code}: section {section} has no fields")
        return self

    def field(self, field_id: str) -> FormField:
        for field in self.fields:
            if field.id == field_id:
                return field
        raise KeyError(field_id)

    def section_fields(self, section_id: str) -> tuple[FormField, ...]:
        return tuple(f for f in self.fields if f.section == section_id)


def parse_form(text: str) -> RemsForm:
    return RemsForm.model_validate_json(text)


def load_forms(files: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RemsForm]:
    """Parse (file name, JSON text) pairs; refuse a misnamed file or a repeated code and version."""
    found: dict[tuple[str, str], RemsForm] = {}
    for name, text in files:
        form = parse_form(text)
        if name != f"{form.code}-v{form.version}.json":
            raise RemsFormDataError(f"{name} holds {form.code} version {form.version}")
        key = (form.code, form.version)
        if key in found:
            raise RemsFormDataError(f"{form.code} version {form.version} is defined twice")
        found[key] = form
    return found


@functools.cache
def _catalogue() -> dict[tuple[str, str], RemsForm]:
    folder = resources.files("ketacare.sessions").joinpath("rems_forms")
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".json")), key=lambda e: e.name)
    return load_forms((e.name, e.read_text(encoding="utf-8")) for e in entries)


def form_versions(code: str = "pmf") -> list[RemsForm]:
    """Every stored version of one form, oldest first."""
    versions = [f for (c, _), f in _catalogue().items() if c == code]
    if not versions:
        raise UnknownRemsForm(code)
    return sorted(versions, key=lambda f: (f.effective_from, int(f.version)))


def get_form(code: str = "pmf", version: str | None = None, on: datetime.date | None = None) -> RemsForm:
    """One form: the given version, or the newest in effect on `on` (default: today)."""
    if version is not None:
        try:
            return _catalogue()[(code, version)]
        except KeyError:
            raise UnknownRemsForm(f"{code} version {version}") from None
    day = on or timezone.localdate()
    in_effect = [f for f in form_versions(code) if f.effective_from <= day]
    if not in_effect:
        raise UnknownRemsForm(f"{code} has no version in effect on {day.isoformat()}")
    return in_effect[-1]


def _blank(value: Any) -> bool:
    """No answer: None, or text that is only whitespace. False and 0 are answers."""
    return value is None or (isinstance(value, str) and not value.strip())


def is_required(field: FormField, values: Mapping[str, Any]) -> bool:
    """Whether `field` needs an answer given the other answers (`required`, or its `required_when` holds)."""
    if field.required:
        return True
    return bool(field.required_when) and all(values.get(k) == v for k, v in field.required_when.items())


def missing_required(form: RemsForm, values: Mapping[str, Any]) -> list[str]:
    """Ids of required fields (in form order) with no answer in `values`; these gate signature.

    A key that is not a field of this form version is a programming error (ValueError).
    """
    unknown = sorted(set(values) - {f.id for f in form.fields})
    if unknown:
        raise ValueError(f"not fields of {form.code} version {form.version}: {', '.join(unknown)}")
    return [f.id for f in form.fields if is_required(f, values) and _blank(values.get(f.id))]


def _zone(zone: ZoneInfo | str) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def _aware(name: str, value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value


def session_local_date(session: datetime.date | datetime.datetime, zone: ZoneInfo | str) -> datetime.date:
    """The session's calendar date in the clinic's zone (a date is taken as already local)."""
    if isinstance(session, datetime.datetime):
        return _aware("session", session).astimezone(_zone(zone)).date()
    return session


def pmf_due_date(session: datetime.date | datetime.datetime, zone: ZoneInfo | str) -> datetime.date:
    """The last local calendar day the PMF is on time: session's local date + 7 calendar days."""
    return session_local_date(session, zone) + datetime.timedelta(days=PMF_DUE_DAYS)


def pmf_due_at(session: datetime.date | datetime.datetime, zone: ZoneInfo | str) -> datetime.datetime:
    """The aware instant the PMF becomes overdue: 00:00 in the clinic's zone on the day after the due date."""
    tz = _zone(zone)
    day_after = pmf_due_date(session, tz) + datetime.timedelta(days=1)
    midnight = datetime.datetime.combine(day_after, datetime.time(0), tzinfo=tz)
    # Where a zone skips midnight (a DST change at 00:00), the round trip gives the first real instant.
    return midnight.astimezone(datetime.UTC).astimezone(tz)


def is_overdue(due_date: datetime.date, now: datetime.datetime, zone: ZoneInfo | str) -> bool:
    """True once the clinic's local date is past `due_date`."""
    return _aware("now", now).astimezone(_zone(zone)).date() > due_date


def days_left(due_date: datetime.date, now: datetime.datetime, zone: ZoneInfo | str) -> int:
    """Calendar days from the clinic's local today to `due_date` (0: due today; negative: days overdue)."""
    return (due_date - _aware("now", now).astimezone(_zone(zone)).date()).days
