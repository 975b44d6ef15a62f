"""The run's writer: one bounded thread pool, one task per folder, atomic writes through a throttle.

Why it is shaped like this (measurements in docs/performance.md):

- **One task per folder.** Linux (and every NFS/SMB client) holds a folder's lock while a file is
  created or renamed in it, so writes into one folder are serial whatever the thread count, while
  writes into different folders overlap. A task therefore writes one folder's files in order, and
  concurrency comes from running tasks for *different* folders. Callers should interleave folders
  (a movie folder, then another movie's folder; a season folder per task), never queue many
  batches for the same folder back to back.
- **One pool per run, bounded queue.** The pool (:class:`WriterOptions` ``max_workers`` threads) is
  created once; ``submit`` blocks once ``max_pending`` batches (default 2 x workers) are queued or running, so
  memory stays flat however large the catalog is.
- **Adaptive concurrency.** Each file write takes a slot of :class:`AdaptiveConcurrency`, which
  adapts how many writes are in flight between ``min_workers`` and ``max_workers`` from observed
  throughput.
- **Serial means inline** (``inline_when_serial``, the writer process). While the throttle allows
  one write at a time and no task is running, ``submit`` writes the batch in the calling thread:
  handing a one- or two-file batch to a pool thread bought no overlap there and cost a thread
  hand-off per batch (docs/performance.md). A raised limit sends batches to the pool again.
- **Folders made once per run.** A thread-safe cache remembers folders known to exist; the first
  batch for a folder costs one ``mkdir`` round trip (more only for missing parents); the folders the
  writer actually creates get ``dir_mode``/``group``.
- **Never rewrite identical bytes, never write over what is not ours.** In a folder that existed
  before the run, a file already at our path is first read. If it holds exactly the new bytes it is
  kept (``adopted``), so its mtime never moves (Jellyfin re-probes any file whose mtime changes).
  Otherwise it is replaced only when its bytes are provably ours: their hash is one the caller
  says vod2strm wrote there (``owned``). Any other file is the user's: a file we never wrote
  (``kept="foreign"``) or one we wrote that a person or program changed since (``kept="edited"``)
  is left byte for byte, unless the run's settings hand such files over on purpose
  (``take_over_foreign_files``, ``overwrite_edited_files``). Folders created in this run are never
  read.
- **Every file is reported once**, from the worker thread: written, adopted, failed (``ok=False``
  with the ``OSError``), or ``skipped=True`` (never attempted: the run was cancelled or stopped on
  a fatal error; ``error`` is None). A failed file does not stop its folder's others. Files
  written with new bytes (nearly all of a cold run) are reported when their batch ends, the
  others as they happen; with ``on_batch`` the written ones go to it as one list per batch, which
  the writer process sends back as one number (a result per file cost it a fifth of its CPU).
- **Fatal vs item errors.** A full share (``ENOSPC``/``EDQUOT``), a read-only one (``EROFS``), a root
  that vanished or stopped answering (checked with one ``stat`` of the root after ``ENOENT``/``EIO``/
  ``ENOTCONN``/``ESTALE``/timeouts), or a long run of I/O errors with no success in between would
  fail millions of files one by one: the writer sets :attr:`Writer.fatal_error`, stops taking work
  and skips what is queued. ``EACCES`` on one folder, a name the share rejects, etc. are item errors.
- **Cancel at a safe point.** :meth:`Writer.cancel` lets writes in progress finish (each is atomic:
  old bytes or new, never a partial file) and skips the rest.

No call here touches the share except through the ``fs`` object (fault-injection tests swap it).
"""

from __future__ import annotations

import errno
import posixpath
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vod2strm.library.items import FolderFiles, OutputFile
from vod2strm.output.atomic import is_temp_name
from vod2strm.output.fs import MISSING_ERRNOS, LocalFS
from vod2strm.output.manifest import content_hash
from vod2strm.output.throttle import AdaptiveConcurrency


@dataclass(frozen=True, slots=True)
class WriterOptions:
    """What a :class:`Writer` takes of a run's settings (defaults as in ``conf.SCHEMA``).

    Built from :class:`~vod2strm.conf.Settings` by the caller (``jobs.generate.writer_options``,
    which also resolves the group to ``gid``); a writer process receives it pickled.
    """

    fsync: bool = False
    file_mode: int | None = None
    dir_mode: int | None = None
    #: Group for the files and folders the writer creates; None: leave it as created.
    gid: int | None = None
    min_workers: int = 1
    max_workers: int = 16
    take_over_foreign_files: bool = False
    overwrite_edited_files: bool = False


#: The share cannot take any write: stop the run instead of failing every file.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

#: Errors that may mean the whole share is gone (unmounted, dead FUSE/SMB session): one stat of the
#: root decides between "this folder" (item error) and "the root" (fatal).
ROOT_PROBE_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.EIO,
        errno.ESTALE,
        errno.ENOTCONN,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ECONNABORTED,
        errno.ECONNRESET,
        errno.ENODEV,
        errno.ENXIO,
    }
)

#: How often a wait for the writer looks at the run's cancel event.
_CANCEL_POLL_SECONDS = 0.1

#: Most bytes read to decide whether an existing file at our path is ours. Our files are a few KB
#: (an NFO with an absurd plot a few MB); a larger file was never written by us, and its hash (of
#: the first bytes) matches nothing.
OWNERSHIP_READ_LIMIT = 64 << 20

#: What ``owned`` maps a relpath to: the hashes of bytes vod2strm may have left there.
Owned = Mapping[str, Sequence[str]]
NOTHING_OWNED: Owned = {}

#: Errors about one path (permissions, a name the share rejects, a file where a folder should be):
#: they say nothing about load, so they neither cut the throttle nor count towards a fatal streak.
PATH_ERRNOS = frozenset(
    {
        errno.EACCES,
        errno.EPERM,
        errno.ENAMETOOLONG,
        errno.EEXIST,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EINVAL,
        errno.ELOOP,
        errno.EILSEQ,
        errno.ENOENT,
    }
)


@dataclass(slots=True)  # not frozen, for speed: see OutputFile in library/items.py
class WriteResult:
    """What happened to one submitted file.

    ``ok``: the new bytes are in place. ``adopted`` (with ``ok``): they already were - an existing
    file with exactly these bytes was kept as it is (no write, mtime unchanged). ``skipped``: never
    attempted (cancel or fatal stop); the old file, if any, is untouched. ``kept``: a file that is
    not ours stands at the path and was left as it is: ``"foreign"`` (never written by vod2strm)
    or ``"edited"`` (written by vod2strm, changed since). Otherwise ``error`` says why the write
    failed (the old file is kept).
    """

    relpath: str
    kind: str
    ok: bool
    error: OSError | None
    skipped: bool = False
    adopted: bool = False
    file: OutputFile | None = None
    kept: str | None = None


class Writer:
    """Writes :class:`FolderFiles` batches under ``root``; use as a context manager, once per run.

    ``options``: the writer's :class:`WriterOptions` (not a run's ``conf.Settings``).
    """

    def __init__(
        self,
        root: Path,
        options: WriterOptions,
        *,
        fs: LocalFS | None = None,
        on_result: Callable[[WriteResult], None] | None = None,
        on_batch: Callable[[FolderFiles, list[OutputFile]], None] | None = None,
        throttle: AdaptiveConcurrency | None = None,
        max_pending: int | None = None,
        max_consecutive_errors: int = 100,
        clock: Callable[[], float] = time.perf_counter,
        folder_cache_size: int = 4096,
        inline_when_serial: bool = False,
    ):
        self.root = Path(root)
        self._fs = fs if fs is not None else LocalFS()
        self._on_result = on_result
        self._on_batch = on_batch
        self._fsync = options.fsync
        self._file_mode = options.file_mode
        self._dir_mode = options.dir_mode
        self._gid = options.gid
        self._take_over_foreign = options.take_over_foreign_files
        self._overwrite_edited = options.overwrite_edited_files
        self._clock = clock
        workers = options.max_workers
        self.throttle = (
            throttle if throttle is not None else AdaptiveConcurrency(options.min_workers, workers)
        )
        self._max_consecutive_errors = max_consecutive_errors
        self._inline_when_serial = inline_when_serial
        self._slots = threading.BoundedSemaphore(max_pending or 2 * workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vod2strm-writer")

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._outstanding = 0
        # Bounded (see _RecentFolders): a whole-run set of Paths costs ~1 KB per folder.
        self._dirs = _RecentFolders(folder_cache_size)  # folders known to exist
        self._fresh = _RecentFolders(folder_cache_size)  # created by this writer: nothing predates the run
        self._listed = _RecentFolders(folder_cache_size)  # pre-existing, already listed (and swept)
        # Folders whose first listing (and temp sweep) is under way: other batches wait for it.
        self._listing: dict[str, threading.Event] = {}
        self.temps_swept = 0
        self._stop = threading.Event()
        self._cancelled = False
        self._closed = False
        self._consecutive_errors = 0
        self.fatal_error: OSError | None = None
        self.fatal_reason = ""
        self._unexpected: BaseException | None = None
        self.written = 0
        self.adopted = 0
        self.failed = 0
        self.skipped = 0
        self.kept = 0
        self.folders_created = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.cancel()  # Ctrl-C or an error in the caller: stop at the next safe point
        self.close(raise_errors=exc_type is None)

    def cancel(self) -> None:
        """Skip every batch and file not yet started; writes in progress finish (atomically)."""
        with self._lock:
            self._cancelled = True
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def stopped(self) -> bool:
        """True once the writer takes no more work (cancelled, fatal error, or a failed callback)."""
        return self._stop.is_set()

    def join(self, cancel: threading.Event | None = None) -> None:
        """Wait until every batch submitted so far is done (the pool stays open for more).

        ``cancel`` (the run's event) is obeyed while waiting: the end of a section may wait for
        thousands of queued files on a slow share, and a cancel must skip them, not sit behind them.
        """
        while True:
            with self._idle:
                if self._idle.wait_for(
                    lambda: self._outstanding == 0, None if cancel is None else _CANCEL_POLL_SECONDS
                ):
                    return
            if cancel is not None and cancel.is_set() and not self._cancelled:
                self.cancel()

    flush = join  # the name jobs/generate.py uses between sections

    def close(self, *, raise_errors: bool = True) -> None:
        """Wait for everything submitted, then shut the pool down. Idempotent.

        Re-raises an unexpected exception from a worker or from ``on_result`` (a bug or a broken
        manifest), so it is never lost; ``fatal_error`` is left for the caller to check.
        """
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
        if raise_errors and self._unexpected is not None:
            exc, self._unexpected = self._unexpected, None
            raise exc

    # -- work -----------------------------------------------------------------------------------

    def submit(
        self,
        batch: FolderFiles,
        *,
        owned: Owned = NOTHING_OWNED,
        if_missing: frozenset[str] = frozenset(),
    ) -> bool:
        """Queue one folder's files; blocks while ``max_pending`` batches are queued or running.

        Before writing a file into a folder that existed before this run, what is at its path is
        read: identical bytes are kept untouched and reported ``adopted`` (an existing tree,
        ``--verify``, a manifest that lags behind the share); a read costs fewer round trips than
        a write and never changes an mtime (Jellyfin re-probes any file whose mtime moves). Other
        bytes are replaced only when their hash is in ``owned[relpath]`` (the hashes of bytes
        vod2strm recorded there); anything else is reported ``kept`` and left alone. Folders
        created in this run are never read.

        ``if_missing``: relpaths to write only when the folder has no entry of that name
        (``--verify``: the manifest says they hold our bytes; a file deleted by hand comes back).
        Present ones are reported ``adopted`` without being read.

        A folder that existed before the run is listed once (one ``scandir``) by its first batch:
        names it lacks are written without an adoption read, and leftover temp files of a crashed
        run are swept there.

        Returns False (and reports every file as skipped, from the calling thread)
        when the writer has stopped. Raises ValueError for a path that would leave the root.
        """
        check_batch(batch)
        return self.submit_checked(batch, self.root, owned, if_missing)

    def submit_checked(
        self, batch: FolderFiles, base: Path, owned: Owned, if_missing: frozenset[str]
    ) -> bool:
        """:meth:`submit` for a batch that passed :func:`check_batch` already: the writer process
        checks every batch before it crosses the pipe, and checking it again in the child cost ~4%
        of the child's CPU."""
        if self._closed:
            raise RuntimeError("submit() on a closed Writer")
        if self._stop.is_set():
            self._skip_all(batch.files)
            self._batch_done(batch, [])
            return False
        self._slots.acquire()
        if self._stop.is_set():
            self._slots.release()
            self._skip_all(batch.files)
            self._batch_done(batch, [])
            return False
        with self._lock:
            self._outstanding += 1
            inline = self._inline_when_serial and self.throttle.limit == 1
            if inline and self._outstanding > 1:
                # Serial again, with batches still on the pool from a raised limit: let them
                # finish, then write inline. Feeding the pool one batch behind another kept it
                # there long after a probe (a cold S run at a limit of 1 throughout: the pool's
                # threads used ~3 of the writer process's ~8.5 s of CPU; docs/performance.md).
                self._idle.wait_for(lambda: self._outstanding == 1)
        if inline:
            self._run_batch(batch, base, owned, if_missing, True)
            return True
        try:
            self._pool.submit(self._run_batch, batch, base, owned, if_missing)
        except BaseException:
            self._task_done()
            raise
        return True

    def submit_many(
        self,
        batches: Sequence[tuple[FolderFiles, Owned, frozenset[str]]],
        *,
        cancel: threading.Event | None = None,
    ) -> int:
        """:meth:`submit` each ``(batch, owned, if_missing)``; how many were accepted.

        ``cancel`` (the run's event) is obeyed between batches: :meth:`submit` may block for a
        while behind a slow share, and the batches after a cancel are skipped, not written.
        """
        accepted = 0
        for batch, owned, if_missing in batches:
            if cancel is not None and cancel.is_set():
                self.cancel()
            accepted += self.submit(batch, owned=owned, if_missing=if_missing)
        return accepted

    # -- inside the pool ------------------------------------------------------------------------

    def _run_batch(
        self, batch: FolderFiles, base: Path, owned: Owned, if_missing: frozenset[str], inline: bool = False
    ) -> None:
        written: list[OutputFile] = []  # files that got their new bytes, reported with the batch
        cursor = [0]  # files[:cursor[0]] have their outcome (for the crash path)
        try:
            self._write_batch(batch, base, owned, if_missing, written, cursor, inline)
        except BaseException as exc:  # a bug must not leave files unreported or the run hanging
            with self._lock:
                if self._unexpected is None:
                    self._unexpected = exc
            self._stop.set()
            self._skip_all(batch.files[cursor[0] :])
        finally:
            self._batch_done(batch, written)
            self._task_done()

    def _write_batch(
        self,
        batch: FolderFiles,
        base: Path,
        owned: Owned,
        if_missing: frozenset[str],
        written: list[OutputFile],
        cursor: list[int],
        inline: bool = False,
    ) -> None:
        """Write a batch: new bytes go to ``written``, every other outcome is reported at once.

        ``inline`` (the caller's thread, at a throttle limit of 1): the batch's write latencies
        go to the throttle together when the batch ends or a write fails
        (:meth:`AdaptiveConcurrency.complete_many`), not one call per file.
        """
        files = batch.files
        if self._stop.is_set():
            self._skip_all(files)
            cursor[0] = len(files)
            return
        # Folders are plain strings here: Path objects, built and compared per batch, took ~12% of
        # the writer process's GIL time in a cold run (a batch is one episode or one movie).
        root = str(base)
        prefix = root if root.endswith("/") else f"{root}/"  # per-file paths as strings, too
        folder = prefix + batch.folder if batch.folder else root
        try:
            self._ensure_folder(folder, root)
        except OSError as exc:
            self._classify(exc, base, folder)
            self._fail_all(files, exc)
            cursor[0] = len(files)
            return
        with self._lock:
            fresh = folder in self._fresh
            first_visit = not fresh and folder not in self._listed
            if first_visit:
                self._listed.add(folder)
                own_listing = self._listing[folder] = threading.Event()  # set once this batch listed it
                listing = None
            else:
                listing = self._listing.get(folder)
        present: set[str] | None = set() if fresh else None
        odd: frozenset[str] | set[str] = frozenset()  # entries that are not regular files
        # Names as a case-insensitive share (SMB, NTFS, APFS) compares them: there, a user's
        # "movie.nfo" is the file our "Movie.nfo" would replace, so it must be read and judged too.
        folded: frozenset[str] | set[str] = frozenset()
        if first_visit:
            try:
                present, odd, folded = self._list_and_sweep(Path(folder))
            except OSError as exc:
                self._classify(exc, base, folder)
                self._fail_all(files, exc)
                cursor[0] = len(files)
                return
            finally:
                with self._lock:
                    del self._listing[folder]
                own_listing.set()
        elif listing is not None:
            listing.wait()  # another batch is sweeping this folder: never write a temp file beside it
        throttle = self.throttle
        clock = self._clock
        stop = self._stop
        write_atomic = self._fs.write_atomic
        fsync, file_mode, gid = self._fsync, self._file_mode, self._gid
        name_at = len(batch.folder) + 1 if batch.folder else 0  # check_batch: files sit directly inside
        holding = False  # a throttle slot kept from this batch's last write (AdaptiveConcurrency.complete)
        unobserved: list[float] = []  # inline: latencies of this batch's writes not yet observed
        try:
            for i, f in enumerate(files):
                cursor[0] = i
                # present is None when another batch listed this folder: a file may or may not exist.
                name = f.relpath[name_at:]
                exists = present is None or name in present or (bool(folded) and name.casefold() in folded)
                if exists and present is not None and f.relpath in if_missing:
                    self._report(WriteResult(f.relpath, f.kind, True, None, adopted=True, file=f))
                    continue
                if stop.is_set():
                    self._skip_all(files[i:])
                    cursor[0] = len(files)
                    return
                if not holding:
                    throttle.acquire()
                    holding = True
                    if stop.is_set():
                        self._skip_all(files[i:])
                        cursor[0] = len(files)
                        return
                error: OSError | None = None
                verdict: str | None = None  # None: write; "same": adopted; otherwise why it is kept
                started = clock()
                try:
                    target = prefix + f.relpath
                    if exists:
                        verdict = self._verdict(target, f, owned.get(f.relpath), name in odd)
                    if verdict is None:
                        write_atomic(target, f.data, fsync=fsync, file_mode=file_mode, gid=gid)
                except OSError as exc:
                    error = exc
                finally:
                    congested = error is not None and error.errno not in PATH_ERRNOS
                    if not inline:
                        holding = throttle.complete(clock() - started, ok=not congested)
                    else:
                        unobserved.append(clock() - started)
                        if error is not None:  # the throttle hears of a failure at once
                            holding = throttle.complete_many(unobserved, last_ok=not congested)
                            unobserved = []
                if error is not None:
                    self._classify(error, base, folder)
                    self._report(WriteResult(f.relpath, f.kind, False, error, file=f))
                    continue
                if self._consecutive_errors:  # read without the lock: only a streak needs it
                    with self._lock:
                        self._consecutive_errors = 0
                if verdict is None:
                    written.append(f)
                elif verdict == "same":
                    self._report(WriteResult(f.relpath, f.kind, True, None, adopted=True, file=f))
                else:
                    self._report(WriteResult(f.relpath, f.kind, False, None, kept=verdict, file=f))
            cursor[0] = len(files)
        finally:
            if unobserved:
                holding = throttle.complete_many(unobserved)
            if holding:
                throttle.release(None)

    def _list_and_sweep(self, folder: Path) -> tuple[set[str], set[str], set[str]]:
        """Names in a pre-existing folder (one listing), those that are not regular files
        (symlinks, folders: never ours), and every name case-folded; removes the temp files found
        there.

        Every temp file found is stale, whatever its mtime: the run lock keeps other runs out of
        this root, and no batch of this run writes into the folder until its first listing is
        done (see ``_listing``). So a run that starts right after a crash sweeps that crash's temp
        files (an mtime test would keep those, and is at the mercy of the NAS's clock). A temp
        file that cannot be removed is left for a later run; it never fails the batch.
        """
        names: set[str] = set()
        odd: set[str] = set()
        folded: set[str] = set()
        for entry in self._fs.scandir(folder):
            if entry.is_file and is_temp_name(entry.name):
                try:
                    self._fs.unlink(entry.path)
                except OSError:
                    continue
                self.temps_swept += 1
                continue
            names.add(entry.name)
            folded.add(entry.name.casefold())
            if not entry.is_file:
                odd.add(entry.name)
        return names, odd, folded

    def _verdict(self, target: str, f: OutputFile, hashes: Sequence[str] | None, odd: bool) -> str | None:
        """What to do with a file that may already stand at ``target``: None (write), ``"same"``
        (adopt: it holds our new bytes), or why it is kept (``"foreign"``, ``"edited"``).

        Ownership is decided by bytes we can prove we wrote, never by the path alone: a share that
        also holds the user's files may have one exactly where ours would go. A read that fails for
        another reason than "nothing there" raises: a file we cannot read is not overwritten.
        """
        if odd:  # a symlink or a folder the user put there: never ours
            current = None
        else:
            try:
                current = self._fs.read_bytes(target, OWNERSHIP_READ_LIMIT)
            except (FileNotFoundError, NotADirectoryError):
                return None
            if current == f.data:
                return "same"
        if hashes:
            if current is not None and content_hash(current) in hashes:
                return None
            return None if self._overwrite_edited else "edited"
        return None if self._take_over_foreign else "foreign"

    def _ensure_folder(self, folder: str, root: str) -> None:
        if folder == root:
            return  # the root itself is checked (never created) by output.marker
        with self._lock:
            if folder in self._dirs:
                return
        created = self._fs.makedirs(folder, 0o777, within=root)
        for path in created:
            if self._dir_mode is not None:
                self._fs.chmod(path, self._dir_mode)
            if self._gid is not None:
                self._fs.chown(path, -1, self._gid)
        with self._lock:
            self.folders_created += len(created)
            self._fresh.update(created)
            current = folder
            while current != root and current not in self._dirs:
                self._dirs.add(current)
                current = posixpath.dirname(current)

    def _classify(self, exc: OSError, base: Path, folder: str) -> None:
        """Decide whether ``exc`` ends the run; forget a folder that vanished under us."""
        code = exc.errno
        if code in FATAL_ERRNOS:
            self._set_fatal(exc, f"the share refuses writes: {exc.strerror or exc} ({base})")
            return
        if code in MISSING_ERRNOS:
            with self._lock:
                self._dirs.discard(folder)  # someone removed it: the next batch recreates it
        if code in ROOT_PROBE_ERRNOS:
            try:
                root_ok = self._fs.is_dir(base)
            except OSError as probe:
                self._set_fatal(exc, f"output root {base} is unreachable ({probe.strerror or probe})")
                return
            if not root_ok:
                self._set_fatal(exc, f"output root {base} vanished (an unmounted share?)")
                return
        if code not in PATH_ERRNOS:
            with self._lock:
                self._consecutive_errors += 1
                streak = self._consecutive_errors
            if streak >= self._max_consecutive_errors:
                self._set_fatal(exc, f"{streak} write errors in a row under {base}, last: {exc}")

    def _set_fatal(self, exc: OSError, reason: str) -> None:
        with self._lock:
            if self.fatal_error is None:
                self.fatal_error = exc
                self.fatal_reason = reason
        self._stop.set()

    def _skip_all(self, files: Iterable[OutputFile]) -> None:
        for f in files:
            self._report(WriteResult(f.relpath, f.kind, False, None, skipped=True, file=f))

    def _fail_all(self, files: Iterable[OutputFile], error: OSError) -> None:
        for f in files:
            self._report(WriteResult(f.relpath, f.kind, False, error, file=f))

    def _report(self, result: WriteResult) -> None:
        """One file that did not simply get its new bytes: adopted, kept, failed or skipped."""
        with self._lock:
            if result.adopted:
                self.adopted += 1
            elif result.kept:
                self.kept += 1
            elif result.skipped:
                self.skipped += 1
            else:
                self.failed += 1
        if self._on_result is not None:
            self._call(self._on_result, result)

    def _batch_done(self, batch: FolderFiles, written: list[OutputFile]) -> None:
        """Report the files of ``batch`` that got their new bytes: to ``on_batch`` as one list,
        else one ``on_result`` each. Called once per submitted batch, after its other results."""
        if written:
            with self._lock:
                self.written += len(written)
        if self._on_batch is not None:
            self._call(self._on_batch, batch, written)
        elif self._on_result is not None:
            for f in written:
                self._call(self._on_result, WriteResult(f.relpath, f.kind, True, None, file=f))

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except BaseException as exc:  # results are no longer recorded: writing on would be blind
            with self._lock:
                if self._unexpected is None:
                    self._unexpected = exc
            self._stop.set()

    def _task_done(self) -> None:
        self._slots.release()
        with self._idle:
            self._outstanding -= 1
            if self._outstanding <= 1:  # idle, or only a submit waiting to write inline
                self._idle.notify_all()


class _RecentFolders:
    """A set of folders that forgets the least recently used beyond ``size`` entries.

    The writer's folder caches (exists / created this run / listed this run) only need to outlive
    the batches in flight, at most ``2 x max_workers``: a run sends each folder once, so a
    forgotten folder is almost never asked about again, and if it is, the cost is one more
    ``mkdir`` or listing round trip, never a wrong result. Unbounded, they held a Path object per
    folder of the library (~1 KB each: ~1 GB for a million folders). Keys are strings. Callers
    hold the writer's lock.
    """

    __slots__ = ("_items", "_size")

    def __init__(self, size: int):
        self._items: OrderedDict[str, None] = OrderedDict()
        self._size = max(1, size)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, path: str) -> bool:
        if path in self._items:
            self._items.move_to_end(path)
            return True
        return False

    def add(self, path: str) -> None:
        self._items[path] = None
        self._items.move_to_end(path)
        if len(self._items) > self._size:
            self._items.popitem(last=False)

    def update(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.add(path)

    def discard(self, path: str) -> None:
        self._items.pop(path, None)


def check_batch(batch: FolderFiles) -> None:
    """Refuse paths that could leave the root or break one-folder-per-task dispatch."""
    folder = batch.folder
    prefix = ""
    if folder:
        _check_relpath(folder)
        prefix = folder + "/"
    start = len(prefix)
    # The folder is safe, so each file only needs a safe name directly inside it: a few string
    # tests per file rather than splitting the whole path again (every file of a run passes here).
    for f in batch.files:
        relpath = f.relpath
        name = relpath[start:]
        if not relpath.startswith(prefix) or "/" in name:
            raise ValueError(f"{relpath!r} is not directly inside the batch folder {folder!r}")
        if name in ("", ".", "..") or "\\" in name or "\x00" in name:
            raise ValueError(f"unsafe relative path {relpath!r}")


def _check_relpath(relpath: str) -> None:
    parts = relpath.split("/")
    if (
        relpath.startswith("/")
        or "\\" in relpath
        or "\x00" in relpath
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(f"unsafe relative path {relpath!r}")
