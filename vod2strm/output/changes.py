"""What each run changed, for the media servers: an append-only log of changed folders.

Generate and cleanup append one line per library folder whose files they wrote or removed (not
per file: a cold run of ~1M episodes writes ~160,000 folders), streamed to
``<state_dir>/changes-<digest>.jsonl`` as they happen, so a run never holds its changes in memory
and a run that breaks off still leaves what it changed. The media-server notifier
(:mod:`vod2strm.jobs.notify`) reads the log from a cursor per server, kept in
``<state_dir>/notify-<digest>.json``: a server that could not be told keeps its cursor, and the
next run (or ``vod2strm notify``) sends it the same changes again. Both files live in the local
state folder, never on the share, next to the manifest whose digest they share.

Lines (JSON, one object each):

- ``{"run": "generate", "at": 1700000000.0}``: a run's first change; what follows is that run's.
- ``{"r": "main", "f": "Movies/Film (2001)", "t": "c"}``: a folder of root ``r`` (``main`` or
  ``adult``) that got new files (``c``: files vod2strm had not written there before), only new
  bytes in files it had written (``m``), or lost files (``d``); ``"n": 1`` when an NFO that was
  already there was rewritten (a server that does not re-read NFOs by itself, Kodi, is asked to).
- ``{"o": 1}`` (``{"o": 1, "t": "d"}`` for removals): the run changed more folders than
  :data:`RUN_DETAIL_MAX` and stopped listing them; the servers get a full scan instead.

Bounded: a run lists at most :data:`RUN_DETAIL_MAX` folders; the log starts afresh at the first
change of a run once every server has read all of it, and once it outgrows :data:`MAX_LOG_BYTES`
(servers that had not read it all are then owed a full scan, ``"full"`` in their cursor). Nothing
is written by a run that changed nothing, by a dry run, or when no media server is configured.

Concurrency: a run appends under its root's run lock; readers (the notifier) read only complete
lines up to the end they saw, and move their cursor under ``notify-<digest>.lock`` only while
the log's generation is the one they read (starting afresh replaces the file and bumps the
generation, so a reader never applies an old offset to a new file).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import filelock

from vod2strm.output.manifest import manifest_path

if TYPE_CHECKING:
    from vod2strm.conf import Settings

log = logging.getLogger(__name__)

CREATED, MODIFIED, DELETED = "created", "modified", "deleted"
_CODES = {CREATED: "c", MODIFIED: "m", DELETED: "d"}
_KINDS = {code: kind for kind, code in _CODES.items()}

#: Folders one run lists; beyond, one overflow line stands for the rest (the servers then get a
#: full scan, which a few thousand changed folders call for anyway).
RUN_DETAIL_MAX = 20_000
#: A log larger than this starts afresh at the next run that changes something.
MAX_LOG_BYTES = 64 * 1024 * 1024
#: Lines buffered before they are flushed (a reader sees complete lines only).
_FLUSH_EVERY = 64
#: How long a run waits for the cursor file's lock before it appends without tidying the log.
_LOCK_WAIT = 5.0


@dataclass(frozen=True, slots=True)
class FolderChange:
    root: str  # "main" | "adult"
    folder: str  # POSIX path relative to the root, e.g. "TV Shows/Show (2010)/Season 01"
    kind: str  # CREATED (new files in it) | MODIFIED (only rewritten files) | DELETED (files removed)
    nfo: bool = False  # an NFO already there was rewritten: Kodi is asked to re-read it


@dataclass
class Pending:
    """The changes a server has not been told about yet, read from its cursor to the log's end.

    ``changes`` lists each folder once (in the order first seen, kinds merged) while there are at
    most ``detail_limit`` of them; beyond that, or after an overflow line or a log that started
    afresh under the server, it is None and the server is owed a full scan.
    """

    start: int
    end: int
    generation: int
    changes: list[FolderChange] | None = field(default_factory=list)
    records: int = 0  # folder lines read (a folder changed twice counts twice)
    overflow: bool = False
    deleted: bool = False  # something was removed (Kodi then cleans its library)
    deleted_sections: set[tuple[str, str]] = field(default_factory=set)  # (root, section folder)
    #: Folders with a rewritten NFO, when ``changes`` is None (at most ``nfo_limit``).
    nfo_modified: list[FolderChange] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.changes is None

    @property
    def empty(self) -> bool:
        return not self.records and not self.overflow

    @property
    def folders(self) -> int:
        """Changed folders: distinct ones when listed, else the lines read."""
        return len(self.changes) if self.changes is not None else max(self.records, 1)


def _merge(old: FolderChange, new: FolderChange) -> FolderChange:
    """One folder changed twice: what the server should hear about it now (new files since it
    was last told call for a scan, a rewritten NFO for a refresh, whatever came in between)."""
    if new.kind == DELETED:
        return FolderChange(new.root, new.folder, DELETED)
    nfo = new.nfo or (old.nfo and old.kind != DELETED)
    kind = CREATED if CREATED in (old.kind, new.kind) or old.kind == DELETED else MODIFIED
    return FolderChange(new.root, new.folder, kind, nfo)


class ChangeLog:
    """The change log and the servers' cursors of one output root, in its state folder."""

    def __init__(self, state_dir: Path, output_root: Path):
        stem = manifest_path(Path(state_dir), Path(output_root)).stem.removeprefix("manifest-")
        self.path = Path(state_dir) / f"changes-{stem}.jsonl"
        self.state_path = Path(state_dir) / f"notify-{stem}.json"
        self.lock_path = Path(state_dir) / f"notify-{stem}.lock"

    @classmethod
    def of(cls, settings: Settings) -> ChangeLog:
        return cls(settings.state_dir, settings.output_root)

    # -- the cursor file --------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, timeout: float = _LOCK_WAIT) -> Iterator[bool]:
        """Hold the cursor file's lock for the block; yields False when it could not be had."""
        lock = filelock.FileLock(str(self.lock_path), timeout=timeout)
        try:
            lock.acquire()
        except (filelock.Timeout, OSError):
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    def read_state(self) -> dict[str, Any]:
        """``{"generation", "servers": {name: {"offset", "full", "sent_from", "last"}}}``: per server,
        the offset it was told up to, whether it is owed a full scan, where the changes it was last
        told about began (what ``notify`` sends again when nothing is pending), and how that went."""
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        servers = data.get("servers")
        return {
            "generation": int(data.get("generation") or 0),
            "servers": {k: v for k, v in servers.items() if isinstance(v, dict)}
            if isinstance(servers, dict)
            else {},
        }

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_name(f".{self.state_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.state_path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def advance(self, server: str, generation: int, start: int, end: int, last: dict[str, Any]) -> bool:
        """Move ``server``'s cursor to ``end``: it was told about ``start`` to ``end``, and owes no
        full scan any more; False when the log started afresh since it was read (no move)."""
        with self.locked() as held:
            if not held:
                return False
            state = self.read_state()
            if state["generation"] != generation:
                return False
            cursor = state["servers"].setdefault(server, {"offset": 0})
            cursor["offset"] = max(int(cursor.get("offset") or 0), end)
            cursor["sent_from"] = start
            cursor["full"] = False
            cursor["last"] = last
            self.write_state(state)
            return True

    def note(self, server: str, last: dict[str, Any]) -> None:
        """Record how the last attempt to tell ``server`` went, leaving its cursor where it is."""
        with self.locked() as held:
            if not held:
                return
            state = self.read_state()
            if server in state["servers"]:
                state["servers"][server]["last"] = last
                self.write_state(state)

    # -- reading -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[tuple[dict[str, Any], BinaryIO | None]]:
        """The cursors and an open handle on the log, taken together under the lock: a log that
        starts afresh meanwhile is a new file, and this handle keeps reading the one the cursors
        belong to (``None``: no log yet)."""
        with self.locked() as held:
            if not held:
                raise OSError(f"{self.lock_path} is held by another process")
            state = self.read_state()
            try:
                handle: BinaryIO | None = self.path.open("rb")
            except FileNotFoundError:
                handle = None
        try:
            yield state, handle
        finally:
            if handle is not None:
                handle.close()

    @staticmethod
    def read(
        handle: BinaryIO | None,
        start: int,
        *,
        generation: int,
        detail_limit: int,
        nfo_limit: int,
        full: bool = False,
    ) -> Pending:
        """The changes from byte ``start`` to the end of the log's complete lines, in one pass.

        Memory stays bounded whatever the log holds: at most ``detail_limit`` folders are kept
        (then only counts, the sections with removals, and ``nfo_limit`` NFO-modified folders).
        """
        pending = Pending(start, start, generation, overflow=full)
        if full:
            pending.changes = None
        by_folder: dict[tuple[str, str], FolderChange] | None = None if full else {}
        nfo_keys: set[tuple[str, str]] = set()
        if handle is None:
            return pending
        handle.seek(start)
        offset = start
        for raw in handle:
            if not raw.endswith(b"\n"):
                break  # a line still being written: the next reader gets it
            offset += len(raw)
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict) or "run" in line:
                continue
            if line.get("o"):
                pending.overflow = True
                if line.get("t") == "d":
                    pending.deleted = True
                if by_folder is not None:
                    _overflowed(pending, by_folder, nfo_limit, nfo_keys)
                    by_folder = None
                continue
            change = _change(line)
            if change is None:
                continue
            pending.records += 1
            if change.kind == DELETED:
                pending.deleted = True
                pending.deleted_sections.add((change.root, change.folder.split("/", 1)[0]))
            if by_folder is not None:
                key = (change.root, change.folder)
                old = by_folder.get(key)
                by_folder[key] = change if old is None else _merge(old, change)
                if len(by_folder) > detail_limit:
                    _overflowed(pending, by_folder, nfo_limit, nfo_keys)
                    by_folder = None
            elif change.kind != DELETED and change.nfo and len(pending.nfo_modified) < nfo_limit:
                key = (change.root, change.folder)
                if key not in nfo_keys:
                    nfo_keys.add(key)
                    pending.nfo_modified.append(change)
        pending.end = offset
        if by_folder is not None:
            pending.changes = list(by_folder.values())
        return pending

    # -- writing -------------------------------------------------------------------------------------

    def start_run(self, servers: Sequence[str]) -> None:
        """At a run's first change (under the run lock): give new servers a cursor, and start the
        log afresh when every server read all of it (or it grew too large). Without the cursor
        file's lock, appending is still safe; this waits for it a moment."""
        with self.locked() as held:
            if not held:
                return
            state = self.read_state()
            size = self.size()
            cursors = {name: state["servers"].get(name) or {"offset": size} for name in servers}
            lagging = [name for name, c in cursors.items() if int(c.get("offset") or 0) < size]
            if size and (not lagging or size > MAX_LOG_BYTES):
                for name in lagging:  # only when too large: they are owed a full scan instead
                    cursors[name]["full"] = True
                    log.warning(
                        "the change log outgrew %d MB; %s will be asked for a full scan",
                        MAX_LOG_BYTES >> 20,
                        name,
                    )
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_bytes(b"")
                os.replace(tmp, self.path)
                state["generation"] += 1
                for cursor in cursors.values():
                    cursor["offset"] = 0
                    cursor.pop("sent_from", None)  # what they were told is gone with the old log
            state["servers"] = cursors
            self.write_state(state)


def _overflowed(
    pending: Pending,
    by_folder: dict[tuple[str, str], FolderChange],
    nfo_limit: int,
    nfo_keys: set[tuple[str, str]],
) -> None:
    """Drop the folder list (a full scan is owed), keeping the NFO-modified folders."""
    for change in by_folder.values():
        if change.kind != DELETED and change.nfo and len(pending.nfo_modified) < nfo_limit:
            nfo_keys.add((change.root, change.folder))
            pending.nfo_modified.append(change)
    pending.changes = None


def _change(line: dict[str, Any]) -> FolderChange | None:
    root, folder, kind = line.get("r"), line.get("f"), _KINDS.get(str(line.get("t")))
    if not isinstance(root, str) or not isinstance(folder, str) or kind is None or not folder:
        return None
    return FolderChange(root, folder, kind, bool(line.get("n")))


class Recorder:
    """Appends one run's changed folders to the log; thread-safe, opened at the first change.

    Never fails the run: a state disk that refuses the log is one warning, and the run goes on
    unrecorded (the servers then learn of it at their next full scan).
    """

    #: Whether anything is recorded (the writer's results are inspected for it only then).
    active = True

    def __init__(self, changes: ChangeLog, job: str, servers: Sequence[str]):
        self.changes = changes
        self.job = job
        self.servers = tuple(servers)
        self.count = 0  # folder lines written
        self._file: Any = None
        self._lock = threading.Lock()
        self._last: tuple[str, str, str] | None = None
        self._last_nfo = False
        self._overflowed: set[str] = set()
        self._unflushed = 0
        self._failed = False

    def record(self, root: str, folder: str, kind: str, nfo: bool = False) -> None:
        with self._lock:
            key = (root, folder, kind)
            if self._failed or (key == self._last and (self._last_nfo or not nfo)):
                return  # the results of one folder come together: one line says it
            self._last_nfo = nfo or (key == self._last and self._last_nfo)
            self._last = key
            try:
                if self._file is None:
                    self._open()
                if self.count >= RUN_DETAIL_MAX:
                    marker = "d" if kind == DELETED else "w"
                    if marker not in self._overflowed:
                        self._overflowed.add(marker)
                        self._write({"o": 1, "t": marker})
                    return
                line: dict[str, Any] = {"r": root, "f": folder, "t": _CODES[kind]}
                if nfo:
                    line["n"] = 1
                self._write(line)
                self.count += 1
            except OSError as exc:
                self._failed = True
                log.warning("cannot record changes for the media servers in %s: %s", self.changes.path, exc)
                self._close_quietly()

    def _open(self) -> None:
        self.changes.path.parent.mkdir(parents=True, exist_ok=True)
        self.changes.start_run(self.servers)
        self._file = self.changes.path.open("ab")
        self._write({"run": self.job, "at": round(time.time(), 3)})

    def _write(self, line: dict[str, Any]) -> None:
        self._file.write(json.dumps(line, separators=(",", ":")).encode("ascii") + b"\n")
        self._unflushed += 1
        if self._unflushed >= _FLUSH_EVERY:
            self._file.flush()
            self._unflushed = 0

    def close(self) -> None:
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.flush()
            except OSError as exc:
                log.warning("cannot record changes for the media servers in %s: %s", self.changes.path, exc)
            self._close_quietly()

    def _close_quietly(self) -> None:
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
        self._file = None


class NullRecorder(Recorder):
    """Records nothing: a dry run, or no media server to tell."""

    active = False

    def __init__(self) -> None:
        super().__init__(ChangeLog(Path("/nonexistent"), Path("/nonexistent")), "", ())

    def record(self, root: str, folder: str, kind: str, nfo: bool = False) -> None:
        return None

    def close(self) -> None:
        return None


def recorder(settings: Settings, job: str, *, dry_run: bool = False) -> Recorder:
    """The recorder of one run: a real one when a media server is configured and it writes."""
    servers = settings.media_servers()
    if dry_run or not servers:
        return NullRecorder()
    return Recorder(ChangeLog.of(settings), job, servers)
