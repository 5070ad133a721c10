"""View guards: signed in, a member of the current clinic, and a role that grants the permission."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from ketacare.accounts.context import Actor
from ketacare.accounts.signals import permission_refused

V = TypeVar("V", bound=Callable[..., HttpResponseBase])


def clinic_view(perm: str) -> Callable[[V], V]:
    """Require a signed-in member of the current clinic whose role grants `perm` (else 403)."""

    def decorator(view: V) -> V:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            actor: Actor | None = getattr(request, "actor", None)
            if actor is None or not actor.can(perm):
                if actor is not None:
                    permission_refused.send(sender=None, actor=actor, permission=perm, path=request.path)
                raise PermissionDenied(f"Your role does not allow {perm}.")
            return view(request, *args, **kwargs)

        return cast(V, wrapped)

    return decorator


def actor_of(request: HttpRequest) -> Actor:
    actor: Actor = request.actor  # type: ignore[attr-defined]
    return actor
