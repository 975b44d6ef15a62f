"""A full or failing state disk (the manifest's folder) ends the run with one line and loses nothing.

The state folder is local and small next to the share, and it can fill up (logs, a backup, the
share's own cache). The run must stop with a message naming the folder, not a traceback from the
writer's results thread, and the next run, once there is room, must adopt the files already
written instead of rewriting them.
"""

from __future__ import annotations

import errno
import logging
import os

import pytest

from tests.faults import helpers
from tests.faults.conftest import build_catalog, make_settings
from tests.library_helpers import mtimes
from vod2strm.errors import EXIT_FAILED
from vod2strm.jobs import generate
from vod2strm.jobs.progress import STATUS_FILE, Progress, StatusFile

pytestmark = [pytest.mark.faults]


@pytest.mark.django_db(transaction=True)
def test_a_full_state_disk_ends_the_run_with_one_line_and_the_next_run_adopts(tmp_path):
    build_catalog(movies=40, series=4, seasons=2, episodes=4)
    settings = make_settings(tmp_path)
    env = helpers.child_env(settings, helpers.write_hook(tmp_path / "hook"), VOD2STRM_TEST_MANIFEST_ROOM="3")

    out = helpers.run_cli(env, "generate")

    assert out.code == EXIT_FAILED and out.data["exit"] == EXIT_FAILED, out
    assert "database or disk is full" in out.data["error"] and str(settings.state_dir) in out.data["error"]
    assert helpers.one_line(out.data["error"]) and "Traceback" not in out.stderr, out.stderr
    assert len(helpers.error_lines(out.stderr)) == 1, out.stderr
    assert helpers.library_problems(settings.output_root) == []  # no temp file, no partial file
    written = helpers.library_tree(settings.output_root)
    assert written, "the run failed before writing anything: the test proves nothing"
    times = mtimes(settings.output_root)
    assert not [n for n in os.listdir(settings.state_dir) if n.endswith(".tmp")]

    again = generate.run(settings)  # room again

    assert again.exit_code == 0, again.as_dict()
    assert again.adopted > 0
    kept = {p: t for p, t in mtimes(settings.output_root).items() if p in written}
    assert kept == {p: times[p] for p in kept}  # what the failed run wrote was never rewritten
    assert generate.run(settings).written == 0


def test_a_status_file_that_cannot_be_written_warns_once_and_leaves_no_temp(tmp_path, monkeypatch, caplog):
    status = StatusFile(tmp_path, interval=0)

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("vod2strm.jobs.progress.os.replace", full)
    with caplog.at_level(logging.WARNING, logger="vod2strm.jobs.progress"):
        status.write({"state": "running"})
        status("advance", Progress())

    assert os.listdir(tmp_path) == []  # neither the status file nor a temp file
    warnings = [r for r in caplog.records if "status file" in r.getMessage()]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()
    monkeypatch.undo()
    status.write({"state": "finished"})
    assert os.listdir(tmp_path) == [STATUS_FILE]
