"""The command line's contract for bad configuration: one clear line naming the setting, exit 2,
and with --json exactly one JSON object on stdout (docs/cli.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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


# -- a run of generate and cleanup: one outcome -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_generate_whose_cleanup_the_valve_refuses_exits_5_and_says_why(tmp_path):
    """Not 0 with the refusal unmentioned (issue #25): the run did not do what was asked."""
    from tests.dispatcharr_home import harness
    from tests.library_helpers import small_catalog
    from vod2strm.jobs.progress import read_status

    _account, movies, _series = small_catalog(movies=6, series=1, episodes=2)
    db = {"DATABASE_URL": harness.database_url(), "VOD2STRM_CLEANUP_MAX_SHARE": "0"}
    first = run_cli(tmp_path, "generate", "--cleanup", **db)
    assert first.returncode == 0, first.stderr
    assert "Cleanup removed 0 orphaned files." in first.stdout
    for movie in movies[:3]:
        movie.delete()

    text = run_cli(tmp_path, "generate", "--cleanup", **db)
    assert text.returncode == 5, (text.stdout, text.stderr)
    assert "Traceback" not in text.stderr
    (refusal,) = [line for line in text.stdout.splitlines() if line.startswith("Cleanup refused")]
    assert "movies" in refusal  # the section, and why
    assert "force the cleanup: vod2strm cleanup --force" in text.stdout
    assert read_status(tmp_path / "state")["state"] == "refused"

    # The same through the setting instead of the flag, as JSON: the refusal and the run's status.
    as_json = run_cli(tmp_path, "generate", "--json", VOD2STRM_CLEANUP_AFTER_GENERATE="true", **db)
    assert as_json.returncode == 5, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["exit"] == 5 and data["sections"] == {"movies": "complete", "series": "complete"}
    assert data["cleanup"]["refused"] is True and data["cleanup"]["exit"] == 5
    assert data["cleanup"]["message"][1:] in refusal
    assert len(list((tmp_path / "library").rglob("*.strm"))) == 6 + 2  # nothing was deleted


# -- signals, in this process -------------------------------------------------------------------------------


def test_a_command_run_in_process_stops_on_a_signal_and_gives_the_handlers_back(capfd):
    """``call_command`` callers (tests, a host project) get their own handlers back afterwards.
    The subprocess cases, at every moment of a run, are in tests/test_kill.py."""
    import signal

    from vod2strm import interrupt

    before = {signum: signal.getsignal(signum) for signum in interrupt.SIGNALS}
    with interrupt.handling(json_output=False):
        with interrupt.stoppable() as outer, interrupt.stoppable() as inner:
            assert outer is inner  # one event for every phase of a run
            os.kill(os.getpid(), signal.SIGINT)
            assert outer.wait(10) and interrupt.requested()
        interrupt.answering()  # from now on the process only prints its answer and exits
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert {signum: signal.getsignal(signum) for signum in interrupt.SIGNALS} == before
    assert not interrupt.requested()
    assert capfd.readouterr().err.startswith("vod2strm: interrupted; stopping at the next safe point")
