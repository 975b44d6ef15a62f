"""The per-root run lock (across processes, SIGKILL-safe) and the root marker."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vod2strm.errors import EXIT_CONFIG, EXIT_LOCKED, EXIT_REFUSED, ConfigError, LockedError, RefusedError
from vod2strm.output.atomic import temp_name
from vod2strm.output.fs import LocalFS
from vod2strm.output.lock import is_locked, lock_path, read_owner, run_lock
from vod2strm.output.marker import MARKER_NAME, MARKER_TEXT, check_root, ensure_marker

REPO = Path(__file__).resolve().parents[2]

# -- lock -----------------------------------------------------------------------------------------


def test_second_acquisition_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    state, root = tmp_path / "state", tmp_path / "lib"
    with run_lock(state, root) as path:
        assert path == lock_path(state, root) and path.parent == state
        assert is_locked(state, root)
        with pytest.raises(LockedError) as info, run_lock(state, root):
            pass  # pragma: no cover
        message = str(info.value)
        assert message.startswith(f"another vod2strm run is in progress for {root} (lock: {path}")
        assert f"pid {os.getpid()}" in message
        assert "\n" not in message
        assert info.value.exit_code == EXIT_LOCKED == 3
        assert read_owner(state, root)["pid"] == os.getpid()  # type: ignore[index]
    assert not is_locked(state, root)
    with run_lock(state, root):  # released: free again
        pass


def test_roots_lock_independently_and_spellings_agree(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (tmp_path / "lib").mkdir()
    assert lock_path(state, tmp_path / "lib") == lock_path(state, tmp_path / "x" / ".." / "lib")
    assert lock_path(state, tmp_path / "lib") != lock_path(state, tmp_path / "other")
    with run_lock(state, tmp_path / "lib"), run_lock(state, tmp_path / "other"):
        assert is_locked(state, tmp_path / "lib") and is_locked(state, tmp_path / "other")


def test_is_locked_never_creates_the_state_folder(tmp_path: Path) -> None:
    assert not is_locked(tmp_path / "state", tmp_path / "lib")
    assert not (tmp_path / "state").exists()


def test_a_sigkilled_holder_does_not_block(tmp_path: Path) -> None:
    state, root = tmp_path / "state", tmp_path / "lib"
    holder = textwrap.dedent(
        f"""
        import sys, time
        from vod2strm.output.lock import run_lock
        with run_lock({str(state)!r}, {str(root)!r}):
            print("locked", flush=True)
            time.sleep(120)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        assert is_locked(state, root)
        with pytest.raises(LockedError, match=f"pid {proc.pid}"), run_lock(state, root):
            pass  # pragma: no cover
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not is_locked(state, root)
    with run_lock(state, root):
        assert read_owner(state, root)["pid"] == os.getpid()  # type: ignore[index]


# -- marker ---------------------------------------------------------------------------------------


class ProbeFailFS(LocalFS):
    """A dead mount: every stat fails with the given errno."""

    def __init__(self, code: int) -> None:
        self.code = code

    def exists(self, path: Path) -> bool:
        raise OSError(self.code, os.strerror(self.code), str(path))


class ReadOnlyFS(LocalFS):
    def access(self, path: Path, mode: int) -> bool:
        return False


REFUSAL = "is missing or not marked (an unmounted share?); refusing to write"


def test_refuses_a_missing_root_when_the_manifest_has_files(tmp_path: Path) -> None:
    root = tmp_path / "mnt" / "library"
    with pytest.raises(RefusedError) as info:
        check_root(root, True, LocalFS())
    assert str(info.value) == (
        f"output root {root} is missing or not marked (an unmounted share?); refusing to write. "
        "Mount it, or remove the state folder to start over."
    )
    assert info.value.exit_code == EXIT_REFUSED == 5
    assert not root.exists() and not root.parent.exists()  # never created


def test_refuses_an_unmarked_root_when_the_manifest_has_files(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()  # an empty mount point
    with pytest.raises(RefusedError, match="refusing to write"):
        check_root(root, True, LocalFS())
    assert list(root.iterdir()) == []


def test_refuses_a_dead_mount_when_the_manifest_has_files(tmp_path: Path) -> None:
    with pytest.raises(RefusedError, match="refusing to write"):
        check_root(tmp_path, True, ProbeFailFS(errno.ENOTCONN))
    with pytest.raises(ConfigError):
        check_root(tmp_path, False, ProbeFailFS(errno.EIO))


def test_marked_root_passes(tmp_path: Path) -> None:
    root = tmp_path / "library"
    root.mkdir()
    assert ensure_marker(root, LocalFS()) is True
    check_root(root, True, LocalFS())


def test_creates_the_root_when_the_manifest_is_empty(tmp_path: Path) -> None:
    root = tmp_path / "new" / "library"
    fs = LocalFS()
    check_root(root, False, fs)
    assert root.is_dir()
    assert ensure_marker(root, fs) is True
    marker = root / MARKER_NAME
    text = marker.read_text(encoding="utf-8")
    assert "vod2strm" in text and "Do not delete" in text
    mtime = marker.stat().st_mtime_ns
    assert ensure_marker(root, fs) is False  # left alone, not rewritten
    assert marker.stat().st_mtime_ns == mtime
    check_root(root, True, fs)


def test_writing_the_marker_sweeps_the_temp_a_killed_marker_write_left(tmp_path: Path) -> None:
    """A run killed while writing the marker leaves its temp in the root; the next run removes it."""
    root = tmp_path / "library"
    root.mkdir()
    leftover = root / temp_name()
    leftover.write_bytes(MARKER_TEXT.encode()[:10])
    (root / "notes.txt").write_text("the user's own file")
    assert ensure_marker(root, LocalFS()) is True
    assert sorted(p.name for p in root.iterdir()) == sorted([MARKER_NAME, "notes.txt"])


def test_takes_over_an_existing_unmarked_tree_when_the_manifest_is_empty(tmp_path: Path) -> None:
    root = tmp_path / "library"
    (root / "Movies").mkdir(parents=True)
    check_root(root, False, LocalFS())
    assert ensure_marker(root, LocalFS())
    assert (root / "Movies").is_dir()


def test_root_that_is_a_file_or_not_writable_is_a_config_error(tmp_path: Path) -> None:
    afile = tmp_path / "library"
    afile.write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        check_root(afile, False, LocalFS())
    assert info.value.field == "output_root" and info.value.exit_code == EXIT_CONFIG
    root = tmp_path / "ro"
    root.mkdir()
    with pytest.raises(ConfigError, match="not writable"):
        check_root(root, False, ReadOnlyFS())
