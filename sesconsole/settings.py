"""Settings, read from the environment.

With no environment at all this runs the embedded default: SQLite under ./var and a Celery broker
on the local filesystem (no server). Production sets DATABASE_URL and CELERY_BROKER_URL.
"""

import ipaddress
from pathlib import Path

import plotly
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from core import queues
from core.env import database_from_url, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("SES_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("SES_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # Only for the embedded default and tests; production sets SECRET_KEY (see README).
    SECRET_KEY = "insecure-embedded-default-key-change-me-in-production-0123456789"
# SecretKeys of API keys and DKIM private keys are encrypted with this (Fernet); defaults to a key
# derived from SECRET_KEY. Rotating it needs a re-encryption, so production sets it explicitly.
SES_ENCRYPTION_KEY = env_str("SES_ENCRYPTION_KEY", "")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "accounts",
    "domains",
    "stats",
    "api",
    "ops",
    "sending",
    "batches",
    "notify",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the set_language cookie, else the browser's Accept-Language, else LANGUAGE_CODE.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # NUL, controls, lone surrogates in a path, query string or form: a 400 page (core.unusable).
    "sesconsole.middleware.UnusableInputMiddleware",
    "accounts.middleware.ConsoleAuthenticationMiddleware",  # Django's, the user read with the session
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.CurrentAccountMiddleware",
]

ROOT_URLCONF = "sesconsole.urls"
WSGI_APPLICATION = "sesconsole.wsgi.application"

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
                "accounts.context_processors.console",
            ],
        },
    }
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'sesconsole.sqlite3'}")
# One attempt to connect to PostgreSQL waits at most this long (a worker retrying a lost connection
# must not block for the TCP timeout); a connect_timeout in DATABASE_URL's query wins.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=2)
DATABASES = {"default": database_from_url(DATABASE_URL, BASE_DIR, connect_timeout=DATABASE_CONNECT_TIMEOUT)}
# The embedded default keeps its database, broker folders and beat schedule here.
DATA_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
# The console, the platform's own emails and API messages (X-TC-Language) come in these languages;
# the catalogs are locale/<lang>/LC_MESSAGES/django.po, compiled by bin/dev (never committed).
LANGUAGES = [("en", "English"), ("ja", "日本語"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# plotly.js comes from the installed plotly package (no CDN): {% static 'plotly/plotly.min.js' %}.
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", Path(plotly.__file__).parent / "package_data")]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CSP = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "style-src": ["'self'"],
    "script-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}

# Outgoing mail: the relay every message is handed to (a real MTA such as Postfix in production).
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "sesconsole@localhost")

# --- Cache: Redis holds the rate-limit counters (accounts/ratelimit.py) when there is one ----------
# CACHE_URL redis://host:6379/1 uses Redis; unset, a Redis broker (CELERY_BROKER_URL) is used for it
# too (keys prefixed "sesconsole"). Otherwise (or CACHE_URL=db://) the counters are rows of the
# database (accounts.RateCount) and the cache is each process's memory: nothing shared lives in it.
CACHE_URL = env_str("CACHE_URL", "")
_broker_url = env_str("CELERY_BROKER_URL", "")
if not CACHE_URL and _broker_url.startswith(("redis://", "rediss://")):
    CACHE_URL = _broker_url
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "sesconsole",
            # A Redis that does not answer must not hang requests (ratelimit lets them through).
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
elif CACHE_URL in ("", "db://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL must be redis://host:port/db or db://, not {CACHE_URL!r}")

# --- Sessions and sign-in ------------------------------------------------------------------------
# Sessions are rows of the database (accounts.Session, with the signed-in user's id): a signed-in
# request reads its session, user, membership, account and today's freeze in one query
# (accounts.backends), whatever the cache. Expired ones are deleted by `manage.py clearsessions`.
SESSION_ENGINE = "accounts.backends"
# ModelBackend whose get_user takes the user read with the session (or reads it with its membership, the
# account and today's freeze in one query).
AUTHENTICATION_BACKENDS = ["accounts.backends.ConsoleBackend"]


def _rate(name: str, default: str) -> tuple[int, int]:
    raw = env_str(name, default)
    count, slash, seconds = raw.partition("/")
    try:
        limit = (int(count), int(seconds))
    except ValueError:
        limit = (0, 0)
    if not slash or limit[0] < 1 or limit[1] < 1:
        raise ImproperlyConfigured(f"{name} must read COUNT/SECONDS, e.g. {default}; not {raw!r}")
    return limit


# Rate limits (accounts/ratelimit.py): at most COUNT per window of SECONDS, then refused until the
# window ends. Sign-in answers 429 with a form error; the API answers RequestLimitExceeded.
SES_RATE_LIMITS = {
    "login_ip": _rate("SES_RATE_LIMIT_LOGIN_IP", "20/900"),  # failed sign-ins per client address
    # failed sign-ins per user name from one client address
    "login_username_ip": _rate("SES_RATE_LIMIT_LOGIN_USERNAME_IP", "5/900"),
    # failed sign-ins per user name from all addresses: high, or anybody could lock any user out
    "login_username": _rate("SES_RATE_LIMIT_LOGIN_USERNAME", "100/900"),
    "api_secret_id": _rate("SES_RATE_LIMIT_API_SECRET_ID", "1200/60"),  # signed requests per SecretId
    "api_bad_signature": _rate("SES_RATE_LIMIT_API_BAD_SIGNATURE", "30/300"),  # refused signatures per address
}
# Behind a reverse proxy: the header holding the client address, e.g. X-Forwarded-For, and the
# proxies (comma-separated addresses or CIDRs) trusted to set it. The header is read only on a
# connection from a trusted proxy, from the right, past trusted proxies. Empty: REMOTE_ADDR.
SES_CLIENT_IP_HEADER = env_str("SES_CLIENT_IP_HEADER", "")
SES_TRUSTED_PROXIES = env_list("SES_TRUSTED_PROXIES", [])
for _proxy in SES_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"SES_TRUSTED_PROXIES must list addresses or networks (e.g. 10.0.0.0/8), not {_proxy!r}"
        ) from None

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: messages are files in one folder shared by web, worker and beat.
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # kombu's default is relative to the cwd
        "store_processed": False,
    }
    # kombu lists these folders and fails when they are missing; every process may be the first.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # Short socket timeouts: a broker that is down or hung fails a publish within seconds instead of
    # holding the request; the message is already in the outbox, and the sweeper enqueues it later.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2, "socket_timeout": 2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# A publish is tried 3 times in about a second, then given up (see above): at worst ~8 s on a hung broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Which queue each task goes to, and what each kind of worker consumes: core/queues.py.
CELERY_TASK_ROUTES = queues.ROUTES
CELERY_TASK_DEFAULT_QUEUE = queues.DEFAULT
# Every queue declared: a worker started without -Q (the command of earlier versions, a quick test
# install) consumes them all instead of only the default one; a role's worker narrows it with -Q.
CELERY_TASK_QUEUES = [Queue(name) for name in queues.ALL]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# How often beat runs `tick` (seconds); each periodic job decides for itself whether it is due.
SES_TICK_SECONDS = env_int("SES_TICK_SECONDS", 30, minimum=1)

# --- The reputation engine (SPEC §3) --------------------------------------------------------------
# The one place for the level table and every threshold: the operator may tune them (SPEC §3.4).
# Each rule is a list of conditions that must all hold: (metric, operator, value). Values are decimal
# strings compared exactly. Metrics: sent (count), sent_of_cap (% of the current cap),
# invalid_rate, delivery_rate, spam_rate (% of sent), complaint_rate, open_rate (% of delivered).
SES_REPUTATION = {
    "LEVEL_CAPS": [
        500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000,
        150_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 900_000, 1_000_000,
    ],
    "UPGRADE_RULES": {
        "U1": [
            ("sent_of_cap", ">=", "70"),
            ("invalid_rate", "<", "5"),
            ("delivery_rate", ">", "92"),
            ("spam_rate", "<", "2.5"),
            ("complaint_rate", "<", "0.1"),
        ],
        "U2": [
            ("sent_of_cap", ">=", "70"),
            ("delivery_rate", ">", "90"),
            ("complaint_rate", "<", "0.1"),
            ("open_rate", ">", "50"),
        ],
    },
    "DOWNGRADE_RULES": {
        "D1": [("sent", ">", "300"), ("invalid_rate", ">", "9")],
        "D2": [("sent", ">", "300"), ("delivery_rate", "<", "65")],
        "D3": [("sent", ">", "300"), ("spam_rate", ">", "5")],
        "D4": [("sent", ">", "300"), ("complaint_rate", ">", "0.5")],
    },
    "FREEZE_RULES": {
        "F1": [("sent", ">", "300"), ("invalid_rate", ">", "11")],
        "F2": [("sent", ">", "300"), ("spam_rate", ">", "15")],
    },
    # Members are told once a day when a domain passes this share of its cap (SPEC §6.1).
    "CAP_WARNING_PERCENT": "90",
}

# Sender addresses per account (SPEC §2; the SDK documents 10).
SES_MAX_SENDER_ADDRESSES = env_int("SES_MAX_SENDER_ADDRESSES", 10, minimum=1)
SES_SIMULATOR_ENABLED = env_bool("SES_SIMULATOR_ENABLED", True)
SES_SIMULATOR_DOMAIN = "simulator.sesconsole.invalid"
# Whether mail to the simulator counts for reputation (SPEC §4.4). Off: it counts against the daily
# cap but never in a rate, the upgrade volume, a freeze or a downgrade, so nobody climbs levels or
# hides a bad list with free simulated mail. On: exactly like real mail, for the demo and rehearsals.
SES_SIMULATOR_COUNTS_FOR_REPUTATION = env_bool("SES_SIMULATOR_COUNTS_FOR_REPUTATION", False)
# DNS: where verification asks. Empty means the system resolver; tests point it at a local stub.
SES_DNS_NAMESERVERS = env_list("SES_DNS_NAMESERVERS", [])
SES_DNS_PORT = env_int("SES_DNS_PORT", 53, minimum=1)
SES_DNS_TIMEOUT = env_int("SES_DNS_TIMEOUT", 5, minimum=1)
# The SPF include customers publish; the relay hosts of this installation.
SES_SPF_INCLUDE = env_str("SES_SPF_INCLUDE", "_spf.sesconsole.invalid")
# --- Delivery (SPEC §4.3) -------------------------------------------------------------------------
# The base URL of this installation as recipients reach it: open pixel, click and unsubscribe links.
SES_PUBLIC_URL = env_str("SES_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Days a click (or open) link of a message works; after that the click page only shows where the link
# went, and neither counts. Unsubscribe links do not expire.
SES_CLICK_TOKEN_DAYS = env_int("SES_CLICK_TOKEN_DAYS", 90, minimum=1)
if SES_CLICK_TOKEN_DAYS > 3650:  # a link that works for decades is the open redirect it must not be
    raise ImproperlyConfigured("SES_CLICK_TOKEN_DAYS must be at most 3650 (ten years)")
# The mailbox of List-Unsubscribe's mailto: form; empty means unsubscribe@<the sender domain>.
SES_UNSUBSCRIBE_MAILTO = env_str("SES_UNSUBSCRIBE_MAILTO", "")
# Seconds to wait before each retry of a 4xx reply; when they run out the message bounces.
try:
    SES_RETRY_DELAYS = [int(v) for v in env_list("SES_RETRY_DELAYS", ["60", "300", "900", "3600", "14400"])]
except ValueError:
    raise ImproperlyConfigured("SES_RETRY_DELAYS must be a comma-separated list of seconds") from None
if not SES_RETRY_DELAYS or min(SES_RETRY_DELAYS) < 1:
    raise ImproperlyConfigured("SES_RETRY_DELAYS must hold at least one delay, each at least 1 second")
# The relay itself unreachable is our fault, never the recipient's: retried at this pace, never bounced.
SES_RELAY_RETRY_SECONDS = env_int("SES_RELAY_RETRY_SECONDS", 60, minimum=1)
# The sweeper: a queued message untouched this long was lost by the broker; a claimed one whose SMTP
# transaction never started, or never ended, this long after the claim lost its worker.
SES_SWEEP_QUEUED_AFTER_SECONDS = env_int("SES_SWEEP_QUEUED_AFTER_SECONDS", 300, minimum=1)
SES_SWEEP_CLAIM_TIMEOUT_SECONDS = env_int("SES_SWEEP_CLAIM_TIMEOUT_SECONDS", 600, minimum=1)
# A message older than this in its SMTP transaction is sent again, so no live transaction may be
# that old: each SMTP step waits at most EMAIL_TIMEOUT.
if SES_SWEEP_CLAIM_TIMEOUT_SECONDS <= 6 * EMAIL_TIMEOUT:
    raise ImproperlyConfigured("SES_SWEEP_CLAIM_TIMEOUT_SECONDS must be more than 6 × EMAIL_TIMEOUT")
# Fairness between accounts (sending/lanes.py): an account's queued messages up to this many are
# handed to the delivery queue; beyond it, to the backlog queue that workers take turns with, so no
# account's backlog stands in front of another account's next message.
SES_DELIVERY_FAIR_SHARE = env_int("SES_DELIVERY_FAIR_SHARE", 100, minimum=1)
# The same for event callbacks (notify/services.py): an account with more than this many callbacks
# pending (its receiver is slow or down) has its next ones POSTed from the callbacks backlog queue.
# Small, about the background worker's threads: each pending callback of a hung receiver may hold a
# thread for SES_CALLBACK_TIMEOUT_SECONDS, and at 50 another account's callback waited two minutes.
SES_CALLBACK_FAIR_SHARE = env_int("SES_CALLBACK_FAIR_SHARE", 4, minimum=1)
# A delivery task's turn (sending/delivery.py): after this many seconds it hands the messages it has
# not reached back to the queues, so a worker is never held long by one account's group.
SES_DELIVERY_TURN_SECONDS = env_int("SES_DELIVERY_TURN_SECONDS", 1, minimum=1)
# Batch dispatch (batches/services.py): recipients turned into messages per transaction, and how
# long a sending task may make no progress before the periodic job hands it to a worker again.
SES_BATCH_CHUNK = env_int("SES_BATCH_CHUNK", 500, minimum=1)
SES_BATCH_STALL_SECONDS = env_int("SES_BATCH_STALL_SECONDS", 300, minimum=1)
# A recipient list uploading with no progress for this long is handed to a worker again (batches/lists/tasks.py).
SES_LIST_IMPORT_STALL_SECONDS = env_int("SES_LIST_IMPORT_STALL_SECONDS", 600, minimum=1)
SES_API_MAX_BODY_BYTES = env_int("SES_API_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1024)
SES_API_TIMESTAMP_WINDOW_SECONDS = 300
# Later outcomes (SPEC §4.3): the bearer token of POST /inbound/report (raw DSN/ARF) and the HMAC
# secret of the MTA webhook POST /inbound/events. Empty switches the endpoint off (404).
SES_INBOUND_TOKEN = env_str("SES_INBOUND_TOKEN", "")
SES_WEBHOOK_SECRET = env_str("SES_WEBHOOK_SECRET", "")
# Customers' callback URLs may not point into our own network unless the operator allows it.
SES_CALLBACK_ALLOW_PRIVATE_NETWORKS = env_bool("SES_CALLBACK_ALLOW_PRIVATE_NETWORKS", False)
# One callback attempt (connect, TLS, request, the receiver's answer) ends after this many seconds in
# all, however slowly the receiver answers: a slow receiver cannot hold a worker.
SES_CALLBACK_TIMEOUT_SECONDS = env_int("SES_CALLBACK_TIMEOUT_SECONDS", 5, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
