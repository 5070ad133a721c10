"""Forms of the scheduling settings pages (issue #8): the clinic's rules, appointment types, opening
and staff hours, closures and time off. Each names the field at fault: closes after opens, end after
start, the chair or room at the chosen location, the person a member of the clinic. Choices are
limited to the admin's own clinic, so another clinic's location, chair or person is refused."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone

from ketacare.accounts.models import User
from ketacare.clinics.models import Clinic, Location, Resource
from ketacare.lib.forms import StyledFormMixin
from ketacare.scheduling.models import WEEKDAYS, AppointmentType, ScheduleSettings, Space

MAX_REMINDER_HOURS = 24 * 14


class RulesForm(StyledFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    reminder_hours = forms.CharField(
        label="Reminder times (hours before the visit)",
        required=False,
        help_text="A comma list, e.g. 72, 24. Empty: no reminders (the confirmation is still sent).",
    )

    class Meta:
        model = ScheduleSettings
        fields = [
            "patients_per_nurse",
            "slot_minutes",
            "late_cancel_hours",
            "no_show_after_minutes",
            "reminder_hours",
            "remind_by_email",
            "remind_by_sms",
        ]
        labels = {
            "patients_per_nurse": "Patients per nurse",
            "slot_minutes": "Slot grid (minutes)",
            "late_cancel_hours": "Late cancellation window (hours)",
            "no_show_after_minutes": "No-show after (minutes)",
            "remind_by_email": "Send confirmations and reminders by email",
            "remind_by_sms": "Send confirmations and reminders by text message",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.initial["reminder_hours"] = ", ".join(str(h) for h in self.instance.reminder_hours or [])

    def clean_reminder_hours(self) -> list[int]:
        raw = self.cleaned_data.get("reminder_hours") or ""
        hours: list[int] = []
        for part in raw.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 1 <= int(part) <= MAX_REMINDER_HOURS:
                raise forms.ValidationError(
                    f"“{part}” is not a whole number of hours between 1 and {MAX_REMINDER_HOURS}."
                )
            if int(part) not in hours:
                hours.append(int(part))
        if len(hours) > 5:
            raise forms.ValidationError("At most 5 reminders.")
        return sorted(hours, reverse=True)


class TypeForm(StyledFormMixin, forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = AppointmentType
        fields = [
            "name",
            "duration_minutes",
            "buffer_minutes",
            "space",
            "resources",
            "needs_nurse",
            "clinician_role",
            "needs_prescriber_on_site",
            "is_active",
        ]
        labels = {
            "duration_minutes": "Visit length (minutes)",
            "buffer_minutes": "Recovery or observation buffer (minutes)",
            "space": "Occupies",
            "resources": "Only these chairs or rooms",
            "needs_nurse": "Needs a nurse",
            "clinician_role": "Clinician for the whole visit",
            "needs_prescriber_on_site": "A prescriber must be on site",
            "is_active": "Active (offered when booking)",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        resources: Any = self.fields["resources"]
        resources.queryset = (
            Resource.objects.filter(clinic_id=self.instance.clinic_id, is_active=True)
            .select_related("location")
            .order_by("location__name", "kind", "name")
        )
        resources.widget = forms.CheckboxSelectMultiple()
        resources.widget.choices = resources.choices
        resources.help_text = "None ticked: any chair or room of the kind above, at the visit's location."
        if self.instance.pk and self.instance.is_dosing:
            self.fields["buffer_minutes"].help_text = (
                "A dosing visit holds its protocol's minimum observation (Spravato: 120 minutes, clinical.md "
                "§1.3) whenever the protocol sets one. This value is used only where the protocol leaves it "
                "to the clinic; empty: the protocol's value, else none."
            )
        else:
            self.fields["buffer_minutes"].help_text = "Held after the visit (room turnover). Empty: none."

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        space = str(data.get("space") or Space.CHAIR)
        wrong = [r for r in data.get("resources") or [] if r.kind != space]
        if wrong:
            kind = wrong[0].get_kind_display().lower()
            self.add_error(
                "resources", f"{wrong[0].name} is a {kind}; this type occupies {Space(space).label.lower()}."
            )
        return data


class _ClinicForm(StyledFormMixin, forms.Form):
    def __init__(self, *args: Any, clinic: Clinic, **kwargs: Any) -> None:
        self.clinic = clinic
        super().__init__(*args, **kwargs)

    def _locations(self) -> Any:
        return Location.objects.filter(clinic=self.clinic, is_active=True).order_by("name")

    def _people(self) -> Any:
        return (
            User.objects.filter(memberships__clinic=self.clinic, memberships__is_active=True)
            .distinct()
            .order_by("full_name")
        )

    def _local(self, name: str) -> datetime.datetime | None:
        """A datetime-local field read in the clinic's zone (whatever zone the request runs in)."""
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        naive = timezone.make_naive(value, timezone.get_current_timezone()) if timezone.is_aware(value) else value
        return naive.replace(tzinfo=self.clinic.zone)


class PersonChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name or obj.email)


TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
LOCAL_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class OpeningHoursForm(_ClinicForm):
    location = forms.ModelChoiceField(queryset=Location.objects.none())
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int)
    opens = forms.TimeField(widget=TIME)
    closes = forms.TimeField(widget=TIME)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = self._locations()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        opens, closes = data.get("opens"), data.get("closes")
        if opens and closes and closes <= opens:
            self.add_error("closes", "Closing time must be after opening time.")
        return data


class StaffHoursForm(_ClinicForm):
    user = PersonChoice(queryset=User.objects.none(), label="Person")
    location = forms.ModelChoiceField(queryset=Location.objects.none())
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int)
    starts = forms.TimeField(widget=TIME, label="Starts")
    ends = forms.TimeField(widget=TIME, label="Ends")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = self._people()  # type: ignore[attr-defined]
        self.fields["user"].error_messages["invalid_choice"] = "Choose a member of this clinic's staff."
        self.fields["location"].queryset = self._locations()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts"), data.get("ends")
        if starts and ends and ends <= starts:
            self.add_error("ends", "The end must be after the start.")
        return data


class ClosureForm(_ClinicForm):
    location = forms.ModelChoiceField(
        queryset=Location.objects.none(), required=False, empty_label="The whole clinic (every location)"
    )
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.none(),
        required=False,
        empty_label="— (the whole location)",
        label="Chair or room out of service",
    )
    starts_at = forms.DateTimeField(widget=LOCAL, input_formats=LOCAL_FORMATS, label="Closed from")
    ends_at = forms.DateTimeField(widget=LOCAL, input_formats=LOCAL_FORMATS, label="Open again at")
    reason = forms.CharField(max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = self._locations()  # type: ignore[attr-defined]
        self.fields["resource"].queryset = (  # type: ignore[attr-defined]
            Resource.objects.filter(clinic=self.clinic, is_active=True)
            .select_related("location")
            .order_by("location__name", "kind", "name")
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        location, resource = data.get("location"), data.get("resource")
        if resource is not None:
            if location is None:
                data["location"] = resource.location
            elif resource.location_id != location.pk:
                self.add_error("resource", f"{resource.name} is not at {location.name}: choose one at that location.")
        starts, ends = self._local("starts_at"), self._local("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "The end must be after the start.")
        data["starts_at"], data["ends_at"] = starts, ends
        return data


class TimeOffForm(_ClinicForm):
    user = PersonChoice(queryset=User.objects.none(), label="Person")
    starts_at = forms.DateTimeField(widget=LOCAL, input_formats=LOCAL_FORMATS, label="Away from")
    ends_at = forms.DateTimeField(widget=LOCAL, input_formats=LOCAL_FORMATS, label="Back at")
    reason = forms.CharField(max_length=200, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = self._people()  # type: ignore[attr-defined]
        self.fields["user"].error_messages["invalid_choice"] = "Choose a member of this clinic's staff."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = self._local("starts_at"), self._local("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", "The end must be after the start.")
        data["starts_at"], data["ends_at"] = starts, ends
        return data
