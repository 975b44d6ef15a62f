"""The manifest: what vod2strm wrote, so reruns skip unchanged work and cleanup knows what is ours.

Stored as SQLite (standard library) in the *local* state folder — SQLite locking over SMB/NFS is
unreliable, and the share may vanish — one database per output root. Dispatcharr gives plugins no
tables, so this is also the only design that works in both homes.

Tables:
- ``runs``: one row per run; per-section status (``complete`` only when the whole section was
  processed without cancel or failure). Cleanup trusts only complete sections.
- ``items``: per catalog item key: input fingerprint, the run that last rendered it
  (``render_run``), the last run that saw it in the catalog (``seen_run``), its top folder (so a
  skipped item still claims its name), its file count, and the naming settings its names were
  made under (``naming``: ``library.items.naming_fingerprint``; NULL when not known, as for items
  recorded before it was kept): a renamed item keeps its names under the same ones.
- ``files``: per path: content hash, owning item, kind, and the render that produced it. ``hash`` is
  the bytes we last put there (NULL: none proven ours); ``pending`` lists other hashes the file may
  hold while a write-ahead mark is open (``-``: it may be gone), so ownership survives a crash in
  the middle of a rewrite or a delete; ``kept`` says why a file at the path is not ours to touch
  (``foreign``: never written by us; ``edited``: written by us and changed since).

A file is *ours* only when its bytes on disk hash to ``hash`` or to one of ``pending``: generate
replaces, and cleanup deletes, nothing else.

A file is *live* when its item was seen by the latest complete run of its section and the file was
produced by the item's latest render (``files.render_run = items.render_run``); everything else is
an orphan cleanup may remove. Item records are committed in groups (see ``record_item``) in WAL
mode: a crash loses at most the last group, and the next run re-adopts those files by content
without rewriting them.

All methods take an internal lock, so writer threads may record results directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vod2strm.errors import RefusedError, StateError

SCHEMA_VERSION = 2
_BATCH = 500  # SQLite's default variable limit is 32766; stay far below it
#: Rendered items are committed in groups (see :meth:`Manifest.record_item`): one transaction per
#: this many rows or this many seconds, whichever comes first. A commit per item cost more than
#: the rows themselves (about a third of the writer threads' time in a cold run, bench/).
_GROUP_ROWS = 2000
_GROUP_SECONDS = 1.0
#: Most rows one INSERT statement carries (10 columns each: 2,560 variables, SQLite allows 32,766).
_ROWS_PER_STATEMENT = 256
#: Pages of 4 KiB the write-ahead log grows to before it is copied into the database (SQLite's
#: default is 1,000; see Manifest.open).
_WAL_CHECKPOINT_PAGES = 10_000

#: Part of the schema, and built again after a first run that deferred it (Manifest.defer_item_index).
_ITEM_INDEX = "CREATE INDEX IF NOT EXISTS files_item ON files (item_key)"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    finished REAL,
    kind TEXT NOT NULL,
    selected INTEGER NOT NULL DEFAULT 0,
    sections TEXT NOT NULL DEFAULT '{}',
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    section TEXT NOT NULL,
    fingerprint TEXT,
    render_run INTEGER NOT NULL,
    seen_run INTEGER NOT NULL,
    folder TEXT NOT NULL,
    root TEXT NOT NULL,
    nfiles INTEGER NOT NULL,
    naming TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    hash TEXT,
    item_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    section TEXT NOT NULL,
    render_run INTEGER NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    pending TEXT,
    kept TEXT,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
"""
_SCHEMA += _ITEM_INDEX + ";\n"


#: Upserts as (head, one row's placeholders, conflict clause): a statement carries many rows
#: (see _upsert). A row seen twice in one statement updates itself, as two statements would.
_UPSERT_ITEM = (
    "INSERT INTO items (key, section, fingerprint, render_run, seen_run, folder, root, nfiles, naming)"
    " VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?)",
    " ON CONFLICT (key) DO UPDATE SET section=excluded.section,"
    " fingerprint=excluded.fingerprint, render_run=excluded.render_run,"
    " seen_run=excluded.seen_run, folder=excluded.folder, root=excluded.root, nfiles=excluded.nfiles,"
    " naming=excluded.naming",
)
_UPSERT_FILE = (
    "INSERT INTO files (root, path, hash, item_key, kind, section, render_run, size, pending, kept) VALUES ",
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    " ON CONFLICT (root, path) DO UPDATE SET hash=excluded.hash,"
    " item_key=excluded.item_key, kind=excluded.kind, section=excluded.section,"
    " render_run=excluded.render_run, size=excluded.size, pending=excluded.pending, kept=excluded.kept",
)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def manifest_path(state_dir: Path, output_root: Path) -> Path:
    """One manifest per output root, named by the root so two roots never share one."""
    digest = hashlib.sha1(str(output_root).encode()).hexdigest()[:12]
    return state_dir / f"manifest-{digest}.sqlite3"


@dataclass(frozen=True, slots=True)
class ItemState:
    fingerprint: str | None
    render_run: int
    folder: str
    nfiles: int
    root: str = "main"
    naming: str | None = None  # see the items table


@dataclass(slots=True)  # not frozen, for speed: see OutputFile in library/items.py
class FileRecord:
    root: str
    path: str
    hash: str | None
    item_key: str
    kind: str
    section: str
    size: int
    pending: str | None = None
    kept: str | None = None


#: Kept-file reasons (``files.kept``).
FOREIGN = "foreign"
EDITED = "edited"
#: In ``files.pending``: a delete was started; the file may be gone.
_MAYBE_GONE = "-"


def owned_hashes(hash_: str | None, pending: str | None) -> tuple[str, ...]:
    """Every hash of bytes vod2strm may have left at a path (empty: nothing there is ours)."""
    found = [] if hash_ is None else [hash_]
    if pending:
        found += [h for h in pending.split() if h != _MAYBE_GONE and h != hash_]
    return tuple(found)


@dataclass(frozen=True, slots=True)
class FileState:
    """What the manifest knows of one path, for the next render of its item."""

    hash: str | None
    pending: str | None
    kept: str | None

    @property
    def trusted(self) -> str | None:
        """The hash the file holds for certain (None while a write-ahead mark is open)."""
        return self.hash if self.pending is None else None

    def owned(self) -> tuple[str, ...]:
        return owned_hashes(self.hash, self.pending)


@dataclass(slots=True)  # not frozen, for speed: one per file of every item a run renders
class RecordedFile:
    """One file an item owns in the manifest, with what its next render needs to know of it."""

    root: str
    path: str
    kind: str
    render_run: int  # the item's latest render produced it when equal to the item's render_run
    state: FileState


@dataclass(frozen=True, slots=True)
class Orphan:
    root: str
    path: str
    hash: str | None
    kind: str
    section: str
    pending: str | None = None
    kept: str | None = None
    item_key: str = ""
    item_seen: bool = False  # its item is still in the catalog (the file went in a re-render)

    def owned(self) -> tuple[str, ...]:
        return owned_hashes(self.hash, self.pending)


class Manifest:
    """Open with :meth:`open`; close when the run ends."""

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.path = path
        self._db = _Connection(connection, path)
        self._lock = threading.RLock()
        # The open group: rows of record_item calls not yet written, and when its first came.
        self._group_items: list[tuple] = []
        self._group_files: list[tuple] = []
        self._group_started = 0.0
        self._item_index_deferred = False

    @classmethod
    def open(cls, state_dir: Path, output_root: Path) -> Manifest:
        """Open (or create) the manifest of ``output_root``; refuse (exit 5) one that is damaged.

        A new manifest is built under a temporary name and renamed into place once its schema is
        written, so a manifest file that exists is always one we completed: an empty file (a
        truncation, a failed restore) is damage, never "nothing written yet" — taken as empty it
        would make every file of the library look like someone else's.
        """
        path = manifest_path(state_dir, output_root)
        db = None
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                _create(path, output_root)
            elif path.stat().st_size == 0:
                raise sqlite3.DatabaseError("the file is empty: truncated?")
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # Copy the log into the database every ~40 MB rather than every 4 MB: a cold run's rows
            # land all over the path-ordered tree, and each checkpoint wrote the same hot pages
            # again. bench/manifest_replay.py: 5-14% less CPU.
            db.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_PAGES}")
            problems = db.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise sqlite3.DatabaseError(" ".join(" ".join(str(p[0]) for p in problems[:3]).split()))
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                used = "SELECT EXISTS (SELECT 1 FROM runs) OR EXISTS (SELECT 1 FROM files)"
                if db.execute(used).fetchone()[0]:
                    raise sqlite3.DatabaseError("it has no vod2strm header")
                # An empty store from an interrupted creation by an older version: finish it.
                db.execute(
                    "INSERT INTO meta VALUES ('schema', ?), ('root', ?)", (SCHEMA_VERSION, str(output_root))
                )
            elif int(row[0]) > SCHEMA_VERSION:
                db.close()
                raise RefusedError(f"manifest {path} was written by a newer vod2strm; upgrade first")
            else:
                _migrate(db, int(row[0]))
            _add_columns(db)
        except sqlite3.DatabaseError as exc:
            if db is not None:
                db.close()
            reason = " ".join(str(exc).split())[:200]
            raise RefusedError(
                f"manifest {path} is unreadable ({reason}); refusing to run, since an empty manifest "
                "would orphan the whole library. Restore it, or move it aside to rebuild from disk."
            ) from None
        except OSError as exc:
            from vod2strm.errors import ConfigError

            if db is not None:
                db.close()
            raise ConfigError("state_dir", f"cannot open the manifest in {state_dir}: {exc}") from None
        return cls(path, db)

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            try:
                self.commit()
                self.ensure_item_index()
            finally:
                self._db.close()

    def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        """Pass each SQL statement the manifest runs to ``callback`` (None stops), as sqlite3's
        ``Connection.set_trace_callback``: to count what a run costs the manifest in statements
        (a group of items is meant to take a few, whatever its rows)."""
        with self._lock:
            self._db.set_trace_callback(callback)

    def defer_item_index(self) -> None:
        """For a first run (no file recorded): build the files-by-item index once, at the end.

        Why: a first run records every file, and keeping this index up to date row by row was a
        quarter of the manifest's cost at 2.26M rows (``bench/manifest_replay.py --scale 10
        --defer-index``: 18.6-18.9 s of CPU against 14.2-14.5 s, the sorted build included). The
        index is built by :meth:`ensure_item_index` (the run calls it before it ends, and
        :meth:`close` does), before any query that needs it, and by the next :meth:`open` after
        a crash (the schema creates it when it is missing).
        """
        with self._lock:
            if not self.has_files():
                self._db.execute("DROP INDEX IF EXISTS files_item")
                self._item_index_deferred = True

    def ensure_item_index(self) -> None:
        """The files-by-item index, built now if :meth:`defer_item_index` left it out."""
        with self._lock:
            if not self._item_index_deferred:
                return
            self.commit()
            self._db.execute(_ITEM_INDEX)
            self._item_index_deferred = False

    def commit(self) -> None:
        """Write and commit the items :meth:`record_item` has grouped so far (nothing when none).

        The group is lost on an error, exactly as in a crash: an item row without its file rows
        would make cleanup take the item's live files for an older render's and delete them.
        """
        with self._lock:
            if not self._group_items:
                return
            items, files = self._group_items, self._group_files
            self._group_items, self._group_files = [], []
            try:
                self._db.execute("BEGIN IMMEDIATE")
                _upsert(self._db, _UPSERT_ITEM, items)
                _upsert(self._db, _UPSERT_FILE, files)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            self.commit()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, kind: str, *, selected: bool = False) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO runs (started, kind, selected) VALUES (?, ?, ?)",
                (time.time(), kind, int(selected)),
            )
            run_id = cur.lastrowid
            assert run_id is not None  # set by the INSERT
            return run_id

    def finish_run(self, run_id: int, sections: dict[str, str], summary: dict) -> None:
        with self._lock:
            self.commit()  # the run's item records are durable before the run says it finished
            self._db.execute(
                "UPDATE runs SET finished=?, sections=?, summary=? WHERE id=?",
                (time.time(), json.dumps(sections), json.dumps(summary), run_id),
            )

    def latest_complete_run(self, section: str) -> int | None:
        """The latest non-selected generate run whose ``section`` completed, if that run is also the
        latest one to have touched the section (a later failed or cancelled run blocks cleanup)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sections FROM runs WHERE kind='generate' AND selected=0 AND finished IS NOT NULL"
                " ORDER BY id DESC"
            )
            for run_id, sections in rows:
                status = json.loads(sections).get(section)
                if status is None:
                    continue
                return run_id if status == "complete" else None
        return None

    def recent_runs(self, limit: int = 5) -> list[dict]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, started, finished, kind, selected, sections, summary FROM runs"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            {
                "id": r[0],
                "started": r[1],
                "finished": r[2],
                "kind": r[3],
                "selected": bool(r[4]),
                "sections": json.loads(r[5]),
                "summary": json.loads(r[6]),
            }
            for r in rows
        ]

    # -- ownership of the roots ---------------------------------------------------------------

    def owner_id(self, *, create: bool = True, inherit: str | None = None) -> str | None:
        """This manifest's id in the markers of the roots it owns (see ``output/marker.py``).

        Random and kept in the manifest rather than derived from the state folder's path: it moves
        with the manifest when the folder is moved on purpose, and two state folders never share
        it, whatever their paths look like from different hosts or containers. Made on first need
        (a manifest from before owners existed gets one then): ``inherit`` when given (a root's
        marker says this very manifest file owned it before it was recreated), else a new one.
        ``create=False`` (dry runs, stats) answers None instead of writing.
        """
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='owner'").fetchone()
            if row is None and create:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('owner', ?)", (inherit or uuid.uuid4().hex,)
                )
                row = self._db.execute("SELECT value FROM meta WHERE key='owner'").fetchone()
            return None if row is None else str(row[0])

    # -- items and files ----------------------------------------------------------------------

    def has_files(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def item_states(self, keys: Sequence[str]) -> dict[str, ItemState]:
        found: dict[str, ItemState] = {}
        with self._lock:
            for batch in _batches(keys):
                marks = ",".join("?" * len(batch))
                for key, fp, render_run, folder, nfiles, root, naming in self._db.execute(
                    "SELECT key, fingerprint, render_run, folder, nfiles, root, naming FROM items"
                    f" WHERE key IN ({marks})",
                    batch,
                ):
                    found[key] = ItemState(fp, render_run, folder, nfiles, root, naming)
        return found

    def file_hashes(self, item_keys: Sequence[str]) -> dict[tuple[str, str], str | None]:
        """``(root, path) -> hash`` for every file the given items own."""
        return {ident: state.hash for ident, state in self.file_states(item_keys).items()}

    def file_states(
        self, item_keys: Sequence[str], *, by_item: dict[str, list[RecordedFile]] | None = None
    ) -> dict[tuple[str, str], FileState]:
        """``(root, path) -> FileState`` for every file the given items own.

        ``by_item``, when given, also gets each item's files (:class:`RecordedFile`), from the same
        query.
        """
        found: dict[tuple[str, str], FileState] = {}
        with self._lock:
            if self._item_index_deferred:
                if not self._any_item(item_keys):  # a first run: nothing recorded for them yet
                    return found
                self.ensure_item_index()
            for batch in _batches(item_keys):
                marks = ",".join("?" * len(batch))
                for root, path, digest, pending, kept, key, kind, render_run in self._db.execute(
                    "SELECT root, path, hash, pending, kept, item_key, kind, render_run FROM files"
                    f" WHERE item_key IN ({marks})",
                    batch,
                ):
                    found[(root, path)] = state = FileState(digest, pending, kept)
                    if by_item is not None:
                        by_item.setdefault(key, []).append(RecordedFile(root, path, kind, render_run, state))
        return found

    def path_states(self, paths: Sequence[tuple[str, str]]) -> dict[tuple[str, str], FileState]:
        """``(root, path) -> FileState`` of the given paths the manifest records, whichever item
        owns them."""
        by_root: dict[str, list[str]] = {}
        for root, path in paths:
            by_root.setdefault(root, []).append(path)
        found: dict[tuple[str, str], FileState] = {}
        with self._lock:
            for root, names in by_root.items():
                for batch in _batches(names):
                    marks = ",".join("?" * len(batch))
                    for path, digest, pending, kept in self._db.execute(
                        f"SELECT path, hash, pending, kept FROM files WHERE root = ? AND path IN ({marks})",
                        (root, *batch),
                    ):
                        found[(root, path)] = FileState(digest, pending, kept)
        return found

    def _any_item(self, keys: Sequence[str]) -> bool:
        """Whether any of ``keys`` is recorded (every recorded file's item is)."""
        for batch in _batches(keys):
            marks = ",".join("?" * len(batch))
            if self._db.execute(f"SELECT 1 FROM items WHERE key IN ({marks}) LIMIT 1", batch).fetchone():
                return True
        return False

    def iter_item_folders(self) -> Iterator[tuple[str, str]]:
        """Every item's ``(key, top folder)``, in bounded pages."""
        last = ""
        while True:
            with self._lock:
                page = self._db.execute(
                    "SELECT key, folder FROM items WHERE key > ? ORDER BY key LIMIT ?", (last, _BATCH)
                ).fetchall()
            if not page:
                return
            yield from page
            last = page[-1][0]

    def mark_seen(self, keys: Sequence[str], run_id: int, *, naming: str | None = None) -> None:
        """Items the run saw in the catalog. ``naming``: the run's naming settings, for items it
        skipped as unchanged (their fingerprint, which covers those settings, proves their names
        were made under them): it fills in a naming not known yet (recorded by an older vod2strm)."""
        with self._lock:
            for batch in _batches(keys):
                marks = ",".join("?" * len(batch))
                if naming is None:
                    self._db.execute(f"UPDATE items SET seen_run=? WHERE key IN ({marks})", (run_id, *batch))
                else:
                    self._db.execute(
                        f"UPDATE items SET seen_run=?, naming=COALESCE(naming, ?) WHERE key IN ({marks})",
                        (run_id, naming, *batch),
                    )

    def set_fingerprints(self, items: Sequence[tuple[str, str | None]]) -> None:
        """Record ``(key, fingerprint)`` pairs, after the work the items waited for (generate
        records a moved item without one until its old files are removed: jobs/generate.py).
        One transaction."""
        if not items:
            return
        with self.transaction():
            self._db.executemany(
                "UPDATE items SET fingerprint = ? WHERE key = ?", [(fp, key) for key, fp in items]
            )

    def record_item(
        self,
        key: str,
        *,
        section: str,
        fingerprint: str | None,
        run_id: int,
        folder: str,
        root: str,
        nfiles: int,
        files: Iterable[FileRecord],
        naming: str | None = None,
    ) -> None:
        """Record one rendered item and every file its render produced (written or not).

        ``fingerprint`` is None when one of its files failed: the next run renders it again.
        ``naming``: the naming settings its names were made under (see the items table).
        Items are kept and written in groups (``_GROUP_ROWS`` rows or ``_GROUP_SECONDS``, and by
        :meth:`commit`, :meth:`finish_run`, :meth:`close`), one transaction each, so a crash
        loses at most the last group, whose files the next run finds on disk with the same bytes
        and adopts without rewriting. Reads see an item once its group is committed.

        Why groups of many-row statements: this is called on the writer's results thread, beside
        the rendering thread, and SQLite releases the GIL for every statement. With a statement
        per file row, each one queued behind rendering for the GIL: a thread recording rows with
        ``executemany`` beside a busy Python thread had not finished 618,000 rows after 15
        minutes, where it takes 7.5 s alone (docs/performance.md).
        """
        rows = [
            (f.root, f.path, f.hash, f.item_key, f.kind, f.section, run_id, f.size, f.pending, f.kept)
            for f in files
        ]
        with self._lock:
            if not self._group_items:
                self._group_started = time.monotonic()
            self._group_items.append(
                (key, section, fingerprint, run_id, run_id, folder, root, nfiles, naming)
            )
            self._group_files += rows
            grouped = len(self._group_items) + len(self._group_files)
            if grouped >= _GROUP_ROWS or time.monotonic() - self._group_started >= _GROUP_SECONDS:
                self.commit()

    def iter_orphans(self, section: str, complete_run: int) -> Iterator[Orphan]:
        """Files of ``section`` the latest complete run no longer produced, streamed in path order.

        Read in keyset pages so memory stays bounded and deletions between pages are safe.
        """
        last = ("", "")
        while True:
            with self._lock:
                page = self._db.execute(
                    "SELECT f.root, f.path, f.hash, f.kind, f.section, f.pending, f.kept, f.item_key,"
                    " i.seen_run >= ? FROM files f"
                    " LEFT JOIN items i ON i.key = f.item_key"
                    " WHERE f.section = ? AND (f.root, f.path) > (?, ?)"
                    " AND (i.key IS NULL OR i.seen_run < ? OR f.render_run != i.render_run)"
                    " ORDER BY f.root, f.path LIMIT ?",
                    (complete_run, section, *last, complete_run, _BATCH),
                ).fetchall()
            if not page:
                return
            for root, path, digest, kind, sec, pending, kept, item_key, item_seen in page:
                yield Orphan(root, path, digest, kind, sec, pending, kept, item_key, bool(item_seen))
            last = (page[-1][0], page[-1][1])

    def count_orphans(self, section: str, complete_run: int) -> dict[str, int]:
        """Per root: the files of ``section`` that cleanup would delete if they still hold our bytes
        (orphans not already known to be someone else's)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT f.root, COUNT(*) FROM files f LEFT JOIN items i ON i.key = f.item_key"
                " WHERE f.section = ? AND f.kept IS NULL AND (f.hash IS NOT NULL OR f.pending IS NOT NULL)"
                " AND (i.key IS NULL OR i.seen_run < ? OR f.render_run != i.render_run)"
                " GROUP BY f.root",
                (section, complete_run),
            )
            return {root: n for root, n in rows}

    def live_paths(self, item_key: str, root: str) -> list[str]:
        """The paths under ``root`` that ``item_key``'s latest render produced."""
        with self._lock:
            self.ensure_item_index()
            rows = self._db.execute(
                "SELECT f.path FROM files f JOIN items i ON i.key = f.item_key"
                " WHERE f.item_key = ? AND f.root = ? AND f.render_run = i.render_run",
                (item_key, root),
            )
            return [path for (path,) in rows]

    def count_section_files(self, section: str) -> dict[str, int]:
        """Per root: the files of ``section`` the manifest records (the valve's denominator)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT root, COUNT(*) FROM files WHERE section = ? GROUP BY root", (section,)
            )
            return {root: n for root, n in rows}

    def count_seen_items(self, section: str, run_id: int) -> dict[str, int]:
        """Per root: the items of ``section`` that run ``run_id`` (or a later one) saw in the catalog."""
        with self._lock:
            rows = self._db.execute(
                "SELECT root, COUNT(*) FROM items WHERE section = ? AND seen_run >= ? GROUP BY root",
                (section, run_id),
            )
            return {root: n for root, n in rows}

    def mark_kept(self, paths: Sequence[tuple[str, str]], reason: str) -> None:
        """Record that the files at ``paths`` are not ours to touch (``FOREIGN`` or ``EDITED``)."""
        with self._lock:
            self._db.executemany(
                "UPDATE files SET kept = ? WHERE root = ? AND path = ?", [(reason, *p) for p in paths]
            )

    def render_kept_again(self, reasons: Sequence[str]) -> None:
        """Clear the fingerprint of every item holding a file kept for one of ``reasons``, so the
        run renders it and offers that file to the writer again (a setting now hands it over)."""
        marks = ",".join("?" * len(reasons))
        with self._lock:
            self._db.execute(
                "UPDATE items SET fingerprint = NULL WHERE key IN"
                f" (SELECT item_key FROM files WHERE kept IN ({marks}))",
                tuple(reasons),
            )

    def iter_kept_files(self) -> Iterator[tuple[str, str, str]]:
        """Every ``(root, path, reason)`` the manifest records as someone else's, in path order."""
        return self._iter_files("root, path, kept", "kept IS NOT NULL")

    def count_kept_files(self) -> dict[str, int]:
        """Kept files per reason."""
        with self._lock:
            rows = self._db.execute("SELECT kept, COUNT(*) FROM files WHERE kept IS NOT NULL GROUP BY kept")
            return {reason: n for reason, n in rows}

    def prune_items(self, section: str, complete_run: int) -> None:
        """Forget items gone from the catalog once none of their files is left."""
        with self._lock:
            self.ensure_item_index()
            self._db.execute(
                "DELETE FROM items WHERE section = ? AND seen_run < ?"
                " AND NOT EXISTS (SELECT 1 FROM files f WHERE f.item_key = items.key)",
                (section, complete_run),
            )

    def count_files(self, section: str | None = None) -> int:
        with self._lock:
            if section is None:
                return self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM files WHERE section=?", (section,)).fetchone()[0]

    def mark_rewriting(self, files: Sequence[tuple[str, tuple[str, str], str]]) -> None:
        """Before generate replaces files it recorded with new bytes: write-ahead for a crash.

        ``files``: ``(item key, (root, path), new hash)``. Until an item is recorded again, its files
        may hold old or new bytes; a crash in between must leave records that say so — the new
        hash joins ``pending`` (both are ours: the next run replaces either, and cleanup deletes
        either) and the item renders again (fingerprint NULL) — not old hashes alone beside new
        bytes, which would make our own file look edited by someone, or leave the new bytes for good
        if the catalog changed back before the next run. One transaction, committed before the
        caller writes.
        """
        keys = sorted({key for key, _, _ in files})
        with self.transaction():
            self._db.executemany("UPDATE items SET fingerprint = NULL WHERE key = ?", [(k,) for k in keys])
            self._db.executemany(
                "UPDATE files SET pending = TRIM(COALESCE(pending, '') || ' ' || ?)"
                " WHERE root = ? AND path = ?",
                [(digest, *ident) for _, ident, digest in files],
            )

    def mark_deleting(self, paths: Sequence[tuple[str, str]]) -> None:
        """Before cleanup deletes files: they may be gone, their items render again.

        ``paths``: ``(root, path)`` pairs. A crash between the delete and :meth:`forget_files`
        then leaves records that say "ours, maybe gone" (``-`` in ``pending``, the hash kept for
        ownership) instead of claiming bytes that may be gone: the next cleanup checks them again
        by content, and an item that comes back to the catalog is rendered and its files written
        again, instead of being skipped as unchanged while its files are missing. One transaction.
        """
        with self.transaction():
            self._db.executemany(
                "UPDATE items SET fingerprint = NULL"
                " WHERE key = (SELECT item_key FROM files WHERE root = ? AND path = ?)",
                paths,
            )
            self._db.executemany(
                f"UPDATE files SET pending = TRIM(COALESCE(pending, '') || ' {_MAYBE_GONE}')"
                " WHERE root = ? AND path = ?",
                paths,
            )

    def forget_files(self, paths: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM files WHERE root=? AND path=?", paths)

    def file_summary(self) -> dict[str, dict[str, int]]:
        """Files and bytes per kind."""
        with self._lock:
            rows = self._db.execute("SELECT kind, COUNT(*), COALESCE(SUM(size), 0) FROM files GROUP BY kind")
            return {kind: {"files": n, "bytes": size} for kind, n, size in rows}

    def iter_files_with_size(self) -> Iterator[tuple[str, str, int]]:
        """Every ``(root, path, size)`` in (root, path) byte order, in bounded pages."""
        return self._iter_files("root, path, size")

    def _iter_files(self, columns: str, where: str = "1") -> Iterator[Any]:
        """Rows of ``files`` (``columns`` start with root, path) in (root, path) byte order, read in
        keyset pages so memory stays bounded and the lock is held one page at a time."""
        last = ("", "")
        while True:
            with self._lock:
                page = self._db.execute(
                    f"SELECT {columns} FROM files WHERE ({where}) AND (root, path) > (?, ?)"
                    " ORDER BY root, path LIMIT ?",
                    (*last, _BATCH),
                ).fetchall()
            if not page:
                return
            yield from page
            last = (page[-1][0], page[-1][1])


#: The exact types a full, failing or read-only state disk raises; the other subclasses of
#: ``sqlite3.DatabaseError`` (``IntegrityError``, ``ProgrammingError``, ...) mean a bug.
_STATE_ERRORS = (sqlite3.OperationalError, sqlite3.DatabaseError)


class _Connection:
    """The manifest's SQLite connection, turning a failure of the state disk into one line for the user.

    Why here: the manifest is written from the run's thread and from the writer's results thread,
    and a full or failing state disk (``database or disk is full``, ``disk I/O error``, a folder
    made read-only) must end the run with a message that names the folder, not a traceback from
    whichever thread hit it first. Errors that mean a bug (``IntegrityError``,
    ``ProgrammingError``, ...) pass through unchanged.
    """

    __slots__ = ("_db", "_path")

    def __init__(self, db: sqlite3.Connection, path: Path):
        self._db = db
        self._path = path

    def execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        return self._call(self._db.execute, sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> sqlite3.Cursor:
        return self._call(self._db.executemany, sql, rows)

    def _call(self, method: Callable[[str, Any], sqlite3.Cursor], sql: str, args: Any) -> sqlite3.Cursor:
        try:
            return method(sql, args)
        except sqlite3.DatabaseError as exc:
            if type(exc) in _STATE_ERRORS:
                raise self._state_error(exc) from exc
            raise

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def set_trace_callback(self, callback: Callable[[str], object] | None) -> None:
        self._db.set_trace_callback(callback)

    def close(self) -> None:
        self._db.close()

    def _state_error(self, exc: sqlite3.DatabaseError) -> StateError:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        return StateError(
            f"manifest {self._path}: {reason}; free space in (or repair) {self._path.parent} and run "
            "again: the files already written are kept, and the next run adopts them unchanged"
        )


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a manifest of an older schema up to :data:`SCHEMA_VERSION`, in place and at once.

    Version 1 had no ``pending``/``kept`` columns: its hash NULL meant "ours, bytes unknown", which
    now reads "not proven ours", the safe side (such a file is never replaced or deleted unless its
    bytes equal what we would write).
    """
    if version >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(files)")}
        for column in ("pending", "kept"):
            if column not in columns:
                db.execute(f"ALTER TABLE files ADD COLUMN {column} TEXT")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


#: Columns added within a schema version: nullable, and named in no statement of an older
#: vod2strm, which therefore still opens the manifest (and leaves them as they are).
_ADDED_COLUMNS = (("items", "naming", "TEXT"),)


def _add_columns(db: sqlite3.Connection) -> None:
    """Add the :data:`_ADDED_COLUMNS` a manifest lacks, once (checked again under the write lock,
    so two processes opening one manifest do not both add a column)."""

    def missing() -> list[tuple[str, str, str]]:
        found: dict[str, set[str]] = {}
        for table, _, _ in _ADDED_COLUMNS:
            found.setdefault(table, {row[1] for row in db.execute(f"PRAGMA table_info({table})")})
        return [(t, c, kind) for t, c, kind in _ADDED_COLUMNS if c not in found[t]]

    if not missing():
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in missing():
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _create(path: Path, output_root: Path) -> None:
    """Write an empty manifest (schema and header) beside ``path``, then rename it into place."""
    tmp = path.with_name(path.name + ".new")
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO meta VALUES ('schema', ?), ('root', ?)", (SCHEMA_VERSION, str(output_root)))
    finally:
        db.close()
    os.replace(tmp, path)


def _upsert(db: _Connection, statement: tuple[str, str, str], rows: Sequence[tuple]) -> None:
    """Upsert ``rows`` in statements of up to ``_ROWS_PER_STATEMENT`` rows each.

    Widths are powers of two, so the connection's statement cache holds at most nine shapes
    per table.
    """
    start = 0
    while start < len(rows):
        width = min(_ROWS_PER_STATEMENT, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start : start + width]
        db.execute(_many_rows(statement, width), [value for row in chunk for value in row])
        start += width


@functools.cache
def _many_rows(statement: tuple[str, str, str], width: int) -> str:
    head, one_row, conflict = statement
    return head + ",".join([one_row] * width) + conflict


def _batches(values: Sequence[str]) -> Iterator[list[str]]:
    values = list(values)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
