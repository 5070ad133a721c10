"""Forms of the pre-dose checks and dosing sections: they parse what the nurse typed; the actions decide.

Times are typed as a clock time (HH:MM) in the clinic's time zone, today; a time of day later than now
for the last food or liquid means yesterday (e.g. a meal the evening before).
"""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from ketacare.sessions.checks import CONCOMITANT_MEDS, PREGNANCY_ANSWERS
from ketacare.sessions.models import BaselineDecision, CheckStatus


def clock_time(
    value: datetime.time | None, zone: ZoneInfo, *, yesterday_if_later: bool = False
) -> datetime.datetime | None:
    """Today's `value` in `zone` as an aware datetime (yesterday's if later than now and allowed)."""
    if value is None:
        return None
    now = timezone.localtime(timezone=zone)
    when = datetime.datetime.combine(now.date(), value, tzinfo=zone)
    if yesterday_if_later and when > now + datetime.timedelta(minutes=1):
        when -= datetime.timedelta(days=1)
    return when


class _Base(forms.Form):
    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone


MANUAL_STATUS = [(CheckStatus.PASSED.value, "Passed"), (CheckStatus.FAILED.value, "Not met")]


class IdentityForm(_Base):
    name = forms.BooleanField(required=False, label="Full name confirmed")
    date_of_birth = forms.BooleanField(required=False, label="Date of birth confirmed")
    status = forms.ChoiceField(choices=MANUAL_STATUS, initial=CheckStatus.PASSED.value)
    note = forms.CharField(required=False, max_length=1000)

    def value(self) -> dict[str, Any]:
        return {"name": self.cleaned_data["name"], "date_of_birth": self.cleaned_data["date_of_birth"]}


class FastingForm(_Base):
    last_food_at = forms.TimeField(required=False, label="Last food at")
    last_liquid_at = forms.TimeField(required=False, label="Last liquid at")
    status = forms.ChoiceField(choices=MANUAL_STATUS, initial=CheckStatus.PASSED.value)
    note = forms.CharField(required=False, max_length=1000)

    def value(self) -> dict[str, Any]:
        out = {}
        for key in ("last_food_at", "last_liquid_at"):
            when = clock_time(self.cleaned_data.get(key), self.zone, yesterday_if_later=True)
            if when is not None:
                out[key] = when
        return out


class PregnancyForm(_Base):
    answer = forms.ChoiceField(choices=list(PREGNANCY_ANSWERS.items()), label="Pregnancy status")
    note = forms.CharField(required=False, max_length=1000)


class ConcomitantForm(_Base):
    drugs = forms.MultipleChoiceField(
        choices=list(CONCOMITANT_MEDS.items()), required=False, widget=forms.CheckboxSelectMultiple
    )
    note = forms.CharField(required=False, max_length=1000)


class EscortForm(_Base):
    name = forms.CharField(required=False, max_length=200, label="Escort's name")
    phone = forms.CharField(required=False, max_length=40, label="Escort's phone")


class BaselineForm(_Base):
    systolic_bp = forms.IntegerField(required=False, label="Systolic BP (mmHg)")
    diastolic_bp = forms.IntegerField(required=False, label="Diastolic BP (mmHg)")
    heart_rate = forms.IntegerField(required=False, label="Heart rate (bpm)")
    spo2 = forms.IntegerField(required=False, label="SpO2 (%)")
    respiratory_rate = forms.IntegerField(required=False, label="Respiratory rate (/min)")
    taken_at = forms.TimeField(required=False, label="Taken at")
    note = forms.CharField(required=False, max_length=1000)

    def taken(self) -> datetime.datetime | None:
        return clock_time(self.cleaned_data.get("taken_at"), self.zone)


class BaselineDecisionForm(_Base):
    decision = forms.ChoiceField(choices=BaselineDecision.Decision.choices)
    reason = forms.CharField(required=False, max_length=2000)


class DoseForm(_Base):
    lot = forms.IntegerField(label="Lot")
    container = forms.IntegerField(required=False, label="Opened vial")
    quantity_mg = forms.DecimalField(required=False, max_digits=9, decimal_places=3, label="Dose (mg)")
    quantity_ml = forms.DecimalField(required=False, max_digits=9, decimal_places=2, label="Volume (mL)")
    rate_ml_per_hour = forms.DecimalField(required=False, max_digits=9, decimal_places=2, label="Rate (mL/h)")
    device_number = forms.IntegerField(required=False, min_value=1, max_value=3, label="Device")
    started_at = forms.TimeField(required=False, label="Started at")
    deviation_reason = forms.CharField(required=False, max_length=2000, label="Reason for a different dose")
    approver_email = forms.CharField(required=False, max_length=254, label="Approving prescriber's email")
    approver_password = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput)

    def started(self) -> datetime.datetime | None:
        return clock_time(self.cleaned_data.get("started_at"), self.zone)


class StopForm(_Base):
    ended_at = forms.TimeField(required=False, label="Stopped at")

    def ended(self) -> datetime.datetime | None:
        return clock_time(self.cleaned_data.get("ended_at"), self.zone)


class EndDosingForm(StopForm):
    deviation_reason = forms.CharField(required=False, max_length=2000)
    approver_email = forms.CharField(required=False, max_length=254)
    approver_password = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput)


class WasteForm(_Base):
    container = forms.IntegerField(label="Vial")
    quantity_ml = forms.DecimalField(max_digits=9, decimal_places=2, label="Volume wasted (mL)")
    witness_email = forms.CharField(required=False, max_length=254, label="Witness's email")
    witness_password = forms.CharField(required=False, max_length=200, widget=forms.PasswordInput)
