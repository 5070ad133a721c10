"""Questionnaire links and kiosk mode: lifecycle, scoring and alerts as the patient, reminders, expiry,
the pluggable SMS sender, and who may send, see and cancel."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from ketacare.accounts.context import Origin
from ketacare.audit.models import AuditEvent
from ketacare.measures import links
from ketacare.measures.models import (
    MessageKind,
    QuestionnaireMessage,
    QuestionnaireRequest,
    RequestStatus,
    Response,
    SafetyAlert,
)
from ketacare.measures.tasks import alert_sweep

PHQ9_SAFE = {f"item_{i}": "0" for i in range(1, 11)}
PHQ9_ITEM9 = PHQ9_SAFE | {"item_9": "1"}
DOB = "1985-04-12"
SENT_SMS: list[tuple[str, str]] = []


class CollectingSender:
    def send(self, to: str, body: str) -> None:
        SENT_SMS.append((to, body))


class FailingSender:
    def send(self, to: str, body: str) -> None:
        raise ConnectionError("SMS provider down")


@pytest.fixture(autouse=True)
def _sms(settings):
    SENT_SMS.clear()
    settings.KETACARE_SMS_SENDER = "tests.measures.test_links.CollectingSender"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Send as in production: the transaction commits, then the messages go out."""

    def do(actor, patient, codes):
        with django_capture_on_commit_callbacks(execute=True):
            return links.send_questionnaire(actor, patient, codes)

    return do


@pytest.fixture
def sent(actors, make_patient, send):
    patient = make_patient(email="jordan@example.net")
    return send(actors["ben"], patient, ["phq9"])


def token_from_mail() -> str:
    match = re.search(r"/q/([A-Za-z0-9_-]+)/", mail.outbox[-1].body)
    assert match
    return match.group(1)


def open_link(client, token, dob=DOB):
    return client.post(f"/q/{token}/", {"date_of_birth": dob})


def test_sending_mails_and_texts_the_link_without_phi_and_stores_only_a_hash(sent):
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "Jordan" not in body
    assert "Avery" not in body
    assert "PHQ" not in body
    token = token_from_mail()
    assert [to for to, _ in SENT_SMS] == ["(312) 555-0142"]
    assert token in SENT_SMS[0][1]
    sent.refresh_from_db()
    assert token not in str(QuestionnaireRequest.objects.filter(pk=sent.pk).values().get())
    assert sent.token_hash == links.hash_token(token)
    assert sent.expires_at - sent.created_at == datetime.timedelta(hours=72)
    assert AuditEvent.objects.filter(
        event_type="questionnaire_request.created", actor__email="ben@example.org"
    ).exists()
    assert AuditEvent.objects.filter(event_type="questionnaire_request.sent").count() == 2


def test_clinician_rated_and_unknown_instruments_are_refused(actors, patient):
    with pytest.raises(Exception, match="clinician-rated"):
        links.send_questionnaire(actors["ben"], patient, ["madrs"])
    assert not QuestionnaireRequest.objects.exists()


def test_patient_answers_through_the_link_once_and_is_audited_as_the_patient(client, sent):
    token = token_from_mail()
    assert b"date of birth" in client.get(f"/q/{token}/").content
    assert open_link(client, token).status_code == 302
    page = client.get(f"/q/{token}/")
    assert b'name="item_9"' in page.content
    done = client.post(f"/q/{token}/", {"instrument": "phq9", **PHQ9_SAFE})
    assert done.status_code == 302
    finished = client.get(done["Location"])
    assert b"Thank you" in finished.content
    assert b"988" not in finished.content  # no alert: no crisis box

    response = Response.objects.get()
    assert (response.source, response.total, response.entered_by) == ("link", 0, None)
    sent.refresh_from_db()
    assert sent.status == RequestStatus.COMPLETED
    event = AuditEvent.objects.get(event_type="response.created")
    assert event.actor is None
    assert event.actor_label == f"Patient {sent.patient.mrn} (secure link)"
    assert event.via == "link"
    # Single use: the same link, even in the same browser, is now the neutral page.
    again = client.get(f"/q/{token}/")
    assert again.status_code == 404
    assert client.post(f"/q/{token}/", {"instrument": "phq9", **PHQ9_SAFE}).status_code == 404
    assert Response.objects.count() == 1


def test_item9_raises_the_alert_and_shows_crisis_resources_first(client, sent, clinic):
    token = token_from_mail()
    open_link(client, token)
    done = client.post(f"/q/{token}/", {"instrument": "phq9", **PHQ9_ITEM9})
    page = client.get(done["Location"]).content.decode()
    assert "988" in page
    assert page.index('data-testid="crisis-resources"') < page.index("Your answers were sent")
    alert = SafetyAlert.objects.get()
    assert alert.response.source == "link"
    assert AuditEvent.objects.filter(event_type="safety_alert.raised", patient=sent.patient).exists()
    sent.refresh_from_db()
    assert sent.alert_raised


def test_a_missing_item_is_named_and_nothing_is_stored(client, sent):
    token = token_from_mail()
    open_link(client, token)
    answers = dict(PHQ9_SAFE)
    del answers["item_4"]
    page = client.post(f"/q/{token}/", {"instrument": "phq9", **answers})
    assert page.status_code == 422
    assert b"Please answer question 4" in page.content
    assert b"checked" in page.content  # the other answers are kept
    assert not Response.objects.exists()


def test_three_wrong_dates_of_birth_lock_the_link(client, sent):
    token = token_from_mail()
    assert open_link(client, token, "1990-01-01").status_code == 422
    assert open_link(client, token, "1990-01-02").status_code == 422
    assert open_link(client, token, "1990-01-03").status_code == 404
    # Even the right date now gets the neutral page, from any browser.
    assert open_link(client, token).status_code == 404
    sent.refresh_from_db()
    assert sent.failed_dob_attempts == 3
    assert AuditEvent.objects.filter(event_type="questionnaire_request.dob_failed").count() == 3


def test_unknown_expired_and_cancelled_links_look_the_same(client, sent, actors):
    token = token_from_mail()
    unknown = client.get("/q/not-a-real-token/")
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=73)):
        expired = client.get(f"/q/{token}/")
    links.cancel_request(actors["ben"], sent.pk)
    cancelled = client.get(f"/q/{token}/")
    assert unknown.status_code == expired.status_code == cancelled.status_code == 404
    assert unknown.content == expired.content == cancelled.content


def test_a_verified_browser_cannot_use_another_link(client, actors, make_patient, sent, send):
    token = token_from_mail()
    open_link(client, token)
    other = send(actors["dee"], make_patient(as_="dee", email="x@example.net"), ["phq9"])
    other_token = token_from_mail()
    assert other.clinic_id != sent.clinic_id
    page = client.get(f"/q/{other_token}/")
    assert b"date of birth" in page.content  # asks again: the check is per link


def test_cssrs_follow_ups_are_asked_only_when_they_apply(client, actors, make_patient, send):
    patient = make_patient(email="c@example.net")
    send(actors["ben"], patient, ["cssrs_screen"])
    token = token_from_mail()
    open_link(client, token)
    first = client.get(f"/q/{token}/").content.decode()
    assert 'name="item_3"' not in first
    second = client.post(f"/q/{token}/", {"instrument": "cssrs_screen", "item_1": "1", "item_2": "1", "item_6": "0"})
    assert second.status_code == 422
    assert 'name="item_3"' in second.content.decode()
    assert "Please answer question 3" in second.content.decode()


def test_reminder_is_sent_once_and_expiry_marks_missed(sent):
    mail.outbox.clear()
    SENT_SMS.clear()
    with time_machine.travel(sent.expires_at - datetime.timedelta(hours=30)):
        alert_sweep.enqueue()
    assert not mail.outbox
    with time_machine.travel(sent.expires_at - datetime.timedelta(hours=20)):
        alert_sweep.enqueue()
        alert_sweep.enqueue()
    assert len(mail.outbox) == 1
    assert "reminder" in mail.outbox[0].body.lower()
    assert len(SENT_SMS) == 1
    assert QuestionnaireMessage.objects.filter(kind=MessageKind.REMINDER).count() == 2
    with time_machine.travel(sent.expires_at + datetime.timedelta(minutes=1)):
        alert_sweep.enqueue()
        alert_sweep.enqueue()
    sent.refresh_from_db()
    assert sent.status == RequestStatus.EXPIRED
    assert sent.get_status_display().startswith("Missed")
    assert AuditEvent.objects.filter(event_type="questionnaire_request.expired").count() == 1


def test_a_failed_text_is_kept_and_retried(settings, actors, make_patient, send):
    settings.KETACARE_SMS_SENDER = "tests.measures.test_links.FailingSender"
    row = send(actors["ben"], make_patient(), ["phq9"])
    message = QuestionnaireMessage.objects.get(request=row)
    assert message.sent_at is None
    assert "SMS provider down" in message.last_error
    settings.KETACARE_SMS_SENDER = "tests.measures.test_links.CollectingSender"
    alert_sweep.enqueue()
    message.refresh_from_db()
    assert message.sent_at is not None
    assert len(SENT_SMS) == 1


def test_kiosk_signs_staff_out_skips_dob_and_asks_for_the_tablet_back(client_for, patient, clinic):
    client = client_for("cy")
    started = client.post(reverse("measures-requests-kiosk", args=[patient.pk]), {"instruments": ["phq9"]})
    assert started["Location"] == reverse("measures-q-kiosk")
    assert client.get(reverse("patients-list")).status_code == 302  # staff are signed out
    page = client.get(reverse("measures-q-kiosk"))
    assert b'name="item_1"' in page.content
    assert b"KetaCare</a>" not in page.content  # no staff navigation
    done = client.post(reverse("measures-q-kiosk"), {"instrument": "phq9", **PHQ9_ITEM9})
    final = client.get(done["Location"]).content.decode()
    assert "Please hand the tablet back" in final
    assert final.index("crisis-resources") < final.index("hand the tablet back")
    event = AuditEvent.objects.get(event_type="response.created")
    assert event.actor_label.endswith("(clinic tablet)")
    assert event.via == "kiosk"
    assert client.get(reverse("measures-q-kiosk")).status_code == 302  # finished: back to the done page
    assert Response.objects.count() == 1


@pytest.mark.parametrize(
    ("persona", "page", "may_send"),
    [
        ("ann", 200, True),
        ("ada", 200, True),
        ("ben", 200, True),
        ("tess", 200, True),
        ("cy", 200, True),
        ("ivy", 403, False),
        ("aud", 403, False),
        ("dee", 404, False),
        ("anon", 302, False),
    ],
)
def test_who_may_send_see_and_cancel(persona, page, may_send, client_for, patient, actors):
    existing = links.send_questionnaire(actors["ann"], patient, ["gad7"])
    client = client_for(persona)
    assert client.get(reverse("measures-requests", args=[patient.pk])).status_code == page
    client.post(reverse("measures-requests-send", args=[patient.pk]), {"instruments": ["phq9"]})
    client.post(reverse("measures-requests-cancel", args=[existing.pk]))
    existing.refresh_from_db()
    assert QuestionnaireRequest.objects.count() == (2 if may_send else 1)
    assert existing.status == (RequestStatus.CANCELLED if may_send else RequestStatus.PENDING)


def test_staff_page_lists_pending_completed_and_missed(client_for, actors, make_patient):
    patient = make_patient(email="p@example.net")
    links.send_questionnaire(actors["ben"], patient, ["phq9", "gad7"])
    old = links.send_questionnaire(actors["ben"], patient, ["gad7"])
    QuestionnaireRequest.objects.filter(pk=old.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    links.expire_overdue_requests()
    page = client_for("cy").get(reverse("measures-requests", args=[patient.pk])).content.decode()
    assert "Waiting" in page
    assert "Missed" in page
    assert AuditEvent.objects.filter(event_type="questionnaire_request.listed", patient=patient).exists()


def test_answering_twice_stores_once(sent):
    token = links.token_for(sent.token_salt)
    assert links.usable_by_token(token) == sent
    origin = Origin()
    from ketacare.measures.actions import submit_patient_response

    first, _ = submit_patient_response(sent.pk, "phq9", {str(i): 0 for i in range(1, 10)}, origin=origin)
    assert Response.objects.count() == 1
    assert first.source == "link"


def test_a_double_clicked_send_sends_one_link(client_for, make_patient):
    patient = make_patient(email="jordan@example.net")
    client = client_for("ben")
    data = {"instruments": ["phq9"], "form_token": "6f1c2a52-8d7e-4a3b-9c61-1f2e3d4c5b6a"}

    first = client.post(reverse("measures-requests-send", args=[patient.pk]), data)
    second = client.post(reverse("measures-requests-send", args=[patient.pk]), data, follow=True)

    assert first.status_code == 302
    assert QuestionnaireRequest.objects.filter(patient=patient).count() == 1
    assert b"already sent" in second.content
