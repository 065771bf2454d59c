"""Site settings: every value that differs between machines comes from the environment.

The defaults make `make run` work on a fresh clone (SQLite under var/, a local Redis, DEBUG on);
production sets DJANGO_DEBUG=0 and the variables documented in README.md.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DJANGO_VAR_DIR", BASE_DIR / "var"))


# --- tiny environment helpers: a bad value is a clear start-up error, never a silent default ---

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={raw!r} is not a finite number.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum of {minimum}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- core ---

# Off unless asked for: a deploy that forgets the variable must not serve debug pages.
# `make run` (site_config/devtools/run_local.py) and the tests turn it on.
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "django-insecure-local-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "template_partials",
    "django_celery_results",
    "django_celery_beat",
    "site_config.apps.SiteConfigConfig",  # the project's deploy checks (site_config/checks.py)
    "ops",
    "dashboard",
    "blog",
    "weather",
]

# Django's and WhiteNoise's middleware, with an async mode that runs the hooks on daphne's event loop
# instead of a thread hand-off per hook (site_config/middleware.py says why and when they still do).
MIDDLEWARE = [
    # /healthz, /readyz and /metrics, answered before ALLOWED_HOSTS and the HTTPS redirect (ops/middleware.py).
    "ops.middleware.ProbeMiddleware",
    "site_config.middleware.SecurityMiddleware",
    "site_config.middleware.WhiteNoiseMiddleware",
    "site_config.middleware.SessionMiddleware",
    "site_config.middleware.CommonMiddleware",
    "site_config.middleware.CsrfViewMiddleware",
    "site_config.middleware.AuthenticationMiddleware",
    "site_config.middleware.MessageMiddleware",
    "site_config.middleware.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "site_config.urls"
ASGI_APPLICATION = "site_config.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]


# --- database: SQLite under var/ by default, anything dj-database-url understands otherwise ---

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web process and a worker write at once: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN (no upgrade deadlock), and busy_timeout waits instead of failing
    # with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests run the worker and daphne as separate processes, so the test database must be a file
    # they can open too, never SQLite's default in-memory test database.
    DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- auth ---

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]


# --- i18n / time ---

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True


# --- static files: our own CSS/JS in static/, third-party JS from installed packages ---

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
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
WHITENOISE_USE_FINDERS = DEBUG


# --- Redis: one URL for the Celery broker, the channel layer and the cache ---

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "site",
        "TIMEOUT": 300,
    }
}

# RedisPubSubChannelLayer, chosen by measurement (docs/benchmarks.md): one PUBLISH per group_send,
# fanned out inside each daphne process, lower latency than the list-based RedisChannelLayer, no
# per-channel capacity that silently drops messages, and groups re-subscribed after a Redis restart.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "site"},
    }
}


# --- Celery (namespace CELERY_) ---

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacknowledged message after the visibility timeout; it must be longer than
# the longest task, or a long task runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
# Results are rows people read; expiry is handled by our own batched clean-up, not Celery's.
CELERY_RESULT_EXPIRES = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Email and moderation have queues of their own, so a pile of demo jobs or reports never delays a
# sign-up email or a comment's screening, and a worker can be dedicated to them (`-Q email,moderation`).
# A worker started without -Q consumes every queue declared here (Celery's default), so the single
# worker of `make run` never strands a task. Each queue has its own exchange and routing key: two
# queues bound with the same key would both receive, and run, the same message.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name, Exchange(name, type="direct"), routing_key=name)
                      for name in ("celery", "email", "moderation")]
# Routed by task name (the names are stored data: tests/test_structure.py pins them).
CELERY_TASK_ROUTES = {
    "blog.tasks.email_send_task": {"queue": "email"},
    "blog.tasks.email_sweep_task": {"queue": "email"},
    "blog.tasks.moderate_comment_task": {"queue": "moderation"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Default periodic tasks (django-celery-beat). Each app adds its own entries here; they are created
# in the database when missing at migrate/start, and a staff member's later edit is never
# overwritten. Keys are readable kebab-case names. Entry: {"task": "app.tasks.name_task",
# "crontab": "5 0 * * *"} or {"task": ..., "every_seconds": 300}, optional "kwargs": {...}.
PERIODIC_TASKS: dict[str, dict] = {}

# Live progress: how often a task's progress is stored and pushed at most (the first and the final
# report always go out).
PROGRESS_MIN_INTERVAL_MS = env_int("PROGRESS_MIN_INTERVAL_MS", 200, minimum=0)

# The demo job's bounds (dashboard "start a demo job" form).
DEMO_JOB_MAX_STEPS = env_int("DEMO_JOB_MAX_STEPS", 1000, minimum=1)
DEMO_JOB_MAX_DELAY_MS = env_int("DEMO_JOB_MAX_DELAY_MS", 5000, minimum=0)


# --- security: production values when DEBUG is off (manage.py check --deploy is clean) ---

# Django's checks for its security, X-Frame-Options and CSRF middleware look for its own class paths,
# not our subclasses; site_config/checks.py checks ours instead, and runs the checks that depend on
# them (HSTS, HTTPS redirect, cookie flags, ...), which Django skips. Silence exactly those three.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads the token from the page, not the cookie; kept default.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)


# --- logging: the task id and name on every line a task emits (site_config.logging_filters) ---

LOG_LEVEL = env_str("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_context": {"()": "site_config.logging_filters.TaskContextFilter"}},
    "formatters": {
        "default": {
            "format": "%(asctime)s %(levelname)s %(processName)s %(name)s [%(task_name)s %(task_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["task_context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "INFO"},
    },
}


# --- blog ---

# Absolute base of links in emails written outside a request (e.g. "your comment was approved").
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Email. With EMAIL_HOST set, mail goes out over SMTP; without it, the embedded default writes it to
# files under var/mail and staff read every message on the dashboard's Outbox page (the outbox rows
# are the record either way). EMAIL_BACKEND overrides both.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Live Django <noreply@localhost>")
# Sending: attempts in all (first + retries), exponential back-off base and cap in seconds.
EMAIL_SEND_MAX_ATTEMPTS = env_int("EMAIL_SEND_MAX_ATTEMPTS", 6, minimum=1)
EMAIL_RETRY_BACKOFF_SECONDS = env_int("EMAIL_RETRY_BACKOFF_SECONDS", 2, minimum=1)
EMAIL_RETRY_BACKOFF_MAX_SECONDS = env_int("EMAIL_RETRY_BACKOFF_MAX_SECONDS", 600, minimum=1)
# The sweep re-queues rows left "queued" longer than the longest back-off (else it would cut a retry
# short), and rows stuck "sending" (a worker died mid-send) after this long.
EMAIL_SWEEP_QUEUED_AFTER_SECONDS = env_int("EMAIL_SWEEP_QUEUED_AFTER_SECONDS", 900, minimum=1)
EMAIL_SWEEP_SENDING_AFTER_SECONDS = env_int("EMAIL_SWEEP_SENDING_AFTER_SECONDS", 600, minimum=1)

# Members.
VERIFICATION_LINK_MAX_AGE_SECONDS = env_int("VERIFICATION_LINK_MAX_AGE_SECONDS", 3 * 24 * 3600, minimum=60)
VERIFICATION_RESEND_COOLDOWN_SECONDS = env_int("VERIFICATION_RESEND_COOLDOWN_SECONDS", 60, minimum=1)
MEMBER_PURGE_UNVERIFIED_DAYS = env_int("MEMBER_PURGE_UNVERIFIED_DAYS", 7, minimum=1)

# Comments and automatic moderation (blog/moderation.py): a score below the hold threshold is
# approved, at or above the spam threshold it is spam, in between it waits for staff.
COMMENT_RATE_LIMIT_PER_MINUTE = env_int("COMMENT_RATE_LIMIT_PER_MINUTE", 3, minimum=1)
COMMENT_MAX_LENGTH = env_int("COMMENT_MAX_LENGTH", 5000, minimum=1)
MODERATION_HOLD_THRESHOLD = float(env_int("MODERATION_HOLD_THRESHOLD", 2))
MODERATION_SPAM_THRESHOLD = float(env_int("MODERATION_SPAM_THRESHOLD", 5))
MODERATION_BLOCKLIST = env_list(
    "MODERATION_BLOCKLIST", ["viagra", "casino", "crypto giveaway", "free money", "payday loan", "replica watches"]
)
BLOG_POSTS_PER_PAGE = env_int("BLOG_POSTS_PER_PAGE", 10, minimum=1)
MODERATION_QUEUE_PER_PAGE = env_int("MODERATION_QUEUE_PER_PAGE", 50, minimum=1)

PERIODIC_TASKS["purge-unverified-members"] = {
    "task": "blog.tasks.purge_unverified_members_task",
    "crontab": "30 3 * * *",
}
PERIODIC_TASKS["requeue-unsent-emails"] = {"task": "blog.tasks.email_sweep_task", "every_seconds": 300}


# --- weather (weather/client.py; README "Weather") ---

# Full endpoint URLs; tests, bench/ and `make run` point them at weather.fake_open_meteo.
WEATHER_GEOCODING_URL = env_str("WEATHER_GEOCODING_URL", "https://geocoding-api.open-meteo.com/v1/search")
WEATHER_FORECAST_URL = env_str("WEATHER_FORECAST_URL", "https://api.open-meteo.com/v1/forecast")
WEATHER_MAX_CITIES = env_int("WEATHER_MAX_CITIES", 10, minimum=1)
WEATHER_CONNECT_TIMEOUT_SECONDS = env_int("WEATHER_CONNECT_TIMEOUT_SECONDS", 3, minimum=1)
WEATHER_TIMEOUT_SECONDS = env_int("WEATHER_TIMEOUT_SECONDS", 8, minimum=1)  # one upstream attempt, in total
WEATHER_RETRIES = env_int("WEATHER_RETRIES", 2, minimum=0)  # extra attempts on timeout / 5xx / 429
WEATHER_RETRY_BACKOFF_MS = env_int("WEATHER_RETRY_BACKOFF_MS", 250, minimum=0)  # doubled per attempt, full jitter
WEATHER_RETRY_AFTER_MAX_SECONDS = env_int("WEATHER_RETRY_AFTER_MAX_SECONDS", 5, minimum=0)  # longer: give up
# Upstream requests in flight at once in one web process, whoever asked (visitors share the cap).
WEATHER_MAX_CONCURRENT_UPSTREAM = env_int("WEATHER_MAX_CONCURRENT_UPSTREAM", 100, minimum=1)
WEATHER_MAX_RESPONSE_BYTES = env_int("WEATHER_MAX_RESPONSE_BYTES", 512 * 1024, minimum=1024)
WEATHER_CACHE_ENABLED = env_bool("WEATHER_CACHE_ENABLED", True)
WEATHER_GEOCODING_CACHE_SECONDS = env_int("WEATHER_GEOCODING_CACHE_SECONDS", 7 * 24 * 3600, minimum=0)
WEATHER_FORECAST_CACHE_SECONDS = env_int("WEATHER_FORECAST_CACHE_SECONDS", 600, minimum=0)
# How long an expired answer is kept to be served, marked stale, when the upstream fails.
WEATHER_STALE_KEEP_SECONDS = env_int("WEATHER_STALE_KEEP_SECONDS", 24 * 3600, minimum=0)
# Per client address: at most this many city lookups per window (0 turns the limit off).
WEATHER_RATE_LIMIT = env_int("WEATHER_RATE_LIMIT", 60, minimum=0)
WEATHER_RATE_WINDOW_SECONDS = env_int("WEATHER_RATE_WINDOW_SECONDS", 60, minimum=1)


# --- live dashboard pages polled once per daphne process (dashboard/live/poller.py) ---

# Workers page: how long `inspect()` waits for worker replies, how long heartbeats are listened
# for, and how often the page is refreshed while anyone watches (seconds).
WORKERS_INSPECT_TIMEOUT = env_float("WORKERS_INSPECT_TIMEOUT", 1.0, minimum=0.1)
WORKERS_HEARTBEAT_WINDOW = env_float("WORKERS_HEARTBEAT_WINDOW", 1.5, minimum=0.1)
WORKERS_POLL_INTERVAL = env_float("WORKERS_POLL_INTERVAL", 3.0, minimum=1.0)
# Dashboard home charts: re-aggregated at most this often (seconds).
HOME_CHARTS_INTERVAL = env_float("HOME_CHARTS_INTERVAL", 10.0, minimum=2.0)


# --- scheduled jobs (dashboard/schedules/, dashboard/reports/, dashboard/monitor/maintenance.py) ---

PERIODIC_TASKS["daily-report"] = {"task": "dashboard.tasks.daily_report_task", "crontab": "5 0 * * *"}
PERIODIC_TASKS["clean-up-task-results"] = {"task": "dashboard.tasks.cleanup_task_results_task", "crontab": "45 3 * * *"}
# Task results (and who launched them) older than this are deleted by the clean-up, in batches of
# this many primary keys, each batch its own short transaction so the site stays usable meanwhile.
TASK_RESULT_MAX_AGE_DAYS = env_int("TASK_RESULT_MAX_AGE_DAYS", 30, minimum=1)
TASK_RESULT_CLEANUP_BATCH_SIZE = env_int("TASK_RESULT_CLEANUP_BATCH_SIZE", 5000, minimum=1)
# Flower (`python -m site_config.flower`, Procfile): "user:password[,user2:password2]"; required
# unless DEBUG is on.
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH", "")


# --- operations: readiness and metrics (ops/; README "Health and metrics", docs/operations.md) ---

# /readyz reuses its last result for this long, so load balancers may poll it every second.
READINESS_CACHE_SECONDS = env_float("READINESS_CACHE_SECONDS", 1.0, minimum=0.0)
# Who may read /metrics: a bearer token, and/or client addresses (CIDR, e.g. "10.0.0.0/8"). Neither
# set: /metrics answers 404. The address is daphne's peer (or X-Forwarded-For with DAPHNE_PROXY_HEADERS).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
try:
    for _network in METRICS_ALLOWED_NETWORKS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from None
# Each process sends what it recorded to Redis this often (seconds); see ops/metrics.py.
METRICS_FLUSH_SECONDS = env_float("METRICS_FLUSH_SECONDS", 2.0, minimum=0.1)
