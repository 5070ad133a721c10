"""Forms of the monitoring, discharge and signing sections: they parse the POST; the actions validate.

Times are typed as the clinic's local clock time (HH:MM) of today; blank means now.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.sessions.models import DissociationRating, Severity, SideEffectKind


def local_time(clinic: Clinic, value: datetime.time | None) -> datetime.datetime | None:
    """Today's date in the clinic's zone at `value` (None: now, decided by the action)."""
    if value is None:
        return None
    today = timezone.localdate(timezone=clinic.zone)
    return datetime.datetime.combine(today, value, tzinfo=clinic.zone)


class _Timed(forms.Form):
    time_field = "taken_at"

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic

    def when(self) -> datetime.datetime | None:
        return local_time(self.clinic, self.cleaned_data.get(self.time_field))


class VitalsForm(_Timed):
    taken_at = forms.TimeField(required=False, label="Time taken")
    systolic_bp = forms.IntegerField(required=False, label="Systolic BP (mmHg)")
    diastolic_bp = forms.IntegerField(required=False, label="Diastolic BP (mmHg)")
    heart_rate = forms.IntegerField(required=False, label="Heart rate (bpm)")
    spo2 = forms.IntegerField(required=False, label="SpO2 (%)")
    respiratory_rate = forms.IntegerField(required=False, label="Respiratory rate (/min)")
    checkpoint = forms.CharField(required=False, max_length=60)
    note = forms.CharField(required=False, max_length=2000)

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "taken_at": self.when(),
            "systolic_bp": d.get("systolic_bp"),
            "diastolic_bp": d.get("diastolic_bp"),
            "heart_rate": d.get("heart_rate"),
            "spo2": d.get("spo2"),
            "respiratory_rate": d.get("respiratory_rate"),
            "checkpoint": d.get("checkpoint") or "",
            "note": d.get("note") or "",
        }


class AssessmentForm(_Timed):
    taken_at = forms.TimeField(required=False, label="Time")
    moaas = forms.TypedChoiceField(
        required=False, choices=[("", "—")] + [(str(n), str(n)) for n in range(6)], coerce=int, empty_value=None
    )
    dissociation = forms.ChoiceField(required=False, choices=[("", "—"), *DissociationRating.choices])
    cadss_total = forms.IntegerField(required=False, label="CADSS total (0–92)")
    note = forms.CharField(required=False, max_length=2000)

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "taken_at": self.when(),
            "moaas": d.get("moaas"),
            "dissociation": d.get("dissociation") or "",
            "cadss_total": d.get("cadss_total"),
            "note": d.get("note") or "",
        }


class SideEffectForm(_Timed):
    time_field = "onset_at"
    kind = forms.ChoiceField(choices=SideEffectKind.choices, label="Side effect")
    other = forms.CharField(required=False, max_length=200)
    severity = forms.ChoiceField(choices=Severity.choices)
    onset_at = forms.TimeField(required=False, label="Onset")
    action_taken = forms.CharField(required=False, max_length=2000)

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "kind": d["kind"],
            "severity": d["severity"],
            "onset_at": self.when(),
            "action_taken": d.get("action_taken") or "",
            "other": d.get("other") or "",
        }


def first_errors(form: forms.Form) -> ValidationError:
    """The form's errors as a ValidationError keyed by field, with the field's label in the message."""
    errors: dict[str, list[str]] = {}
    for name, messages in form.errors.items():
        label = form.fields[name].label if name in form.fields and form.fields[name].label else name
        errors[name] = [f"{label}: {m}" for m in messages]
    return ValidationError(errors)
