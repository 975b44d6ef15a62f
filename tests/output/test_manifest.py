"""The manifest's item records: grouped commits, and never an item without its file rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vod2strm.output.manifest import FileRecord, Manifest

REPO = Path(__file__).resolve().parents[2]


def record(manifest: Manifest, key: str, paths: list[str | None], *, run_id: int = 1) -> None:
    files = [FileRecord("main", p, "h", key, "movie_strm", "movies", 1) for p in paths]  # type: ignore[arg-type]
    manifest.record_item(
        key, section="movies", fingerprint="fp", run_id=run_id, folder=f"Movies/{key}", root="main",
        nfiles=len(files), files=files,
    )  # fmt: skip


def test_a_failed_record_leaves_no_half_item_and_loses_at_most_its_group(tmp_path: Path) -> None:
    manifest = Manifest.open(tmp_path / "state", tmp_path / "lib")
    try:
        record(manifest, "committed", ["Movies/committed/a.strm"])
        manifest.commit()
        record(manifest, "grouped", ["Movies/grouped/a.strm"])
        record(manifest, "broken", ["Movies/broken/a.strm", None])
        with pytest.raises(Exception, match="NOT NULL"):
            # The group's item rows go in, then a file row fails: nothing of the group may stay.
            manifest.commit()
        states = manifest.item_states(["committed", "grouped", "broken"])
        assert set(states) == {"committed"}  # the open group went, as in a crash
        assert manifest.file_hashes(["committed", "grouped", "broken"]) == {
            ("main", "Movies/committed/a.strm"): "h"
        }
        record(manifest, "after", ["Movies/after/a.strm"])  # the manifest is usable again
        manifest.commit()
    finally:
        manifest.close()
    reopened = Manifest.open(tmp_path / "state", tmp_path / "lib")
    try:
        kept = reopened.item_states(["committed", "grouped", "broken", "after"])
        assert set(kept) == {"committed", "after"}
    finally:
        reopened.close()


def test_a_group_of_items_is_written_in_a_few_statements(tmp_path: Path) -> None:
    """SQLite releases the GIL per statement, and the results thread records beside rendering:
    a statement per file row queued each row behind the rendering thread (docs/performance.md)."""
    manifest = Manifest.open(tmp_path / "state", tmp_path / "lib")
    statements: list[str] = []
    manifest.set_trace_callback(statements.append)
    try:
        for n in range(600):  # 600 items and 1,200 files: one group of 1,800 rows
            record(manifest, f"movie:{n}", [f"Movies/{n}/a.strm", f"Movies/{n}/a.nfo"])
        manifest.commit()
        # BEGIN and COMMIT; items in 5 statements (2 x 256+64+16+8), files in 7 (4 x 256+128+32+16)
        assert len(statements) <= 2 + 5 + 7, statements[:3]
        assert len(manifest.file_hashes([f"movie:{n}" for n in range(600)])) == 1200
        assert manifest.item_states(["movie:599"])["movie:599"].nfiles == 2
    finally:
        manifest.close()


def _has_item_index(state: Path) -> bool:
    import sqlite3

    (path,) = state.glob("manifest-*.sqlite3")
    with sqlite3.connect(path) as db:
        return db.execute("SELECT 1 FROM sqlite_master WHERE name = 'files_item'").fetchone() is not None


def test_a_first_run_builds_the_files_by_item_index_once_at_the_end(tmp_path: Path) -> None:
    """A first run defers the index (a quarter of the manifest's cost in a cold run); lookups
    for items not recorded yet need no index, any other query gets it built first."""
    state = tmp_path / "state"
    manifest = Manifest.open(state, tmp_path / "lib")
    statements: list[str] = []
    manifest.set_trace_callback(statements.append)
    try:
        manifest.defer_item_index()
        assert not _has_item_index(state)
        record(manifest, "movie:1", ["Movies/1/a.strm", "Movies/1/a.nfo"])
        manifest.commit()
        statements.clear()
        assert manifest.file_hashes(["movie:2", "movie:3"]) == {}  # a chunk the run renders next
        assert not any("FROM files" in sql for sql in statements)  # no scan of the whole table
        assert not _has_item_index(state)
        assert manifest.file_hashes(["movie:1"]) == {
            ("main", "Movies/1/a.strm"): "h",
            ("main", "Movies/1/a.nfo"): "h",
        }
        assert _has_item_index(state)  # built before the query that needed it
    finally:
        manifest.close()

    manifest = Manifest.open(state, tmp_path / "lib")
    try:
        manifest.defer_item_index()  # files are recorded: not a first run, the index stays
        assert _has_item_index(state)
        manifest.prune_items("movies", 1)
    finally:
        manifest.close()


def test_the_index_a_first_run_deferred_is_back_after_close_and_after_a_crash(tmp_path: Path) -> None:
    state = tmp_path / "state"
    manifest = Manifest.open(state, tmp_path / "lib")
    manifest.defer_item_index()
    record(manifest, "movie:1", ["Movies/1/a.strm"])
    manifest.close()
    assert _has_item_index(state)

    crashed = tmp_path / "crashed"
    script = f"""
import os
from pathlib import Path
from tests.output.test_manifest import record
from vod2strm.output.manifest import Manifest

manifest = Manifest.open(Path({str(crashed)!r}), Path({str(tmp_path / "lib")!r}))
manifest.defer_item_index()
record(manifest, "movie:1", ["Movies/1/a.strm"])
manifest.commit()
os._exit(0)  # a crash: close() never runs
"""
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)
    assert not _has_item_index(crashed)
    reopened = Manifest.open(crashed, tmp_path / "lib")
    try:
        assert _has_item_index(crashed)
        assert reopened.file_hashes(["movie:1"]) == {("main", "Movies/1/a.strm"): "h"}
    finally:
        reopened.close()
