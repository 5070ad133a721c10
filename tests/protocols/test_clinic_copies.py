"""The clinic's protocol copies: adopt a library version, edit as a new draft, publish (prescriber only)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketacare.audit.models import AuditEvent
from ketacare.protocols import actions
from ketacare.protocols.definitions import get_protocol
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion, ProtocolImmutableError, VersionStatus
from tests.protocols.clinic_values import IV_CLINIC_VALUES


@pytest.fixture
def iv_draft(actors):
    return actions.adopt_protocol(actors["ann"], "iv_racemic_ketamine", "1")


def test_adopt_copies_the_library_version_as_draft_1(actors, iv_draft):
    library = get_protocol("iv_racemic_ketamine", "1")

    assert (iv_draft.version, iv_draft.status, iv_draft.clinic) == (1, VersionStatus.DRAFT, actors["ann"].clinic)
    copy = iv_draft.clinic_protocol
    assert (copy.code, copy.route, copy.based_on_code, copy.based_on_version) == (
        "iv_racemic_ketamine",
        "intravenous",
        "iv_racemic_ketamine",
        "1",
    )
    assert iv_draft.protocol.dose == library.dose
    assert iv_draft.protocol.missing_clinic_values() == library.missing_clinic_values()
    event = AuditEvent.objects.get(event_type="clinic_protocol.adopted")
    assert (event.subject_id, event.actor_id) == (str(iv_draft.pk), actors["ann"].user.pk)


def test_adopt_refuses_unknown_and_duplicate_codes_and_other_roles(actors, iv_draft):
    with pytest.raises(ValidationError) as exc:
        actions.adopt_protocol(actors["ann"], "nope", "1")
    assert "code" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        actions.adopt_protocol(actors["ann"], "iv_racemic_ketamine", "1")
    assert "new_code" in exc.value.message_dict
    second = actions.adopt_protocol(actors["ada"], "iv_racemic_ketamine", "1", new_code="iv_fast", name="IV (clinic B)")
    assert (second.clinic_protocol.code, second.protocol.name) == ("iv_fast", "IV (clinic B)")
    for key in ("ben", "tess", "cy", "ivy", "aud"):
        with pytest.raises(PermissionDenied):
            actions.adopt_protocol(actors[key], "spravato_trd", "1")
    # Another clinic may adopt the same code: codes are unique per clinic.
    assert actions.adopt_protocol(actors["dee"], "iv_racemic_ketamine", "1").clinic == actors["dee"].clinic
    assert ClinicProtocol.objects.filter(clinic=actors["ann"].clinic).count() == 2


def test_publish_refused_while_clinic_values_are_missing(actors, iv_draft):
    with pytest.raises(ValidationError) as exc:
        actions.publish_version(actors["ada"], iv_draft)

    missing = exc.value.message_dict["missing_clinic_values"]
    assert "The clinic must set dose.max_mg." in missing
    assert "The clinic must set alert_thresholds[spo2_low].value." in missing
    iv_draft.refresh_from_db()
    assert iv_draft.status == VersionStatus.DRAFT


def test_edit_makes_a_new_draft_with_the_clinic_values_and_their_source(actors, iv_draft):
    edited = actions.edit_protocol(
        actors["ann"], iv_draft.clinic_protocol, IV_CLINIC_VALUES, "Medical director memo 12"
    )

    assert (edited.version, edited.status, edited.change_note) == (2, VersionStatus.DRAFT, "Medical director memo 12")
    dose = edited.protocol.dose
    assert (dose.rounding_step_mg, dose.rounding_direction, dose.max_mg) == (Decimal("5"), "down", Decimal("60"))
    assert "clinic Harbor Light Clinic version 2: Medical director memo 12" in dose.source
    assert edited.protocol.missing_clinic_values() == ()
    assert edited.data["version"] == "2"
    iv_draft.refresh_from_db()
    assert iv_draft.data["dose"]["max_mg"] is None  # the earlier version is untouched
    event = AuditEvent.objects.get(event_type="clinic_protocol.edited")
    assert event.detail["changes"]["dose.max_mg"] == "60"


@pytest.mark.parametrize(
    ("changes", "note", "field"),
    [
        ({"dose.max_mg": "-5"}, "x", "dose.max_mg"),
        ({"dose.max_weight_age_days": "soon"}, "x", "dose.max_weight_age_days"),
        ({"dose.rounding_direction": "sideways"}, "x", "dose.rounding_direction"),
        ({"indication": "anything"}, "x", "indication"),
        ({"administration.duration_minutes": 20}, "x", "administration.duration_minutes"),
        ({"dose.amount": ""}, "x", "dose.amount"),
        ({"dose.min_mg": "80", "dose.max_mg": "60"}, "x", "dose.min_mg"),
        ({"dose.max_mg": "60"}, " ", "change_note"),
        ({}, "x", "changes"),
    ],
)
def test_edit_refuses_bad_values_naming_the_field(actors, iv_draft, changes, note, field):
    with pytest.raises(ValidationError) as exc:
        actions.edit_protocol(actors["ann"], iv_draft.clinic_protocol, changes, note)

    assert field in exc.value.message_dict
    assert ClinicProtocolVersion.objects.count() == 1


def test_publish_is_for_prescribers_and_retires_the_previous_version(actors, iv_draft):
    v2 = actions.edit_protocol(actors["ann"], iv_draft.clinic_protocol, IV_CLINIC_VALUES, "memo")
    with pytest.raises(PermissionDenied):
        actions.publish_version(actors["ann"], v2)
    with pytest.raises(ValidationError, match="newer"):
        actions.publish_version(actors["ada"], iv_draft)

    published = actions.publish_version(actors["ada"], v2)
    assert (published.status, published.published_by) == (VersionStatus.PUBLISHED, actors["ada"].user)
    v3 = actions.edit_protocol(actors["ada"], iv_draft.clinic_protocol, {"observation.minimum_minutes": 45}, "longer")
    actions.publish_version(actors["ada"], v3)

    v2.refresh_from_db()
    assert v2.status == VersionStatus.RETIRED
    assert v2.retired_at is not None
    assert ClinicProtocolVersion.objects.filter(status=VersionStatus.PUBLISHED).get() == v3
    events = AuditEvent.objects.filter(event_type="clinic_protocol.published").order_by("id")
    assert [e.detail["retired_versions"] for e in events] == [[], [2]]
    with pytest.raises(ValidationError, match="already published"):
        actions.publish_version(actors["ada"], v3)


def test_published_version_is_immutable(actors, iv_draft):
    v2 = actions.edit_protocol(actors["ann"], iv_draft.clinic_protocol, IV_CLINIC_VALUES, "memo")
    published = actions.publish_version(actors["ada"], v2)

    published.data = {**published.data, "dose": {**published.data["dose"], "amount": "0.75"}}
    with pytest.raises(ProtocolImmutableError, match="cannot change"):
        published.save()
    published.refresh_from_db()
    published.change_note = "rewritten"
    with pytest.raises(ProtocolImmutableError):
        published.save()
    published.refresh_from_db()
    published.status = VersionStatus.DRAFT
    with pytest.raises(ProtocolImmutableError):
        published.save()
    with pytest.raises(ProtocolImmutableError):
        published.delete()
    assert ClinicProtocolVersion.objects.get(pk=published.pk).data["dose"]["amount"] == "0.5"
    # A draft may still be saved (its content is not yet in use).
    iv_draft.change_note = "note"
    iv_draft.save()


def test_spravato_fixed_dose_copy_offers_no_rounding_fields(actors):
    draft = actions.adopt_protocol(actors["ada"], "spravato_trd", "1")
    paths = [f.path for f in actions.adaptable_fields(draft.protocol)]

    assert paths[:2] == ["series.min_interval_hours", "alert_thresholds[spo2_low].value"]  # must-set first
    assert "dose.rounding_step_mg" not in paths
    assert "dose.amount" not in paths
    assert "dose.max_mg" in paths
