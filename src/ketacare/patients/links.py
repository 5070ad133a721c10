"""Secure links a patient opens without an account: the intake packet and consents to sign.

The same mechanics as questionnaire links (`measures.links`): a 256-bit token derived from a random
per-link salt with SECRET_KEY (HMAC-SHA256), only its SHA-256 stored, a lifetime, and a date-of-birth
check that locks the link after `MAX_DOB_ATTEMPTS` wrong dates. The pages are the domain's own
(`/intake/<token>/`, `/consent/<token>/`); they call `usable_by_token`, `check_date_of_birth`,
`mark_verified`/`is_verified` (this browser passed the check) and `complete`.

Every refusal looks the same to the person holding the link (unknown, expired, used, cancelled or
locked): the pages show one neutral page.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone

from ketacare.accounts.context import Actor, Origin
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record, record_patient
from ketacare.patients.models import LinkPurpose, Patient, PatientLink

DEFAULT_LIFETIME = datetime.timedelta(days=7)
MAX_DOB_ATTEMPTS = 3
_SESSION_KEY = "patient_links_verified"
_PATHS = {LinkPurpose.INTAKE: "intake", LinkPurpose.CONSENT: "consent"}


def token_for(salt: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"ketacare.link:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_path(link: PatientLink) -> str:
    return f"/{_PATHS[LinkPurpose(link.purpose)]}/{token_for(link.token_salt)}/"


def link_url(link: PatientLink) -> str:
    """The absolute URL to give the patient (e-mail, SMS, QR code or copy)."""
    return settings.KETACARE_BASE_URL.rstrip("/") + link_path(link)


def create_link(
    actor: Actor,
    patient: Patient,
    purpose: LinkPurpose,
    *,
    subject_id: int | None = None,
    payload: dict[str, Any] | None = None,
    lifetime: datetime.timedelta = DEFAULT_LIFETIME,
    perm: str,
) -> PatientLink:
    """A new link for `patient`, made by `actor` (who must hold `perm`), audited. Call inside the
    caller's transaction; earlier open links for the same purpose and subject are cancelled."""
    if not actor.can(perm):
        raise PermissionDenied(f"Your role does not allow {perm}.")
    if patient.clinic_id != actor.clinic.pk:
        raise Http404("No such patient.")
    now = timezone.now()
    PatientLink.objects.filter(
        patient=patient, purpose=purpose, subject_id=subject_id, completed_at=None, cancelled_at=None
    ).update(cancelled_at=now)
    salt = secrets.token_hex(16)
    link = PatientLink.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        purpose=purpose,
        subject_id=subject_id,
        payload=payload or {},
        token_salt=salt,
        token_hash=hash_token(token_for(salt)),
        created_by=actor.user,
        created_at=now,
        expires_at=now + lifetime,
    )
    record(actor, AuditAction.CREATE, f"{purpose}_link.created", subject=link, patient=patient)
    return link


def is_usable(link: PatientLink) -> bool:
    return (
        link.completed_at is None
        and link.cancelled_at is None
        and link.expires_at > timezone.now()
        and link.failed_dob_attempts < MAX_DOB_ATTEMPTS
    )


def usable_by_token(token: str, purpose: LinkPurpose) -> PatientLink | None:
    """The link behind a token, or None when unknown, of another purpose, expired, used, cancelled or locked."""
    if not token or len(token) > 100:
        return None
    link = PatientLink.objects.select_related("clinic", "patient").filter(token_hash=hash_token(token)).first()
    if link is None or link.purpose != purpose or not is_usable(link):
        return None
    return link


@transaction.atomic
def check_date_of_birth(link_id: int, date_of_birth: datetime.date, *, origin: Origin) -> tuple[bool, int]:
    """(matched, tries left). The third wrong date locks the link for good. Both outcomes are audited."""
    link = PatientLink.objects.select_for_update().select_related("clinic", "patient").get(pk=link_id)
    if not is_usable(link):
        return False, 0
    if link.patient.date_of_birth == date_of_birth:
        record_patient(
            link.clinic, link.patient, AuditAction.READ, f"{link.purpose}_link.opened", via="link", subject=link,
            remote_addr=origin.remote_addr, user_agent=origin.user_agent,
        )  # fmt: skip
        return True, MAX_DOB_ATTEMPTS - link.failed_dob_attempts
    link.failed_dob_attempts += 1
    link.save(update_fields=["failed_dob_attempts"])
    locked = link.failed_dob_attempts >= MAX_DOB_ATTEMPTS
    record_patient(
        link.clinic,
        link.patient,
        AuditAction.READ,
        f"{link.purpose}_link.dob_failed",
        via="link",
        subject=link,
        outcome=AuditOutcome.MINOR_FAILURE,
        detail={"attempts": link.failed_dob_attempts, "locked": locked},
        remote_addr=origin.remote_addr,
        user_agent=origin.user_agent,
    )
    return False, MAX_DOB_ATTEMPTS - link.failed_dob_attempts


def mark_verified(request: HttpRequest, link: PatientLink) -> None:
    """Remember in this browser's session that the date of birth was checked for `link`."""
    verified = set(request.session.get(_SESSION_KEY, []))
    verified.add(link.pk)
    request.session[_SESSION_KEY] = sorted(verified)
    request.session.cycle_key()


def is_verified(request: HttpRequest, link: PatientLink) -> bool:
    return link.pk in request.session.get(_SESSION_KEY, [])


def complete(link: PatientLink) -> None:
    """Mark the link used (inside the transaction that saved what the patient sent)."""
    updated = PatientLink.objects.filter(pk=link.pk, completed_at=None, cancelled_at=None).update(
        completed_at=timezone.now()
    )
    if not updated:
        raise ValueError("This link was already used or cancelled.")


def cancel_open_links(patient: Patient, purpose: LinkPurpose, subject_id: int | None = None) -> int:
    return PatientLink.objects.filter(
        patient=patient, purpose=purpose, subject_id=subject_id, completed_at=None, cancelled_at=None
    ).update(cancelled_at=timezone.now())


def date_of_birth_page(
    request: HttpRequest,
    *,
    check: Callable[[datetime.date], tuple[bool, int]],
    on_match: Callable[[], None],
    template: str,
    context: dict[str, Any],
    neutral: Callable[[HttpRequest], HttpResponse],
) -> HttpResponse:
    """The page that asks for the date of birth before a patient link shows anything, for any kind
    of link (GET: the form; POST: `check(date) -> (matched, tries left)`). A match calls `on_match`
    and reloads the link; a miss says how many tries are left; the last miss gets `neutral`, the
    same page as any unusable link."""
    error = ""
    if request.method == "POST" and "date_of_birth" in request.POST:
        try:
            dob = datetime.date.fromisoformat(request.POST["date_of_birth"].strip())
        except ValueError:
            error = "Enter your date of birth, for example 04/12/1985."
        else:
            matched, left = check(dob)
            if matched:
                on_match()
                return HttpResponseRedirect(request.path)
            if left <= 0:
                return neutral(request)
            error = (
                "That date of birth does not match our records. "
                f"You can try {left} more time{'s' if left != 1 else ''}."
            )
    return render(
        request,
        template,
        {**context, "error": error, "value": request.POST.get("date_of_birth", "")},
        status=422 if error else 200,
    )


def date_of_birth_gate(
    request: HttpRequest, link: PatientLink, *, template: str, neutral: Callable[[HttpRequest], HttpResponse]
) -> HttpResponse:
    """`date_of_birth_page` for a `PatientLink` (intake, consent): checked and audited by
    `check_date_of_birth`, remembered in this browser by `mark_verified`."""
    origin = Origin.of(request, via="link")
    return date_of_birth_page(
        request,
        check=lambda dob: check_date_of_birth(link.pk, dob, origin=origin),
        on_match=lambda: mark_verified(request, link),
        template=template,
        context={"clinic": link.clinic},
        neutral=neutral,
    )
