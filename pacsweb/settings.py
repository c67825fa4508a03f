"""Django settings for pacsweb.

Every value comes from the environment (see pacsweb/env.py and README
"Configuration"). The defaults give the embedded set-up: SQLite and files
under ./var, tasks run in-process, no Redis or PostgreSQL needed.
"""

import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pacsweb.env import env_bool, env_choice, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = env_path("PACSWEB_VAR_DIR", BASE_DIR / "var")

# Production mode turns the deployment checks (pacsweb.W/E ids) into errors.
PRODUCTION = env_bool("PACSWEB_PRODUCTION", False)
DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = env_str("DJANGO_SECRET_KEY", "")
    if key:
        return key
    # Embedded default: a random key kept beside the data, so sessions survive
    # restarts without anybody having to invent one. Production refuses this
    # (check pacsweb.E002).
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    path.write_text(key)
    path.chmod(0o600)
    return key


SECRET_KEY = _secret_key()
SECRET_KEY_FROM_ENV = bool(env_str("DJANGO_SECRET_KEY", ""))
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "apps.archive",
    "apps.accounts",
    "apps.dicomweb",
    "apps.dimse",
    "apps.worklist",
    "apps.viewer",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pacsweb.urls"
WSGI_APPLICATION = "pacsweb.wsgi.application"

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

# --- Database -------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'pacsweb.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Writers queue for the lock instead of failing at once; IMMEDIATE
        # takes the write lock at BEGIN so two ingests cannot deadlock on
        # a read-to-write upgrade. synchronous=FULL: a commit that returned
        # survives power loss, which is what an acknowledgement promises.
        "timeout": 60,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    }
    # Tests use a file, not Django's shared-cache in-memory database, whose
    # table locks ignore the busy timeout and so cannot test concurrency.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PACSWEB_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Uploads: STOW-RS reads the request stream itself, so these only bound the
# form-based paths (admin, sign-in).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- Celery ---------------------------------------------------------------

# No broker: tasks run in the calling process (the embedded set-up). Celery
# still builds a producer for eager calls, and its default broker would be
# an AMQP server on localhost; the in-memory transport keeps it offline.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or "memory://localhost/"
BROKER_CONFIGURED = not CELERY_BROKER_URL.startswith("memory://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = not BROKER_CONFIGURED
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- pacsweb --------------------------------------------------------------

PACSWEB_STORAGE_DIR = env_path("PACSWEB_STORAGE_DIR", VAR_DIR / "storage")
PACSWEB_DUPLICATE_POLICY = env_choice(
    "PACSWEB_DUPLICATE_POLICY", "keep", ("keep", "overwrite", "reject")
)
PACSWEB_HTTP_HOST = env_str("PACSWEB_HTTP_HOST", "127.0.0.1")
PACSWEB_HTTP_PORT = env_int("PACSWEB_HTTP_PORT", 8000, minimum=1)
PACSWEB_AE_TITLE = env_str("PACSWEB_AE_TITLE", "PACSWEB")
PACSWEB_DICOM_HOST = env_str("PACSWEB_DICOM_HOST", "127.0.0.1")
PACSWEB_DICOM_PORT = env_int("PACSWEB_DICOM_PORT", 11112, minimum=1)
# Inline binary values up to this size in DICOM JSON; larger ones get a
# BulkDataURI (PS3.18 F.2.7).
PACSWEB_INLINE_BINARY_MAX = env_int("PACSWEB_INLINE_BINARY_MAX", 1024, minimum=0)
# QIDO-RS: the page size when the client gives no limit, and the most any
# single request may ask for.
PACSWEB_QIDO_DEFAULT_LIMIT = env_int("PACSWEB_QIDO_DEFAULT_LIMIT", 100, minimum=1)
PACSWEB_QIDO_MAX_LIMIT = env_int("PACSWEB_QIDO_MAX_LIMIT", 1000, minimum=1)
PACSWEB_STOW_MAX_BYTES = env_int("PACSWEB_STOW_MAX_BYTES", 4 * 1024**3, minimum=1)
PACSWEB_STOW_MAX_PARTS = env_int("PACSWEB_STOW_MAX_PARTS", 10000, minimum=1)
# A STOW-RS body read that waits longer than this (seconds) ends the request
# with 408, so stalled clients cannot hold web threads.
PACSWEB_BODY_READ_TIMEOUT = env_int("PACSWEB_BODY_READ_TIMEOUT", 60, minimum=1)

LOG_LEVEL = env_choice(
    "PACSWEB_LOG_LEVEL", "info", ("debug", "info", "warning", "error")
).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # pynetdicom logs every PDU at INFO; operators want associations,
        # not bytes.
        "pynetdicom": {"level": "WARNING"},
        "django.db.backends": {"level": "WARNING"},
        # A thumbnail task runs after every ingest; Celery logs each success
        # at INFO. Failures still come through at ERROR.
        "celery.app.trace": {"level": "WARNING"},
        # pylibjpeg-openjpeg logs each tile of each JPEG 2000 transcode at
        # INFO; its errors still come through.
        "openjpeg": {"level": "WARNING"},
    },
}

# --- DICOM listener and storage sweep (apps/dimse, apps/archive/maintenance)

# Temporary and orphan files younger than this may belong to an ingest in
# flight in another process, so the sweep leaves them for a later run.
PACSWEB_SWEEP_GRACE_SECONDS = env_int("PACSWEB_SWEEP_GRACE_SECONDS", 600, minimum=0)
PACSWEB_DICOM_MAX_ASSOCIATIONS = env_int(
    "PACSWEB_DICOM_MAX_ASSOCIATIONS", 10, minimum=1
)
# The sweep also runs on this period: under Celery beat where a broker is
# set, inside the DICOM listener otherwise (the embedded set-up).
PACSWEB_SWEEP_INTERVAL_SECONDS = env_int(
    "PACSWEB_SWEEP_INTERVAL_SECONDS", 3600, minimum=60
)
# Retention (apps/archive/retention.py): studies in no collection are
# deleted this many days after their Study Date; 0 keeps them for ever.
# Collections set their own period. At most this many studies per run.
PACSWEB_RETENTION_DAYS = env_int("PACSWEB_RETENTION_DAYS", 0, minimum=0)
PACSWEB_RETENTION_BATCH = env_int("PACSWEB_RETENTION_BATCH", 1000, minimum=1)
# Audit events older than this many days are purged; 0 keeps them for ever
# (many jurisdictions ask for six years or more).
PACSWEB_AUDIT_RETENTION_DAYS = env_int("PACSWEB_AUDIT_RETENTION_DAYS", 0, minimum=0)
CELERY_BEAT_SCHEDULE = {
    "sweep-storage": {
        "task": "archive.sweep_storage",
        "schedule": float(PACSWEB_SWEEP_INTERVAL_SECONDS),
    },
    "apply-retention": {
        "task": "archive.apply_retention",
        "schedule": float(PACSWEB_SWEEP_INTERVAL_SECONDS),
    },
    "housekeeping": {
        "task": "accounts.housekeeping",
        "schedule": 24 * 3600.0,
    },
}

# --- Pixel services (apps/dicomweb: frames, rendered, thumbnails) ----------

# Thumbnails fit in a square of this many pixels unless a viewport is given.
PACSWEB_THUMBNAIL_SIZE = env_int("PACSWEB_THUMBNAIL_SIZE", 128, minimum=16)
# Frames above this many pixels are not rendered (rendered, thumbnail):
# decoding them in floating point would take gigabytes.
PACSWEB_RENDER_MAX_PIXELS = env_int(
    "PACSWEB_RENDER_MAX_PIXELS", 64 * 1024 * 1024, minimum=1
)
# Where series thumbnails are cached; empty: "thumbnails" beside the
# storage directory (never inside it, where every file is an instance).
PACSWEB_THUMBNAIL_DIR = env_str("PACSWEB_THUMBNAIL_DIR", "")

# --- DIMSE Query/Retrieve, worklist and MPPS (apps/dimse, apps/worklist) ---

# Refuse associations whose calling AE title is not a RemoteAE (A-ASSOCIATE-RJ,
# "calling AE title not recognized"). Off only in the embedded demo, so that
# storescu/findscu work against a fresh clone without set-up.
PACSWEB_REQUIRE_KNOWN_AE = env_bool("PACSWEB_REQUIRE_KNOWN_AE", PRODUCTION)
# Seconds an SCU waits for association, DIMSE responses and the network.
PACSWEB_DIMSE_TIMEOUT = env_int("PACSWEB_DIMSE_TIMEOUT", 30, minimum=1)
# SCU jobs: how often a network failure is retried, and the first backoff in
# seconds (doubled on each retry).
PACSWEB_JOB_RETRIES = env_int("PACSWEB_JOB_RETRIES", 3, minimum=0)
PACSWEB_JOB_RETRY_BACKOFF = env_int("PACSWEB_JOB_RETRY_BACKOFF", 10, minimum=0)

# --- Security: authentication, access, audit (docs/security.md) -----------

AUTHENTICATION_BACKENDS = ["apps.accounts.backends.LockoutModelBackend"]
MIDDLEWARE += [
    "apps.accounts.middleware.DenyByDefaultMiddleware",
    "apps.accounts.middleware.SecurityHeadersMiddleware",
    "apps.accounts.middleware.AdminAuditMiddleware",
]
# API views sit behind the URL-level guard (apps/accounts/access.py); DRF
# takes the caller it found and refuses views that no guard wrapped.
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = ["apps.accounts.drf.GuardedCaller"]
REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] = ["apps.accounts.drf.PassedTheGuard"]

# Named so that migrations can refer to the (not swapped) application model.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "apps.accounts.scopes.PermissionScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("PACSWEB_TOKEN_SECONDS", 3600, minimum=60),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int(
        "PACSWEB_REFRESH_TOKEN_SECONDS", 14 * 24 * 3600, minimum=60
    ),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    # PKCE with S256 on every authorization-code exchange, public clients
    # and confidential ones alike (RFC 9700 2.1.1).
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ROTATE_REFRESH_TOKEN": True,
}

# Failed sign-ins: this many within the window lock the user name (and the
# address) for the lockout period.
PACSWEB_SIGNIN_MAX_FAILURES = env_int("PACSWEB_SIGNIN_MAX_FAILURES", 5, minimum=1)
PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS = env_int(
    "PACSWEB_SIGNIN_MAX_FAILURES_PER_ADDRESS", 50, minimum=1
)
PACSWEB_SIGNIN_WINDOW_SECONDS = env_int("PACSWEB_SIGNIN_WINDOW_SECONDS", 900, minimum=1)
PACSWEB_SIGNIN_LOCKOUT_SECONDS = env_int(
    "PACSWEB_SIGNIN_LOCKOUT_SECONDS", 900, minimum=1
)

# Demo only: read access for everybody, logged as a warning at start and
# refused in production (pacsweb.E003).
PACSWEB_ANONYMOUS_READ = env_bool("PACSWEB_ANONYMOUS_READ", False)
# Audit events also go to this syslog receiver ("udp://host:port" or
# "tls://host:port"); for TLS, the CA that signed the receiver's certificate
# and this server's client certificate and key; messages held while the
# receiver is away.
PACSWEB_AUDIT_SYSLOG = env_str("PACSWEB_AUDIT_SYSLOG", "")
PACSWEB_AUDIT_SYSLOG_CA = env_str("PACSWEB_AUDIT_SYSLOG_CA", "")
PACSWEB_AUDIT_SYSLOG_CERT = env_str("PACSWEB_AUDIT_SYSLOG_CERT", "")
PACSWEB_AUDIT_SYSLOG_KEY = env_str("PACSWEB_AUDIT_SYSLOG_KEY", "")
PACSWEB_AUDIT_SYSLOG_QUEUE = env_int("PACSWEB_AUDIT_SYSLOG_QUEUE", 10000, minimum=1)
# Behind a reverse proxy that sets X-Forwarded-For: take the client address
# for audit and lockout from it.
PACSWEB_TRUST_X_FORWARDED_FOR = env_bool("PACSWEB_TRUST_X_FORWARDED_FOR", False)
PACSWEB_SHARE_MAX_HOURS = env_int("PACSWEB_SHARE_MAX_HOURS", 30 * 24, minimum=1)

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
PACSWEB_HTTPS = env_bool("PACSWEB_HTTPS", False)
if PACSWEB_HTTPS:
    # Served over HTTPS, normally behind a proxy that terminates TLS and
    # sets X-Forwarded-Proto (docs/security.md, "HTTPS deployment").
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("PACSWEB_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("PACSWEB_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Production topology: task queues, periodic work (issue 6) -------------

# Queues by task name, so that a slow remote AE (dimse jobs) or a burst of
# thumbnails cannot starve ingest side effects. The first matching pattern
# wins; a worker serves the queues given to `celery worker -Q`.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "*thumbnail*": {"queue": "thumbnails"},
    "apps.dimse.*": {"queue": "dimse"},
    "apps.worklist.*": {"queue": "dimse"},
    "apps.archive.*": {"queue": "ingest"},
    "apps.dicomweb.*": {"queue": "ingest"},
}
PACSWEB_TASK_QUEUES = ("celery", "ingest", "dimse", "thumbnails")
# A task not acknowledged within this many seconds (its worker died) is
# delivered again by Redis; it must exceed the longest task run time.
PACSWEB_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300, minimum=1
)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": PACSWEB_VISIBILITY_TIMEOUT,
    # Prefix for every Redis key: several pacsweb instances (or parallel
    # test runs) can share one Redis without taking each other's tasks.
    "global_keyprefix": env_str("CELERY_KEY_PREFIX", ""),
}
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Where instance files live: "local" (PACSWEB_STORAGE_DIR) or "s3", an
# S3-compatible bucket (apps/archive/objectstore.py). Receiving always
# spools to PACSWEB_STORAGE_DIR/tmp. Credentials: AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, read by boto3 itself.
PACSWEB_STORAGE_BACKEND = env_choice(
    "PACSWEB_STORAGE_BACKEND", "local", ("local", "s3")
)
PACSWEB_S3_BUCKET = env_str("PACSWEB_S3_BUCKET", "")
PACSWEB_S3_ENDPOINT_URL = env_str("PACSWEB_S3_ENDPOINT_URL", "")
PACSWEB_S3_REGION = env_str("PACSWEB_S3_REGION", "us-east-1")
PACSWEB_S3_PREFIX = env_str("PACSWEB_S3_PREFIX", "")
if PACSWEB_STORAGE_BACKEND == "s3" and not PACSWEB_S3_BUCKET:
    raise ImproperlyConfigured(
        "PACSWEB_S3_BUCKET must be set when PACSWEB_STORAGE_BACKEND=s3"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database that does not answer fails a request within seconds (503)
    # instead of holding a web thread or a DIMSE association indefinitely.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int(
        "DATABASE_CONNECT_TIMEOUT", 5, minimum=1
    )

# Periodic work under Celery beat, beside the storage sweep: jobs that no
# worker finished are sent again (apps/dimse/stale.py) every this often.
PACSWEB_STALE_JOB_SECONDS = env_int("PACSWEB_STALE_JOB_SECONDS", 600, minimum=60)
CELERY_BEAT_SCHEDULE["requeue-stale-jobs"] = {
    "task": "dimse.requeue_stale_jobs",
    "schedule": float(PACSWEB_STALE_JOB_SECONDS),
}
# Auto-routing (apps/dimse/forwarding.py): how often due forwards become
# C-STORE jobs (beat, or the listener without a broker).
PACSWEB_FORWARD_INTERVAL_SECONDS = env_int(
    "PACSWEB_FORWARD_INTERVAL_SECONDS", 15, minimum=1
)
CELERY_BEAT_SCHEDULE["dispatch-forwards"] = {
    "task": "dimse.dispatch_forwards",
    "schedule": float(PACSWEB_FORWARD_INTERVAL_SECONDS),
}

# --- DICOM TLS and calling-AE hosts (apps/dimse/tls.py, access.py) ---------

# A second listener port speaking DICOM TLS (PS3.15 B.1) beside the plain
# one; 0 or unset: no TLS port. Both serve the same services.
PACSWEB_DICOM_TLS_PORT = env_int("PACSWEB_DICOM_TLS_PORT", 0, minimum=0) or None
# The listener's certificate chain and private key (PEM).
PACSWEB_DICOM_TLS_CERT = env_str("PACSWEB_DICOM_TLS_CERT", "")
PACSWEB_DICOM_TLS_KEY = env_str("PACSWEB_DICOM_TLS_KEY", "")
# CA bundle (PEM) for client certificates: when set, a TLS peer must show a
# certificate signed by it; unset: any client may connect over TLS.
PACSWEB_DICOM_TLS_CA = env_str("PACSWEB_DICOM_TLS_CA", "")
# Certificate revocation lists (PEM) checked against the peer's certificate:
# for clients of the TLS port, and for the peers of SCU jobs. A changed file
# is read again at the next connection.
PACSWEB_DICOM_TLS_CRL = env_str("PACSWEB_DICOM_TLS_CRL", "")
PACSWEB_DICOM_TLS_CLIENT_CRL = env_str("PACSWEB_DICOM_TLS_CLIENT_CRL", "")
PACSWEB_DICOM_TLS_MIN_VERSION = env_choice(
    "PACSWEB_DICOM_TLS_MIN_VERSION", "1.2", ("1.2", "1.3")
)
# SCU jobs to a RemoteAE with use_tls: our client certificate and key (PEM,
# optional), and the CA bundle that verifies the peer (unset: the system's).
PACSWEB_DICOM_TLS_CLIENT_CERT = env_str("PACSWEB_DICOM_TLS_CLIENT_CERT", "")
PACSWEB_DICOM_TLS_CLIENT_KEY = env_str("PACSWEB_DICOM_TLS_CLIENT_KEY", "")
PACSWEB_DICOM_TLS_CLIENT_CA = env_str("PACSWEB_DICOM_TLS_CLIENT_CA", "")
# Whether the peer's certificate must name the RemoteAE's host.
PACSWEB_DICOM_TLS_CHECK_HOSTNAME = env_bool("PACSWEB_DICOM_TLS_CHECK_HOSTNAME", True)
