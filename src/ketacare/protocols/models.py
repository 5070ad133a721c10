"""The clinic's copies of library protocols: a `ClinicProtocol` and its numbered versions.

A version holds the full protocol JSON (the library's shape, `definitions.Protocol`) with the clinic's
values. Draft -> published -> retired; once published the clinical content of a version never changes
(`save` refuses, only the status may move on to retired), so a plan built on it keeps its numbers.
An edit is always a new version; publishing a version retires the one published before, for new plans
only (plans keep pointing at the version they were built on).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketacare.clinics.models import Clinic
from ketacare.protocols.definitions import Protocol


class ProtocolImmutableError(RuntimeError):
    """A published or retired protocol version was about to change."""


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class ClinicProtocol(models.Model):
    """One protocol as this clinic uses it, copied from a library protocol version."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=60)
    name = models.CharField(max_length=200)
    route = models.CharField(max_length=30)  # definitions.Route
    based_on_code = models.CharField(max_length=60)
    based_on_version = models.CharField(max_length=10)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["clinic", "code"], name="clinic_protocol_code_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


# Fields of a version that never change once it is published.
_CONTENT_FIELDS = ("clinic_id", "clinic_protocol_id", "version", "data", "change_note", "created_by_id", "created_at")
_ALLOWED_MOVES = {
    (VersionStatus.DRAFT, VersionStatus.DRAFT),
    (VersionStatus.DRAFT, VersionStatus.PUBLISHED),
    (VersionStatus.PUBLISHED, VersionStatus.PUBLISHED),
    (VersionStatus.PUBLISHED, VersionStatus.RETIRED),
    (VersionStatus.RETIRED, VersionStatus.RETIRED),
}


class ClinicProtocolVersion(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    clinic_protocol = models.ForeignKey(ClinicProtocol, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    data = models.JSONField(help_text="The full protocol (library shape) with the clinic's values.")
    status = models.CharField(max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    change_note = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["clinic_protocol_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["clinic_protocol", "version"], name="protocol_version_unique"),
            models.UniqueConstraint(
                fields=["clinic_protocol"],
                condition=models.Q(status="published"),
                name="protocol_one_published_version",
            ),
            models.CheckConstraint(
                condition=models.Q(status="draft") | models.Q(published_at__isnull=False),
                name="protocol_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clinic_protocol.code} v{self.version} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values(*_CONTENT_FIELDS, "status").first()
            if stored is not None and stored["status"] != VersionStatus.DRAFT:
                changed = [f for f in _CONTENT_FIELDS if stored[f] != getattr(self, f)]
                if changed:
                    raise ProtocolImmutableError(
                        f"Protocol version {self.version} is {stored['status']}: its content cannot change "
                        f"({', '.join(changed)}). Edit the protocol to make a new version."
                    )
            if stored is not None and (stored["status"], self.status) not in _ALLOWED_MOVES:
                raise ProtocolImmutableError(f"A {stored['status']} version cannot become {self.status}.")
        self.__dict__.pop("_protocol_cache", None)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ProtocolImmutableError("Protocol versions are never deleted; retire them instead.")

    @property
    def protocol(self) -> Protocol:
        """The version's content, validated (frozen)."""
        cached: Protocol | None = getattr(self, "_protocol_cache", None)
        if cached is None:
            cached = Protocol.model_validate(self.data)
            self._protocol_cache = cached
        return cached

    @property
    def is_locked(self) -> bool:
        return self.status != VersionStatus.DRAFT

    @property
    def status_class(self) -> str:
        """The badge class showing the status (with its word, never colour alone)."""
        return "kc-status-" + {"draft": "inactive", "published": "active", "retired": "discharged"}[self.status]
