"""Test settings: the standalone home, with a file-backed SQLite test database.

File-backed (not in-memory) so subprocess tests (kill tests, the plugin's runner) see the same
data. ``DATABASE_URL`` switches the suite to PostgreSQL, as ``.ci/run`` does.
"""

import os
import tempfile

from vod2strm.standalone.settings import *  # noqa: F403
from vod2strm.standalone.settings import DATABASES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"vod2strm-test-{os.getpid()}.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
