"""Settings for the standalone home (``manage.py``): SQLite by default, PostgreSQL via DATABASE_URL.

Paths default to the working directory, so ``make demo`` leaves ``library/`` and ``state/``
next to the checkout. Every ``VOD2STRM`` key can also come from an environment variable named
``VOD2STRM_<KEY>`` (upper case), handy for cron and containers.

Errors found while this module is imported (a malformed ``DATABASE_URL``, a misspelt
``VOD2STRM_`` variable, a bad ``VOD2STRM_LOG_LEVEL``) are raised as ``ImproperlyConfigured``:
``manage.py`` and ``python -m vod2strm`` report that as one line and exit 2, where any other
exception would be a traceback.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from vod2strm.conf import from_environment
from vod2strm.errors import ConfigError
from vod2strm.standalone.database_url import parse as parse_database_url

WORK_DIR = Path.cwd()

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "vod2strm-standalone-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "vod2strm",
    "vod2strm.standalone",
]

#: The admin's CSS and JS are served by the app itself whatever DEBUG says (plain `runserver`
#: serves static files only with DEBUG on), straight from the apps' static folders, so no
#: `collectstatic` is needed: by WhiteNoise (the `standalone` extra), else by Django's own
#: static view (urls.py), slower but enough for one person's admin.
WHITENOISE = importlib.util.find_spec("whitenoise") is not None

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if WHITENOISE else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "vod2strm.standalone.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' folders: admin/base_site.html here replaces the admin's own.
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{WORK_DIR / 'vod2strm.sqlite3'}", WORK_DIR
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A generate streams reads while a demo load or admin edit may write: wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
WHITENOISE_USE_FINDERS = True  # serve from the apps' static folders, no collectstatic
WHITENOISE_AUTOREFRESH = DEBUG


def _log_level(value: str) -> str | int:
    """``VOD2STRM_LOG_LEVEL`` as logging takes it: a level name (any case) or a number."""
    text = value.strip().upper() or "WARNING"
    if text.isdigit():
        return int(text)
    if text not in logging.getLevelNamesMapping():
        names = ", ".join(n for n in logging.getLevelNamesMapping() if n not in ("WARN", "FATAL"))
        raise ImproperlyConfigured(f"VOD2STRM_LOG_LEVEL: must be one of {names}; got {value!r}")
    return text


try:
    _ENVIRONMENT = from_environment(os.environ)
except ConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

VOD2STRM = {
    "CATALOG": "standalone",
    "output_root": str(WORK_DIR / "library"),
    "state_dir": str(WORK_DIR / "state"),
    **_ENVIRONMENT,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "vod2strm": {
            "handlers": ["stderr"],
            "level": _log_level(os.environ.get("VOD2STRM_LOG_LEVEL", "")),
        }
    },
}
