"""Django settings built from the CareSeal configuration file.

The file is found as ``careseal --config`` passes it (``$CARESEAL_CONFIG``),
else ``./careseal.toml``. Nothing here is meant to be edited by operators:
every setting they own lives in the TOML file.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.csp import CSP

from careseal import config as careseal_config

CARESEAL = careseal_config.load(careseal_config.find_config_path())

if not CARESEAL.secret_key:
    raise careseal_config.ConfigError("secret_key_file", "missing or empty; run 'careseal init' to create it")

SECRET_KEY = CARESEAL.secret_key
DEBUG = False
ALLOWED_HOSTS = [CARESEAL.hostname, "localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.messages",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "careseal.accounts",
    "careseal.queue",
    "careseal.audit",
    "careseal.escrow",
    "careseal.portal",
    "careseal.replies",
    "careseal.rules",
    "careseal.consent",
    "careseal.reports",
    "careseal.console",
    "careseal.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "careseal.portal.middleware.SessionTouchMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "careseal.portal.middleware.NoStoreMiddleware",
    "careseal.portal.middleware.StorageUnavailableMiddleware",
]

ROOT_URLCONF = "careseal.web.urls"
WSGI_APPLICATION = "careseal.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": [
            "django.template.context_processors.request",
            "django.template.context_processors.csrf",
            "careseal.portal.context.practice",
            "django.contrib.auth.context_processors.auth",
            "django.contrib.messages.context_processors.messages",
        ]},
    }
]


def _databases(db: careseal_config.DatabaseConfig) -> dict[str, dict[str, object]]:
    if db.engine == "sqlite":
        return {
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": db.name,
                "CONN_MAX_AGE": None,
                "OPTIONS": {
                    # BEGIN IMMEDIATE takes the write lock up front, so two workers
                    # claiming deliveries serialize instead of failing on upgrade.
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 30,
                    # WAL lets readers run beside the writer; synchronous=FULL syncs
                    # the WAL at every commit, which a 250 reply to DATA promises.
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                },
            }
        }
    return {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db.name,
            "USER": db.user,
            "PASSWORD": db.password,
            "HOST": db.host,
            "PORT": str(db.port or ""),
            "CONN_MAX_AGE": None,
            "CONN_HEALTH_CHECKS": True,
        }
    }


DATABASES = _databases(CARESEAL.database)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = CARESEAL.escrow.default_language
LANGUAGES = [("en", "English"), ("es", "Español")]
USE_I18N = True
LOCALE_PATHS = [Path(__file__).resolve().parent / "locale"]
LANGUAGE_COOKIE_SECURE = CARESEAL.public_url.startswith("https://")
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

STATIC_URL = "/static/"

# Strict by default: pages load nothing from elsewhere and run no inline
# script. Views that show message HTML tighten this further.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF],
    "frame-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

SESSION_COOKIE_SECURE = CARESEAL.public_url.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Sessions end after 30 minutes without a request. SessionTouchMiddleware
# renews an idle session at most once a minute instead of on every request,
# which kept every request behind the database's write lock.
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin keeps Origin on form posts (Django's CSRF check needs it) and
# sends no Referer to other sites; responses that carry a token use no-referrer.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Logging is configured by careseal.logs; Django must not install its own.
LOGGING_CONFIG = None
