"""Site settings: every value that differs between machines comes from the environment.

The defaults make `make run` work on a fresh clone (SQLite under var/, a local Redis, DEBUG on);
production sets DJANGO_DEBUG=0 and the variables documented in docs/configuration.md (one row each;
tests/test_docs.py checks that every variable read here has its row).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from site_config.machinery import redis_roles

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
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")):
    # What Django's deploy check security.W009 only warns about: it signs sessions, reset links,
    # device cookies and API token stamps, so a guessable key is refused, not run with.
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is too weak for production: use at least 50 random characters "
        "(e.g. `openssl rand -hex 32`), not Django's default.")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
if "*" in ALLOWED_HOSTS:
    # The list is also the websocket Origin allow-list (site_config/asgi.py): "*" would let any site
    # open a signed-in visitor's sockets, and accept any Host header.
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must not contain '*': list the site's host names (e.g. example.com)."
    )
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
    "csp",
    "template_partials",
    "django_celery_results",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, from PyPI (never a CDN): /api/docs/
    "site_config.apps.SiteConfigConfig",  # the project's deploy checks (site_config/machinery/checks.py)
    "site_config.ops",
    "dashboard",
    "blog",
    "weather",
]

# Django's and WhiteNoise's middleware, with an async mode that runs the hooks on daphne's event loop
# instead of a thread hand-off per hook (site_config/machinery/middleware.py says why and when they still do).
MIDDLEWARE = [
    # /healthz, /readyz and /metrics, answered before ALLOWED_HOSTS and the HTTPS redirect (site_config/ops/middleware.py).
    "site_config.ops.middleware.ProbeMiddleware",
    # An id per request, in its log lines and in the tasks it queues (site_config/machinery/request_context.py).
    "site_config.machinery.request_context.RequestIdMiddleware",
    "site_config.machinery.middleware.SecurityMiddleware",
    "site_config.machinery.middleware.WhiteNoiseMiddleware",
    "site_config.machinery.middleware.CSPMiddleware",
    "site_config.machinery.middleware.SessionMiddleware",
    "site_config.machinery.middleware.LocaleMiddleware",
    "site_config.machinery.middleware.CommonMiddleware",
    "site_config.machinery.middleware.CsrfViewMiddleware",
    "site_config.machinery.middleware.AuthenticationMiddleware",
    "site_config.machinery.middleware.MessageMiddleware",
    "site_config.machinery.middleware.XFrameOptionsMiddleware",
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
                "site_config.machinery.context_processors.csp_nonce",
                "site_config.machinery.context_processors.service_notices",
            ],
            # {% translate %}, {% time_tag %} and |breakable on every page without a {% load %} (Django i18n; site_config/templatetags/display.py).
            "builtins": ["django.templatetags.i18n", "site_config.templatetags.display"],
        },
    },
]


# --- database: SQLite under var/ by default, anything dj-database-url understands otherwise ---

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Web processes (daphne) keep Django's own connection pool (psycopg_pool): Django advises against
    # persistent connections under ASGI, where each database call from an async view or a consumer
    # may run on a new thread. site_config/asgi.py turns it on (DJANGO_DB_POOL defaults to on there).
    # Workers, beat and commands keep one persistent connection per process instead (Celery closes
    # it when it is older than DJANGO_CONN_MAX_AGE, checked before each task).
    if env_bool("DJANGO_DB_POOL", False):
        DATABASES["default"]["OPTIONS"] = {"pool": {
            "min_size": env_int("DJANGO_DB_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env_int("DJANGO_DB_POOL_MAX_SIZE", 8, minimum=1),
            "timeout": env_float("DJANGO_DB_POOL_TIMEOUT", 10.0, minimum=0.1),
        }}
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DJANGO_CONN_MAX_AGE", 600, minimum=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Behind a pooler in transaction mode (pgbouncer's pool_mode=transaction), one client's server
    # connection can change between transactions: a server-side cursor declared in one may be gone in
    # the next, so none are used; nor prepared statements (psycopg prepares a query it runs often
    # when server-side binding is turned on in OPTIONS).
    DATABASE_TRANSACTION_POOLING = env_bool("DATABASE_TRANSACTION_POOLING", False)
    if DATABASE_TRANSACTION_POOLING:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
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

# English and Traditional Chinese. A browser's Accept-Language picks one (zh-TW, zh-HK, zh-MO and
# zh-Hant all reach zh-hant through Django's own fallbacks); the switch in the header sets a cookie
# and, for a signed-in member, their profile, which also chooses the language of their emails.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hant", "繁體中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True


# --- static files: our own CSS/JS in static/, third-party JS from installed packages ---

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Uploaded and generated files (post images, exports) go through the "default" storage's API only
# (open, save, delete, url), never a local path: with several hosts, web and worker processes reach
# the same files only through object storage (STORAGE_S3_BUCKET set: django-storages' S3 backend,
# any S3-speaking service). Without it, the local folder DJANGO_MEDIA_ROOT: right for `make run` on
# one machine; the deploy check site_config.W030 warns about it in production unless
# STORAGE_LOCAL_DISK_SHARED says the folder is shared on purpose. Files are served by
# permission-checked views only (blog/media.py, the exports' download): with S3 they answer with a
# redirect to a pre-signed URL, with the file system they stream the file in chunks.
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGE_S3_BUCKET = env_str("STORAGE_S3_BUCKET", "")
STORAGE_S3_ENDPOINT_URL = env_str("STORAGE_S3_ENDPOINT_URL", "")
STORAGE_S3_REGION = env_str("STORAGE_S3_REGION", "")
STORAGE_S3_ADDRESSING_STYLE = env_str("STORAGE_S3_ADDRESSING_STYLE", "")
if STORAGE_S3_ADDRESSING_STYLE not in ("", "auto", "path", "virtual"):
    raise ImproperlyConfigured("STORAGE_S3_ADDRESSING_STYLE must be auto, path or virtual.")
STORAGE_S3_PREFIX = env_str("STORAGE_S3_PREFIX", "").strip("/")
# How long a download's pre-signed URL works: the browser follows the redirect at once.
STORAGE_S3_URL_SECONDS = env_int("STORAGE_S3_URL_SECONDS", 120, minimum=10)
# How long the pre-signed URL of a public rendition works (SigV4 allows 7 days at most); every web
# process hands out the same URL for half of it (shared cache), so browsers keep the image that long.
STORAGE_S3_PUBLIC_URL_SECONDS = env_int("STORAGE_S3_PUBLIC_URL_SECONDS", 7 * 24 * 3600, minimum=600)
if STORAGE_S3_PUBLIC_URL_SECONDS > 7 * 24 * 3600:
    raise ImproperlyConfigured("STORAGE_S3_PUBLIC_URL_SECONDS is at most 604800 (7 days, the S3 limit).")
STORAGE_LOCAL_DISK_SHARED = env_bool("STORAGE_LOCAL_DISK_SHARED", False)
if STORAGE_S3_BUCKET:
    MEDIA_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
    MEDIA_STORAGE_OPTIONS = {
        "bucket_name": STORAGE_S3_BUCKET,
        "endpoint_url": STORAGE_S3_ENDPOINT_URL or None,
        "region_name": STORAGE_S3_REGION or None,
        "addressing_style": STORAGE_S3_ADDRESSING_STYLE or None,
        "location": STORAGE_S3_PREFIX,
        # Credentials: these two when set, else boto3's own chain (AWS_* variables, instance role).
        "access_key": env_str("STORAGE_S3_ACCESS_KEY_ID", "") or None,
        "secret_key": env_str("STORAGE_S3_SECRET_ACCESS_KEY", "") or None,
        "default_acl": None,  # the bucket's own policy decides (private); nothing is made public per object
        "querystring_auth": True,
        "querystring_expire": STORAGE_S3_URL_SECONDS,
        # Names are unique by construction (random or numbered); saving over a key replaces it
        # without the HEAD request per save that renaming would cost (docs/operations.md, Storage).
        "file_overwrite": True,
        "signature_version": "s3v4",
    }
else:
    MEDIA_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"
    MEDIA_STORAGE_OPTIONS = {"location": str(MEDIA_ROOT)}


def _s3_origins() -> list[str]:
    """Where the bucket's pre-signed URLs point (path- or virtual-host style): the origins a page's
    images may be redirected to, so the Content-Security-Policy's img-src allows them."""
    if not STORAGE_S3_BUCKET:
        return []
    if STORAGE_S3_ENDPOINT_URL:
        endpoint = urlsplit(STORAGE_S3_ENDPOINT_URL)
        return [f"{endpoint.scheme}://{endpoint.netloc}", f"{endpoint.scheme}://{STORAGE_S3_BUCKET}.{endpoint.netloc}"]
    region = f".{STORAGE_S3_REGION}" if STORAGE_S3_REGION else ""
    return [f"https://{STORAGE_S3_BUCKET}.s3{region}.amazonaws.com", f"https://s3{region}.amazonaws.com"]


STORAGE_S3_ORIGINS = _s3_origins()
STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND, "OPTIONS": MEDIA_STORAGE_OPTIONS},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# How long a browser keeps a static file without asking again. Hashed names (the build's, DEBUG off)
# are kept for ever whatever this says; the others (css/site.css in development) for this long.
WHITENOISE_MAX_AGE = env_int("STATIC_MAX_AGE", 0 if DEBUG else 60, minimum=0)


# --- Redis by role (site_config/machinery/redis_roles.py): each role's URL defaults to REDIS_URL ---

def env_redis_url(name: str, default: str) -> str:
    """A Redis URL (redis://, rediss://, unix://) or the documented sentinel:// form, checked at start-up."""
    value = env_str(name, "") or default
    if redis_roles.is_sentinel(value):
        try:
            redis_roles.parse_sentinel(value)
        except ValueError as error:
            raise ImproperlyConfigured(f"{name}: {error}") from None
    return value


REDIS_URL = env_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0")
# Each role's own URL, "" for REDIS_URL (the client factory reads them when it makes a client).
# The cache may evict (a Redis with maxmemory and allkeys-lru); the broker and our keys must not.
CACHE_REDIS_URL = env_redis_url("CACHE_REDIS_URL", "")
CHANNEL_LAYER_REDIS_URL = env_redis_url("CHANNEL_LAYER_REDIS_URL", "")
# Throttles, metrics, worker heartbeats, cancel flags, the weather's answers and budget.
REDIS_KEYS_URL = env_redis_url("REDIS_KEYS_URL", "")

CACHES = {
    "default": {
        # Django's Redis cache that degrades to "no cache" while Redis is down (site_config/machinery/cache.py).
        "BACKEND": "site_config.machinery.cache.ResilientRedisCache",
        # A list: Django splits a string at commas, which a sentinel:// URL lists its sentinels with.
        "LOCATION": [CACHE_REDIS_URL or REDIS_URL],
        "KEY_PREFIX": "site",
        "TIMEOUT": 300,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2,
                    "pool_class": "site_config.machinery.redis_roles.RolePool"},
    },
    # Rendered task-list rows of ended tasks ({% cache %} in dashboard/monitor/list.html), in each
    # process's memory: a row is 2 kB and rendering it costs 0.4 ms, fetching it from Redis about as
    # much. Nothing to share or invalidate: an ended task's row does not change (kept 10 minutes, so
    # that a renamed account shows within that; the time is the template's).
    "rows": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "task-rows",
             "OPTIONS": {"MAX_ENTRIES": 5000}},
}

# RedisPubSubChannelLayer, chosen by measurement (docs/benchmarks.md): one PUBLISH per group_send,
# fanned out inside each daphne process, lower latency than the list-based RedisChannelLayer, no
# per-channel capacity that silently drops messages, and groups re-subscribed after a Redis restart.
# Pub/sub ignores the db number: two sites on one Redis need different prefixes, so the default
# carries the db ("site" on db 0, "site-db1" on db 1).
_layer_db = redis_roles.url_db(CHANNEL_LAYER_REDIS_URL or REDIS_URL)
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "site" if _layer_db == 0 else f"site-db{_layer_db}")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [redis_roles.channels_host(CHANNEL_LAYER_REDIS_URL or REDIS_URL)], "prefix": CHANNEL_LAYER_PREFIX},
    }
}


# --- Celery (namespace CELERY_) ---

# The broker as the operator names it (Redis, the sentinel:// form, or amqp://); Celery gets it
# translated for kombu. BROKER_REDIS_URL: the same URL when it is a Redis, for the site's own reads
# of the queues (lengths, the lost-message sweep); "" for RabbitMQ.
_broker_url = env_redis_url("CELERY_BROKER_URL", REDIS_URL)
BROKER_REDIS_URL = _broker_url if _broker_url.startswith(("redis://", "rediss://", "unix://", "sentinel://")) else ""
CELERY_BROKER_URL, _broker_options = redis_roles.kombu_broker(_broker_url)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if _broker_url.startswith(("redis://", "rediss://")):
    # kombu's Redis transport with the fix that keeps a worker alive across a Redis restart.
    CELERY_BROKER_TRANSPORT = "site_config.machinery.broker:Transport"
elif redis_roles.is_sentinel(_broker_url):
    CELERY_BROKER_TRANSPORT = "site_config.machinery.broker:SentinelTransport"
# Redis re-delivers an unacknowledged message after the visibility timeout; it must be longer than
# the longest task, or a long task runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
                                   **_broker_options}
# Every task's time limits (prefork pool): the soft one raises SoftTimeLimitExceeded in the task (it
# fails with that reason), the hard one kills its process a minute later. Both end well before the
# visibility timeout, so no long job is delivered a second time while it still runs.
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] // 2,
                                      minimum=1)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 60
if CELERY_TASK_TIME_LIMIT >= CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT + 60 must be less than CELERY_VISIBILITY_TIMEOUT.")
# On a cold shutdown (a second Ctrl-C, SIGQUIT) running tasks still get this long to finish before
# unfinished late-acknowledged ones are handed back to the broker.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = env_float("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", 10.0, minimum=0.0)
# Lets the workers page restart a worker's pool (the `pool_restart` control command; prefork only).
CELERY_WORKER_POOL_RESTARTS = True
# django-celery-results' database backend, retrying on a dropped connection (site_config/machinery/results.py).
CELERY_RESULT_BACKEND = "site_config.machinery.results:DatabaseBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = env_int("CELERY_RESULT_BACKEND_MAX_RETRIES", 15, minimum=0)
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 100
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 10_000
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TRACK_STARTED = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TIMEZONE = TIME_ZONE
# django-celery-beat's DatabaseScheduler behind a lease in Redis: any number of beats may run, one
# sends (site_config/machinery/beat.py). The lease expires this long after its holder died; a
# standby takes over within a fifth of it more.
CELERY_BEAT_SCHEDULER = "site_config.machinery.beat:LeasedDatabaseScheduler"
BEAT_LEASE_SECONDS = env_float("BEAT_LEASE_SECONDS", 10.0, minimum=1.0)
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
    "blog.tasks.email_batch_send_task": {"queue": "email"},
    "blog.tasks.announcement_batch_task": {"queue": "email"},
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
# not our subclasses; site_config/machinery/checks.py checks ours instead, and runs the checks that depend on
# them (HSTS, HTTPS redirect, cookie flags, ...), which Django skips. Silence exactly those three.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

SESSION_COOKIE_HTTPONLY = True
# Scripts never need the cookie: htmx sends the token from the page (base.html's hx-headers).
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # No SECURE_PROXY_SSL_HEADER: X-Forwarded-Proto is believed only from TRUSTED_PROXIES
    # (site_config/machinery/client_address.py sets the scheme), never from whoever sends it.
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)


# --- logging: the task id and name on every line a task emits, and no one-time key from a path
# (site_config.machinery.logging_filters) ---

LOG_LEVEL = env_str("DJANGO_LOG_LEVEL", "INFO").upper()
# "text" (one readable line) or "json" (one JSON object a line: time, level, logger, process, task id,
# request id, message), for a log collector gathering several hosts.
LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT={LOG_FORMAT!r}: use text or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"task_context": {"()": "site_config.machinery.logging_filters.TaskContextFilter"},
                "redact_keys": {"()": "site_config.machinery.logging_filters.RedactKeysFilter"}},
    "formatters": {
        "text": {
            "format": "%(asctime)s %(levelname)s %(processName)s %(name)s [%(task_name)s %(task_id)s] %(message)s",
        },
        "json": {"()": "site_config.machinery.logging_filters.JsonLinesFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["task_context", "redact_keys"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "INFO"},
    },
}


# --- blog ---

# Absolute base of every link in an email (verification, password reset, "your comment was
# approved"). Never taken from a request: its Host header is chosen by the client, and a reset link
# pointing at someone else's host would hand them the token.
SITE_URL = env_str("SITE_URL", "").rstrip("/")
if not SITE_URL:
    # Unset: the site's own first host name (a value the operator chose, never a request's Host
    # header), over https in production; `make run`'s address with DEBUG on.
    _host = next((host.lstrip(".") for host in ALLOWED_HOSTS if host.strip(".")), "")
    if DEBUG:
        SITE_URL = "http://127.0.0.1:8000"
    elif _host:
        SITE_URL = f"https://{_host}"
    else:
        raise ImproperlyConfigured(
            "SITE_URL must be set when DJANGO_DEBUG is off and DJANGO_ALLOWED_HOSTS names no host: links "
            "in emails are built from it (e.g. SITE_URL=https://example.com)."
        )
if not DEBUG:
    _site = urlsplit(SITE_URL)
    if _site.scheme != "https" or not _site.netloc:
        raise ImproperlyConfigured(
            f"SITE_URL={SITE_URL!r} must be an https:// address when DJANGO_DEBUG is off "
            "(e.g. SITE_URL=https://example.com): links in emails carry one-time tokens."
        )

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
# The defaults try for about 75 minutes: 30 s, 1, 2, 4, 8 min, then every 15 min (blog/services/outbox.py).
EMAIL_SEND_MAX_ATTEMPTS = env_int("EMAIL_SEND_MAX_ATTEMPTS", 10, minimum=1)
EMAIL_RETRY_BACKOFF_SECONDS = env_int("EMAIL_RETRY_BACKOFF_SECONDS", 30, minimum=1)
EMAIL_RETRY_BACKOFF_MAX_SECONDS = env_int("EMAIL_RETRY_BACKOFF_MAX_SECONDS", 900, minimum=1)
# The sweep (every minute) sends rows whose next attempt is due, rows left "queued" with no attempt
# planned for this long (their task was lost), and rows stuck "sending" (a worker died mid-send).
EMAIL_SWEEP_QUEUED_AFTER_SECONDS = env_int("EMAIL_SWEEP_QUEUED_AFTER_SECONDS", 120, minimum=1)
EMAIL_SWEEP_SENDING_AFTER_SECONDS = env_int("EMAIL_SWEEP_SENDING_AFTER_SECONDS", 600, minimum=1)
# Many emails at once (bulk approval's notifications, the sweep) go out as one task per this many,
# over one SMTP connection, not one task each.
EMAIL_BATCH_SIZE = env_int("EMAIL_BATCH_SIZE", 100, minimum=1)
# Announcements to all members: members per batch task (one task writes and sends a batch, then
# queues the next; a pause takes effect between batches).
ANNOUNCEMENT_BATCH_SIZE = env_int("ANNOUNCEMENT_BATCH_SIZE", 100, minimum=1)

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
# Post images (blog/services/images.py): an upload must be a JPEG, PNG or WebP (known by decoding,
# never by its name) of at most this many bytes and pixels; the renditions task makes these widths
# (never wider than the original), each as WebP and JPEG.
POST_IMAGE_MAX_BYTES = env_int("POST_IMAGE_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
POST_IMAGE_MAX_PIXELS = env_int("POST_IMAGE_MAX_PIXELS", 40_000_000, minimum=1)
try:
    POST_IMAGE_WIDTHS = sorted({int(width) for width in env_list("POST_IMAGE_WIDTHS", ["480", "960", "1600"])})
except ValueError:
    raise ImproperlyConfigured("POST_IMAGE_WIDTHS must be comma-separated whole numbers, e.g. 480,960,1600.") from None
if not POST_IMAGE_WIDTHS or POST_IMAGE_WIDTHS[0] < 16:
    raise ImproperlyConfigured("POST_IMAGE_WIDTHS must name at least one width of 16 pixels or more.")
POST_IMAGE_JPEG_QUALITY = env_int("POST_IMAGE_JPEG_QUALITY", 82, minimum=1)
POST_IMAGE_WEBP_QUALITY = env_int("POST_IMAGE_WEBP_QUALITY", 80, minimum=1)
BLOG_POSTS_PER_PAGE = env_int("BLOG_POSTS_PER_PAGE", 10, minimum=1)
BLOG_COMMENTS_PER_PAGE = env_int("BLOG_COMMENTS_PER_PAGE", 50, minimum=1)
MODERATION_QUEUE_PER_PAGE = env_int("MODERATION_QUEUE_PER_PAGE", 50, minimum=1)

PERIODIC_TASKS["purge-unverified-members"] = {
    "task": "blog.tasks.purge_unverified_members_task",
    "crontab": "30 3 * * *",
}
# A comment still pending this long (its moderation message lost) is queued for moderation again.
COMMENT_PENDING_REQUEUE_SECONDS = env_int("COMMENT_PENDING_REQUEUE_SECONDS", 300, minimum=10)
PERIODIC_TASKS["moderate-pending-comments"] = {
    "task": "blog.tasks.pending_comments_requeue_task",
    "every_seconds": 300,
    "description": "Comments whose moderation message was lost are moderated again.",
}
PERIODIC_TASKS["requeue-unsent-emails"] = {
    "task": "blog.tasks.email_sweep_task",
    "every_seconds": 60,
    "description": "Emails whose next attempt is due, or whose task was lost, are handed to the workers.",
}


# --- jobs people start: cancel, exports (dashboard/jobs/, dashboard/exports/; docs/jobs.md) ---

# How long a cancel request waits for its running task's next progress report (the flag's lifetime
# in Redis); longer than the longest gap between two reports of any task.
TASK_CANCEL_FLAG_SECONDS = env_int("TASK_CANCEL_FLAG_SECONDS", 86400, minimum=60)
# An export's file can be downloaded for this long; then the clean-up job removes file and row.
EXPORT_EXPIRY_HOURS = env_int("EXPORT_EXPIRY_HOURS", 24, minimum=1)
# Rows read per database batch (keyset pagination) and per progress report while writing an export.
EXPORT_BATCH_ROWS = env_int("EXPORT_BATCH_ROWS", 2000, minimum=1)
# Where an export is written before it is handed to the storage: a local scratch folder, one
# sub-folder per worker (its node name), which that worker empties at start and after each job.
EXPORT_WORK_DIR = Path(env_str("EXPORT_WORK_DIR", str(VAR_DIR / "exports-work")))
PERIODIC_TASKS["remove-expired-exports"] = {
    "task": "dashboard.tasks.exports_cleanup_task",
    "every_seconds": 900,
    "description": "Export files past their expiry are deleted with their rows.",
}
# A stored file no row names (a rolled-back upload, a worker killed between saving and recording)
# is deleted once it is this old; younger ones may be uploads still in flight (dashboard/storage_sweep.py).
STORAGE_ORPHAN_GRACE_HOURS = env_int("STORAGE_ORPHAN_GRACE_HOURS", 24, minimum=1)
PERIODIC_TASKS["sweep-orphaned-files"] = {
    "task": "dashboard.tasks.storage_orphans_sweep_task",
    "every_seconds": 3600,
    "description": "Stored files that no row names, older than the grace period, are deleted.",
}


# --- weather (weather/client.py; docs/weather.md) ---

# Full endpoint URLs; tests, bench/ and `make run` point them at weather.fake_open_meteo.
WEATHER_GEOCODING_URL = env_str("WEATHER_GEOCODING_URL", "https://geocoding-api.open-meteo.com/v1/search")
WEATHER_FORECAST_URL = env_str("WEATHER_FORECAST_URL", "https://api.open-meteo.com/v1/forecast")
# Set by `make run` when Open-Meteo did not answer at start-up and a local stand-in serves made-up
# weather (site_config/devtools/weather_upstream.py): the weather page says so.
WEATHER_USING_FAKE = env_bool("WEATHER_USING_FAKE", False)
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
# "No such place" answers are remembered this long (a typo costs one upstream call per period).
WEATHER_NOT_FOUND_CACHE_SECONDS = env_int("WEATHER_NOT_FOUND_CACHE_SECONDS", 3600, minimum=0)
# One city's answer, everything included (a free upstream slot, attempts, back-off), within this.
WEATHER_CITY_DEADLINE_SECONDS = env_float("WEATHER_CITY_DEADLINE_SECONDS", 10.0, minimum=0.1)
# Upstream calls of all visitors and processes together (0: no limit for that window). The defaults
# are Open-Meteo's published free-tier limits for non-commercial use.
WEATHER_UPSTREAM_PER_MINUTE = env_int("WEATHER_UPSTREAM_PER_MINUTE", 600, minimum=0)
WEATHER_UPSTREAM_PER_HOUR = env_int("WEATHER_UPSTREAM_PER_HOUR", 5000, minimum=0)
WEATHER_UPSTREAM_PER_DAY = env_int("WEATHER_UPSTREAM_PER_DAY", 10000, minimum=0)
# Per client address: at most this many city lookups per window (0 turns the limit off).
WEATHER_RATE_LIMIT = env_int("WEATHER_RATE_LIMIT", 60, minimum=0)
WEATHER_RATE_WINDOW_SECONDS = env_int("WEATHER_RATE_WINDOW_SECONDS", 60, minimum=1)


# --- live pages: each daphne process probes its channel-layer subscription (dashboard/live/fanout.py) ---

# How often (seconds) a probe goes through Redis and back while the subscription is healthy, and
# how long it may take before the pages are told they are not live.
LIVE_PROBE_INTERVAL = env_float("LIVE_PROBE_INTERVAL", 5.0, minimum=0.2)
LIVE_PROBE_TIMEOUT = env_float("LIVE_PROBE_TIMEOUT", 3.0, minimum=0.1)


# Worker heartbeats (site_config/ops/liveness.py, the one source of worker liveness): written this often, each kept three times as long;
# a running task no live worker has claimed for WORKER_LOST_AFTER_SECONDS is declared lost (checked
# every LOST_TASKS_SWEEP_SECONDS). Worst case from a worker's death to "lost": 3 x heartbeat + sweep
# + lost-after + sweep = 55 s with these defaults.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 5.0, minimum=0.2)
WORKER_LOST_AFTER_SECONDS = env_float("WORKER_LOST_AFTER_SECONDS", 20.0, minimum=1.0)
LOST_TASKS_SWEEP_SECONDS = env_int("LOST_TASKS_SWEEP_SECONDS", 10, minimum=1)


# --- stopping (site_config/ops/web.py, Procfile) ---

# A web process told to stop (SIGTERM) answers /readyz 503 at once and keeps serving this long
# before it closes its websockets (1012: the pages reconnect elsewhere) and exits. Keep it a few
# seconds under the platform's kill delay, and over the balancer's probe interval.
WEB_DRAIN_SECONDS = env_float("WEB_DRAIN_SECONDS", 10.0, minimum=0.0)


# --- websockets (dashboard/live/consumers.py) ---

# A socket is authorised when it connects; it closes (code 1012, which the page's htmx ws extension
# reconnects after, authorised afresh) after at most this many seconds. Rights that end are also
# announced to open sockets at once (dashboard/live/rights.py); this bounds what nothing announces.
WS_MAX_AGE_SECONDS = env_int("WS_MAX_AGE_SECONDS", 3600, minimum=1)
# How many websockets, progress streams and long polls one account holds open at once, across every
# web process (site_config/machinery/rate_limit.py); one more is closed with 4429 (a 429 for the API).
LIVE_CONNECTIONS_PER_ACCOUNT = env_int("LIVE_CONNECTIONS_PER_ACCOUNT", 30, minimum=0)


# --- live dashboard pages polled once per daphne process (dashboard/live/poller.py) ---

# Workers page: how long `inspect()` waits for worker replies, and how often the page is refreshed
# while anyone watches (seconds).
WORKERS_INSPECT_TIMEOUT = env_float("WORKERS_INSPECT_TIMEOUT", 1.0, minimum=0.1)
WORKERS_POLL_INTERVAL = env_float("WORKERS_POLL_INTERVAL", 3.0, minimum=1.0)
# Worker control from the workers page: how long a command waits for the workers' replies (seconds).
WORKERS_CONTROL_TIMEOUT = env_float("WORKERS_CONTROL_TIMEOUT", 2.0, minimum=0.1)
# Dashboard home charts: re-aggregated at most this often (seconds).
HOME_CHARTS_INTERVAL = env_float("HOME_CHARTS_INTERVAL", 10.0, minimum=2.0)


# --- scheduled jobs (dashboard/schedules/, dashboard/reports/, dashboard/monitor/maintenance.py) ---

PERIODIC_TASKS["daily-report"] = {"task": "dashboard.tasks.daily_report_task", "crontab": "5 0 * * *"}
PERIODIC_TASKS["clean-up-task-results"] = {"task": "dashboard.tasks.cleanup_task_results_task", "crontab": "45 3 * * *"}
PERIODIC_TASKS["sweep-lost-tasks"] = {
    "task": "dashboard.tasks.lost_tasks_sweep_task",
    "every_seconds": LOST_TASKS_SWEEP_SECONDS,
    "description": "Tasks whose worker died: marked failed with the reason, sent again when safe.",
}
# Task results (and who launched them) older than this are deleted by the clean-up, in batches of
# this many primary keys, each batch its own short transaction so the site stays usable meanwhile.
TASK_RESULT_MAX_AGE_DAYS = env_int("TASK_RESULT_MAX_AGE_DAYS", 30, minimum=1)
TASK_RESULT_CLEANUP_BATCH_SIZE = env_int("TASK_RESULT_CLEANUP_BATCH_SIZE", 5000, minimum=1)
# The same daily clean-up keeps the other tables that grow with use bounded (dashboard/monitor/maintenance.py).
AUDIT_MAX_AGE_DAYS = env_int("AUDIT_MAX_AGE_DAYS", 365, minimum=1)
OUTBOX_MAX_AGE_DAYS = env_int("OUTBOX_MAX_AGE_DAYS", 90, minimum=1)
# The task list's state counts and free-text search read rows, not an index range: whatever dates
# are chosen, they read at most the latest this many days of them (dashboard/monitor/filters.py).
TASK_SCAN_MAX_DAYS = env_int("TASK_SCAN_MAX_DAYS", 7, minimum=1)
# Flower (`python -m site_config.ops.flower`, Procfile): "user:password[,user2:password2]"; required
# unless DEBUG is on.
FLOWER_BASIC_AUTH = env_str("FLOWER_BASIC_AUTH", "")


# --- the doors: who the client is, throttles, Content-Security-Policy, websocket origins ---

# Reverse proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are believed,
# e.g. "10.0.0.0/8" or "127.0.0.1" behind a local nginx; empty: daphne's peer is the client
# (site_config/machinery/client_address.py, docs/security.md "Behind a proxy").
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network (e.g. 10.0.0.0/8, 192.0.2.7, ::1)."
        ) from None
if "DAPHNE_PROXY_HEADERS" in os.environ:
    # It made daphne take the leftmost X-Forwarded-For, which the client writes.
    raise ImproperlyConfigured(
        "DAPHNE_PROXY_HEADERS is no longer read: unset it and set TRUSTED_PROXIES to your proxy's "
        "address or network (e.g. TRUSTED_PROXIES=10.0.0.0/8); see docs/security.md \"Behind a proxy\"."
    )


def env_rate(name: str, default: str) -> tuple[int, int]:
    """"COUNT/SECONDS" (e.g. "10/900": ten per 15 minutes) as (count, seconds); a count of 0 turns it off."""
    raw = os.environ.get(name, default)
    try:
        count, seconds = (int(part) for part in raw.split("/"))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not COUNT/SECONDS, e.g. 10/900 (ten per 15 minutes).") from None
    if count < 0 or seconds < 1:
        raise ImproperlyConfigured(f"{name}={raw!r}: the count must be 0 or more and the seconds at least 1.")
    return count, seconds


# The JSON API (/api/, dashboard/api/): JSON in and out, a token or the session (with CSRF), one
# request budget per token (API_THROTTLE_RATE, "COUNT/SECONDS"), errors in one shape
# (dashboard/api/errors.py). Progress streams close after API_STREAM_MAX_SECONDS (clients reconnect).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "dashboard.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["dashboard.api.throttling.PerTokenThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dashboard.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Live Django API",
    "DESCRIPTION": "Tasks, workers, queues, schedules and reports, with the dashboard's permissions. "
                   "Authenticate with `Authorization: Bearer <token>` (create tokens at /accounts/tokens/).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dashboard.api.schema.add_stream_endpoints",
    ],
}
API_THROTTLE_RATE = env_rate("API_THROTTLE_RATE", "600/60")
API_STREAM_MAX_SECONDS = env_int("API_STREAM_MAX_SECONDS", 300, minimum=5)

# Throttles on the account doors (site_config/machinery/throttles.py): attempts per window, counted in Redis;
# over the limit a 429 page says when to try again, and the window ends by itself. Log-in counts
# failed attempts only: per account and address, per address, per account and device cookie for a
# browser that logged in before, and per account (USERNAME) from browsers without one. Password
# reset: 429 per client address; past the per-email cap no new link is sent, quietly.
THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS = env_rate("THROTTLE_LOGIN_PER_ACCOUNT_AND_ADDRESS", "10/900")
THROTTLE_LOGIN_PER_DEVICE = env_rate("THROTTLE_LOGIN_PER_DEVICE", "10/900")
THROTTLE_LOGIN_PER_USERNAME = env_rate("THROTTLE_LOGIN_PER_USERNAME", "100/900")
THROTTLE_LOGIN_PER_ADDRESS = env_rate("THROTTLE_LOGIN_PER_ADDRESS", "30/900")
THROTTLE_PASSWORD_RESET_PER_ADDRESS = env_rate("THROTTLE_PASSWORD_RESET_PER_ADDRESS", "5/3600")
THROTTLE_PASSWORD_RESET_PER_EMAIL = env_rate("THROTTLE_PASSWORD_RESET_PER_EMAIL", "10/3600")
THROTTLE_VERIFICATION_RESEND_PER_ADDRESS = env_rate("THROTTLE_VERIFICATION_RESEND_PER_ADDRESS", "10/3600")
THROTTLE_VERIFICATION_RESEND_PER_EMAIL = env_rate("THROTTLE_VERIFICATION_RESEND_PER_EMAIL", "5/3600")
THROTTLE_SIGNUP_PER_ADDRESS = env_rate("THROTTLE_SIGNUP_PER_ADDRESS", "10/3600")

# Content-Security-Policy (django-csp 4; site_config.machinery.middleware.CSPMiddleware): no inline script, no
# eval, no inline style attributes. Scripts and styles come from our own origin; the few inline
# elements the pages need (the weather cards' one-line <style>) carry the request's nonce, as do
# django-htmx's script tags. Websockets are same-origin ('self' covers ws:/wss: on the same host).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "img-src": [csp_constants.SELF, "data:", *STORAGE_S3_ORIGINS],
        "font-src": [csp_constants.SELF],
        "connect-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "frame-ancestors": [csp_constants.NONE],
    },
}
CONTENT_SECURITY_POLICY_REPORT_ONLY: dict = {}  # none: the policy above is enforced

# Where daphne listens (the Procfile's $PORT; `make run` sets it). With DEBUG on, pages served on the
# loopback at this port may open websockets (site_config/machinery/websocket_origin.py); otherwise websockets are
# accepted from SITE_URL and DJANGO_CSRF_TRUSTED_ORIGINS only, scheme, host and port compared.
PORT = env_int("PORT", 8000, minimum=1)


# --- operations: readiness and metrics (site_config/ops/; docs/operations.md) ---

# /readyz reuses its last result for this long, so load balancers may poll it every second.
READINESS_CACHE_SECONDS = env_float("READINESS_CACHE_SECONDS", 1.0, minimum=0.0)
# Who may read /metrics: a bearer token, and/or client addresses (CIDR, e.g. "10.0.0.0/8"). Neither
# set: /metrics answers 404. The address is the client's as site_config/machinery/client_address.py decides it (TRUSTED_PROXIES).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])
try:
    for _network in METRICS_ALLOWED_NETWORKS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from None
# Each process sends what it recorded to Redis this often (seconds); see site_config/ops/metrics.py.
METRICS_FLUSH_SECONDS = env_float("METRICS_FLUSH_SECONDS", 2.0, minimum=0.1)
