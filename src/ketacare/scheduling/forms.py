"""Forms of the booking pages (issue #8): what to look for, which proposal was chosen, cancel, escort.

The forms only parse; `scheduling.booking` decides (and names the field when it refuses). Every
choice list is scoped to the actor's clinic, so another clinic's id is simply "not one of the choices".
Field names match the keys of booking's ValidationErrors, so an action's refusal lands on its field.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.models import User
from ketacare.accounts.roles import Role
from ketacare.clinics.models import Location, Resource
from ketacare.lib.forms import StyledFormMixin
from ketacare.patients.models import Patient
from ketacare.plans.models import PlanStatus, TreatmentPlan
from ketacare.scheduling.booking import open_orders as booking_orders
from ketacare.scheduling.models import AppointmentType
from ketacare.sessions.models import TreatmentSession


def staff_of(actor: Actor, roles: tuple[str, ...]) -> QuerySet[User]:
    return (
        User.objects.filter(memberships__clinic=actor.clinic, memberships__role__in=roles, memberships__is_active=True)
        .distinct()
        .order_by("full_name", "id")
    )


class StaffChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name or obj.email)


class ResourceChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.location.name})"


class PlanChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        name = (obj.protocol_snapshot or {}).get("name", "")
        signed = f", signed {obj.signed_at:%d %b %Y}" if obj.signed_at else ""
        return f"{obj.get_route_display()} · {name} (v{obj.plan_version}{signed})"


def _parse_start(text: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise forms.ValidationError("Choose one of the proposed times.", code="invalid") from None
    if value.tzinfo is None:
        raise forms.ValidationError("Choose one of the proposed times.", code="invalid")
    return value


def _parse_id(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def parse_choice(value: str) -> dict[str, Any]:
    """A proposal button's value, "ISO start|chair|nurse|clinician" (ids may be empty)."""
    parts = [*value.split("|"), "", "", ""][:4]
    return {
        "starts_at": _parse_start(parts[0]),
        "chair": _parse_id(parts[1]),
        "nurse": _parse_id(parts[2]),
        "clinician": _parse_id(parts[3]),
    }


class OrderChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        ordered = timezone.localtime(obj.created_at, obj.clinic.zone)
        return f"{obj.get_route_display()} · {obj.planned_dose_mg.normalize()} mg, ordered {ordered:%d %b}"


class VisitSearchForm(StyledFormMixin, forms.Form):
    """The book page's "show free times" form (GET): type, location, from, plan and pinned places."""

    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.none(), label="Appointment type", empty_label="Choose…"
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), label="Location", empty_label=None)
    after = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    plan = PlanChoiceField(
        queryset=TreatmentPlan.objects.none(),
        required=False,
        label="Signed plan",
        empty_label="No plan",
        help_text="For a dosing visit: the plan it follows.",
    )
    order = OrderChoiceField(
        queryset=TreatmentSession.objects.none(),
        required=False,
        label="Or a prescriber's order",
        empty_label="No order",
        help_text="A one-off session a prescriber ordered, not yet on the schedule.",
    )
    chair = ResourceChoiceField(
        queryset=Resource.objects.none(), required=False, label="Chair or room", empty_label="Any"
    )
    nurse = StaffChoiceField(queryset=User.objects.none(), required=False, label="Nurse", empty_label="Any")
    clinician = StaffChoiceField(queryset=User.objects.none(), required=False, label="Clinician", empty_label="Any")

    def __init__(self, actor: Actor, patient: Patient, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clinic = actor.clinic
        fields: dict[str, Any] = self.fields
        fields["appointment_type"].queryset = AppointmentType.objects.filter(clinic=clinic, is_active=True)
        fields["location"].queryset = Location.objects.filter(clinic=clinic, is_active=True).order_by("name")
        fields["plan"].queryset = TreatmentPlan.objects.filter(
            clinic=clinic, patient=patient, status=PlanStatus.SIGNED
        ).order_by("-signed_at", "-id")
        fields["order"].queryset = booking_orders(patient)
        fields["chair"].queryset = (
            Resource.objects.filter(clinic=clinic, is_active=True, location__is_active=True)
            .select_related("location")
            .order_by("location__name", "kind", "name")
        )
        fields["nurse"].queryset = staff_of(actor, (Role.NURSE,))
        fields["clinician"].queryset = staff_of(actor, (Role.PRESCRIBER, Role.THERAPIST))


class BookVisitForm(VisitSearchForm):
    """The chosen proposal: `starts_at` is "ISO start|chair|nurse|clinician" (what the button showed)."""

    starts_at = forms.CharField(widget=forms.HiddenInput)

    def clean_starts_at(self) -> dict[str, Any]:
        return parse_choice(str(self.cleaned_data.get("starts_at") or ""))


class SeriesSearchForm(StyledFormMixin, forms.Form):
    """The series page's "show free series" form (GET)."""

    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.none(), label="Dosing visit type", empty_label=None
    )
    location = forms.ModelChoiceField(queryset=Location.objects.none(), label="Location", empty_label=None)
    after = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, actor: Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["appointment_type"].queryset = AppointmentType.objects.filter(
            clinic=actor.clinic, is_active=True, category__in=["iv_infusion", "im", "spravato", "oral"]
        )
        fields["location"].queryset = Location.objects.filter(clinic=actor.clinic, is_active=True).order_by("name")


class BookSeriesForm(SeriesSearchForm):
    """The chosen series: `starts` is the visits' ISO starts joined by commas."""

    starts = forms.CharField(
        widget=forms.HiddenInput, error_messages={"required": "Choose one of the proposed series."}
    )

    def clean_starts(self) -> list[tuple[datetime.datetime, int | None]]:
        """`start@chair` per visit (the chair may be empty); a bare start is accepted too."""
        text = str(self.cleaned_data.get("starts") or "")
        visits = []
        for part in text.split(","):
            if not part.strip():
                continue
            start, _, chair = part.strip().partition("@")
            if chair and not chair.isdigit():
                raise forms.ValidationError("Choose one of the proposed series.")
            visits.append((_parse_start(start), int(chair) if chair else None))
        return visits


class CancelForm(StyledFormMixin, forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        error_messages={"required": "Say why the visit is cancelled."},
    )
    by_patient = forms.BooleanField(label="The patient asked to cancel", required=False)


class EscortForm(StyledFormMixin, forms.Form):
    escort_name = forms.CharField(label="Escort or driver", max_length=200, required=False)
    escort_phone = forms.CharField(label="Their phone", max_length=40, required=False)
    whole_series = forms.BooleanField(required=False, label="The same escort for the other visits of this series")


class RescheduleForm(StyledFormMixin, forms.Form):
    starts_at = forms.CharField(widget=forms.HiddenInput, error_messages={"required": "Choose a new time."})

    def clean_starts_at(self) -> dict[str, Any]:
        return parse_choice(str(self.cleaned_data.get("starts_at") or ""))
