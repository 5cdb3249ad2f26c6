"""Isoflop settings: one module, read from the environment through typed helpers that fail loudly.

PostgreSQL everywhere: DATABASE_URL is required. The app command (`bash scripts/run.sh`, i.e.
`python -m core.stack run`) starts an embedded PostgreSQL from a wheel and sets it; CI points it at the
machine's PostgreSQL, docker-compose at its postgres service. The broker defaults to Celery's filesystem
transport under var/broker (the app command); CI and compose set CELERY_BROKER_URL (Redis).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
import plotly
from celery.schedules import crontab
from django.utils.csp import CSP

from config.env import ConfigError, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ISOFLOP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
# The "django-insecure-" prefix makes `check --deploy` flag the development key (security.W009).
_DEV_SECRET = "django-insecure-isoflop-development-key-never-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET)
if env_bool("DJANGO_SECURE", False) and SECRET_KEY == _DEV_SECRET:
    raise ConfigError("DJANGO_SECRET_KEY must be set when DJANGO_SECURE=1 (production settings)")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "core",
    "tracker",
    "ingestion",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "core.middleware.ApiErrorShapeMiddleware",
    "core.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tracker.accounts.middleware.ApiTokenMiddleware",
    "tracker.accounts.middleware.IsoflopLoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.liveness",
                "django.template.context_processors.csp",
            ],
        },
    },
]

_DATABASE_URL = env_str("DATABASE_URL", "")
if not _DATABASE_URL:
    raise ConfigError(
        "DATABASE_URL is required (postgres://...). `bash scripts/run.sh` starts an embedded PostgreSQL "
        "and sets it; tests use the machine's server (scripts/test.sh)."
    )
DATABASES = {
    "default": dj_database_url.parse(_DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ConfigError(
        f"DATABASE_URL must name a PostgreSQL database, got engine {DATABASES['default']['ENGINE']}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login throttling (django-axes) on /login/ and /admin/login/: after ISOFLOP_LOGIN_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair is locked out for ISOFLOP_LOGIN_COOLOFF_MINUTES
# (even with the right password); a successful login resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ISOFLOP_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ISOFLOP_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# plotly.js is served from the plotly package itself: no CDN.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
MEDIA_ROOT = Path(env_str("ISOFLOP_MEDIA_ROOT", str(VAR_DIR / "media")))
# Uploaded and report files go only through Django's storage API (core.files): MEDIA_ROOT by default, an
# S3-compatible object store when ISOFLOP_S3_BUCKET is set (compose: MinIO), so web and workers on any
# host read the same files. Keys come from ISOFLOP_S3_ACCESS_KEY/SECRET_KEY, or boto3's usual chain.
ISOFLOP_S3_BUCKET = env_str("ISOFLOP_S3_BUCKET", "")
STORAGES: dict[str, dict[str, object]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if ISOFLOP_S3_BUCKET:
    _s3_keys = (env_str("ISOFLOP_S3_ACCESS_KEY", ""), env_str("ISOFLOP_S3_SECRET_KEY", ""))
    if bool(_s3_keys[0]) != bool(_s3_keys[1]):
        raise ConfigError("set both ISOFLOP_S3_ACCESS_KEY and ISOFLOP_S3_SECRET_KEY, or neither")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": ISOFLOP_S3_BUCKET,
            "endpoint_url": env_str("ISOFLOP_S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("ISOFLOP_S3_REGION", "us-east-1"),
            "access_key": _s3_keys[0] or None,
            "secret_key": _s3_keys[1] or None,
            "location": env_str("ISOFLOP_S3_PREFIX", ""),
            "addressing_style": "path",  # MinIO-style endpoints: the bucket in the path, no wildcard DNS
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            # Names are content hashes (uploads) or fixed per report and format: same name, same bytes.
            "file_overwrite": True,
            "max_memory_size": 8 * 1024 * 1024,
        },
    }

# Uploads: files are streamed to disk; the hard per-file limit is enforced by ingestion.
ISOFLOP_MAX_UPLOAD_BYTES = env_int("ISOFLOP_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
ISOFLOP_MAX_UNPACKED_BYTES = env_int("ISOFLOP_MAX_UNPACKED_BYTES", 1024 * 1024 * 1024)
# What one upload request may carry in all, and how many files; what a team may keep stored in all.
ISOFLOP_MAX_REQUEST_BYTES = env_int("ISOFLOP_MAX_REQUEST_BYTES", 1024 * 1024 * 1024)
ISOFLOP_MAX_FILES_PER_REQUEST = env_int("ISOFLOP_MAX_FILES_PER_REQUEST", 1000)
ISOFLOP_TEAM_QUOTA_BYTES = env_int("ISOFLOP_TEAM_QUOTA_BYTES", 50 * 1024 * 1024 * 1024)
# PDFs are parsed in a child process under these budgets; a PDF over them fails with the reason.
ISOFLOP_PDF_CPU_SECONDS = env_int("ISOFLOP_PDF_CPU_SECONDS", 20)
ISOFLOP_PDF_MEMORY_BYTES = env_int("ISOFLOP_PDF_MEMORY_BYTES", 768 * 1024 * 1024)
ISOFLOP_PDF_WALL_SECONDS = env_int("ISOFLOP_PDF_WALL_SECONDS", 60)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
ISOFLOP_WEBHOOK_TOLERANCE_SECONDS = env_int("ISOFLOP_WEBHOOK_TOLERANCE_SECONDS", 300)

# Celery: embedded filesystem broker by default, Redis/RabbitMQ via CELERY_BROKER_URL.
_BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("out", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A paused or unreachable Redis must fail a publish within seconds instead of hanging the request: the
    # committed row is the outbox, and the outbox sweep below re-publishes what did not get through.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": env_int("CELERY_REDIS_SOCKET_TIMEOUT", 2),
        "socket_connect_timeout": env_int("CELERY_REDIS_CONNECT_TIMEOUT", 2),
        "socket_keepalive": True,
        "retry_on_timeout": False,
        "health_check_interval": 10,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# One quick reconnect (a stale pooled connection after a broker restart), then give up: the outbox retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
# One queue per workload, routed in one place (config.celery.QUEUE_OF_TASK): a slow PDF or a big fit never
# delays a webhook. ISOFLOP_QUEUE_PREFIX keeps test runs that share a broker apart.
ISOFLOP_QUEUE_PREFIX = env_str("ISOFLOP_QUEUE_PREFIX", "")
ISOFLOP_QUEUES = ("ingest", "webhooks", "fit", "report", "maintenance")
CELERY_TASK_DEFAULT_QUEUE = f"{ISOFLOP_QUEUE_PREFIX}maintenance"
CELERY_ACCEPT_CONTENT = ["json"]
# Every task declares its own soft and hard limits (core.tasks); this only bounds a task that forgot to.
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Outbox: rows still waiting after the grace period (their message was lost or never published) are
# re-published; processing is claimed in the database, so a second message for a row is harmless.
ISOFLOP_OUTBOX_GRACE_SECONDS = env_int("ISOFLOP_OUTBOX_GRACE_SECONDS", 120)
ISOFLOP_OUTBOX_SWEEP_SECONDS = env_int("ISOFLOP_OUTBOX_SWEEP_SECONDS", 30)
# Poison tasks: transient errors are retried with exponential backoff, then the row is parked as failed.
ISOFLOP_INGEST_MAX_ATTEMPTS = env_int("ISOFLOP_INGEST_MAX_ATTEMPTS", 6)
# Leases: a task working on a row renews the row's heartbeat this often; a row still "running" whose
# heartbeat is older than the lease lost its worker and the sweep hands it to another one.
ISOFLOP_HEARTBEAT_SECONDS = env_int("ISOFLOP_HEARTBEAT_SECONDS", 10)
ISOFLOP_LEASE_SECONDS = env_int("ISOFLOP_LEASE_SECONDS", 30)
# Liveness: workers record a heartbeat this often; none seen for ISOFLOP_WORKER_STALE_SECONDS means no worker.
ISOFLOP_WORKER_HEARTBEAT_SECONDS = env_int("ISOFLOP_WORKER_HEARTBEAT_SECONDS", 10)
ISOFLOP_WORKER_STALE_SECONDS = env_int("ISOFLOP_WORKER_STALE_SECONDS", 60)
ISOFLOP_RETRY_BACKOFF_MS = env_int("ISOFLOP_RETRY_BACKOFF_MS", 1000)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "ingestion-outbox-sweep": {
        "task": "ingestion.outbox_requeue",
        "schedule": float(ISOFLOP_OUTBOX_SWEEP_SECONDS),
    },
    "reports-outbox-sweep": {
        "task": "analytics.reports_requeue",
        "schedule": float(ISOFLOP_OUTBOX_SWEEP_SECONDS),
    },
    "refits-outbox-sweep": {
        "task": "analytics.studies_refit_requeue",
        "schedule": float(ISOFLOP_OUTBOX_SWEEP_SECONDS),
    },
    # Monday 06:00 UTC: a catalog report per team for the past 7 days (idempotent per team per ISO week).
    "weekly-digest": {
        "task": "analytics.report_digest_weekly",
        "schedule": crontab(minute=0, hour=6, day_of_week=1),
    },
}

# Content-Security-Policy on every page: scripts only from this server (no inline scripts, no eval), nothing
# loaded from elsewhere, no framing, forms post here only. Plotly sets styles from its own script, so inline
# styles stay allowed; templates carry no inline script and no on* handler (a test checks every template).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("DJANGO_SECURE", False):
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# The typed API (config.api): requests per user per period (429 beyond; "N/s", "N/m", "N/h").
ISOFLOP_API_RATE = env_str("ISOFLOP_API_RATE", "6000/m")
NINJA_NUM_PROXIES = 0
