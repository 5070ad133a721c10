"""Protocol pages: library with sources, adopt, edit form (must-set values first), publish, version history."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.protocols import actions
from ketacare.protocols.models import ClinicProtocol, ClinicProtocolVersion, VersionStatus
from tests.conftest import ALL_PERSONAS
from tests.protocols.clinic_values import IV_CLINIC_VALUES


def edit_body(version, **changes):
    """The edit form as the page renders it (every field with its current value), with `changes`."""
    fields = {f.form_name: f for f in actions.adaptable_fields(version.protocol)}
    body = {}
    for name, f in fields.items():
        value = f.value
        if value is None:
            body[name] = ""
        elif f.kind == "int_list":
            body[name] = ", ".join(str(v) for v in value)
        elif f.kind == "bool":
            body[name] = "yes" if value else "no"
        else:
            body[name] = str(value)
    for path, value in changes.items():
        body[fields_by_path(version)[path]] = value
    return body


def fields_by_path(version):
    return {f.path: f.form_name for f in actions.adaptable_fields(version.protocol)}


def test_library_and_copies_on_the_list(client_for, actors):
    actions.adopt_protocol(actors["ada"], "spravato_trd", "1")

    html = client_for("ben").get(reverse("protocols-list")).content.decode()

    assert html.count('data-testid="library-protocol"') == 5
    assert 'data-testid="clinic-protocol-row"' in html
    assert "Nothing published" in html
    assert 'data-testid="adopt-' not in html  # a nurse reads, does not adopt


def test_library_detail_shows_every_block_with_its_source(client_for):
    html = client_for("tess").get(reverse("protocols-library", args=["iv_racemic_ketamine", "1"])).content.decode()

    for heading in (
        "Dose rule",
        "Administration",
        "Series (induction)",
        "Maintenance and boosters",
        "Fasting",
        "Observation and vital signs",
        "Discharge checklist and escort",
        "Review points",
    ):
        assert heading in html
    assert "0.5 mg/kg of body weight" in html
    assert "over 40 minutes" in html
    assert "alert the prescriber; never stop a session by themselves" in html
    assert html.count("Source: ../shared/reference/clinical.md") >= 7
    assert "Not set — the clinic must set this" in html
    assert client_for("tess").get(reverse("protocols-library", args=["nope", "1"])).status_code == 404


def test_adopt_edit_publish_through_the_pages(client_for):
    admin, prescriber = client_for("ann"), client_for("ada")
    token = str(uuid.uuid4())

    adopted = admin.post(
        reverse("protocols-adopt"), {"code": "iv_racemic_ketamine", "version": "1", "form_token": token}
    )
    admin.post(reverse("protocols-adopt"), {"code": "iv_racemic_ketamine", "version": "1", "form_token": token})

    v1 = ClinicProtocolVersion.objects.get()
    assert adopted["Location"] == reverse("protocols-version", args=[v1.pk])
    copy = v1.clinic_protocol
    form = admin.get(reverse("protocols-edit", args=[copy.pk])).content.decode()
    assert form.index("Values the clinic must set") < form.index("Other values the clinic may adapt")
    assert "the clinic must set this before the protocol is used" in form

    bad = admin.post(
        reverse("protocols-edit", args=[copy.pk]), {**edit_body(v1, **{"dose.max_mg": "-1"}), "change_note": "x"}
    )
    assert bad.status_code == 422
    assert "Enter a positive number." in bad.content.decode()

    body = {
        **edit_body(
            v1, **{k: (", ".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in IV_CLINIC_VALUES.items()}
        ),
        "change_note": "Medical director memo 12",
        "form_token": str(uuid.uuid4()),
    }
    saved = admin.post(reverse("protocols-edit", args=[copy.pk]), body)
    v2 = ClinicProtocolVersion.objects.get(version=2)
    assert saved["Location"] == reverse("protocols-version", args=[v2.pk])
    assert v2.protocol.missing_clinic_values() == ()
    assert set(AuditEvent.objects.get(event_type="clinic_protocol.edited").detail["changes"]) == set(IV_CLINIC_VALUES)

    page = admin.get(reverse("protocols-version", args=[v2.pk])).content.decode()
    assert 'data-testid="publish"' not in page  # admins adapt, prescribers publish
    assert admin.post(reverse("protocols-publish", args=[v2.pk])).status_code == 403
    assert 'data-testid="publish"' in prescriber.get(reverse("protocols-version", args=[v2.pk])).content.decode()
    assert prescriber.post(reverse("protocols-publish", args=[v2.pk])).status_code == 302
    v2.refresh_from_db()
    assert v2.status == VersionStatus.PUBLISHED
    history = prescriber.get(reverse("protocols-version", args=[v1.pk])).content.decode()
    assert "Medical director memo 12" in history
    assert "Copied from the library" in history


def test_publish_page_lists_missing_values(client_for, actors):
    v1 = actions.adopt_protocol(actors["ada"], "spravato_trd", "1")

    response = client_for("ada").post(reverse("protocols-publish", args=[v1.pk]))

    assert response.status_code == 422
    assert "The clinic must set series.min_interval_hours." in response.content.decode()
    v1.refresh_from_db()
    assert v1.status == VersionStatus.DRAFT


@pytest.mark.parametrize("who", [*ALL_PERSONAS, "anon"])
def test_authorization_matrix(who, client_for, actors):
    v1 = actions.adopt_protocol(actors["ada"], "iv_racemic_ketamine", "1")
    v2 = actions.edit_protocol(actors["ada"], v1.clinic_protocol, IV_CLINIC_VALUES, "memo")
    client = client_for(who)
    before = list(ClinicProtocolVersion.objects.values_list("pk", "status"))

    statuses = {
        "list": client.get(reverse("protocols-list")).status_code,
        "version": client.get(reverse("protocols-version", args=[v1.pk])).status_code,
        "edit_form": client.get(reverse("protocols-edit", args=[v1.clinic_protocol_id])).status_code,
        "adopt": client.post(reverse("protocols-adopt"), {"code": "spravato_trd", "version": "1"}).status_code,
        "publish": client.post(reverse("protocols-publish", args=[v2.pk])).status_code,
    }

    view = {"ann": 200, "ada": 200, "ben": 200, "tess": 200, "aud": 200, "cy": 403, "ivy": 403, "dee": 200}
    if who == "anon":
        assert set(statuses.values()) == {302}
    else:
        assert statuses["list"] == view[who]
        assert statuses["version"] == (404 if who == "dee" else view[who])
        assert statuses["edit_form"] == (200 if who in ("ann", "ada") else 404 if who == "dee" else 403)
        assert statuses["adopt"] == (302 if who in ("ann", "ada", "dee") else 403)
        assert statuses["publish"] == (302 if who == "ada" else 403)
    if who not in ("ann", "ada", "dee"):
        assert list(ClinicProtocolVersion.objects.values_list("pk", "status")) == before
    if who == "dee":  # Dee adopted for Northside; Harbor Light's protocols are untouched and unseen
        assert ClinicProtocol.objects.filter(clinic=actors["dee"].clinic).count() == 1
        assert (
            list(ClinicProtocolVersion.objects.filter(clinic=actors["ada"].clinic).values_list("pk", "status"))
            == before
        )


def test_list_query_count_does_not_grow(client_for, actors, django_assert_num_queries):
    client = client_for("ben")
    actions.adopt_protocol(actors["ada"], "iv_racemic_ketamine", "1")
    client.get(reverse("protocols-list"))

    with django_assert_num_queries(10) as one:
        client.get(reverse("protocols-list"))
    for code in ("spravato_trd", "spravato_mdsi", "im_ketamine"):
        v = actions.adopt_protocol(actors["ada"], code, "1")
        actions.edit_protocol(actors["ada"], v.clinic_protocol, {"alert_thresholds[spo2_low].value": 92}, "memo")
    with django_assert_num_queries(len(one.captured_queries)):
        client.get(reverse("protocols-list"))
