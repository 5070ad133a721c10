"""Signed consents: one row per signature of one version of one consent document.

Signed means immutable (../shared/design/patterns.md): what the patient signed (document version and
the hash of its text, typed name and date, when, from which device and address) never changes once
written; the countersignature and the PDF are written once; a withdrawal is recorded once and the
row stays, with its PDF. `Consent.save()` and the queryset refuse any change to those fields, and on
PostgreSQL a trigger (migration 0002) refuses the same at the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from ketacare.clinics.models import Clinic
from ketacare.patients.models import Patient, PatientLink


class ConsentImmutableError(RuntimeError):
    """A change to a signed consent's signed fields, countersignature, PDF or withdrawal was refused."""


class ConsentStatus(models.TextChoices):
    AWAITING_COUNTERSIGN = "awaiting_countersign", "Awaiting countersignature"
    IN_FORCE = "in_force", "In force"
    WITHDRAWN = "withdrawn", "Withdrawn"
    SUPERSEDED = "superseded", "Replaced by a newer version"


ACTIVE_STATUSES = (ConsentStatus.AWAITING_COUNTERSIGN, ConsentStatus.IN_FORCE)


class SignedVia(models.TextChoices):
    LINK = "link", "Secure link"
    TABLET = "tablet", "Clinic tablet"


class WithdrawalChannel(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    TELEPHONE = "telephone", "By telephone"
    IN_WRITING = "in_writing", "In writing (letter or form)"
    EMAIL = "email", "By e-mail or message"


# Written when the patient signs, never changed.
SIGNED_FIELDS = (
    "clinic_id",
    "patient_id",
    "document_code",
    "document_version",
    "document_title",
    "body_sha256",
    "signed_name",
    "signed_on",
    "agreed",
    "signed_at",
    "signer_ip",
    "signer_user_agent",
    "signed_via",
    "link_id",
    "presented_by_id",
    "requires_countersign",
)
# Each group is written once: empty until then, fixed after.
WRITE_ONCE_GROUPS = (
    ("countersigned_at", ("countersigned_by_id", "countersigned_role", "countersigned_at")),
    ("pdf_sha256", ("pdf", "pdf_sha256", "pdf_generated_at")),
    ("withdrawn_at", ("withdrawn_at", "withdrawn_by_id", "withdrawal_reason", "withdrawal_received_via")),
)
_ALLOWED_STATUS_MOVES = {
    ConsentStatus.AWAITING_COUNTERSIGN: {ConsentStatus.IN_FORCE, ConsentStatus.WITHDRAWN, ConsentStatus.SUPERSEDED},
    ConsentStatus.IN_FORCE: {ConsentStatus.WITHDRAWN, ConsentStatus.SUPERSEDED},
    ConsentStatus.WITHDRAWN: set(),
    ConsentStatus.SUPERSEDED: set(),
}


class ConsentQuerySet(models.QuerySet["Consent"]):
    def update(self, **kwargs: Any) -> int:
        frozen = {f for f in kwargs if f in SIGNED_FIELDS or f.removesuffix("_id") + "_id" in SIGNED_FIELDS}
        frozen |= {f for _, group in WRITE_ONCE_GROUPS for f in group if f in kwargs or f"{f}_id" in kwargs}
        if frozen or "status" in kwargs:
            raise ConsentImmutableError(
                f"Bulk update of {', '.join(sorted(frozen | {'status'} & set(kwargs)))} refused."
            )
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ConsentImmutableError("Signed consents are never deleted.")

    def active(self) -> ConsentQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)


class Consent(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+", db_index=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="consents")
    document_code = models.CharField(max_length=60)
    document_version = models.CharField(max_length=10)
    document_title = models.CharField(max_length=200)
    body_sha256 = models.CharField("SHA-256 of the text signed", max_length=64)
    requires_countersign = models.BooleanField(default=False)
    status = models.CharField(max_length=24, choices=ConsentStatus.choices)
    # The patient's signature
    signed_name = models.CharField("Full name (typed)", max_length=300)
    signed_on = models.DateField("Date (typed)")
    agreed = models.BooleanField("I have read and agree")
    signed_at = models.DateTimeField()
    signer_ip = models.CharField("Signed from address", max_length=45, blank=True)
    signer_user_agent = models.CharField("Signed on device", max_length=300, blank=True)
    signed_via = models.CharField(max_length=10, choices=SignedVia.choices)
    link = models.ForeignKey(PatientLink, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    presented_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member of staff who handed over the clinic tablet.",
    )
    # The countersignature, where the document requires one
    countersigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    countersigned_role = models.CharField(max_length=20, blank=True)
    countersigned_at = models.DateTimeField(null=True, blank=True)
    # The signed PDF, made once when fully signed
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_generated_at = models.DateTimeField(null=True, blank=True)
    # Withdrawal
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)
    withdrawal_received_via = models.CharField(max_length=12, choices=WithdrawalChannel.choices, blank=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-signed_at", "-id"]
        indexes = [models.Index(fields=["clinic", "patient", "document_code"], name="consent_patient_code")]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "document_code", "document_version"],
                condition=models.Q(status__in=["awaiting_countersign", "in_force"]),
                name="consent_one_active_per_version",
            ),
            models.CheckConstraint(condition=models.Q(agreed=True), name="consent_agreed"),
        ]

    def __str__(self) -> str:
        return f"{self.document_title} v{self.document_version} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            self._refuse_changes()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ConsentImmutableError("Signed consents are never deleted.")

    @property
    def fully_signed(self) -> bool:
        return not self.requires_countersign or self.countersigned_at is not None

    @property
    def has_pdf(self) -> bool:
        return bool(self.pdf_sha256)

    def _refuse_changes(self) -> None:
        stored = Consent.objects.filter(pk=self.pk).values(
            "status", *SIGNED_FIELDS, *(f for _, group in WRITE_ONCE_GROUPS for f in group)
        )
        old = stored.first()
        if old is None:
            return
        changed = [f for f in SIGNED_FIELDS if getattr(self, f) != old[f]]
        if changed:
            raise ConsentImmutableError(f"A signed consent cannot change: {', '.join(changed)}.")
        for marker, group in WRITE_ONCE_GROUPS:
            if old[marker] in (None, ""):
                continue
            changed = [f for f in group if _value(getattr(self, f)) != _value(old[f])]
            if changed:
                raise ConsentImmutableError(f"Already recorded, cannot change: {', '.join(changed)}.")
        if self.status != old["status"] and self.status not in _ALLOWED_STATUS_MOVES[ConsentStatus(old["status"])]:
            raise ConsentImmutableError(f"A consent cannot go from {old['status']} to {self.status}.")


def _value(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value
