"""The JSON API (Django Ninja) at /api/v1, OpenAPI at /api/docs. Routers live in each domain."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from ketacare.accounts.api_auth import ApiTokenAuth
from ketacare.accounts.idempotency import IdempotencyConflict
from ketacare.consents.api import router as consents_router
from ketacare.eligibility.api import router as eligibility_router
from ketacare.inventory.api import router as inventory_router
from ketacare.measures.api import alerts_router, instruments_router, responses_router
from ketacare.patients.api import router as patients_router
from ketacare.plans.api import router as plans_router
from ketacare.protocols.api import router as protocols_router
from ketacare.scheduling.api import router as scheduling_router
from ketacare.screening.api import router as intake_router
from ketacare.sessions.api import router as sessions_router

api = NinjaAPI(
    title="KetaCare API",
    version="1",
    description=(
        "Every request needs `Authorization: Bearer <token>` (create one under Account → API tokens "
        "or with `manage.py create_api_token`). A token acts for one user in one clinic, with that "
        "user's role. POST requests accept an `Idempotency-Key` header: a repeat returns the first "
        "result and creates nothing. Errors: 401 no or bad token, 403 role not allowed, 404 missing "
        "or not in your clinic, 409 possible duplicate, 422 invalid input with one entry per field."
    ),
    auth=ApiTokenAuth(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    urls_namespace="api",
)
api.add_router("/v1/patients", patients_router, tags=["patients"])
api.add_router("/v1/patients", responses_router, tags=["measures"])
api.add_router("/v1/instruments", instruments_router, tags=["measures"])
api.add_router("/v1/alerts", alerts_router, tags=["measures"])
api.add_router("/v1/intakes", intake_router, tags=["intake"])
api.add_router("/v1/eligibility", eligibility_router, tags=["eligibility"])
api.add_router("/v1/consents", consents_router, tags=["consents"])
api.add_router("/v1/protocols", protocols_router, tags=["protocols"])
api.add_router("/v1/plans", plans_router, tags=["plans"])
api.add_router("/v1/inventory", inventory_router, tags=["inventory"])
api.add_router("/v1/sessions", sessions_router, tags=["sessions"])
api.add_router("/v1/scheduling", scheduling_router, tags=["scheduling"])


def field_errors(errors: dict[str, list[str]]) -> dict[str, Any]:
    return {"detail": [{"field": field, "msg": msg} for field, msgs in errors.items() for msg in msgs]}


@api.exception_handler(ValidationError)
def on_schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    detail = []
    for error in exc.errors:
        loc = [str(part) for part in error.get("loc", [])]
        # loc is e.g. ["body", "payload", "date_of_birth"]: the field is the part after the schema.
        field = ".".join(loc[2:]) if len(loc) > 2 and loc[0] == "body" else ".".join(loc[1:]) or ".".join(loc)
        detail.append({"field": field, "msg": error.get("msg", "Invalid value."), "loc": loc})
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(DjangoValidationError)
def on_model_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return api.create_response(request, field_errors(errors), status=422)


@api.exception_handler(PermissionDenied)
def on_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Your role does not allow this."}, status=403)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = api.create_response(request, {"detail": "Missing, unknown or revoked API token."}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="ketacare"'
    return response


@api.exception_handler(IdempotencyConflict)
def on_idempotency_conflict(request: HttpRequest, exc: IdempotencyConflict) -> HttpResponse:
    return api.create_response(
        request,
        {"detail": [{"field": "Idempotency-Key", "msg": "This key was already used with a different request body."}]},
        status=422,
    )
