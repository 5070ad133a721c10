"""Sign and lock: the nurse and the prescriber each sign the session note with their own password;
with both signatures the session is signed and read-only. Corrections are addenda (issue #7 item 6).

One person, one signature role: a nurse signs as the nurse, a prescriber as the prescriber; a
prescriber who also charted at the chair does not sign the nurse's part. The signatures are rows of
the session (charted), so they are written before the final step to `signed`. Before that step the
Spravato REMS form must be complete (`pmf.signing_blockers`), and is frozen in the same transaction
(`pmf.freeze_for_signature`).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketacare.accounts.context import Actor
from ketacare.accounts.roles import Perm, Role
from ketacare.audit.models import AuditAction, AuditOutcome
from ketacare.audit.record import record
from ketacare.sessions import alerts, core, pmf
from ketacare.sessions.lifecycle import State
from ketacare.sessions.models import Addendum, SessionSignature, SignerRole, TreatmentSession

MEANINGS: dict[str, str] = {
    SignerRole.NURSE: (
        "I attest that I monitored this patient during this treatment session and that the vital signs, "
        "ratings, side effects, doses given and discharge recorded in this note are accurate and complete."
    ),
    SignerRole.PRESCRIBER: (
        "I attest that I supervised this treatment session, reviewed this note, its alerts and the "
        "discharge decision, and that it is accurate and complete."
    ),
}
SIGNABLE = (State.DISCHARGED, State.STOPPED_EARLY)


class WrongPassword(ValidationError):
    """The signer's own password was wrong (audited after the rollback)."""


def signer_role(actor: Actor) -> str:
    """The signature role of the actor: nurse (role nurse) or prescriber (role prescriber)."""
    if actor.role == Role.PRESCRIBER and actor.can(Perm.SESSION_ORDER):
        return SignerRole.PRESCRIBER
    if actor.role == Role.NURSE and actor.can(Perm.SESSION_CHART):
        return SignerRole.NURSE
    raise PermissionDenied("Only the session's nurse or a prescriber signs the session note.")


def sign(actor: Actor, session: TreatmentSession, *, password: str, audit_refusal: bool = True) -> SessionSignature:
    """Sign as the actor's role; with both signatures the session becomes signed and read-only.

    A wrong password changes nothing and is audited as a failure (`audit_password_refusal`, written
    after the rollback). A caller that runs this inside its own transaction (an idempotency key)
    passes `audit_refusal=False` and calls `audit_password_refusal` itself once that has rolled back.
    Raises PermissionDenied, SessionLocked (already signed), ValidationError on "state", "password"
    (`WrongPassword`) or "signature".
    """
    try:
        return _sign(actor, session, password)
    except WrongPassword:
        if audit_refusal:
            audit_password_refusal(actor, session)
        raise


def audit_password_refusal(actor: Actor, session: TreatmentSession) -> None:
    """The audit row of a signature refused for a wrong password (call outside the failed transaction)."""
    record(
        actor,
        AuditAction.EXECUTE,
        "session.sign_refused",
        subject=session,
        patient=session.patient,
        outcome=AuditOutcome.MINOR_FAILURE,
        detail={"reason": "wrong password"},
    )


@transaction.atomic
def _sign(actor: Actor, session: TreatmentSession, password: str) -> SessionSignature:
    core.require(actor, Perm.SESSION_CHART)
    role = signer_role(actor)
    session = core.locked_session(actor, session, Perm.SESSION_CHART)
    if session.state not in SIGNABLE:
        raise ValidationError(
            {"state": f"The session is signed once the patient is discharged (it is {session.state_label.lower()})."}
        )
    if not password or not actor.user.check_password(password):
        raise WrongPassword({"password": "The password is not correct. Re-enter your own password to sign."})
    existing = list(session.signatures.all())
    for signature in existing:
        if signature.signed_by_id == actor.user.pk:
            raise ValidationError({"signature": f"You already signed this session as the {signature.role}."})
        if signature.role == role:
            raise ValidationError(
                {
                    "signature": f"The {role} signature is already there ({signature.signer_label}); "
                    "the other role signs next."
                }
            )
    now = timezone.now()
    signature = SessionSignature.objects.create(
        clinic=session.clinic,
        session=session,
        role=role,
        signed_by=actor.user,
        signer_label=actor.user.display_name[:250],
        meaning=MEANINGS[role],
        signed_at=now,
    )
    core.add_event(
        actor, session, "signature", f"Signed by {signature.signer_label} as {role}", detail={"signature": signature.pk}
    )
    record(
        actor,
        AuditAction.EXECUTE,
        "session.signed_part",
        subject=session,
        patient=session.patient,
        detail={"role": role, "signature": signature.pk},
    )
    if len(existing) + 1 >= len(SignerRole.values):
        # Once signed, nothing of the session changes, so an alert left open then could never be
        # resolved: the prescriber resolves every alert before the note is final.
        unresolved = alerts.open_alerts(session)
        blockers = [f"Alert not resolved yet: {a.summary} (a prescriber resolves it first)." for a in unresolved]
        blockers += pmf.signing_blockers(session)
        if blockers:
            raise ValidationError({"signature": list(blockers)})
        pmf.freeze_for_signature(actor, session)
        core.transition(
            actor, session, State.SIGNED, at=now, summary="Signed by nurse and prescriber: the note is final"
        )
    return signature


@transaction.atomic
def add_addendum(actor: Actor, session: TreatmentSession, text: str) -> Addendum:
    """A correction or late entry to a signed session; the note itself never changes."""
    core.require(actor, Perm.SESSION_ADDENDUM)
    if session.clinic_id != actor.clinic.pk:
        from django.http import Http404

        raise Http404("No such session.")
    session = (
        TreatmentSession.objects.select_for_update(of=("self",)).select_related("clinic", "patient").get(pk=session.pk)
    )
    if session.state != State.SIGNED:
        raise ValidationError({"text": "Addenda are added once the session is signed; until then, chart directly."})
    if not text.strip():
        raise ValidationError({"text": "Addendum: write the correction or late entry."})
    row = Addendum.objects.create(
        clinic=session.clinic,
        session=session,
        text=text.strip(),
        author=actor.user,
        author_label=actor.user.display_name[:250],
    )
    core.add_event(actor, session, "addendum", f"Addendum by {row.author_label}", detail={"addendum": row.pk})
    record(
        actor,
        AuditAction.CREATE,
        "session.addendum",
        subject=row,
        patient=session.patient,
        detail={"session": session.pk},
    )
    return row
