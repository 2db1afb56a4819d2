"""Django settings for the test run: a throw-away instance folder, then the real settings.

The database comes from CARESEAL_DATABASE_URL when set (the PostgreSQL
run), else SQLite inside the folder; pytest-django creates its own test
database from it either way.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from careseal import instance

_directory = Path(tempfile.mkdtemp(prefix="careseal-test-"))
atexit.register(shutil.rmtree, _directory, ignore_errors=True)
_config = instance.write_files(instance.InitOptions(
    directory=_directory / "instance", hostname="gateway.test", admin_email="admin@clinic.test",
    submission_listen="127.0.0.1:0", mx_listen="127.0.0.1:0", web_listen="127.0.0.1:0",
))
os.environ["CARESEAL_CONFIG"] = str(_config)

from careseal.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing for unit tests only

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not Django's shared in-memory default, so threads in tests lock
    # the way separate processes do in production.
    DATABASES["default"]["TEST"] = {"NAME": str(_directory / "test.db")}  # noqa: F405
