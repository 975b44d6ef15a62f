"""The writer: per-folder tasks, folder cache, item vs fatal errors, bounded queue, cancel.

Faults are injected through the ``fs`` boundary (a LocalFS subclass); no database needed.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vod2strm.conf import Settings, build
from vod2strm.errors import ConfigError
from vod2strm.jobs.generate import resolve_group, writer_options
from vod2strm.library.items import FolderFiles, OutputFile
from vod2strm.output.atomic import is_temp_name
from vod2strm.output.fs import Entry, LocalFS
from vod2strm.output.manifest import content_hash
from vod2strm.output.throttle import AdaptiveConcurrency
from vod2strm.output.writer import Writer, WriteResult, WriterOptions

WAIT = 10.0  # generous upper bound for thread hand-offs; never a timing assertion


def settings_for(root: Path, **extra: object) -> Settings:
    raw = {"output_root": str(root), "state_dir": str(root.parent / "state"), "max_workers": 4}
    raw.update(extra)
    return build(raw)


def options_for(root: Path, **extra: object) -> WriterOptions:
    """The writer's options for a run with these settings (checked as a run's settings are)."""
    return writer_options(settings_for(root, **extra))


class Results:
    """A thread-safe on_result collector."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[WriteResult] = []

    def __call__(self, result: WriteResult) -> None:
        with self.lock:
            self.items.append(result)

    def by_path(self) -> dict[str, WriteResult]:
        paths = [r.relpath for r in self.items]
        assert len(paths) == len(set(paths)), "a file was reported twice"
        return {r.relpath: r for r in self.items}


class CountingFS(LocalFS):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()

    def _count(self, op: str, path: Path) -> None:
        with self.lock:
            self.calls[(op, str(path))] += 1

    def makedirs(self, path: str, mode: int = 0o777, *, within: str | None = None) -> list[str]:
        self._count("makedirs", path)
        return super().makedirs(path, mode, within=within)

    def scandir(self, path: Path) -> Iterator[Entry]:
        self._count("scandir", path)
        return super().scandir(path)

    def read_bytes(self, path: Path, limit: int | None = None, *, follow_symlinks: bool = True) -> bytes:
        self._count("read", path)
        return super().read_bytes(path, limit, follow_symlinks=follow_symlinks)

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        self._count("write", path)
        super().write_atomic(path, data, **kw)  # type: ignore[arg-type]

    def ops(self, op: str) -> Counter[str]:
        return Counter({p: n for (o, p), n in self.calls.items() if o == op})


class FaultFS(CountingFS):
    """Raises a chosen OSError for writes whose path matches, optionally after N good writes."""

    def __init__(
        self,
        *,
        write_error: Callable[[Path], int | None] = lambda p: None,
        makedirs_error: Callable[[Path], int | None] = lambda p: None,
        root_probe_error: int | None = None,
    ) -> None:
        super().__init__()
        self.write_error = write_error
        self.makedirs_error = makedirs_error
        self.root_probe_error = root_probe_error
        self.writes = 0

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        code = self.write_error(Path(path))
        if code is not None:
            raise OSError(code, os.strerror(code), str(path))
        with self.lock:
            self.writes += 1
        super().write_atomic(path, data, **kw)  # type: ignore[arg-type]

    def makedirs(self, path: str, mode: int = 0o777, *, within: str | None = None) -> list[str]:
        code = self.makedirs_error(Path(path))
        if code is not None:
            raise OSError(code, os.strerror(code), str(path))
        return super().makedirs(path, mode, within=within)

    def is_dir(self, path: Path) -> bool:
        if self.root_probe_error is not None:
            raise OSError(self.root_probe_error, os.strerror(self.root_probe_error), str(path))
        return super().is_dir(path)


class BlockingFS(CountingFS):
    """Every write waits for ``go``; ``entered`` counts writes that reached the share."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.entered = threading.Semaphore(0)

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        self.entered.release()
        assert self.go.wait(WAIT)
        super().write_atomic(path, data, **kw)  # type: ignore[arg-type]


def library(shows: int = 6, seasons: int = 3, episodes: int = 4, movies: int = 10) -> list[FolderFiles]:
    """Batches as generate would send them: interleaved movie folders and season folders."""
    batches: list[FolderFiles] = []
    for m in range(movies):
        folder = f"Movies/Movie {m} (20{m:02d})"
        batches.append(
            FolderFiles(
                folder,
                (
                    OutputFile(f"{folder}/Movie {m}.strm", f"http://x/movie/{m}\n".encode(), "movie_strm"),
                    OutputFile(f"{folder}/Movie {m}.nfo", f"<movie>{m}</movie>".encode(), "movie_nfo"),
                ),
            )
        )
    for s in range(shows):
        show = f"TV Shows/Show {s}"
        batches.append(FolderFiles(show, (OutputFile(f"{show}/tvshow.nfo", b"<tvshow/>", "tvshow_nfo"),)))
        for season in range(1, seasons + 1):
            folder = f"{show}/Season {season:02d}"
            files = [OutputFile(f"{folder}/season.nfo", b"<season/>", "season_nfo")]
            for e in range(1, episodes + 1):
                base = f"{folder}/Show {s} S{season:02d}E{e:02d}"
                files.append(
                    OutputFile(f"{base}.strm", f"http://x/ep/{s}/{season}/{e}\n".encode(), "episode_strm")
                )
            batches.append(FolderFiles(folder, tuple(files)))
    return batches


def all_files(batches: list[FolderFiles]) -> list[OutputFile]:
    return [f for b in batches for f in b.files]


def no_temp_files(root: Path) -> bool:
    return not any(is_temp_name(p.name) for p in root.rglob("*"))


# -- the happy path -------------------------------------------------------------------------------


def test_writes_every_file_and_creates_each_folder_once(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = CountingFS()
    results = Results()
    batches = library()
    with Writer(root, options_for(root), fs=fs, on_result=results) as writer:
        for batch in batches:
            assert writer.submit(batch)
        # The same folders again in the same run: the cache means no further makedirs.
        for batch in batches[:5]:
            assert writer.submit(batch)
    assert len(results.items) == len(all_files(batches)) + sum(len(b.files) for b in batches[:5])
    got = {r.relpath: r for r in results.items}
    for f in all_files(batches):
        assert got[f.relpath].ok and got[f.relpath].error is None and not got[f.relpath].skipped
        assert got[f.relpath].kind == f.kind and got[f.relpath].file == f
        assert (root / f.relpath).read_bytes() == f.data
    makedirs = fs.ops("makedirs")
    folders = {str(root / b.folder) for b in batches}
    leaves = {f for f in folders if not any(o.startswith(f + "/") for o in folders)}
    # Once per folder per run; a show folder that a season folder's makedirs already created (and
    # cached) costs nothing at all.
    assert set(makedirs.values()) == {1}
    assert leaves <= set(makedirs) <= folders
    assert writer.fatal_error is None and writer.written == len(results.items)
    assert writer.folders_created == 2 + 10 + 6 * 4  # Movies, TV Shows, 10 movies, 6 shows + 18 seasons
    assert no_temp_files(root)


def test_identical_existing_files_are_adopted_not_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    folder = root / "Movies/A (2000)"
    folder.mkdir(parents=True)
    same, differs = folder / "A (2000).strm", folder / "A (2000).nfo"
    same.write_bytes(b"http://x/a\n")
    differs.write_bytes(b"<movie>old</movie>")
    os.utime(same, ns=(10**18, 10**18))
    batch = FolderFiles(
        "Movies/A (2000)",
        (
            OutputFile("Movies/A (2000)/A (2000).strm", b"http://x/a\n", "movie_strm"),
            OutputFile("Movies/A (2000)/A (2000).nfo", b"<movie>new</movie>", "movie_nfo"),
            OutputFile("Movies/A (2000)/A (2000)-extra.nfo", b"<x/>", "movie_nfo"),
        ),
    )
    fresh = FolderFiles("Movies/B (2001)", (OutputFile("Movies/B (2001)/B.strm", b"b", "movie_strm"),))
    fs = CountingFS()
    results = Results()
    with Writer(root, options_for(root), fs=fs, on_result=results) as writer:
        writer.submit(batch)
        writer.submit(fresh)
    got = results.by_path()
    assert got["Movies/A (2000)/A (2000).strm"].adopted and got["Movies/A (2000)/A (2000).strm"].ok
    assert same.stat().st_mtime_ns == 10**18  # untouched
    # Other bytes that vod2strm never wrote are the user's: left as they are, reported kept.
    nfo = got["Movies/A (2000)/A (2000).nfo"]
    assert not nfo.ok and nfo.kept == "foreign" and nfo.error is None
    assert differs.read_bytes() == b"<movie>old</movie>"
    assert (
        got["Movies/A (2000)/A (2000)-extra.nfo"].ok and not got["Movies/A (2000)/A (2000)-extra.nfo"].adopted
    )
    assert str(same) not in fs.ops("write") and str(differs) not in fs.ops("write")
    assert str(root / "Movies/B (2001)/B.strm") not in fs.ops("read")  # a folder made this run: no read
    assert writer.adopted == 1 and writer.written == 2 and writer.kept == 1

    # Bytes whose hash the caller says we wrote there are ours: read once, then replaced.
    fs2 = CountingFS()
    owned = {"Movies/A (2000)/A (2000).nfo": (content_hash(b"<movie>old</movie>"),)}
    with Writer(root, options_for(root), fs=fs2) as writer:
        writer.submit(batch, owned=owned)
    assert fs2.ops("read")[str(differs)] == 1 and fs2.ops("write")[str(differs)] == 1
    assert differs.read_bytes() == b"<movie>new</movie>"


def test_files_at_the_root_need_no_makedirs(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = CountingFS()
    with Writer(root, options_for(root), fs=fs) as writer:
        writer.submit(FolderFiles("", (OutputFile("top.nfo", b"x", "movie_nfo"),)))
    assert (root / "top.nfo").read_bytes() == b"x"
    assert not fs.ops("makedirs")


def test_dir_mode_and_file_mode_apply_to_what_the_writer_creates(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "Movies").mkdir(parents=True)
    (root / "Movies").chmod(0o700)
    s = options_for(root, dir_mode="0750", file_mode="0640", group=str(os.getegid()))
    with Writer(root, s) as writer:
        writer.submit(FolderFiles("Movies/A", (OutputFile("Movies/A/A.strm", b"u", "movie_strm"),)))
    assert stat.S_IMODE((root / "Movies").stat().st_mode) == 0o700  # pre-existing: untouched
    assert stat.S_IMODE((root / "Movies" / "A").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "Movies" / "A" / "A.strm").stat().st_mode) == 0o640
    assert (root / "Movies" / "A").stat().st_gid == os.getegid()


def test_writer_options_default_to_the_settings_defaults(tmp_path: Path) -> None:
    defaults = build({"output_root": str(tmp_path / "lib"), "state_dir": str(tmp_path / "state")})
    assert writer_options(defaults) == WriterOptions()


def test_resolve_group() -> None:
    assert resolve_group("") is None
    assert resolve_group(" 1234 ") == 1234
    assert resolve_group("root") == 0
    with pytest.raises(ConfigError) as info:
        resolve_group("no-such-group-vod2strm")
    assert info.value.field == "group"


def test_unsafe_paths_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    with Writer(root, options_for(root)) as writer:
        for folder, relpath in (
            ("../escape", "../escape/x"),
            ("/abs", "/abs/x"),
            ("Movies/A", "Movies/B/x.strm"),
            ("Movies/./A", "Movies/./A/x"),
            ("Movies/A", "Movies/A/.."),
            ("Movies/A", "Movies/A/"),
            ("Movies/A", "Movies/AB/x"),
            ("Movies/A", "Movies/A/b/x"),
            ("Movies/A", "Movies/A/a\\b"),
            ("Movies/A", "Movies/A/a\x00b"),
            ("", "x/y"),
            ("", ".."),
            ("", "/x"),
        ):
            batch = FolderFiles(folder, (OutputFile(relpath, b"", "movie_strm"),))
            with pytest.raises(ValueError):
                writer.submit(batch)
    assert list(tmp_path.iterdir()) == [root]
    assert list(root.iterdir()) == []


# -- item errors ----------------------------------------------------------------------------------


def test_one_failed_file_does_not_stop_the_others(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    bad = root / "TV Shows/Show 1/Season 02/Show 1 S02E02.strm"
    fs = FaultFS(write_error=lambda p: errno.EACCES if p == bad else None)
    results = Results()
    batches = library()
    with Writer(root, options_for(root), fs=fs, on_result=results) as writer:
        for batch in batches:
            writer.submit(batch)
    got = results.by_path()
    failed = [r for r in got.values() if not r.ok]
    assert [r.relpath for r in failed] == ["TV Shows/Show 1/Season 02/Show 1 S02E02.strm"]
    assert failed[0].error is not None and failed[0].error.errno == errno.EACCES and not failed[0].skipped
    assert got["TV Shows/Show 1/Season 02/Show 1 S02E03.strm"].ok  # the next file in that folder
    assert writer.fatal_error is None
    assert writer.failed == 1 and writer.written == len(all_files(batches)) - 1


def test_eacces_on_one_folder_is_an_item_error(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    denied = root / "Movies/Movie 3 (2003)"
    fs = FaultFS(makedirs_error=lambda p: errno.EACCES if p == denied else None)
    results = Results()
    batches = library()
    with Writer(root, options_for(root), fs=fs, on_result=results) as writer:
        for batch in batches:
            writer.submit(batch)
    failed = sorted(r.relpath for r in results.items if not r.ok)
    assert failed == ["Movies/Movie 3 (2003)/Movie 3.nfo", "Movies/Movie 3 (2003)/Movie 3.strm"]
    assert writer.fatal_error is None
    assert len(results.items) == len(all_files(batches))


# -- fatal errors ---------------------------------------------------------------------------------


def _fatal_after(
    root: Path, fs: LocalFS, batches: list[FolderFiles], **writer_kw: object
) -> tuple[Writer, Results]:
    results = Results()
    sent = 0
    with Writer(root, options_for(root), fs=fs, on_result=results, **writer_kw) as writer:  # type: ignore[arg-type]
        for batch in batches:
            accepted = writer.submit(batch)
            sent += 1
            if not accepted or writer.fatal_error is not None:
                break
        writer.join()
        for batch in batches[sent:]:  # what a careless caller might still send
            assert writer.submit(batch) is False
    assert len(results.by_path()) == len(all_files(batches))  # every file reported exactly once
    return writer, results


def test_enospc_stops_the_run_instead_of_failing_every_file(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    state = {"n": 0}
    lock = threading.Lock()

    def full_after_20(path: Path) -> int | None:
        with lock:
            state["n"] += 1
            return errno.ENOSPC if state["n"] > 20 else None

    batches = library(shows=20)
    writer, results = _fatal_after(root, FaultFS(write_error=full_after_20), batches)
    assert writer.fatal_error is not None and writer.fatal_error.errno == errno.ENOSPC
    assert "refuses writes" in writer.fatal_reason
    failed = [r for r in results.items if not r.ok and not r.skipped]
    skipped = [r for r in results.items if r.skipped]
    assert len(failed) <= 4  # at most the writes already in flight
    assert len(skipped) >= len(all_files(batches)) - 20 - 4
    assert all(r.error is None for r in skipped)
    assert writer.stopped and not writer.cancelled
    assert no_temp_files(root)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EDQUOT])
def test_read_only_or_quota_is_fatal(tmp_path: Path, code: int) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    writer, _ = _fatal_after(root, FaultFS(write_error=lambda p: code), library())
    assert writer.fatal_error is not None and writer.fatal_error.errno == code


def test_root_vanishing_is_fatal_and_never_recreated(tmp_path: Path) -> None:
    root = tmp_path / "mnt" / "lib"
    root.mkdir(parents=True)
    results = Results()
    batches = library()
    with Writer(root, options_for(root), on_result=results) as writer:
        writer.submit(batches[0])
        writer.join()
        for p in sorted(root.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        root.rmdir()  # the share was unmounted under us
        for batch in batches[1:]:
            if not writer.submit(batch):
                break
    assert writer.fatal_error is not None and writer.fatal_error.errno == errno.ENOENT
    assert "vanished" in writer.fatal_reason
    assert not root.exists()
    assert writer.written == 2


def test_eio_with_an_unreachable_root_is_fatal(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = FaultFS(write_error=lambda p: errno.EIO, root_probe_error=errno.ENOTCONN)
    writer, results = _fatal_after(root, fs, library())
    assert writer.fatal_error is not None and writer.fatal_error.errno == errno.EIO
    assert "unreachable" in writer.fatal_reason
    assert sum(1 for r in results.items if r.error is not None) <= 4


def test_eio_streak_with_a_healthy_root_becomes_fatal(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = FaultFS(write_error=lambda p: errno.EIO)
    writer, results = _fatal_after(root, fs, library(shows=10), max_consecutive_errors=5)
    assert writer.fatal_error is not None and "in a row" in writer.fatal_reason
    assert 5 <= sum(1 for r in results.items if r.error is not None) <= 5 + 4


def test_eio_on_a_few_files_is_an_item_error(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    flaky = {root / "Movies/Movie 1 (2001)/Movie 1.nfo", root / "Movies/Movie 5 (2005)/Movie 5.strm"}
    fs = FaultFS(write_error=lambda p: errno.EIO if p in flaky else None)
    writer, results = _fatal_after(root, fs, library())
    assert writer.fatal_error is None
    assert sorted(str(root / r.relpath) for r in results.items if not r.ok) == sorted(map(str, flaky))


# -- bounded queue, cancel ------------------------------------------------------------------------


def test_submit_blocks_when_the_pending_queue_is_full(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = BlockingFS()
    results = Results()
    s = options_for(root, max_workers=2, min_workers=2)
    batches = library(shows=0, movies=10)
    submitted: list[int] = []

    with Writer(root, s, fs=fs, on_result=results, max_pending=3) as writer:

        def producer() -> None:
            for i, batch in enumerate(batches):
                writer.submit(batch)
                submitted.append(i)

        thread = threading.Thread(target=producer)
        thread.start()
        for _ in range(2):  # both workers are inside a write that cannot finish
            assert fs.entered.acquire(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while len(submitted) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(submitted) == 3
        time.sleep(0.1)  # give a misbehaving submit the chance to return
        assert len(submitted) == 3 and thread.is_alive()
        fs.go.set()
        thread.join(WAIT)
        assert not thread.is_alive()
    assert len(submitted) == 10
    assert all(r.ok for r in results.items) and len(results.items) == 20


def test_cancel_skips_pending_work_and_leaves_no_partial_file(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    (root / "Movies/Movie 7 (2007)").mkdir(parents=True)
    old = root / "Movies/Movie 7 (2007)/Movie 7.strm"
    old.write_bytes(b"old bytes")
    fs = BlockingFS()
    results = Results()
    s = options_for(root, max_workers=2, min_workers=2)
    batches = library(shows=0, movies=10)
    with Writer(root, s, fs=fs, on_result=results, max_pending=20) as writer:
        for batch in batches:
            writer.submit(batch)
        for _ in range(2):
            assert fs.entered.acquire(timeout=WAIT)
        writer.cancel()  # Ctrl-C arrives while two writes are on the wire
        late = FolderFiles("Movies/Late", (OutputFile("Movies/Late/Late.strm", b"l", "movie_strm"),))
        assert writer.submit(late) is False
        fs.go.set()
    got = results.by_path()
    assert got.pop("Movies/Late/Late.strm").skipped
    assert len(got) == 20
    written = [r for r in got.values() if r.ok]
    skipped = [r for r in got.values() if r.skipped]
    assert len(written) == 2 and len(skipped) == 18  # the two in flight finished, whole
    for r in written:
        assert (root / r.relpath).read_bytes() == r.file.data  # type: ignore[union-attr]
    for r in skipped:
        assert not r.ok and r.error is None
        if r.relpath != "Movies/Movie 7 (2007)/Movie 7.strm":
            assert not (root / r.relpath).exists()
    assert old.read_bytes() == b"old bytes"
    assert writer.cancelled and writer.fatal_error is None
    assert no_temp_files(root)


def test_submit_after_close_raises(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    writer = Writer(root, options_for(root))
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(RuntimeError):
        writer.submit(library(shows=0, movies=1)[0])


def test_exception_in_the_caller_cancels_and_propagates(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = BlockingFS()
    results = Results()
    s = options_for(root, max_workers=1, min_workers=1)
    with pytest.raises(KeyboardInterrupt), Writer(root, s, fs=fs, on_result=results) as writer:
        for batch in library(shows=0, movies=2):
            writer.submit(batch)
        assert fs.entered.acquire(timeout=WAIT)
        fs.go.set()
        raise KeyboardInterrupt
    assert len(results.by_path()) == 4
    assert writer.cancelled
    assert no_temp_files(root)


def test_a_failing_callback_stops_the_writer_and_is_reraised(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()

    def broken(result: WriteResult) -> None:
        raise RuntimeError("manifest is gone")

    writer = Writer(root, options_for(root), on_result=broken)
    for batch in library(shows=0, movies=3):
        writer.submit(batch)
    with pytest.raises(RuntimeError, match="manifest is gone"):
        writer.close()
    assert writer.stopped


# -- verify ---------------------------------------------------------------------------------------


def test_if_missing_writes_only_names_the_folder_lacks(tmp_path: Path) -> None:
    """``--verify``: files the manifest says hold our bytes are written only when gone, from the
    folder's one listing (no read of the present ones)."""
    root = tmp_path / "lib"
    folder = root / "Movies/A (2000)"
    folder.mkdir(parents=True)
    (folder / "A (2000).strm").write_bytes(b"x")
    (folder / "poster.jpg").write_bytes(b"user")
    fs = CountingFS()
    results = Results()
    batch = FolderFiles(
        "Movies/A (2000)",
        (
            OutputFile("Movies/A (2000)/A (2000).strm", b"new", "movie_strm"),
            OutputFile("Movies/A (2000)/A (2000).nfo", b"<movie/>", "movie_nfo"),
        ),
    )
    with Writer(root, options_for(root), fs=fs, on_result=results) as writer:
        writer.submit(batch, if_missing=frozenset(f.relpath for f in batch.files))
    outcomes = results.by_path()
    strm, nfo = outcomes["Movies/A (2000)/A (2000).strm"], outcomes["Movies/A (2000)/A (2000).nfo"]
    assert strm.adopted
    assert nfo.ok and not nfo.adopted
    assert (folder / "A (2000).strm").read_bytes() == b"x"  # present: not read, not rewritten
    assert (folder / "A (2000).nfo").read_bytes() == b"<movie/>"
    assert fs.ops("scandir") == Counter({str(folder): 1})
    assert not fs.ops("read_bytes")


def test_counters_and_throttle(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    throttle = AdaptiveConcurrency(1, 4)
    with Writer(root, options_for(root), throttle=throttle) as writer:
        writer.submit(library(shows=0, movies=1)[0])
    assert (writer.written, writer.failed, writer.skipped) == (2, 0, 0)
    snap = throttle.snapshot()
    assert snap["completed"] == 2 and snap["in_flight"] == 0
    assert writer.throttle is throttle


class PeakFS(CountingFS):
    """Tracks how many writes run at once."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.peak = 0

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            time.sleep(0.0005)
            super().write_atomic(path, data, **kw)  # type: ignore[arg-type]
        finally:
            with self.lock:
                self.now -= 1


def test_writes_in_flight_never_exceed_the_throttle_limit_and_every_slot_comes_back(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    root.mkdir()
    fs = PeakFS()
    throttle = AdaptiveConcurrency(2, 2)  # 8 threads, 2 slots: batches keep a slot across their files
    with Writer(root, options_for(root, max_workers=8), fs=fs, throttle=throttle) as writer:
        batches = library()
        for batch in batches:
            writer.submit(batch)
    assert fs.peak <= 2
    assert writer.written == sum(len(b.files) for b in batches)
    assert throttle.in_flight == 0


class _ThreadRecordingFS(LocalFS):
    """Remembers which threads wrote."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        self.threads.add(threading.current_thread().name)
        super().write_atomic(path, data, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [1, 4])
def test_a_serial_writer_writes_in_the_submitting_thread_and_a_wider_one_in_its_pool(
    tmp_path: Path, workers: int
) -> None:
    """The writer process's case: at a limit of one, handing each batch to a pool thread bought no
    overlap and cost a thread hand-off per batch; with room for more, the pool is used."""
    root = tmp_path / "lib"
    root.mkdir()
    fs = _ThreadRecordingFS()
    batches = library()
    settings = options_for(root, min_workers=workers, max_workers=workers)
    with Writer(root, settings, fs=fs, on_result=Results(), inline_when_serial=True) as writer:
        assert writer.submit_many([(batch, True, frozenset()) for batch in batches]) == len(batches)
    assert all((root / f.relpath).read_bytes() == f.data for f in all_files(batches))
    here = threading.current_thread().name
    assert (fs.threads == {here}) if workers == 1 else (here not in fs.threads)


class _GatedFS(_ThreadRecordingFS):
    """Pool threads wait at ``gate`` before writing; remembers the order of the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.order: list[tuple[str, str]] = []
        self._order_lock = threading.Lock()

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        name = threading.current_thread().name
        if name.startswith("vod2strm-writer"):
            assert self.gate.wait(10)
        with self._order_lock:
            self.order.append((name, path.name if isinstance(path, Path) else str(path).rsplit("/", 1)[1]))
        super().write_atomic(path, data, **kw)


class _CutToOne(AdaptiveConcurrency):
    """A throttle whose limit reads one once the test sets ``cut`` (as after a cut to the minimum)."""

    cut = False

    @property
    def limit(self) -> int:
        return 1 if self.cut else super().limit


def test_back_at_a_limit_of_one_a_serial_writer_lets_its_pool_finish_then_writes_inline(
    tmp_path: Path,
) -> None:
    """After a probe, batches still queued on the pool must not keep the writer there: the next
    batch at a limit of one waits for them, then is written in the submitting thread."""
    root = tmp_path / "lib"
    root.mkdir()
    fs = _GatedFS()
    throttle = _CutToOne(1, 4, initial=2)
    batches = library(shows=0, movies=4)
    with Writer(
        root, options_for(root), fs=fs, on_result=Results(), inline_when_serial=True, throttle=throttle
    ) as writer:
        assert writer.submit_many([(batch, True, frozenset()) for batch in batches[:3]]) == 3
        throttle.cut = True
        last = threading.Thread(target=writer.submit, args=(batches[3],), name="submitter")
        last.start()
        last.join(0.3)
        assert last.is_alive() and not fs.order  # waiting for the pool, which waits at the gate
        fs.gate.set()
        last.join(10)
        assert not last.is_alive()
    last_names = {f.relpath.rsplit("/", 1)[1] for f in batches[3].files}
    assert {name for thread, name in fs.order if thread == "submitter"} == last_names
    assert [name for _, name in fs.order[-len(last_names) :]] == [
        f.relpath.rsplit("/", 1)[1] for f in batches[3].files
    ]
    assert all((root / f.relpath).read_bytes() == f.data for f in all_files(batches))


@pytest.mark.parametrize("code", [errno.EIO, errno.EACCES])
def test_written_inline_a_batch_reports_its_latencies_together_and_a_failure_at_once(
    tmp_path: Path, code: int
) -> None:
    """Inline at a limit of one, the throttle hears of a batch's writes when it ends, and of a
    failed write at once: an I/O error as congestion, a path error as a write that went fine."""
    root = tmp_path / "lib"
    root.mkdir()
    batch = FolderFiles(
        "Show/Season 01", tuple(OutputFile(f"Show/Season 01/e{i}.strm", b"x", "strm") for i in range(9))
    )
    heard: list[tuple[int, bool]] = []

    class Listening(AdaptiveConcurrency):
        def complete(self, latency_s: float, ok: bool = True) -> bool:
            raise AssertionError("inline writes are observed together")

        def complete_many(self, latencies, *, last_ok=True):  # type: ignore[no-untyped-def]
            heard.append((len(latencies), last_ok))
            return super().complete_many(latencies, last_ok=last_ok)

    throttle = Listening(1, 4)
    fs = FaultFS(write_error=lambda p: code if p.name == "e3.strm" else None)
    results = Results()
    with Writer(
        root, options_for(root), fs=fs, on_result=results, inline_when_serial=True, throttle=throttle
    ) as writer:
        writer.submit(batch)
    assert heard == [(4, code == errno.EACCES), (5, True)]
    assert throttle.completed == 9 and throttle.in_flight == 0
    assert throttle.errors == (1 if code == errno.EIO else 0)
    assert not results.by_path()["Show/Season 01/e3.strm"].ok
    assert writer.written == 8 and writer.failed == 1


class _SlowFS(LocalFS):
    """Every write takes a while: a queue of them outlasts a cancel."""

    def write_atomic(self, path: Path, data: bytes, **kw: object) -> None:  # type: ignore[override]
        time.sleep(0.02)
        super().write_atomic(path, data, **kw)  # type: ignore[arg-type]


def test_a_cancel_during_flush_skips_what_is_queued(tmp_path: Path) -> None:
    """The end of a section waits for the writer; the run's cancel event is obeyed while it waits,
    so queued files are skipped instead of written (they keep their old bytes)."""
    root = tmp_path / "lib"
    root.mkdir()
    results = Results()
    cancel = threading.Event()
    with Writer(
        root, options_for(root, max_workers=1), fs=_SlowFS(), on_result=results, max_pending=400
    ) as w:
        for i in range(200):
            w.submit(FolderFiles(f"Movies/M{i}", (OutputFile(f"Movies/M{i}/m.strm", b"x", "movie_strm"),)))
        threading.Timer(0.1, cancel.set).start()
        w.flush(cancel)
    assert w.cancelled and w.skipped > 100 and w.written < 100
    assert len(results.items) == 200  # every file reported once: written or skipped
