"""The prescriber's decision form: one per route card, prefixed by the route.

It only parses; the rules (which override reasons are needed, precautions text, the intake version)
are the action's, whose `ValidationError` names the same fields (`override_<rule_id>`, `precautions`,
`reason`, `evaluation_id`).
"""

from __future__ import annotations

from typing import Any

from django import forms

from ketacare.eligibility.models import Decision, ScreeningEvaluation
from ketacare.lib.forms import StyledFormMixin


class DecisionForm(StyledFormMixin, forms.Form):
    evaluation_id = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        label="Decision",
        choices=Decision.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose eligible, eligible with precautions or not eligible."},
    )
    precautions = forms.CharField(
        label="Precautions to take",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed for “Eligible with precautions”, e.g. blood pressure rechecked before each session.",
    )
    reason = forms.CharField(
        label="Reason for the decision",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Your clinical reasoning. Needed for “Not eligible” when no rule found a concern.",
    )

    def __init__(self, evaluation: ScreeningEvaluation, *args: Any, **kwargs: Any) -> None:
        self.evaluation = evaluation
        super().__init__(*args, **kwargs)
        self.fields["decision"].widget.attrs["class"] = "form-check-input"
        self.fields["evaluation_id"].initial = evaluation.pk
        for r in self.overridable:
            self.fields[f"override_{r['id']}"] = forms.CharField(
                label=f"Reason to override: {r['title']}",
                required=False,
                max_length=2000,
                widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
            )

    @property
    def overridable(self) -> list[dict[str, Any]]:
        """Rules a decision may disagree with: those that fired and those not assessed."""
        return [*self.evaluation.findings, *self.evaluation.unassessed]

    def override_field(self, rule_id: str) -> forms.BoundField | None:
        name = f"override_{rule_id}"
        return self[name] if name in self.fields else None

    def overrides(self) -> dict[str, str]:
        return {
            r["id"]: (self.cleaned_data.get(f"override_{r['id']}") or "").strip()
            for r in self.overridable
            if (self.cleaned_data.get(f"override_{r['id']}") or "").strip()
        }
