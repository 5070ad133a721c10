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


class MeasurementSource(models.TextChoices):
    INTAKE = "intake", "Intake (patient-reported)"
    STAFF = "staff", "Measured in clinic"
    SESSION = "session", "Treatment session"


class BodyMeasurement(models.Model):
    """Height, weight and blood pressure with the date they were taken. Append-only: a new
    measurement is a new row, so a plan can show exactly which weight its dose came from.
    `latest_weight(patient)` in `patients.measurements` is the one place that picks the weight."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="measurements")
    measured_on = models.DateField(help_text="The date the values were taken (not the date typed in).")
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    systolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    diastolic_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=MeasurementSource.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the patient entered it through a link.",
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-measured_on", "-recorded_at", "-id"]
        indexes = [models.Index(fields=["patient", "measured_on"], name="measurement_patient_date")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weight_kg__isnull=True) | models.Q(weight_kg__gt=0),
                name="measurement_weight_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"Measurement {self.pk} on {self.measured_on}"


class LinkPurpose(models.TextChoices):
    INTAKE = "intake", "Intake packet"
    CONSENT = "consent", "Consent to sign"


class PatientLink(models.Model):
    """A secure link a patient opens without an account (intake packet, consent), checked by date of
    birth. Only the SHA-256 of the token is stored; the token is derived from `token_salt` with
    SECRET_KEY. Mechanics in `patients.links`; the pages belong to the domain named by `purpose`."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="links")
    purpose = models.CharField(max_length=10, choices=LinkPurpose.choices)
    subject_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The row the link is for in its domain (intake id, consent request id)."
    )
    payload = models.JSONField(default=dict, blank=True)
    token_salt = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    failed_dob_attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "purpose", "created_at"], name="patientlink_patient")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link {self.pk}"
