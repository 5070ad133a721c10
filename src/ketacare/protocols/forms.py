"""The edit form of a clinic protocol: one field per adaptable value, the must-set values first."""

from __future__ import annotations

from typing import Any

from django import forms

from ketacare.lib.forms import StyledFormMixin
from ketacare.protocols.actions import AdaptableField


def _as_text(field: AdaptableField) -> Any:
    value = field.value
    if value is None:
        return ""
    if field.kind == "int_list":
        return ", ".join(str(v) for v in value)
    if field.kind == "bool":
        return "yes" if value else "no"
    return str(value)


class EditProtocolForm(StyledFormMixin, forms.Form):
    change_note = forms.CharField(
        label="What changed and why",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Who decided and where it is written (policy, minutes). Kept with the version as its source.",
    )

    def __init__(self, adaptable: list[AdaptableField], *args: Any, **kwargs: Any) -> None:
        self.adaptable = adaptable
        kwargs.setdefault("initial", {f.form_name: _as_text(f) for f in adaptable})
        super().__init__(*args, **kwargs)
        note = self.fields.pop("change_note")
        for f in adaptable:
            label = f"{f.label}" + (f" ({f.unit})" if f.unit and f.kind != "bool" else "")
            help_text = f"{f.path}" + (
                " — the clinic must set this before the protocol is used." if f.clinic_set else ""
            )
            field: forms.Field
            if f.kind == "direction":
                field = forms.ChoiceField(
                    choices=[("", "—"), ("down", "Down"), ("up", "Up"), ("nearest", "Nearest")], required=False
                )
            elif f.kind == "bool":
                field = forms.ChoiceField(choices=[("", "—"), ("yes", "Yes"), ("no", "No")], required=False)
            elif f.kind == "decimal":
                field = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "decimal"}))
            elif f.kind == "int":
                field = forms.CharField(required=False, widget=forms.TextInput(attrs={"inputmode": "numeric"}))
            else:
                field = forms.CharField(required=False, help_text="Whole days, separated by commas.")
            field.label = label
            field.help_text = help_text
            self.fields[f.form_name] = field
        self.fields["change_note"] = note
        self._restyle()

    def _restyle(self) -> None:
        for field in self.fields.values():
            widget = field.widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            if css not in widget.attrs.get("class", ""):
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    @property
    def must_set(self) -> list[tuple[AdaptableField, forms.BoundField]]:
        return [(f, self[f.form_name]) for f in self.adaptable if f.clinic_set]

    @property
    def adaptable_rows(self) -> list[tuple[AdaptableField, forms.BoundField]]:
        return [(f, self[f.form_name]) for f in self.adaptable if not f.clinic_set]

    def changes(self) -> dict[str, Any]:
        """Dotted path -> new value, for the values changed from the latest version."""
        found: dict[str, Any] = {}
        for f in self.adaptable:
            new = str(self.cleaned_data.get(f.form_name) or "").strip()
            if new != _as_text(f):
                found[f.path] = new
        return found

    def field_name(self, path: str) -> str | None:
        return next((f.form_name for f in self.adaptable if f.path == path), None)
