"""Patient input, shared by the HTML pages and the JSON API (one validation path)."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from ketacare.accounts.models import User
from ketacare.accounts.roles import CLINICIAN_ROLES
from ketacare.clinics.models import Clinic
from ketacare.lib.forms import StyledFormMixin
from ketacare.patients.models import ContactRole, Patient, PatientContact, PatientStatus, SexAtBirth


def clinicians_of(clinic: Clinic) -> Any:
    return (
        User.objects.filter(
            memberships__clinic=clinic,
            memberships__is_active=True,
            memberships__role__in=list(CLINICIAN_ROLES),
            is_active=True,
        )
        .distinct()
        .order_by("full_name")
    )


class PatientForm(StyledFormMixin, forms.ModelForm[Patient]):
    # Only meaningful on create: shown after a possible duplicate was found.
    confirm_not_duplicate = forms.BooleanField(
        required=False,
        label="I checked: this is a different person with the same name and date of birth",
    )

    class Meta:
        model = Patient
        fields = [
            "legal_first_name",
            "legal_middle_name",
            "legal_last_name",
            "preferred_name",
            "date_of_birth",
            "sex_at_birth",
            "gender_identity",
            "pronouns",
            "mrn",
            "phone_mobile",
            "phone_home",
            "email",
            "address_line1",
            "address_line2",
            "city",
            "state",
            "postal_code",
            "primary_clinician",
            "status",
        ]
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "phone_mobile": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            "phone_home": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
        }
        help_texts = {"mrn": "Leave blank to assign the next clinic number."}

    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        self.fields["primary_clinician"].queryset = clinicians_of(clinic)  # type: ignore[attr-defined]
        self.fields["mrn"].required = self.instance.pk is not None
        if self.instance.pk is not None:
            self.fields["mrn"].help_text = "The clinic’s number for this patient; it must stay unique."
        self.fields["sex_at_birth"].choices = [("", "Choose…"), *SexAtBirth.choices]  # type: ignore[attr-defined]
        self.fields["primary_clinician"].empty_label = "Not assigned"  # type: ignore[attr-defined]
        self.fields["status"].initial = PatientStatus.ACTIVE
        self.fields["status"].required = False
        if self.instance.pk is not None:
            del self.fields["confirm_not_duplicate"]
        for field in self.fields.values():
            field.widget.attrs.setdefault("autocomplete", "off")

    def clean_mrn(self) -> str:
        return str(self.cleaned_data.get("mrn") or "").strip().upper()

    def clean_status(self) -> str:
        return str(self.cleaned_data.get("status") or PatientStatus.ACTIVE)

    def clean_date_of_birth(self) -> datetime.date:
        dob: datetime.date = self.cleaned_data["date_of_birth"]
        today = timezone.localdate(timezone=self.clinic.zone)
        if dob > today:
            raise forms.ValidationError("The date of birth cannot be in the future.")
        if dob.year < today.year - 120:
            raise forms.ValidationError("Check the year: that would make the patient over 120.")
        return dob

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("phone_mobile") and not cleaned.get("phone_home") and not cleaned.get("email"):
            self.add_error("phone_mobile", "Give at least one way to reach the patient: a phone or an email.")
        return cleaned

    def _post_clean(self) -> None:
        # Uniqueness of the MRN is checked by the action (in its transaction), not here, so the
        # model's validate_unique must not run against an instance with no clinic yet.
        pass

    def patient_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.cleaned_data}


class ContactForm(StyledFormMixin, forms.ModelForm[PatientContact]):
    class Meta:
        model = PatientContact
        fields = ["role", "name", "relationship", "phone", "email", "notes"]
        widgets = {"phone": forms.TextInput(attrs={"type": "tel"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].initial = ContactRole.ESCORT

    def _post_clean(self) -> None:
        pass


ContactFormSet = forms.modelformset_factory(
    PatientContact, form=ContactForm, extra=1, can_delete=True, max_num=10, validate_max=True
)


def contacts_from_formset(formset: Any) -> list[dict[str, Any]]:
    """The contacts a valid formset describes, as plain dicts for the action (id kept for edits)."""
    contacts: list[dict[str, Any]] = []
    for form in formset.forms:
        if not form.has_changed() and form.instance.pk is None:
            continue
        if form.cleaned_data.get("DELETE"):
            continue
        values = {k: v for k, v in form.cleaned_data.items() if k in ContactForm.Meta.fields}
        if not values.get("name"):
            continue
        values["id"] = form.instance.pk
        contacts.append(values)
    return contacts
