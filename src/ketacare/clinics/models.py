"""The tenant (Clinic), its locations and its bookable resources (rooms and treatment chairs)."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. America/Chicago).")


class Clinic(models.Model):
    """A clinic is the tenant: every clinical row carries its id and every query is scoped by it."""

    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="America/New_York", validators=[validate_time_zone])
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    phone = models.CharField(max_length=40, blank=True)
    # Settings: explicit columns, so each is typed, validated and documented.
    require_mfa = models.BooleanField(default=True, help_text="Staff must use a TOTP authenticator app to sign in.")
    mrn_prefix = models.CharField(max_length=10, default="KC", help_text="Prefix of generated MRNs.")
    # Safety alerts (measures): how fast an alert must be acknowledged before it escalates, the
    # MADRS item 10 value that raises one, and what a patient is shown at once.
    alert_ack_minutes = models.PositiveSmallIntegerField(
        default=60, help_text="Minutes to acknowledge a safety alert before it escalates (issue #4 default: 60)."
    )
    madrs_item10_alert_at = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=(
            "MADRS item 10 (suicidal thoughts, 0-6) at or above this raises a safety alert. No validated "
            "threshold exists (clinical.md section 7; the only numeric use found is a ketamine trial that "
            "excluded item 10 > 4, NCT00088699). Empty: any non-zero rating raises one."
        ),
    )
    crisis_resources = models.TextField(
        default=(
            "If you might act on thoughts of harming yourself, call 911 or go to the nearest emergency room now.\n"
            "Call or text 988 to reach the 988 Suicide & Crisis Lifeline (US), any time, day or night.\n"
            "Your care team has been told and will contact you."
        ),
        help_text="Shown to a patient at once when an answer raises a safety alert (988 in the US).",
    )
    next_mrn_number = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Location(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="locations")
    name = models.CharField(max_length=200)
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    dea_registration = models.CharField(
        "DEA registration number",
        max_length=9,
        blank=True,
        help_text="The location's DEA number: controlled-substance records are kept per registered location.",
    )
    # Spravato REMS: an outpatient setting must be certified before it may administer (clinical.md §1.3
    # [REMS-FDA, REMS-OUT]). The pre-dose checks and the Patient Monitoring Form read these.
    spravato_rems_setting_id = models.CharField(
        "Spravato REMS setting ID", max_length=40, blank=True, help_text="As issued on certification."
    )
    spravato_rems_certified_on = models.DateField(
        "Spravato REMS certified on", null=True, blank=True, help_text="Empty: not certified; Spravato is refused."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["clinic", "name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "name"], name="location_name_unique_per_clinic")]

    def __str__(self) -> str:
        return self.name


class Resource(models.Model):
    """Something a booking occupies: a treatment chair or a room."""

    class Kind(models.TextChoices):
        CHAIR = "chair", "Treatment chair"
        ROOM = "room", "Room"

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="resources")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="resources")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["location", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["location", "name"], name="resource_name_unique_per_location")]

    def __str__(self) -> str:
        return f"{self.name} ({self.location.name})"

    def clean(self) -> None:
        if self.location_id and self.clinic_id and self.location.clinic_id != self.clinic_id:
            raise ValidationError({"location": "The location belongs to another clinic."})
