"""The staff calendar feed's pages (issue #8): `/schedule/feed/` to create or revoke one's secret
link, and `/schedule/feed/<token>.ics`, which a calendar app fetches with no login (feeds.py)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ketacare.accounts.decorators import actor_of, clinic_view
from ketacare.accounts.idempotency import IdempotencyConflict, fingerprint, run_once
from ketacare.accounts.roles import Perm
from ketacare.lib.http import form_token
from ketacare.scheduling import feeds


def _page(request: HttpRequest, *, new_url: str = "", status: int = 200) -> HttpResponse:
    actor = actor_of(request)
    response = render(
        request,
        "scheduling/feed.html",
        {"feed": feeds.live_feed(actor), "new_url": new_url, "form_token": uuid.uuid4()},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@clinic_view(Perm.SCHEDULE_VIEW)
@never_cache
@require_http_methods(["GET", "POST"])
def feed_page(request: HttpRequest) -> HttpResponse:
    """GET: whether a feed is live. POST `action=create`: a new secret link, shown once in the
    response (never stored in clear, not even for a repeated submission). POST `action=revoke`."""
    if request.method != "POST":
        return _page(request)
    actor = actor_of(request)
    action = request.POST.get("action", "")
    token = form_token(request)
    if action not in ("create", "revoke"):
        messages.error(request, "Action: choose “Create a new link” or “Revoke”.")
        return HttpResponseRedirect(reverse("scheduling-feed"))
    made: dict[str, str] = {}

    def effect() -> tuple[int, Any]:
        if action == "create":
            made["token"] = feeds.create_feed(actor)
            return 201, {"created": True}
        return 200, {"revoked": feeds.revoke_feed(actor)}

    try:
        if token:
            outcome = run_once(actor, f"form:schedule-feed:{token}", fingerprint({"action": action}), effect)
            replayed, body = outcome.replayed, outcome.body
        else:
            _, body = effect()
            replayed = False
    except IdempotencyConflict:
        messages.error(request, "This form was already submitted; reload the page and try again.")
        return HttpResponseRedirect(reverse("scheduling-feed"))
    if action == "create":
        if replayed or "token" not in made:
            messages.warning(
                request,
                "That link was already created by this form and is shown only once. "
                "If you did not copy it, create a new link (the old one stops working).",
            )
            return HttpResponseRedirect(reverse("scheduling-feed"))
        return _page(request, new_url=feeds.feed_url(made["token"]), status=201)
    if body.get("revoked") and not replayed:
        messages.success(request, "Your calendar link is revoked: calendar apps using it get nothing from now on.")
    elif not replayed:
        messages.info(request, "You had no live calendar link.")
    return HttpResponseRedirect(reverse("scheduling-feed"))


@require_GET
def feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The feed itself: no login, the secret in the URL. Unknown or revoked: 404."""
    body = feeds.render_feed(token)
    if body is None:
        raise Http404("No such calendar feed.")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="ketacare.ics"'
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response
