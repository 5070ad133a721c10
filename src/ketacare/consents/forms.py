"""Forms of the consent pages: the patient's signature, withdrawal, countersignature, choosing documents."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from ketacare.consents.definitions import list_documents
from ketacare.consents.models import WithdrawalChannel
from ketacare.lib.forms import StyledFormMixin


class SignForm(StyledFormMixin, forms.Form):
    signed_name = forms.CharField(
        label="Your full name",
        max_length=300,
        help_text="Type your first and last name as they are on your records.",
        widget=forms.TextInput(attrs={"autocomplete": "name", "autocapitalize": "words", "spellcheck": "false"}),
    )
    signed_on = forms.DateField(
        label="Today's date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter today's date, for example 2026-11-24."},
    )
    agreed = forms.BooleanField(
        label="I have read this document and I agree to it",
        required=True,
        error_messages={"required": "Tick the box to confirm you have read the document and agree."},
    )


class WithdrawForm(StyledFormMixin, forms.Form):
    received_via = forms.ChoiceField(label="How the patient told the clinic", choices=WithdrawalChannel.choices)
    reason = forms.CharField(
        label="Reason or what the patient said",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CountersignForm(StyledFormMixin, forms.Form):
    confirm = forms.BooleanField(
        label="I have reviewed this enrolment with the patient and countersign it",
        required=True,
        error_messages={"required": "Tick the box to countersign."},
    )


def document_choices() -> list[tuple[str, str]]:
    return [(d.code, d.title) for d in list_documents()]


class DocumentsForm(forms.Form):
    documents = forms.MultipleChoiceField(
        label="Documents to sign",
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        error_messages={"required": "Choose at least one consent document."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.MultipleChoiceField, self.fields["documents"])
        field.choices = document_choices()
