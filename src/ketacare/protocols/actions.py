"""The only writers of the clinic's protocols: adopt a library version, edit (a new draft), publish.

Every action checks the permission, runs in one transaction and writes its audit row. Changes are
named by dotted paths, the same as `Protocol.missing_clinic_values()` gives them
(`dose.max_mg`, `alert_thresholds[spo2_low].value`, `maintenance[maintenance].interval_days_options`).
Only the fields in `adaptable_fields` may change; anything else is a different protocol.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record
from ketacare.protocols.definitions import Protocol, UnknownProtocol, get_protocol
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion, VersionStatus


def _require(actor: Actor, perm: str) -> None:
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")


@dataclass(frozen=True)
class AdaptableField:
    """One value a clinic may set or adapt in its copy."""

    path: str  # dotted path, as missing_clinic_values() names it
    label: str
    kind: str  # decimal, int, int_list, direction, bool
    unit: str
    value: Any
    clinic_set: bool  # named in the block's clinic_set: the clinic must set it
    missing: bool  # clinic_set and still empty

    @property
    def form_name(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.path.lower()).strip("_")


_DOSE_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("amount", "Dose amount", "decimal", ""),
    ("rounding_step_mg", "Rounding step", "decimal", "mg"),
    ("rounding_direction", "Rounding direction", "direction", ""),
    ("min_mg", "Minimum dose", "decimal", "mg"),
    ("max_mg", "Maximum dose", "decimal", "mg"),
    ("max_weight_age_days", "Oldest weight allowed", "int", "days"),
)
_SERIES_FIELDS = (
    ("count", "Sessions in the series", "int", ""),
    ("sessions_per_week", "Sessions per week", "int", ""),
    ("window_days", "Series window", "int", "days"),
    ("min_interval_hours", "Minimum interval between sessions", "int", "hours"),
)


_MEASURE_WORDS = {
    "systolic_bp": "systolic BP",
    "diastolic_bp": "diastolic BP",
    "heart_rate": "heart rate",
    "spo2": "SpO2",
}


def adaptable_fields(protocol: Protocol) -> list[AdaptableField]:
    """The values of `protocol` a clinic may change, the ones it must set first."""
    found: list[AdaptableField] = []

    def add(block: Any, prefix: str, name: str, label: str, kind: str, unit: str) -> None:
        in_clinic_set = name in block.clinic_set
        value = getattr(block, name)
        found.append(
            AdaptableField(f"{prefix}.{name}", label, kind, unit, value, in_clinic_set, in_clinic_set and value is None)
        )

    dose = protocol.dose
    for name, label, kind, unit in _DOSE_FIELDS:
        if dose.basis == "fixed" and name in ("rounding_step_mg", "rounding_direction", "max_weight_age_days"):
            continue
        if dose.basis == "fixed" and name == "amount" and dose.choices_mg:
            continue  # chosen per plan from the choices
        add(dose, "dose", name, label, kind, unit or (dose.unit if name == "amount" else ""))
    for name, label, kind, unit in _SERIES_FIELDS:
        add(protocol.series, "series", name, f"{label} ({protocol.series.phase})", kind, unit)
    for phase in protocol.maintenance:
        if phase.interval_days_options is not None or "interval_days_options" in phase.clinic_set:
            add(
                phase,
                f"maintenance[{phase.name}]",
                "interval_days_options",
                f"Intervals ({phase.name})",
                "int_list",
                "days",
            )
    add(protocol.observation, "observation", "minimum_minutes", "Minimum observation", "int", "minutes")
    add(protocol.fasting, "fasting", "no_food_minutes", "No food before the session", "int", "minutes")
    add(protocol.fasting, "fasting", "no_liquids_minutes", "No liquids before the session", "int", "minutes")
    for threshold in protocol.alert_thresholds:
        label = f"Alert when {_MEASURE_WORDS.get(threshold.measure, threshold.measure)} is {threshold.comparison}"
        add(threshold, f"alert_thresholds[{threshold.id}]", "value", label, "int", threshold.unit)
    add(protocol.escort, "escort", "required", "Escort required", "bool", "")
    found.sort(key=lambda f: not f.clinic_set)  # the values the clinic must set first
    return found


_PATH = re.compile(r"^(?P<block>[a-z_]+)(\[(?P<key>[a-z0-9_]+)\])?\.(?P<field>[a-z_]+)$")


def _coerce(field: AdaptableField, value: Any) -> Any:
    """A JSON-ready value of the field's kind, or ValueError."""
    if value is None or value == "":
        return None
    if field.kind == "decimal":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError("Enter a number.") from None
        if not number.is_finite() or number <= 0:
            raise ValueError("Enter a positive number.")
        return format(number.normalize(), "f")  # "60", "0.75": never "6E+1"
    if field.kind == "int":
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
            raise ValueError("Enter a whole number.")
        whole = int(str(value).strip())
        if whole < 0:
            raise ValueError("Enter zero or more.")
        return whole
    if field.kind == "int_list":
        items = value if isinstance(value, list | tuple) else [v for v in re.split(r"[,\s]+", str(value)) if v]
        try:
            numbers = [int(v) for v in items]
        except (TypeError, ValueError):
            raise ValueError("Enter whole numbers of days, separated by commas.") from None
        if not numbers or any(n < 1 for n in numbers):
            raise ValueError("Each interval is at least one day.")
        return numbers
    if field.kind == "direction":
        if value not in ("down", "up", "nearest"):
            raise ValueError("Choose down, up or nearest.")
        return value
    if field.kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1"):
            return True
        if str(value).lower() in ("false", "no", "0"):
            return False
        raise ValueError("Choose yes or no.")
    raise ValueError(f"Unknown kind {field.kind}.")


def _block_of(data: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    match = _PATH.match(path)
    if match is None:
        raise KeyError(path)
    block, key, name = match.group("block"), match.group("key"), match.group("field")
    if key is None:
        return data[block], name
    id_field = "name" if block == "maintenance" else "id"
    for item in data[block]:
        if item[id_field] == key:
            return item, name
    raise KeyError(path)


def _pydantic_errors(exc: PydanticValidationError, paths: list[str]) -> ValidationError:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        message = str(error.get("msg", "Invalid value.")).removeprefix("Value error, ")
        target = next((p for p in paths if loc and p.split(".")[0].split("[")[0] == loc[0]), None)
        errors.setdefault(target or "changes", []).append(message)
    return ValidationError(errors)


def _validated(data: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    try:
        protocol = Protocol.model_validate(data)
    except PydanticValidationError as exc:
        raise _pydantic_errors(exc, paths) from None
    dumped: dict[str, Any] = protocol.model_dump(mode="json")
    return dumped


@transaction.atomic
def adopt_protocol(
    actor: Actor, code: str, version: str, *, new_code: str = "", name: str = ""
) -> ClinicProtocolVersion:
    """Copy library protocol `code` version `version` into the clinic as draft version 1."""
    _require(actor, Perm.PROTOCOL_MANAGE)
    try:
        source = get_protocol(code, str(version))
    except UnknownProtocol:
        raise ValidationError({"code": f"No library protocol {code} version {version}."}) from None
    clinic_code = (new_code or code).strip()
    if not re.fullmatch(r"[a-z0-9_]+", clinic_code):
        raise ValidationError({"new_code": "Use lower-case letters, digits and underscores."})
    if ClinicProtocol.objects.filter(clinic=actor.clinic, code=clinic_code).exists():
        raise ValidationError(
            {"new_code": f"The clinic already has a protocol {clinic_code}: edit it, or give the copy a new code."}
        )
    data = source.model_dump(mode="json")
    data["code"], data["version"] = clinic_code, "1"
    if name.strip():
        data["name"] = name.strip()
    try:
        with transaction.atomic():
            clinic_protocol = ClinicProtocol.objects.create(
                clinic=actor.clinic,
                code=clinic_code,
                name=data["name"],
                route=source.route,
                based_on_code=source.code,
                based_on_version=source.version,
                created_by=actor.user,
            )
    except IntegrityError:
        raise ValidationError({"new_code": f"The clinic already has a protocol {clinic_code}."}) from None
    created = ClinicProtocolVersion.objects.create(
        clinic=actor.clinic,
        clinic_protocol=clinic_protocol,
        version=1,
        data=data,
        change_note=f"Copied from the library: {source.code} version {source.version}.",
        created_by=actor.user,
    )
    record(
        actor,
        AuditAction.CREATE,
        "clinic_protocol.adopted",
        subject=created,
        detail={"code": clinic_code, "based_on": f"{source.code} v{source.version}", "version": 1},
    )
    return created


@transaction.atomic
def edit_protocol(
    actor: Actor, clinic_protocol: ClinicProtocol, changes: dict[str, Any], change_note: str
) -> ClinicProtocolVersion:
    """A new draft version from the latest one with `changes` (dotted path -> value) applied."""
    _require(actor, Perm.PROTOCOL_MANAGE)
    if clinic_protocol.clinic_id != actor.clinic.pk:
        raise PermissionDenied("Another clinic's protocol.")
    # Lock the protocol row: two edits at once number their versions one after the other.
    ClinicProtocol.objects.select_for_update().filter(pk=clinic_protocol.pk).first()
    latest = ClinicProtocolVersion.objects.filter(clinic_protocol=clinic_protocol).order_by("-version").first()
    if latest is None:
        raise ValidationError({"changes": "This protocol has no version to start from."})
    note = (change_note or "").strip()
    errors: dict[str, list[str]] = {}
    if not note:
        errors["change_note"] = ["Say what changed and why (who decided, where it is written)."]
    if not changes:
        errors["changes"] = ["Nothing was changed."]
    allowed = {f.path: f for f in adaptable_fields(latest.protocol)}
    data = copy.deepcopy(latest.data)
    number = latest.version + 1
    touched_blocks: dict[int, dict[str, Any]] = {}
    applied: dict[str, Any] = {}
    for path, value in changes.items():
        field = allowed.get(path)
        if field is None:
            errors.setdefault(path, []).append("This value cannot be changed in a clinic copy.")
            continue
        try:
            coerced = _coerce(field, value)
        except ValueError as exc:
            errors.setdefault(path, []).append(str(exc))
            continue
        if coerced is None and not field.clinic_set:
            errors.setdefault(path, []).append("This value is required.")
            continue
        block, name = _block_of(data, path)
        block[name] = coerced
        touched_blocks[id(block)] = block
        applied[path] = coerced
    if errors:
        raise ValidationError(errors)
    for block in touched_blocks.values():
        block["source"] = f"{block['source']}; clinic {actor.clinic.name} version {number}: {note}"
    data["version"] = str(number)
    data = _validated(data, list(changes))
    created = ClinicProtocolVersion.objects.create(
        clinic=actor.clinic,
        clinic_protocol=clinic_protocol,
        version=number,
        data=data,
        change_note=note,
        created_by=actor.user,
    )
    record(
        actor,
        AuditAction.UPDATE,
        "clinic_protocol.edited",
        subject=created,
        detail={"code": clinic_protocol.code, "version": number, "changes": applied, "note": note},
    )
    return created


@transaction.atomic
def publish_version(actor: Actor, version: ClinicProtocolVersion) -> ClinicProtocolVersion:
    """Publish a draft for new plans; the version published before is retired (its plans keep it)."""
    _require(actor, Perm.PROTOCOL_PUBLISH)
    locked = ClinicProtocolVersion.objects.select_for_update().filter(pk=version.pk, clinic=actor.clinic).first()
    if locked is None:
        raise PermissionDenied("Another clinic's protocol.")
    if locked.status != VersionStatus.DRAFT:
        raise ValidationError({"status": f"Version {locked.version} is already {locked.get_status_display().lower()}."})
    newest = ClinicProtocolVersion.objects.filter(clinic_protocol_id=locked.clinic_protocol_id).order_by("-version")
    newest_number = newest.values_list("version", flat=True).first()
    if newest_number != locked.version:
        raise ValidationError({"status": f"Version {newest_number} is newer: publish that one."})
    try:
        protocol = Protocol.model_validate(locked.data)
    except PydanticValidationError as exc:
        raise _pydantic_errors(exc, []) from None
    missing = protocol.missing_clinic_values()
    if missing:
        raise ValidationError({"missing_clinic_values": [f"The clinic must set {path}." for path in missing]})
    now = timezone.now()
    retired = []
    for previous in ClinicProtocolVersion.objects.select_for_update().filter(
        clinic_protocol_id=locked.clinic_protocol_id, status=VersionStatus.PUBLISHED
    ):
        previous.status = VersionStatus.RETIRED
        previous.retired_at = now
        previous.save(update_fields=["status", "retired_at"])
        retired.append(previous.version)
    locked.status = VersionStatus.PUBLISHED
    locked.published_by = actor.user
    locked.published_at = now
    locked.save(update_fields=["status", "published_by", "published_at"])
    ClinicProtocol.objects.filter(pk=locked.clinic_protocol_id).update(name=protocol.name)
    record(
        actor,
        AuditAction.UPDATE,
        "clinic_protocol.published",
        subject=locked,
        detail={"version": locked.version, "retired_versions": retired},
    )
    return locked
