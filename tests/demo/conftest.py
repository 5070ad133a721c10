"""The demo clinic is seeded once for all demo tests (it takes half a minute): a package-scoped
fixture seeds it inside a transaction that is rolled back after the last demo test. Each test
still runs in its own nested transaction, so what one test changes the next does not see."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings


@pytest.fixture(scope="package")
def seeded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """The output of `manage.py seed_demo` on an empty database; the data stays for the package."""
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])  # as every test
    with django_db_blocker.unblock(), fast, transaction.atomic():
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)
