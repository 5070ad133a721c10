"""Staff entry of a questionnaire (measures-enter): form from the instrument, skip logic, errors, repeats."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from ketacare.audit.models import AuditEvent
from ketacare.measures.models import Response, ResponseSource, SafetyAlert


def post_data(answers: dict[str, int], **extra: str) -> dict[str, str]:
    data = {f"item_{k}": str(v) for k, v in answers.items()}
    data.setdefault("form_token", str(uuid.uuid4()))
    data.update(extra)
    return data


PHQ9 = {str(i): 1 for i in range(1, 9)} | {"9": 0}


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("ann", 200),
        ("ada", 200),
        ("ben", 200),
        ("tess", 200),
        ("aud", 403),
        ("cy", 403),
        ("ivy", 403),
        ("dee", 404),
        ("anon", 302),
    ],
)
def test_who_may_enter(persona, status, client_for, patient):
    client = client_for(persona)
    url = reverse("measures-enter", args=[patient.pk, "phq9"])
    assert client.get(url).status_code == status
    client.post(url, post_data(PHQ9))
    assert Response.objects.count() == (1 if status == 200 else 0)


def test_form_has_radio_buttons_with_option_labels(client_for, patient):
    html = client_for("ben").get(reverse("measures-enter", args=[patient.pk, "phq9"])).content.decode()
    assert 'type="radio" name="item_1" value="3"' in html
    assert "Nearly every day (3)" in html
    assert "Little interest or pleasure in doing things" in html
    assert 'name="form_token"' in html


def test_unknown_instrument_is_404(client_for, patient):
    assert client_for("ben").get(reverse("measures-enter", args=[patient.pk, "nope"])).status_code == 404


def test_valid_entry_stores_a_staff_response_and_redirects(client_for, patient, personas):
    response = client_for("ben").post(reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(PHQ9))
    assert response.status_code == 302
    assert response["Location"] == reverse("patients-chart", args=[patient.pk]) + "?tab=measures"
    stored = Response.objects.get()
    assert stored.source == ResponseSource.STAFF
    assert stored.entered_by == personas["ben"]
    assert stored.total == 8
    assert stored.answers == PHQ9
    assert AuditEvent.objects.filter(event_type="response.created", patient=patient).count() == 1


def test_completed_at_is_read_in_the_clinic_zone(client_for, patient):
    client_for("ben").post(
        reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(PHQ9, completed_at="2026-01-10T09:30")
    )
    stored = Response.objects.get()
    # Harbor Light is in America/Chicago: 09:30 CST is 15:30 UTC.
    assert stored.completed_at.isoformat() == "2026-01-10T15:30:00+00:00"


def test_missing_item_is_422_naming_it_and_stores_nothing(client_for, patient):
    answers = dict(PHQ9)
    del answers["4"]
    response = client_for("ben").post(reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(answers))
    assert response.status_code == 422
    assert "Item 4: choose an answer" in response.content.decode()
    assert "Nothing was saved" in response.content.decode()
    # What was typed is kept.
    assert 'name="item_1" value="1" id="id_item_1_1" checked' in response.content.decode()
    assert Response.objects.count() == 0


def test_out_of_range_answer_is_422(client_for, patient):
    response = client_for("ben").post(reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(PHQ9 | {"2": 7}))
    assert response.status_code == 422
    assert Response.objects.count() == 0


def test_incomplete_may_be_stored_on_purpose(client_for, patient):
    answers = dict(PHQ9)
    del answers["4"]
    client_for("ben").post(reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(answers, incomplete="on"))
    stored = Response.objects.get()
    assert stored.valid is False
    assert stored.total is None


def test_double_submit_stores_one_response(client_for, patient):
    client = client_for("ben")
    data = post_data(PHQ9)
    first = client.post(reverse("measures-enter", args=[patient.pk, "phq9"]), data)
    second = client.post(reverse("measures-enter", args=[patient.pk, "phq9"]), data)
    assert first.status_code == second.status_code == 302
    assert Response.objects.count() == 1


def test_item9_raises_an_alert_and_tells_the_clinician(client_for, patient):
    client = client_for("ben")
    response = client.post(
        reverse("measures-enter", args=[patient.pk, "phq9"]), post_data(PHQ9 | {"9": 1}), follow=True
    )
    assert SafetyAlert.objects.filter(patient=patient).count() == 1
    assert "A safety alert was raised" in response.content.decode()


def test_cssrs_follow_up_items_only_when_asked(client_for, patient):
    client = client_for("ben")
    url = reverse("measures-enter", args=[patient.pk, "cssrs_screen"])
    html = client.get(url).content.decode()
    assert 'data-testid="item-3"' not in html  # asked only when item 2 is yes
    assert 'data-testid="skipped-note"' in html
    html = client.get(url, {"item_2": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="item-3"' in html
    assert "<html" not in html  # the items only, for HTMX
    # Item 2 "yes" without items 3-5: each is named.
    response = client.post(url, post_data({"1": 1, "2": 1, "6": 0}))
    assert response.status_code == 422
    for item in ("3", "4", "5"):
        assert f"Item {item}: choose an answer" in response.content.decode()
    # Item 2 "no": follow-ups are not asked, and a stale answer to one is dropped, not refused.
    response = client.post(url, post_data({"1": 0, "2": 0, "3": 1, "6": 0}))
    assert response.status_code == 302
    assert Response.objects.get().answers == {"1": 0, "2": 0, "6": 0}


def test_clinician_rated_madrs_is_entered_here(client_for, patient):
    answers = {str(i): 2 for i in range(1, 11)}
    response = client_for("ada").post(reverse("measures-enter", args=[patient.pk, "madrs"]), post_data(answers))
    assert response.status_code == 302
    assert Response.objects.get().total == 20
