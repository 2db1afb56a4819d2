"""Django settings built from the CareSeal configuration file.

The file is found as ``careseal --config`` passes it (``$CARESEAL_CONFIG``),
else ``./careseal.toml``. Nothing here is meant to be edited by operators:
every setting they own lives in the TOML file.
"""

from __future__ import annotations

from careseal import config as careseal_config

CARESEAL = careseal_config.load(careseal_config.find_config_path())

if not CARESEAL.secret_key:
    raise careseal_config.ConfigError("secret_key_file", "missing or empty; run 'careseal init' to create it")

SECRET_KEY = CARESEAL.secret_key
DEBUG = False
ALLOWED_HOSTS = [CARESEAL.hostname, "localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "careseal.accounts",
    "careseal.queue",
    "careseal.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "careseal.web.urls"
WSGI_APPLICATION = "careseal.web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
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
LANGUAGE_CODE = "en"
USE_I18N = True

SESSION_COOKIE_SECURE = CARESEAL.public_url.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = 30 * 60
SESSION_SAVE_EVERY_REQUEST = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "no-referrer"
X_FRAME_OPTIONS = "DENY"

# Logging is configured by careseal.logs; Django must not install its own.
LOGGING_CONFIG = None
