"""The manifest: what vod2strm wrote, so reruns skip unchanged work and cleanup knows what is ours.

Stored as SQLite (standard library) in the *local* state folder — SQLite locking over SMB/NFS is
unreliable, and the share may vanish — one database per output root. Dispatcharr gives plugins no
tables, so this is also the only design that works in both homes.

Tables:
- ``runs``: one row per run; per-section status (``complete`` only when the whole section was
  processed without cancel or failure). Cleanup trusts only complete sections.
- ``items``: per catalog item key: input fingerprint, the run that last rendered it
  (``render_run``), the last run that saw it in the catalog (``seen_run``), its top folder (so a
  skipped item still claims its name) and its file count.
- ``files``: per written path: content hash, owning item, kind, and the render that produced it.

A file is *live* when its item was seen by the latest complete run of its section and the file was
produced by the item's latest render (``files.render_run = items.render_run``); everything else is
an orphan cleanup may remove. Writes are committed per chunk in WAL mode: a crash loses at most the
last chunk's records, and the next run re-adopts those files by content without rewriting them.

All methods take an internal lock, so writer threads may record results directly.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vod2strm.errors import RefusedError

SCHEMA_VERSION = 1
_BATCH = 500  # SQLite's default variable limit is 32766; stay far below it

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
    nfiles INTEGER NOT NULL
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
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_item ON files (item_key);
"""


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


@dataclass(frozen=True, slots=True)
class FileRecord:
    root: str
    path: str
    hash: str | None
    item_key: str
    kind: str
    section: str
    size: int


@dataclass(frozen=True, slots=True)
class Orphan:
    root: str
    path: str
    hash: str | None
    kind: str
    section: str


class Manifest:
    """Open with :meth:`open`; close when the run ends."""

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.path = path
        self._db = connection
        self._lock = threading.RLock()

    @classmethod
    def open(cls, state_dir: Path, output_root: Path) -> Manifest:
        path = manifest_path(state_dir, output_root)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            integrity = db.execute("PRAGMA quick_check").fetchone()[0]
            if integrity != "ok":
                raise sqlite3.DatabaseError(integrity)
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RefusedError(
                f"manifest {path} is unreadable ({exc}); refusing to run, since an empty manifest "
                "would orphan the whole library. Restore it, or move it aside to rebuild from disk."
            ) from None
        except OSError as exc:
            from vod2strm.errors import ConfigError

            raise ConfigError("state_dir", f"cannot open the manifest in {state_dir}: {exc}") from None
        manifest = cls(path, db)
        with manifest._lock:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta VALUES ('schema', ?), ('root', ?)", (SCHEMA_VERSION, str(output_root))
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise RefusedError(f"manifest {path} was written by a newer vod2strm; upgrade first")
        return manifest

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
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
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, sections: dict[str, str], summary: dict) -> None:
        with self._lock:
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

    # -- items and files ----------------------------------------------------------------------

    def has_files(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is not None

    def item_states(self, keys: Sequence[str]) -> dict[str, ItemState]:
        found: dict[str, ItemState] = {}
        with self._lock:
            for batch in _batches(keys):
                marks = ",".join("?" * len(batch))
                for key, fp, render_run, folder, nfiles in self._db.execute(
                    f"SELECT key, fingerprint, render_run, folder, nfiles FROM items WHERE key IN ({marks})",
                    batch,
                ):
                    found[key] = ItemState(fp, render_run, folder, nfiles)
        return found

    def file_hashes(self, item_keys: Sequence[str]) -> dict[tuple[str, str], str | None]:
        """``(root, path) -> hash`` for every file the given items own."""
        found: dict[tuple[str, str], str | None] = {}
        with self._lock:
            for batch in _batches(item_keys):
                marks = ",".join("?" * len(batch))
                for root, path, digest in self._db.execute(
                    f"SELECT root, path, hash FROM files WHERE item_key IN ({marks})", batch
                ):
                    found[(root, path)] = digest
        return found

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

    def mark_seen(self, keys: Sequence[str], run_id: int) -> None:
        with self._lock:
            for batch in _batches(keys):
                marks = ",".join("?" * len(batch))
                self._db.execute(f"UPDATE items SET seen_run=? WHERE key IN ({marks})", (run_id, *batch))

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
    ) -> None:
        """Record one rendered item and every file its render produced (written or not).

        ``fingerprint`` is None when one of its files failed: the next run renders it again.
        """
        with self._lock:
            self._db.execute(
                "INSERT INTO items (key, section, fingerprint, render_run, seen_run, folder, root, nfiles)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET section=excluded.section,"
                " fingerprint=excluded.fingerprint, render_run=excluded.render_run,"
                " seen_run=excluded.seen_run, folder=excluded.folder, root=excluded.root,"
                " nfiles=excluded.nfiles",
                (key, section, fingerprint, run_id, run_id, folder, root, nfiles),
            )
            self._db.executemany(
                "INSERT INTO files (root, path, hash, item_key, kind, section, render_run, size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (root, path) DO UPDATE SET hash=excluded.hash,"
                " item_key=excluded.item_key, kind=excluded.kind, section=excluded.section,"
                " render_run=excluded.render_run, size=excluded.size",
                [(f.root, f.path, f.hash, f.item_key, f.kind, f.section, run_id, f.size) for f in files],
            )

    def iter_orphans(self, section: str, complete_run: int) -> Iterator[Orphan]:
        """Files of ``section`` the latest complete run no longer produced, streamed in path order.

        Read in keyset pages so memory stays bounded and deletions between pages are safe.
        """
        last = ("", "")
        while True:
            with self._lock:
                page = self._db.execute(
                    "SELECT f.root, f.path, f.hash, f.kind, f.section FROM files f"
                    " LEFT JOIN items i ON i.key = f.item_key"
                    " WHERE f.section = ? AND (f.root, f.path) > (?, ?)"
                    " AND (i.key IS NULL OR i.seen_run < ? OR f.render_run != i.render_run)"
                    " ORDER BY f.root, f.path LIMIT ?",
                    (section, *last, complete_run, _BATCH),
                ).fetchall()
            if not page:
                return
            for row in page:
                yield Orphan(*row)
            last = (page[-1][0], page[-1][1])

    def count_orphans(self, section: str, complete_run: int) -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM files f LEFT JOIN items i ON i.key = f.item_key WHERE f.section = ?"
                " AND (i.key IS NULL OR i.seen_run < ? OR f.render_run != i.render_run)",
                (section, complete_run),
            ).fetchone()[0]

    def prune_items(self, section: str, complete_run: int) -> None:
        """Forget items gone from the catalog once none of their files is left."""
        with self._lock:
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
        last = ("", "")
        while True:
            with self._lock:
                page = self._db.execute(
                    "SELECT root, path, size FROM files WHERE (root, path) > (?, ?)"
                    " ORDER BY root, path LIMIT ?",
                    (*last, _BATCH),
                ).fetchall()
            if not page:
                return
            yield from page
            last = (page[-1][0], page[-1][1])


def _batches(values: Sequence[str]) -> Iterator[list[str]]:
    values = list(values)
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]
