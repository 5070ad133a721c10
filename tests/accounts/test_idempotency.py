"""Exactly-once handling of repeated submissions (accounts/idempotency.py)."""

from __future__ import annotations

import pytest

from ketacare.accounts.idempotency import IdempotencyConflict, run_once
from ketacare.accounts.models import IdempotencyKey

pytestmark = pytest.mark.django_db


def test_a_repeat_replays_the_first_outcome(actors):
    calls = []

    def effect():
        calls.append(1)
        return 201, {"id": len(calls)}

    first = run_once(actors["cy"], "k1", "hash-a", effect)
    second = run_once(actors["cy"], "k1", "hash-a", effect)

    assert (first.status_code, first.body, first.replayed) == (201, {"id": 1}, False)
    assert (second.status_code, second.body, second.replayed) == (201, {"id": 1}, True)
    assert len(calls) == 1


def test_same_key_with_another_request_is_a_conflict(actors):
    run_once(actors["cy"], "k1", "hash-a", lambda: (201, {}))

    with pytest.raises(IdempotencyConflict):
        run_once(actors["cy"], "k1", "hash-b", lambda: (201, {}))


def test_a_refused_request_leaves_no_key(actors):
    outcome = run_once(actors["cy"], "k1", "hash-a", lambda: (422, {"detail": []}))

    assert outcome.status_code == 422
    assert not IdempotencyKey.objects.exists()


def test_keys_are_per_user(actors):
    run_once(actors["cy"], "k1", "hash-a", lambda: (201, {"who": "cy"}))

    outcome = run_once(actors["ben"], "k1", "hash-a", lambda: (201, {"who": "ben"}))

    assert outcome.body == {"who": "ben"}
    assert not outcome.replayed


def test_a_key_longer_than_the_column_still_works(actors):
    # The API accepts a 200-character Idempotency-Key and adds its own prefix; PostgreSQL would
    # refuse the longer value ("value too long") if it were stored as is.
    key = "api:patients.create:" + "x" * 200
    calls = []

    def effect():
        calls.append(1)
        return 201, {"n": len(calls)}

    run_once(actors["cy"], key, "hash-a", effect)
    outcome = run_once(actors["cy"], key, "hash-a", effect)

    assert outcome.replayed
    assert len(calls) == 1
    stored = IdempotencyKey.objects.get().key
    assert len(stored) <= 200
    other = run_once(actors["cy"], key[:-1] + "y", "hash-a", effect)
    assert not other.replayed  # a different long key is a different key
