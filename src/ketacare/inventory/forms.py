"""Forms of the ledger pages. They check shapes only; the actions check the rules (balances,
expiry, concentration, witnesses) and their field errors are put back on these fields."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms

from ketacare.clinics.models import Location
from ketacare.inventory.models import Container, Lot, Product
from ketacare.lib.forms import StyledFormMixin

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _decimal(label: str, help_text: str = "") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=Decimal("0.01"),
        max_digits=10,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )


class ReceiveForm(StyledFormMixin, forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), empty_label="Choose a product")
    lot_number = forms.CharField(max_length=40, help_text="As printed on the package.")
    expiry_date = forms.DateField(widget=DATE, help_text="The last day of use on the label.")
    packages = forms.IntegerField(
        label="Packages received", min_value=1, max_value=10_000, help_text="Boxes or kits, as on the invoice."
    )
    received_on = forms.DateField(label="Date received", widget=DATE)
    supplier_name = forms.CharField(max_length=200)
    supplier_address = forms.CharField(max_length=300)
    supplier_dea = forms.CharField(label="Supplier DEA number", max_length=9, help_text="2 letters and 7 digits.")
    invoice_number = forms.CharField(max_length=60)

    def __init__(self, *args: Any, location: Location, today: datetime.date, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"received_on": today})
        super().__init__(*args, **kwargs)
        field: Any = self.fields["product"]
        field.queryset = Product.objects.filter(locations=location, is_active=True).order_by("substance", "name")
        field.label_from_instance = lambda p: f"{p.name}, {p.strength_label} · NDC {p.ndc}"


def lot_choice_label(lot: Lot) -> str:
    product = lot.product
    unit = product.unit_label
    return (
        f"New {unit} from lot {lot.lot_number}: {product.name}, {product.strength_label} · "
        f"{lot.sealed_units} sealed · expires {lot.expiry_date:%Y-%m-%d}"
    )


def vial_choice_label(vial: Container) -> str:
    product = vial.lot.product
    return (
        f"Opened vial {vial.number} of lot {vial.lot.lot_number}: {product.name}, "
        f"{product.strength_mg.normalize():f} mg/mL · {vial.remaining_ml} mL left"
    )


class AdministerForm(StyledFormMixin, forms.Form):
    mrn = forms.CharField(label="Patient MRN", max_length=40, help_text="From the patient's chart or wristband.")
    source = forms.ChoiceField(label="Draw from")
    quantity_mg = _decimal("Dose (mg)")
    quantity_ml = _decimal("Volume (mL)", "mg must equal mL × the concentration; the record refuses a mismatch.")
    session_ref = forms.CharField(label="Session reference", max_length=64, required=False)

    def __init__(self, *args: Any, lots: list[Lot], vials: list[Container], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", "Choose an opened vial or a lot")]
        choices += [(f"vial:{v.pk}", vial_choice_label(v)) for v in vials]
        choices += [(f"lot:{lot.pk}", lot_choice_label(lot)) for lot in lots if lot.sealed_units > 0]
        field: Any = self.fields["source"]
        field.choices = choices


class WasteForm(StyledFormMixin, forms.Form):
    quantity_ml = _decimal("Volume wasted (mL)")
    quantity_mg = _decimal("Amount wasted (mg)")
    witness_email = forms.EmailField(
        label="Witness's sign-in email", help_text="A nurse, prescriber or inventory manager other than you."
    )
    witness_password = forms.CharField(
        label="Witness's password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="The witness types their own password.",
    )
    reason = forms.CharField(label="Note", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class CorrectForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label="Why this entry is wrong",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The entry stays in the record; a correction reverses it. Then record the right entry.",
    )


class TransferForm(StyledFormMixin, forms.Form):
    to_location = forms.ModelChoiceField(queryset=Location.objects.none(), empty_label="Choose a location")
    units = forms.IntegerField(label="Sealed containers", min_value=1, max_value=100_000)
    reason = forms.CharField(label="Note", required=False, max_length=500)

    def __init__(self, *args: Any, locations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["to_location"]
        field.queryset = locations
        field.label_from_instance = lambda loc: f"{loc.name} · DEA {loc.dea_registration}"


class DisposeForm(StyledFormMixin, forms.Form):
    method = forms.ChoiceField(
        choices=[
            ("reverse_distributor", "Return to a reverse distributor (one witness)"),
            ("destruction", "Destroy on site, DEA Form 41 (two witnesses)"),
        ],
        widget=forms.RadioSelect,
    )
    source = forms.ChoiceField(label="What")
    units = forms.IntegerField(label="Sealed containers", min_value=1, required=False)
    counterparty_name = forms.CharField(label="Reverse distributor", max_length=200, required=False)
    counterparty_address = forms.CharField(label="Its address", max_length=300, required=False)
    counterparty_dea = forms.CharField(label="Its DEA number", max_length=9, required=False)
    document_number = forms.CharField(label="Form 41 or return number", max_length=60, required=False)
    reason = forms.CharField(label="Reason", required=False, max_length=500, help_text="e.g. expired, damaged.")
    witness_email = forms.EmailField(label="Witness's sign-in email")
    witness_password = forms.CharField(
        label="Witness's password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"})
    )
    second_witness_email = forms.EmailField(label="Second witness's sign-in email", required=False)
    second_witness_password = forms.CharField(
        label="Second witness's password",
        strip=False,
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, lot: Lot, vials: list[Container], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        unit = lot.product.unit_label
        choices = [("sealed", f"Sealed {unit}s ({lot.sealed_units} in the lot)")]
        choices += [(f"vial:{v.pk}", f"The rest of opened vial {v.number} ({v.remaining_ml} mL)") for v in vials]
        field: Any = self.fields["source"]
        field.choices = choices
