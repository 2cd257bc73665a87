"""Settings for Alliance, read from the environment (see .env.example).

SQLite in var/ by default; PostgreSQL when DATABASE_URL points at it.
DJANGO_ENV=production switches on the secure defaults and refuses an unset secret key.
"""

import datetime as dt
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
if PRODUCTION:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-development-key-do-not-deploy")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# The public address clients open their one-time form links at.
ALLIANCE_BASE_URL = env.str("ALLIANCE_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The client form endpoints allow this many requests on one link (or kiosk hand-over), and
# ten times as many from one address (a clinic's Wi-Fi), per window (seconds); behind reverse
# proxies, set how many append to X-Forwarded-For so the client's address counts.
ALLIANCE_FORM_RATE_LIMIT = env.int("ALLIANCE_FORM_RATE_LIMIT", default=30)
ALLIANCE_FORM_ADDRESS_RATE_LIMIT = env.int("ALLIANCE_FORM_ADDRESS_RATE_LIMIT", default=300)
# Form links a therapist may send by email per hour.
ALLIANCE_FORM_EMAIL_LIMIT = env.int("ALLIANCE_FORM_EMAIL_LIMIT", default=30)
ALLIANCE_FORM_RATE_WINDOW = env.int("ALLIANCE_FORM_RATE_WINDOW", default=300)
ALLIANCE_TRUSTED_PROXIES = env.int("ALLIANCE_TRUSTED_PROXIES", default=0)
# "Forgot your password?" sends this many emails per address, and per email address typed,
# per window (seconds).
ALLIANCE_PASSWORD_RESET_LIMIT = env.int("ALLIANCE_PASSWORD_RESET_LIMIT", default=5)
ALLIANCE_PASSWORD_RESET_WINDOW = env.int("ALLIANCE_PASSWORD_RESET_WINDOW", default=3600)
# Form-link reminders (alliance/notify/reminders.py; only to a client's address stored with
# consent, in a clinic with client contact details on): the first this many hours after the
# link was made, the next as long after, at most ALLIANCE_REMINDER_MAX per link, never after
# it expires. The "stop reminders" page allows ALLIANCE_FORM_ADDRESS_RATE_LIMIT requests per
# address per ALLIANCE_FORM_RATE_WINDOW.
ALLIANCE_REMINDER_AFTER_HOURS = env.int("ALLIANCE_REMINDER_AFTER_HOURS", default=24)
ALLIANCE_REMINDER_MAX = env.int("ALLIANCE_REMINDER_MAX", default=2)

# Email. EMAIL_URL chooses the backend (smtp+tls://user:password@host:587, consolemail://);
# EMAIL_BACKEND a provider's API through django-anymail (docs/deployment.md). Without
# either: SMTP on the machine itself in production; in development each message is a file
# in var/mail/.
if env.str("EMAIL_BACKEND", default=""):
    EMAIL_BACKEND = env.str("EMAIL_BACKEND")
elif env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif PRODUCTION:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = "127.0.0.1", 25
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "mail"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Alliance <alliance@localhost>")
# Seconds a mail server may take before sending gives up (the page then says so): well
# within a request's time, never Django's default of waiting for ever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# A set-password link (by email, or given by an admin) works once, for three days (the
# pages and the message say so).
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600

# The job queue (alliance/celery.py). With a broker a worker runs the jobs and beat starts
# the periodic ones: Redis in production; `make run` starts its own worker and beat on a
# queue kept in files under var/celery/ ("filesystem://", Python only). Without a broker
# (the tests, a bare runserver) a job runs at once in the process that asks for it. Jobs
# are acknowledged when done, one at a time per worker process, so a worker that dies
# hands its job to another.
_broker = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not _broker
CELERY_BROKER_URL = _broker or "memory://"
# Redis hands an unacknowledged job to another worker after visibility_timeout (default 1 h);
# jobs are acknowledged when done, so it must be longer than the longest job: 6 h, as the
# purge's STALE_HOURS (alliance/jobs/services.py). A job delivered again while its run is
# alive does nothing anyway (the run's lease: services.job_start).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
if _broker == "filesystem://":
    _queue = BASE_DIR / "var" / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_queue / "queue"),
        "data_folder_out": str(_queue / "queue"),
        "control_folder": str(_queue / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "control"):
        (_queue / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# What cron ran before (docs/deployment.md, Scheduled commands).
# Each expires when its next run is due, so a backlog (a worker down for an hour) is not
# worked through run by run.
CELERY_BEAT_SCHEDULE = {
    "flags-refresh-pending": {
        "task": "alliance.jobs.tasks.flags_refresh_pending",
        "schedule": 300,
        "options": {"expires": 300},
    },
    "overviews-refresh": {
        "task": "alliance.jobs.tasks.overviews_refresh",
        "schedule": 600,
        "options": {"expires": 600},
    },
    # Form-link reminders: due ones go out within 15 minutes.
    "formlink-reminders": {
        "task": "alliance.notify.tasks.formlink_reminders",
        "schedule": 900,
        "options": {"expires": 900},
    },
    "expired-purge": {
        "task": "alliance.jobs.tasks.expired_purge",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 24 * 3600},
    },
    # Alert emails (issue 19, docs/notify.md): the sweep of alerts at once that no email
    # took (a failed send, a broker down), every 15 minutes; the daily digest of new notices
    # and the supervisor's weekly digest (Mondays), hourly: each goes out in the 06:00 hour
    # of the clinic's own time zone, stamped once per person per local day / week. All
    # idempotent.
    "notices-at-once-sweep": {
        "task": "alliance.notify.tasks.notices_email_unsent_at_once",
        "schedule": 900,
        "options": {"expires": 900},
    },
    "notices-daily-digest": {
        "task": "alliance.notify.tasks.notices_daily_digest",
        "schedule": crontab(minute=0),
        # Within the hour it was started for: a later run would find another hour.
        "options": {"expires": 3500},
    },
    "supervisors-weekly-digest": {
        "task": "alliance.notify.tasks.supervisors_weekly_digest",
        "schedule": crontab(minute=0),
        "options": {"expires": 3500},
    },
    # Background jobs' files past ALLIANCE_JOB_FILE_HOURS (block below).
    "job-files-purge": {
        "task": "alliance.jobs.tasks.job_files_purge",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
}

# --- Background jobs with a progress bar (alliance/jobs, docs/deployment.md) ---------------
# The files a job makes (exports, FHIR bundles) and an import's uploaded CSV: a private
# directory, never under MEDIA or static, shared by the app servers and the workers.
ALLIANCE_JOB_FILES_DIR = Path(
    env.str("ALLIANCE_JOB_FILES_DIR", default=str(BASE_DIR / "var" / "jobs"))
)
# Hours a job's file stays downloadable; job-files-purge deletes it after.
ALLIANCE_JOB_FILE_HOURS = env.int("ALLIANCE_JOB_FILE_HOURS", default=24)
# --- end of background jobs ----------------------------------------------------------------

INSTALLED_APPS = [
    "alliance.apps.AllianceConfig",
    "sessions.apps.SessionsConfig",
    "measures.apps.MeasuresConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Security (issue 8, docs/security.md): change history, login lockout, two-factor, CSP.
    "simple_history",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "csp",
]

MIDDLEWARE = [
    # Clinician pages and error answers are never stored (no-store), whoever made them.
    "alliance.security.middleware.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Idle timeout and absolute lifetime of a login; then the second factor, where required.
    "alliance.security.middleware.SessionLifetimeMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "alliance.security.middleware.TwoFactorMiddleware",
    "alliance.middleware.ClinicTimezoneMiddleware",
    # A handed-over tablet stays on the client form until the therapist's password.
    "sessions.kiosk.KioskLockMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Who changed a record (django-simple-history) and who read it (the audit log).
    "simple_history.middleware.HistoryRequestMiddleware",
    "alliance.security.audit.AuditMiddleware",
    # Last: turns a lockout flagged during authentication into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "alliance.urls"
WSGI_APPLICATION = "alliance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The unread-notices badge, counted only on a page that shows it.
                "alliance.notify.context_processors.notices",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'alliance.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# SQLite (`make run`): the dev server and its job worker are two processes on one file.
# Readers do not wait for a writer (WAL), a writer takes its lock when its transaction
# begins (no deadlock upgrading a read lock) and waits up to 20 s for another's.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL;",
    )
DATABASES["default"].setdefault("TEST", {})
# Covering indexes (an index's INCLUDE columns) are PostgreSQL's; SQLite, the embedded
# default, builds their key columns only, which is all it needs at its size.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# PostgreSQL's JIT compiler off for the app's connections: its cost threshold is met by
# short queries whose visibility subqueries are estimated high, and compiling took ten times
# longer than running them (docs/deployment.md, "Network scale").
POSTGRES_OPTIONS = "-c jit=off"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} {POSTGRES_OPTIONS}".strip()
# A read replica for the dashboards (alliance/security/db_routers.py, docs/deployment.md):
# only their reads go there; writes, logins and everything else stay on the primary.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    _options = DATABASES["replica"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} {POSTGRES_OPTIONS}".strip()
    DATABASES["replica"].update(
        CONN_MAX_AGE=DATABASES["default"].get("CONN_MAX_AGE", 0),
        CONN_HEALTH_CHECKS=DATABASES["default"].get("CONN_HEALTH_CHECKS", False),
        TEST={"MIRROR": "default"},
    )
    DATABASE_ROUTERS = ["alliance.security.db_routers.ReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("axes.middleware.AxesMiddleware"),
        "alliance.security.db_routers.ReplicaReadsMiddleware",
    )
# After a user's own write, their reads stay on the primary this long (replica lag).
ALLIANCE_REPLICA_PIN_SECONDS = env.int("ALLIANCE_REPLICA_PIN_SECONDS", default=30)

# The default cache holds the rate-limit and login-failure counters and the clinic norms. It
# must be shared by every process (gunicorn workers, app servers), or each counts on its own:
# Redis (CACHE_URL or REDIS_URL=redis://host:6379/1) or the database (CACHE_URL=dbcache://
# alliance_cache), which production mode uses when neither is set (`manage.py
# createcachetable` creates its table; `make serve` runs it). Per-process memory otherwise
# (`make run`, the tests). alliance/security/cache.py; `check --deploy` warns about a
# per-process one.
CACHES = {
    "default": env.cache_url(
        "CACHE_URL",
        default=env.str(
            "REDIS_URL", default="dbcache://alliance_cache" if PRODUCTION else "locmemcache://"
        ),
    )
}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    # Django's database cache with an atomic incr(); room for every address's counters.
    CACHES["default"]["BACKEND"] = "alliance.security.cache.DatabaseCache"
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 100_000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "alliance.User"
# A locked-out address first (alliance/security/lockout.py), then django-axes (a locked-out
# username + address), then the model backend, loading the user's clinic with them (its
# timezone is on every page).
AUTHENTICATION_BACKENDS = [
    "alliance.security.lockout.AddressLockoutBackend",
    "axes.backends.AxesStandaloneBackend",
    "alliance.security.backends.ClinicModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Internationalisation: clinicians and clients in English or Spanish; datetimes stored in UTC
# and shown in the clinic's own timezone.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
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

# The API (issue 7): session or token authentication, scoped viewsets, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API request answers 401 with `WWW-Authenticate: Token`.
        "alliance.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "alliance.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "alliance.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "alliance.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "alliance.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Alliance API",
    "DESCRIPTION": "Session-by-session therapeutic alliance: clients, sessions, ratings, "
    "flags, exports, imports and FHIR R4. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's local static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ClientStatusEnum": "alliance.models.Client.Status",
        "EpisodeKindEnum": "alliance.models.Episode.Kind",
        "EpisodeStatusEnum": "alliance.models.Episode.Status",
        "SessionStatusEnum": "sessions.models.TherapySession.Status",
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Logins end after ALLIANCE_IDLE_MINUTES without a request and ALLIANCE_SESSION_HOURS after
# signing in, whatever the activity (alliance.security.middleware.SessionLifetimeMiddleware).
ALLIANCE_IDLE_MINUTES = env.int("ALLIANCE_IDLE_MINUTES", default=30)
ALLIANCE_SESSION_HOURS = env.int("ALLIANCE_SESSION_HOURS", default=12)
# An API token works for ALLIANCE_API_TOKEN_DAYS after it is issued (0: until revoked);
# asking for a token after that issues a new one (docs/api.md).
ALLIANCE_API_TOKEN_DAYS = env.int("ALLIANCE_API_TOKEN_DAYS", default=90)
SESSION_COOKIE_AGE = ALLIANCE_SESSION_HOURS * 60 * 60
# Shared clinic computers: closing the browser ends the login.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Login lockout (django-axes): 5 failures for one username from one address lock that pair
# out for 15 minutes; a successful login clears the count. The address is found as the client
# form's rate limit finds it (ALLIANCE_TRUSTED_PROXIES).
AXES_FAILURE_LIMIT = env.int("ALLIANCE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("ALLIANCE_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Password spraying: this many failures from one address, whatever the usernames, refuse
# every login from it for the rest of the 15 minutes (alliance/security/lockout.py).
ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("ALLIANCE_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
# The username axes counts, cut to a User's 150 characters (axes stores 255 at most).
AXES_USERNAME_CALLABLE = "alliance.security.lockout.axes_username"
AXES_RESET_ON_SUCCESS = True
# Attempts while locked out are refused without restarting the 15 minutes.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "alliance.security.client_address.client_ip"
AXES_LOCKOUT_CALLABLE = "alliance.security.views.locked_out"
# Logins are recorded in the audit log (alliance.security.audit); axes keeps only the
# failure counts.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp_token"]
AXES_VERBOSE = False

# TOTP two-factor (django-otp): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = "Alliance"

# Content-Security-Policy (django-csp 4), in development too so violations surface in tests:
# scripts and styles only from our own static files; no inline script, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Client form-link tokens are credentials: /f/<token> paths are redacted in request logs.
    "filters": {"redact_form_tokens": {"()": "sessions.log_redaction.RedactFormTokens"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "loggers": {
        "django.request": {"filters": ["redact_form_tokens"]},
        # django-axes logs every login at INFO; failures and lockouts (WARNING) are enough.
        "axes": {"level": "WARNING"},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_form_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
