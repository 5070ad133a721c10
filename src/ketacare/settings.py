"""KetaCare settings.

One file, read from the environment (Healthchecks style). Every variable is listed in
`docs/operations.md`. In production (`KETACARE_ENV=production`) a missing secret key, `DEBUG`
left on or no `ALLOWED_HOSTS` stops the process at start-up.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ketacare.lib.env import env_bool, env_int, env_list, env_str

SRC_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = SRC_DIR.parent
VAR_DIR = Path(env_str("KETACARE_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_str("KETACARE_ENV", "development")
if ENVIRONMENT not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"KETACARE_ENV must be development, test or production, not {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
_DEV_SECRET = "django-insecure-ketacare-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET)

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 40:
        raise ImproperlyConfigured("SECRET_KEY must be set (at least 40 characters) when KETACARE_ENV=production")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when KETACARE_ENV=production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    # Without it every request gets 400; say so at start-up rather than at the first request.
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the site's host names when KETACARE_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.admin",
    "ninja",  # serves Swagger UI from its own static files, not from a CDN
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "ketacare.clinics",
    "ketacare.accounts",
    "ketacare.audit",
    "ketacare.patients",
    "ketacare.measures",
    "ketacare.screening",
    "ketacare.protocols",
    "ketacare.eligibility",
    "ketacare.consents",
    "ketacare.plans",
    "ketacare.inventory",
    "ketacare.sessions",
    "ketacare.scheduling",
    "ketacare.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ketacare.accounts.middleware.ClinicMiddleware",
    "ketacare.accounts.middleware.MFAMiddleware",
    # Last, so it sees the outcome of authentication (django-axes' rule).
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # Static files from the app process (collectstatic first); runserver serves them in development.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "ketacare.urls"
WSGI_APPLICATION = "ketacare.wsgi.application"
ASGI_APPLICATION = "ketacare.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [SRC_DIR / "ketacare" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ketacare.accounts.context_processors.clinic",
                "ketacare.measures.context_processors.alerts",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# SQLite in var/ by default; PostgreSQL (or any URL dj-database-url reads) from DATABASE_URL.
_default_db_url = f"sqlite:///{VAR_DIR / 'ketacare.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db_url), conn_max_age=env_int("DB_CONN_MAX_AGE", 60)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the lock at BEGIN, so a check-then-insert inside one transaction is safe
    # (see shared patterns: no double-booking on SQLite). WAL lets readers go on meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "") or None}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and security --------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # lockout check first, as django-axes requires
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A reset link opens an account that can read PHI: keep its life short (Django's default is 3 days).
PASSWORD_RESET_TIMEOUT = env_int("KETACARE_PASSWORD_RESET_HOURS", 2) * 3600
LOGIN_URL = "accounts-login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts-login"

# Idle timeout: the session expires after this many minutes without a request.
SESSION_COOKIE_AGE = env_int("KETACARE_IDLE_TIMEOUT_MINUTES", 15) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Two-factor: staff must use TOTP when their clinic requires it, and always in production.
KETACARE_MFA_ALWAYS_REQUIRED = env_bool("KETACARE_MFA_ALWAYS_REQUIRED", default=PRODUCTION)
OTP_TOTP_ISSUER = "KetaCare"

# Lockout after repeated failed logins (django-axes): per account, whatever the address.
AXES_FAILURE_LIMIT = env_int("KETACARE_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("KETACARE_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# One count per account however the address is capitalised ("Ann@…" and "ann@…" are one account).
AXES_USERNAME_CALLABLE = "ketacare.accounts.lockout.lockout_username"
# The same client address as the audit trail (django-ipware is not installed, so axes' own
# AXES_IPWARE_* settings would be ignored and it would log the proxy's address).
AXES_CLIENT_IP_CALLABLE = "ketacare.lib.http.client_ip"
AXES_VERBOSE = False
# Lock the account, not the address: a clinic's staff share one address behind its router, and
# locking it would lock out the whole clinic (axes.W006 warns about the opposite choice).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# The number of trusted reverse proxies in front of the app; 0 means REMOTE_ADDR is the client.
KETACARE_PROXY_COUNT = env_int("KETACARE_PROXY_COUNT", 0)

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "KetaCare <no-reply@ketacare.invalid>")

# --- Background tasks (django-tasks with the database backend) --------------------------------
TASKS = {
    "default": {
        "BACKEND": env_str("KETACARE_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Links in notifications point here (no PHI is ever sent by e-mail).
KETACARE_BASE_URL = env_str("KETACARE_BASE_URL", "http://127.0.0.1:8000")
# Text messages go through this class (`send(to, body)`); the default writes them to the log.
KETACARE_SMS_SENDER = env_str("KETACARE_SMS_SENDER", "ketacare.measures.sms.LogSmsSender")
# Shared secret the SMS provider sends in X-KetaCare-Webhook-Secret with patients' text replies
# (/visit/sms-reply/); empty: the webhook answers 404.
KETACARE_SMS_WEBHOOK_SECRET = env_str("KETACARE_SMS_WEBHOOK_SECRET", "")

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # storage and server zone; each clinic has its own zone for display
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The project's own assets (ketacare.css, vendored Bootstrap): src/ketacare is not an installed app,
# so AppDirectoriesFinder never looks there.
STATICFILES_DIRS = [SRC_DIR / "ketacare" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- API --------------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 25
KETACARE_PAGE_SIZE = 25

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # fontTools (WeasyPrint's font subsetting) logs every table it prunes at INFO.
    "loggers": {"axes": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}
