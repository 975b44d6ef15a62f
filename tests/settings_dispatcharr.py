"""Test settings for the Dispatcharr home: a project shaped like Dispatcharr's as vod2strm sees it.

``apps.m3u`` and ``apps.vod`` are the test-only mirrors in ``tests/dispatcharr_home/apps`` (put on
``sys.path`` here, as Dispatcharr's ``/app`` is); vod2strm itself is *not* an installed app, exactly
as inside Dispatcharr, where it is only a plugin folder on ``sys.path``. The catalog home is
auto-detected from ``apps.vod``.

Used by the subprocess that ``tests/dispatcharr/test_dispatcharr_home.py`` starts, and by job processes
started from it. The test database gets a name of its own, so this suite can run while the main
suite's test database exists on the same server.
"""

import os
import sys
import tempfile
from pathlib import Path

HOME = Path(__file__).resolve().parent / "dispatcharr_home"
if str(HOME) not in sys.path:
    sys.path.insert(0, str(HOME))

from vod2strm.standalone.database_url import parse as parse_database_url  # noqa: E402

SECRET_KEY = "vod2strm-dispatcharr-home-tests"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "apps.m3u",
    "apps.vod",
]
DATABASES = {
    "default": parse_database_url(
        os.environ.get("DATABASE_URL")
        or f"sqlite:///{os.path.join(tempfile.gettempdir(), 'vod2strm-dispatcharr-home.sqlite3')}",
        Path.cwd(),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["OPTIONS"] = {"timeout": 30}
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"vod2strm-dispatcharr-test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_vod2strm_dispatcharr_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
VOD2STRM: dict = {}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"vod2strm": {"handlers": ["stderr"], "level": "WARNING"}},
}
