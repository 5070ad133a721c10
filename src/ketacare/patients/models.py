"""Patients: identity, demographics, contacts and care team. The chart hangs off this row."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.lib.text import fold
from ketacare.lib.text import phone_key as phone_search_key


class SexAtBirth(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    INTERSEX = "intersex", "Intersex"
    UNKNOWN = "unknown", "Unknown / not recorded"


class PatientStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    DISCHARGED = "discharged", "Discharged"


class Patient(models.Model):
    # No index of its own: every index below starts with clinic_id and serves it.
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients", db_index=False)
    mrn = models.CharField("MRN", max_length=30, help_text="Medical record number, unique in the clinic.")
    legal_first_name = models.CharField(max_length=100)
    legal_middle_name = models.CharField(max_length=100, blank=True)
    legal_last_name = models.CharField(max_length=100)
    preferred_name = models.CharField(max_length=100, blank=True)
    date_of_birth = models.DateField()
    sex_at_birth = models.CharField("Sex assigned at birth", max_length=10, choices=SexAtBirth.choices)
    gender_identity = models.CharField(max_length=100, blank=True)
    pronouns = models.CharField(max_length=40, blank=True)
    phone_mobile = models.CharField("Mobile phone", max_length=40, blank=True)
    phone_home = models.CharField("Home phone", max_length=40, blank=True)
    email = models.EmailField(blank=True)
    address_line1 = models.CharField("Address", max_length=200, blank=True)
    address_line2 = models.CharField("Address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField("State / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    primary_clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=PatientStatus.choices, default=PatientStatus.ACTIVE)
    # Search keys, kept by save(): folded names and phone digits. Indexed per clinic in Meta.
    last_name_key = models.CharField(max_length=100, editable=False)
    first_name_key = models.CharField(max_length=100, editable=False)
    preferred_name_key = models.CharField(max_length=100, editable=False, blank=True)
    phone_key = models.CharField(max_length=40, editable=False, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name_key", "first_name_key", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_per_clinic"),
        ]
        indexes = [
            models.Index(fields=["clinic", "last_name_key", "first_name_key", "id"], name="patient_list_order"),
            models.Index(fields=["clinic", "date_of_birth"], name="patient_dob"),
            # Prefix search (`LIKE 'smi%'`) within one clinic. A plain b-tree serves LIKE only under
            # the "C" collation; the *_pattern_ops operator classes make it serve LIKE under any
            # database collation (en_US.UTF-8, ICU). SQLite ignores operator classes and gets
            # plain (clinic_id, key) indexes. See bench/patients.py for the figures.
            *(
                models.Index(fields=["clinic", key], opclasses=["int8_ops", "varchar_pattern_ops"], name=name)
                for key, name in (
                    ("last_name_key", "patient_last_name_prefix"),
                    ("first_name_key", "patient_first_name_prefix"),
                    ("preferred_name_key", "patient_preferred_name_prefix"),
                    ("phone_key", "patient_phone_prefix"),
                    ("mrn", "patient_mrn_prefix"),
                )
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.mrn})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_search_keys()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {
                *update_fields,
                "last_name_key",
                "first_name_key",
                "preferred_name_key",
                "phone_key",
                "updated_at",
            }
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("patients-chart", args=[self.pk])

    def refresh_search_keys(self) -> None:
        self.last_name_key = fold(self.legal_last_name)
        self.first_name_key = fold(self.legal_first_name)
        self.preferred_name_key = fold(self.preferred_name)
        self.phone_key = phone_search_key(self.phone_mobile or self.phone_home)

    @property
    def age(self) -> int:
        """Age in whole years today, in the clinic's time zone."""
        today = timezone.localdate(timezone=self.clinic.zone)
        born = self.date_of_birth
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def legal_name(self) -> str:
        parts = [self.legal_first_name, self.legal_middle_name, self.legal_last_name]
        return " ".join(p for p in parts if p)

    @property
    def display_name(self) -> str:
        """Last, First ("Preferred"): how staff read a name on a list."""
        name = f"{self.legal_last_name}, {self.legal_first_name}"
        if self.preferred_name and self.preferred_name != self.legal_first_name:
            name += f" “{self.preferred_name}”"
        return name


class ContactRole(models.TextChoices):
    EMERGENCY = "emergency", "Emergency contact"
    ESCORT = "escort", "Escort / driver"
    OTHER = "other", "Other"


class PatientContact(models.Model):
    """An emergency contact, or a person who escorts or drives the patient home after treatment."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=12, choices=ContactRole.choices)
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40)
    email = models.EmailField(blank=True)
    notes = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["role", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"
