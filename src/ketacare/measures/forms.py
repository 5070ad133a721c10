from __future__ import annotations

import datetime
from typing import Any

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
