"""The Dispatcharr home: the core against models mirroring Dispatcharr's ``apps.vod``/``apps.m3u``.

The Dispatcharr-home tests need their own settings module (a different app registry), so they run
in a pytest subprocess (``tests/dispatcharr_home/check_home.py`` with
``--ds=tests.settings_dispatcharr``); this module runs it as part of the normal suite and then
checks that the same catalog gives the same rows, the same tree and the same number of queries in
the standalone home.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dispatcharr_home import catalog_data
from vod2strm import conf
from vod2strm.catalog import resolver
from vod2strm.jobs import generate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dispatcharr_run(tmp_path_factory):
    dump = tmp_path_factory.mktemp("dispatcharr-home") / "dump.json"
    env = {
        **os.environ,
        "VOD2STRM_HOME_DUMP": str(dump),
        "DJANGO_SETTINGS_MODULE": "tests.settings_dispatcharr",
    }
    env.pop("PYTEST_ADDOPTS", None)
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--ds=tests.settings_dispatcharr",
        "-o", "python_files=check_*.py", "tests/dispatcharr_home",
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    data = json.loads(dump.read_text()) if dump.exists() else None
    return out, data


def test_the_dispatcharr_home_suite_passes(dispatcharr_run):
    out, data = dispatcharr_run
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^3 passed\b", out.stdout, re.MULTILINE), out.stdout
    assert data is not None


@pytest.mark.django_db
def test_both_homes_read_and_write_the_same_library(dispatcharr_run, tmp_path):
    _, dispatcharr = dispatcharr_run
    if dispatcharr is None:
        pytest.fail("the Dispatcharr-home run wrote no dump")
    assert resolver.home() == "standalone"
    catalog_data.build(resolver.models())
    settings = conf.build(
        {**catalog_data.SETTINGS, "output_root": tmp_path / "library", "state_dir": tmp_path / "state"}
    )
    assert catalog_data.rows(settings) == dispatcharr["rows"]
    result = generate.run(settings)
    assert result.exit_code == 0, result.as_dict()
    assert catalog_data.digest(settings.output_root) == dispatcharr["tree"]
    assert result.queries == dispatcharr["queries"]
    assert result.sections == dispatcharr["sections"]
