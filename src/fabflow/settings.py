"""Django settings, read from the environment (see docs/operations.md for every variable)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import environ

env = environ.Env()

DATA_DIR = Path(env.str("FABFLOW_DATA_DIR", default="var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The SECRET_KEY variable, or a key generated once and kept in the data directory."""
    if env.str("SECRET_KEY", default=""):
        return env.str("SECRET_KEY")
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Former keys, accepted while a rotation runs (docs/security.md#rotating-secret_key).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])


def _field_keys() -> list[str]:
    """FABFLOW_FIELD_KEYS (comma-separated: the first encrypts, all decrypt), or a key generated
    once and kept in the data directory. They encrypt connection credentials (docs/security.md)."""
    keys = env.list("FABFLOW_FIELD_KEYS", default=[])
    if keys:
        return keys
    path = DATA_DIR / "field_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return [path.read_text().strip()]


# django-fernet-encrypted-fields derives its Fernet keys from SECRET_KEY (and fallbacks) and these.
SALT_KEY = _field_keys()
DEBUG = env.bool("DEBUG", default=False)
PORT = env.int("PORT", default=8000)
BASE_URL = env.str("BASE_URL", default=f"http://127.0.0.1:{PORT}").rstrip("/")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # OpClass in index expressions (the search's trigram indexes, core/search.py).
    "django.contrib.postgres",
    "ninja",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "fabflow.core",
    "fabflow.accounts",
    "fabflow.orders",
    "fabflow.flows",
    "fabflow.production",
    "fabflow.connectors",
    "fabflow.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "fabflow.core.middleware.RequestSizeLimit",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "fabflow.core.middleware.UserTimeZone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "fabflow.core.middleware.ContentSecurityPolicy",
    # Last, as django-axes asks: it turns lockouts raised during login into responses.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force lockout per e-mail + IP address, with a cool-off (django-axes).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The login form posts the e-mail as "username" (Django's AuthenticationForm).
AXES_USERNAME_FORM_FIELD = "username"
# Case variants of an address log in alike, so they share one lockout.
AXES_USERNAME_CALLABLE = "fabflow.accounts.auth.axes_username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

ROOT_URLCONF = "fabflow.urls"
WSGI_APPLICATION = "fabflow.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/orders"
LOGOUT_REDIRECT_URL = "/login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# Per process. `template_fragments` holds `{% cache %}` fragments (the sidebar, a table's
# column menu): they change only with the code, so with DEBUG (templates edited while the
# server runs) they are not kept at all.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.dummy.DummyCache"
        if DEBUG
        else "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "template_fragments",
    },
}

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'fabflow.sqlite3'}")
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN, so
    # concurrent writers queue there instead of failing on a lock upgrade; our backend makes
    # that queue fair and short (core/sqlite/base.py); `timeout` bounds every wait.
    _db["ENGINE"] = "fabflow.core.sqlite"
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": env.float("DATABASE_TIMEOUT", default=30.0),
    }
    # One test database per process: parallel test runs on one machine never share a file.
    _db["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
    # The list indexes' INCLUDE columns serve PostgreSQL's index-only scans; SQLite ignores
    # them by design, so its warning about them is noise on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with server-side parameters, and each statement prepared from its second
    # run on a connection (docs/adr/0007-orm-and-djangos-postgresql-options.md). Behind a pooler
    # that cannot carry prepared statements (PgBouncer before 1.21 in transaction mode) set
    # DATABASE_PREPARE_THRESHOLD=none.
    # From a prepared statement's sixth run PostgreSQL may switch to a generic plan, made
    # without the values: for a list page's date range that scanned and sorted every row of the
    # range (orders page 28 -> 105 ms at 200,000 orders). So each run is planned with its
    # values; `fabflow worker` keeps the generic plans for the engine (docs/adr/0007).
    _prepare = env.str("DATABASE_PREPARE_THRESHOLD", default="1").lower()
    _db.setdefault("OPTIONS", {}).update(
        server_side_binding=env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
        prepare_threshold=None if _prepare in ("", "none") else int(_prepare),
        options="-c plan_cache_mode=" + env.str("DATABASE_PLAN_CACHE_MODE", "force_custom_plan"),
    )
# Persistent connections, for SQLite too: opening one costs PRAGMAs, a schema parse and, when
# the last one closes, a WAL checkpoint, on every request otherwise.
_db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

TIME_ZONE = "UTC"

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {
        "BACKEND": env.str("STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Request bodies: JSON bodies above this are answered 413 (inline assets count here).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("FABFLOW_MAX_BODY_BYTES", default=32 * 1024 * 1024)
FABFLOW_MAX_INLINE_ASSET_BYTES = env.int("FABFLOW_MAX_INLINE_ASSET_BYTES", default=10 * 1024 * 1024)
# One order's size (docs/api.md "Limits"): an order at these limits is written in one SQLite
# write transaction of about 0.25 s on a small machine (bench/big_orders.py), so other writers
# (orders, the engine, health) wait that long at most; above them the API answers 422.
FABFLOW_MAX_PRODUCTS_PER_ORDER = env.int("FABFLOW_MAX_PRODUCTS_PER_ORDER", default=500)
FABFLOW_MAX_PARTS_PER_PRODUCT = env.int("FABFLOW_MAX_PARTS_PER_PRODUCT", default=500)
FABFLOW_MAX_PARTS_PER_ORDER = env.int("FABFLOW_MAX_PARTS_PER_ORDER", default=2000)
FABFLOW_MAX_ASSETS_PER_ORDER = env.int("FABFLOW_MAX_ASSETS_PER_ORDER", default=200)
FABFLOW_MAX_UPLOAD_BYTES = env.int("FABFLOW_MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)
FABFLOW_MAX_FETCH_BYTES = env.int("FABFLOW_MAX_FETCH_BYTES", default=512 * 1024 * 1024)
FABFLOW_FETCH_ATTEMPTS = env.int("FABFLOW_FETCH_ATTEMPTS", default=5)
FABFLOW_SIGNED_URL_MAX_AGE = env.int("FABFLOW_SIGNED_URL_MAX_AGE", default=7 * 24 * 3600)
OUTBOUND_ALLOWLIST = env.list("OUTBOUND_ALLOWLIST", default=[])
# After a space's signing secret is rotated, the old one keeps signing beside it this long.
FABFLOW_SIGNING_SECRET_GRACE_SECONDS = env.int(
    "FABFLOW_SIGNING_SECRET_GRACE_SECONDS", default=24 * 3600
)

# E-mail: EMAIL_URL=smtp://user:pass@host:port (smtp+tls:// for STARTTLS); the default writes
# messages as files under the data directory so the demo needs no mail server.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fabflow@localhost")

TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

NINJA_PAGINATION_MAX_LIMIT = 200

# Production hardening: on unless DEBUG; tune behind a TLS-terminating proxy. Django's defaults
# already send X-Frame-Options DENY, nosniff and a same-origin referrer policy, and make the
# session cookie HttpOnly and SameSite=Lax.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool(
    "SECURE_SSL_REDIRECT", default=not DEBUG and BASE_URL.startswith("https")
)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=BASE_URL.startswith("https"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int(
    "SECURE_HSTS_SECONDS", default=31536000 if BASE_URL.startswith("https") else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
# Sessions in the database, read on every request: logging out, deactivating a user or
# changing a password takes effect at the next one.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Scripts and styles only from this origin (vendored); Ace's JSON worker runs from a blob URL.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)

# The tokens of one-time links never reach a log: the request loggers (4xx/5xx, runserver's
# requests) redact them before any handler, the console handler redacts the rest (gunicorn's
# access log: core/logs.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "fabflow.core.logs.RedactTokens"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["redact"]},
        "django.server": {"filters": ["redact"], "handlers": ["console"], "propagate": False},
    },
}

# Flow engine
FABFLOW_SMTP_TIMEOUT = env.float("FABFLOW_SMTP_TIMEOUT", default=10.0)
FABFLOW_SMTP_IDLE_SECONDS = env.float("FABFLOW_SMTP_IDLE_SECONDS", default=30.0)
FABFLOW_CONNECTOR_TIMEOUT = env.float("FABFLOW_CONNECTOR_TIMEOUT", default=30.0)
# Transient failures (network, SMTP 4xx, HTTP 408/429/5xx) of handlers and updateUrl
# deliveries are retried for FABFLOW_RETRY_FOR_SECONDS after the first attempt, on delays of
# FIRST_DELAY * FACTOR^n (at most MAX_DELAY, shortened by up to JITTER of themselves). The two
# counts below stop earlier when set (0: only the time decides).
FABFLOW_TASK_MAX_DELIVERIES = env.int("FABFLOW_TASK_MAX_DELIVERIES", default=0)
FABFLOW_UPDATE_MAX_ATTEMPTS = env.int("FABFLOW_UPDATE_MAX_ATTEMPTS", default=0)
FABFLOW_RETRY_FOR_SECONDS = env.float("FABFLOW_RETRY_FOR_SECONDS", default=6 * 3600.0)
FABFLOW_RETRY_FIRST_DELAY = env.float("FABFLOW_RETRY_FIRST_DELAY", default=10.0)
FABFLOW_RETRY_FACTOR = env.float("FABFLOW_RETRY_FACTOR", default=2.0)
FABFLOW_RETRY_MAX_DELAY = env.float("FABFLOW_RETRY_MAX_DELAY", default=900.0)
FABFLOW_RETRY_JITTER = env.float("FABFLOW_RETRY_JITTER", default=0.5)
FABFLOW_LEASE_SECONDS = env.int("FABFLOW_LEASE_SECONDS", default=90)
FABFLOW_ENGINE_THREADS = env.int("FABFLOW_ENGINE_THREADS", default=2)
FABFLOW_ENGINE_CLAIM_BATCH = env.int("FABFLOW_ENGINE_CLAIM_BATCH", default=5)
FABFLOW_DEMO_CONNECTOR = env.bool("FABFLOW_DEMO_CONNECTOR", default=False)
FABFLOW_DEMO_CONNECTOR_DELAY = env.float("FABFLOW_DEMO_CONNECTOR_DELAY", default=3.0)
FABFLOW_CONFIRMATION_MAX_AGE = env.int("FABFLOW_CONFIRMATION_MAX_AGE", default=30 * 24 * 3600)

# Production files: limits of every sandboxed run (OpenSCAD, generators, CuraEngine)
FABFLOW_RENDER_TIMEOUT_S = env.float("FABFLOW_RENDER_TIMEOUT_S", default=120.0)
FABFLOW_RENDER_MEMORY_MB = env.int("FABFLOW_RENDER_MEMORY_MB", default=1024)
FABFLOW_RENDER_MAX_OUTPUT_MB = env.int("FABFLOW_RENDER_MAX_OUTPUT_MB", default=200)
# Slicing (docs/production.md "slice"): the CuraEngine program, and the folder of Cura printer
# definitions ("" finds the distribution's, /usr/share/cura/resources/definitions, or one on
# CURA_ENGINE_SEARCH_PATH).
FABFLOW_CURA_ENGINE = env.str("FABFLOW_CURA_ENGINE", default="CuraEngine")
FABFLOW_CURA_DEFINITIONS = env.str("FABFLOW_CURA_DEFINITIONS", default="")
