"""The manifest's item records: grouped commits, and never an item without its file rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from vod2strm.output.manifest import FileRecord, Manifest


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
        with pytest.raises(Exception, match="NOT NULL"):
            # The item row goes in, then its second file row fails: nothing of it may stay.
            record(manifest, "broken", ["Movies/broken/a.strm", None])
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
