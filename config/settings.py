"""Settings for Compliance Registry.

One module, driven by ``DJANGO_*`` environment variables (and ``DATABASE_URL``).
The defaults suit a developer's machine: DEBUG on, SQLite in ``db.sqlite3``.
With DEBUG off the process refuses to start without a secret key, so a
production deployment can never run on a key that ships in the repository.
"""

import datetime
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    # Only ever used with DEBUG on, on a developer's machine.
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not ALLOWED_HOSTS and not DEBUG:
    # Without it Django would answer 400 to every request: fail at start-up, where the cause is obvious.
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_filters",
    "simple_history",
    "import_export",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # The data model, then the apps by concern (docs/architecture.md).
    "registry",
    "curation",
    "imports",
    "public",
    "opendata",
    "history",
    "operations",
    "verification",
    "official",
    "watch",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "operations.security.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "operations.security.ReadOnlyPublicSiteMiddleware",
    # ETag/Last-Modified and 304s for public pages, before the session is touched (operations/conditional_get.py).
    "operations.conditional_get.DataVersionETagMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"

# Seconds a database connection is kept between requests; unset (or "none"): for the worker's life, which gunicorn
# ends after GUNICORN_MAX_REQUESTS requests. A new connection starts with nothing prepared or cached on the
# server: on PostgreSQL its first pages of each kind took 20-50 ms more (the largest groups, N = 20,000), which a
# 60-second limit made every worker pay again each minute. A broken connection is replaced at the next request
# (conn_health_checks).
conn_max_age = os.environ.get("DJANGO_CONN_MAX_AGE", "").strip()
conn_max_age = None if conn_max_age.lower() in ("", "none") else int(conn_max_age)
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=conn_max_age,
        conn_health_checks=True,
    )
}
# PostgreSQL's connection options, the primary's and a replica's alike.
POSTGRES_OPTIONS = {
    # The register's queries are short; JIT-compiling the change feed's count alone took 0.5 s per table.
    # A prepared statement (below) is planned once, generically, rather than again at each of its first five runs
    # on a connection, PostgreSQL's default before it settles on the same generic plan (the pages' steady-state
    # SQL time is the same either way): those replans put a new connection's first group pages 20-50 ms above
    # the rest, the largest groups' cold p95.
    "options": "-c jit=off -c plan_cache_mode=force_generic_plan",
    # The statements registry.prepared runs again and again are prepared on the server at their first run:
    # planning was most of a detail page's SQL time (a group's white papers: 3 ms to plan, 0.2 ms to run). Every
    # one of them is a shape kept to be run again. Django's other queries bind on the client, where psycopg never
    # prepares. A pooler in front must pass prepared statements through (PgBouncer 1.21+ with
    # max_prepared_statements; docs/scaling.md).
    "prepare_threshold": 0,
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers carry on while an admin writes; the busy timeout makes a
    # second writer wait instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA mmap_size=1073741824;",
    }
    # mmap_size: pages are read from the file's memory map. Any write empties every other connection's page
    # cache, so the first page a worker serves after a write read its pages again: the home page 17 → 11 ms,
    # a licence list 25 → 20 ms (bench/inprocess.py, N = 20,000). 1 GiB is address space, not memory.
    # Connections persist like PostgreSQL's (DJANGO_CONN_MAX_AGE): opening one per request, and refilling its
    # page cache, cost a list page 8 ms of its 26. In WAL mode each statement outside a transaction reads the
    # newest commit, so a kept connection sees every write; a restore copies into the file (restore.py), so it
    # is never swapped underneath one.
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["OPTIONS"] = {**POSTGRES_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}

# What the public pages derive from the data (counts, facet counts, page ids, choice labels, rendered
# sections), keyed by the data version, so a write makes every old entry unreachable at once
# (registry/derived/version.py). One cache on disk that every gunicorn worker shares (diskcache: SQLite files
# in DJANGO_CACHE_DIR), so a page one worker computed is a hit in the others: with a cache per worker, a list of
# 200 URLs served by 5 workers still missed in a third of the requests after five passes (bench/RESULTS.md).
# Its operations wait at most DATABASE_TIMEOUT for a lock, then count as a miss: the cache never holds a page up.
# DJANGO_CACHE_DIR=memory keeps one in each process's memory instead.
CACHE_DIR = os.environ.get("DJANGO_CACHE_DIR") or str(BASE_DIR / "var" / "cache")
if CACHE_DIR == "memory":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "TIMEOUT": 600,
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "operations.cache.SharedDiskCache",
            "LOCATION": CACHE_DIR,
            "TIMEOUT": 600,
            "SHARDS": 8,
            "DATABASE_TIMEOUT": 0.05,
            "OPTIONS": {"size_limit": 2**30},
        }
    }

# An optional read replica (docs/scaling.md): public GET requests read from it, writes and the admin use the
# primary (operations/routers.py). The test runner points it at the test database instead of creating one.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=conn_max_age,
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    if DATABASES["replica"]["ENGINE"] == "django.db.backends.postgresql":
        # The same reasons as the primary's: the public reads are exactly what runs here.
        DATABASES["replica"]["OPTIONS"] = {**POSTGRES_OPTIONS, **DATABASES["replica"].get("OPTIONS", {})}
    DATABASE_ROUTERS = ["operations.routers.ReplicaRouter"]
    # First, so every later middleware's queries (the ETag's version check included) are routed too.
    MIDDLEWARE.insert(0, "operations.routers.ReplicaRoutingMiddleware")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The admin's sign-in: brute-force lockout (django-axes) and a TOTP second factor (django-otp).
# See docs/operations.md, "The admin".
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(hours=1)
# Per account *and* address: an attacker elsewhere cannot lock a curator out by guessing at their name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_CLIENT_IP_CALLABLE = "operations.security.client_ip"
# How many reverse proxies append to X-Forwarded-For in front of gunicorn (0: use the socket's address).
TRUSTED_PROXIES = int(os.environ.get("DJANGO_TRUSTED_PROXIES", "0"))
# The admin's path (config/urls.py): moving it off /admin/ spares it most drive-by scanning.
ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL", "admin/")
# Staff must sign in with a TOTP code; on by default in production, off on a developer's machine.
ADMIN_REQUIRE_2FA = env_bool("DJANGO_ADMIN_REQUIRE_2FA", not DEBUG)
OTP_TOTP_ISSUER = "Compliance Registry"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

FIXTURE_DIRS = [BASE_DIR / "fixtures"]

# An editor's reason for a change is free text of any length (the default keeps 100 characters).
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# Open-data releases written by `manage.py export_dataset` and listed at /data/.
REGISTRY_RELEASES_DIR = Path(os.environ.get("DJANGO_RELEASES_DIR") or BASE_DIR / "releases")

# What the ETags name as the deployed release (operations/conditional_get.py): empty means a digest of the code,
# templates, static files and docs, computed at start-up. A deployment that knows its version (a git commit) can
# set it and spare each worker that digest; every machine of one deployment must then set the same value.
REGISTRY_RELEASE = os.environ.get("REGISTRY_RELEASE", "").strip()

# config/wsgi.py renders the first public pages once before gunicorn forks its workers (operations/ops.py,
# warm_up). Off (DJANGO_WARM_UP=0) a process starts faster and each worker pays for its own first pages.
WARM_UP = os.environ.get("DJANGO_WARM_UP", "1") != "0"

# `manage.py sync_esma` (imports/sync.py, docs/operations.md). Where each of ESMA's register files is fetched from:
# DJANGO_ESMA_REGISTER_URLS=CASP=https://mirror/CASPS.csv,NCASP=… overrides some; the others keep ESMA's published
# addresses (imports/esma/registers.py).
ESMA_REGISTER_URLS = dict(item.split("=", 1) for item in env_list("DJANGO_ESMA_REGISTER_URLS") if "=" in item)
# Seconds to wait for ESMA's server (to connect, and between bytes) before the attempt counts as failed.
ESMA_FETCH_TIMEOUT = float(os.environ.get("DJANGO_ESMA_FETCH_TIMEOUT", "60"))
# A file with fewer rows than this fraction of the last one imported is refused (a truncated download).
ESMA_MIN_ROW_FRACTION = float(os.environ.get("DJANGO_ESMA_MIN_ROW_FRACTION", "0.8"))

# The public read-only API (opendata/api.py, docs/api.md): anonymous, JSON only, no sessions or CSRF.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["opendata.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "opendata.api.exception_handler",
}
# Optional per-address rate limit, e.g. DJANGO_API_THROTTLE=120/minute (off by default: a proxy may do it).
if os.environ.get("DJANGO_API_THROTTLE"):
    REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["rest_framework.throttling.AnonRateThrottle"]
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": os.environ["DJANGO_API_THROTTLE"]}
# POST /api/verify/ and the /verify/ page (verification/throttling.py): requests per address without an API key,
# and per key with one (a key may carry its own rate). "off" lifts a limit.
VERIFY_THROTTLE = os.environ.get("DJANGO_VERIFY_THROTTLE", "30/minute").strip()
VERIFY_KEY_THROTTLE = os.environ.get("DJANGO_VERIFY_KEY_THROTTLE", "600/minute").strip()
VERIFY_THROTTLE, VERIFY_KEY_THROTTLE = (
    None if rate.lower() in {"", "off", "0"} else rate for rate in (VERIFY_THROTTLE, VERIFY_KEY_THROTTLE)
)
# Watchlists (watch/, docs/operations.md "Notifications"): webhooks and emails when a watched record changes.
# The site's address as subscribers reach it: links in emails and webhook bodies are absolute.
SITE_URL = os.environ.get("DJANGO_SITE_URL", "http://localhost:8000").strip().rstrip("/")
# `manage.py deliver_notifications`: a subscription is paused after this many failed attempts in a row; a delivery
# is given up after WATCH_MAX_ATTEMPTS; retries wait WATCH_RETRY_BASE_SECONDS, doubling each time up to the cap.
WATCH_PAUSE_AFTER_FAILURES = int(os.environ.get("DJANGO_WATCH_PAUSE_AFTER", "10"))
WATCH_MAX_ATTEMPTS = int(os.environ.get("DJANGO_WATCH_MAX_ATTEMPTS", "12"))
WATCH_RETRY_BASE_SECONDS = int(os.environ.get("DJANGO_WATCH_RETRY_BASE_SECONDS", "60"))
WATCH_RETRY_MAX_SECONDS = 6 * 60 * 60
WATCH_WEBHOOK_TIMEOUT = int(os.environ.get("DJANGO_WATCH_WEBHOOK_TIMEOUT", "10"))
# A worker's lease on a delivery it is attempting: longer than any attempt (the timeout), so only a dead worker's
# lease runs out, and the next run takes the delivery again.
WATCH_LEASE_SECONDS = max(5 * WATCH_WEBHOOK_TIMEOUT, 60)
# A certificate that expired is announced when it was current this many days before (a stopped timer catches up).
WATCH_EXPIRY_LOOKBACK_DAYS = int(os.environ.get("DJANGO_WATCH_EXPIRY_LOOKBACK_DAYS", "7"))
# How long an emailed confirmation link stays valid.
WATCH_CONFIRM_MAX_AGE = datetime.timedelta(days=7)
# Confirmation emails the public subscribe form sends per client address (it would otherwise mail any address
# on anyone's behalf); "off" lifts it.
WATCH_SUBSCRIBE_THROTTLE = os.environ.get("DJANGO_WATCH_SUBSCRIBE_THROTTLE", "5/hour").strip()
if WATCH_SUBSCRIBE_THROTTLE.lower() in {"", "off", "0"}:
    WATCH_SUBSCRIBE_THROTTLE = None

# Email: printed to the console unless an SMTP server is configured (DJANGO_EMAIL_HOST).
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "Compliance Registry <registry@localhost>")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = int(os.environ.get("DJANGO_EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 20

SPECTACULAR_SETTINGS = {
    "TITLE": "Compliance Registry API",
    # Markdown: Swagger UI renders the link. The guide is docs/api.md, published at /about/api/.
    "DESCRIPTION": "Read-only access to the published register: every record cites its sources. "
    "Filters, paging, errors and dates are explained in the [API guide](/about/api/).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI's deep links put a link inside each operation's toggle button (a control nested in a control,
    # which keyboard and screen-reader users cannot tell apart), and its syntax colours fail WCAG's contrast.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "syntaxHighlight": False},
    "ENUM_NAME_OVERRIDES": {
        "MatchReasonKindEnum": "verification.api.REASON_KIND_CHOICES",
        "SourceKindEnum": "registry.models.SourceKind.choices",
        "EntityKindEnum": "registry.models.EntityKind.choices",
        "TokenKindEnum": "registry.models.TokenKind.choices",
        "AuditKindEnum": "registry.models.AuditKind.choices",
    },
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere, the admin included: an injected <script> cannot run.
# Everything is served from our own origin (no CDN); the admin's icons are data: URIs in its CSS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# One JSON object per line (config/logging.py); DJANGO_LOG_FORMAT=text for a developer's terminal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "text": {"format": "%(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("DJANGO_LOG_FORMAT", "text" if DEBUG else "json"),
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
