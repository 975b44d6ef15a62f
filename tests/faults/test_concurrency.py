"""Two processes on one output root: one proceeds, the other is refused at once with exit 3.

Real processes (``manage.py vod2strm … --json``) against the file-backed test database. The
first one is held inside its first write (or delete) by a test-only gate on its PYTHONPATH, so
the second one certainly meets the lock; then the gate opens and the first one finishes.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.faults import helpers
from tests.faults.conftest import check_converges
from vod2strm.errors import EXIT_LOCKED
from vod2strm.jobs import generate
from vod2strm.standalone import models

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def start_held(env: dict[str, str], gate, *args: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        helpers.cli_args(*args, "--json"),
        env={**env, "VOD2STRM_TEST_GATE": str(gate)},
        cwd=helpers.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reached = gate.with_name(gate.name + ".reached")
    deadline = time.monotonic() + 60
    while not reached.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first process never reached its first write"
        time.sleep(0.02)
    return proc


def finish(proc: subprocess.Popen, gate) -> tuple[int, dict]:
    gate.touch()
    out, _err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out)


def assert_refused(env, pid: int, *args: str) -> None:
    out = helpers.run_cli(env, *args)
    assert out.code == EXIT_LOCKED and out.data["exit"] == EXIT_LOCKED, out
    message = out.data["error"]
    assert helpers.one_line(message) and "another vod2strm run is in progress" in message
    assert f"pid {pid}" in message
    assert helpers.error_lines(out.stderr) == ["vod2strm: " + message]


def test_generate_holds_the_root_cleanup_and_generate_are_refused(scenario, tmp_path):
    sc = scenario
    hooks = helpers.write_hook(tmp_path / "hooks")
    env = helpers.child_env(sc.settings, hooks)
    gate = tmp_path / "gate"
    first = start_held(env, gate, "generate")
    before = helpers.files_on_disk(sc.root)
    assert_refused(env, first.pid, "cleanup")
    assert_refused(env, first.pid, "generate")
    assert helpers.files_on_disk(sc.root) == before  # the refused ones touched nothing
    code, data = finish(first, gate)
    assert (
        code == 0 and data["exit"] == 0 and data["sections"] == {"movies": "complete", "series": "complete"}
    )
    check_converges(sc)


def test_cleanup_holds_the_root_generate_is_refused(scenario, tmp_path):
    sc = scenario
    assert generate.run(sc.settings).exit_code == 0
    models.Movie.objects.filter(name="Film 03").delete()
    assert generate.run(sc.settings).exit_code == 0
    hooks = helpers.write_hook(tmp_path / "hooks")
    env = helpers.child_env(sc.settings, hooks)
    gate = tmp_path / "gate"
    first = start_held(env, gate, "cleanup")
    assert_refused(env, first.pid, "generate")
    assert_refused(env, first.pid, "cleanup")
    code, data = finish(first, gate)
    assert code == 0 and data["removed"] == 4  # Film 03's two files and the renumbered episode's old two
    sc.wanted = helpers.reference_tree(sc.settings, sc.tmp / "reference-2")
    check_converges(sc)
