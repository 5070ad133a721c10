"""Exactly-once handling of repeated submissions (API `Idempotency-Key`, form one-time tokens).

The key row is inserted first, inside the same transaction as the effect. A concurrent repeat
blocks on the unique index until the first commits, then finds the stored outcome; a repeat after
a failure (rolled back) runs again. Same key with a different request body: `IdempotencyConflict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from ketacare.accounts.context import Actor
from ketacare.accounts.models import IdempotencyKey


class IdempotencyConflict(Exception):
    """The key was used before with a different request."""


@dataclass(frozen=True)
class Outcome:
    status_code: int
    body: Any
    replayed: bool


KEY_MAX = IdempotencyKey._meta.get_field("key").max_length or 200


def _stored(key: str) -> str:
    """The key as stored: itself, or its hash when longer than the column.

    Callers add a prefix ("api:patients.create:") to a client's key of up to 200 characters;
    PostgreSQL would refuse the longer value (a 500), SQLite would store it whole.
    """
    if len(key) <= KEY_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_once(actor: Actor, key: str, request_hash: str, effect: Callable[[], tuple[int, Any]]) -> Outcome:
    """Run `effect` (returning status and JSON body) once per (clinic, user, key)."""
    key = _stored(key)
    existing = _find(actor, key)
    if existing is not None:
        return _replay(existing, request_hash)
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(
                clinic=actor.clinic, user=actor.user, key=key, request_hash=request_hash
            )
            status_code, body = effect()
            if status_code >= 400:
                # A refused request leaves no trace, so it may be corrected and sent again.
                transaction.set_rollback(True)
                return Outcome(status_code, body, replayed=False)
            row.status_code = status_code
            row.response = body
            row.save(update_fields=["status_code", "response"])
            return Outcome(status_code, body, replayed=False)
    except IntegrityError:
        existing = _find(actor, key)
        if existing is None:
            raise
        return _replay(existing, request_hash)


def _find(actor: Actor, key: str) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(clinic=actor.clinic, user=actor.user, key=key).first()


def _replay(row: IdempotencyKey, request_hash: str) -> Outcome:
    if row.request_hash != request_hash:
        raise IdempotencyConflict(row.key)
    return Outcome(row.status_code or 200, row.response, replayed=True)
