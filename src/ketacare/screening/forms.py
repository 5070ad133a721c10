"""The intake form for the patient page and the staff page: one form class, two audiences.

The patient sees the questions of `intake_data.PATIENT_SECTIONS` in plain language with Yes / No /
Not sure; staff see every fact (clinician-judgement ones too) and the prescriber's judgement of
each trial's dose. Both turn into the same `IntakeData` (`to_data`), so the API, the patient and
staff are refused for the same reasons. Input names carry the fact name (`fact_<name>`), and trials
are a Django formset (prefix `trials`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pydantic
from django import forms
from django.forms import BaseFormSet, formset_factory

from ketacare.lib.forms import StyledFormMixin
from ketacare.screening.facts import FACTS, FACTS_BY_NAME
from ketacare.screening.intake_data import (
    PATIENT_SECTIONS,
    TEXT_FIELDS,
    TEXT_LABELS,
    IntakeData,
    data_errors,
    is_derived_fact,
)
from ketacare.screening.models import Adherence, TrialResponse

PATIENT_CHOICES = [("yes", "Yes"), ("no", "No"), ("unknown", "Not sure")]
STAFF_CHOICES = [("yes", "Yes"), ("no", "No"), ("unknown", "Unknown")]
_TO_VALUE = {"yes": True, "no": False}
_PLAIN_QUESTIONS = {q.fact: q.text for s in PATIENT_SECTIONS for q in s.questions}

# Staff form groups: (title, fact names), covering every fact of the vocabulary once.
STAFF_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Psychiatric history",
        (
            "psychosis_current",
            "mania_current",
            "psychotic_disorder",
            "psychosis_history",
            "bipolar_disorder",
            "mood_stabiliser",
            "suicide_attempt_history",
        ),
    ),
    (
        "Cardiovascular and neurological",
        (
            "hypertension",
            "hypertension_uncontrolled",
            "bp_rise_serious_hazard",
            "ischaemic_heart_disease",
            "arrhythmia_significant",
            "cerebrovascular_disease",
            "cerebrovascular_disease_unstable",
            "aneurysmal_vascular_disease",
            "arteriovenous_malformation",
            "intracerebral_haemorrhage_history",
            "seizures",
            "severe_medical_or_neurological_illness",
            "liver_disease",
            "sleep_apnoea",
            "systolic_bp_mmhg",
            "diastolic_bp_mmhg",
        ),
    ),
    (
        "Medicines and substances",
        (
            "takes_benzodiazepine",
            "lorazepam_equivalent_mg_per_day",
            "takes_sedative_hypnotic",
            "takes_opioid",
            "takes_psychostimulant",
            "takes_maoi",
            "interacting_medication",
            "ketamine_hypersensitivity",
            "spravato_excipient_hypersensitivity",
            "substance_use_disorder_active",
            "intoxication_or_withdrawal",
            "ketamine_or_pcp_misuse_history",
        ),
    ),
    ("Pregnancy", ("pregnant", "breastfeeding")),
)
assert sorted(n for _, names in STAFF_GROUPS for n in names) == sorted(f.name for f in FACTS)  # noqa: S101


def fact_field_name(fact: str) -> str:
    return f"fact_{fact}"


class IntakeForm(StyledFormMixin, forms.Form):
    """Referral, history, facts and measurements (the trials are `TrialFormSet`)."""

    height_cm = forms.DecimalField(
        label="Height (cm)", required=False, max_digits=4, decimal_places=1, min_value=Decimal("30")
    )
    weight_kg = forms.DecimalField(
        label="Weight (kg)", required=False, max_digits=5, decimal_places=1, min_value=Decimal("1")
    )
    systolic_mmhg = forms.IntegerField(label="Blood pressure, top number (systolic, mmHg)", required=False)
    diastolic_mmhg = forms.IntegerField(label="Blood pressure, bottom number (diastolic, mmHg)", required=False)
    measured_on = forms.DateField(
        label="Date these were measured", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, staff: bool, **kwargs: Any) -> None:
        self.staff = staff
        super().__init__(*args, **kwargs)
        for name in reversed(TEXT_FIELDS):
            patient_label, staff_label = TEXT_LABELS[name]
            widget: forms.Widget = (
                forms.TextInput(attrs={"class": "form-control"})
                if name == "referring_clinician"
                else forms.Textarea(attrs={"rows": 3, "class": "form-control"})
            )
            field = forms.CharField(
                label=staff_label if staff else patient_label,
                required=False,
                max_length=200 if name == "referring_clinician" else 10000,
                widget=widget,
            )
            self.fields = {name: field, **self.fields}
        # Blood pressure facts come from the measured values below (Intake.screening_facts).
        facts = [f.name for f in FACTS if not is_derived_fact(f.name)] if staff else list(_PLAIN_QUESTIONS)
        for fact in facts:
            spec = FACTS_BY_NAME[fact]
            label = spec.label if staff else _PLAIN_QUESTIONS[fact]
            if spec.kind == "bool":
                # The patient answers every question ("Not sure" is an answer); staff may leave one unknown.
                self.fields[fact_field_name(fact)] = forms.ChoiceField(
                    label=label,
                    choices=STAFF_CHOICES if staff else PATIENT_CHOICES,
                    required=not staff,
                    error_messages={"required": "Please choose Yes, No or Not sure."},
                    widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                )
            else:
                self.fields[fact_field_name(fact)] = forms.DecimalField(
                    label=f"{label} ({spec.unit})",
                    required=False,
                    max_digits=6,
                    decimal_places=1,
                    min_value=0,
                    widget=forms.NumberInput(attrs={"class": "form-control", "step": "0.1"}),
                )
        if not staff:
            self.fields["height_cm"].help_text = "1 inch = 2.54 cm; 5 ft 6 in is about 168 cm."
            self.fields["weight_kg"].help_text = "1 kg = 2.2 lb; 180 lb is about 81.6 kg."
            self.fields["measured_on"].help_text = "Leave the numbers empty if you do not know them."
        for each in self.fields.values():  # radios keep Bootstrap's check class, not form-control
            if isinstance(each.widget, forms.RadioSelect):
                each.widget.attrs["class"] = "form-check-input"

    def fact_fields(self, names: tuple[str, ...] | list[str]) -> list[forms.BoundField]:
        return [self[fact_field_name(n)] for n in names if fact_field_name(n) in self.fields]

    def values(self) -> dict[str, Any]:
        """Cleaned values in the shape of `IntakeData` (without trials)."""
        data = self.cleaned_data
        out: dict[str, Any] = {name: data.get(name) or "" for name in TEXT_FIELDS}
        for name in ("height_cm", "weight_kg", "systolic_mmhg", "diastolic_mmhg", "measured_on"):
            out[name] = data.get(name)
        facts: dict[str, Any] = {}
        for name in self.fields:
            if not name.startswith("fact_"):
                continue
            fact = name.removeprefix("fact_")
            value = data.get(name)
            if FACTS_BY_NAME[fact].kind == "bool":
                facts[fact] = _TO_VALUE.get(value or "")
            else:
                facts[fact] = float(value) if value is not None else None
        out["facts"] = facts
        return out

    @staticmethod
    def initial_from(data: IntakeData, *, staff: bool = True) -> dict[str, Any]:
        """Initial values; for the patient an unknown fact is left unchosen (nothing preselected)."""
        initial: dict[str, Any] = {name: getattr(data, name) for name in TEXT_FIELDS}
        for name in ("height_cm", "weight_kg", "systolic_mmhg", "diastolic_mmhg", "measured_on"):
            initial[name] = getattr(data, name)
        for spec in FACTS:
            value = data.facts.get(spec.name)
            if spec.kind == "bool":
                unknown = "unknown" if staff else None
                initial[fact_field_name(spec.name)] = {True: "yes", False: "no"}.get(value, unknown)  # type: ignore[arg-type]
            else:
                initial[fact_field_name(spec.name)] = value
        return initial


class TrialForm(StyledFormMixin, forms.Form):
    drug = forms.CharField(label="Medicine name", max_length=120, required=False)
    dose = forms.CharField(label="Highest dose taken (e.g. 20 mg a day)", max_length=60, required=False)
    duration_weeks = forms.DecimalField(
        label="How many weeks taken", required=False, max_digits=5, decimal_places=1, min_value=0
    )
    adherence = forms.ChoiceField(
        label="Taken as prescribed?", required=False, choices=[("", "Not sure"), *Adherence.choices]
    )
    response = forms.ChoiceField(
        label="Did it help?", required=False, choices=[("", "Not sure"), *TrialResponse.choices]
    )
    reason_stopped = forms.CharField(label="Why it was stopped", max_length=200, required=False)

    def __init__(self, *args: Any, staff: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if staff:
            self.fields["dose_adequate"] = forms.ChoiceField(
                label="Dose adequate? (prescriber's judgement)",
                required=False,
                choices=[("", "Not judged"), ("yes", "Adequate"), ("no", "Not adequate")],
                widget=forms.Select(attrs={"class": "form-select"}),
            )
            for name, choices in (("adherence", Adherence.choices), ("response", TrialResponse.choices)):
                choice_field = self.fields[name]
                assert isinstance(choice_field, forms.ChoiceField)  # noqa: S101
                choice_field.choices = [("", "Unknown"), *choices]
            self.fields["drug"].label = "Antidepressant"
            self.fields["dose"].label = "Highest dose"
            self.fields["duration_weeks"].label = "Duration (weeks)"
            self.fields["adherence"].label = "Adherence"
            self.fields["response"].label = "Response"
            self.fields["reason_stopped"].label = "Reason stopped"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        filled = any(data.get(k) not in (None, "") for k in self.fields if k not in ("drug", "DELETE"))
        if filled and not data.get("drug") and not data.get("DELETE"):
            self.add_error("drug", "Give the medicine's name, or clear this row.")
        return data

    def trial(self) -> dict[str, Any] | None:
        data = self.cleaned_data
        if not data or data.get("DELETE") or not data.get("drug"):
            return None
        return {
            "drug": data["drug"],
            "dose": data.get("dose") or "",
            "dose_adequate": _TO_VALUE.get(data.get("dose_adequate") or ""),
            "duration_weeks": data.get("duration_weeks"),
            "adherence": data.get("adherence") or None,
            "response": data.get("response") or None,
            "reason_stopped": data.get("reason_stopped") or "",
        }


BaseTrialFormSet: type[BaseFormSet[TrialForm]] = formset_factory(
    TrialForm, extra=2, can_delete=True, max_num=30, validate_max=True
)


def trial_formset(
    data: Any = None, *, staff: bool, initial: list[dict[str, Any]] | None = None
) -> BaseFormSet[TrialForm]:
    return BaseTrialFormSet(data, prefix="trials", initial=initial, form_kwargs={"staff": staff})


def trial_initial(data: IntakeData) -> list[dict[str, Any]]:
    return [
        {
            **t.model_dump(),
            "dose_adequate": {True: "yes", False: "no"}.get(t.dose_adequate, ""),  # type: ignore[arg-type]
            "adherence": t.adherence or "",
            "response": t.response or "",
        }
        for t in data.trials
    ]


def to_data(form: IntakeForm, formset: BaseFormSet[TrialForm]) -> IntakeData | None:
    """The typed data, or None with the errors put on the form and formset."""
    trials_ok = formset.is_valid()
    if not form.is_valid():
        return None
    values = form.values()
    # With a bad trial row, still check the rest so every error shows at once.
    values["trials"] = [t for f in formset.forms if (t := f.trial()) is not None] if trials_ok else []
    try:
        data = IntakeData.model_validate(values)
    except pydantic.ValidationError as exc:
        put_errors(form, formset, data_errors(exc))
        return None
    return data if trials_ok else None


def put_errors(form: IntakeForm, formset: BaseFormSet[TrialForm], errors: dict[str, list[str]]) -> None:
    """Errors named like `IntakeData` fields onto the matching inputs (unknown names: form-wide)."""
    kept = [f for f in formset.forms if f.is_valid() and f.trial() is not None]
    for name, messages in errors.items():
        parts = name.split(".")
        target: forms.Form = form
        field: str | None = None
        if parts[0] == "trials" and len(parts) >= 3 and parts[1].isdigit() and int(parts[1]) < len(kept):
            target, field = kept[int(parts[1])], parts[2]
        elif parts[0] == "facts" and len(parts) > 1:
            field = fact_field_name(parts[1])
        elif parts[0] in form.fields:
            field = parts[0]
        elif fact_field_name(parts[0]) in form.fields:
            field = fact_field_name(parts[0])
        for message in messages:
            target.add_error(field if field in target.fields else None, message)
