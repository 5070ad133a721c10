"""Start-up checks and DATABASE_URL, each in a fresh interpreter with a controlled environment.

All the interpreters start at once (one fixture), so the module takes about one start-up's time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 20 + "-production-secret-0123456789"
DEV_KEY = "django-insecure-ketacare-development-key-never-use-in-production"
SETUP = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='ketacare.settings'; "
    "import sys; sys.path.insert(0,'src'); django.setup()"
)
REPORT = (
    "; import json; from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, 'DATABASES': s.DATABASES, "
    "'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE, 'CSRF_COOKIE_SECURE': s.CSRF_COOKIE_SECURE, "
    "'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT, 'SECURE_HSTS_SECONDS': s.SECURE_HSTS_SECONDS, "
    "'MFA': s.KETACARE_MFA_ALWAYS_REQUIRED}, default=str))"
)
PRODUCTION = {"KETACARE_ENV": "production", "ALLOWED_HOSTS": "care.example.org"}


def _cases(tmp: Path) -> dict[str, dict[str, str]]:
    secret_file = tmp / "secret"
    secret_file.write_text(GOOD_KEY + "\n")
    return {
        "no_key": {**PRODUCTION},
        "short_key": {**PRODUCTION, "SECRET_KEY": "too-short"},
        "dev_key": {**PRODUCTION, "SECRET_KEY": DEV_KEY},
        "debug": {**PRODUCTION, "SECRET_KEY": GOOD_KEY, "DEBUG": "1"},
        "no_hosts": {"KETACARE_ENV": "production", "SECRET_KEY": GOOD_KEY},
        "bad_env": {"KETACARE_ENV": "prod"},
        "good": {**PRODUCTION, "SECRET_KEY_FILE": str(secret_file)},
        "postgres": {"DATABASE_URL": "postgres://app:s3cret@db.internal:5433/ketacare"},
        "sqlite": {"DATABASE_URL": f"sqlite:///{tmp / 'clinic.sqlite3'}"},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """Case name -> (exit status, stdout, stderr) of `django.setup()` with only that environment."""
    tmp = tmp_path_factory.mktemp("settings")
    path = os.environ.get("PATH", "/usr/bin:/bin")
    processes = {
        name: subprocess.Popen(  # noqa: S603  (our own interpreter, fixed arguments)
            [sys.executable, "-c", SETUP + REPORT],
            cwd=ROOT,
            env={"PATH": path, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, env in _cases(tmp).items()
    }
    results = {}
    for name, process in processes.items():
        out, err = process.communicate(timeout=120)
        results[name] = (process.returncode, out, err)
    results["tmp"] = (0, str(tmp), "")
    return results


def refused(runs: dict[str, tuple[int, str, str]], case: str) -> str:
    status, _, err = runs[case]
    assert status != 0
    assert "ImproperlyConfigured" in err
    return err.strip().splitlines()[-1]


def started(runs: dict[str, tuple[int, str, str]], case: str) -> dict[str, Any]:
    status, out, err = runs[case]
    assert status == 0, err
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def test_production_without_secret_key_refuses_to_start(runs):
    assert "SECRET_KEY must be set" in refused(runs, "no_key")


@pytest.mark.parametrize("case", ["short_key", "dev_key"])
def test_production_with_a_weak_secret_key_refuses_to_start(runs, case):
    assert "SECRET_KEY must be set" in refused(runs, case)


def test_production_with_debug_on_refuses_to_start(runs):
    assert "DEBUG must be off" in refused(runs, "debug")


def test_production_without_allowed_hosts_refuses_to_start(runs):
    assert "ALLOWED_HOSTS must list" in refused(runs, "no_hosts")


def test_an_unknown_environment_name_refuses_to_start(runs):
    assert "KETACARE_ENV must be" in refused(runs, "bad_env")


def test_production_with_a_good_configuration_starts_locked_down(runs):
    report = started(runs, "good")  # the key read from SECRET_KEY_FILE

    assert report["DEBUG"] is False
    assert report["ALLOWED_HOSTS"] == ["care.example.org"]
    assert report["SESSION_COOKIE_SECURE"] is True
    assert report["CSRF_COOKIE_SECURE"] is True
    assert report["SECURE_SSL_REDIRECT"] is True
    assert report["SECURE_HSTS_SECONDS"] == 31536000
    assert report["MFA"] is True  # two-factor for everyone in production


def test_database_url_reads_postgres(runs):
    db = started(runs, "postgres")["DATABASES"]["default"]

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["HOST"], db["PORT"]) == ("ketacare", "app", "db.internal", 5433)
    assert db["CONN_MAX_AGE"] == 60


def test_database_url_reads_an_absolute_sqlite_path(runs):
    db = started(runs, "sqlite")["DATABASES"]["default"]

    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["NAME"] == f"{runs['tmp'][1]}/clinic.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["CONN_MAX_AGE"] == 0
