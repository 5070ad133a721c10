"""The measures tab (measures-history): who sees it, what it shows, its audit row and its query count."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from ketacare.audit.models import AuditEvent
from ketacare.measures import actions
from ketacare.measures.models import Response, ResponseSource

PHQ9_TOTALS = [20, 18, 16, 13, 11, 9, 6, 4]


def phq9(total: int, item9: int = 0) -> dict[str, int]:
    answers = {str(i): 0 for i in range(1, 10)}
    answers["9"] = item9
    left = total - item9
    for i in range(1, 9):
        answers[str(i)] = min(3, left)
        left -= answers[str(i)]
    return answers


def add_phq9(actor, patient, totals, start=datetime.datetime(2026, 1, 5, 15, 0, tzinfo=datetime.UTC)):
    for n, total in enumerate(totals):
        actions.submit_response(
            actor, patient, "phq9", phq9(total), completed_at=start + datetime.timedelta(days=11 * n)
        )


@pytest.fixture
def scored(actors, patient):
    add_phq9(actors["ben"], patient, PHQ9_TOTALS)
    return patient


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("ann", 200),
        ("ada", 200),
        ("ben", 200),
        ("tess", 200),
        ("aud", 200),
        ("cy", 403),
        ("ivy", 403),
        ("dee", 404),
        ("anon", 302),
    ],
)
def test_who_sees_the_measures_tab(persona, status, client_for, scored):
    before = Response.objects.count()
    listed = AuditEvent.objects.filter(event_type="response.listed").count()
    response = client_for(persona).get(reverse("measures-history", args=[scored.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert Response.objects.count() == before
    if status == 200:
        assert b"measure-phq9" in response.content
        assert AuditEvent.objects.filter(event_type="response.listed").count() == listed + 1
    else:
        assert b"measure-phq9" not in response.content
        assert AuditEvent.objects.filter(event_type="response.listed").count() == listed


def test_tab_shows_trend_latest_status_and_history(client_for, scored):
    response = client_for("ada").get(reverse("measures-history", args=[scored.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<svg" in html
    assert 'id="trend-phq9-response-line"' in html
    assert html.count('data-testid="response-row"') == len(PHQ9_TOTALS)
    # Latest 4 against baseline 20: response (>= 50 %) and remission (< 5) both met, each named.
    assert 'data-testid="outcome-response"' in html
    assert "Response met" in html
    assert "Remission met" in html
    assert "total &lt; 5" in html
    assert "≥ 50 % below baseline" in html
    # Each row expands to its answers: item text and the option label chosen.
    assert "Little interest or pleasure in doing things" in html
    assert "Nearly every day (3)" in html
    assert "Ben Novak" in html
    assert "Entered by staff" in html
    # The record menu lists the instruments, clinician-rated ones too.
    assert reverse("measures-enter", args=[scored.pk, "madrs"]) in html


def test_auditor_sees_no_record_menu(client_for, scored):
    html = client_for("aud").get(reverse("measures-history", args=[scored.pk]), HTTP_HX_REQUEST="true").content
    assert b"Record a questionnaire" not in html


def test_audit_row_names_patient_and_responses(client_for, scored, personas):
    client_for("tess").get(reverse("measures-history", args=[scored.pk]), HTTP_HX_REQUEST="true")
    event = AuditEvent.objects.filter(event_type="response.listed").latest("id")
    assert event.patient_id == scored.pk
    assert event.actor_id == personas["tess"].pk
    assert sorted(event.detail["responses"]) == sorted(Response.objects.values_list("pk", flat=True))
    assert event.detail["instruments"] == ["phq9"]


def test_alert_is_linked_on_its_row(client_for, actors, patient):
    response = actions.submit_response(actors["ben"], patient, "phq9", phq9(10, item9=1))
    html = client_for("ada").get(reverse("measures-history", args=[patient.pk]), HTTP_HX_REQUEST="true").content
    assert reverse("measures-alert", args=[response.alert.pk]).encode() in html


def test_invalid_response_shown_as_incomplete(client_for, actors, patient):
    answers = phq9(12)
    del answers["3"]
    actions.submit_response(actors["ben"], patient, "phq9", answers)
    html = client_for("ada").get(reverse("measures-history", args=[patient.pk]), HTTP_HX_REQUEST="true").content
    assert b"No \xe2\x80\x94 incomplete" in html
    assert b"Unanswered: items 3." in html


def test_full_page_without_htmx(client_for, scored):
    response = client_for("ada").get(reverse("measures-history", args=[scored.pk]))
    assert response.status_code == 200
    assert b"<html" in response.content


def test_chart_tab_loads_measures_by_htmx_for_clinicians_only(client_for, scored):
    url = reverse("patients-chart", args=[scored.pk]) + "?tab=measures"
    loader = f'hx-get="{reverse("measures-history", args=[scored.pk])}"'.encode()
    assert loader in client_for("ada").get(url).content
    assert loader not in client_for("cy").get(url).content


def test_query_count_does_not_grow_with_responses(client_for, actors, patient, django_assert_max_num_queries):
    client = client_for("ada")
    url = reverse("measures-history", args=[patient.pk])
    add_phq9(actors["ben"], patient, [20, 15])
    actions.submit_response(actors["ben"], patient, "gad7", {str(i): 1 for i in range(1, 8)})
    actions.submit_response(actors["ben"], patient, "phq9", phq9(5, item9=1))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(url, HTTP_HX_REQUEST="true")
    add_phq9(actors["ben"], patient, [14, 12, 10, 8, 6, 4, 3, 2], start=timezone.now() - datetime.timedelta(days=60))
    actions.submit_response(actors["ada"], patient, "gad7", {str(i): 2 for i in range(1, 8)}, source=ResponseSource.API)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.content.count(b'data-testid="response-row"') == 13
