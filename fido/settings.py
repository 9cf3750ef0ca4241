"""Settings for the Fido transactions service, read from the environment (docs/operators.md, "Configuration").

The embedded default (only ``DEBUG=1``) runs everything in one process: SQLite, an in-process
cache and tasks executed in-process after commit. Setting ``DATABASE_URL``, ``REDIS_URL`` and
``CELERY_BROKER_URL`` switches to PostgreSQL, Redis and Celery workers with the same code.
"""

import base64
import datetime as dt
import hashlib
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from fido.env_checks import check_environment, check_fernet_keys

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file; ENV_FILE="" reads no file at all.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE, overwrite=False)
# A value that would fail only when first used stops start-up here, naming the variable.
check_environment(os.environ)

DEBUG = env.bool("DEBUG", default=False)


def _required(name: str, debug_default: str) -> str:
    """A secret: required when DEBUG is off, a fixed and clearly insecure value in development."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return debug_default
    raise ImproperlyConfigured(f"The environment variable {name} is required when DEBUG is off.")


def _insecure_dev_fernet_key(label: str) -> str:
    # Deterministic so that a development database stays readable across restarts; never used
    # with DEBUG off, where a missing key is a start-up error instead.
    return base64.urlsafe_b64encode(hashlib.sha256(f"fido-insecure-dev-{label}".encode()).digest()).decode()


SECRET_KEY = _required("SECRET_KEY", "django-insecure-fido-development-only")
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in _required("FIELD_ENCRYPTION_KEYS", _insecure_dev_fernet_key("field-key")).split(",")
    if key.strip()
]
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("The environment variable FIELD_ENCRYPTION_KEYS holds no key.")
# Every key, not only the first: a malformed older key would fail every read of the rows it encrypted.
check_fernet_keys("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS)
FIELD_HASH_KEY = _required("FIELD_HASH_KEY", "fido-insecure-dev-hash-key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "fido.apps.FidoAdminConfig",  # django.contrib.admin with the back-office site of fido/admin.py
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files of our own: no CDN, works offline
    "drf_standardized_errors",
    "axes",
    "transactions",
    "analytics",
]

MIDDLEWARE = [
    "fido.health.HealthCheckMiddleware",
    # /metrics answered before host validation and the HTTPS redirect (Prometheus calls the container by
    # its address, like a probe); every other request timed and counted by route.
    "fido.metrics.MetricsMiddleware",
    "fido.logs.RequestLogMiddleware",
    "fido.db_router.PinWritesMiddleware",
    "fido.middleware.ApiErrorShapeMiddleware",
    "fido.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Lets the audit trail name who made a write (transactions/audit.py).
    "transactions.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fido.urls"
WSGI_APPLICATION = "fido.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the development server's threads write without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database that does not answer must not hold a request, or a /readyz thread, for the OS's TCP timeout.
DB_CONNECT_TIMEOUT = env.int("DB_CONNECT_TIMEOUT", default=5)


def _with_connect_timeout(database: dict) -> dict:
    if "postgresql" in database["ENGINE"]:
        database.setdefault("OPTIONS", {}).setdefault("connect_timeout", DB_CONNECT_TIMEOUT)
    return database


_with_connect_timeout(DATABASES["default"])
# Read replicas (fido/db_router.py): reads that need no freshness go there, the rest to "default". A
# replica that cannot be reached costs a read at most its connect timeout (libpq's floor, 2 s), then is
# left out for DATABASE_REPLICA_RETRY_AFTER seconds while reads go to the primary.
DATABASE_REPLICA_CONNECT_TIMEOUT = 2
DATABASE_REPLICA_RETRY_AFTER = env.int("DATABASE_REPLICA_RETRY_AFTER", default=5)
DATABASE_REPLICAS = []
for _number, _url in enumerate(env.list("DATABASE_REPLICA_URLS", default=[]), start=1):
    _alias = f"replica_{_number}"
    DATABASES[_alias] = {
        **env.db_url_config(_url),
        "CONN_MAX_AGE": DATABASES["default"].get("CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
    DATABASES[_alias].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", min(DB_CONNECT_TIMEOUT, DATABASE_REPLICA_CONNECT_TIMEOUT)
    )
    DATABASE_REPLICAS.append(_alias)
DATABASE_ROUTERS = ["fido.db_router.PrimaryReplicaRouter"] if DATABASE_REPLICAS else []
# DATABASE_POOLER=pgbouncer: the database URLs lead to PgBouncer in transaction mode, where consecutive
# transactions of one connection may run on different server connections. Nothing may outlive a
# transaction: no server-side cursors (a cursor lives in its session), no named prepared statements
# (Debian's PgBouncer 1.18 cannot carry them; `max_prepared_statements` came in 1.21), no session
# settings (the code only takes transaction-scoped locks: FOR UPDATE, pg_advisory_xact_lock).
DATABASE_POOLER = env.str("DATABASE_POOLER", default="")
if DATABASE_POOLER == "pgbouncer":
    for _database in DATABASES.values():
        if "postgresql" in _database["ENGINE"]:
            _database["DISABLE_SERVER_SIDE_CURSORS"] = True
            # Django's default with psycopg 3, stated here so that no OPTIONS change can turn them on.
            _database.setdefault("OPTIONS", {})["prepare_threshold"] = None
            _database["OPTIONS"]["server_side_binding"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="fido"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SERIALIZER": "django_redis.serializers.json.JSONSerializer",
                # Redis down or slow means slower, never broken (fido/cache.py fails open): short timeouts, so
                # a fault costs at most one of them per request.
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.25),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=0.25),
                # One attempt per call, never redis-py's retries (each would wait the timeout again):
                # fido/cache.py's circuit breaker decides when to try Redis again.
                "CONNECTION_POOL_KWARGS": {"retry": Retry(NoBackoff(), 0)},
                "IGNORE_EXCEPTIONS": True,
            },
        }
    }
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
    DJANGO_REDIS_LOGGER = "fido.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fido"}}

ANALYTICS_CACHE_TTL = env.int("ANALYTICS_CACHE_TTL", default=300)
OVERVIEW_MAX_AGE = env.int("OVERVIEW_MAX_AGE", default=60)

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or REDIS_URL
# Without a broker the same tasks run in-process, right after the write's commit.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="fido")
# Tasks are idempotent: acknowledge after the work, and hand the message back if the worker dies.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A publish must fail fast when the broker is down (the relay tries again at its next run; a web process
# publishes nothing but the embedded mode's in-process tasks): short connect timeouts and a single
# connection attempt, never kombu's default of retrying forever.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker and beat wait for the broker however long it is gone, in the same process (Celery's
# default gives up after 100 attempts, about 45 minutes, and the worker exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": 1,
    # A broker that accepts connections but never answers must not hang a request either (Redis).
    "socket_timeout": 2,
    # Longer than any retry countdown, so a delayed message is not redelivered while it waits (Redis).
    "visibility_timeout": 2 * 60 * 60,
}
# A publish retries once, at once: a pooled connection that a broker restart left stale fails the
# first try and is replaced (AMQP; redis-py reconnects by itself), and a broker that is down fails both
# tries within the connect timeouts above.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
CELERY_TIMEZONE = "UTC"

# --- Processing after a write (docs/operators.md, "Background processing") ----------------
# With a broker, the relay publishes every pending event (no request waits for the broker), run by beat every
# OUTBOX_RELAY_INTERVAL seconds: a write's processing starts about that long after its commit, well inside 30 s.
OUTBOX_RELAY_INTERVAL = env.float("OUTBOX_RELAY_INTERVAL", default=1.0)
# After a relay publishes an event, it waits this long before publishing it again (a lost message).
OUTBOX_RELAY_LEASE = 60
OUTBOX_RELAY_BATCH = 500
# Attempts of one event before it is marked failed (backoff 5 s doubling to at most 10 min, plus jitter).
OUTBOX_MAX_ATTEMPTS = 8
OUTBOX_RETRY_BASE = 5
OUTBOX_RETRY_MAX = 600
# Alert webhook, with the outbox's backoff: 30 s doubling to at most 15 min (plus jitter), so the first retry
# comes within a minute and 10 retries (11 attempts) go on for over an hour (5,430 s) before giving up.
ALERT_WEBHOOK_RETRY_BASE = 30
ALERT_WEBHOOK_RETRY_MAX = 900
ALERT_WEBHOOK_MAX_ATTEMPTS = 11
ALERT_WEBHOOK_TIMEOUT = env.float("ALERT_WEBHOOK_TIMEOUT", default=3.0)


# --- Business rules -------------------------------------------------------------------------
def _positive_decimal(name: str, default: str) -> Decimal:
    """A money amount: a bad or non-positive value is a start-up error, not a failure at the first write."""
    raw = env.str(name, default=default)
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise ImproperlyConfigured(f"The environment variable {name} must be a decimal amount above 0, not {raw!r}.")
    return value


LARGE_TRANSACTION_THRESHOLD = _positive_decimal("LARGE_TRANSACTION_THRESHOLD", "10000.00")
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_SECRET = env.str("ALERT_WEBHOOK_SECRET", default="")
if ALERT_WEBHOOK_URL and not ALERT_WEBHOOK_SECRET and not DEBUG:
    # Unsigned pushes could not be told from forged ones by the receiver.
    raise ImproperlyConfigured(
        "The environment variable ALERT_WEBHOOK_SECRET is required when ALERT_WEBHOOK_URL is set and DEBUG is off."
    )
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60

# --- Audit trail (transactions/audit.py) ----------------------------------------------------
# Records older than this many days are purged by the beat task below; 0 keeps them forever. Seven years
# by default, as long as financial records are commonly kept; never less than one year.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=7 * 365 + 2)
if AUDIT_RETENTION_DAYS and AUDIT_RETENTION_DAYS < 365:
    raise ImproperlyConfigured(
        f"The environment variable AUDIT_RETENTION_DAYS must be 0 (keep forever) or at least 365, "
        f"not {AUDIT_RETENTION_DAYS}: audit records are kept at least a year."
    )
# Each purge run deletes at most this many batches of 10,000 records (well inside the task time limit).
AUDIT_PURGE_BATCHES = 20

# --- Retention (transactions/retention.py) --------------------------------------------------
# Done outbox events are deleted this many days after their write; pending and failed ones never are.
OUTBOX_RETENTION_DAYS = env.int("OUTBOX_RETENTION_DAYS", default=7)
# The purge runs every RETENTION_PURGE_INTERVAL seconds (beat), RETENTION_BATCH_SIZE rows per DELETE,
# and stops after RETENTION_RUN_SECONDS (under the task time limit); the rest waits for the next run.
RETENTION_PURGE_INTERVAL = 600
RETENTION_BATCH_SIZE = 2000
RETENTION_RUN_SECONDS = 60

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Request limits (a body over 1 MiB is a 413) --------------------------------------------
MAX_REQUEST_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

# --- Security -------------------------------------------------------------------------------
# HTTPS_ONLY=1 behind a TLS-terminating proxy: plain HTTP is redirected (health probes excepted), cookies
# are secure and HSTS is sent. Each piece can be tuned on its own for proxies that already redirect or set
# HSTS themselves. Whether a request came in over HTTPS is gunicorn's answer (wsgi.url_scheme): it takes
# X-Forwarded-Proto from the peers in FORWARDED_ALLOW_IPS only, so SECURE_PROXY_SSL_HEADER stays unset
# (Django would believe the header from anyone who reaches gunicorn).
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
# The peers allowed to set X-Forwarded-* (comma-separated addresses or networks; "*" trusts every peer):
# the proxy in front of gunicorn only. gunicorn reads it for X-Forwarded-Proto, fido/proxy.py for
# X-Forwarded-For (the client address the admin login's rate limit counts by).
FORWARDED_ALLOW_IPS = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS_ONLY else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS_ONLY)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS_ONLY)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # API clients: hashed tokens resolved through a short-lived per-process cache.
        "fido.authentication.ClientTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["fido.permissions.StrictDjangoModelPermissions"],
    "DEFAULT_PARSER_CLASSES": ["fido.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["fido.throttling.ClientRateThrottle", "fido.throttling.AnonRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "fido.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# API client tokens (django-rest-knox): stored as SHA-512 digests only, sent as `Authorization: Token <key>`.
# Service clients' tokens never expire; an operator revokes them (revoke_api_client).
REST_KNOX = {
    "TOKEN_PREFIX": "fido_",
    "AUTH_TOKEN_CHARACTER_LENGTH": 64,
    "SECURE_HASH_ALGORITHM": "hashlib.sha512",
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
# An API client's model permissions are its scope's (fido/authentication.py), answered without SQL and
# never widened by groups; staff keep Django's model permissions. django-axes comes first so that a
# locked-out admin login is refused before any password is checked (it checks no permission).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "fido.authentication.ApiClientScopeBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# The admin login's rate limit (django-axes), for the back office only: API clients authenticate with
# tokens, which never go through a login and are never counted or slowed. After ADMIN_LOGIN_FAILURE_LIMIT
# failures for one username from one client address, that pair is refused for ADMIN_LOGIN_COOLOFF_MINUTES
# (counted from the lockout: attempts meanwhile do not extend it), whatever password it sends. The pair, not
# the address alone: staff behind one office address do not lock each other out, and nobody can lock a
# staff member out from everywhere by failing their username. Attempts are kept in the database.
AXES_ENABLED = True
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "fido.proxy.client_ip"
AXES_LOCKOUT_CALLABLE = "fido.admin.login_locked_out"
AXES_VERBOSE = False
# Every failed attempt is kept too (username, address, time; never the password), for incident review; the
# admin shows attempts, lockouts and logins, and deleting a lockout's attempt row lifts it.
AXES_ENABLE_ACCESS_FAILURE_LOG = True

# Per-client rate limits (fido/throttling.py), "N/s|min|hour|day"; empty: no limit. Generous by
# default so that one busy backend service is not throttled; counted in the cache, open when it is down.
THROTTLE_RATE_USER = env.str("THROTTLE_RATE_USER", default="6000/min")
THROTTLE_RATE_ANON = env.str("THROTTLE_RATE_ANON", default="600/min")

DRF_STANDARDIZED_ERRORS = {
    # Unhandled errors become the same JSON 500 in DEBUG too: no HTML page, no stack trace.
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
    "EXCEPTION_HANDLER_CLASS": "fido.exceptions.ExceptionHandler",
    "ALLOWED_ERROR_STATUS_CODES": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "429", "500"],
    # Our own status codes; fido.openapi.AutoSchema decides which operations can answer them.
    "ERROR_SCHEMAS": {
        "409": "fido.openapi.ErrorResponse409Serializer",
        "413": "fido.openapi.ErrorResponse413Serializer",
        "422": "fido.openapi.ErrorResponse422Serializer",
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Fido transactions service",
    "DESCRIPTION": (
        "Records financial transactions and serves per-user analytics, alerts and credit profiles. Every endpoint "
        "needs `Authorization: Token <key>`; every error is JSON of one shape. The repository's docs/api.md "
        "says the whole contract."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from drf-spectacular-sidecar (pinned in requirements.txt), served as our static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ValidationErrorEnum": "drf_standardized_errors.openapi_serializers.ValidationErrorEnum.choices",
        "ClientErrorEnum": "drf_standardized_errors.openapi_serializers.ClientErrorEnum.choices",
        "ServerErrorEnum": "drf_standardized_errors.openapi_serializers.ServerErrorEnum.choices",
        "ErrorCode401Enum": "drf_standardized_errors.openapi_serializers.ErrorCode401Enum.choices",
        "ErrorCode403Enum": "drf_standardized_errors.openapi_serializers.ErrorCode403Enum.choices",
        "ErrorCode404Enum": "drf_standardized_errors.openapi_serializers.ErrorCode404Enum.choices",
        "ErrorCode405Enum": "drf_standardized_errors.openapi_serializers.ErrorCode405Enum.choices",
        "ErrorCode406Enum": "drf_standardized_errors.openapi_serializers.ErrorCode406Enum.choices",
        "ErrorCode415Enum": "drf_standardized_errors.openapi_serializers.ErrorCode415Enum.choices",
        "ErrorCode429Enum": "drf_standardized_errors.openapi_serializers.ErrorCode429Enum.choices",
        "ErrorCode500Enum": "drf_standardized_errors.openapi_serializers.ErrorCode500Enum.choices",
        "ErrorCode409Enum": "fido.openapi.ErrorCode409Enum.choices",
        "ErrorCode413Enum": "fido.openapi.ErrorCode413Enum.choices",
        "ErrorCode422Enum": "fido.openapi.ErrorCode422Enum.choices",
    },
    "POSTPROCESSING_HOOKS": ["drf_standardized_errors.openapi_hooks.postprocess_schema_enums"],
}

# --- Logging --------------------------------------------------------------------------------
# One JSON object per line on stderr (fido/logs.py); LOG_FORMAT=plain for reading by eye. The
# redacting filter sits on the handler, so no record of any library escapes it.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "fido.logs.RedactingFilter"}},
    "formatters": {
        "json": {"()": "fido.logs.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own handlers (console in DEBUG, mail_admins) are replaced by the one above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # The request line of fido.logs replaces the development server's own.
        "django.server": {"handlers": [], "level": "ERROR", "propagate": True},
        # Likewise fido.task replaces Celery's "succeeded" line (which quotes arguments and result).
        "celery.app.trace": {"level": "WARNING"},
    },
}

# --- Analytics ------------------------------------------------------------------------------
# The refresh folds pending writes into the overview's day figures (cached answers are never recomputed in the
# background: they expire after ANALYTICS_CACHE_TTL, or are invalidated by writes and the reconciliation).
ANALYTICS_REFRESH_SECONDS = max(1, min(OVERVIEW_MAX_AGE, ANALYTICS_CACHE_TTL // 2) // 2)
# The overview lags writes by at most OVERVIEW_MAX_AGE: a write's days reach its figures at the next refresh
# (in-process right after the commit when embedded); an overview computed then is cached for the rest of the
# budget.
if OVERVIEW_MAX_AGE < 2:
    raise ImproperlyConfigured("OVERVIEW_MAX_AGE must be at least 2 seconds: the refresh and the cache share it.")
OVERVIEW_CACHE_TTL = OVERVIEW_MAX_AGE - ANALYTICS_REFRESH_SECONDS
# The reconciliation (a full scan) corrects figures changed in SQL; at most TTL/2 apart, such a
# change shows within ANALYTICS_CACHE_TTL (docs/api.md, "Consistency and caching").
ANALYTICS_RECONCILE_SECONDS = max(1, ANALYTICS_CACHE_TTL // 2)

# What Celery beat runs (exactly one beat process): the outbox relay, the analytics refresh, the reconciliation,
# the retention purges (the audit's hourly, idempotency records and done outbox events every 10 minutes; each a
# bounded amount per run, so a backlog drains without long runs).
CELERY_BEAT_SCHEDULE = {
    # A relay message left unconsumed (no worker running) expires instead of piling up: a later one does its work.
    # Expiry is judged on the worker's clock against beat's, so it leaves a wide margin for clock skew.
    "relay-pending-work": {
        "task": "analytics.tasks.relay_pending_work",
        "schedule": OUTBOX_RELAY_INTERVAL,
        "options": {"expires": max(60.0, 10 * OUTBOX_RELAY_INTERVAL)},
    },
    "analytics-refresh": {"task": "analytics.tasks.refresh_analytics", "schedule": ANALYTICS_REFRESH_SECONDS},
    "analytics-reconcile": {"task": "analytics.tasks.reconcile_analytics", "schedule": ANALYTICS_RECONCILE_SECONDS},
    "audit-purge": {"task": "transactions.tasks.purge_audit_records", "schedule": 60 * 60.0},
    "retention-purge": {"task": "transactions.tasks.purge_expired", "schedule": float(RETENTION_PURGE_INTERVAL)},
}

# --- Health (fido/health.py) ----------------------------------------------------------------
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)

# --- Metrics (fido/metrics.py, docs/metrics.md) ----------------------------------------------
# GET /metrics in Prometheus' text format: 404 when METRICS_ENABLED is off; with METRICS_TOKEN set it
# needs `Authorization: Bearer <METRICS_TOKEN>`, and without it anyone who reaches the port may read it.
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
