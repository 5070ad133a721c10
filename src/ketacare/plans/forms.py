"""Forms of the plan pages: the plan (protocol, first date, interval, chosen dose), a weight, signing, cancelling."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms

from ketacare.lib.forms import StyledFormMixin
from ketacare.protocols.models import ClinicProtocolVersion


class PlanForm(StyledFormMixin, forms.Form):
    protocol_version = forms.TypedChoiceField(
        label="Protocol", coerce=int, widget=forms.RadioSelect, help_text="The clinic's published protocols."
    )
    first_session_on = forms.DateField(label="First session", widget=forms.DateInput(attrs={"type": "date"}))
    interval_days = forms.IntegerField(
        label="Days between sessions",
        required=False,
        min_value=1,
        max_value=60,
        help_text="Leave empty to follow the protocol's weekly frequency.",
    )
    selected_mg = forms.TypedChoiceField(
        label="Dose for the later sessions (fixed-dose protocols)",
        required=False,
        coerce=Decimal,
        empty_value=None,
        help_text="Spravato: 56 or 84 mg; session 1 takes the protocol's first dose.",
    )
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, versions: list[ClinicProtocolVersion], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["protocol_version"]
        assert isinstance(field, forms.ChoiceField)  # noqa: S101
        field.choices = [(v.pk, f"{v.clinic_protocol.name} (version {v.version})") for v in versions]
        field.widget.attrs["class"] = "form-check-input"
        choices = sorted({c for v in versions for c in v.protocol.dose.choices_mg})
        selected = self.fields["selected_mg"]
        assert isinstance(selected, forms.ChoiceField)  # noqa: S101
        selected.choices = [("", "—")] + [(str(c), f"{c} mg") for c in choices]


class WeightForm(StyledFormMixin, forms.Form):
    weight_kg = forms.DecimalField(
        label="Weight (kg)", min_value=Decimal("20"), max_value=Decimal("400"), decimal_places=1, max_digits=4
    )
    measured_on = forms.DateField(label="Measured on", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, today: datetime.date, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"measured_on": today})
        super().__init__(*args, **kwargs)
        self.fields["weight_kg"].widget.attrs["inputmode"] = "decimal"


class SignForm(StyledFormMixin, forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Re-enter your own password to sign.",
    )


class CancelForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))
