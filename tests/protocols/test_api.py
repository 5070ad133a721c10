"""/api/v1/protocols: library, the clinic's copies, adopt, edit (new draft version), publish."""

from __future__ import annotations

import pytest

from ketacare.audit.models import AuditEvent
from ketacare.protocols.models import ClinicProtocolVersion, VersionStatus
from tests.conftest import ALL_PERSONAS
from tests.protocols.clinic_values import IV_CLINIC_VALUES


def post(client, url, body=None, key=None):
    return client.post(
        url, body or {}, content_type="application/json", headers={"Idempotency-Key": key} if key else {}
    )


def test_library_list_and_detail(api_client_for):
    client = api_client_for("tess")

    listed = client.get("/api/v1/protocols/library").json()
    detail = client.get("/api/v1/protocols/library/iv_racemic_ketamine/1").json()

    assert {p["code"] for p in listed} == {
        "iv_racemic_ketamine",
        "im_ketamine",
        "spravato_trd",
        "spravato_mdsi",
        "oral_sublingual_ketamine",
    }
    assert detail["data"]["dose"]["amount"] == "0.5"
    assert "dose.max_mg" in detail["missing_clinic_values"]
    assert client.get("/api/v1/protocols/library/nope/1").status_code == 404


def test_adopt_edit_publish_flow(api_client_for):
    admin, prescriber = api_client_for("ann"), api_client_for("ada")

    adopted = post(admin, "/api/v1/protocols", {"code": "iv_racemic_ketamine", "version": "1"}, key="a1")
    replay = post(admin, "/api/v1/protocols", {"code": "iv_racemic_ketamine", "version": "1"}, key="a1")
    assert (adopted.status_code, replay.status_code) == (201, 200)
    copy_id = adopted.json()["clinic_protocol_id"]

    bad = post(admin, f"/api/v1/protocols/{copy_id}/versions", {"changes": {"dose.max_mg": "0"}, "change_note": "x"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "dose.max_mg"
    refused = post(prescriber, f"/api/v1/protocols/versions/{adopted.json()['id']}/publish")
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["detail"]} == {"missing_clinic_values"}

    edited = post(admin, f"/api/v1/protocols/{copy_id}/versions", {"changes": IV_CLINIC_VALUES, "change_note": "memo"})
    assert edited.status_code == 201
    assert (edited.json()["version"], edited.json()["missing_clinic_values"]) == (2, [])
    assert post(admin, f"/api/v1/protocols/versions/{edited.json()['id']}/publish").status_code == 403
    published = post(prescriber, f"/api/v1/protocols/versions/{edited.json()['id']}/publish")
    assert published.status_code == 200
    assert published.json()["status"] == "published"

    copy = admin.get(f"/api/v1/protocols/{copy_id}").json()
    assert copy["published_version_id"] == edited.json()["id"]
    assert [v["version"] for v in copy["versions"]] == [2, 1]
    assert admin.get("/api/v1/protocols").json()[0]["id"] == copy_id
    assert admin.get(f"/api/v1/protocols/versions/{edited.json()['id']}").json()["data"]["dose"]["max_mg"] == "60"
    assert AuditEvent.objects.filter(event_type__startswith="clinic_protocol.").count() == 3


@pytest.mark.parametrize("who", [*ALL_PERSONAS, "anon"])
def test_authorization_matrix(who, api_client_for, actors):
    from ketacare.protocols import actions

    v1 = actions.adopt_protocol(actors["ada"], "iv_racemic_ketamine", "1")
    v2 = actions.edit_protocol(actors["ada"], v1.clinic_protocol, IV_CLINIC_VALUES, "memo")
    client = api_client_for(who)
    before = list(ClinicProtocolVersion.objects.filter(clinic=v1.clinic).values_list("pk", "status"))

    got = {
        "library": client.get("/api/v1/protocols/library").status_code,
        "copy": client.get(f"/api/v1/protocols/{v1.clinic_protocol_id}").status_code,
        "version": client.get(f"/api/v1/protocols/versions/{v1.pk}").status_code,
        "publish": post(client, f"/api/v1/protocols/versions/{v2.pk}/publish").status_code,
        "edit": post(
            client,
            f"/api/v1/protocols/{v1.clinic_protocol_id}/versions",
            {"changes": {"dose.max_mg": "50"}, "change_note": "x"},
        ).status_code,
    }

    if who == "anon":
        assert set(got.values()) == {401}
        return
    readers = {"ann", "ada", "ben", "tess", "aud", "dee"}
    assert got["library"] == (200 if who in readers else 403)
    assert got["copy"] == got["version"] == (404 if who == "dee" else 200 if who in readers else 403)
    assert got["edit"] == (201 if who in ("ann", "ada") else 404 if who == "dee" else 403)
    assert got["publish"] == (200 if who == "ada" else 403)
    if who not in ("ann", "ada"):
        assert list(ClinicProtocolVersion.objects.filter(clinic=v1.clinic).values_list("pk", "status")) == before
    else:
        assert ClinicProtocolVersion.objects.get(pk=v2.pk).status == (
            VersionStatus.PUBLISHED if who == "ada" else VersionStatus.DRAFT
        )
