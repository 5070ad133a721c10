from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.utils import timezone

from ketacare.lib.forms import StyledFormMixin


class CloseAlertForm(StyledFormMixin, forms.Form):
    action_taken = forms.CharField(
        label="What was done",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Who contacted the patient, what was assessed, the plan (e.g. safety plan, follow-up, referral).",
    )
    action_at = forms.DateTimeField(
        label="When it was done",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action_at"].initial = timezone.localtime().replace(second=0, microsecond=0)

    def clean_action_at(self) -> datetime.datetime:
        value: datetime.datetime = self.cleaned_data["action_at"]
        return value


class ScheduleForm(StyledFormMixin, forms.Form):
    """A recurring or an event-anchored questionnaire schedule; the action checks the combination."""

    kind = forms.ChoiceField(
        label="When",
        choices=[("recurring", "Every few days"), ("anchored", "Around treatment sessions")],
        widget=forms.RadioSelect,
    )
    instruments = forms.MultipleChoiceField(label="Questionnaires", widget=forms.CheckboxSelectMultiple)
    every_days = forms.IntegerField(
        label="Every (days)", required=False, min_value=1, max_value=365, help_text="For example 14."
    )
    starts_on = forms.DateField(
        label="First send on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Sent at 09:00 clinic time.",
    )
    until = forms.DateField(
        label="Last send no later than",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Optional: leave empty to send until stopped.",
    )
    anchor_event = forms.ChoiceField(label="Clinical event", required=False)
    offset_hours = forms.IntegerField(
        label="Hours before a session, or after the event",
        required=False,
        min_value=0,
        max_value=24 * 60,
        help_text="For example 24 (a day), or 168 for 7 days after the last session of a series.",
    )

    def __init__(self, *args: Any, instrument_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        from ketacare.measures.models import AnchorEvent

        kwargs.setdefault("auto_id", "schedule-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["instruments"]).choices = instrument_choices
        cast(forms.ChoiceField, self.fields["anchor_event"]).choices = [("", "—"), *AnchorEvent.choices]
        for name in ("kind", "instruments"):
            self.fields[name].widget.attrs["class"] = "form-check-input"
