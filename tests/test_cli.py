"""The command line's contract for bad configuration: one clear line naming the setting, exit 2,
and with --json exactly one JSON object on stdout (DESIGN.md section 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vod2strm.standalone.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VOD2STRM_OUTPUT_ROOT": str(tmp_path / "library"),
        "VOD2STRM_STATE_DIR": str(tmp_path / "state"),
        **env,
    }
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "vod2strm", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_config_error(result: subprocess.CompletedProcess, field: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert field in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_catalog_home(tmp_path):
    result = run_cli(tmp_path, "generate", VOD2STRM_CATALOG="nowhere")
    assert_config_error(result, "CATALOG")


def test_relative_output_root(tmp_path):
    result = run_cli(tmp_path, "generate", "--root", "relative/library")
    assert_config_error(result, "output_root")


def test_invalid_setting_value(tmp_path):
    result = run_cli(tmp_path, "generate", VOD2STRM_BASE_URL="ftp://dispatcharr")
    assert_config_error(result, "base_url")


def test_unwritable_output_root(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_cli(tmp_path, "generate", "--root", str(blocker / "library"))
    assert_config_error(result, "output_root")


def test_postgres_that_is_down(tmp_path):
    result = run_cli(tmp_path, "stats", DATABASE_URL="postgres://nobody@127.0.0.1:9/vod2strm")
    assert result.returncode == 2, result.stderr
    assert "database unreachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["postgres://x:notaport/db", "mysql://x@y/z"])
def test_malformed_database_url(tmp_path, url):
    result = run_cli(tmp_path, "stats", DATABASE_URL=url)
    assert_config_error(result, "DATABASE_URL")


def test_json_error_is_one_object_on_stdout(tmp_path):
    result = run_cli(tmp_path, "generate", "--json", VOD2STRM_CATALOG="nowhere")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["exit"] == 2 and "CATALOG" in data["error"]
