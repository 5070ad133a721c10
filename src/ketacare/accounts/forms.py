from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from ketacare.lib.forms import StyledFormMixin


class EmailAuthenticationForm(StyledFormMixin, AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "username"})
    )

    error_messages = {
        "invalid_login": "That email and password do not match an active account.",
        "inactive": "This account is inactive.",
    }

    def clean_username(self) -> str:
        # Addresses are stored in lower case; tablets capitalise the first letter.
        return str(self.cleaned_data["username"]).strip().lower()


class OTPCodeForm(StyledFormMixin, forms.Form):
    code = forms.CharField(
        label="6-digit code from your authenticator app",
        min_length=6,
        max_length=6,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}", "autofocus": True}
        ),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise forms.ValidationError("Enter the 6 digits shown in your authenticator app.")
        return str(code)


class ApiTokenForm(StyledFormMixin, forms.Form):
    name = forms.CharField(label="Token name", max_length=100, help_text="What will use it, e.g. “lab results import”.")
