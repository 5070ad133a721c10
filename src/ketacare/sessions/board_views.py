"""The live floor board (placeholder until its owner fills it)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from ketacare.accounts.decorators import clinic_view
from ketacare.accounts.roles import Perm


@clinic_view(Perm.SESSION_BOARD)
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Floor board")
