"""``DATABASE_URL`` parsing for the standalone home, and how manage.py reports a bad one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from vod2strm.standalone.database_url import parse

BASE = Path("/srv/vod2strm")
REPO = Path(__file__).resolve().parents[2]


def test_sqlite_relative_path_is_resolved_against_the_base_dir():
    assert parse("sqlite:///catalog.sqlite3", BASE) == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/srv/vod2strm/catalog.sqlite3",
    }


def test_sqlite_absolute_path():
    assert parse("sqlite:////var/lib/vod2strm/db.sqlite3", BASE)["NAME"] == "/var/lib/vod2strm/db.sqlite3"


def test_sqlite_in_memory():
    assert parse("sqlite:///:memory:", BASE) == {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///"])
def test_sqlite_without_a_path_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="needs a path"):
        parse(url, BASE)


def test_postgres_with_every_part():
    db = parse("postgres://vod:p%40ss@db.example.com:6543/catalog?sslmode=require&application_name=v2s", BASE)

    assert db == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "catalog",
        "USER": "vod",
        "PASSWORD": "p@ss",
        "HOST": "db.example.com",
        "PORT": "6543",
        "OPTIONS": {"connect_timeout": 5, "sslmode": "require", "application_name": "v2s"},
    }


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql"])
def test_postgres_scheme_aliases_and_defaults(scheme):
    db = parse(f"{scheme}://localhost/vod2strm", BASE)

    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]) == (
        "vod2strm",
        "",
        "",
        "localhost",
        "",
    )


def test_postgres_unix_socket_host_from_the_query():
    db = parse("postgres://postgres@/vod2strm?host=/run/postgresql", BASE)

    assert db["HOST"] == "/run/postgresql"
    assert "host" not in db["OPTIONS"]


def test_postgres_without_a_database_name_is_refused():
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        parse("postgres://user@localhost:5432/", BASE)


@pytest.mark.parametrize("url", ["postgres://x:notaport/db", "postgres://u@host:99999/db"])
def test_malformed_port_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL is malformed"):
        parse(url, BASE)


@pytest.mark.parametrize("url", ["mysql://u:p@localhost/db", "db.sqlite3", "oracle://x/y"])
def test_unknown_scheme_is_refused_with_a_clear_message(url):
    with pytest.raises(ImproperlyConfigured) as excinfo:
        parse(url, BASE)

    message = str(excinfo.value)
    assert "DATABASE_URL" in message
    assert "unsupported scheme" in message
    assert "sqlite:///" in message and "postgres://" in message


@pytest.mark.slow
def test_manage_py_reports_a_malformed_database_url_in_one_line_and_exits_2(tmp_path):
    env = {**os.environ, "DATABASE_URL": "postgres://x:notaport/db"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py picks its own settings

    result = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vod2strm: configuration error: ")
    assert "DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
