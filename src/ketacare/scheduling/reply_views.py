"""The patient's own pages for a visit, without an account (issue #8).

- `/visit/<token>/`: the visit (date, time, place, type and the preparation instructions) with two
  buttons, "Confirm I will come" and "I need to cancel". The token is 256 random bits; only its
  SHA-256 is stored, and a move replaces it. Unknown token: 404; a visit that has passed or is no
  longer booked: a page saying so. Answers are naturally idempotent (`replies.record_reply`: the
  same answer twice is one row), so a double tap or a resubmitted page changes nothing.
- `/visit/sms-reply/`: the SMS provider's webhook for text replies ("C" / "X"). It answers 404
  unless `settings.KETACARE_SMS_WEBHOOK_SECRET` is set, and 403 unless the request carries that
  secret in `X-KetaCare-Webhook-Secret`.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ketacare.accounts.context import Origin
from ketacare.audit.models import AuditAction
from ketacare.audit.record import record_patient
from ketacare.scheduling import notify, prep, replies
from ketacare.scheduling.models import Appointment, AppointmentState, ReplyKind

CANCEL_REQUESTED = "We have your request and will confirm the cancellation."


def _unknown(request: HttpRequest) -> HttpResponse:
    return render(request, "scheduling/visit_unavailable.html", status=404)


def _context(appointment: Appointment) -> dict[str, object]:
    zone = appointment.clinic.zone
    return {
        "appointment": appointment,
        "first_name": notify.first_name(appointment),
        "when": notify.when_words(appointment),
        "starts_local": timezone.localtime(appointment.starts_at, zone),
        "zone": str(zone),
        "address": notify.address_of(appointment.location),
        "instructions": prep.instructions_for(appointment),
        "cancel_requested": replies.cancel_requested(appointment),
        "cancel_message": CANCEL_REQUESTED,
    }


@never_cache
@require_http_methods(["GET", "POST"])
def visit(request: HttpRequest, token: str) -> HttpResponse:
    appointment = replies.find_by_token(token)
    if appointment is None:
        return _unknown(request)
    origin = Origin.of(request, via="link")
    context = _context(appointment)
    if not replies.is_open(appointment):
        record_patient(
            appointment.clinic, appointment.patient, AuditAction.READ, "appointment.reply_page_closed",
            via="link", subject=appointment, remote_addr=origin.remote_addr, user_agent=origin.user_agent,
        )  # fmt: skip
        context["past"] = appointment.state != AppointmentState.CANCELLED and appointment.starts_at <= timezone.now()
        return render(request, "scheduling/visit_closed.html", context)
    errors: dict[str, str] = {}
    if request.method == "POST":
        answer = request.POST.get("answer", "")
        if answer not in ReplyKind.values:
            errors["answer"] = "Choose “Confirm I will come” or “I need to cancel”."
        else:
            try:
                replies.record_reply(
                    appointment, answer, "link", raw=request.POST.get("reason", "")[:500], origin=origin
                )
            except ValidationError:
                return render(request, "scheduling/visit_closed.html", context)
            return HttpResponseRedirect(reverse("scheduling-visit", args=[token]) + f"?done={answer}")
    else:
        record_patient(
            appointment.clinic, appointment.patient, AuditAction.READ, "appointment.reply_page_opened",
            via="link", subject=appointment, remote_addr=origin.remote_addr, user_agent=origin.user_agent,
        )  # fmt: skip
    context.update(errors=errors, done=request.GET.get("done", ""))
    return render(request, "scheduling/visit.html", context, status=422 if errors else 200)


@csrf_exempt
@never_cache
def sms_reply(request: HttpRequest) -> HttpResponse:
    secret = str(getattr(settings, "KETACARE_SMS_WEBHOOK_SECRET", "") or "")
    if not secret:
        raise Http404("Text replies are not set up.")
    given = request.headers.get("X-KetaCare-Webhook-Secret", "")
    if not given or not hmac.compare_digest(given.encode(), secret.encode()):
        return JsonResponse({"error": "Wrong or missing webhook secret."}, status=403)
    if request.method != "POST":
        return JsonResponse({"error": "POST the reply."}, status=405)
    sender = request.POST.get("from", "").strip()
    body = request.POST.get("body", "")
    if not sender:
        return JsonResponse({"error": "The field 'from' is required."}, status=422)
    note, row = replies.handle_sms(sender, body)
    return JsonResponse({"status": note, "recorded": row is not None})
