"""Schedule III catalogue and the append-only controlled-substance ledger (issue #6, clinical.md section 5).

Three kinds of rows:

- **Catalogue**: `Product` (per clinic: NDC, substance, schedule, form, strength, container volume,
  units per package), stocked at registrant locations (`Product.locations`; a location carries its
  DEA number, `clinics.Location.dea_registration`).
- **Ledger**: `LedgerEntry`, one row per event at one location (receipt, administration, waste,
  disposal, transfer out/in, adjustment). Never updated or deleted: model guards, queryset guards and,
  on PostgreSQL, a trigger (migration 0002). A correction is a new entry whose `corrects` points at
  the entry it reverses (at most one correction per entry).
- **Balances**: `Lot` (per location x product x lot number, with `sealed_units`: containers never
  opened) and `Container` (an opened vial with `remaining_ml`). Both are derived: every entry carries
  the signed change it made (`sealed_delta` on its lot, `ml_delta` on its container) and the balance
  rows are the running sums of those, kept by `inventory.actions` in the entry's own transaction and
  re-derivable from scratch by `inventory.balances.recompute_balances`. CheckConstraints keep
  them non-negative (and a container at most full) in the database itself.

Quantities: mL to 0.01 mL and mg to 0.01 mg (Decimal). A nasal device (Spravato, 28 mg) is one
sealed unit of 0.2 mL used whole; a vial is opened into a `Container` and drawn from in mL.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q


class Substance(models.TextChoices):
    KETAMINE = "ketamine", "Ketamine HCl"
    ESKETAMINE = "esketamine", "Esketamine (Spravato)"


class DosageForm(models.TextChoices):
    VIAL = "vial", "Vial (injection)"
    NASAL_DEVICE = "nasal_device", "Nasal spray device"


class Product(models.Model):
    """A finished form as the DEA receipt record names it: name, strength and form, units per container."""

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    ndc = models.CharField("NDC", max_length=20, help_text="National Drug Code, e.g. 0409-2051-05.")
    substance = models.CharField(max_length=20, choices=Substance.choices)
    schedule = models.CharField(max_length=4, default="CIII", help_text="DEA schedule (CIII, clinical.md section 5).")
    form = models.CharField(max_length=20, choices=DosageForm.choices)
    strength_mg = models.DecimalField(
        max_digits=8, decimal_places=2, help_text="mg per mL for a vial; mg per device for a nasal spray device."
    )
    container_volume_ml = models.DecimalField(
        "container volume (mL)",
        max_digits=8,
        decimal_places=2,
        help_text="Volume of one vial (e.g. 10 mL), or of one nasal device (Spravato: 0.2 mL).",
    )
    units_per_package = models.PositiveIntegerField(
        default=1, help_text="Vials per box or devices per kit (a Spravato 56 mg kit holds 2 devices)."
    )
    locations = models.ManyToManyField("clinics.Location", related_name="stocked_products", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["substance", "name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "ndc"], name="inventory_product_ndc_unique_per_clinic"),
            models.CheckConstraint(condition=Q(strength_mg__gt=0), name="inventory_product_strength_positive"),
            models.CheckConstraint(condition=Q(container_volume_ml__gt=0), name="inventory_product_volume_positive"),
            models.CheckConstraint(condition=Q(units_per_package__gt=0), name="inventory_product_units_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.strength_label})"

    @property
    def is_vial(self) -> bool:
        return self.form == DosageForm.VIAL

    @property
    def concentration_mg_per_ml(self) -> Decimal:
        if self.is_vial:
            return Decimal(self.strength_mg)
        return Decimal(self.strength_mg) / Decimal(self.container_volume_ml)

    @property
    def content_mg(self) -> Decimal:
        """mg in one sealed container (vial or device)."""
        if self.is_vial:
            return (Decimal(self.strength_mg) * Decimal(self.container_volume_ml)).quantize(Decimal("0.01"))
        return Decimal(self.strength_mg)

    @property
    def strength_label(self) -> str:
        if self.is_vial:
            return f"{self.strength_mg.normalize():f} mg/mL, {self.container_volume_ml.normalize():f} mL vial"
        return f"{self.strength_mg.normalize():f} mg per device"

    @property
    def unit_label(self) -> str:
        return "vial" if self.is_vial else "device"


class Lot(models.Model):
    """One manufacturer lot of one product at one location, and its balance of sealed containers.

    `sealed_units` is derived (the sum of the lot's entries' `sealed_delta`), never typed.
    """

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("clinics.Location", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40)
    expiry_date = models.DateField(help_text="Last day of use (compared in the clinic's time zone).")
    sealed_units = models.IntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["expiry_date", "lot_number", "id"]
        indexes = [
            models.Index(fields=["location"], condition=Q(sealed_units__gt=0), name="inventory_lot_in_stock"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "product", "lot_number"], name="inventory_lot_unique_per_location_product"
            ),
            models.CheckConstraint(condition=Q(sealed_units__gte=0), name="inventory_lot_sealed_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Lot {self.lot_number} ({self.product.name})"

    def is_expired(self, today: datetime.date) -> bool:
        return self.expiry_date < today


class Container(models.Model):
    """An opened vial and the mL left in it (derived: the sum of its entries' `ml_delta`)."""

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="containers")
    number = models.PositiveIntegerField(help_text="Vial number within the lot, in the order opened.")
    content_ml = models.DecimalField(max_digits=8, decimal_places=2, editable=False)
    remaining_ml = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"), editable=False)
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["lot", "number"]
        indexes = [
            models.Index(fields=["lot"], condition=Q(remaining_ml__gt=0), name="inventory_container_open"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["lot", "number"], name="inventory_container_number_unique_per_lot"),
            models.CheckConstraint(condition=Q(remaining_ml__gte=0), name="inventory_container_not_negative"),
            models.CheckConstraint(
                condition=Q(remaining_ml__lte=models.F("content_ml")), name="inventory_container_not_overfull"
            ),
        ]

    def __str__(self) -> str:
        return f"Vial {self.number} of lot {self.lot.lot_number}"

    @property
    def is_empty(self) -> bool:
        return self.remaining_ml <= 0


class EntryKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ADMINISTRATION = "administration", "Administration"
    WASTE = "waste", "Waste (dose remainder)"
    DISPOSAL = "disposal", "Disposal"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"
    ADJUSTMENT = "adjustment", "Adjustment"


class DisposalMethod(models.TextChoices):
    REVERSE_DISTRIBUTOR = "reverse_distributor", "Reverse distributor"
    DESTRUCTION = "destruction", "Destruction on site (DEA Form 41, two witnesses)"


class LedgerImmutableError(RuntimeError):
    pass


class LedgerEntryQuerySet(models.QuerySet["LedgerEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise LedgerImmutableError("Ledger entries are never updated: record a correction.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise LedgerImmutableError("Ledger entries are never deleted: record a correction.")


class LedgerEntry(models.Model):
    """One event of the Schedule III record of one registrant location. Append-only.

    `sealed_delta` (sealed containers of `lot`) and `ml_delta` (mL in `container`) are the signed
    changes this entry made; `quantity_units`, `quantity_ml` and `quantity_mg` describe the event as
    the record reads (positive; negative only on a correction, so sums net out).
    """

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("clinics.Location", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="entries")
    container = models.ForeignKey(Container, on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    sealed_delta = models.IntegerField(default=0)
    ml_delta = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    quantity_units = models.IntegerField(default=0, help_text="Sealed containers (vials or devices) moved.")
    quantity_ml = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    quantity_mg = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    actor_label = models.CharField(max_length=250, help_text="Name and credentials as they were at the time.")
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    second_witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Administration (and, later, sessions): who received it.
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Nullable on purpose (None = not tied to a session); the sessions domain may replace it with a FK.
    session_ref = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, help_text="The treatment session, once the sessions domain exists."
    )
    # Receipt (supplier), disposal (reverse distributor): name, address, DEA number, document.
    counterparty_name = models.CharField(max_length=200, blank=True)
    counterparty_address = models.CharField(max_length=300, blank=True)
    counterparty_dea = models.CharField(max_length=9, blank=True)
    document_number = models.CharField(max_length=60, blank=True, help_text="Invoice, Form 41 or return number.")
    received_on = models.DateField(null=True, blank=True)
    disposal_method = models.CharField(max_length=30, choices=DisposalMethod.choices, blank=True)
    peer_location = models.ForeignKey(
        "clinics.Location", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # On a transfer-in: the transfer-out it completes (the out leg reaches it as `transfer_in_leg`).
    transfer_peer = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="transfer_in_leg"
    )
    corrects = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True, related_name="correction")
    reason = models.TextField(blank=True)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["location", "occurred_at"], name="inventory_entry_location_time"),
            models.Index(fields=["lot", "id"], name="inventory_entry_lot"),
            models.Index(fields=["container"], name="inventory_entry_container"),
            # Covers the replay of every balance (balances.recompute_balances): an index-only scan.
            models.Index(
                fields=["location", "lot", "container", "sealed_delta", "ml_delta"], name="inventory_entry_replay"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="administration") | Q(patient__isnull=False), name="inventory_admin_has_patient"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["waste", "disposal"]) | Q(witness__isnull=False) | Q(corrects__isnull=False),
                name="inventory_waste_disposal_witnessed",
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | ~Q(reason=""), name="inventory_adjustment_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.lot_id})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise LedgerImmutableError("Ledger entries are never updated: record a correction.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise LedgerImmutableError("Ledger entries are never deleted: record a correction.")

    @property
    def is_correction(self) -> bool:
        return self.corrects_id is not None


# --- Counts, discrepancies, theft/loss cases and the record policy (clinical.md section 5) ---------


class InventoryInterval(models.TextChoices):
    BIENNIAL = "biennial", "Biennial: at least every 2 years (federal minimum)"
    ANNUAL = "annual", "Annual: every year (a stricter state rule, e.g. Iowa)"


class OpenedContainerRule(models.TextChoices):
    ESTIMATE = "estimate", "Estimate allowed for opened containers (federal rule for Schedule III)"
    QUARTER = "quarter", "Exact, liquids estimable to the nearest quarter container (Iowa-style rule)"
    EXACT = "exact", "Exact count of every opened container"


class InventoryPolicy(models.Model):
    """How one registrant location keeps its inventory and records (clinical.md section 5).

    One row per location; a location without a row follows the federal defaults
    (`inventory.policy.policy_for`).
    """

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.OneToOneField("clinics.Location", on_delete=models.PROTECT, related_name="inventory_policy")
    interval = models.CharField(
        "inventory interval",
        max_length=10,
        choices=InventoryInterval.choices,
        default=InventoryInterval.BIENNIAL,
        help_text=(
            "Federal: an initial inventory on the first day of handling, then at least every 2 years; "
            "a state may require an annual inventory (clinical.md section 5, Inventory)."
        ),
    )
    opened_containers = models.CharField(
        "opened containers",
        max_length=10,
        choices=OpenedContainerRule.choices,
        default=OpenedContainerRule.ESTIMATE,
        help_text=(
            "Federal: an estimated count is allowed for opened Schedule III containers unless the container "
            "holds more than 1,000 tablets or capsules; Iowa requires exact counts, liquids to the nearest "
            "quarter container (clinical.md section 5, Inventory)."
        ),
    )
    retention_years = models.PositiveSmallIntegerField(
        "record retention (years)",
        default=2,
        help_text=(
            "At least 2 years from the date of the record; a state may require longer, e.g. 5 "
            "(clinical.md section 5, Retention)."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name_plural = "inventory policies"
        constraints = [
            models.CheckConstraint(condition=Q(retention_years__gte=2), name="inventory_policy_retention_min_2"),
        ]

    def __str__(self) -> str:
        return f"Inventory policy of location {self.location_id}"


class CountKind(models.TextChoices):
    SHIFT = "shift", "Shift count"
    DAILY = "daily", "Daily count"
    INITIAL = "initial", "Initial inventory"
    PERIODIC = "periodic", "Biennial or annual inventory"


class ImmutableQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise LedgerImmutableError("A signed record is never changed.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise LedgerImmutableError("A signed record is never deleted.")


class _Immutable(models.Model):
    """Written once (a signed count and its lines, a loss case, a filing), never updated or deleted."""

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise LedgerImmutableError("A signed record is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise LedgerImmutableError("A signed record is never deleted.")


class StockCount(_Immutable):
    """A count of a location's stock by two people, signed when recorded and never changed after.

    Each line keeps the ledger's derived balance at that moment (the snapshot) beside what was counted.
    """

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("clinics.Location", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=CountKind.choices)
    counted_at = models.DateTimeField()
    counted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    counted_by_label = models.CharField(max_length=250)
    witness = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    witness_label = models.CharField(max_length=250)
    opened_rule = models.CharField(
        max_length=10, choices=OpenedContainerRule.choices, help_text="The location's rule when counted."
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-counted_at", "-id"]
        indexes = [models.Index(fields=["location", "counted_at"], name="inventory_count_location_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class CountLine(_Immutable):
    """One lot's sealed containers, or one opened vial's mL, as counted and as the ledger said."""

    count = models.ForeignKey(StockCount, on_delete=models.PROTECT, related_name="lines")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="+")
    container = models.ForeignKey(Container, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    expected_units = models.IntegerField(default=0)
    counted_units = models.IntegerField(default=0)
    expected_ml = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    counted_ml = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    estimated = models.BooleanField(default=False)
    is_variance = models.BooleanField(default=False)

    class Meta:
        ordering = ["lot_id", "container_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(counted_units__gte=0), name="inventory_countline_units_not_negative"),
            models.CheckConstraint(condition=Q(counted_ml__gte=0), name="inventory_countline_ml_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Count line #{self.pk}"

    @property
    def variance_units(self) -> int:
        return self.counted_units - self.expected_units

    @property
    def variance_ml(self) -> Decimal:
        return Decimal(self.counted_ml) - Decimal(self.expected_ml)


class RootCause(models.TextChoices):
    COUNTING_ERROR = "counting_error", "Counting error (recount agrees with the ledger)"
    RECORDING_ERROR = "recording_error", "Recording error (an entry missing or wrong)"
    UNRECORDED_WASTE = "unrecorded_waste", "Waste or spill not recorded at the time"
    MEASUREMENT = "measurement", "Measurement (overfill, draw-up loss)"
    THEFT_OR_LOSS = "theft_or_loss", "Theft or significant loss"
    OTHER = "other", "Other (explain in the finding)"


class Discrepancy(models.Model):
    """A count line that did not match the ledger: open until investigated and closed with a finding."""

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("clinics.Location", on_delete=models.PROTECT, related_name="+")
    line = models.OneToOneField(CountLine, on_delete=models.PROTECT, related_name="discrepancy")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_by_label = models.CharField(max_length=250, blank=True)
    finding = models.TextField(blank=True)
    root_cause = models.CharField(max_length=20, choices=RootCause.choices, blank=True)
    adjustment = models.OneToOneField(
        LedgerEntry, on_delete=models.PROTECT, null=True, blank=True, related_name="discrepancy"
    )
    loss_case = models.ForeignKey(
        "LossCase", on_delete=models.PROTECT, null=True, blank=True, related_name="discrepancies"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "discrepancies"
        indexes = [
            models.Index(fields=["location"], condition=Q(closed_at__isnull=True), name="inventory_discrepancy_open")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | (~Q(finding="") & ~Q(root_cause="")),
                name="inventory_discrepancy_closed_has_finding",
            ),
        ]

    def __str__(self) -> str:
        return f"Discrepancy #{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Opened, then closed once (`reconciliation.close_discrepancy`); a closed one never changes."""
        if self.pk is not None and Discrepancy.objects.filter(pk=self.pk, closed_at__isnull=False).exists():
            raise LedgerImmutableError("A closed discrepancy is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise LedgerImmutableError("A discrepancy is never deleted.")

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class LossKind(models.TextChoices):
    THEFT = "theft", "Theft"
    SIGNIFICANT_LOSS = "significant_loss", "Significant loss"
    BREAKAGE = "breakage", "Breakage or spillage, non-recoverable (not a loss)"


class LossCase(_Immutable):
    """A theft or significant loss (two DEA deadlines), or a non-recoverable breakage or spillage
    (not a loss: documented and signed by the two people who witnessed it). clinical.md section 5."""

    clinic = models.ForeignKey("clinics.Clinic", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("clinics.Location", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=LossKind.choices)
    discovered_at = models.DateTimeField()
    description = models.TextField()
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    quantity_units = models.IntegerField(default=0, help_text="Sealed containers (vials or devices).")
    quantity_ml = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    quantity_mg = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    notice_due = models.DateField(null=True, blank=True, help_text="Written notice to the DEA Field Division.")
    form_106_due = models.DateField(null=True, blank=True, help_text="DEA Form 106, filed electronically.")
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_by_label = models.CharField(max_length=250)
    witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    second_witness = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-discovered_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="breakage") | (Q(witness__isnull=False) & Q(second_witness__isnull=False)),
                name="inventory_breakage_two_witnesses",
            ),
            models.CheckConstraint(
                condition=Q(kind="breakage") | (Q(notice_due__isnull=False) & Q(form_106_due__isnull=False)),
                name="inventory_loss_has_deadlines",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} case #{self.pk}"

    @property
    def is_reportable(self) -> bool:
        return self.kind != LossKind.BREAKAGE


class FilingKind(models.TextChoices):
    DEA_NOTICE = "dea_notice", "Written notice to the DEA Field Division"
    FORM_106 = "form_106", "DEA Form 106"


class FilingMethod(models.TextChoices):
    EMAIL = "email", "Email"
    FAX = "fax", "Fax"
    LETTER = "letter", "Letter"
    DEA_ONLINE = "dea_online", "DEA Diversion online form"


class LossFiling(_Immutable):
    """What was filed for a loss case: closes that deadline."""

    case = models.ForeignKey(LossCase, on_delete=models.PROTECT, related_name="filings")
    kind = models.CharField(max_length=12, choices=FilingKind.choices)
    filed_on = models.DateField()
    method = models.CharField(max_length=12, choices=FilingMethod.choices)
    reference = models.CharField(max_length=100, help_text="Confirmation or reference number.")
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filed_by_label = models.CharField(max_length=250)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["case", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["case", "kind"], name="inventory_filing_one_per_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for case {self.case_id}"
