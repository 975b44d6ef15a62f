"""The writer in a child process: same results as in-process, bounded, and never outliving the run.

The child writes to the real filesystem (fault injection through ``fs`` is in-process only, see
tests/output/test_writer.py); these tests cover what the process boundary adds: results, flush, fatal
errors and the child's death coming back to the parent, cancel, and the child dying with its parent.
"""

from __future__ import annotations

import errno
import io
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.library_helpers import make_settings, small_catalog
from tests.output.test_writer import Results, all_files, library, no_temp_files, options_for
from vod2strm.jobs import generate
from vod2strm.library.items import FolderFiles, OutputFile
from vod2strm.output import writer_process
from vod2strm.output.fs import LocalFS
from vod2strm.output.writer import NOTHING_OWNED, Owned, WriteResult
from vod2strm.output.writer_process import WriterProcess

REPO = Path(__file__).resolve().parents[2]
WAIT = 10.0  # generous bound for a process to react; never a timing assertion


def test_writes_every_file_and_reports_each_once(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    results = Results()
    batches = library()
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        for batch in batches:
            assert writer.submit(batch)
        writer.flush()
        assert len(results.items) == len(all_files(batches))  # flush waits for every result
    got = results.by_path()
    for f in all_files(batches):
        assert got[f.relpath].ok and not got[f.relpath].adopted and got[f.relpath].kind == f.kind
        assert (root / f.relpath).read_bytes() == f.data
    assert writer.fatal_error is None and not writer.stopped
    assert writer.returncode == 0 and no_temp_files(root)


def test_the_childs_throttle_limit_comes_back_with_its_results(tmp_path: Path) -> None:
    """The run (and the benchmark's limit trace) sees the limit the child's throttle chose."""
    root = tmp_path / "lib"
    root.mkdir()
    settings = options_for(root, min_workers=3, max_workers=5)
    with WriterProcess(root, settings, on_result=Results()) as writer:
        assert writer.throttle_limit is None  # nothing reported yet
        for batch in library():
            writer.submit(batch)
        writer.flush()
        assert writer.throttle_limit is not None and 3 <= writer.throttle_limit <= 5


def test_identical_files_are_adopted_in_the_child_too(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    batches = library(shows=1, movies=2)
    with WriterProcess(root, options_for(root), on_result=Results()) as writer:
        for batch in batches:
            writer.submit(batch)
    mtimes = {f.relpath: (root / f.relpath).stat().st_mtime_ns for f in all_files(batches)}
    results = Results()
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        for batch in batches:
            writer.submit(batch)
    assert all(r.ok and r.adopted for r in results.items)
    assert {f.relpath: (root / f.relpath).stat().st_mtime_ns for f in all_files(batches)} == mtimes


def test_an_item_error_comes_back_with_its_errno(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "Movies").write_text("a file where a folder should be")
    results = Results()
    batch = FolderFiles("Movies/X", (OutputFile("Movies/X/X.strm", b"http://x\n", "movie_strm"),))
    good = FolderFiles("TV Shows", (OutputFile("TV Shows/tvshow.nfo", b"<tvshow/>", "tvshow_nfo"),))
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        writer.submit(batch)
        writer.submit(good)
    got = results.by_path()
    assert not got["Movies/X/X.strm"].ok and isinstance(got["Movies/X/X.strm"].error, OSError)
    assert got["Movies/X/X.strm"].error.errno in (errno.ENOTDIR, errno.EEXIST)
    assert got["TV Shows/tvshow.nfo"].ok and writer.fatal_error is None


def test_a_batch_with_mixed_outcomes_reports_each_file_once(tmp_path: Path) -> None:
    """Written files come back as their batch's number, the others one by one: a batch with an
    adopted, a kept and two written files gives each its own outcome, and nothing stays in flight."""
    root = tmp_path / "lib"
    folder = root / "Movies/X (2001)"
    folder.mkdir(parents=True)
    (folder / "same.nfo").write_bytes(b"<movie/>")
    (folder / "dir.strm").mkdir()  # a folder where our file would go is the user's: kept
    files = tuple(
        OutputFile(f"Movies/X (2001)/{name}", data, kind)
        for name, data, kind in (
            ("new.strm", b"http://a\n", "movie_strm"),
            ("same.nfo", b"<movie/>", "movie_nfo"),
            ("dir.strm", b"http://b\n", "movie_strm"),
            ("other.nfo", b"<movie>2</movie>", "movie_nfo"),
        )
    )
    whole = FolderFiles(
        "Movies/Y (2002)", (OutputFile("Movies/Y (2002)/y.strm", b"http://y\n", "movie_strm"),)
    )
    results = Results()
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        writer.submit(FolderFiles("Movies/X (2001)", files))
        writer.submit(whole)
        writer.flush()
        assert writer.in_flight == (0, 0, 0)  # no batch, file or folder left in flight
    assert sorted(r.relpath for r in results.items) == sorted(f.relpath for f in (*files, *whole.files))
    got = results.by_path()
    assert got["Movies/X (2001)/same.nfo"].ok and got["Movies/X (2001)/same.nfo"].adopted
    kept = got["Movies/X (2001)/dir.strm"]
    assert not kept.ok and not kept.skipped and kept.error is None and kept.kept == "foreign"
    assert (folder / "dir.strm").is_dir()
    for relpath in ("Movies/X (2001)/new.strm", "Movies/X (2001)/other.nfo", "Movies/Y (2002)/y.strm"):
        assert (
            got[relpath].ok and not got[relpath].adopted and got[relpath].kind in ("movie_strm", "movie_nfo")
        )
        assert (root / relpath).read_bytes() == next(
            f.data for f in (*files, *whole.files) if f.relpath == relpath
        )


def test_with_on_batch_written_files_come_as_one_list_per_batch(tmp_path: Path) -> None:
    """With ``on_batch`` (as generate uses it), a batch's written files arrive as one list, after
    its adopted and failed ones arrived one by one; a batch with nothing written sends no list."""
    root = tmp_path / "lib"
    folder = root / "Movies/X (2001)"
    folder.mkdir(parents=True)
    (folder / "same.nfo").write_bytes(b"<movie/>")
    (folder / "dir.strm").mkdir()
    mixed = FolderFiles(
        "Movies/X (2001)",
        (
            OutputFile("Movies/X (2001)/new.strm", b"http://a\n", "movie_strm"),
            OutputFile("Movies/X (2001)/same.nfo", b"<movie/>", "movie_nfo"),
            OutputFile("Movies/X (2001)/dir.strm", b"http://b\n", "movie_strm"),
        ),
    )
    adopted_only = FolderFiles(
        "Movies/X (2001)", (OutputFile("Movies/X (2001)/same.nfo", b"<movie/>", "movie_nfo"),)
    )
    events: list[tuple[str, object]] = []
    with WriterProcess(
        root,
        options_for(root),
        on_result=lambda r: events.append(("one", r.relpath)),
        on_batch=lambda batch, written: events.append(("batch", [f.relpath for f in written])),
    ) as writer:
        writer.submit(mixed)
        writer.flush()
        writer.submit(adopted_only)
        writer.flush()
    assert events == [
        ("one", "Movies/X (2001)/same.nfo"),
        ("one", "Movies/X (2001)/dir.strm"),
        ("batch", ["Movies/X (2001)/new.strm"]),
        ("one", "Movies/X (2001)/same.nfo"),
    ]


def test_a_vanished_root_is_fatal_in_the_parent(tmp_path: Path) -> None:
    root = tmp_path / "mnt" / "lib"
    root.mkdir(parents=True)
    results = Results()
    batches = library()
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        writer.submit(batches[0])
        writer.flush()
        for p in sorted(root.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        root.rmdir()  # the share was unmounted under us
        for batch in batches[1:]:
            writer.submit(batch)
        writer.flush()
    assert writer.stopped and writer.fatal_error is not None
    assert writer.fatal_error.errno == errno.ENOENT and "vanished" in writer.fatal_reason
    assert not root.exists()
    assert len(results.by_path()) == len(all_files(batches))  # every file reported once


def test_the_childs_death_stops_the_writer_and_nothing_hangs(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    results = Results()
    batches = library()
    writer = WriterProcess(root, options_for(root), on_result=results)
    writer.submit(batches[0])
    writer.flush()
    os.kill(writer.pid, signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while writer.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not writer.alive
    for batch in batches[1:]:
        writer.submit(batch)  # never blocks on a dead child
    writer.flush()
    writer.close()
    assert writer.stopped and writer.fatal_error is not None
    assert "writer process ended" in writer.fatal_reason
    skipped = [r for r in results.items if r.skipped]
    assert skipped and all(not r.ok for r in skipped)


def test_cancel_skips_what_the_child_has_not_started(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    results = Results()
    batches = library(shows=20, movies=50)
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        writer.submit(batches[0])
        writer.cancel()
        for batch in batches[1:]:
            assert not writer.submit(batch)
    got = results.by_path()
    assert len(got) == len(all_files(batches))
    assert all(r.skipped for p, r in got.items() if not p.startswith(batches[0].folder))
    assert no_temp_files(root)


class _BlockedWriter:
    """A child-side writer whose queue is full: ``submit`` returns only once cancelled."""

    root = Path("/srv/library")

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.submitted: list[FolderFiles] = []

    def cancel(self) -> None:
        self.cancelled.set()

    def submit_checked(self, batch: FolderFiles, base: Path, adopt: bool, if_missing: frozenset[str]) -> bool:
        self.submitted.append(batch)
        return self.cancelled.wait(WAIT)

    def join(self) -> None:
        pass


def test_the_child_acts_on_cancel_while_its_writer_is_blocked() -> None:
    """A cancel queued behind batches is read at once, not after the batches ahead of it."""
    frames = io.BytesIO()
    for frame in (
        ("batches", [(0, "a", (), True, frozenset())]),
        ("batches", [(1, "b", (), True, frozenset())]),
        ("cancel",),
        ("close",),
    ):
        pickle.dump(frame, frames)
    frames.seek(0)
    writer = _BlockedWriter()
    served: list[str] = []
    loop = threading.Thread(target=lambda: served.append(writer_process.serve(frames, writer, None)))
    loop.start()
    loop.join(WAIT)
    assert not loop.is_alive() and writer.cancelled.is_set()
    assert served == [""] and [batch.folder for batch in writer.submitted] == ["a", "b"]


def test_the_child_cancels_when_the_parent_goes_away() -> None:
    frames = io.BytesIO()
    pickle.dump(("batches", [(0, "a", (), True, frozenset())]), frames)
    frames.seek(0)
    writer = _BlockedWriter()
    assert writer_process.serve(frames, writer, None) == ""
    assert writer.cancelled.is_set()


def test_a_failing_callback_is_reraised_on_close(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()

    def broken(result: object) -> None:
        raise RuntimeError("manifest is gone")

    writer = WriterProcess(root, options_for(root), on_result=broken)
    for batch in library(shows=0, movies=3):
        writer.submit(batch)
    with pytest.raises(RuntimeError, match="manifest is gone"):
        writer.close()
    assert writer.stopped


def test_files_and_folders_in_flight_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1%-changed run sends one small batch per item; each holds an item in the pipeline."""
    monkeypatch.setattr(writer_process, "_MAX_FOLDERS", 3)
    monkeypatch.setattr(writer_process, "_MAX_FILES", 5)
    root = tmp_path / "lib"
    root.mkdir()
    peaks: list[tuple[int, int]] = []
    results = Results()
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        for batch in library(shows=3, seasons=2, episodes=1, movies=8):
            writer.submit(batch)
            now = writer.in_flight
            peaks.append((now.files, now.folders))
    # A batch larger than the bound still goes alone (nothing else in flight).
    assert max(folders for _, folders in peaks) <= 3
    assert all(files <= 5 or folders == 1 for files, folders in peaks)
    assert writer.in_flight == (0, 0, 0)
    assert all(r.ok for r in results.items)


def test_the_child_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """A SIGKILLed run must not leave its writer going on behind the next run's lock (Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only; elsewhere the child stops at EOF on its stdin")
    root = tmp_path / "lib"
    root.mkdir()
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from vod2strm.output.writer import WriterOptions
        from vod2strm.output.writer_process import WriterProcess
        root = Path({str(root)!r})
        w = WriterProcess(root, WriterOptions(), on_result=lambda r: None)
        print(w.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    os.kill(child_pid, 0)  # alive
    parent.kill()
    parent.wait(WAIT)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.01)
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.django_db
def test_generate_writes_through_a_child_unless_a_filesystem_is_injected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    real = generate.WriterProcess

    def spy(*args: object, **kwargs: object) -> WriterProcess:
        made.append("process")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(generate, "WriterProcess", spy)
    small_catalog(movies=2, series=1, episodes=2)
    settings = make_settings(tmp_path)
    assert generate.run(settings).exit_code == 0 and made == ["process"]
    assert writer_process.available()
    other = make_settings(tmp_path / "b")
    assert generate.run(other, fs=LocalFS()).exit_code == 0 and made == ["process"]


def _submissions(batches: list[FolderFiles]) -> list[tuple[FolderFiles, Owned, frozenset[str]]]:
    """``submit_many``'s arguments for new files: nothing there is ours, no ``--verify`` names."""
    return [(batch, NOTHING_OWNED, frozenset()) for batch in batches]


def test_submit_many_sends_several_batches_to_a_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stage goes in a few frames, as many batches to each as the in-flight bounds allow."""
    monkeypatch.setattr(writer_process, "_MAX_FOLDERS", 8)
    root = tmp_path / "lib"
    root.mkdir()
    frames: list[int] = []
    results = Results()
    batches = library(shows=4, movies=20)
    with WriterProcess(root, options_for(root), on_result=results) as writer:
        # The frames are visible only at the pipe: counted where they are written to it.
        send = writer._send

        def counting_send(message: tuple) -> bool:
            if message[0] == "batches":
                frames.append(len(message[1]))
            return send(message)

        monkeypatch.setattr(writer, "_send", counting_send)
        assert writer.submit_many(_submissions(batches)) == len(batches)
        writer.flush()
    assert sum(frames) == len(batches) and max(frames) == 8 and len(frames) < len(batches)
    got = results.by_path()
    assert len(got) == len(all_files(batches)) and all(r.ok for r in got.values())
    assert all((root / f.relpath).read_bytes() == f.data for f in all_files(batches))


def test_submit_many_obeys_the_runs_cancel_while_waiting_for_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run cancelled while its submit waits for room sends nothing more; the rest come back skipped."""
    monkeypatch.setattr(writer_process, "_MAX_FOLDERS", 1)
    root = tmp_path / "lib"
    root.mkdir()
    results = Results()
    batches = library(shows=0, movies=50)
    cancel = threading.Event()

    def cancel_when_one_is_back(result: WriteResult) -> None:
        # One batch at a time is in flight: the first result comes while the submit waits for room.
        results(result)
        cancel.set()

    with WriterProcess(root, options_for(root), on_result=cancel_when_one_is_back) as writer:
        sent = writer.submit_many(_submissions(batches), cancel=cancel)
    assert 1 <= sent < len(batches) and writer.stopped
    got = results.by_path()
    assert len(got) == len(all_files(batches))
    assert sum(not r.skipped for r in got.values()) <= 2 * sent
    assert no_temp_files(root)
