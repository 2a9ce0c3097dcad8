"""Settings for idm-secretariat, read from the environment (django-environ).

Every variable has a zero-setup default for development (SQLite and an embedded broker under
``var/``). With ``DEBUG`` off, the secrets and hosts that production needs have no default: start-up
stops with one line naming what is missing.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# Read a local .env file when there is one; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)


def _required_in_production(name: str, development_default):
    """The variable's value; in production (DEBUG off) a missing one stops start-up."""
    if name in env.ENVIRON and env.str(name).strip():
        return env.list(name) if isinstance(development_default, list) else env.str(name)
    if DEBUG:
        return development_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off (production).")


SECRET_KEY = _required_in_production(
    "SECRET_KEY", "django-insecure-development-only-key-never-use-in-production"
)
ALLOWED_HOSTS = _required_in_production("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The address people reach the site at, for links in emails (no trailing slash).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    # The admin's default site asks secretariat staff for a second factor (config/admin_site.py).
    "config.apps.SecretariatAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rules.apps.AutodiscoverRulesConfig",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "import_export",
    "rest_framework_api_key",
    "django_celery_beat",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_celery_results",
    "stakeholders",
    "idm",
    "workshops",
    "recommendations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # A database that cannot be reached (PostgreSQL restarting) answers 503 + Retry-After.
    "config.middleware.DatabaseUnavailableMiddleware",
    # A NUL character in a query parameter is a 400, not a database error.
    "config.middleware.NullCharacterMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout response.
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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: a SQLite file under var/ unless DATABASE_URL names another (PostgreSQL in production).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the Celery worker write to one file: take the write lock at the start
    # of a transaction and wait for it, instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: English first; French and Spanish are IOM's other official languages.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Zurich")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The Docker image collects static files at build time, outside VAR_DIR (a volume at run time).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
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

# Email: files under var/mail/ by default, so that nothing leaves a development machine.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default=f"filemail:///{VAR_DIR / 'mail'}")
vars().update(EMAIL_CONFIG)
# Another backend class with the same settings (a provider's, or the load scripts' slow one).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)  # seconds; far below SENDING_STALE_AFTER
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="IDM Secretariat <idm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The secretariat's own list: copied on escalated reminders, sent each follow-up report.
SECRETARIAT_EMAILS = env.list("SECRETARIAT_EMAILS", default=["idm-secretariat@localhost"])

# Celery: an embedded broker (kombu's filesystem transport under var/) needs no server;
# set CELERY_BROKER_URL to redis://… in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # How often the worker looks for new messages: kombu's default of 1 s hands out one
        # task per worker process a second, which makes a burst of reminders crawl.
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Results and the last runs of every task, in the database (django-celery-results), shown in
# the admin next to the beat schedule.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = dt.timedelta(days=30)
CELERY_TASK_TRACK_STARTED = True
# A web request never waits on a broker that is down: publishing gives up quickly, the failure
# is logged (config/queue.py) and the state-based sweeps catch up on their next run.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

# Cache: the API's throttling counts (and nothing that must survive a restart). Memory of the
# one process by default; set CACHE_URL=redis://redis:6379/1 in production so that every
# gunicorn worker shares the counts.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "config.api.ApiAutoSchema",
    # Machine clients send "Authorization: Api-Key <key>" (first, so that a request without
    # credentials gets 401 with "WWW-Authenticate: Api-Key"); browsers use the session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "stakeholders.authentication.OrganisationAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "config.security.LockoutBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # One error shape everywhere: {"status", "code", "message", "errors"} (config/api.py).
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # Every endpoint is throttled by config.throttling.ApiRateThrottle: one budget per API key, per
    # login and per anonymous client address, at these rates; 429 (with Retry-After) beyond it.
    # The counts live in the default cache (CACHES): share one (Redis, CACHE_URL) between
    # processes, or each gunicorn worker counts on its own.
    "DEFAULT_THROTTLE_CLASSES": ["config.throttling.ApiRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.str("API_THROTTLE_RATE_KEY", default="600/min"),
        "user": env.str("API_THROTTLE_RATE_USER", default="600/min"),
        "anon": env.str("API_THROTTLE_RATE_ANON", default="60/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "IDM Secretariat API",
    "DESCRIPTION": "Meetings, agendas, theme proposals and recommendation follow-up of the "
    "International Dialogue on Migration.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's files are served from the project, not fetched from elsewhere.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Named enums, so that a later field called "kind" or "state" cannot clash with these.
    "ENUM_NAME_OVERRIDES": {
        "EventKindEnum": "idm.filters.EventKind",
        "EventStatusEnum": "idm.filters.EventStatus",
        "PublishedAgendaStateEnum": "idm.api.serializers.PUBLISHED_STATES",
        "AgendaStateEnum": "idm.enums.AgendaState",
        "WorkshopKindEnum": "workshops.enums.WorkshopKind",
        "RecommendationStateEnum": "recommendations.enums.RecommendationState",
        "RecommendationKindEnum": "recommendations.enums.RecommendationKind",
        "ImplementationStatusEnum": "recommendations.enums.ImplementationStatus",
        "ReportStateEnum": "recommendations.enums.ReportState",
        "AssignmentRoleEnum": "recommendations.enums.AssignmentRole",
        "ResponseEnum": "recommendations.enums.Response",
        "AnswerEnum": "recommendations.api.serializers.ANSWERS",
        "OrganisationKindEnum": "stakeholders.enums.OrganisationKind",
        "DialogueStatusEnum": "idm.enums.DialogueStatus",
        "ReportKindEnum": "recommendations.enums.ReportKind",
        "ReportRunStateEnum": "recommendations.enums.ReportRunState",
    },
}

AUTHENTICATION_BACKENDS = [
    # First: refuses any login (admin, portal, API basic auth) of a locked-out client.
    "config.security.LockoutBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Sessions end after 8 hours, or when the browser closes.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Content-Security-Policy (django-csp): every script, style, image and font comes from this site;
# no plug-ins, no framing, forms post only here. The project's templates have no inline scripts;
# the admin's and the reports' few inline styles are allowed (style-src 'unsafe-inline').
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Logins (admin, portal, API basic auth) lock out after repeated failures (django-axes): the
# same user name from the same address is refused for AXES_COOLOFF_MINUTES after
# AXES_FAILURE_LIMIT failures in a row; a success resets the count.
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_CALLABLE = "config.security.lockout_response"
# Behind a reverse proxy, the number of proxies in front of gunicorn (X-Forwarded-For).
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Second factor for the admin (django-otp, TOTP): a staff account with a confirmed device must
# always give its code; with ADMIN_REQUIRE_2FA (on by default in production) every staff account
# must, and one without a device is enrolled with `manage.py otp_enroll <username>`.
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = "IDM Secretariat"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
